package checks_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// TestRemediationsRun runs the catalogue on every scenario and holds every
// remediation to "runs as pasted": it parses as shell, has no placeholder
// and no line of prose (prose goes in Note).
func TestRemediationsRun(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not on PATH: cannot parse remediations")
	}
	names, err := scenario.List(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	seen, bad := map[string]bool{}, 0
	for _, name := range names {
		_, res, _ := runScenario(t, name)
		for _, r := range res {
			if r.Remediation == "" || seen[r.Remediation] {
				continue
			}
			seen[r.Remediation] = true
			if p := checks.RemediationProblems(r.Remediation); len(p) > 0 {
				bad++
				t.Errorf("%s: %s %s: remediation %q: %s", name, r.CheckID, r.Cluster, r.Remediation, strings.Join(p, "; "))
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no scenario produced a remediation: the test checks nothing")
	}
	t.Logf("%d distinct remediations, %d would not run as pasted", len(seen), bad)
}

func TestRemediationProblemsCatchesProse(t *testing.T) {
	for _, bad := range []string{
		"kubectl get svc (if cluster legacy is gone)",
		"reinstall with --set values.global.network=net1",
		"kubectl -n <ns> get pods",
		"kubectl get pods ...",
		"kubectl get svc ; check firewall rules for port 15443",
		"kubectl get svc && then look at the logs",
	} {
		if len(checks.RemediationProblems(bad)) == 0 {
			t.Errorf("%q passed", bad)
		}
	}
	for _, good := range []string{
		"kubectl --context c1 -n istio-system get svc",
		"for c in a b; do\n  kubectl --context \"$c\" get ns\ndone",
		"ns=$(kubectl get ns -o name)",
		"kubectl get cm x -o jsonpath='{.a;b}' | grep -E 'x|y' && kubectl get ns; kubectl get svc",
	} {
		if p := checks.RemediationProblems(good); len(p) > 0 {
			t.Errorf("%q: %v", good, p)
		}
	}
}
