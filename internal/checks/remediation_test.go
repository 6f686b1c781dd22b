package checks_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// remediationCommands is the explicit list of words a remediation line may
// start with: a line starting with anything else is taken for prose.
var remediationCommands = map[string]bool{
	"kubectl": true, "istioctl": true, "curl": true, "make": true, "openssl": true,
	"for": true, "if": true, "echo": true, "dig": true, "helm": true,
}

var (
	placeholderRE = regexp.MustCompile(`<[^<>|&;]*>|…|\.\.\.|YOUR_`)
	assignmentRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// remediationProblems returns why a remediation would not run as pasted.
func remediationProblems(rem string) []string {
	var out []string
	if err := exec.Command("bash", "-n", "-c", rem).Run(); err != nil {
		out = append(out, fmt.Sprintf("bash -n: %v", err))
	}
	if m := placeholderRE.FindString(rem); m != "" {
		out = append(out, fmt.Sprintf("placeholder %q", m))
	}
	for _, line := range strings.Split(rem, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "done" || line == "fi" {
			continue
		}
		word, _, _ := strings.Cut(line, " ")
		if !remediationCommands[word] && !assignmentRE.MatchString(word) {
			out = append(out, fmt.Sprintf("line %q does not start with a known command", line))
		}
	}
	return out
}

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
			if p := remediationProblems(r.Remediation); len(p) > 0 {
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
	} {
		if len(remediationProblems(bad)) == 0 {
			t.Errorf("%q passed", bad)
		}
	}
	for _, good := range []string{
		"kubectl --context c1 -n istio-system get svc",
		"for c in a b; do\n  kubectl --context \"$c\" get ns\ndone",
		"ns=$(kubectl get ns -o name)",
	} {
		if p := remediationProblems(good); len(p) > 0 {
			t.Errorf("%q: %v", good, p)
		}
	}
}
