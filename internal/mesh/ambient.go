package mesh

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"istio.io/api/label"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// Ambient's names in the pinned Istio (pkg/config/constants,
// istio.io/api label).
const (
	EastWestGatewayClass = "istio-east-west" // constants.EastWestGatewayClassName
	WaypointGatewayClass = "istio-waypoint"  // constants.WaypointGatewayClassName
	DataplaneAmbient     = "ambient"         // constants.DataplaneModeAmbient
	// GatewayClassLabel is what istiod's gateway deployment controller
	// puts on the Service it makes for a Gateway (waypoint.yaml template).
	GatewayClassLabel = "gateway.networking.k8s.io/gateway-class-name"
	GatewayNameLabel  = "gateway.networking.k8s.io/gateway-name"
	UseWaypointLabel  = "istio.io/use-waypoint"
	UseWaypointNSLbl  = "istio.io/use-waypoint-namespace"
)

// Mode is a cluster's data plane.
type Mode string

const (
	ModeSidecar Mode = "sidecar"
	ModeAmbient Mode = "ambient"
	// ModeMixed: ambient namespaces and sidecar-injected ones side by side.
	ModeMixed Mode = "sidecar+ambient"
)

// DataPlane is what a cluster runs, and the facts it was told from.
type DataPlane struct {
	Mode Mode
	// Ztunnel and CNI are the node agents found.
	Ztunnel, CNI []cluster.AgentDaemonSet
	// AmbientNamespaces are labelled istio.io/dataplane-mode=ambient;
	// SidecarNamespaces have injection on (istio-injection=enabled or
	// istio.io/rev) and are not ambient.
	AmbientNamespaces, SidecarNamespaces []string
	// AmbientPods are the pods labelled istio.io/dataplane-mode=ambient
	// outside ambient namespaces.
	AmbientPods []string
	// Unread says why the ambient inventory is missing (an older
	// snapshot): the cluster is then taken as a sidecar one.
	Unread string
}

// Ambient reports whether the cluster runs an ambient data plane (alone
// or beside sidecars).
func (d DataPlane) Ambient() bool { return d.Mode == ModeAmbient || d.Mode == ModeMixed }

// Sidecars reports whether the cluster runs sidecars (alone or beside
// ambient).
func (d DataPlane) Sidecars() bool { return d.Mode == ModeSidecar || d.Mode == ModeMixed }

// DataPlane tells the cluster's data plane: ambient when ztunnel runs or a
// namespace or pod is labelled istio.io/dataplane-mode=ambient (what
// istio-cni and ztunnel act on: cni/pkg/nodeagent, pkg/config/constants
// DataplaneModeAmbient); sidecar when injection is on in some namespace or
// nothing says ambient (meshdoctor's assumption before ambient); both when
// both hold.
func (c *Cluster) DataPlane() DataPlane {
	d := DataPlane{Mode: ModeSidecar}
	amb := c.Inv.Ambient
	if amb == nil {
		d.Unread = "no ambient inventory (a snapshot of an older meshdoctor)"
	} else {
		for _, a := range amb.DaemonSets {
			switch a.Agent {
			case cluster.AgentZtunnel:
				d.Ztunnel = append(d.Ztunnel, a)
			case cluster.AgentCNI:
				d.CNI = append(d.CNI, a)
			}
		}
	}
	ambientNS := map[string]bool{}
	for _, ns := range c.Inv.Namespaces {
		l := ns.Labels
		switch {
		case l[cluster.DataplaneModeLabel] == DataplaneAmbient:
			ambientNS[ns.Name] = true
			d.AmbientNamespaces = append(d.AmbientNamespaces, ns.Name)
		case l["istio-injection"] == "enabled", l["istio-injection"] != "disabled" && l[label.IoIstioRev.Name] != "":
			d.SidecarNamespaces = append(d.SidecarNamespaces, ns.Name)
		}
	}
	if amb != nil {
		for _, p := range amb.Pods {
			if p.Mode == DataplaneAmbient && !ambientNS[p.Namespace] {
				d.AmbientPods = append(d.AmbientPods, p.Namespace+"/"+p.Name)
			}
		}
	}
	ambient := len(d.Ztunnel) > 0 || len(d.AmbientNamespaces) > 0 || len(d.AmbientPods) > 0
	switch {
	case ambient && len(d.SidecarNamespaces) > 0:
		d.Mode = ModeMixed
	case ambient:
		d.Mode = ModeAmbient
	}
	return d
}

