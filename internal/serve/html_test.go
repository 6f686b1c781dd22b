package serve

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

// TestHTMLReportAtRoot: / is the last run's HTML report (503 before the
// first run), with the page's content policy as a header too; other paths
// stay 404.
func TestHTMLReportAtRoot(t *testing.T) {
	store := &Store{}
	h := Handler(store, NewMetrics(store, BuildInfo{Version: "v1.2.3"}))
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get("/"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/ before a run: %d, want 503", rec.Code)
	}
	store.put(&Run{Meta: report.Meta{Tool: "meshdoctor", Version: "v1.2.3", Topology: "multi-primary"}, Results: []checks.Result{
		{CheckID: "gateway.address", Status: checks.Fail, Cluster: "west", Message: "no external address <pending>"},
		{CheckID: "endpoints.proxy-table", Status: checks.Fail, Cluster: "east", Message: "remote pod IP", CausedBy: []string{"gateway.address west"}},
	}}, time.Now())
	rec := get("/")
	if rec.Code != http.StatusOK {
		t.Fatalf("/: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	body := rec.Body.String()
	for _, w := range []string{"<!DOCTYPE html>", `class="result cause" id="r1" data-key="gateway.address west"`,
		`class="result consequence" id="r2" data-key="endpoints.proxy-table east"`, "no external address &lt;pending&gt;"} {
		if !strings.Contains(body, w) {
			t.Errorf("/ lacks %q:\n%s", w, body)
		}
	}
	if rec := get("/nothing-here"); rec.Code != http.StatusNotFound {
		t.Errorf("/nothing-here: %d, want 404", rec.Code)
	}
}
