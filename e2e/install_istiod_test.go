package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestIstiodOracleOnRenderedInstall runs the real istiod (pilot-discovery
// from hack/istiod) of each primary of the rendered multi-primary,
// multi-network install (row a, testdata/installs), with the rendered
// istiod Deployment's env, mesh config and injected workloads: each curl
// sidecar's Envoy endpoints are what its istiod pushes over ADS. Healthy,
// meshdoctor's endpoint diff is empty; with cluster-1's remote secret for
// cluster-2 deleted, it names cluster-2's gateway missing from cluster-1's
// sidecar and the cluster istiod no longer syncs.
func TestIstiodOracleOnRenderedInstall(t *testing.T) {
	root, e, bin := oracleEnv(t)
	dir := filepath.Join(root, "testdata", "scenarios")
	round := 0
	var loaded *scenario.Scenario

	// oracle applies a row, starts one istiod per cluster, and serves each
	// curl sidecar's endpoints (once ready accepts them) behind its admin
	// port; it returns meshdoctor's endpoint results.
	var dumps map[string][]byte // the last oracle's, per cluster
	oracleWith := func(t *testing.T, name string, opts testenv.IstiodOptions, ready func(cluster string, eps []envoyadmin.Endpoint) bool, more ...string) []checks.Result {
		round++
		dumps = map[string][]byte{}
		sc := applyWith(t, e, dir, name, nil)
		loaded = sc
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		ists := make([]*testenv.Istiod, len(sc.Clusters))
		g, gctx := errgroup.WithContext(ctx)
		for i, cl := range sc.Clusters {
			g.Go(func() error {
				ist, err := testenv.StartIstiod(gctx, e, cl, opts)
				ists[i] = ist
				return err
			})
		}
		err := g.Wait()
		for _, ist := range ists {
			if ist != nil {
				t.Cleanup(ist.Stop)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, cl := range sc.Clusters {
			curl := podOf(t, sc, cl, "sample", "app", "curl")
			istiod := podOf(t, sc, cl, "istio-system", "app", "istiod")
			k, err := e.AddNode(ctx, cl, fmt.Sprintf("node-%s-%d", cl, round))
			if err != nil {
				t.Fatal(err)
			}
			bind(t, e.Cluster(cl), "sample", curl.Name, k.Node)
			bind(t, e.Cluster(cl), "istio-system", istiod.Name, k.Node)
			k.Forward("istio-system", istiod.Name, 15014, ists[i].MonitoringAddr)
			node := testenv.NodeMeta{IP: curl.Status.PodIP, Pod: curl.Name, Namespace: "sample", ClusterID: cl,
				Network: curl.Labels["topology.istio.io/network"], MeshID: "mesh1", Labels: curl.Labels, ServiceAccount: curl.Spec.ServiceAccountName}
			for _, ip := range curl.Status.PodIPs[1:] {
				node.MoreIPs = append(node.MoreIPs, ip.IP)
			}
			dump := waitEndpoints(t, ists[i], node, func(eps []envoyadmin.Endpoint) bool { return ready(cl, eps) }, more...)
			dumps[cl] = dump
			k.Forward("sample", curl.Name, 15000, adminServer(t, map[string]string{
				"/config_dump": string(dump), "/clusters": `{"cluster_statuses":[]}`}))
		}
		res := run(t, bin, e.Kubeconfig, "--context", strings.Join(sc.Clusters, ","), "--only", "endpoints.*",
			"--probe-selector", "app=curl", "--timeout", "20s")
		var out []checks.Result
		for _, r := range res.doc.Results {
			if strings.HasPrefix(r.CheckID, "endpoints.") {
				out = append(out, r)
				t.Logf("%s: %s %s", scenario.Key(r), r.Status, r.Message)
			}
		}
		return out
	}
	oracle := func(t *testing.T, name string, ready func(cluster string, eps []envoyadmin.Endpoint) bool) []checks.Result {
		return oracleWith(t, name, testenv.IstiodOptions{}, ready)
	}
	// helloworldOf is what istiod sent cluster's sidecar for helloworld.
	helloworldOf := func(t *testing.T, cluster string) []string {
		t.Helper()
		table, err := envoyadmin.ParseConfigDump(bytes.NewReader(dumps[cluster]))
		if err != nil {
			t.Fatal(err)
		}
		var addrs []string
		for _, ep := range table[helloworldCluster] {
			addrs = append(addrs, fmt.Sprintf("%s:%d", ep.Address, ep.Port))
			addrs = append(addrs, ep.AdditionalAddresses...)
		}
		return addrs
	}
	// want asserts every result of key (one per Service for proxy-table)
	// has status, and that one of them says msg.
	want := func(t *testing.T, rs []checks.Result, key string, status checks.Status, msg string) {
		t.Helper()
		n, said := 0, false
		for _, r := range rs {
			if scenario.Key(r) != key {
				continue
			}
			n++
			said = said || (r.Status == status && strings.Contains(r.Message, msg))
			if r.Status != status && !(status == checks.Fail && r.Status == checks.Pass) {
				t.Errorf("%s = %s %q, want %s", key, r.Status, r.Message, status)
			}
		}
		if n == 0 || !said {
			t.Errorf("%s: %d results, none %s saying %q", key, n, status, msg)
		}
	}

	t.Run("healthy", func(t *testing.T) {
		got := oracle(t, "install-mp-mn", func(_ string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		for _, cl := range []string{"cluster-1", "cluster-2"} {
			for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync", "endpoints.istiod-networks"} {
				want(t, got, id+"@"+cl, checks.Pass, "")
			}
		}
	})

	t.Run("nodeport-gateways", func(t *testing.T) {
		// Row e: east-west gateways as NodePort Services with
		// traffic.istio.io/nodeSelector. The oracle: istiod sends the
		// selected node's ExternalIP and the node port of 15443.
		got := oracle(t, "install-ew-nodeport", func(_ string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		gw := fmt.Sprintf("198.51.100.12:%d", nodePortOf(t, loaded, "cluster-2", "istio-system", scenario.EastWestService, 15443))
		table, err := envoyadmin.ParseConfigDump(bytes.NewReader(dumps["cluster-1"]))
		if err != nil {
			t.Fatal(err)
		}
		var addrs []string
		for _, ep := range table[helloworldCluster] {
			addrs = append(addrs, fmt.Sprintf("%s:%d", ep.Address, ep.Port))
		}
		if !slices.Contains(addrs, gw) {
			t.Fatalf("istiod sent cluster-1's sidecar %v for helloworld, want network2's NodePort gateway %s among them", addrs, gw)
		}
		for _, cl := range []string{"cluster-1", "cluster-2"} {
			for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync", "endpoints.istiod-networks"} {
				want(t, got, id+"@"+cl, checks.Pass, "")
			}
		}
	})

	// Row e, LoadBalancer hostnames (AWS ELB, install-ew-hostname): istiod
	// resolves them by DNS (pilot/pkg/model/network.go) and sends the IPs.
	// The cloud's DNS is a test server (install_dns_test.go) that istiod
	// reaches through a resolv.conf of its own; meshdoctor takes the
	// resolved addresses from istiod's /debug/networkz.
	elb := map[string][]string{
		"a1f0c2d4e6b8-1234567890.us-east-1.elb.amazonaws.com": {"10.214.1.10"},
		"b2e1d3c5f7a9-0987654321.us-west-2.elb.amazonaws.com": {"10.214.2.10"},
	}
	t.Run("hostname-gateways", func(t *testing.T) {
		dns := startDNS(t, elb)
		got := oracleWith(t, "install-ew-hostname", testenv.IstiodOptions{ResolvConf: dns.resolvConf},
			func(_ string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		if addrs := helloworldOf(t, "cluster-1"); !slices.Contains(addrs, "10.214.2.10:15443") {
			t.Fatalf("istiod sent cluster-1's sidecar %v for helloworld, want network2's ELB, resolved, 10.214.2.10:15443", addrs)
		}
		for _, cl := range []string{"cluster-1", "cluster-2"} {
			for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync", "endpoints.istiod-networks"} {
				want(t, got, id+"@"+cl, checks.Pass, "")
			}
		}
	})

	t.Run("hostname-not-resolving", func(t *testing.T) {
		// cluster-2's ELB deleted by hand: its hostname stays in the
		// Service's status but no longer resolves. istiod drops network2's
		// gateway (resolveHostnameGateways) and, a network without gateway
		// being "directly reachable" to ep_filters.go, sends cluster-1's
		// sidecar cluster-2's pod IP, which it cannot reach.
		dns := startDNS(t, map[string][]string{"a1f0c2d4e6b8-1234567890.us-east-1.elb.amazonaws.com": {"10.214.1.10"}})
		got := oracleWith(t, "install-ew-hostname", testenv.IstiodOptions{ResolvConf: dns.resolvConf},
			func(cl string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		if addrs := helloworldOf(t, "cluster-1"); slices.Contains(addrs, "10.214.2.10:15443") || !slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, "10.214.102.") }) {
			t.Fatalf("istiod sent cluster-1's sidecar %v, want cluster-2's pod IP and no network2 gateway (its name does not resolve)", addrs)
		}
		for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync"} {
			want(t, got, id+"@cluster-2", checks.Pass, "")
		}
		want(t, got, "endpoints.istiod-networks@cluster-1", checks.Fail, "b2e1d3c5f7a9-0987654321.us-west-2.elb.amazonaws.com")
		want(t, got, "endpoints.proxy-table@cluster-1", checks.Fail, "missing b2e1d3c5f7a9-0987654321.us-west-2.elb.amazonaws.com:15443; remote-pod-ip 10.214.102.")
	})

	t.Run("dual-stack", func(t *testing.T) {
		// Row i (install-dual-stack): ISTIO_DUAL_STACK istiods, dual-stack
		// pods, tcp-echo RequireDualStack (IPv6 first). istiod sends each
		// tcp-echo pod as one endpoint, its IPv4 address first (the pod's
		// primary family) with the IPv6 one in additional_addresses, and
		// network2's gateway for the other cluster's pod.
		got := oracleWith(t, "install-dual-stack", testenv.IstiodOptions{},
			func(_ string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 }, tcpEchoCluster)
		table, err := envoyadmin.ParseConfigDump(bytes.NewReader(dumps["cluster-1"]))
		if err != nil {
			t.Fatal(err)
		}
		var dual bool
		for _, ep := range table[tcpEchoCluster] {
			dual = dual || len(ep.AdditionalAddresses) > 0
		}
		if !dual {
			t.Fatalf("istiod sent cluster-1's sidecar %v for tcp-echo, want a local endpoint with both families", table[tcpEchoCluster])
		}
		for _, cl := range []string{"cluster-1", "cluster-2"} {
			for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync", "endpoints.istiod-networks"} {
				want(t, got, id+"@"+cl, checks.Pass, "")
			}
		}
	})

	t.Run("dual-stack-remote-secret-deleted", func(t *testing.T) {
		got := oracleWith(t, "install-dual-stack-no-remote-secret", testenv.IstiodOptions{},
			func(_ string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 1 }, tcpEchoCluster)
		want(t, got, "endpoints.proxy-table@cluster-1", checks.Fail, "missing 10.214.2.10:15443")
		want(t, got, "endpoints.istiod-sync@cluster-1", checks.Fail, "cluster-2")
	})

	t.Run("remote-secret-deleted", func(t *testing.T) {
		got := oracle(t, "install-mp-mn-no-remote-secret", func(cl string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 1 })
		for _, id := range []string{"endpoints.proxy-table", "endpoints.istiod-sync", "endpoints.istiod-networks"} {
			want(t, got, id+"@cluster-2", checks.Pass, "")
		}
		// cluster-1's istiod no longer watches cluster-2: its sidecar lacks
		// network2's gateway, and meshdoctor says why.
		want(t, got, "endpoints.proxy-table@cluster-1", checks.Fail, "missing 10.214.2.10:15443")
		want(t, got, "endpoints.istiod-sync@cluster-1", checks.Fail, "cluster-2")
	})
}

const (
	curlCluster    = "outbound|80||curl.sample.svc.cluster.local"
	tcpEchoCluster = "outbound|9000||tcp-echo.sample.svc.cluster.local"
)

// nodePortOf is the node port of a Service port in a loaded scenario.
func nodePortOf(t *testing.T, sc *scenario.Scenario, cl, ns, name string, port int32) int32 {
	t.Helper()
	for _, o := range sc.Objects[cl] {
		if s, ok := o.(*corev1.Service); ok && s.Namespace == ns && s.Name == name {
			for _, p := range s.Spec.Ports {
				if p.Port == port {
					return p.NodePort
				}
			}
		}
	}
	t.Fatalf("%s: no Service %s/%s port %d", cl, ns, name, port)
	return 0
}

// podOf is the pod the status writer made in a cluster of a loaded
// scenario, by one label.
func podOf(t *testing.T, sc *scenario.Scenario, cl, ns, key, value string) *corev1.Pod {
	t.Helper()
	for _, o := range sc.Objects[cl] {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == ns && p.Labels[key] == value {
			return p
		}
	}
	t.Fatalf("%s: no pod %s=%s in %s", cl, key, value, ns)
	return nil
}

// waitEndpoints asks istiod for a sidecar's endpoints until its helloworld
// ones satisfy
// ready (istiod debounces its pushes after a sync); more names further
// clusters the dump holds.
func waitEndpoints(t *testing.T, ist *testenv.Istiod, node testenv.NodeMeta, ready func([]envoyadmin.Endpoint) bool, more ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last string
	for {
		// Every Service of the sample namespace that meshdoctor may compare:
		// the sidecar has them all.
		dump, err := ist.EndpointsDump(ctx, node, append([]string{helloworldCluster, curlCluster}, more...)...)
		if err == nil {
			table, perr := envoyadmin.ParseConfigDump(bytes.NewReader(dump))
			if perr != nil {
				t.Fatalf("%s: istiod's dump does not parse: %v", ist.Cluster, perr)
			}
			if ready(table[helloworldCluster]) {
				return dump
			}
			last = fmt.Sprintf("%v", table[helloworldCluster])
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: istiod's endpoints for %s not as awaited: %s (istiod log %s)", ist.Cluster, helloworldCluster, last, ist.Log())
		case <-time.After(time.Second):
		}
	}
}
