package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// Every result names its check's page in JSON and in JUnit's text; a
// result of a check without a page names none.
func TestResultsPointAtTheirPage(t *testing.T) {
	rs := []checks.Result{
		{CheckID: "trust.root-match", Status: checks.Fail, Message: "different roots", Remediation: "x"},
		{CheckID: "gateway.address", Status: checks.Warn, Cluster: "west", Message: "m"},
		{CheckID: "contexts.reachable", Status: checks.Pass, Cluster: "west", Message: "ok"},
		{CheckID: "no.such-check", Status: checks.Fail, Cluster: "west", Message: "m"},
	}
	var js bytes.Buffer
	if err := JSON(&js, Meta{Tool: "meshdoctor"}, rs); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Check, Doc string
		}
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := []string{"docs/checks/trust.root-match.md", "docs/checks/gateway.address.md", "docs/checks/contexts.reachable.md", ""}
	if len(doc.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(doc.Results), len(want))
	}
	for i, r := range doc.Results {
		if r.Doc != want[i] {
			t.Errorf("result %s: doc %q, want %q", r.Check, r.Doc, want[i])
		}
	}
	// The document still reads back as v1.
	back, err := ReadJSON(bytes.NewReader(js.Bytes()))
	if err != nil || len(back.Results) != len(rs) || back.Results[0].Remediation != "x" {
		t.Fatalf("ReadJSON: %v, %+v", err, back)
	}

	var x bytes.Buffer
	if err := JUnit(&x, Meta{Tool: "meshdoctor"}, rs, JUnitOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"doc: docs/checks/trust.root-match.md", "doc: docs/checks/gateway.address.md"} {
		if !strings.Contains(x.String(), w) {
			t.Errorf("JUnit lacks %q", w)
		}
	}
	if strings.Contains(x.String(), "no.such-check.md") {
		t.Error("JUnit names a page that does not exist")
	}
}
