package main

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

// consumerDir holds a real JUnit consumer from npm (test-results-parser,
// the parser behind testbeats' CI dashboards); .ci/run installs it with
// `npm ci --prefix hack/junit`.
var consumerDir = filepath.Join("..", "..", "hack", "junit")

// TestJUnitConsumerCounts reads the demo's --junit file with a JUnit
// consumer that is not ours and compares what it counted with what the
// JSON report of the same run says: one test case per check and cluster,
// failed when any result failed or erred, skipped when all were skipped,
// and warned (inline property meshdoctor.status=warn) when the worst result
// is a warning.
func TestJUnitConsumerCounts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("needs node to run the JUnit consumer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(consumerDir, "node_modules", "test-results-parser")); err != nil {
		t.Skipf("JUnit consumer not installed (npm ci --prefix hack/junit): %v", err)
	}
	dir := t.TempDir()
	junit := filepath.Join(dir, "demo.xml")
	demo := filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz")
	out, stderr, code := runCLI(t, "check", "--from", demo, "-o", "json", "--junit", junit)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	doc, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}

	// What the cases must be, from the JSON results.
	worst := map[string]checks.Status{}
	rank := map[checks.Status]int{checks.Skipped: 0, checks.Pass: 1, checks.Warn: 2, checks.Fail: 3, checks.Error: 4}
	for _, r := range doc.Results {
		scope := r.Cluster
		if scope == "" {
			scope = "mesh"
		}
		name := r.CheckID + " " + scope
		if w, ok := worst[name]; !ok || rank[r.Status] > rank[w] {
			worst[name] = r.Status
		}
	}
	// test-results-parser's case statuses: FAIL for a failure or an error.
	wantCases := map[string]string{}
	var want struct{ total, passed, failed, errors, skipped int }
	var wantWarned []string
	for name, st := range worst {
		switch st {
		case checks.Skipped:
			want.skipped++
			wantCases[name] = "SKIP"
			continue
		case checks.Fail:
			want.failed++
			wantCases[name] = "FAIL"
		case checks.Error:
			want.errors++
			wantCases[name] = "FAIL"
		case checks.Warn:
			want.passed++
			wantCases[name] = "PASS"
			wantWarned = append(wantWarned, name)
		default:
			want.passed++
			wantCases[name] = "PASS"
		}
		want.total++
	}
	if want.failed == 0 || len(wantWarned) == 0 || want.skipped == 0 {
		t.Fatalf("the demo should fail, warn and skip: %+v, warned %v", want, wantWarned)
	}

	cmd := exec.Command(node, "count.js", junit)
	cmd.Dir = consumerDir
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("test-results-parser: %v", err)
	}
	var got struct {
		Total, Passed, Failed, Errors, Skipped int
		Cases                                  map[string]string
		Warned                                 []string
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("consumer output %q: %v", raw, err)
	}
	if got.Total != want.total || got.Passed != want.passed || got.Failed != want.failed || got.Errors != want.errors || got.Skipped != want.skipped {
		t.Errorf("consumer counted total %d passed %d failed %d errors %d skipped %d, want %+v",
			got.Total, got.Passed, got.Failed, got.Errors, got.Skipped, want)
	}
	if !maps.Equal(got.Cases, wantCases) {
		t.Errorf("consumer read cases\n%v\nwant\n%v", got.Cases, wantCases)
	}
	slices.Sort(got.Warned)
	slices.Sort(wantWarned)
	if !slices.Equal(got.Warned, wantWarned) {
		t.Errorf("consumer read warned cases %v, want %v", got.Warned, wantWarned)
	}
}

// On the demo, 4 causes (different roots, west's gateway without an
// address, central's istiod Service without an EndpointSlice, a stale
// remote secret) explain its 8 failures; the table lists
// each cause with its consequences under it, and the JSON links them.
func TestDemoShowsCausesFirst(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz")
	out, _, code := runCLI(t, "check", "--from", demo, "-o", "json")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1", code)
	}
	doc, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Causes != 4 || doc.Summary.Fail+doc.Summary.Error != 8 {
		t.Errorf("summary %+v, want 4 causes of 8 failures", doc.Summary)
	}
	var causes []string
	for _, r := range doc.Results {
		if (r.Status == checks.Fail || r.Status == checks.Error) && len(r.CausedBy) == 0 {
			causes = append(causes, r.Key())
		}
	}
	want := []string{"trust.root-match mesh", "gateway.address west", "controlplane.remote-istiod-service central", "secrets.remote-stale east istio-remote-secret-legacy/legacy"}
	if !slices.Equal(causes, want) {
		t.Errorf("causes %q, want %q", causes, want)
	}

	table, _, _ := runCLI(t, "check", "--from", demo, "-o", "short")
	var rows []string
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "fail" || f[0] == "warn" || f[0] == "error") && !strings.HasSuffix(f[0], ".") {
			rows = append(rows, strings.Join(f[1:3], " "))
		}
		if strings.HasPrefix(line, "Details:") {
			break
		}
	}
	if len(rows) < 8 || rows[0] != "trust.root-match mesh" || !strings.HasPrefix(rows[1], "└ ") {
		t.Errorf("table rows do not start with a cause and its consequence:\n%s", strings.Join(rows, "\n"))
	}
	if !strings.Contains(table, "4 causes explain 8 failures and errors") {
		t.Errorf("no causes line in the table:\n%s", table)
	}
}
