package mesh

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"istio.io/api/annotation"
	"istio.io/api/label"
	corev1 "k8s.io/api/core/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// Istio's defaults for network gateways
// (pilot/pkg/serviceregistry/kube/controller: DefaultNetworkGatewayPort,
// DefaultNetworkGatewayHBONEPort).
const (
	DefaultGatewayPort = 15443
	HBONEPort          = 15008
)

// SampleGatewayName is the Service name of gen-eastwest-gateway.sh. It is no
// rule of istiod: it only lets meshdoctor report such a Service that lost its
// topology.istio.io/network label (a GatewayCandidate).
const SampleGatewayName = "istio-eastwestgateway"

// Address sources of a gateway, as istiod's conversion.go fills
// ClusterExternalAddresses.
const (
	FromLoadBalancer = "LoadBalancer ingress"
	FromExternalIPs  = "spec.externalIPs"
	FromNodes        = "ExternalIPs of the nodes matching " + "traffic.istio.io/nodeSelector"
)

// Gateway is a network gateway: a Service labelled topology.istio.io/network,
// in any namespace, found as istiod finds it
// (pilot/pkg/serviceregistry/kube/controller/network.go).
type Gateway struct {
	Service *cluster.Service
	Network string
	// Port is the port a client dials: the networking.istio.io/gatewayPort
	// label (default 15443), mapped to its nodePort when the Service is a
	// NodePort annotated traffic.istio.io/nodeSelector
	// (extractGatewaysInner's nodePortMap).
	Port int
	// ServicePort is the gatewayPort itself, a port of the Service.
	ServicePort int
	// Addresses are, as conversion.go ConvertService and
	// updateServiceNodePortAddresses collect them: LoadBalancer ingress IPs
	// or hostnames (hostnames unresolved: istiod resolves them, see
	// Hostnames), spec.externalIPs, or for a NodePort gateway without
	// either, the ExternalIP of each node its node selector matches.
	Addresses []string
	// Sources say where the addresses came from (From* constants).
	Sources []string
	// NodeSelector is the parsed traffic.istio.io/nodeSelector of a NodePort
	// gateway (nil: every node, as istiod takes an empty or unparsable one).
	NodeSelector map[string]string
	NodePort     bool
	// NodesUnread says why a NodePort gateway's nodes could not be read;
	// its Addresses are then unknown, not empty.
	NodesUnread string
	// Ignored says why istiod does not use this Service as a network
	// gateway (GatewayCandidates only).
	Ignored string
	// Pods are the gateway's pods (its Service's selector, its namespace);
	// PodsUnread says why they were not read.
	Pods       []cluster.GatewayPod
	PodsUnread string
}

// Name is namespace/name of the gateway Service.
func (g *Gateway) Name() string { return g.Service.Namespace + "/" + g.Service.Name }

// Hostnames are the Addresses that are DNS names (LoadBalancer hostnames
// such as AWS ELBs): istiod resolves them (RESOLVE_HOSTNAME_GATEWAYS,
// pilot/pkg/model/network.go resolveHostnameGateways) and uses the IPs.
func (g *Gateway) Hostnames() []string {
	var out []string
	for _, a := range g.Addresses {
		if _, err := netip.ParseAddr(a); err != nil {
			out = append(out, a)
		}
	}
	return out
}

