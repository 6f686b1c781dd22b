package checks

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func twoClusters() *mesh.Mesh {
	return mesh.Build([]*cluster.Inventory{{Context: "a"}, {Context: "b"}})
}

func TestRunnerSkipsDependentsNamingThePrerequisite(t *testing.T) {
	cat := []Check{
		{ID: ContextsReachable, Scope: PerCluster, Cluster: func(context.Context, *Env, *mesh.Cluster) []Result { return []Result{{Status: Pass}} }},
		{ID: "x.base", Scope: PerCluster, DependsOn: []string{ContextsReachable}, Cluster: func(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
			if c.Name == "b" {
				return []Result{{Status: Fail, Message: "broken"}}
			}
			return []Result{{Status: Pass}}
		}},
		{ID: "x.dep", Scope: PerCluster, DependsOn: []string{"x.base"}, Cluster: func(context.Context, *Env, *mesh.Cluster) []Result { return []Result{{Status: Pass}} }},
		{ID: "x.mesh", Scope: Mesh, DependsOn: []string{"x.base"}, Mesh: func(context.Context, *Env) []Result { return []Result{{Status: Pass}} }},
		{ID: "x.na", Scope: PerCluster, DependsOn: []string{ContextsReachable}, Cluster: func(context.Context, *Env, *mesh.Cluster) []Result {
			return []Result{{Status: Skipped, Message: "not applicable"}}
		}},
		{ID: "x.after-na", Scope: PerCluster, DependsOn: []string{"x.na"}, Cluster: func(context.Context, *Env, *mesh.Cluster) []Result { return []Result{{Status: Pass}} }},
	}
	if err := Validate(cat); err != nil {
		t.Fatal(err)
	}
	rs := (&Runner{Checks: cat}).Run(context.Background(), &Env{Mesh: twoClusters()}, nil)
	got := map[string]Result{}
	for _, r := range rs {
		got[r.CheckID+"@"+r.Cluster] = r
	}
	if r := got["x.dep@a"]; r.Status != Pass {
		t.Errorf("x.dep@a = %s, want pass (its prerequisite passed there)", r.Status)
	}
	if r := got["x.dep@b"]; r.Status != Skipped || !strings.Contains(r.Message, "prerequisite x.base fail for b") {
		t.Errorf("x.dep@b = %s %q, want skipped naming x.base", r.Status, r.Message)
	}
	if r := got["x.mesh@"]; r.Status != Skipped || !strings.Contains(r.Message, "x.base") {
		t.Errorf("x.mesh = %s %q, want skipped naming x.base", r.Status, r.Message)
	}
	if r := got["x.after-na@a"]; r.Status != Pass {
		t.Errorf("a check's own not-applicable skip blocked its dependent: %s %q", r.Status, r.Message)
	}
}

func TestRunnerOrderIsDeterministicAndChecksRunInParallel(t *testing.T) {
	var running, peak atomic.Int32
	slow := func(context.Context, *Env, *mesh.Cluster) []Result {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return []Result{{Status: Pass}}
	}
	var cat []Check
	for _, id := range []string{"p.one", "p.two", "p.three", "p.four"} {
		cat = append(cat, Check{ID: id, Scope: PerCluster, Cluster: slow})
	}
	var first []string
	for i := 0; i < 3; i++ {
		rs := (&Runner{Checks: cat, Parallel: 4}).Run(context.Background(), &Env{Mesh: twoClusters()}, nil)
		var order []string
		for _, r := range rs {
			order = append(order, r.CheckID+"@"+r.Cluster)
		}
		if i == 0 {
			first = order
		} else if strings.Join(order, ",") != strings.Join(first, ",") {
			t.Fatalf("run %d order %v differs from %v", i, order, first)
		}
	}
	if first[0] != "p.one@a" || first[1] != "p.one@b" || first[7] != "p.four@b" {
		t.Errorf("results not in catalogue then cluster order: %v", first)
	}
	if peak.Load() < 2 {
		t.Errorf("independent checks never ran at the same time (peak %d)", peak.Load())
	}
}

func TestRunnerTurnsAPanicIntoAnErrorResult(t *testing.T) {
	cat := []Check{{ID: "bad.check", Scope: Mesh, Mesh: func(context.Context, *Env) []Result { panic("boom") }},
		{ID: "good.check", Scope: Mesh, Mesh: func(context.Context, *Env) []Result { return []Result{{Status: Pass}} }}}
	rs := (&Runner{Checks: cat}).Run(context.Background(), &Env{Mesh: twoClusters()}, nil)
	if len(rs) != 2 || rs[0].Status != Error || !strings.Contains(rs[0].Message, "boom") || rs[1].Status != Pass {
		t.Errorf("results %+v", rs)
	}
}

func TestRunnerBoundsEachCheck(t *testing.T) {
	cat := []Check{{ID: "slow.check", Scope: Mesh, Mesh: func(ctx context.Context, _ *Env) []Result {
		<-ctx.Done()
		return []Result{{Status: Error, Message: ctx.Err().Error()}}
	}}}
	start := time.Now()
	rs := (&Runner{Checks: cat, Timeout: 50 * time.Millisecond}).Run(context.Background(), &Env{Mesh: twoClusters()}, nil)
	if time.Since(start) > 5*time.Second || rs[0].Status != Error {
		t.Errorf("slow check: %+v after %s", rs, time.Since(start))
	}
}

func TestValidateAndSelect(t *testing.T) {
	if err := Validate(Catalogue()); err != nil {
		t.Fatalf("the catalogue is invalid: %v", err)
	}
	bad := []Check{{ID: "a.a", Scope: Mesh, DependsOn: []string{"b.b"}, Mesh: func(context.Context, *Env) []Result { return nil }}}
	if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "unknown check b.b") {
		t.Errorf("unknown dependency: %v", err)
	}
	sel, err := Select(Catalogue(), []string{"trust.root-match"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range sel {
		ids = append(ids, c.ID)
	}
	for _, want := range []string{"trust.root-match", "trust.cacerts-valid", "trust.cacerts-present", "controlplane.istiod-ready", ContextsReachable} {
		if !strings.Contains(strings.Join(ids, ","), want) {
			t.Errorf("--only trust.root-match lost prerequisite %s: %v", want, ids)
		}
	}
	if _, err := Select(Catalogue(), []string{"nothing.*"}, nil); err == nil {
		t.Error("a pattern matching nothing was accepted")
	}
}
