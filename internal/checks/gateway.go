package checks

import (
	"context"
	"fmt"
	"strings"

	"istio.io/api/annotation"
	"istio.io/api/label"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var gatewayChecks = []Check{
	{ID: "gateway.address", Title: "each east-west gateway Service has an address istiod can use", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResServices}, Cluster: gatewayAddress},
	{ID: "gateway.ports", Title: "each east-west gateway exposes its gatewayPort (15443), 15012, 15017 and 15021", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResServices}, Cluster: gatewayPorts},
	{ID: "gateway.cross-network", Title: "a Gateway exposes each east-west gateway's gatewayPort with TLS AUTO_PASSTHROUGH for *.local", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResGateways, cluster.ResServices}, Cluster: crossNetworkGateway},
}

// gatewaysOf returns the cluster's east-west gateways (every Service istiod
// takes as a network gateway, under any name in any namespace, and the ones
// it ignores), or a skip result when there is none: whether one is needed is
// network.gateway-per-network's call.
//
// The Services istiod makes for ambient east-west Gateways (class
// istio-east-west, HBONE on 15008) are left out: they have no 15443 and no
// AUTO_PASSTHROUGH Gateway by design, and the ambient.* checks read them.
func gatewaysOf(c *mesh.Cluster) ([]*mesh.Gateway, []Result) {
	var gws []*mesh.Gateway
	var ambient []string
	for _, g := range c.EastWestGateways() {
		if gw := c.AmbientGatewayFor(g.Service); gw != nil {
			ambient = append(ambient, g.Name())
			continue
		}
		gws = append(gws, g)
	}
	if len(gws) == 0 && len(ambient) > 0 {
		return nil, []Result{skipf("ambient east-west gateway %s (HBONE on %d, class %s): no sidecar gateway here; the ambient.* checks read it",
			strings.Join(ambient, ", "), mesh.HBONEPort, mesh.EastWestGatewayClass)}
	}
	if len(gws) == 0 {
		return nil, []Result{skipf("no network gateway in this cluster (no Service labelled %s)", label.TopologyNetwork.Name)}
	}
	return gws, nil
}

// perGateway runs one for each gateway and names the gateway in each
// result when there are several.
func perGateway(gws []*mesh.Gateway, one func(*mesh.Gateway) Result) []Result {
	out := make([]Result, 0, len(gws))
	for _, g := range gws {
		out = append(out, forGateway(one(g), g, len(gws) > 1, ""))
	}
	return out
}

// forGateway names the gateway in a result when the cluster has several.
func forGateway(r Result, g *mesh.Gateway, several bool, target string) Result {
	switch {
	case several && target != "":
		r.Target = g.Name() + " " + target
	case several:
		r.Target = g.Name()
	default:
		r.Target = target
	}
	return r
}

func gatewayAddress(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	gws, skip := gatewaysOf(c)
	if skip != nil {
		return skip
	}
	return perGateway(gws, func(g *mesh.Gateway) Result { return oneGatewayAddress(env, c, g) })
}

