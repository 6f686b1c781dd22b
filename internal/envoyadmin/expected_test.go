package envoyadmin

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

const helloworld = "helloworld.sample.svc.cluster.local"

func ep(ip string, port int, cluster, network string) RemoteEndpoint {
	return RemoteEndpoint{IP: ip, Port: port, Cluster: cluster, Network: network}
}

func gw(addr, cluster string) GatewayAddr {
	return GatewayAddr{Address: addr, Port: 15443, Cluster: cluster}
}

func TestExpected(t *testing.T) {
	tests := []struct {
		name string
		in   ExpectedInput
		want []Endpoint
	}{
		{
			name: "single network: every pod IP of every cluster",
			in: ExpectedInput{Service: helloworld, Port: 5000, Endpoints: []RemoteEndpoint{
				ep("10.10.0.11", 5000, "cluster-1", ""), ep("10.20.0.11", 5000, "cluster-2", ""),
			}},
			want: []Endpoint{
				{Address: "10.10.0.11", Port: 5000, Weight: 1, SourceCluster: "cluster-1"},
				{Address: "10.20.0.11", Port: 5000, Weight: 1, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "two networks one gateway each: remote pods become the remote gateway weighted by their count",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{
					ep("10.10.0.11", 5000, "cluster-1", "network-1"), ep("10.10.0.12", 5000, "cluster-1", "network-1"),
					ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.20.0.12", 5000, "cluster-2", "network-2"),
				},
				Gateways: map[string][]GatewayAddr{
					"network-1": {gw("172.18.0.10", "cluster-1")},
					"network-2": {gw("172.18.0.20", "cluster-2")},
				}},
			want: []Endpoint{
				{Address: "10.10.0.11", Port: 5000, Weight: 1, SourceCluster: "cluster-1"},
				{Address: "10.10.0.12", Port: 5000, Weight: 1, SourceCluster: "cluster-1"},
				{Address: "172.18.0.20", Port: 15443, Weight: 2, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "remote endpoints without Istio mTLS are dropped, local ones stay (ep_filters.go)",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{
					{IP: "10.10.0.11", Port: 5000, Cluster: "cluster-1", Network: "network-1", NoMTLS: true},
					{IP: "10.20.0.11", Port: 5000, Cluster: "cluster-2", Network: "network-2", NoMTLS: true},
					ep("10.20.0.12", 5000, "cluster-2", "network-2"),
					{IP: "10.30.0.11", Port: 5000, Cluster: "cluster-3", Network: "network-3", NoMTLS: true},
				},
				Gateways: map[string][]GatewayAddr{
					"network-1": {gw("172.18.0.10", "cluster-1")},
					"network-2": {gw("172.18.0.20", "cluster-2")},
					"network-3": {gw("172.18.0.30", "cluster-3")},
				}},
			want: []Endpoint{
				{Address: "10.10.0.11", Port: 5000, Weight: 1, SourceCluster: "cluster-1"},
				{Address: "172.18.0.20", Port: 15443, Weight: 1, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "network with two gateways: all weights scaled by the LCM, remote weight split",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{
					ep("10.10.0.11", 5000, "cluster-1", "network-1"),
					ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.20.0.12", 5000, "cluster-2", "network-2"),
					ep("10.20.0.13", 5000, "cluster-2", "network-2"),
				},
				Gateways: map[string][]GatewayAddr{
					"network-1": {gw("172.18.0.10", "cluster-1")},
					"network-2": {gw("172.18.0.21", "cluster-2"), gw("172.18.0.20", "cluster-2"), gw("172.18.0.20", "cluster-2")},
				}},
			want: []Endpoint{
				{Address: "10.10.0.11", Port: 5000, Weight: 2, SourceCluster: "cluster-1"},
				{Address: "172.18.0.20", Port: 15443, Weight: 3, SourceCluster: "cluster-2"},
				{Address: "172.18.0.21", Port: 15443, Weight: 3, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "network without gateway: its endpoints are dropped",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{
					ep("10.10.0.11", 5000, "cluster-1", "network-1"),
					ep("10.30.0.11", 5000, "cluster-3", "network-3"),
					ep("10.20.0.11", 5000, "cluster-2", "network-2"),
				},
				Gateways: map[string][]GatewayAddr{"network-2": {gw("172.18.0.20", "cluster-2")}}},
			want: []Endpoint{
				{Address: "10.10.0.11", Port: 5000, Weight: 1, SourceCluster: "cluster-1"},
				{Address: "172.18.0.20", Port: 15443, Weight: 1, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "gateways of the endpoint's own cluster are preferred over the network's others",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{
					ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.30.0.11", 5000, "cluster-3", "network-2"),
				},
				Gateways: map[string][]GatewayAddr{"network-2": {gw("172.18.0.20", "cluster-2"), {Address: "172.18.0.30", Port: 15444, Cluster: "cluster-3"}}}},
			// LCM(2 per network, 1 per cluster) = 2: each endpoint weighs 2, all on its own cluster's gateway.
			want: []Endpoint{
				{Address: "172.18.0.20", Port: 15443, Weight: 2, SourceCluster: "cluster-2"},
				{Address: "172.18.0.30", Port: 15444, Weight: 2, SourceCluster: "cluster-3"},
			},
		},
		{
			// ep_filters.go forceGateway: b.network == "" && epNetwork != "" && len(gateways) > 0.
			name: "sidecar without a network in a mesh with gateways: every networked endpoint through its gateway, its own cluster's too",
			in: ExpectedInput{Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{
					ep("10.10.0.11", 5000, "cluster-1", "network-1"), ep("10.10.0.12", 5000, "cluster-1", "network-1"),
					ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.40.0.11", 5000, "vm", ""),
				},
				Gateways: map[string][]GatewayAddr{
					"network-1": {gw("172.18.0.10", "cluster-1")},
					"network-2": {gw("172.18.0.20", "cluster-2")},
				}},
			want: []Endpoint{
				{Address: "10.40.0.11", Port: 5000, Weight: 1, SourceCluster: "vm"},
				{Address: "172.18.0.10", Port: 15443, Weight: 2, SourceCluster: "cluster-1"},
				{Address: "172.18.0.20", Port: 15443, Weight: 1, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "sidecar without a network, network without a gateway: pod IPs (no forceGateway)",
			in: ExpectedInput{Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{ep("10.10.0.11", 5000, "cluster-1", "network-1"), ep("10.20.0.11", 5000, "cluster-2", "network-2")},
				Gateways:  map[string][]GatewayAddr{"network-2": {gw("172.18.0.20", "cluster-2")}}},
			want: []Endpoint{
				{Address: "10.10.0.11", Port: 5000, Weight: 1, SourceCluster: "cluster-1"},
				{Address: "172.18.0.20", Port: 15443, Weight: 1, SourceCluster: "cluster-2"},
			},
		},
		{
			name: "dual-stack pod istiod merged: one endpoint with both addresses",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{{IP: "10.10.0.11", Port: 5000, Cluster: "cluster-1", Network: "network-1", Additional: []string{"fd00:10::11"}}}},
			want: []Endpoint{{Address: "10.10.0.11", Port: 5000, AdditionalAddresses: []string{"[fd00:10::11]:5000"}, Weight: 1, SourceCluster: "cluster-1"}},
		},
		{
			name: "endpoints without a network are reached directly by a multi-network sidecar",
			in: ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
				Endpoints: []RemoteEndpoint{ep("10.40.0.11", 5000, "vm", "")},
				Gateways:  map[string][]GatewayAddr{"network-2": {gw("172.18.0.20", "cluster-2")}}},
			want: []Endpoint{{Address: "10.40.0.11", Port: 5000, Weight: 1, SourceCluster: "vm"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Expected(tt.in)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Expected\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// twoNetworks is a mesh of network-1 (the sidecar's, cluster-1) and
// network-2 (cluster-2), with two helloworld pods in each.
func twoNetworks() ExpectedInput {
	return ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
		Endpoints: []RemoteEndpoint{
			ep("10.10.0.11", 5000, "cluster-1", "network-1"), ep("10.10.0.12", 5000, "cluster-1", "network-1"),
			ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.20.0.12", 5000, "cluster-2", "network-2"),
		},
		Gateways: map[string][]GatewayAddr{
			"network-1": {gw("172.18.0.10", "cluster-1")},
			"network-2": {gw("172.18.0.20", "cluster-2")},
		}}
}

func local(ip, health string) Endpoint {
	return Endpoint{Address: ip, Port: 5000, Weight: 1, Health: health, Workload: "helloworld-v1", SourceCluster: "cluster-1"}
}

func remoteGw(addr string, weight uint32) Endpoint {
	return Endpoint{Address: addr, Port: 15443, Weight: weight, SourceCluster: "cluster-2"}
}

func renderDeltas(ds []Delta) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s %s", d.Kind, d.Endpoint.HostPort())
		if d.Want != nil {
			fmt.Fprintf(&b, " want=%s/%d", d.Want.HostPort(), d.Want.Weight)
		}
		fmt.Fprintf(&b, ": %s\n", d.Detail)
	}
	return b.String()
}

func TestDiff(t *testing.T) {
	healthy := []Endpoint{local("10.10.0.11", "HEALTHY"), local("10.10.0.12", "HEALTHY"), remoteGw("172.18.0.20", 2)}
	tests := []struct {
		name  string
		in    ExpectedInput
		got   []Endpoint
		kinds []DeltaKind
		hosts []string
	}{
		{name: "all good: no deltas", in: twoNetworks(), got: healthy},
		{
			name: "gateway listed once per locality group: weights summed, no deltas",
			in:   twoNetworks(),
			got: []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""),
				{Address: "172.18.0.20", Port: 15443, Weight: 1, Locality: "r/a", SourceCluster: "cluster-2"},
				{Address: "172.18.0.20", Port: 15443, Weight: 1, Locality: "r/b", SourceCluster: "cluster-2"}},
		},
		{
			name:  "missing remote gateway",
			in:    twoNetworks(),
			got:   healthy[:2],
			kinds: []DeltaKind{DeltaMissing}, hosts: []string{"172.18.0.20:15443"},
		},
		{
			name: "remote pod IP leaked (istiod knows no gateway for network-2)",
			in: func() ExpectedInput {
				in := twoNetworks()
				delete(in.Gateways, "network-2")
				return in
			}(),
			got: []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""),
				{Address: "10.20.0.11", Port: 5000, Weight: 1, Workload: "helloworld-v1", SourceCluster: "cluster-2"},
				{Address: "10.20.0.12", Port: 5000, Weight: 1, Workload: "helloworld-v2", SourceCluster: "cluster-2"}},
			kinds: []DeltaKind{DeltaUnreachableNetwork, DeltaRemotePodIP, DeltaRemotePodIP},
			hosts: []string{"", "10.20.0.11:5000", "10.20.0.12:5000"},
		},
		{
			name:  "stale gateway IP (the gateway's old load balancer address)",
			in:    twoNetworks(),
			got:   []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""), remoteGw("172.18.0.99", 2)},
			kinds: []DeltaKind{DeltaMissing, DeltaStaleGateway},
			hosts: []string{"172.18.0.20:15443", "172.18.0.99:15443"},
		},
		{
			name:  "unhealthy local endpoint",
			in:    twoNetworks(),
			got:   []Endpoint{local("10.10.0.11", "HEALTHY"), local("10.10.0.12", HealthOutlierEjected), remoteGw("172.18.0.20", 2)},
			kinds: []DeltaKind{DeltaUnhealthy}, hosts: []string{"10.10.0.12:5000"},
		},
		{
			name:  "gateway weight does not count the remote endpoints",
			in:    twoNetworks(),
			got:   []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""), remoteGw("172.18.0.20", 1)},
			kinds: []DeltaKind{DeltaWeight}, hosts: []string{"172.18.0.20:15443"},
		},
		{
			name: "dual-stack pod: the same addresses in the other order match",
			in: func() ExpectedInput {
				in := twoNetworks()
				in.Endpoints[0].Additional = []string{"fd00:10::11"}
				return in
			}(),
			got: []Endpoint{{Address: "fd00:10::11", Port: 5000, AdditionalAddresses: []string{"10.10.0.11:5000"}, Weight: 1, SourceCluster: "cluster-1"},
				local("10.10.0.12", ""), remoteGw("172.18.0.20", 2)},
		},
		{
			name: "dual-stack pod istiod sent without its IPv6 address: missing the merged endpoint, the IPv4 one unexpected",
			in: func() ExpectedInput {
				in := twoNetworks()
				in.Endpoints[0].Additional = []string{"fd00:10::11"}
				return in
			}(),
			got:   healthy,
			kinds: []DeltaKind{DeltaMissing, DeltaUnexpected},
			hosts: []string{"10.10.0.11:5000", "10.10.0.11:5000"},
		},
		{
			name: "HBONE endpoint matched by its original_dst target",
			in:   twoNetworks(),
			got: []Endpoint{{Address: "10.10.0.11", Port: 5000, Tunnel: TunnelConnectOriginate, Internal: "envoy://connect_originate/10.10.0.11:5000", Weight: 1, SourceCluster: "cluster-1"},
				local("10.10.0.12", ""), remoteGw("172.18.0.20", 2)},
		},
		{
			name: "double-HBONE gateway entry (inner_connect_originate to 15008) matches the gateway",
			in:   twoNetworks(),
			got: []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""),
				{Address: "172.18.0.20", Port: 15008, Tunnel: TunnelInnerConnectOriginate, Weight: 2, SourceCluster: "cluster-2"}},
		},
		{
			name: "priority groups do not change the diff",
			in:   twoNetworks(),
			got: []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""),
				{Address: "172.18.0.20", Port: 15443, Weight: 2, Priority: 1, SourceCluster: "cluster-2"}},
		},
		{
			name: "unresolved hostname gateway: the cluster's EDS gateway entry is accepted and said so",
			in: func() ExpectedInput {
				in := twoNetworks()
				in.Gateways["network-2"] = []GatewayAddr{{Address: "gw.elb.example", Port: 15443, Cluster: "cluster-2", Unresolved: true}}
				return in
			}(),
			got:   []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""), remoteGw("172.18.0.77", 2)},
			kinds: []DeltaKind{DeltaUnresolvedGateway}, hosts: []string{"172.18.0.77:15443"},
		},
		{
			name: "unresolved hostname gateway with one EDS entry: its weight is still compared",
			in: func() ExpectedInput {
				in := twoNetworks()
				in.Gateways["network-2"] = []GatewayAddr{{Address: "gw.elb.example", Port: 15443, Cluster: "cluster-2", Unresolved: true}}
				return in
			}(),
			got:   []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""), remoteGw("172.18.0.77", 5)},
			kinds: []DeltaKind{DeltaWeight, DeltaUnresolvedGateway}, hosts: []string{"172.18.0.77:15443", "172.18.0.77:15443"},
		},
		{
			// Two resolved addresses: istiod's LCM scale factor becomes 2, so
			// every weight doubles; the diff cannot predict that and says so.
			name: "unresolved hostname gateway istiod resolved to two IPs: both accepted, weights not compared",
			in: func() ExpectedInput {
				in := twoNetworks()
				in.Gateways["network-2"] = []GatewayAddr{{Address: "gw.elb.example", Port: 15443, Cluster: "cluster-2", Unresolved: true}}
				return in
			}(),
			got: []Endpoint{{Address: "10.10.0.11", Port: 5000, Weight: 2, SourceCluster: "cluster-1"}, {Address: "10.10.0.12", Port: 5000, Weight: 2, SourceCluster: "cluster-1"},
				remoteGw("172.18.0.77", 2), remoteGw("172.18.0.78", 2)},
			kinds: []DeltaKind{DeltaUnresolvedGateway}, hosts: []string{"172.18.0.77:15443"},
		},
		{
			name: "unresolved hostname gateway with no entry of its cluster: missing",
			in: func() ExpectedInput {
				in := twoNetworks()
				in.Gateways["network-2"] = []GatewayAddr{{Address: "gw.elb.example", Port: 15443, Cluster: "cluster-2", Unresolved: true}}
				return in
			}(),
			got: []Endpoint{local("10.10.0.11", ""), local("10.10.0.12", ""),
				{Address: "172.18.0.77", Port: 15443, Weight: 2, SourceCluster: "cluster-3"}},
			kinds: []DeltaKind{DeltaMissing, DeltaStaleGateway}, hosts: []string{"gw.elb.example:15443", "172.18.0.77:15443"},
		},
		{
			name:  "missing local endpoint and an unknown extra one",
			in:    twoNetworks(),
			got:   []Endpoint{local("10.10.0.11", ""), local("10.10.0.99", ""), remoteGw("172.18.0.20", 2)},
			kinds: []DeltaKind{DeltaMissing, DeltaUnexpected},
			hosts: []string{"10.10.0.12:5000", "10.10.0.99:5000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deltas := Diff(Expected(tt.in), tt.got, tt.in)
			var kinds []DeltaKind
			var hosts []string
			for _, d := range deltas {
				kinds = append(kinds, d.Kind)
				hosts = append(hosts, d.Endpoint.HostPort())
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tt.kinds) || fmt.Sprint(hosts) != fmt.Sprint(tt.hosts) {
				t.Errorf("Diff:\n%s\nwant kinds %v at %q", renderDeltas(deltas), tt.kinds, tt.hosts)
			}
			// Deterministic: the same input in another order gives the same output.
			reversed := append([]Endpoint(nil), tt.got...)
			for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
				reversed[i], reversed[j] = reversed[j], reversed[i]
			}
			if again := renderDeltas(Diff(Expected(tt.in), reversed, tt.in)); again != renderDeltas(deltas) {
				t.Errorf("Diff depends on input order:\n%s\nvs\n%s", again, renderDeltas(deltas))
			}
		})
	}
}

