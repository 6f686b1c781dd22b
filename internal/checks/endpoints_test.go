package checks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// lbEndpoint is one LbEndpoint of a sidecar's helloworld cluster, built the
// way the pinned istiod builds it (pilot/pkg/xds/endpoints endpoint_builder.go
// buildEnvoyLbEndpoint, ep_filters.go for gateways).
type lbEndpoint struct {
	ip         string
	port       int
	additional []string // dual-stack: other IPs, same port
	tunnel     string   // internal listener: the address becomes envoy://tunnel/ip:port
	weight     uint32
	workload   string
	priority   uint32
}

func sockAddr(ip string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}}
}

// configDump renders a sidecar's /config_dump?include_eds holding one
// ClusterLoadAssignment for helloworld.sample:5000.
func configDump(t *testing.T, eps []lbEndpoint) []byte {
	t.Helper()
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: envoyadmin.ClusterName("helloworld.sample.svc.cluster.local", 5000, "")}
	groups := map[uint32]*endpointv3.LocalityLbEndpoints{}
	for _, e := range eps {
		g := groups[e.priority]
		if g == nil {
			g = &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Region: "r1"}, Priority: e.priority}
			groups[e.priority] = g
			cla.Endpoints = append(cla.Endpoints, g)
		}
		md, err := structpb.NewStruct(map[string]any{"workload": e.workload})
		if err != nil {
			t.Fatal(err)
		}
		lb := &endpointv3.LbEndpoint{LoadBalancingWeight: wrapperspb.UInt32(e.weight),
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": md}}}
		target := fmt.Sprintf("%s:%d", e.ip, e.port)
		if strings.Contains(e.ip, ":") {
			target = fmt.Sprintf("[%s]:%d", e.ip, e.port)
		}
		ep := &endpointv3.Endpoint{Address: sockAddr(e.ip, e.port)}
		if e.tunnel != "" {
			// util.BuildInternalAddressWithIdentifier and BuildTunnelMetadataStruct.
			ep.Address = &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
				AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: e.tunnel}, EndpointId: target}}}
			od, err := structpb.NewStruct(map[string]any{"local": target})
			if err != nil {
				t.Fatal(err)
			}
			tls, err := structpb.NewStruct(map[string]any{"tunnel": "http"})
			if err != nil {
				t.Fatal(err)
			}
			lb.Metadata.FilterMetadata["envoy.filters.listener.original_dst"] = od
			lb.Metadata.FilterMetadata["envoy.transport_socket_match"] = tls
		}
		for _, a := range e.additional {
			ep.AdditionalAddresses = append(ep.AdditionalAddresses, &endpointv3.Endpoint_AdditionalAddress{Address: sockAddr(a, e.port)})
		}
		lb.HostIdentifier = &endpointv3.LbEndpoint_Endpoint{Endpoint: ep}
		g.LbEndpoints = append(g.LbEndpoints, lb)
	}
	claAny, err := anypb.New(cla)
	if err != nil {
		t.Fatal(err)
	}
	eds, err := anypb.New(&adminv3.EndpointsConfigDump{DynamicEndpointConfigs: []*adminv3.EndpointsConfigDump_DynamicEndpointConfig{{EndpointConfig: claAny}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(&adminv3.ConfigDump{Configs: []*anypb.Any{eds}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// admin serves recorded admin answers by context, pod and path; anything
// else is not recorded.
type admin map[string][]byte

func (a admin) Get(_ context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	if path == envoyadmin.PathClustersJSON {
		return []byte(`{"cluster_statuses":[]}`), nil
	}
	if b, ok := a[pod.Context+" "+pod.Name+" "+path]; ok {
		return b, nil
	}
	return nil, checks.ErrNotRecorded
}

const (
	sleep1   = "sleep-5d8b6c4b8-cluster-1"
	istiod1  = "istiod-6b7c8d9f5-cluster-1"
	pod1     = "10.214.101.5"
	gateway1 = "10.214.1.10"
	gateway2 = "10.214.2.10"
	elb2     = "a1b2c3-eastwest.elb.us-east-1.amazonaws.com"
)

var (
	local1 = lbEndpoint{ip: pod1, port: 5000, weight: 1, workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}
	remote = lbEndpoint{ip: gateway2, port: 15443, weight: 1, workload: ";;;;cluster-2"}
)

const networkzBoth = `[{"Network":"network1","Cluster":"cluster-1","Addr":"10.214.1.10","Port":15443},{"Network":"network2","Cluster":"cluster-2","Addr":"10.214.2.10","Port":15443}]`

// endpointsCase is healthy-multi-primary with cluster-1's inventory edited
// the way a real install differs, and what cluster-1's sidecar and istiod
// really hold.
type endpointsCase struct {
	name     string
	edit     func(t *testing.T, invs map[string]*cluster.Inventory)
	eds      []lbEndpoint
	networkz string // cluster-1 istiod's /debug/networkz ("" = not recorded)
	env      func(*checks.Env)
	status   map[string]checks.Status // result key -> status
	contains map[string]string        // result key -> text in the message or evidence
}

func runEndpoints(t *testing.T, tc endpointsCase) {
	t.Helper()
	now := time.Now()
	_, list, _, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", now)
	if err != nil {
		t.Fatal(err)
	}
	invs := map[string]*cluster.Inventory{}
	for _, inv := range list {
		invs[inv.Context] = inv
	}
	if tc.edit != nil {
		tc.edit(t, invs)
	}
	a := admin{"cluster-1 " + sleep1 + " " + envoyadmin.PathConfigDumpWithEDS: configDump(t, tc.eds)}
	if tc.networkz != "" {
		a["cluster-1 "+istiod1+" "+envoyadmin.PathNetworkz] = []byte(tc.networkz)
	}
	cs, err := checks.Select(checks.Catalogue(), []string{"endpoints.proxy-table", "endpoints.istiod-networks"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &checks.Env{Mesh: mesh.Build(list), Now: now, Admin: a}
	if tc.env != nil {
		tc.env(env)
	}
	res := (&checks.Runner{Checks: cs}).Run(context.Background(), env, nil)
	got := map[string]checks.Result{}
	for _, r := range res {
		k := scenario.Key(r)
		if r.Target != "" {
			k += "/" + r.Target
		}
		got[k] = r
	}
	for key, want := range tc.status {
		r, ok := got[key]
		if !ok {
			t.Errorf("no %s result in %v", key, res)
			continue
		}
		if r.Status != want {
			t.Errorf("%s = %s %q, want %s (evidence %v)", key, r.Status, r.Message, want, r.Evidence)
		}
	}
	for key, text := range tc.contains {
		r := got[key]
		if !strings.Contains(fmt.Sprint(r.Message, r.Evidence), text) {
			t.Errorf("%s: %q %v does not say %q", key, r.Message, r.Evidence, text)
		}
	}
}

const (
	table1    = "endpoints.proxy-table@cluster-1/outbound|5000||helloworld.sample.svc.cluster.local"
	networks1 = "endpoints.istiod-networks@cluster-1"
)

func service(inv *cluster.Inventory, ns, name string) *cluster.Service {
	for i := range inv.Services {
		if inv.Services[i].Namespace == ns && inv.Services[i].Name == name {
			return &inv.Services[i]
		}
	}
	return nil
}

func pod(inv *cluster.Inventory, name string) *corev1.Pod {
	for i := range inv.Pods {
		if inv.Pods[i].Name == name {
			return &inv.Pods[i]
		}
	}
	return nil
}

func setIstiodEnv(t *testing.T, inv *cluster.Inventory, name, value string) {
	t.Helper()
	for i := range inv.Deployments {
		if d := &inv.Deployments[i]; d.Name == "istiod" {
			d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: name, Value: value})
			return
		}
	}
	t.Fatal("no istiod Deployment in the inventory")
}

// dualStack makes cluster-1's helloworld a dual-stack Service whose pod has
// an IPv6 address too, in an IPv6 EndpointSlice next to the IPv4 one, as the
// EndpointSlice controller writes them.
func dualStack(istioDualStack bool) func(*testing.T, map[string]*cluster.Inventory) {
	return func(t *testing.T, invs map[string]*cluster.Inventory) {
		inv := invs["cluster-1"]
		svc := service(inv, "sample", "helloworld")
		svc.Spec.ClusterIPs = []string{"10.96.0.50", "fd00:96::50"}
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		var v4 *cluster.EndpointSlice
		for i := range inv.EndpointSlices {
			if inv.EndpointSlices[i].ServiceName == "helloworld" {
				v4 = &inv.EndpointSlices[i]
			}
		}
		if v4 == nil {
			t.Fatal("no helloworld EndpointSlice")
		}
		v6 := v4.API()
		v6.ObjectMeta = metav1.ObjectMeta{Name: v4.Name + "-v6", Namespace: v4.Namespace, Labels: v6.Labels}
		v6.AddressType = discoveryv1.AddressTypeIPv6
		v6.Endpoints[0].Addresses = []string{"fd00:214:101::5"}
		inv.EndpointSlices = append(inv.EndpointSlices, cluster.CompactEndpointSlice(v6))
		if istioDualStack {
			setIstiodEnv(t, inv, "ISTIO_DUAL_STACK", "true")
		}
	}
}

// hostnameGateway gives cluster-2's east-west gateway an AWS-style
// LoadBalancer hostname instead of an IP.
func hostnameGateway(t *testing.T, invs map[string]*cluster.Inventory) {
	svc := service(invs["cluster-2"], cluster.IstioNamespace, "istio-eastwestgateway")
	if svc == nil {
		t.Fatal("no east-west gateway Service in cluster-2")
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: elb2}}
}

func TestEndpointTablesOfRealInstalls(t *testing.T) {
	pass := checks.Pass
	for _, tc := range []endpointsCase{
		{
			name:   "healthy two-network mesh",
			eds:    []lbEndpoint{local1, remote},
			status: map[string]checks.Status{table1: pass},
		},
		{
			// ISTIO_DUAL_STACK: endpointslice.go merges the pod's IPs into one
			// IstioEndpoint; buildEnvoyLbEndpoint puts the second in
			// additional_addresses.
			name: "dual-stack pod is one LbEndpoint with additional_addresses",
			edit: dualStack(true),
			eds: []lbEndpoint{{ip: pod1, port: 5000, additional: []string{"fd00:214:101::5"}, weight: 1,
				workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}, remote},
			status:   map[string]checks.Status{table1: pass},
			contains: map[string]string{table1: "10.214.101.5:5000+[fd00:214:101::5]:5000"},
		},
		{
			name: "dual-stack Service without ISTIO_DUAL_STACK: one LbEndpoint per family",
			edit: dualStack(false),
			eds: []lbEndpoint{local1, {ip: "fd00:214:101::5", port: 5000, weight: 1,
				workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}, remote},
			status: map[string]checks.Status{table1: pass},
		},
		{
			name:   "dual-stack pod that istiod did not merge is named, not passed",
			edit:   dualStack(true),
			eds:    []lbEndpoint{local1, remote},
			status: map[string]checks.Status{table1: checks.Fail},
		},
		{
			// An ambient (HBONE) pod seen from a sidecar: connect_originate with
			// the real target in the original_dst metadata.
			name:     "HBONE endpoint is matched by its original_dst target",
			eds:      []lbEndpoint{{ip: pod1, port: 5000, tunnel: "connect_originate", weight: 1, workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}, remote},
			status:   map[string]checks.Status{table1: pass},
			contains: map[string]string{table1: "10.214.101.5:5000 via connect_originate@cluster-1"},
		},
		{
			name:     "failover priority is kept in the table",
			eds:      []lbEndpoint{local1, {ip: gateway2, port: 15443, weight: 1, workload: ";;;;cluster-2", priority: 1}},
			status:   map[string]checks.Status{table1: pass},
			contains: map[string]string{table1: "10.214.2.10:15443@cluster-2 p1"},
		},
		{
			// ep_filters.go forceGateway: the sidecar was injected without a
			// network, so istiod routes even its own cluster's pods through
			// that cluster's gateway.
			name: "sidecar without a network is sent gateways",
			edit: func(t *testing.T, invs map[string]*cluster.Inventory) {
				p := pod(invs["cluster-1"], sleep1)
				for i := range p.Spec.Containers {
					if p.Spec.Containers[i].Name == "istio-proxy" {
						p.Spec.Containers[i].Env = []corev1.EnvVar{{Name: "ISTIO_META_CLUSTER_ID", Value: "cluster-1"}}
					}
				}
			},
			eds:      []lbEndpoint{{ip: gateway1, port: 15443, weight: 1, workload: ";;;;cluster-1"}, remote},
			status:   map[string]checks.Status{table1: pass},
			contains: map[string]string{table1: "forceGateway"},
		},
		{
			name:     "hostname gateway resolved by istiod (/debug/networkz)",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1, remote},
			networkz: networkzBoth,
			status:   map[string]checks.Status{table1: pass, networks1: pass},
			contains: map[string]string{networks1: "resolved by istiod"},
		},
		{
			name:     "hostname gateway istiod lists under another IP than EDS has",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1, {ip: "10.214.2.99", port: 15443, weight: 1, workload: ";;;;cluster-2"}},
			networkz: networkzBoth,
			status:   map[string]checks.Status{table1: checks.Fail},
			contains: map[string]string{table1: "stale-gateway 10.214.2.99:15443"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { runEndpoints(t, tc) })
	}
}
