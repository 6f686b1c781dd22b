package checks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"istio.io/api/label"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// The ambient data plane (ztunnel, HBONE east-west gateways on 15008,
// global services), checked by the rules of the pinned istiod:
// pilot/pkg/features/ambient.go (AMBIENT_ENABLE_MULTI_NETWORK, registered
// only with PILOT_ENABLE_AMBIENT), pilot/pkg/serviceregistry/ambient
// (networks.go: network gateways from Gateway API Gateways; services.go:
// service scope; waypoints.go: istio.io/use-waypoint), and the istio.io
// guide "Install ambient multi-primary on different networks" with its
// limitations (docs/ambient/install/multicluster).
var ambientChecks = []Check{
	{ID: "ambient.dataplane", Title: "each cluster's data plane is known; ambient namespaces have ztunnel and istio-cni running", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResNamespaces, cluster.ResDaemonSets}, Cluster: ambientDataplane},
	{ID: "ambient.topology", Title: "an ambient mesh is multi-primary on several networks (the topology ambient multicluster supports)", Scope: Mesh,
		DependsOn: []string{"controlplane.topology"}, Mesh: ambientTopology},
	{ID: "ambient.istiod-multi-network", Title: "istiod of an ambient multicluster mesh runs with PILOT_ENABLE_AMBIENT and AMBIENT_ENABLE_MULTI_NETWORK", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready", "ambient.dataplane"}, Needs: []string{cluster.ResDeployments}, Cluster: ambientIstiodEnv},
	{ID: "ambient.gateway-api", Title: "the Gateway API CRDs are installed where ambient runs", Scope: PerCluster,
		DependsOn: []string{"ambient.dataplane"}, Needs: []string{cluster.ResK8sGateways}, Cluster: ambientGatewayAPI},
	{ID: "ambient.eastwest-gateway", Title: "each ambient cluster of a multi-network mesh has an istio-east-west Gateway with HBONE on 15008, its network label and an address", Scope: PerCluster,
		DependsOn: []string{"ambient.gateway-api", "network.namespace-label"}, Needs: []string{cluster.ResK8sGateways}, Cluster: ambientEastWest},
	{ID: "ambient.agent-skew", Title: "ztunnel and istio-cni run the control plane's version or one minor older", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready", "ambient.dataplane"}, Needs: []string{cluster.ResDaemonSets}, Cluster: ambientAgentSkew},
	{ID: "ambient.gateway-kinds", Title: "a mixed sidecar and ambient mesh has both kinds of east-west gateway on each network the other data planes reach", Scope: Mesh,
		DependsOn: []string{"ambient.dataplane"}, Mesh: ambientGatewayKinds},
	{ID: "ambient.global-services", Title: "a service shared across ambient clusters is global (service scope) in every cluster where it exists", Scope: Mesh,
		DependsOn: []string{"ambient.dataplane", "controlplane.mesh-config"}, Mesh: ambientGlobalServices},
	{ID: "ambient.waypoint-names", Title: "a global service uses a waypoint of the same name in every cluster, and that waypoint exists", Scope: Mesh,
		DependsOn: []string{"ambient.dataplane"}, Mesh: ambientWaypointNames},
}

// ambientClusters are the reachable clusters that run ambient.
func ambientClusters(m *mesh.Mesh) []*mesh.Cluster {
	var out []*mesh.Cluster
	for _, c := range m.Reachable() {
		if c.DataPlane().Ambient() {
			out = append(out, c)
		}
	}
	return out
}

// notAmbient is the skip of a per-cluster ambient check on a sidecar
// cluster.
func notAmbient(d mesh.DataPlane) []Result {
	why := "no ztunnel DaemonSet and no namespace or pod labelled " + cluster.DataplaneModeLabel + "=ambient"
	if d.Unread != "" {
		why = d.Unread
	}
	return []Result{skipf("sidecar data plane (%s): no ambient component to check", why)}
}

func ambientDataplane(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	d := c.DataPlane()
	ev := []Evidence{Ev("mode", d.Mode)}
	if len(d.AmbientNamespaces) > 0 {
		ev = append(ev, Ev("ambient namespaces", strings.Join(d.AmbientNamespaces, ", ")))
	}
	if len(d.SidecarNamespaces) > 0 {
		ev = append(ev, Ev("sidecar namespaces", strings.Join(d.SidecarNamespaces, ", ")))
	}
	if len(d.AmbientPods) > 0 {
		ev = append(ev, Ev("ambient pods", strings.Join(d.AmbientPods, ", ")))
	}
	for _, a := range append(slices.Clone(d.Ztunnel), d.CNI...) {
		ev = append(ev, Ev(a.Agent, fmt.Sprintf("%s %d/%d ready, %s", a, a.Ready, a.Desired, strings.Join(a.Images, ", "))))
	}
	if !d.Ambient() {
		return []Result{pass("sidecar data plane: no ztunnel and no namespace labelled "+cluster.DataplaneModeLabel+"=ambient", ev...)}
	}
	var out []Result
	enrolled := len(d.AmbientNamespaces) > 0 || len(d.AmbientPods) > 0
	for _, agent := range []struct {
		name, chart string
		found       []cluster.AgentDaemonSet
	}{{cluster.AgentZtunnel, "ztunnel", d.Ztunnel}, {cluster.AgentCNI, "cni", d.CNI}} {
		switch {
		case len(agent.found) == 0 && enrolled:
			r := noted(failf(fmt.Sprintf("%s get daemonsets -A -l %s", kc(c.Name), agentSelector(agent.name)),
				"namespaces are labelled %s=ambient but no %s DaemonSet runs: their traffic is not captured, they are not in the mesh", cluster.DataplaneModeLabel, agent.name),
				fmt.Sprintf("install it as the ambient guide does (istioctl install --set profile=ambient, or helm install %s istio/%s -n istio-system)", agentRelease(agent.name), agent.chart))
			r.Target = agent.name
			out = append(out, with(r, ev...))
		case len(agent.found) == 0:
			r := warnf(fmt.Sprintf("%s get daemonsets -A -l %s", kc(c.Name), agentSelector(agent.name)),
				"ztunnel runs but no %s DaemonSet was found: pods cannot be enrolled into ambient", agent.name)
			r.Target = agent.name
			out = append(out, with(r, ev...))
		default:
			for _, a := range agent.found {
				if a.Ready < a.Desired || a.Desired == 0 {
					r := failf(fmt.Sprintf("%s -n %s rollout status daemonset/%s --timeout=60s\n%s -n %s get pods -l %s -o wide",
						kc(c.Name), shellQuote(a.Namespace), shellQuote(a.Name), kc(c.Name), shellQuote(a.Namespace), agentSelector(agent.name)),
						"%s DaemonSet %s has %d of %d pods ready: ambient pods on the other nodes have no %s", agent.name, a, a.Ready, a.Desired, agent.name)
					r.Target = agent.name
					out = append(out, with(r, ev...))
					continue
				}
				r := pass(fmt.Sprintf("%s data plane: %s DaemonSet %s ready on %d node(s)", d.Mode, agent.name, a, a.Ready), ev...)
				r.Target = agent.name
				out = append(out, r)
			}
		}
	}
	return out
}

func agentSelector(agent string) string {
	if agent == cluster.AgentCNI {
		return "k8s-app=istio-cni-node"
	}
	return "app=ztunnel"
}

func agentRelease(agent string) string {
	if agent == cluster.AgentCNI {
		return "istio-cni"
	}
	return "ztunnel"
}

// ambientTopology names what the ambient multicluster guide does not
// support: primary-remote ("Primary remote configuration is not currently
// supported") and several clusters on one network ("untested, and may be
// broken").
func ambientTopology(_ context.Context, env *Env) []Result {
	m := env.Mesh
	amb := ambientClusters(m)
	if len(amb) == 0 {
		return []Result{skipf("no cluster runs ambient")}
	}
	if len(m.Reachable()) < 2 {
		return []Result{skipf("one cluster: no multicluster topology to judge")}
	}
	var remotes []string
	for _, c := range m.Reachable() {
		if c.Role == mesh.Remote {
			remotes = append(remotes, c.Name)
		}
	}
	var names []string
	for _, c := range amb {
		names = append(names, c.Name)
	}
	ev := []Evidence{Ev("ambient clusters", strings.Join(names, ", ")), Ev("topology", m.Topology())}
	if len(remotes) > 0 {
		r := noted(failf(fmt.Sprintf("%s -n istio-system get deploy,cm -l app=istiod", kc(remotes[0])),
			"unsupported topology: primary-remote with ambient (remote %s); ambient multicluster supports multi-primary only", strings.Join(remotes, ", ")),
			"istio.io, Install ambient multicluster, limitations: \"Primary remote configuration is not currently supported\"; install istiod in each remote (multi-primary) instead")
		return []Result{with(r, ev...)}
	}
	byNet := map[string][]string{}
	for _, c := range m.Reachable() {
		byNet[c.Network] = append(byNet[c.Network], c.Name)
	}
	for _, n := range sortedKeys(byNet) {
		if len(byNet[n]) > 1 {
			r := noted(warnf(fmt.Sprintf("%s get namespace istio-system -L %s", kc(byNet[n][0]), label.TopologyNetwork.Name),
				"clusters %s share network %q: ambient multicluster on one network is untested and may be broken", strings.Join(byNet[n], ", "), orNone(n)),
				"istio.io, Install ambient multicluster, limitations: only multi-network configurations are supported")
			return []Result{with(r, ev...)}
		}
	}
	return []Result{pass(fmt.Sprintf("ambient multicluster on a supported topology: %s, every cluster on its own network", m.Topology()), ev...)}
}

// envTrue is istiod's reading of a boolean env (pkg/env: strconv.ParseBool).
func envTrue(v string, set bool) bool {
	b, err := strconv.ParseBool(v)
	return set && err == nil && b
}

func ambientIstiodEnv(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	d := c.DataPlane()
	if !d.Ambient() {
		return notAmbient(d)
	}
	if len(env.Mesh.Reachable()) < 2 {
		return []Result{skipf("one cluster: AMBIENT_ENABLE_MULTI_NETWORK is needed only across clusters")}
	}
	var out []Result
	for _, r := range c.Revisions {
		if r.Istiod == nil {
			continue
		}
		deploy := "deploy/" + r.Istiod.Name
		var missing, redacted []string
		var ev []Evidence
		for _, name := range []string{"PILOT_ENABLE_AMBIENT", "AMBIENT_ENABLE_MULTI_NETWORK"} {
			v, ok := r.EnvValue(name)
			if v == "(redacted)" { // a snapshot of an older meshdoctor blanked it
				redacted = append(redacted, name)
				continue
			}
			ev = append(ev, Ev(name, map[bool]string{true: v, false: "(unset)"}[ok]))
			if !envTrue(v, ok) {
				missing = append(missing, name+"=true")
			}
		}
		var res Result
		if len(redacted) > 0 {
			out = append(out, skipf("istiod %s's %s not recorded (blanked in this snapshot)", r.Istiod.Name, strings.Join(redacted, ", ")))
			continue
		}
		if len(missing) > 0 {
			res = noted(failf(fmt.Sprintf("%s -n %s set env %s %s", kc(c.Name), shellQuote(r.Istiod.Namespace), shellQuote(deploy), strings.Join(missing, " ")),
				"istiod %s runs without %s: it neither reads the other clusters' istio-east-west Gateways nor global services, ambient traffic stays in this cluster",
				r.Istiod.Name, strings.Join(missing, ", ")),
				"set it where the install is defined too, or an upgrade drops it: components.pilot.k8s.env in the IstioOperator, or helm --set env.AMBIENT_ENABLE_MULTI_NETWORK=true (the ambient multicluster guide); AMBIENT_ENABLE_MULTI_NETWORK is ignored without PILOT_ENABLE_AMBIENT (pilot/pkg/features/ambient.go registerAmbient)")
		} else {
			res = pass(fmt.Sprintf("istiod %s has PILOT_ENABLE_AMBIENT and AMBIENT_ENABLE_MULTI_NETWORK", r.Istiod.Name))
		}
		if len(c.Revisions) > 1 {
			res.Target = c.RevisionTarget(r)
		}
		out = append(out, with(res, ev...))
	}
	if len(out) == 0 {
		return []Result{skipf("no istiod in this cluster")}
	}
	return out
}

// gatewayAPIInstall is the ambient guide's CRD install, at the bundle
// version the pinned module tests with
// (tests/integration/pilot/testdata/gateway-api-crd.yaml: v1.6.0).
func gatewayAPIInstall(ctx string) string {
	return fmt.Sprintf("%s get crd gateways.gateway.networking.k8s.io || kubectl kustomize 'github.com/kubernetes-sigs/gateway-api/config/crd?ref=v1.6.0' | %s apply -f -", kc(ctx), kc(ctx))
}

func ambientGatewayAPI(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	d := c.DataPlane()
	if !d.Ambient() {
		return notAmbient(d)
	}
	switch c.Inv.Ambient.GatewayAPI {
	case cluster.GatewayAPIServed:
		return []Result{pass(fmt.Sprintf("gateway.networking.k8s.io/v1 Gateways are served (%d found)", len(c.Inv.Ambient.Gateways)))}
	case cluster.GatewayAPIAbsent:
		return []Result{noted(failf(gatewayAPIInstall(c.Name),
			"the Gateway API CRDs are not installed: no istio-east-west Gateway and no waypoint can exist, ambient traffic cannot leave this cluster"),
			"the ambient guides install the Gateway API CRDs before Istio")}
	}
	return []Result{skipf("Gateway API Gateways were not read")}
}

// ambientGatewaysOn names the ambient east-west Gateways of c that istiod
// in another cluster uses for network n (for network.gateway-per-network).
func ambientGatewaysOn(c *mesh.Cluster, n string) []string {
	var out []string
	for _, g := range c.AmbientEastWestGateways() {
		if g.Ignored == "" && g.Network == n {
			out = append(out, c.Name+"/"+g.Name()+" (ambient, HBONE)")
		}
	}
	return out
}

const hboneListener = `{"name":"mesh","port":15008,"protocol":"HBONE","tls":{"mode":"Terminate","options":{"gateway.istio.io/tls-terminate-mode":"ISTIO_MUTUAL"}}}`

func ambientEastWest(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	d := c.DataPlane()
	if !d.Ambient() {
		return notAmbient(d)
	}
	if !env.Mesh.MultiNetwork() {
		return []Result{skipf("single-network mesh: no east-west gateway needed")}
	}
	gws := c.AmbientEastWestGateways()
	if len(gws) == 0 {
		return []Result{noted(failf(fmt.Sprintf("samples/multicluster/gen-eastwest-gateway.sh --network %s --ambient | %s apply -f -", shellQuote(orNone(c.Network)), kc(c.Name)),
			"no Gateway of class %s: ztunnels in other networks cannot reach this cluster's workloads", mesh.EastWestGatewayClass),
			"run from the Istio release directory (samples/multicluster is part of it)")}
	}
	var out []Result
	for i := range gws {
		out = append(out, forAmbientGateway(oneAmbientEastWest(c, &gws[i]), &gws[i], len(gws) > 1))
	}
	return out
}

func forAmbientGateway(r Result, g *mesh.AmbientGateway, several bool) Result {
	if several {
		r.Target = g.Name()
	}
	return r
}

func oneAmbientEastWest(c *mesh.Cluster, g *mesh.AmbientGateway) Result {
	gw := g.Gateway
	ref := fmt.Sprintf("%s -n %s", kc(c.Name), shellQuote(gw.Namespace))
	obj := "gateway.gateway.networking.k8s.io/" + shellQuote(gw.Name)
	var listeners []string
	for _, l := range gw.Listeners {
		listeners = append(listeners, fmt.Sprintf("%s %d/%s tls=%s", l.Name, l.Port, l.Protocol, orNone(l.TLSMode)))
	}
	ev := []Evidence{Ev("gateway", g.Name()), Ev("network label", orNone(g.Network)), Ev("listeners", orNone(strings.Join(listeners, ", "))),
		Ev("addresses", orNone(strings.Join(g.Addresses, ", "))), Ev("programmed", orNone(gw.Programmed))}
	switch {
	case g.Network == "":
		return with(failf(fmt.Sprintf("%s label %s %s=%s", ref, obj, label.TopologyNetwork.Name, shellQuote(c.Network)),
			"Gateway %s has no %s label: istiod in other clusters does not take it as a network gateway", g.Name(), label.TopologyNetwork.Name), ev...)
	case c.Network != "" && g.Network != c.Network:
		return with(failf(fmt.Sprintf("%s label %s %s=%s --overwrite", ref, obj, label.TopologyNetwork.Name, shellQuote(c.Network)),
			"Gateway %s is labelled network %q but istio-system is on %q", g.Name(), g.Network, c.Network), ev...)
	case g.HBONE == nil:
		return with(noted(failf(fmt.Sprintf("%s patch %s --type=json -p '[{\"op\":\"add\",\"path\":\"/spec/listeners/-\",\"value\":%s}]'", ref, obj, hboneListener),
			"Gateway %s has no HBONE listener with TLS mode Terminate: istiod in other clusters ignores it, cross-network ambient traffic has no way in", g.Name()),
			"gen-eastwest-gateway.sh --ambient writes the listener: name mesh, port 15008, protocol HBONE, tls mode Terminate with gateway.istio.io/tls-terminate-mode ISTIO_MUTUAL"), ev...)
	case g.HBONE.Port != int64(mesh.HBONEPort):
		return with(failf(fmt.Sprintf("%s get %s -o yaml", ref, obj),
			"Gateway %s listens for HBONE on %d, but istiod in other clusters sends ztunnels to %d (networks.go keeps no port for remote gateways)", g.Name(), g.HBONE.Port, mesh.HBONEPort), ev...)
	case len(g.Addresses) == 0:
		return with(noted(failf(fmt.Sprintf("%s get %s -o yaml\n%s get svc -l %s=%s", ref, obj, ref, mesh.GatewayNameLabel, shellQuote(gw.Name)),
			"Gateway %s has no address in its status (%s): remote clusters cannot reach it", g.Name(), orNone(gw.Programmed)),
			"istiod copies its Service's LoadBalancer address into the Gateway status: is a load-balancer controller running?"), ev...)
	}
	if g.HBONE.TerminateMode != "" && g.HBONE.TerminateMode != "ISTIO_MUTUAL" {
		return with(warnf(fmt.Sprintf("%s get %s -o yaml", ref, obj),
			"Gateway %s terminates HBONE with %s, not ISTIO_MUTUAL as gen-eastwest-gateway.sh --ambient does", g.Name(), g.HBONE.TerminateMode), ev...)
	}
	return pass(fmt.Sprintf("Gateway %s on network %s: HBONE on %d at %s", g.Name(), g.Network, g.HBONE.Port, strings.Join(g.Addresses, ", ")), ev...)
}

// ambientAgentSkew follows the ambient upgrade guide: "The CNI node agent
// and ztunnel components are compatible with a control plane at the same
// version, or one version higher" — an agent may be one minor older than
// istiod, never newer.
func ambientAgentSkew(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	d := c.DataPlane()
	if !d.Ambient() {
		return notAmbient(d)
	}
	agents := append(slices.Clone(d.Ztunnel), d.CNI...)
	if len(agents) == 0 {
		return []Result{skipf("no ztunnel or istio-cni DaemonSet (ambient.dataplane says why)")}
	}
	cp := c.Version
	cpMaj, cpMin, ok := parseMinor(cp)
	if !ok {
		return []Result{skipf("istiod's version is not known (image tag %q): cannot compare the node agents with it", cp)}
	}
	var out []Result
	for _, a := range agents {
		tag := ""
		for _, img := range a.Images {
			if t := cluster.ImageTag(img); t != "" {
				tag = t
				break
			}
		}
		var r Result
		maj, min, ok := parseMinor(tag)
		fix := fmt.Sprintf("%s -n %s get daemonset %s -o jsonpath='{.spec.template.spec.containers[*].image}'", kc(c.Name), shellQuote(a.Namespace), shellQuote(a.Name))
		switch {
		case !ok:
			r = skipf("%s's version is not known (image tag %q)", a, tag)
		case maj != cpMaj || min > cpMin:
			r = noted(failf(fix, "%s %s is newer than istiod %s: node agents may be at most as new as the control plane", a.Agent, tag, cp),
				"upgrade istiod first, then istio-cni and ztunnel (the ambient upgrade guide's order)")
		case cpMin-min > 1:
			r = noted(failf(fix, "%s %s is %d minor versions older than istiod %s: supported is the same minor or one older", a.Agent, tag, cpMin-min, cp),
				fmt.Sprintf("upgrade %s one minor version at a time to istiod's (helm upgrade %s istio/%s -n %s --version %d.%d.x, or istioctl upgrade)", a.Agent, agentRelease(a.Agent), map[string]string{cluster.AgentZtunnel: "ztunnel", cluster.AgentCNI: "cni"}[a.Agent], a.Namespace, cpMaj, cpMin))
		default:
			r = pass(fmt.Sprintf("%s %s with istiod %s: within the supported skew", a.Agent, tag, cp))
		}
		r.Target = a.Agent
		out = append(out, with(r, Ev("istiod", cp), Ev(a.Agent, tag)))
	}
	return out
}

// ambientGatewayKinds: a workload's traffic to another network leaves
// through the kind of gateway its own data plane uses — sidecars through a
// 15443 AUTO_PASSTHROUGH gateway Service, ztunnel through an
// istio-east-west Gateway on 15008 (networks.go, ep_filters.go). So a
// network reached by sidecars needs the former, one reached by ztunnel the
// latter; in a mixed mesh, both.
func ambientGatewayKinds(_ context.Context, env *Env) []Result {
	m := env.Mesh
	if len(m.Reachable()) < 2 || !m.MultiNetwork() {
		return []Result{skipf("fewer than two networks: no gateway needed")}
	}
	sidecarNets, ambientNets := map[string]bool{}, map[string]bool{}
	for _, c := range m.Reachable() {
		d := c.DataPlane()
		if d.Sidecars() {
			sidecarNets[c.Network] = true
		}
		if d.Ambient() {
			ambientNets[c.Network] = true
		}
	}
	if len(ambientNets) == 0 {
		return []Result{skipf("no cluster runs ambient: the gateway.* checks judge the sidecar gateways")}
	}
	if len(sidecarNets) == 0 {
		return []Result{skipf("every cluster runs ambient only: ambient.eastwest-gateway judges the gateways")}
	}
	var out []Result
	for _, n := range m.Networks() {
		fromSidecars, fromAmbient := false, false
		for o := range sidecarNets {
			fromSidecars = fromSidecars || o != n
		}
		for o := range ambientNets {
			fromAmbient = fromAmbient || o != n
		}
		var sidecarGW, ambientGW, members []string
		for _, c := range m.Reachable() {
			if c.Network != n {
				continue
			}
			members = append(members, c.Name)
			for _, g := range c.Gateways {
				if g.Network == n && c.AmbientGatewayFor(g.Service) == nil {
					sidecarGW = append(sidecarGW, c.Name+"/"+g.Name())
				}
			}
			ambientGW = append(ambientGW, ambientGatewaysOn(c, n)...)
		}
		ev := []Evidence{Ev("sidecar gateways", orNone(strings.Join(sidecarGW, ", "))), Ev("ambient gateways", orNone(strings.Join(ambientGW, ", ")))}
		const why = "a mixed mesh needs both gateway kinds: sidecars cross networks through 15443 AUTO_PASSTHROUGH, ztunnel through an istio-east-west Gateway on 15008; run from the Istio release directory"
		var r Result
		switch {
		case len(members) == 0:
			continue
		case fromSidecars && len(sidecarGW) == 0:
			// Sidecar to sidecar needs it for certain; sidecar to an
			// ambient-only network is said as a warning (sidecar_interop.go
			// decides per endpoint).
			mk := failf
			if !sidecarNets[n] {
				mk = warnf
			}
			r = noted(mk(fmt.Sprintf("samples/multicluster/gen-eastwest-gateway.sh --network %s | istioctl --context %s install -y -f -\n%s apply -n istio-system -f samples/multicluster/expose-services.yaml", shellQuote(n), shellQuote(members[0]), kc(members[0])),
				"network %s has no sidecar east-west gateway (15443), but sidecars on other networks send to it: their cross-network traffic has no way in", n), why)
		case fromAmbient && len(ambientGW) == 0:
			mk := failf
			if !ambientNets[n] {
				mk = warnf
			}
			r = noted(mk(fmt.Sprintf("samples/multicluster/gen-eastwest-gateway.sh --network %s --ambient | %s apply -f -", shellQuote(n), kc(members[0])),
				"network %s has no ambient east-west Gateway (HBONE 15008), but ambient workloads on other networks send to it: their cross-network traffic has no way in", n), why)
		default:
			r = pass(fmt.Sprintf("network %s has the gateway kinds the other networks' data planes need", n))
		}
		r.Target = n
		out = append(out, with(r, ev...))
	}
	return out
}

// serviceKey is namespace/name.
func serviceKey(s *cluster.Service) string { return s.Namespace + "/" + s.Name }

// sharedServices maps each Service (namespace/name) found in at least two
// of the clusters to its copy in each, skipping istio-system and
// kube-system and the Services istiod makes for Gateways.
func sharedServices(cs []*mesh.Cluster) (map[string]map[string]*cluster.Service, []string) {
	all := map[string]map[string]*cluster.Service{}
	for _, c := range cs {
		for i := range c.Inv.Services {
			s := &c.Inv.Services[i]
			if s.Namespace == cluster.IstioNamespace || s.Namespace == "kube-system" || s.Namespace == "default" && s.Name == "kubernetes" ||
				s.Labels.Get(mesh.GatewayClassLabel) != "" {
				continue
			}
			k := serviceKey(s)
			if all[k] == nil {
				all[k] = map[string]*cluster.Service{}
			}
			all[k][c.Name] = s
		}
	}
	var keys []string
	for _, k := range sortedKeys(all) {
		if len(all[k]) >= 2 {
			keys = append(keys, k)
		}
	}
	return all, keys
}

// ambientGlobalServices mirrors services.go: istiod in cluster X takes a
// Service of another cluster Y only when X's serviceScopeConfigs make it
// GLOBAL (evaluated on Y's Service and namespace labels). A service that is
// global in some clusters and not in others is therefore reachable one
// way only.
func ambientGlobalServices(_ context.Context, env *Env) []Result {
	cs := ambientClusters(env.Mesh)
	if len(cs) < 2 {
		return []Result{skipf("fewer than two ambient clusters: no service to share")}
	}
	all, keys := sharedServices(cs)
	var out []Result
	byName := map[string]*mesh.Cluster{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	for _, k := range keys {
		copies := all[k]
		var global, local, unknown []string
		var ev []Evidence
		for _, cn := range sortedKeys(copies) {
			c := byName[cn]
			g, known, why := c.ServiceScope(copies[cn])
			ev = append(ev, Ev(cn, why))
			switch {
			case !known:
				unknown = append(unknown, cn)
			case g:
				global = append(global, cn)
			default:
				local = append(local, cn)
			}
		}
		if len(global) == 0 {
			continue // a local service in each cluster: not shared, by choice
		}
		var r Result
		switch {
		case len(local) > 0:
			cmds := make([]string, 0, len(local))
			for _, cn := range local {
				cmds = append(cmds, globalLabelCmd(byName[cn], copies[cn], byName[global[0]]))
			}
			r = noted(failf(strings.Join(cmds, "\n"),
				"service %s is global in %s but local in %s: istiod elsewhere ignores the local copies, so traffic crosses clusters one way only",
				k, strings.Join(global, ", "), strings.Join(local, ", ")),
				"the ambient multicluster guide labels the service in every cluster (kubectl label svc ... istio.io/global=true); service scope must match across clusters")
		case len(unknown) > 0:
			r = skipf("service %s is global in %s; the scope in %s is not known (no mesh config read)", k, strings.Join(global, ", "), strings.Join(unknown, ", "))
		default:
			r = pass(fmt.Sprintf("service %s is global in every cluster where it exists (%s)", k, strings.Join(global, ", ")))
		}
		r.Target = k
		out = append(out, with(r, ev...))
	}
	if len(out) == 0 {
		return []Result{skipf("no global service in two or more ambient clusters")}
	}
	return out
}

// globalLabelCmd is the label command that makes s global in c, from the
// GLOBAL serviceScopeConfigs entry of the cluster where it is global (the
// ambient profile's: istio.io/global=true).
func globalLabelCmd(c *mesh.Cluster, s *cluster.Service, from *mesh.Cluster) string {
	key, val := "istio.io/global", "true"
	mc := from.MeshConfig
	if from.Rev != nil && from.Rev.MeshConfig != nil {
		mc = from.Rev.MeshConfig
	}
	for _, sc := range mc.GetServiceScopeConfigs() {
		sel := sc.GetServicesSelector()
		if sel == nil {
			continue
		}
		found := false
		for k, v := range sel.GetMatchLabels() {
			key, val, found = k, v, true
			break
		}
		for _, e := range sel.GetMatchExpressions() {
			if !found && e.GetOperator() == "In" && len(e.GetValues()) > 0 {
				key, val, found = e.GetKey(), e.GetValues()[0], true
			}
		}
		if found {
			break
		}
	}
	return fmt.Sprintf("%s -n %s label svc %s %s=%s --overwrite", kc(c.Name), shellQuote(s.Namespace), shellQuote(s.Name), key, shellQuote(val))
}

// ambientWaypointNames: the guide assumes "universal waypoint deployments
// ... All clusters must have identically named waypoint deployments".
func ambientWaypointNames(_ context.Context, env *Env) []Result {
	cs := ambientClusters(env.Mesh)
	if len(cs) < 2 {
		return []Result{skipf("fewer than two ambient clusters: no waypoint to compare")}
	}
	all, keys := sharedServices(cs)
	byName := map[string]*mesh.Cluster{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	var out []Result
	for _, k := range keys {
		copies := all[k]
		anyGlobal := false
		uses := map[string][]string{} // waypoint → clusters
		var ev []Evidence
		for _, cn := range sortedKeys(copies) {
			c := byName[cn]
			if g, _, _ := c.ServiceScope(copies[cn]); g {
				anyGlobal = true
			}
			w := c.Waypoint(copies[cn])
			uses[w] = append(uses[w], cn)
			ev = append(ev, Ev(cn+" waypoint", orNone(w)))
		}
		if !anyGlobal || len(uses) == 1 && uses[""] != nil {
			continue // not shared, or no waypoint anywhere
		}
		var r Result
		if len(uses) > 1 {
			// The name most clusters use is the reference.
			ref := ""
			for w, cl := range uses {
				if w != "" && (ref == "" || len(cl) > len(uses[ref]) || len(cl) == len(uses[ref]) && w < ref) {
					ref = w
				}
			}
			var cmds, odd []string
			for _, w := range sortedKeys(uses) {
				if w == ref {
					continue
				}
				for _, cn := range uses[w] {
					odd = append(odd, fmt.Sprintf("%s in %s", orNone(w), cn))
					cmds = append(cmds, waypointLabelCmd(byName[cn], copies[cn], ref))
				}
			}
			r = noted(failf(strings.Join(cmds, "\n"),
				"global service %s uses waypoint %s in %s but %s: ambient multicluster needs the same waypoint name in every cluster",
				k, ref, strings.Join(uses[ref], ", "), strings.Join(odd, ", ")),
				"the limitation \"All clusters must have identically named waypoint deployments\" (istio.io ambient multicluster); make sure the waypoint exists in that cluster first (istioctl waypoint apply -n NAMESPACE --name NAME)")
		} else {
			var w string
			for w = range uses {
			}
			var missing []string
			for _, cn := range uses[w] {
				if !hasWaypoint(byName[cn], w) {
					missing = append(missing, cn)
				}
			}
			if len(missing) > 0 {
				ns, name, _ := strings.Cut(w, "/")
				cmds := make([]string, 0, len(missing))
				for _, cn := range missing {
					cmds = append(cmds, fmt.Sprintf("istioctl --context %s waypoint apply -n %s --name %s", shellQuote(cn), shellQuote(ns), shellQuote(name)))
				}
				r = failf(strings.Join(cmds, "\n"), "global service %s uses waypoint %s, which does not exist in %s", k, w, strings.Join(missing, ", "))
			} else {
				r = pass(fmt.Sprintf("global service %s uses waypoint %s in every cluster", k, w))
			}
		}
		r.Target = k
		out = append(out, with(r, ev...))
	}
	if len(out) == 0 {
		return []Result{skipf("no global service with a waypoint in two or more ambient clusters")}
	}
	return out
}

func hasWaypoint(c *mesh.Cluster, w string) bool {
	ns, name, _ := strings.Cut(w, "/")
	for _, g := range c.Waypoints() {
		if g.Namespace == ns && g.Name == name {
			return true
		}
	}
	return false
}

func waypointLabelCmd(c *mesh.Cluster, s *cluster.Service, w string) string {
	ns, name, _ := strings.Cut(w, "/")
	cmd := fmt.Sprintf("%s -n %s label svc %s %s=%s --overwrite", kc(c.Name), shellQuote(s.Namespace), shellQuote(s.Name), mesh.UseWaypointLabel, shellQuote(name))
	if ns != s.Namespace {
		cmd += fmt.Sprintf(" %s=%s", mesh.UseWaypointNSLbl, shellQuote(ns))
	}
	return cmd
}