// TestDiffFixture runs the whole path on the committed sidecar dump: the only
// finding is the helloworld-v2 pod that outlier detection ejected.
func TestDiffFixture(t *testing.T) {
	table := fixtureTable(t)
	in := ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
		Endpoints: []RemoteEndpoint{
			ep("10.10.0.11", 5000, "cluster-1", "network-1"), ep("10.10.0.12", 5000, "cluster-1", "network-1"),
			ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.20.0.12", 5000, "cluster-2", "network-2"),
		},
		Gateways: map[string][]GatewayAddr{"network-1": {gw("172.18.0.10", "cluster-1")}, "network-2": {gw("172.18.0.20", "cluster-2")}},
	}
	got := table[in.ClusterName()]
	if len(got) == 0 {
		t.Fatalf("no endpoints for %s", in.ClusterName())
	}
	checkGolden(t, "diff.golden", renderDeltas(Diff(Expected(in), got, in)))
}

// TestDiffAmbientFixture: the dual-stack pod (one LbEndpoint, two
// families), the HBONE pod and the double-HBONE gateway in its failover
// group all match what the mesh says; the only finding is the HBONE pod
// that outlier detection ejected.
func TestDiffAmbientFixture(t *testing.T) {
	table, err := ParseConfigDump(bytes.NewReader(readFixture(t, "ambient-config_dump.json")))
	if err != nil {
		t.Fatal(err)
	}
	health, err := ParseClusters(bytes.NewReader(readFixture(t, "ambient-clusters.json")))
	if err != nil {
		t.Fatal(err)
	}
	table.MergeHealth(health)
	in := ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000,
		Endpoints: []RemoteEndpoint{
			{IP: "fd00:10::11", Port: 5000, Cluster: "cluster-1", Network: "network-1", Additional: []string{"10.10.0.11"}},
			ep("10.10.0.13", 5000, "cluster-1", "network-1"),
			ep("10.20.0.11", 5000, "cluster-2", "network-2"), ep("10.20.0.12", 5000, "cluster-2", "network-2"),
		},
		Gateways: map[string][]GatewayAddr{"network-1": {gw("172.18.0.10", "cluster-1")}, "network-2": {gw("172.18.0.20", "cluster-2")}},
	}
	got := renderDeltas(Diff(Expected(in), table[in.ClusterName()], in))
	want := "unhealthy 10.10.0.13:5000 want=10.10.0.13:5000/1: health FAILED_OUTLIER_CHECK\n"
	if got != want {
		t.Errorf("Diff of the ambient fixture:\n%swant\n%s", got, want)
	}
}
