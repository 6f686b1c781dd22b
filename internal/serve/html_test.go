package serve

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
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

// TestHTMLReportAtRootDrawsTheMap: a run's map is drawn on the page at /,
// as `check --html` draws it; a run without one draws none.
func TestHTMLReportAtRootDrawsTheMap(t *testing.T) {
	store := &Store{}
	h := Handler(store, NewMetrics(store, BuildInfo{Version: "v1.2.3"}))
	get := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("/: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	rs := []checks.Result{{CheckID: "gateway.address", Status: checks.Fail, Cluster: "west", Message: "no external address"}}
	store.put(&Run{Meta: report.Meta{Tool: "meshdoctor", Topology: "multi-primary"}, Results: rs}, time.Now())
	if body := get(); strings.Contains(body, "<svg") {
		t.Errorf("a run without a map drew one:\n%s", body)
	}
	m := &meshmap.Map{Topology: "multi-primary", Networks: []meshmap.Network{{Name: "network-map-test", Clusters: []meshmap.Cluster{
		{Element: meshmap.Element{ID: "cluster/west-map-test", Kind: meshmap.KindCluster, Label: "west-map-test"}, Name: "west-map-test", Role: "primary"},
	}}}}
	store.put(&Run{Meta: report.Meta{Tool: "meshdoctor", Topology: "multi-primary"}, Results: rs, Map: m}, time.Now())
	body := get()
	svg := strings.Index(body, "<svg")
	if svg < 0 {
		t.Fatalf("/ has no map:\n%s", body)
	}
	for _, w := range []string{"network-map-test", "west-map-test"} {
		if !strings.Contains(body[svg:], w) {
			t.Errorf("the map lacks %q:\n%s", w, body[svg:])
		}
	}
}
