package checks

import (
	"context"
	"fmt"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var gatewayChecks = []Check{
	{ID: "gateway.address", Title: "the east-west gateway Service has an external address", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResServices}, Cluster: gatewayAddress},
	{ID: "gateway.ports", Title: "the east-west gateway exposes 15443, 15012, 15017 and 15021", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResServices}, Cluster: gatewayPorts},
	{ID: "gateway.cross-network", Title: "a Gateway exposes 15443 with TLS AUTO_PASSTHROUGH for *.local", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResGateways, cluster.ResServices}, Cluster: crossNetworkGateway},
}

// gatewayApplies returns a skip result when the cluster has no east-west
// gateway: whether one is needed is network.gateway-per-network's call.
func gatewayApplies(c *mesh.Cluster) []Result {
	if c.EastWest == nil {
		return []Result{skipf("no %s Service in this cluster", mesh.EastWestGatewayName)}
	}
	return nil
}

func gatewayAddress(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if r := gatewayApplies(c); r != nil {
		return r
	}
	svc := c.EastWest.Service
	ev := []Evidence{Ev("service", svc.Namespace+"/"+svc.Name), Ev("type", svc.Spec.Type)}
	if len(c.EastWest.Addresses) == 0 {
		fix := fmt.Sprintf("%s -n %s get svc %s -o wide; %s -n %s describe svc %s (is a load-balancer controller running? set spec.externalIPs otherwise)",
			kc(c.Name), svc.Namespace, svc.Name, kc(c.Name), svc.Namespace, svc.Name)
		msg := "gateway has no external address (LoadBalancer pending): remote clusters cannot reach it"
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			msg = fmt.Sprintf("gateway Service is type %s with no externalIPs: remote clusters cannot reach it", svc.Spec.Type)
		}
		return []Result{with(failf(fix, "%s", msg), ev...)}
	}
	return []Result{pass("gateway address "+strings.Join(c.EastWest.Addresses, ", "), append(ev, Ev("addresses", strings.Join(c.EastWest.Addresses, ", ")))...)}
}

type wantPort struct {
	port   int32
	name   string
	need   string
	remote bool // needed only when remote clusters use this primary's istiod
	warn   bool
}

func gatewayPorts(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if r := gatewayApplies(c); r != nil {
		return r
	}
	svc := c.EastWest.Service
	have := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		have[p.Port] = p.Name
	}
	hasRemotes := false
	for _, o := range env.Mesh.Reachable() {
		hasRemotes = hasRemotes || o.Role == mesh.Remote
	}
	wants := []wantPort{
		{int32(c.EastWest.Port), "tls", "mTLS service traffic from other networks (AUTO_PASSTHROUGH)", false, false},
		{15012, "tls-istiod", "remote clusters' proxies reach istiod (XDS, CA)", true, false},
		{15017, "tls-webhook", "remote clusters' API servers reach istiod's injection webhook", true, false},
		{15021, "status-port", "load-balancer health checks", false, true},
	}
	var out []Result
	for _, w := range wants {
		target := fmt.Sprintf("port %d", w.port)
		if name, ok := have[w.port]; ok {
			r := pass(fmt.Sprintf("port %d (%s) exposed", w.port, name))
			r.Target = target
			out = append(out, r)
			continue
		}
		fix := fmt.Sprintf("%s -n %s patch svc %s --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/ports/-\",\"value\":{\"name\":\"%s\",\"port\":%d,\"targetPort\":%d}}]'",
			kc(c.Name), svc.Namespace, svc.Name, w.name, w.port, w.port)
		var r Result
		switch {
		case w.warn, w.remote && !(hasRemotes && c.Role == mesh.Primary):
			r = warnf(fix, "port %d (%s) not exposed: needed for %s", w.port, w.name, w.need)
		default:
			r = failf(fix, "port %d (%s) not exposed: needed for %s", w.port, w.name, w.need)
		}
		r.Target = target
		out = append(out, with(r, Ev("exposed ports", portList(svc))))
	}
	return out
}

func portList(svc *corev1.Service) string {
	var s []string
	for _, p := range svc.Spec.Ports {
		s = append(s, fmt.Sprintf("%d/%s", p.Port, p.Name))
	}
	return strings.Join(s, ", ")
}

func crossNetworkGateway(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if r := gatewayApplies(c); r != nil {
		return r
	}
	if !env.Mesh.MultiNetwork() {
		return []Result{skipf("single-network mesh: no cross-network Gateway needed")}
	}
	svc := c.EastWest.Service
	podLabels := k8slabels.Set(svc.Spec.Selector)
	port := uint32(c.EastWest.Port)
	var seen []string
	for _, gw := range c.Inv.Gateways {
		sel := gw.Spec.GetSelector()
		if len(sel) == 0 || !k8slabels.SelectorFromSet(sel).Matches(podLabels) {
			continue
		}
		for _, s := range gw.Spec.GetServers() {
			if s.GetPort().GetNumber() != port {
				continue
			}
			desc := fmt.Sprintf("%s/%s port %d %s %s hosts %v", gw.Namespace, gw.Name, port, s.GetPort().GetProtocol(), s.GetTls().GetMode(), s.GetHosts())
			seen = append(seen, desc)
			if strings.EqualFold(s.GetPort().GetProtocol(), "TLS") &&
				s.GetTls().GetMode() == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH && coversLocal(s.GetHosts()) {
				return []Result{pass(fmt.Sprintf("Gateway %s/%s exposes %d with AUTO_PASSTHROUGH", gw.Namespace, gw.Name, port), Ev("server", desc))}
			}
		}
	}
	fix := fmt.Sprintf("%s apply -n istio-system -f samples/multicluster/expose-services.yaml (Gateway cross-network-gateway: port %d TLS AUTO_PASSTHROUGH hosts \"*.local\")", kc(c.Name), port)
	r := failf(fix, "no Gateway selects the east-west gateway with port %d TLS AUTO_PASSTHROUGH for *.local: cross-network traffic is refused", port)
	r.Evidence = append(r.Evidence, Ev("gateway pod labels", podLabels.String()))
	for _, s := range seen {
		r.Evidence = append(r.Evidence, Ev("server seen", s))
	}
	return []Result{r}
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
