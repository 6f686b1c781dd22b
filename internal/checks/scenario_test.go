package checks_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

var scenarioDir = filepath.Join("..", "..", "testdata", "scenarios")

// runScenario loads a scenario into fake clientsets and runs the whole
// catalogue on it, offline.
func runScenario(t *testing.T, name string) (*scenario.Scenario, []checks.Result, *scenario.Certs) {
	t.Helper()
	now := time.Now()
	certs := scenario.NewCerts(now)
	env := scenario.UnitEnv{Certs: certs}
	sc, err := scenario.Load(scenarioDir, name, env, certs)
	if err != nil {
		t.Fatalf("load scenario: %v", err)
	}
	clients, err := scenario.FakeClients(sc, env)
	if err != nil {
		t.Fatal(err)
	}
	invs := cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{})
	r := &checks.Runner{Checks: checks.Catalogue()}
	res := r.Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
	return sc, res, certs
}

// key is "checkID@cluster" (or the ID alone for mesh results).
func key(r checks.Result) string {
	if r.Cluster == "" {
		return r.CheckID
	}
	return r.CheckID + "@" + r.Cluster
}

func TestScenarios(t *testing.T) {
	names, err := scenario.List(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 17 {
		t.Fatalf("found %d scenarios, want at least 17", len(names))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sc, res, _ := runScenario(t, name)
			got := map[checks.Status][]string{}
			for _, r := range res {
				got[r.Status] = append(got[r.Status], key(r))
			}
			for s := range got {
				got[s] = slices.Compact(slices.Sorted(slices.Values(got[s])))
			}
			want := sc.Meta.Expect
			if !slices.Equal(got[checks.Fail], sortedCopy(want.Fail)) {
				t.Errorf("failing = %v, want exactly %v\n%s", got[checks.Fail], want.Fail, dump(res, checks.Fail))
			}
			if !slices.Equal(got[checks.Error], sortedCopy(want.Error)) {
				t.Errorf("errors = %v, want exactly %v\n%s", got[checks.Error], want.Error, dump(res, checks.Error))
			}
			for _, w := range want.Warn {
				if !slices.Contains(got[checks.Warn], w) {
					t.Errorf("want warning %s, warnings are %v", w, got[checks.Warn])
				}
			}
			if want.Exit == 0 && len(got[checks.Pass]) < 20 {
				t.Errorf("healthy scenario passed only %d results: %v", len(got[checks.Pass]), got[checks.Pass])
			}
			for _, r := range res {
				if r.Status == checks.Fail && r.Remediation == "" {
					t.Errorf("%s fails without a remediation", key(r))
				}
				if r.Status == checks.Skipped && r.Message == "" {
					t.Errorf("%s skipped without a reason", key(r))
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		return []string{}
	}
	return out
}

func dump(res []checks.Result, s checks.Status) string {
	var b strings.Builder
	for _, r := range res {
		if r.Status == s {
			fmt.Fprintf(&b, "  %s %s: %s\n", r.Status, key(r), r.Message)
		}
	}
	return b.String()
}