func oneGatewayAddress(env *Env, c *mesh.Cluster, g *mesh.Gateway) Result {
	svc := g.Service
	ev := []Evidence{Ev("service", g.Name()), Ev("type", svc.Spec.Type), Ev("address source", g.SourceText())}
	getSvc := fmt.Sprintf("%s -n %s get svc %s -o wide", kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name))
	if g.NodesUnread != "" {
		return Result{Status: Error, Message: fmt.Sprintf("cannot tell the addresses of NodePort gateway %s (istiod uses its nodes' ExternalIPs): %s", g.Name(), g.NodesUnread),
			Remediation: kc(c.Name) + " auth can-i list nodes", Evidence: ev}
	}
	if len(g.Addresses) == 0 {
		var r Result
		switch {
		case g.NodePort:
			fix := kc(c.Name) + " get nodes -o wide"
			if sel := k8slabels.SelectorFromSet(g.NodeSelector).String(); sel != "" {
				fix = fmt.Sprintf("%s get nodes -l %s -o wide", kc(c.Name), shellQuote(sel))
			}
			r = failf(fix,
				"no node matching %s=%s has an ExternalIP: istiod has no address for NodePort gateway %s, remote clusters cannot reach it",
				annotation.TrafficNodeSelector.Name, orNone(svc.Annotations[annotation.TrafficNodeSelector.Name]), g.Name())
			r.Evidence = append(ev, Ev("nodes", nodeList(c.Inv, g.NodeSelector)))
			return r
		case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
			r = noted(failf(getSvc+fmt.Sprintf("\n%s -n %s describe svc %s", kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name)),
				"gateway %s has no external address (LoadBalancer pending): remote clusters cannot reach it", g.Name()),
				"is a load-balancer controller running? Without one, set spec.externalIPs on the Service")
		case svc.Spec.Type == corev1.ServiceTypeNodePort:
			r = failf(fmt.Sprintf("%s -n %s annotate svc %s %s='{}'", kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name), annotation.TrafficNodeSelector.Name),
				"gateway Service %s is type NodePort without the %s annotation or externalIPs: istiod has no address for it", g.Name(), annotation.TrafficNodeSelector.Name)
		default:
			r = failf(getSvc, "gateway Service %s is type %s with no externalIPs: remote clusters cannot reach it", g.Name(), orUnknown(string(svc.Spec.Type)))
		}
		return with(r, ev...)
	}
	ev = append(ev, Ev("addresses", strings.Join(g.Addresses, ", ")))
	if g.NodePort {
		ev = append(ev, Ev("nodePort", g.Port))
	}
	msg := fmt.Sprintf("gateway address %s:%d", strings.Join(g.Addresses, ", "), g.Port)
	if hosts := g.Hostnames(); len(hosts) > 0 {
		// pilot/pkg/model/network.go resolveHostnameGateways: with
		// RESOLVE_HOSTNAME_GATEWAYS=false istiod drops hostname gateways.
		for _, p := range env.Mesh.Primaries() {
			if v, ok := p.EnvValue("RESOLVE_HOSTNAME_GATEWAYS"); ok && strings.EqualFold(v, "false") {
				r := failf(fmt.Sprintf("%s -n %s set env %s RESOLVE_HOSTNAME_GATEWAYS=true", kc(p.Name), shellQuote(p.Istiod.Namespace), shellQuote("deploy/"+p.Istiod.Name)),
					"gateway %s is addressed by hostname %s, but istiod in %s has RESOLVE_HOSTNAME_GATEWAYS=false and drops hostname gateways", g.Name(), strings.Join(hosts, ", "), p.Name)
				return with(r, ev...)
			}
		}
		msg += fmt.Sprintf(" (hostname: istiod resolves %s to its IPs, RESOLVE_HOSTNAME_GATEWAYS)", strings.Join(hosts, ", "))
	}
	return pass(msg, ev...)
}

// nodeList names the nodes a selector matches, with their ExternalIPs.
func nodeList(inv *cluster.Inventory, sel map[string]string) string {
	var s []string
	for _, n := range inv.Nodes {
		if !k8slabels.SelectorFromSet(sel).Matches(k8slabels.Set(n.Labels)) {
			continue
		}
		ext := "no ExternalIP"
		for _, a := range n.Addresses {
			if a.Type == corev1.NodeExternalIP {
				ext = a.Address
				break
			}
		}
		s = append(s, n.Name+" ("+ext+")")
	}
	if len(s) == 0 {
		return fmt.Sprintf("none of %d nodes matches", len(inv.Nodes))
	}
	return strings.Join(s, ", ")
}

type wantPort struct {
	port   int32
	name   string
	need   string
	remote bool // needed only when remote clusters use this primary's istiod
	warn   bool
}

func gatewayPorts(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	gws, skip := gatewaysOf(c)
	if skip != nil {
		return skip
	}
	hasRemotes := false
	for _, o := range env.Mesh.Reachable() {
		hasRemotes = hasRemotes || o.Role == mesh.Remote
	}
	var out []Result
	for _, g := range gws {
		out = append(out, oneGatewayPorts(c, g, gws, hasRemotes)...)
	}
	return out
}

func oneGatewayPorts(c *mesh.Cluster, g *mesh.Gateway, all []*mesh.Gateway, hasRemotes bool) []Result {
	svc := g.Service
	have := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		have[p.Port] = p.Name
	}
	wants := []wantPort{
		{int32(g.ServicePort), "tls", "mTLS service traffic from other networks (AUTO_PASSTHROUGH)", false, false},
		{15012, "tls-istiod", "remote clusters' proxies reach istiod (XDS, CA)", true, false},
		{15017, "tls-webhook", "remote clusters' API servers reach istiod's injection webhook", true, false},
		{15021, "status-port", "load-balancer health checks", false, true},
	}
	var out []Result
	for _, w := range wants {
		target := fmt.Sprintf("port %d", w.port)
		if name, ok := have[w.port]; ok {
			out = append(out, forGateway(pass(fmt.Sprintf("port %d (%s) exposed", w.port, name)), g, len(all) > 1, target))
			continue
		}
		// istiod needs to be exposed once: by any of the cluster's gateways.
		if w.remote {
			if o := exposedBy(all, w.port); o != nil {
				out = append(out, forGateway(pass(fmt.Sprintf("port %d (%s) exposed by gateway %s", w.port, w.name, o.Name())), g, len(all) > 1, target))
				continue
			}
		}
		fix := fmt.Sprintf("%s -n %s patch svc %s --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/ports/-\",\"value\":{\"name\":\"%s\",\"port\":%d,\"targetPort\":%d}}]'",
			kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name), w.name, w.port, w.port)
		var r Result
		switch {
		case w.warn, w.remote && !(hasRemotes && c.Role == mesh.Primary):
			r = warnf(fix, "port %d (%s) not exposed: needed for %s", w.port, w.name, w.need)
		default:
			r = failf(fix, "port %d (%s) not exposed: needed for %s", w.port, w.name, w.need)
		}
		out = append(out, with(forGateway(r, g, len(all) > 1, target), Ev("exposed ports", portList(svc))))
	}
	return out
}

