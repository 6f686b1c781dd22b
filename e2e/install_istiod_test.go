package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
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

	var dumps map[string][]byte // the last oracle's, per cluster
	// checkResults runs meshdoctor on clusters with --only area.* (and
	// args) and returns the results of that area, logged.
	checkResults := func(t *testing.T, clusters []string, area string, args ...string) []checks.Result {
		t.Helper()
		res := run(t, bin, e.Kubeconfig, append([]string{"--context", strings.Join(clusters, ","), "--only", area + ".*"}, args...)...)
		var out []checks.Result
		for _, r := range res.doc.Results {
			if strings.HasPrefix(r.CheckID, area+".") {
				out = append(out, r)
				t.Logf("%s: %s %s", scenario.Key(r), r.Status, r.Message)
			}
		}
		return out
	}
	// tableOf is the endpoint table istiod sent cluster's sidecar in the
	// last oracle's dump.
	tableOf := func(t *testing.T, cluster string) envoyadmin.Table {
		t.Helper()
		table, err := envoyadmin.ParseConfigDump(bytes.NewReader(dumps[cluster]))
		if err != nil {
			t.Fatal(err)
		}
		return table
	}
	// oracle applies a row, starts one istiod per cluster, and serves each
	// curl sidecar's endpoints (once ready accepts them) behind its admin
	// port; it returns meshdoctor's endpoint results.
	oracleWith := func(t *testing.T, name string, opts testenv.IstiodOptions, ready func(cluster string, eps []envoyadmin.Endpoint) bool, more ...string) []checks.Result {
		round++
		dumps = map[string][]byte{}
		sc := applyWith(t, e, dir, name, nil)
		loaded = sc
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		// Each cluster's node (with the scenario's zone) and the pods bound
		// to it exist before istiod starts, so that its first sync reads
		// every endpoint's locality: bound after, istiod could miss the
		// node for a pod update and keep the endpoint without locality
		// (seen under load: a local endpoint without locality for the
		// whole minute waitEndpoints waits).
		kubelets := make([]*testenv.Kubelet, len(sc.Clusters))
		for i, cl := range sc.Clusters {
			k, err := e.AddNode(ctx, cl, fmt.Sprintf("node-%s-%d", cl, round))
			if err != nil {
				t.Fatal(err)
			}
			kubelets[i] = k
			if copyTopology(t, e.Cluster(cl), sc, cl, k.Node) {
				// The workloads run in that zone too: istiod takes an
				// endpoint's locality from its pod's node.
				bind(t, e.Cluster(cl), "sample", podOf(t, sc, cl, "sample", "app", "helloworld").Name, k.Node)
			}
			bind(t, e.Cluster(cl), "sample", podOf(t, sc, cl, "sample", "app", "curl").Name, k.Node)
			bind(t, e.Cluster(cl), "istio-system", podOf(t, sc, cl, "istio-system", "app", "istiod").Name, k.Node)
		}
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
			k := kubelets[i]
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
		return checkResults(t, sc.Clusters, "endpoints", "--probe-selector", "app=curl", "--timeout", "20s")
	}
	oracle := func(t *testing.T, name string, ready func(cluster string, eps []envoyadmin.Endpoint) bool) []checks.Result {
		return oracleWith(t, name, testenv.IstiodOptions{}, ready)
	}
	// helloworldOf is what istiod sent cluster's sidecar for helloworld.
	helloworldOf := func(t *testing.T, cluster string) []string {
		t.Helper()
		table := tableOf(t, cluster)
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
		table := tableOf(t, "cluster-1")
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
		table := tableOf(t, "cluster-1")
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

	// traffic runs meshdoctor's traffic.* checks on the oracle's clusters
	// (still applied, istiods still serving).
	traffic := func(t *testing.T) []checks.Result {
		return checkResults(t, loaded.Clusters, "traffic", "--timeout", "20s")
	}
	// gatewayOf says whether istiod sent cluster's sidecar gw for an Envoy
	// cluster of the last oracle's dump.
	gatewayOf := func(t *testing.T, cluster, envoyCluster, gw string) bool {
		t.Helper()
		table := tableOf(t, cluster)
		return slices.ContainsFunc(table[envoyCluster], func(ep envoyadmin.Endpoint) bool { return fmt.Sprintf("%s:%d", ep.Address, ep.Port) == gw })
	}

	t.Run("dr-tls-disable", func(t *testing.T) {
		// dr-tls-disable-multinetwork: cluster-1's DestinationRule sets
		// tls.mode DISABLE for helloworld. The oracle: cluster-1's istiod
		// sends its sidecar no endpoint of network2 for helloworld
		// (ep_filters.go drops remote-network endpoints without Istio
		// mTLS), though it sends network2's gateway for curl; cluster-2's
		// istiod, without the rule, sends network1's gateway.
		got := oracle(t, "dr-tls-disable-multinetwork", func(cl string, eps []envoyadmin.Endpoint) bool {
			return cl == "cluster-1" && len(eps) >= 1 || len(eps) >= 2
		})
		if gatewayOf(t, "cluster-1", helloworldCluster, "10.214.2.10:15443") || !gatewayOf(t, "cluster-1", curlCluster, "10.214.2.10:15443") {
			t.Fatalf("istiod sent cluster-1's sidecar %v for helloworld, want no network2 gateway (DISABLE) while curl has it", helloworldOf(t, "cluster-1"))
		}
		if !gatewayOf(t, "cluster-2", helloworldCluster, "10.214.1.10:15443") {
			t.Fatalf("istiod sent cluster-2's sidecar %v for helloworld, want network1's gateway", helloworldOf(t, "cluster-2"))
		}
		// meshdoctor's expected table drops them the same way, and the
		// traffic check names the rule.
		want(t, got, "endpoints.proxy-table@cluster-1", checks.Pass, "")
		want(t, got, "endpoints.proxy-table@cluster-2", checks.Pass, "")
		tr := traffic(t)
		want(t, tr, "traffic.tls-remote-endpoints@cluster-1", checks.Fail, "DestinationRule sample/helloworld-plaintext turns off Istio mTLS")
		want(t, tr, "traffic.tls-remote-endpoints@cluster-2", checks.Pass, "")
	})

	t.Run("dr-merge-tls-ignored", func(t *testing.T) {
		// dr-merge-tls-ignored: cluster-1 has an older DestinationRule with
		// a trafficPolicy and subset v1 and a newer one with tls DISABLE and
		// subset v2. The oracle: istiod merges them and the older policy
		// keeps Istio mTLS: cluster-1's sidecar keeps network2's gateway.
		got := oracle(t, "dr-merge-tls-ignored", func(_ string, eps []envoyadmin.Endpoint) bool { return len(eps) >= 2 })
		if !gatewayOf(t, "cluster-1", helloworldCluster, "10.214.2.10:15443") {
			t.Fatalf("istiod sent cluster-1's sidecar %v for helloworld, want network2's gateway (the newer rule's DISABLE is ignored)", helloworldOf(t, "cluster-1"))
		}
		want(t, got, "endpoints.proxy-table@cluster-1", checks.Pass, "")
		tr := traffic(t)
		want(t, tr, "traffic.tls-remote-endpoints@cluster-1", checks.Pass, "ignored after merging")
		want(t, tr, "traffic.subset-pods", checks.Pass, "every routed subset is defined")
	})

	// priorities is the EDS priority istiod gave each helloworld endpoint
	// of cluster's sidecar, by address.
	priorities := func(t *testing.T, cluster string) map[string]uint32 {
		t.Helper()
		table := tableOf(t, cluster)
		out := map[string]uint32{}
		for _, ep := range table[helloworldCluster] {
			out[fmt.Sprintf("%s:%d", ep.Address, ep.Port)] = ep.Priority
		}
		return out
	}

	t.Run("locality-failover", func(t *testing.T) {
		// The istio.io locality failover task (locality-failover: cluster-1
		// in region1/zone1, cluster-2 in region2/zone3, failover region1 to
		// region2 with outlier detection). The oracle: each sidecar's own
		// locality is priority 0 and the other cluster's gateway priority 1
		// (pilot/pkg/networking/core/loadbalancer applyLocalityFailover), as
		// traffic.locality says.
		// Ready once istiod knows the locality of each of the cluster's own
		// endpoints (a pod's comes from its node, which the test binds after
		// the pod exists; the other network's gateway endpoint carries
		// none): until then istiod ranks them by what it knows so far (seen
		// once under make test: the local pod at priority 1, the gateway 0).
		oracle(t, "locality-failover", func(cl string, eps []envoyadmin.Endpoint) bool {
			return len(eps) >= 2 && slices.ContainsFunc(eps, func(ep envoyadmin.Endpoint) bool { return ep.Priority > 0 }) &&
				!slices.ContainsFunc(eps, func(ep envoyadmin.Endpoint) bool { return ep.SourceCluster == cl && ep.Locality == "" })
		})
		for cl, gw := range map[string]string{"cluster-1": "10.214.2.10:15443", "cluster-2": "10.214.1.10:15443"} {
			p := priorities(t, cl)
			for addr, prio := range p {
				if want := uint32(0); addr == gw {
					if prio == 0 {
						t.Errorf("%s: the other network's gateway %s is priority 0: %v (endpoints %+v)", cl, gw, p, tableOf(t, cl)[helloworldCluster])
					}
				} else if prio != want {
					t.Errorf("%s: local endpoint %s is priority %d: %v (endpoints %+v)", cl, addr, prio, p, tableOf(t, cl)[helloworldCluster])
				}
			}
		}
		tr := traffic(t)
		want(t, tr, "traffic.locality@cluster-1", checks.Pass, "locality failover with outlier detection")
		want(t, tr, "traffic.locality@cluster-2", checks.Pass, "locality failover with outlier detection")
	})

	t.Run("locality-failover-no-outlier", func(t *testing.T) {
		// The same rule without outlierDetection. The oracle: istiod sets
		// no priorities (enableFailover needs outlier detection), every
		// endpoint is priority 0, as traffic.locality's failure says.
		// Ready once istiod knows the local endpoint's locality (its pod's
		// node, labelled as in locality-failover, where the same setup gets
		// priorities), so that priority 0 is the rule's doing.
		oracle(t, "locality-failover-no-outlier", func(_ string, eps []envoyadmin.Endpoint) bool {
			return len(eps) >= 2 && slices.ContainsFunc(eps, func(ep envoyadmin.Endpoint) bool { return ep.Locality != "" })
		})
		for _, cl := range []string{"cluster-1", "cluster-2"} {
			for addr, prio := range priorities(t, cl) {
				if prio != 0 {
					t.Errorf("%s: %s is priority %d without outlier detection", cl, addr, prio)
				}
			}
		}
		tr := traffic(t)
		want(t, tr, "traffic.locality@cluster-1", checks.Fail, "no outlierDetection: istiod sets no locality priorities")
	})

	t.Run("dr-merge-locality-ignored", func(t *testing.T) {
		// cluster-1 carries the failover in a newer DestinationRule after an
		// older one with a trafficPolicy. The oracle: istiod keeps the older
		// trafficPolicy, so cluster-1's sidecar gets no priorities, while
		// cluster-2's (the guide's single rule) does: traffic.locality fails
		// cluster-1 only.
		oracle(t, "dr-merge-locality-ignored", func(cl string, eps []envoyadmin.Endpoint) bool {
			return len(eps) >= 2 && (cl == "cluster-1" || slices.ContainsFunc(eps, func(ep envoyadmin.Endpoint) bool { return ep.Priority > 0 }))
		})
		for addr, prio := range priorities(t, "cluster-1") {
			if prio != 0 {
				t.Errorf("cluster-1: %s is priority %d, want none: the merge drops the newer rule's failover", addr, prio)
			}
		}
		if p := priorities(t, "cluster-2"); p["10.214.1.10:15443"] == 0 {
			t.Errorf("cluster-2: network1's gateway is priority 0, want failover priorities: %v", p)
		}
		tr := traffic(t)
		want(t, tr, "traffic.locality@cluster-1", checks.Fail, "keeps only the trafficPolicy of the oldest")
		want(t, tr, "traffic.locality@cluster-2", checks.Pass, "locality failover with outlier detection")
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

// copyTopology gives the kubelet stand-in's node the topology labels of
// the scenario's node in cluster cl (a cloud labels every node of a zone
// alike): istiod takes a sidecar's locality from its pod's node
// (pilot/pkg/serviceregistry/kube/controller getPodLocality), and so does
// meshdoctor. Nothing is patched (false) when the scenario's node has none.
func copyTopology(t *testing.T, c *testenv.Cluster, sc *scenario.Scenario, cl, node string) bool {
	t.Helper()
	labels := map[string]string{}
	for _, o := range sc.Objects[cl] {
		if n, ok := o.(*corev1.Node); ok {
			for _, k := range []string{"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"} {
				if v := n.Labels[k]; v != "" {
					labels[k] = v
				}
			}
		}
	}
	if len(labels) == 0 {
		return false
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Admin.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("%s: label node %s: %v", cl, node, err)
	}
	return true
}

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