// EastWestGateways are the cluster's network gateways and the candidates
// istiod ignores, in namespace/name order: what the gateway checks look at.
func (c *Cluster) EastWestGateways() []*Gateway {
	var out []*Gateway
	for i := range c.Gateways {
		out = append(out, &c.Gateways[i])
	}
	for i := range c.GatewayCandidates {
		out = append(out, &c.GatewayCandidates[i])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// GatewayWithAddress returns the cluster's network gateway that has addr.
func (c *Cluster) GatewayWithAddress(addr string) *Gateway {
	for i := range c.Gateways {
		for _, a := range c.Gateways[i].Addresses {
			if a == addr {
				return &c.Gateways[i]
			}
		}
	}
	return nil
}

// discoverGateways applies istiod's rules to every Service of the cluster:
// used are the network gateways istiod uses, candidates the Services that
// look meant to be one but that istiod ignores, with the reason.
func discoverGateways(inv *cluster.Inventory) (used, candidates []Gateway) {
	for i := range inv.Services {
		s := &inv.Services[i]
		nw, labelled := s.Labels.Lookup(label.TopologyNetwork.Name)
		if !labelled {
			if s.Name == SampleGatewayName || s.Labels.Get("istio") == "eastwestgateway" || s.Spec.Selector.Get("istio") == "eastwestgateway" {
				g := gatewayOf(inv, s)
				g.Ignored = "no " + label.TopologyNetwork.Name + " label: istiod does not use it as a network gateway"
				candidates = append(candidates, g)
			}
			continue
		}
		g := gatewayOf(inv, s)
		switch {
		case nw == "":
			// getGatewayDetails: `if nw := ...; nw != ""`.
			g.Ignored = "empty " + label.TopologyNetwork.Name + " label: istiod does not use it as a network gateway"
			candidates = append(candidates, g)
		case !exposes(s, g.ServicePort) && exposes(s, HBONEPort):
			// getGatewayDetails keeps it with Port 0; ep_filters.go
			// selectNetworkGateways gives sidecars no gateway without an mTLS port.
			g.Ignored = fmt.Sprintf("exposes HBONE %d but not the gatewayPort %d: sidecars get no gateway from it", HBONEPort, g.ServicePort)
			candidates = append(candidates, g)
		case !exposes(s, g.ServicePort):
			// getGatewayDetails: "is labeled as gateway, but does not listen
			// neither on port %d nor on port %d".
			g.Ignored = fmt.Sprintf("exposes neither the gatewayPort %d nor %d: istiod does not use it as a network gateway", g.ServicePort, HBONEPort)
			candidates = append(candidates, g)
		default:
			used = append(used, g)
		}
	}
	return used, candidates
}

func exposes(s *cluster.Service, port int) bool {
	for _, p := range s.Spec.Ports {
		if int(p.Port) == port {
			return true
		}
	}
	return false
}

func gatewayOf(inv *cluster.Inventory, s *cluster.Service) Gateway {
	g := Gateway{Service: s, Network: s.Labels.Get(label.TopologyNetwork.Name), Port: DefaultGatewayPort, ServicePort: DefaultGatewayPort}
	// getGatewayDetails: an unparsable label is warned about and defaults.
	if v := s.Labels.Get(label.NetworkingGatewayPort.Name); v != "" {
		if p, err := strconv.Atoi(v); err == nil {
			g.ServicePort, g.Port = p, p
		}
	}
	// conversion.go ConvertService: a NodePort Service with the
	// traffic.istio.io/nodeSelector annotation maps its ports to nodePorts
	// (ClusterExternalPorts); addresses come from LoadBalancer ingress
	// (IP, else hostname, not resolved there) and spec.externalIPs.
	_, annotated := s.Annotations[annotation.TrafficNodeSelector.Name]
	if s.Spec.Type == corev1.ServiceTypeNodePort && annotated {
		g.NodePort = true
		for _, p := range s.Spec.Ports {
			if int(p.Port) == g.ServicePort {
				g.Port = int(p.NodePort)
			}
		}
	}
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range s.Status.LoadBalancer.Ingress {
			if ing.IP != "" {
				g.Addresses = append(g.Addresses, ing.IP)
			} else if ing.Hostname != "" {
				g.Addresses = append(g.Addresses, ing.Hostname)
			}
		}
		if len(g.Addresses) > 0 {
			g.Sources = append(g.Sources, FromLoadBalancer)
		}
	}
	if len(s.Spec.ExternalIPs) > 0 {
		g.Addresses = append(g.Addresses, s.Spec.ExternalIPs...)
		g.Sources = append(g.Sources, FromExternalIPs)
	}
	// controller.go addOrUpdateService: only without external addresses is
	// a NodePort gateway given its nodes' addresses
	// (updateServiceNodePortAddresses).
	if len(g.Addresses) == 0 && g.NodePort {
		g.NodeSelector = nodeSelectorOf(s)
		g.Sources = append(g.Sources, FromNodes)
		if !inv.NodesListed {
			if fe := inv.Err(cluster.ResNodes); fe != nil {
				g.NodesUnread = "cannot read nodes: " + fe.Error()
			} else {
				g.NodesUnread = "nodes not in this inventory (a snapshot of an older meshdoctor)"
			}
		}
		for _, n := range inv.Nodes {
			// updateServiceNodePortAddresses: nodeSelector.SubsetOf(node
			// labels); an empty selector selects every node.
			if !subsetOf(g.NodeSelector, n.Labels) {
				continue
			}
			// onNodeEvent: the node's first ExternalIP; a node without one
			// is left out.
			for _, a := range n.Addresses {
				if a.Type == corev1.NodeExternalIP && a.Address != "" {
					g.Addresses = append(g.Addresses, a.Address)
					break
				}
			}
		}
		sort.Strings(g.Addresses) // istiod's node map has no order
	}
	g.Pods, g.PodsUnread = gatewayPods(inv, s)
	return g
}

// nodeSelectorOf mirrors getNodeSelectorsForService (controller/util.go):
// the annotation's JSON object; empty or unparsable gives nil, which
// selects every node.
func nodeSelectorOf(s *cluster.Service) map[string]string {
	v := s.Annotations[annotation.TrafficNodeSelector.Name]
	if v == "" {
		return nil
	}
	var sel map[string]string
	if err := json.Unmarshal([]byte(v), &sel); err != nil {
		return nil
	}
	return sel
}

// subsetOf is labels.Instance.SubsetOf (pkg/config/labels).
func subsetOf(sel, labels map[string]string) bool {
	for k, v := range sel {
		if w, ok := labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// gatewayPods are the pods the gateway Service selects, from the gateway
// pod list (cluster.GatewayPodSelector), or why they were not read.
func gatewayPods(inv *cluster.Inventory, s *cluster.Service) ([]cluster.GatewayPod, string) {
	if len(s.Spec.Selector) == 0 {
		return nil, "the Service has no selector"
	}
	sel := k8slabels.SelectorFromSet(s.Spec.Selector.Map())
	var out []cluster.GatewayPod
	switch {
	case inv.GatewayPodsSelector != "":
		if _, ok := s.Spec.Selector.Lookup(inv.GatewayPodsSelector); !ok {
			return nil, fmt.Sprintf("its selector %s has no %q label, by which meshdoctor lists gateway pods", sel, inv.GatewayPodsSelector)
		}
		for _, p := range inv.GatewayPods {
			if p.Namespace == s.Namespace && sel.Matches(k8slabels.Set(p.Labels)) {
				out = append(out, p)
			}
		}
	case inv.Err(cluster.ResGatewayPods) != nil:
		return nil, "cannot read gateway pods: " + inv.Err(cluster.ResGatewayPods).Error()
	case s.Namespace == cluster.IstioNamespace && inv.Err(cluster.ResPods) == nil:
		// A snapshot of an older meshdoctor: istio-system's pods were read.
		for i := range inv.Pods {
			p := &inv.Pods[i]
			if p.Namespace == s.Namespace && sel.Matches(k8slabels.Set(p.Labels)) {
				out = append(out, cluster.GatewayPodOf(p))
			}
		}
	default:
		return nil, fmt.Sprintf("pods in %s not read (a snapshot of an older meshdoctor lists istio-system's only)", s.Namespace)
	}
	return out, ""
}

// SourceText says where a gateway's addresses come from, for messages.
func (g *Gateway) SourceText() string {
	if len(g.Sources) == 0 {
		return "none"
	}
	s := strings.Join(g.Sources, " + ")
	if g.NodePort && len(g.NodeSelector) > 0 {
		s += " " + k8slabels.SelectorFromSet(g.NodeSelector).String()
	}
	return s
}
