package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

var updateIstiod = flag.Bool("update-istiod", false, "re-record testdata/envoy/istiod-*.json from the real istiod (TestIstiodOracle)")

const helloworldCluster = "outbound|5000||helloworld.sample.svc.cluster.local"

// oracleCluster is one primary of healthy-multi-primary with its real
// istiod and the sidecar whose view it serves.
type oracleCluster struct {
	name, network, podCIDR string
	ist                    *testenv.Istiod
	kubelet                *testenv.Kubelet
	sleep                  string
}

func (o *oracleCluster) node() testenv.NodeMeta {
	return testenv.NodeMeta{IP: "10.214." + o.podCIDR + ".9", Pod: o.sleep, Namespace: "sample",
		ClusterID: o.name, Network: o.network, MeshID: "mesh1", Labels: map[string]string{"app": "sleep"}}
}

// TestIstiodOracle proves the endpoint diff against a real istiod
// (pilot-discovery from hack/istiod) per primary of healthy-multi-primary:
// each sidecar's Envoy endpoints are what that istiod pushes over ADS to a
// sidecar of that cluster and network, served through the kubelet
// stand-in's port-forward; istiod's /debug/clusterz and /debug/networkz are
// its real ones, port-forwarded to its monitoring port. Healthy, the diff is
// empty; then one fault at a time, each on a fresh pair of istiods.
func TestIstiodOracle(t *testing.T) {
	root, e, bin := oracleEnv(t)
	dir := filepath.Join(root, "testdata", "scenarios")

	setUp := func(t *testing.T) []*oracleCluster {
		applyWith(t, e, dir, "healthy-multi-primary", nil)
		cs := []*oracleCluster{{name: "cluster-1", network: "network1", podCIDR: "101"}, {name: "cluster-2", network: "network2", podCIDR: "102"}}
		for i, c := range cs {
			addHelloworldPod(t, e.Cluster(c.name), c.name, c.podCIDR, fmt.Sprintf("v%d", i+1))
		}
		return cs
	}
	round := 0 // nodes stay across subtests: each round registers new ones
	start := func(t *testing.T, cs []*oracleCluster) {
		round++
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		began := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		for _, c := range cs {
			g.Go(func() error {
				ist, err := testenv.StartIstiod(gctx, e, c.name, testenv.IstiodOptions{})
				if ist != nil {
					c.ist = ist
				}
				return err
			})
		}
		err := g.Wait()
		for _, c := range cs {
			if c.ist != nil {
				t.Cleanup(c.ist.Stop)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("istiod for %d clusters ready and synced in %v", len(cs), time.Since(began).Round(time.Millisecond))
		for _, c := range cs {
			node := fmt.Sprintf("node-%s-%d", c.name, round)
			k, err := e.AddNode(ctx, c.name, node)
			if err != nil {
				t.Fatal(err)
			}
			c.kubelet, c.sleep = k, "sleep-5d8b6c4b8-"+c.name
			bind(t, e.Cluster(c.name), "sample", c.sleep, node)
			istiodPod := "istiod-6b7c8d9f5-" + c.name
			bind(t, e.Cluster(c.name), "istio-system", istiodPod, node)
			k.Forward("istio-system", istiodPod, 15014, c.ist.MonitoringAddr)
		}
	}
	// serve puts the endpoints istiod pushes to each sleep sidecar behind
	// its port 15000, once they satisfy ready (istiod debounces pushes).
	serve := func(t *testing.T, cs []*oracleCluster, ready func(c *oracleCluster, eps []envoyadmin.Endpoint) bool) map[string][]byte {
		dumps := map[string][]byte{}
		for _, c := range cs {
			dump := waitDump(t, c, ready)
			dumps[c.name] = dump
			c.kubelet.Forward("sample", c.sleep, 15000, adminServer(t, map[string]string{
				"/config_dump": string(dump), "/clusters": `{"cluster_statuses":[]}`}))
		}
		return dumps
	}
	check := func(t *testing.T) map[string]checks.Result {
		res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "endpoints.*", "--timeout", "20s")
		got := map[string]checks.Result{}
		for _, r := range res.doc.Results {
			if strings.HasPrefix(r.CheckID, "endpoints.") {
				got[scenario.Key(r)] = r
				t.Logf("%s: %s %s", scenario.Key(r), r.Status, r.Message)
			}
		}
		return got
	}

	t.Run("healthy", func(t *testing.T) {
		cs := setUp(t)
		start(t, cs)
		dumps := serve(t, cs, func(c *oracleCluster, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		got := check(t)
		for _, c := range cs {
			for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync", "endpoints.istiod-networks"} {
				wantIstiodResult(t, got, id+"@"+c.name, checks.Pass, "")
			}
		}
		if *updateIstiod {
			for _, c := range cs {
				recordIstiodFixture(t, root, "istiod-"+c.name+"-config_dump.json", dumps[c.name])
				for _, p := range []string{"clusterz", "networkz"} {
					b, err := c.ist.Debug(context.Background(), "/debug/"+p)
					if err != nil {
						t.Fatal(err)
					}
					recordIstiodFixture(t, root, "istiod-"+c.name+"-"+p+".json", b)
				}
			}
		}
	})

	t.Run("remote-secret-removed", func(t *testing.T) {
		cs := setUp(t)
		// cluster-2's istiod no longer watches cluster-1.
		ctx := context.Background()
		if err := e.Cluster("cluster-2").Admin.CoreV1().Secrets("istio-system").Delete(ctx, "istio-remote-secret-cluster-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		start(t, cs)
		serve(t, cs, func(c *oracleCluster, eps []envoyadmin.Endpoint) bool { return len(eps) >= 1 })
		got := check(t)
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-1", checks.Pass, "")
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-2", checks.Fail, "10.214.1.10:15443")
		wantIstiodResult(t, got, "endpoints.istiod-sync@cluster-2", checks.Fail, "cluster-1")
	})

	t.Run("network-label-removed", func(t *testing.T) {
		cs := setUp(t)
		// cluster-1's workloads lose their network: cluster-2's sidecar gets
		// their pod IPs instead of cluster-1's gateway.
		patch := []byte(`{"metadata":{"labels":{"topology.istio.io/network":null}}}`)
		if _, err := e.Cluster("cluster-1").Admin.CoreV1().Namespaces().Patch(context.Background(), "istio-system", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		start(t, cs)
		dumps := serve(t, cs, func(c *oracleCluster, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		// The oracle: cluster-2's sidecar gets cluster-1's pod IP.
		if !strings.Contains(string(dumps["cluster-2"]), `"10.214.101.5"`) {
			t.Fatalf("istiod did not send cluster-1's pod IP to cluster-2's sidecar:\n%s", dumps["cluster-2"])
		}
		got := check(t)
		// meshdoctor takes a cluster's network from that same label, so the
		// expected table agrees with istiod; the leak is named all the same.
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-2", checks.Fail, "remote-pod-ip 10.214.101.5:5000")
	})

	t.Run("sidecar-without-network", func(t *testing.T) {
		cs := setUp(t)
		// cluster-1's sleep was injected without a network (no
		// values.global.network: ISTIO_META_CLUSTER_ID but no
		// ISTIO_META_NETWORK), so istiod sees a proxy on network "" and
		// sends it gateways even for its own cluster's pods (ep_filters.go
		// forceGateway).
		cs[0].network = ""
		ctx := context.Background()
		pods := e.Cluster("cluster-1").Admin.CoreV1().Pods("sample")
		old, err := pods.Get(ctx, "sleep-5d8b6c4b8-cluster-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zero := int64(0)
		if err := pods.Delete(ctx, old.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: old.Name, Namespace: old.Namespace, Labels: old.Labels}, Spec: *old.Spec.DeepCopy()}
		for i := range p.Spec.Containers {
			if p.Spec.Containers[i].Name == "istio-proxy" {
				p.Spec.Containers[i].Env = []corev1.EnvVar{{Name: "ISTIO_META_CLUSTER_ID", Value: "cluster-1"}}
			}
		}
		created, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = old.Status
		if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		start(t, cs)
		dumps := serve(t, cs, func(c *oracleCluster, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		// The oracle: cluster-1's own pod reaches its sidecar through
		// cluster-1's gateway.
		if !strings.Contains(string(dumps["cluster-1"]), `"10.214.1.10"`) || strings.Contains(string(dumps["cluster-1"]), `"10.214.101.5"`) {
			t.Fatalf("istiod did not route cluster-1's own pod through its gateway for a sidecar without a network:\n%s", dumps["cluster-1"])
		}
		got := check(t)
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-1", checks.Pass, "")
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-2", checks.Pass, "")
	})

	t.Run("gateway-address-removed", func(t *testing.T) {
		cs := setUp(t)
		// cluster-2's east-west gateway has no address: network2 is not in
		// cluster-1's istiod's networkz.
		c2 := e.Cluster("cluster-2").Admin.CoreV1().Services("istio-system")
		ctx := context.Background()
		svc, err := c2.Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
		if _, err := c2.UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		start(t, cs)
		serve(t, cs, func(c *oracleCluster, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		// The oracle: network2 is gone from cluster-1's istiod's networkz,
		// and its sidecar gets cluster-2's pod IP (istiod's sidecar mode
		// sends remote endpoints directly when their network has no
		// gateway).
		networkz, err := cs[0].ist.Debug(ctx, "/debug/networkz")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(networkz), "network2") {
			t.Errorf("cluster-1's istiod still lists network2: %s", networkz)
		}
		got := check(t)
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-1", checks.Fail, `unreachable-network (network "network2"`)
		wantIstiodResult(t, got, "endpoints.proxy-table@cluster-1", checks.Fail, "remote-pod-ip 10.214.102.5:5000")
		// istiod knows every gateway that has an address.
		wantIstiodResult(t, got, "endpoints.istiod-networks@cluster-1", checks.Pass, "")
	})
}

// addHelloworldPod creates the pod that the scenario's EndpointSlice names
// (targetRef): istiod drops an endpoint whose pod it expects but cannot
// find, and takes its mTLS mode (security.istio.io/tlsMode, set by
// injection) from the pod; remote endpoints without it are not sent across
// networks.
func addHelloworldPod(t *testing.T, c *testenv.Cluster, cluster, podCIDR, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods := c.Admin.CoreV1().Pods("sample")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "helloworld-" + cluster + "-7d9c5b6f4-x1", Namespace: "sample", Labels: map[string]string{
			"app": "helloworld", "version": version, "security.istio.io/tlsMode": "istio",
			"service.istio.io/canonical-name": "helloworld", "service.istio.io/canonical-revision": version}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "helloworld", Image: "docker.io/istio/examples-helloworld-" + version + ":1.0"},
			{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.28.1"}}},
	}
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := "10.214." + podCIDR + ".5"
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	t.Cleanup(func() {
		zero := int64(0)
		_ = pods.Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitDump asks istiod for the sidecar's endpoints until ready accepts the
// helloworld cluster's (istiod debounces its pushes after a sync).
func waitDump(t *testing.T, c *oracleCluster, ready func(c *oracleCluster, eps []envoyadmin.Endpoint) bool) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last string
	for {
		dump, err := c.ist.EndpointsDump(ctx, c.node(), helloworldCluster)
		if err == nil {
			table, perr := envoyadmin.ParseConfigDump(bytes.NewReader(dump))
			if perr != nil {
				t.Fatalf("%s: istiod's dump does not parse: %v", c.name, perr)
			}
			if ready(c, table[helloworldCluster]) {
				return dump
			}
			last = fmt.Sprintf("%v", table[helloworldCluster])
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: istiod's endpoints for %s not as awaited: %s (istiod log %s)", c.name, helloworldCluster, last, c.ist.Log())
		case <-time.After(time.Second):
		}
	}
}

func wantIstiodResult(t *testing.T, got map[string]checks.Result, key string, status checks.Status, msg string) {
	t.Helper()
	r, ok := got[key]
	if !ok {
		t.Errorf("no %s result", key)
		return
	}
	if r.Status != status || !strings.Contains(r.Message, msg) {
		t.Errorf("%s = %s %q, want %s containing %q", key, r.Status, r.Message, status, msg)
	}
}

// recordIstiodFixture writes a fixture recorded from the real istiod.
func recordIstiodFixture(t *testing.T, root, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, "testdata", "envoy", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded testdata/envoy/%s", name)
}

// oracleEnv is what every real-istiod test starts with: the repository
// root, two real API servers and the built meshdoctor; it skips, saying
// why, without the integration tier or bin/pilot-discovery.
func oracleEnv(t *testing.T) (root string, e *testenv.Env, bin string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv.SkipIfDisabled(t)
	if _, err := os.Stat(filepath.Join(root, testenv.IstiodBinary)); err != nil {
		t.Skipf("%s is missing (make testbin builds it from hack/istiod, about 7 minutes cold): %v", testenv.IstiodBinary, err)
	}
	return root, testenv.Start(t, testenv.Options{Clusters: 2}), meshdoctorBinary(t, root)
}
