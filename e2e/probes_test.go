package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// testCurlProbes: meshdoctor execs curl in each cluster's sleep pod through
// the real API server (pods/exec -> kubelet stand-in). The simulated data
// plane routes cluster-1's requests to helloworld in both clusters and
// cluster-2's only to its own: cluster-1 passes with both clusters
// answering, cluster-2 fails with "no cross-cluster traffic".
func testCurlProbes(t *testing.T, e *testenv.Env, bin, dir string) {
	applyWith(t, e, dir, "healthy-multi-primary", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dp, err := testenv.NewDataPlane()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	b1, err := dp.Backend("v1", "helloworld-cluster-1-7d9c5b6f4-x1")
	if err != nil {
		t.Fatal(err)
	}
	b2, err := dp.Backend("v2", "helloworld-cluster-2-7d9c5b6f4-x1")
	if err != nil {
		t.Fatal(err)
	}
	const svc = "helloworld.sample.svc.cluster.local:5000"
	routes := map[string][]string{"cluster-1": {b1, b2}, "cluster-2": {b2}}
	for _, name := range []string{"cluster-1", "cluster-2"} {
		node := "probe-node-" + name
		k, err := e.AddNode(ctx, name, node)
		if err != nil {
			t.Fatal(err)
		}
		k.SetExec(dp.Exec)
		sleep := "sleep-5d8b6c4b8-" + name
		bind(t, e.Cluster(name), "sample", sleep, node)
		if err := dp.Route("sample", sleep, svc, routes[name]...); err != nil {
			t.Fatal(err)
		}
	}
	res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "probes.cross-cluster", "--requests", "6", "--probe-timeout", "3s")
	got := map[string]checks.Result{}
	for _, r := range res.doc.Results {
		if r.CheckID == "probes.cross-cluster" {
			got[r.Cluster] = r
		}
	}
	if r := got["cluster-1"]; r.Status != checks.Pass || !strings.Contains(r.Message, "cluster-1=3, cluster-2=3") {
		t.Errorf("cluster-1: %s %q, want pass answered by both clusters", r.Status, r.Message)
	}
	if r := got["cluster-2"]; r.Status != checks.Fail || !strings.Contains(r.Message, "no cross-cluster traffic") || r.Remediation == "" {
		t.Errorf("cluster-2: %s %q, want fail: no cross-cluster traffic", r.Status, r.Message)
	}
	for _, r := range got {
		if !strings.Contains(r.Target, "helloworld.sample.svc.cluster.local:5000/hello") {
			t.Errorf("probed %s, want the multi-cluster helloworld service", r.Target)
		}
	}
}
