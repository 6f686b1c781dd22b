package checks_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/checks/knownissues"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// knownIssueScenarios are the scenarios that trigger the catalogue's
// entries (testdata/scenarios/known-issues-*).
func knownIssueScenarios(t *testing.T) []string {
	t.Helper()
	names, err := scenario.List(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "known-issues-") {
			out = append(out, n)
		}
	}
	return out
}

// knownIssueHits runs controlplane.known-issues (and its prerequisite) on a
// mesh and returns the entry IDs each cluster warns about.
func knownIssueHits(t *testing.T, m *mesh.Mesh, now time.Time) map[string][]string {
	t.Helper()
	sel, err := checks.Select(checks.Catalogue(), []string{checks.KnownIssuesID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := (&checks.Runner{Checks: sel}).Run(context.Background(), &checks.Env{Mesh: m, Now: now, NoNetwork: true}, nil)
	hits := map[string][]string{}
	for _, r := range res {
		if r.CheckID != checks.KnownIssuesID {
			continue
		}
		switch r.Status {
		case checks.Warn:
			id := r.Target[strings.LastIndex(r.Target, " ")+1:]
			hits[r.Cluster] = append(hits[r.Cluster], id)
			if !strings.Contains(r.Message, "https://github.com/istio/") || r.Note == "" || r.Remediation == "" {
				t.Errorf("%s %s: a known issue needs its link in the message, a note and a command: %+v", r.Cluster, r.Target, r)
			}
		case checks.Pass, checks.Skipped:
		default:
			t.Errorf("%s: %s %s", r.Cluster, r.Status, r.Message)
		}
	}
	return hits
}

// TestEveryKnownIssueHasATriggeringScenarioAndIsQuietWhenFixed proves each
// entry of known-issues.yaml against the scenarios: at least one scenario
// triggers it, and the same scenario with every revision on one of the
// entry's fixed versions does not (an unfixed entry has none to try).
func TestEveryKnownIssueHasATriggeringScenarioAndIsQuietWhenFixed(t *testing.T) {
	issues, err := knownissues.Load()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	triggered := map[string]string{} // issue → scenario
	for _, name := range knownIssueScenarios(t) {
		_, invs, _, err := scenario.LoadFake(scenarioDir, name, now)
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		hits := knownIssueHits(t, mesh.Build(invs), now)
		if len(hits) == 0 {
			t.Errorf("%s triggers no known issue", name)
		}
		for _, is := range issues {
			var in []string
			for cl, ids := range hits {
				if slices.Contains(ids, is.ID) {
					in = append(in, cl)
				}
			}
			if len(in) == 0 {
				continue
			}
			triggered[is.ID] = name
			for _, fixed := range is.FixedIn() {
				m := mesh.Build(invs)
				for _, c := range m.Clusters {
					c.Version = fixed
					for _, r := range c.Revisions {
						r.Version = fixed
					}
				}
				for cl, ids := range knownIssueHits(t, m, now) {
					if slices.Contains(ids, is.ID) {
						t.Errorf("%s on the fixed version %s still reports %s in %s", name, fixed, is.ID, cl)
					}
				}
			}
		}
	}
	for _, is := range issues {
		if triggered[is.ID] == "" {
			t.Errorf("known issue %s: no testdata/scenarios/known-issues-* scenario triggers it", is.ID)
		} else {
			t.Logf("%s: triggered by %s, quiet on %v", is.ID, triggered[is.ID], is.FixedIn())
		}
	}
}

// The healthy scenarios run the default version of the scenario template,
// and the rendered installs an image tag that is no version ("latest"): the
// check passes on the former and is skipped, with the reason, on the
// latter, never guessing a version.
func TestKnownIssuesPassOnHealthyAndSkipOnUnknownVersion(t *testing.T) {
	for name, want := range map[string]checks.Status{"healthy-multi-primary": checks.Pass, "install-mp-mn": checks.Skipped} {
		_, res, _ := runScenario(t, name)
		var n int
		for _, r := range res {
			if r.CheckID != checks.KnownIssuesID {
				continue
			}
			n++
			if r.Status != want {
				t.Errorf("%s %s: %s %s, want %s", name, r.Cluster, r.Status, r.Message, want)
			}
			if want == checks.Skipped && !strings.Contains(r.Message, "unknown") {
				t.Errorf("%s: skip does not say the version is unknown: %s", name, r.Message)
			}
		}
		if n == 0 {
			t.Errorf("%s: no %s result", name, checks.KnownIssuesID)
		}
	}
}