// AmbientGateway is a Gateway API Gateway of class istio-east-west seen as
// istiod in another cluster sees it (pilot/pkg/serviceregistry/ambient/
// networks.go remoteK8sGatewayToNetworkGateways): its network label, its
// addresses (status.addresses of type IPAddress or Hostname) and the first
// listener of protocol HBONE with TLS mode Terminate.
type AmbientGateway struct {
	Gateway *cluster.K8sGateway
	Network string
	// HBONE is that listener (nil: none).
	HBONE *cluster.K8sListener
	// Addresses are the status addresses istiod uses.
	Addresses []string
	// Ignored says why istiod does not use it as a network gateway ("":
	// it does).
	Ignored string
}

// Name is namespace/name of the Gateway.
func (g *AmbientGateway) Name() string { return g.Gateway.Namespace + "/" + g.Gateway.Name }

// Port is the port remote ztunnels reach it on (the HBONE listener's).
func (g *AmbientGateway) Port() int {
	if g.HBONE == nil {
		return HBONEPort
	}
	return int(g.HBONE.Port)
}

// AmbientEastWestGateways are the cluster's Gateways of class
// istio-east-west, each with the reason istiod would ignore it.
func (c *Cluster) AmbientEastWestGateways() []AmbientGateway {
	if c.Inv.Ambient == nil {
		return nil
	}
	var out []AmbientGateway
	for i := range c.Inv.Ambient.Gateways {
		gw := &c.Inv.Ambient.Gateways[i]
		if gw.Class != EastWestGatewayClass {
			continue
		}
		g := AmbientGateway{Gateway: gw, Network: gw.Labels[label.TopologyNetwork.Name]}
		for j := range gw.Listeners {
			l := &gw.Listeners[j]
			if l.Protocol == "HBONE" && l.TLSMode == "Terminate" {
				g.HBONE = l
				break
			}
		}
		for _, a := range gw.Addresses {
			if a.Type == "IPAddress" || a.Type == "Hostname" {
				g.Addresses = append(g.Addresses, a.Value)
			}
		}
		switch {
		case g.Network == "":
			g.Ignored = "no " + label.TopologyNetwork.Name + " label"
		case g.HBONE == nil:
			g.Ignored = "no HBONE listener with TLS mode Terminate"
		case len(g.Addresses) == 0:
			g.Ignored = "no address in its status"
		}
		out = append(out, g)
	}
	return out
}

// AmbientGatewayFor returns the ambient east-west Gateway a Service was
// made for by istiod's gateway deployment controller (the Service carries
// gateway-class-name istio-east-west and gateway-name), or nil.
func (c *Cluster) AmbientGatewayFor(s *cluster.Service) *cluster.K8sGateway {
	if s.Labels.Get(GatewayClassLabel) != EastWestGatewayClass {
		return nil
	}
	if c.Inv.Ambient != nil {
		for i := range c.Inv.Ambient.Gateways {
			g := &c.Inv.Ambient.Gateways[i]
			if g.Namespace == s.Namespace && g.Name == s.Labels.Get(GatewayNameLabel) {
				return g
			}
		}
	}
	// The Gateway was not read (or is gone): the labels still say what
	// made the Service.
	return &cluster.K8sGateway{Namespace: s.Namespace, Name: s.Labels.Get(GatewayNameLabel), Class: EastWestGatewayClass, Labels: s.Labels.Map()}
}