func exposedBy(gws []*mesh.Gateway, port int32) *mesh.Gateway {
	for _, g := range gws {
		for _, p := range g.Service.Spec.Ports {
			if p.Port == port {
				return g
			}
		}
	}
	return nil
}

func portList(svc *cluster.Service) string {
	var s []string
	for _, p := range svc.Spec.Ports {
		s = append(s, fmt.Sprintf("%d/%s", p.Port, p.Name))
	}
	return strings.Join(s, ", ")
}

func crossNetworkGateway(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	gws, skip := gatewaysOf(c)
	if skip != nil {
		return skip
	}
	if !env.Mesh.MultiNetwork() {
		return []Result{skipf("single-network mesh: no cross-network Gateway needed")}
	}
	return perGateway(gws, func(g *mesh.Gateway) Result { return oneCrossNetwork(c, g) })
}

func oneCrossNetwork(c *mesh.Cluster, g *mesh.Gateway) Result {
	svc := g.Service
	podLabels := k8slabels.Set(svc.Spec.Selector.Map())
	port := uint32(g.ServicePort)
	// The pod port the gatewayPort reaches, and the pod port a Gateway
	// server binds, as istiod resolves them for a label-selected Gateway
	// (pilot/pkg/model/gateway.go resolvePorts with legacyGatewaySelector):
	// a server port that is a port of the gateway Service binds that port's
	// targetPort, any other binds as is. So with the Service's mTLS port
	// moved (gatewayPort 16443 → targetPort 15443), expose-services.yaml's
	// unchanged server on 15443 still serves it.
	target := func(p uint32) (uint32, bool) {
		for _, sp := range svc.Spec.Ports {
			if uint32(sp.Port) == p {
				if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0 {
					return uint32(sp.TargetPort.IntVal), true
				}
				return p, true // named or unset: the port itself (a named one is not resolved here)
			}
		}
		return p, false
	}
	want, _ := target(port)
	var seen []string
	for _, gw := range c.Inv.Gateways {
		sel := gw.Spec.GetSelector()
		if len(sel) == 0 || !k8slabels.SelectorFromSet(sel).Matches(podLabels) {
			continue
		}
		for _, s := range gw.Spec.GetServers() {
			if bound, _ := target(s.GetPort().GetNumber()); bound != want {
				continue
			}
			desc := fmt.Sprintf("%s/%s port %d %s %s hosts %v", gw.Namespace, gw.Name, s.GetPort().GetNumber(), s.GetPort().GetProtocol(), s.GetTls().GetMode(), s.GetHosts())
			seen = append(seen, desc)
			if strings.EqualFold(s.GetPort().GetProtocol(), "TLS") &&
				s.GetTls().GetMode() == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH && coversLocal(s.GetHosts()) {
				msg := fmt.Sprintf("Gateway %s/%s exposes %d with AUTO_PASSTHROUGH on %s", gw.Namespace, gw.Name, port, g.Name())
				if s.GetPort().GetNumber() != port {
					msg = fmt.Sprintf("Gateway %s/%s serves pod port %d with AUTO_PASSTHROUGH on %s, which its gatewayPort %d targets", gw.Namespace, gw.Name, want, g.Name(), port)
				}
				return pass(msg, Ev("server", desc))
			}
		}
	}
	fix := fmt.Sprintf("%s apply -n %s -f samples/multicluster/expose-services.yaml", kc(c.Name), shellQuote(svc.Namespace))
	r := noted(failf(fix, "no Gateway selects the east-west gateway %s with port %d TLS AUTO_PASSTHROUGH for *.local: cross-network traffic is refused", g.Name(), port),
		fmt.Sprintf("samples/multicluster/expose-services.yaml is in the Istio release; its Gateway cross-network-gateway must select %s and serve port %d TLS AUTO_PASSTHROUGH for hosts \"*.local\" (edit it if your gateway differs)", podLabels, port))
	r.Evidence = append(r.Evidence, Ev("gateway pod labels", podLabels.String()))
	for _, s := range seen {
		r.Evidence = append(r.Evidence, Ev("server seen", s))
	}
	return r
}

func coversLocal(hosts []string) bool {
	for _, h := range hosts {
		h = h[strings.LastIndex(h, "/")+1:]
		if h == "*" || h == "*.local" || strings.HasSuffix(h, ".local") && strings.HasPrefix(h, "*") {
			return true
		}
	}
	return false
}
