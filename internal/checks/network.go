package checks

import (
	"context"
	"fmt"
	"strings"

	"istio.io/api/label"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var networkChecks = []Check{
	{ID: "network.namespace-label", Title: "istio-system carries topology.istio.io/network (multi-network meshes)", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResNamespaces}, Cluster: namespaceLabel},
	{ID: "network.injector-network", Title: "the injector's global.network equals the namespace's network", Scope: PerCluster,
		DependsOn: []string{"network.namespace-label", "controlplane.mesh-config"}, Needs: []string{cluster.ResConfigMaps}, Cluster: injectorNetwork},
	{ID: "network.gateway-label", Title: "each east-west gateway Service and its pods carry the cluster's network", Scope: PerCluster,
		DependsOn: []string{"network.namespace-label"}, Needs: []string{cluster.ResServices, cluster.ResPods}, Cluster: gatewayLabel},
	{ID: "network.gateway-per-network", Title: "every network with peers on other networks has an east-west gateway", Scope: Mesh,
		DependsOn: []string{"network.namespace-label", "network.gateway-label"}, Mesh: gatewayPerNetwork},
}

func namespaceLabel(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	key := label.TopologyNetwork.Name
	// The network is known when the injector gives sidecars one; else the
	// command shows the values it would come from.
	fix, note := showValues(c), fmt.Sprintf("label istio-system with this cluster's network: %s label namespace istio-system %s=NETWORK", kc(c.Name), key)
	if c.Rev != nil && c.Rev.Network != "" {
		fix = fmt.Sprintf("%s label namespace istio-system %s=%s", kc(c.Name), key, shellQuote(c.Rev.Network))
		note = fmt.Sprintf("the network is the one the injector gives sidecars (global.network=%s)", c.Rev.Network)
	}
	if c.Network != "" {
		return []Result{pass("istio-system is on network "+c.Network, Ev(key, c.Network))}
	}
	var labelled []string
	for _, o := range env.Mesh.Reachable() {
		if o.Network != "" {
			labelled = append(labelled, o.Name+"="+o.Network)
		}
	}
	if len(labelled) == 0 {
		return []Result{pass("no cluster sets a network: a single-network mesh")}
	}
	r := noted(failf(fix, "istio-system has no %s label while other clusters set one: istiod cannot tell this cluster's network, endpoints cross networks without the gateway", key), note)
	return []Result{with(r, Ev("other clusters", strings.Join(labelled, ", ")))}
}

// injectorNetwork compares, per revision, the network the injector gives
// sidecars (global.network → ISTIO_META_NETWORK) with istio-system's label.
func injectorNetwork(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if len(c.Revisions) == 0 {
		return []Result{skipf("no injector ConfigMap in istio-system: nothing to compare")}
	}
	var out []Result
	for _, rev := range c.Revisions {
		var r Result
		v := rev.Network
		// Where the sidecars' ISTIO_META_NETWORK comes from: the webhook's
		// injection path wins over the values (parseInjectEnvs).
		src := rev.InjectorConfigMap
		switch {
		case rev.InjectNetwork != "":
			src = "webhook " + rev.Webhook + " injection path"
		case !rev.HasInjectorConfigMap && rev.ValuesConfigMap != "":
			src = rev.ValuesFrom()
		}
		ev := []Evidence{Ev("source", src), Ev("network", orNone(v)), Ev("namespace label", orNone(c.Network))}
		switch {
		case src == rev.InjectorConfigMap && !rev.HasInjectorConfigMap:
			r = skipf("revision %s has no injector ConfigMap %s: nothing to compare", rev.Name, rev.InjectorConfigMap)
		case rev.InjectorErr != nil:
			r = skipf("the injector values do not parse (see controlplane.mesh-config)")
		case v != "" && c.Network != "" && v != c.Network:
			r = noted(failf(fmt.Sprintf("%s label namespace istio-system %s=%s --overwrite", kc(c.Name), label.TopologyNetwork.Name, shellQuote(v)),
				"sidecars are injected with network %q (%s) but istio-system says %q", v, src, c.Network),
				fmt.Sprintf("the command relabels istio-system to the sidecars' network %s; if %s is the right network, reinstall instead with --set values.global.network=%s", v, c.Network, c.Network))
		case v == "":
			r = pass(fmt.Sprintf("%s sets no network: sidecars carry no network of their own, nothing conflicts", src))
		case c.Network == "":
			r = pass(fmt.Sprintf("%s sets network %s; istio-system has no network label (see network.namespace-label)", src, v))
		default:
			r = pass(fmt.Sprintf("%s network equals the namespace network: %s", src, v))
		}
		r.Target = c.RevisionTarget(rev)
		out = append(out, with(r, ev...))
	}
	return out
}

func gatewayLabel(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	gws, skip := gatewaysOf(c)
	if skip != nil {
		return skip
	}
	return perGateway(gws, func(g *mesh.Gateway) Result { return oneGatewayLabel(env, c, g) })
}

