package mesh_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// svc is a gateway Service: name in namespace, labels, type and ports
// (port → nodePort).
func svc(ns, name string, labels map[string]string, typ corev1.ServiceType, ports map[int32]int32) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: corev1.ServiceSpec{Type: typ}}
	for _, p := range slices.Sorted(func(yield func(int32) bool) {
		for p := range ports {
			if !yield(p) {
				return
			}
		}
	}) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p, NodePort: ports[p]})
	}
	return s
}

func node(name, externalIP string, labels map[string]string) cluster.Node {
	n := cluster.Node{Name: name, Labels: labels, Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.1"}}}
	if externalIP != "" {
		n.Addresses = append(n.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: externalIP})
	}
	return n
}

// TestGatewayDiscovery follows istiod's rules
// (pilot/pkg/serviceregistry/kube/controller/network.go and
// pilot/pkg/serviceregistry/kube/conversion.go), one case per rule.
func TestGatewayDiscovery(t *testing.T) {
	net2 := map[string]string{"topology.istio.io/network": "network2"}
	withLabel := func(k, v string) map[string]string {
		m := map[string]string{"topology.istio.io/network": "network2"}
		m[k] = v
		return m
	}
	std := map[int32]int32{15021: 31021, 15443: 31443, 15012: 31012, 15017: 31017}
	lb := func(s corev1.Service, ips ...corev1.LoadBalancerIngress) corev1.Service {
		s.Status.LoadBalancer.Ingress = ips
		return s
	}
	annotate := func(s corev1.Service, sel string) corev1.Service {
		s.Annotations = map[string]string{"traffic.istio.io/nodeSelector": sel}
		return s
	}
	external := func(s corev1.Service, ips ...string) corev1.Service {
		s.Spec.ExternalIPs = ips
		return s
	}
	nodes := []cluster.Node{
		node("a", "203.0.113.7", map[string]string{"pool": "eastwest"}),
		node("b", "203.0.113.8", map[string]string{"pool": "default"}),
		node("c", "", map[string]string{"pool": "eastwest"}), // no ExternalIP: istiod skips it
	}
	type want struct {
		name  string
		port  int
		addrs []string
	}
	cases := []struct {
		name string
		svcs []corev1.Service
		want []want
	}{
		{"istio/gateway chart under its own name and namespace",
			[]corev1.Service{lb(svc("istio-gateways", "eastwest", net2, corev1.ServiceTypeLoadBalancer, std), corev1.LoadBalancerIngress{IP: "198.51.100.4"})},
			[]want{{"istio-gateways/eastwest", 15443, []string{"198.51.100.4"}}}},
		{"LoadBalancer hostname is kept for istiod to resolve",
			[]corev1.Service{lb(svc("istio-system", "istio-eastwestgateway", net2, corev1.ServiceTypeLoadBalancer, std), corev1.LoadBalancerIngress{Hostname: "a1.elb.amazonaws.com"})},
			[]want{{"istio-system/istio-eastwestgateway", 15443, []string{"a1.elb.amazonaws.com"}}}},
		{"externalIPs of a ClusterIP Service",
			[]corev1.Service{external(svc("istio-system", "gw", net2, corev1.ServiceTypeClusterIP, std), "198.51.100.9")},
			[]want{{"istio-system/gw", 15443, []string{"198.51.100.9"}}}},
		{"NodePort with a node selector: ExternalIPs of the matching nodes, on the nodePort",
			[]corev1.Service{annotate(svc("istio-system", "gw", net2, corev1.ServiceTypeNodePort, std), `{"pool":"eastwest"}`)},
			[]want{{"istio-system/gw", 31443, []string{"203.0.113.7"}}}},
		{"NodePort whose selector matches no node with an ExternalIP has no address",
			[]corev1.Service{annotate(svc("istio-system", "gw", net2, corev1.ServiceTypeNodePort, std), `{"pool":"none"}`)},
			[]want{{"istio-system/gw", 31443, nil}}},
		{"an unparsable node selector selects every node (getNodeSelectorsForService)",
			[]corev1.Service{annotate(svc("istio-system", "gw", net2, corev1.ServiceTypeNodePort, std), `pool=eastwest`)},
			[]want{{"istio-system/gw", 31443, []string{"203.0.113.7", "203.0.113.8"}}}},
		{"NodePort without the annotation: no address, port not mapped",
			[]corev1.Service{svc("istio-system", "gw", net2, corev1.ServiceTypeNodePort, std)},
			[]want{{"istio-system/gw", 15443, nil}}},
		{"annotated NodePort with externalIPs: those addresses, still the nodePort",
			[]corev1.Service{external(annotate(svc("istio-system", "gw", net2, corev1.ServiceTypeNodePort, std), `{"pool":"eastwest"}`), "198.51.100.9")},
			[]want{{"istio-system/gw", 31443, []string{"198.51.100.9"}}}},
		{"non-default gatewayPort",
			[]corev1.Service{lb(svc("istio-system", "gw", withLabel("networking.istio.io/gatewayPort", "15444"), corev1.ServiceTypeLoadBalancer, map[int32]int32{15444: 0}), corev1.LoadBalancerIngress{IP: "198.51.100.4"})},
			[]want{{"istio-system/gw", 15444, []string{"198.51.100.4"}}}},
		{"unparsable gatewayPort defaults to 15443",
			[]corev1.Service{lb(svc("istio-system", "gw", withLabel("networking.istio.io/gatewayPort", "tls"), corev1.ServiceTypeLoadBalancer, std), corev1.LoadBalancerIngress{IP: "198.51.100.4"})},
			[]want{{"istio-system/gw", 15443, []string{"198.51.100.4"}}}},
		{"an empty network label is no gateway",
			[]corev1.Service{lb(svc("istio-system", "gw", map[string]string{"topology.istio.io/network": ""}, corev1.ServiceTypeLoadBalancer, std), corev1.LoadBalancerIngress{IP: "198.51.100.4"})},
			nil},
		{"a labelled Service that exposes neither the gatewayPort nor 15008 is no gateway",
			[]corev1.Service{lb(svc("istio-system", "gw", net2, corev1.ServiceTypeLoadBalancer, map[int32]int32{15021: 0}), corev1.LoadBalancerIngress{IP: "198.51.100.4"})},
			nil},
		{"several gateways for one network",
			[]corev1.Service{
				lb(svc("istio-system", "istio-eastwestgateway", net2, corev1.ServiceTypeLoadBalancer, std), corev1.LoadBalancerIngress{IP: "198.51.100.4"}),
				lb(svc("istio-gateways", "eastwest", net2, corev1.ServiceTypeLoadBalancer, std), corev1.LoadBalancerIngress{IP: "198.51.100.5"}),
			},
			[]want{{"istio-gateways/eastwest", 15443, []string{"198.51.100.5"}}, {"istio-system/istio-eastwestgateway", 15443, []string{"198.51.100.4"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var svcs []cluster.Service
			for _, s := range tc.svcs {
				svcs = append(svcs, cluster.CompactService(s))
			}
			m := mesh.Build([]*cluster.Inventory{{Context: "c", Services: svcs, Nodes: nodes, NodesListed: true}})
			var got []want
			for _, g := range m.Clusters[0].Gateways {
				got = append(got, want{g.Service.Namespace + "/" + g.Service.Name, g.Port, g.Addresses})
			}
			slices.SortFunc(got, func(a, b want) int {
				if a.name < b.name {
					return -1
				}
				return 1
			})
			if len(got) != len(tc.want) {
				t.Fatalf("gateways %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].name != tc.want[i].name || got[i].port != tc.want[i].port || !slices.Equal(got[i].addrs, tc.want[i].addrs) {
					t.Errorf("gateway %+v, want %+v", got[i], tc.want[i])
				}
				if got[i].name != "" && m.Clusters[0].Gateways[i].Network != "network2" {
					t.Errorf("network %q", m.Clusters[0].Gateways[i].Network)
				}
			}
		})
	}
}
