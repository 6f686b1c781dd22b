package checks_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// TestReductionAtTheEdgeChangesNoResult runs the whole catalogue on every
// scenario (the rendered installs among them) twice, on one set of fake
// clusters: once on the inventory as Collect keeps it (managedFields,
// last-applied and annotations outside Istio's dropped as each page
// arrives) and once on every field as listed. Every result's status,
// message, evidence, remediation and causes must be the same.
// EndpointSlices are compact in both (cluster.EndpointSlice): a field the
// checks would read and it dropped does not compile.
func TestReductionAtTheEdgeChangesNoResult(t *testing.T) {
	names, err := scenario.List(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			certs := scenario.NewCerts(now)
			env := scenario.UnitEnv{Certs: certs}
			sc, err := scenario.Load(scenarioDir, name, env, certs)
			if err != nil {
				t.Fatal(err)
			}
			clients, err := scenario.FakeClients(sc, env)
			if err != nil {
				t.Fatal(err)
			}
			run := func(unreduced bool) []checks.Result {
				invs := cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{Unreduced: unreduced, Now: func() time.Time { return now }})
				res := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
				for i := range res {
					res[i].Duration = 0
				}
				return res
			}
			full, reduced := run(true), run(false)
			if len(full) != len(reduced) {
				t.Fatalf("%d results on the full inventory, %d on the reduced one", len(full), len(reduced))
			}
			for i := range full {
				if !reflect.DeepEqual(full[i], reduced[i]) {
					t.Errorf("%s differs after reduction:\nfull:    %+v\nreduced: %+v", scenario.Key(full[i]), full[i], reduced[i])
				}
			}
		})
	}
}
