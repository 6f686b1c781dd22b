// Command demo records the demo snapshot (testdata/demo/mesh.tar.gz) from
// a fixture scenario, so that a fresh clone can show meshdoctor on a
// realistic broken mesh without any cluster: `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

func main() {
	dir := flag.String("scenarios", "testdata/scenarios", "scenario folder")
	name := flag.String("scenario", "demo-broken-mesh", "scenario to record")
	out := flag.String("o", "testdata/demo/mesh.tar.gz", "snapshot to write")
	flag.Parse()
	if err := record(*dir, *name, *out); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func record(dir, name, out string) error {
	now := time.Now().UTC().Truncate(time.Second)
	certs := scenario.NewCerts(now)
	env := scenario.UnitEnv{Certs: certs}
	sc, err := scenario.Load(dir, name, env, certs)
	if err != nil {
		return err
	}
	clients, err := scenario.FakeClients(sc, env)
	if err != nil {
		return err
	}
	invs := cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{})
	rec := &snapshot.Recorder{}
	runEnv := &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}
	(&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), runEnv, nil)
	s := &snapshot.Snapshot{
		Manifest:    snapshot.Manifest{TakenAt: now, Tool: "meshdoctor", Version: "demo", Vantage: "fixture scenario " + name + " (no network probes recorded)"},
		Inventories: invs,
		Network:     rec.Network(),
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := snapshot.Write(f, s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
