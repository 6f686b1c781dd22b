package checks

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

func constant(st Status) func(context.Context, *Env, *mesh.Cluster) []Result {
	return func(context.Context, *Env, *mesh.Cluster) []Result { return []Result{{Status: st}} }
}

// A check that runs despite a prerequisite runs when that prerequisite
// failed, also through the skips cascading from it (a mesh check in
// between included), but not when another failure blocks it too; its
// failure then explains the prerequisite's, never the other way round.
func TestRunsDespiteAFailedPrerequisiteAndExplainsIt(t *testing.T) {
	failIn := func(bad string) func(context.Context, *Env, *mesh.Cluster) []Result {
		return func(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
			if c.Name == bad {
				return []Result{{Status: Fail, Message: "broken"}}
			}
			return []Result{{Status: Pass}}
		}
	}
	cat := []Check{
		{ID: ContextsReachable, Scope: PerCluster, Cluster: constant(Pass)},
		{ID: "x.ready", Scope: PerCluster, DependsOn: []string{ContextsReachable}, Cluster: failIn("a")},
		{ID: "x.other", Scope: PerCluster, DependsOn: []string{ContextsReachable}, Cluster: failIn("b")},
		{ID: "x.mesh", Scope: Mesh, DependsOn: []string{"x.ready"}, Mesh: func(context.Context, *Env) []Result { return []Result{{Status: Pass}} }},
		{ID: "x.mid", Scope: PerCluster, DependsOn: []string{"x.ready", "x.mesh"}, Cluster: constant(Pass)},
		{ID: "x.access", Scope: PerCluster, DependsOn: []string{"x.mid"}, RunsDespite: []string{"x.ready"}, Cluster: constant(Fail)},
		{ID: "x.access2", Scope: PerCluster, DependsOn: []string{"x.mid", "x.other"}, RunsDespite: []string{"x.ready"}, Cluster: constant(Fail)},
		{ID: "x.plain", Scope: PerCluster, DependsOn: []string{"x.mid"}, Cluster: constant(Pass)},
	}
	if err := Validate(cat); err != nil {
		t.Fatal(err)
	}
	rs := (&Runner{Checks: cat}).Run(context.Background(), &Env{Mesh: twoClusters()}, nil)
	got := map[string]Result{}
	for _, r := range rs {
		got[r.CheckID+"@"+r.Cluster] = r
	}
	for key, want := range map[string]Status{
		"x.mesh@":     Skipped, // x.ready failed in a
		"x.mid@a":     Skipped,
		"x.mid@b":     Skipped, // through the mesh check
		"x.access@a":  Fail,    // ran despite x.ready, through both cascades
		"x.access@b":  Fail,
		"x.access2@a": Fail,
		"x.access2@b": Skipped, // x.other failed in b: not a failure it runs despite
		"x.plain@a":   Skipped,
		"x.plain@b":   Skipped,
	} {
		if got[key].Status != want {
			t.Errorf("%s = %s %q, want %s", key, got[key].Status, got[key].Message, want)
		}
	}
	if m := got["x.access2@b"].Message; !strings.Contains(m, "x.other") {
		t.Errorf("x.access2@b skip names %q, want the failure it does not run despite (x.other)", m)
	}
	ready, access := got["x.ready@a"], got["x.access@a"]
	if !slices.Contains(ready.CausedBy, access.Key()) {
		t.Errorf("x.ready@a caused by %v, want %s among them", ready.CausedBy, access.Key())
	}
	if slices.Contains(access.CausedBy, ready.Key()) {
		t.Errorf("x.access@a is explained by the failure it ran despite: %v", access.CausedBy)
	}
	if cs := Causes(rs); !slices.ContainsFunc(cs, func(r Result) bool { return r.Key() == access.Key() }) {
		t.Errorf("causes %v do not start from x.access@a", cs)
	}

	bad := append(slices.Clone(cat), Check{ID: "x.bad", Scope: PerCluster, DependsOn: []string{ContextsReachable}, RunsDespite: []string{"x.ready"}, Cluster: constant(Pass)})
	if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "not one of its prerequisites") {
		t.Errorf("Validate accepted RunsDespite of a check that is no prerequisite: %v", err)
	}
}

// The real catalogue: remote-access runs despite istiod-ready, and an
// unreachable remote API server is named as the cause of istiod not being
// ready in that cluster (istiod waits for its remote clusters to sync).
func TestUnreachableRemoteExplainsIstiodNotReady(t *testing.T) {
	var access Check
	for _, c := range Catalogue() {
		if c.ID == "secrets.remote-access" {
			access = c
		}
	}
	if !slices.Contains(access.RunsDespite, "controlplane.istiod-ready") {
		t.Fatalf("secrets.remote-access does not run despite controlplane.istiod-ready: %v", access.RunsDespite)
	}
	rs := Explain(Catalogue(), []Result{
		{CheckID: "controlplane.istiod-ready", Status: Fail, Cluster: "east"},
		{CheckID: "secrets.remote-access", Status: Fail, Cluster: "east", Peer: "west", Target: "istio-remote-secret-west/west"},
		{CheckID: "secrets.remote-access", Status: Warn, Cluster: "east", Peer: "north", Target: "istio-remote-secret-north/north"},
		{CheckID: "secrets.remote-access", Status: Fail, Cluster: "west", Peer: "east", Target: "istio-remote-secret-east/east"},
	})
	if want := []string{"secrets.remote-access east → west istio-remote-secret-west/west"}; !slices.Equal(rs[0].CausedBy, want) {
		t.Errorf("istiod-ready east caused by %v, want %v (a warning or another cluster's secret does not explain it)", rs[0].CausedBy, want)
	}
	if len(rs[1].CausedBy) != 0 {
		t.Errorf("remote-access is explained by istiod-ready: %v", rs[1].CausedBy)
	}
}