func oneGatewayLabel(env *Env, c *mesh.Cluster, gw *mesh.Gateway) Result {
	key := label.TopologyNetwork.Name
	svc := gw.Service
	fix := fmt.Sprintf("%s -n %s label svc %s %s=%s --overwrite", kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name), key, shellQuote(c.Network))
	if c.Network == "" {
		fix = fmt.Sprintf("%s -n %s label svc %s %s-", kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name), key)
	}
	if !env.Mesh.MultiNetwork() && gw.Network == "" {
		return pass(fmt.Sprintf("single-network mesh: gateway %s needs no network label", gw.Name()))
	}
	if gw.Network == "" {
		return failf(fix, "Service %s has no %s label: istiod does not use it as a network gateway", gw.Name(), key)
	}
	if gw.Network != c.Network {
		r := failf(fix, "gateway Service %s is labelled network %q but istio-system is on %q", gw.Name(), gw.Network, orNone(c.Network))
		return with(r, Ev("service label", gw.Network), Ev("namespace label", orNone(c.Network)))
	}
	sel := k8slabels.SelectorFromSet(svc.Spec.Selector.Map()).String()
	if gw.PodsUnread != "" {
		r := skipf("gateway Service %s is on network %s; its pods were not read: %s", gw.Name(), c.Network, gw.PodsUnread)
		r.Remediation = fmt.Sprintf("%s -n %s get pods -l %s -L %s", kc(c.Name), shellQuote(svc.Namespace), shellQuote(sel), key)
		return r
	}
	if len(gw.Pods) == 0 {
		return warnf(fmt.Sprintf("%s -n %s get pods -l %s", kc(c.Name), shellQuote(svc.Namespace), shellQuote(sel)),
			"gateway Service %s is on network %s, but no pod matches its selector %s: nothing behind it answers", gw.Name(), c.Network, sel)
	}
	var bad, names []string
	for _, p := range gw.Pods {
		names = append(names, p.Name)
		if n := gatewayPodNetwork(p); n != "" && n != c.Network {
			bad = append(bad, fmt.Sprintf("%s=%s", p.Name, n))
		}
	}
	ev := []Evidence{Ev("cluster network", c.Network), Ev("pods", strings.Join(names, ", "))}
	if len(bad) > 0 {
		return with(failf(fmt.Sprintf("%s -n %s set env %s ISTIO_META_NETWORK=%s", kc(c.Name), shellQuote(svc.Namespace), shellQuote("deploy/"+svc.Name), shellQuote(c.Network)),
			"gateway %s's pods are on another network than the cluster (%s)", gw.Name(), strings.Join(bad, ", ")), ev...)
	}
	return pass(fmt.Sprintf("gateway Service %s and its %d pod(s) are on network %s", gw.Name(), len(gw.Pods), c.Network), ev...)
}

// gatewayPodNetwork is the network a gateway pod declares: its label, else
// the ISTIO_META_NETWORK its proxy is given.
func gatewayPodNetwork(p cluster.GatewayPod) string {
	if n := p.Labels[label.TopologyNetwork.Name]; n != "" {
		return n
	}
	return p.MetaNetwork
}

func gatewayPerNetwork(_ context.Context, env *Env) []Result {
	m := env.Mesh
	nets := m.Networks()
	if len(m.Reachable()) == 0 {
		return []Result{skipf("no cluster was read")}
	}
	if len(nets) < 2 {
		return []Result{pass("single network: no east-west gateway needed")}
	}
	var out []Result
	for _, n := range nets {
		var members, gws []string
		for _, c := range m.Reachable() {
			if c.Network == n {
				members = append(members, c.Name)
			}
			for _, g := range c.Gateways {
				if g.Network == n {
					gws = append(gws, c.Name+"/"+g.Name())
				}
			}
			gws = append(gws, ambientGatewaysOn(c, n)...) // ambient.go
		}
		if len(gws) == 0 {
			var ignored []Evidence
			for _, c := range m.Reachable() {
				if c.Network != n {
					continue
				}
				for _, g := range c.GatewayCandidates {
					ignored = append(ignored, Ev("ignored "+c.Name+"/"+g.Name(), g.Ignored))
				}
			}
			r := noted(failf(fmt.Sprintf("samples/multicluster/gen-eastwest-gateway.sh --network %s | istioctl --context %s install -y -f -", shellQuote(n), shellQuote(members[0])),
				"network %s (%s) has no east-west gateway: other networks cannot reach its endpoints", n, strings.Join(members, ", ")),
				"run from the Istio release directory (samples/multicluster is part of it); add --revision if the cluster runs a revision")
			r.Target = n
			out = append(out, with(r, ignored...))
			continue
		}
		r := pass(fmt.Sprintf("network %s has gateway %s", n, strings.Join(gws, ", ")))
		r.Target = n
		out = append(out, r)
	}
	return out
}
