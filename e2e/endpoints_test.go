package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

func configDump(t *testing.T, eps []testenv.EDSEndpoint) []byte {
	t.Helper()
	b, err := testenv.ConfigDump(map[string][]testenv.EDSEndpoint{"outbound|5000||helloworld.sample.svc.cluster.local": eps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func adminServer(t *testing.T, paths map[string]string) string {
	t.Helper()
	addr, stop, err := testenv.AdminServer(paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// bind places a pod on a node the way the scheduler does (pods/binding).
func bind(t *testing.T, c *testenv.Cluster, ns, pod, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := c.Admin.CoreV1().Pods(ns).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind %s/%s to %s: %v", ns, pod, node, err)
	}
}

// testEndpointTables: meshdoctor reads each sidecar's Envoy endpoints and
// istiod's debug view through real port-forwards (API server -> kubelet
// stand-in), and diffs them against what the scenario says should be there.
// cluster-1's sidecar is right; cluster-2's has cluster-1's pod IP instead
// of cluster-1's gateway (network labels broken), and cluster-2's istiod
// lost its watch of cluster-1.
func testEndpointTables(t *testing.T, e *testenv.Env, bin, dir string) {
	applyWith(t, e, dir, "healthy-multi-primary", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clusterz := map[string]string{
		"cluster-1": `[{"id":"cluster-1","secretName":"","syncStatus":"synced"},{"id":"cluster-2","secretName":"istio-system/istio-remote-secret-cluster-2","syncStatus":"synced"}]`,
		"cluster-2": `[{"id":"cluster-2","secretName":"","syncStatus":"synced"},{"id":"cluster-1","secretName":"istio-system/istio-remote-secret-cluster-1","syncStatus":"timeout"}]`,
	}
	networkz := `[{"Network":"network1","Cluster":"cluster-1","Addr":"10.214.1.10","Port":15443},{"Network":"network2","Cluster":"cluster-2","Addr":"10.214.2.10","Port":15443}]`
	dumps := map[string][]testenv.EDSEndpoint{
		"cluster-1": {{Addr: "10.214.101.5", Port: 5000, Weight: 1, Workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}, {Addr: "10.214.2.10", Port: 15443, Weight: 1, Workload: ";;;;cluster-2"}},
		"cluster-2": {{Addr: "10.214.102.5", Port: 5000, Weight: 1, Workload: "helloworld-v2;sample;helloworld;v2;cluster-2"}, {Addr: "10.214.101.5", Port: 5000, Weight: 1, Workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}},
	}
	for _, name := range []string{"cluster-1", "cluster-2"} {
		node := "node-" + name
		k, err := e.AddNode(ctx, name, node)
		if err != nil {
			t.Fatal(err)
		}
		c := e.Cluster(name)
		sleep, istiod := "sleep-5d8b6c4b8-"+name, "istiod-6b7c8d9f5-"+name
		bind(t, c, "sample", sleep, node)
		bind(t, c, "istio-system", istiod, node)
		k.Forward("sample", sleep, 15000, adminServer(t, map[string]string{
			"/config_dump": string(configDump(t, dumps[name])), "/clusters": `{"cluster_statuses":[]}`}))
		k.Forward("istio-system", istiod, 15014, adminServer(t, map[string]string{
			"/debug/clusterz": clusterz[name], "/debug/networkz": networkz}))
	}
	res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "endpoints.*", "--timeout", "10s")
	got := map[string]checks.Result{}
	for _, r := range res.doc.Results {
		if strings.HasPrefix(r.CheckID, "endpoints.") {
			got[scenario.Key(r)] = r
		}
	}
	want := []struct {
		key    string
		status checks.Status
		msg    string
	}{
		{"endpoints.proxy-table@cluster-1", checks.Pass, "as expected"},
		{"endpoints.proxy-table@cluster-2", checks.Fail, "remote-pod-ip 10.214.101.5:5000"},
		{"endpoints.istiod-sync@cluster-1", checks.Pass, "synced"},
		{"endpoints.istiod-sync@cluster-2", checks.Fail, "timeout"},
		{"endpoints.istiod-networks@cluster-1", checks.Pass, "all 2 network gateways"},
	}
	for _, w := range want {
		r, ok := got[w.key]
		if !ok {
			t.Errorf("no %s result; have %v", w.key, got)
			continue
		}
		if r.Status != w.status || !strings.Contains(r.Message, w.msg) {
			t.Errorf("%s = %s %q, want %s containing %q", w.key, r.Status, r.Message, w.status, w.msg)
		}
	}
	if r := got["endpoints.proxy-table@cluster-2"]; !strings.Contains(r.Message, "missing 10.214.1.10:15443") {
		t.Errorf("cluster-2's table lacks cluster-1's gateway, yet the diff does not say so: %s", r.Message)
	}
}