// ServiceScope tells whether a Service is global (shared across clusters)
// as the pinned istiod decides it with AMBIENT_ENABLE_MULTI_NETWORK
// (pilot/pkg/serviceregistry/ambient/services.go matchServiceScope): the
// first of meshConfig.serviceScopeConfigs whose namespace and service
// selectors both match (a nil or empty selector matches everything) and
// whose scope is GLOBAL makes it global; otherwise it is local. The ambient
// profile ships one such entry: services labelled istio.io/global=true
// (manifests/helm-profiles/ambient.yaml). known is false without a parsed
// mesh config.
func (c *Cluster) ServiceScope(s *cluster.Service) (global, known bool, why string) {
	mc := c.MeshConfig
	if c.Rev != nil && c.Rev.MeshConfig != nil {
		mc = c.Rev.MeshConfig
	}
	if mc == nil {
		return false, false, "no mesh config read"
	}
	ns := c.Inv.Namespace(s.Namespace)
	for i, sc := range mc.GetServiceScopeConfigs() {
		nss, err := selectorOf(sc.GetNamespaceSelector())
		if err != nil {
			continue // istiod: "failed to convert namespace selector", next entry
		}
		ss, err := selectorOf(sc.GetServicesSelector())
		if err != nil {
			continue
		}
		if ns == nil {
			continue // istiod: namespace not found, next entry
		}
		if nss.Matches(k8slabels.Set(ns.Labels)) && ss.Matches(s.Labels) &&
			sc.GetScope() == meshv1alpha1.MeshConfig_ServiceScopeConfigs_GLOBAL {
			return true, true, fmt.Sprintf("serviceScopeConfigs[%d] (services %s) is GLOBAL", i, ss)
		}
	}
	return false, true, "no GLOBAL serviceScopeConfigs entry matches"
}

// selectorOf is labelselector.LabelSelectorAsSelector with istiod's
// reading of nil and empty: both select everything.
func selectorOf(ls *meshv1alpha1.LabelSelector) (k8slabels.Selector, error) {
	if ls == nil || len(ls.GetMatchLabels()) == 0 && len(ls.GetMatchExpressions()) == 0 {
		return k8slabels.Everything(), nil
	}
	k := &metav1.LabelSelector{MatchLabels: ls.GetMatchLabels()}
	for _, e := range ls.GetMatchExpressions() {
		k.MatchExpressions = append(k.MatchExpressions, metav1.LabelSelectorRequirement{Key: e.GetKey(),
			Operator: metav1.LabelSelectorOperator(e.GetOperator()), Values: e.GetValues()})
	}
	return metav1.LabelSelectorAsSelector(k)
}

// Waypoint names the waypoint a Service uses, as istiod finds it
// (ambient/waypoints.go fetchWaypointForTarget, GetUseWaypoint): the
// Service's istio.io/use-waypoint label, else its namespace's; "none"
// opts out; istio.io/use-waypoint-namespace (from the same object) names
// another namespace. "" for none.
func (c *Cluster) Waypoint(s *cluster.Service) string {
	of := func(l map[string]string) (string, bool) {
		v, ok := l[UseWaypointLabel]
		if !ok {
			return "", false
		}
		if v == "" || v == "none" {
			return "", true
		}
		ns := s.Namespace
		if o, ok := l[UseWaypointNSLbl]; ok {
			ns = o
		}
		return ns + "/" + v, true
	}
	if w, ok := of(s.Labels.Map()); ok {
		return w
	}
	if ns := c.Inv.Namespace(s.Namespace); ns != nil {
		w, _ := of(ns.Labels)
		return w
	}
	return ""
}

// Waypoints are the cluster's Gateways of class istio-waypoint.
func (c *Cluster) Waypoints() []cluster.K8sGateway {
	if c.Inv.Ambient == nil {
		return nil
	}
	var out []cluster.K8sGateway
	for _, g := range c.Inv.Ambient.Gateways {
		if g.Class == WaypointGatewayClass {
			out = append(out, g)
		}
	}
	return out
}

// HostnameAddresses are the addresses that are not IPs.
func HostnameAddresses(addrs []string) []string {
	return slices.DeleteFunc(slices.Clone(addrs), func(a string) bool { _, err := netip.ParseAddr(a); return err == nil })
}

// String is the mode for the report header.
func (d DataPlane) String() string {
	s := string(d.Mode)
	if d.Mode == ModeMixed {
		s += fmt.Sprintf(" (ambient: %s; sidecar: %s)", strings.Join(d.AmbientNamespaces, ","), strings.Join(d.SidecarNamespaces, ","))
	}
	return s
}

// AmbientEastWestGatewayFor is the AmbientEastWestGateways entry of the
// istio-east-west Gateway a Service was made for (AmbientGatewayFor), or nil
// when the Service is no such gateway's or its Gateway was not read.
func (c *Cluster) AmbientEastWestGatewayFor(s *cluster.Service) *AmbientGateway {
	gw := c.AmbientGatewayFor(s)
	if gw == nil {
		return nil
	}
	for _, a := range c.AmbientEastWestGateways() {
		if a.Gateway.Namespace == gw.Namespace && a.Gateway.Name == gw.Name {
			return &a
		}
	}
	return nil
}
