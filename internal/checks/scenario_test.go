package checks_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

var scenarioDir = filepath.Join("..", "..", "testdata", "scenarios")

// runScenario loads a scenario into fake clientsets and runs the whole
// catalogue on it, offline.
func runScenario(t *testing.T, name string) (*scenario.Scenario, []checks.Result, *scenario.Certs) {
	t.Helper()
	now := time.Now()
	sc, invs, certs, err := scenario.LoadFake(scenarioDir, name, now)
	if err != nil {
		t.Fatalf("load scenario: %v", err)
	}
	r := &checks.Runner{Checks: checks.Catalogue()}
	res := r.Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
	return sc, res, certs
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
		if strings.HasPrefix(name, "install-") {
			continue // the rendered installs: TestInstallMatrix, with stricter rules
		}
		t.Run(name, func(t *testing.T) {
			sc, res, _ := runScenario(t, name)
			for _, m := range sc.Meta.Expect.Mismatches(res) {
				t.Error(m)
			}
		})
	}
}
