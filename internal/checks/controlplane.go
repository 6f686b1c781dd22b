package checks

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var controlPlaneChecks = []Check{
	{ID: "controlplane.istiod-ready", Title: "istiod runs and is ready (primaries), or the cluster is a configured remote",
		Scope: PerCluster, DependsOn: []string{ContextsReachable},
		Needs: []string{cluster.ResDeployments, cluster.ResConfigMaps, cluster.ResServices}, Cluster: istiodReady},
	{ID: "controlplane.topology", Title: "the control-plane topology is known (multi-primary, primary-remote)",
		Scope: Mesh, DependsOn: []string{"controlplane.istiod-ready"}, Mesh: topology},
	{ID: "controlplane.version-skew", Title: "Istio versions are equal or within one minor version",
		Scope: Mesh, DependsOn: []string{"controlplane.istiod-ready"}, Mesh: versionSkew},
	{ID: "controlplane.mesh-id", Title: "every cluster has the same meshID", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready"}, Mesh: meshIDEqual},
	{ID: "controlplane.cluster-id", Title: "every cluster has its own clusterName (CLUSTER_ID)", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready"}, Mesh: clusterIDUnique},
	{ID: "controlplane.trust-domain", Title: "every cluster has the same trust domain", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready"}, Mesh: trustDomainEqual},
	{ID: "controlplane.remote-discovery", Title: "a remote cluster's discovery address points at a primary",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready"}, Cluster: remoteDiscovery},
}

func istiodReady(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	switch c.Role {
	case mesh.Primary:
		d := c.Istiod
		ev := []Evidence{Ev("deployment", d.Namespace+"/"+d.Name), Ev("ready", fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, d.Status.Replicas)),
			Ev("version", c.Version), Ev("clusterID", c.ID)}
		if d.Status.ReadyReplicas < 1 {
			r := failf(fmt.Sprintf("%s -n istio-system describe deployment %s; %s -n istio-system logs deploy/%s", kc(c.Name), d.Name, kc(c.Name), d.Name),
				"istiod deployment %s has no ready replica", d.Name)
			return []Result{with(r, ev...)}
		}
		return []Result{pass(fmt.Sprintf("deployment %s ready (%d/%d), Istio %s", d.Name, d.Status.ReadyReplicas, d.Status.Replicas, orUnknown(c.Version)), ev...)}
	case mesh.Remote:
		return []Result{pass("remote cluster: its control plane runs in a primary",
			Ev("clusterID", c.ID), Ev("clusterID source", c.IDSource), Ev("remotePilotAddress", c.ValuesString("global", "remotePilotAddress")))}
	}
	return []Result{failf(fmt.Sprintf("%s -n istio-system get deploy,svc,cm; istioctl --context %s install (or the remote profile)", kc(c.Name), shellQuote(c.Name)),
		"no istiod and no remote control-plane configuration in istio-system")}
}

func topology(_ context.Context, env *Env) []Result {
	m := env.Mesh
	var ev []Evidence
	for _, c := range m.Reachable() {
		ev = append(ev, Ev(c.Name, fmt.Sprintf("%s, clusterID %s, network %s", c.Role, c.ID, orNone(c.Network))))
	}
	t := m.Topology()
	if t == "none" {
		return []Result{with(failf("istioctl install on at least one cluster", "no cluster runs istiod: there is no primary"), ev...)}
	}
	nets := m.Networks()
	netDesc := "single network"
	if len(nets) > 1 {
		netDesc = fmt.Sprintf("%d networks (%s)", len(nets), strings.Join(nets, ", "))
	}
	return []Result{pass(fmt.Sprintf("%s, %s", t, netDesc), ev...)}
}

func versionSkew(_ context.Context, env *Env) []Result {
	type mv struct{ major, minor int }
	var ev []Evidence
	var lo, hi *mv
	for _, c := range env.Mesh.Reachable() {
		if c.Version == "" {
			continue
		}
		ev = append(ev, Ev(c.Name, c.Version))
		maj, min, ok := parseMinor(c.Version)
		if !ok {
			continue
		}
		v := mv{maj, min}
		if lo == nil || v.major < lo.major || v.major == lo.major && v.minor < lo.minor {
			lo = &v
		}
		if hi == nil || v.major > hi.major || v.major == hi.major && v.minor > hi.minor {
			hi = &v
		}
	}
	if lo == nil {
		return []Result{with(skipf("no parseable Istio version (istiod image tags)"), ev...)}
	}
	skew := (hi.major-lo.major)*100 + hi.minor - lo.minor
	switch {
	case skew == 0:
		return []Result{pass(fmt.Sprintf("all clusters run Istio %d.%d", lo.major, lo.minor), ev...)}
	case skew == 1:
		return []Result{with(warnf("istioctl x precheck; upgrade the older control planes", "Istio versions differ by one minor version (%d.%d vs %d.%d): supported, but finish the upgrade", lo.major, lo.minor, hi.major, hi.minor), ev...)}
	}
	return []Result{with(failf("upgrade the older control planes one minor version at a time (istioctl upgrade)", "Istio versions %d.%d and %d.%d are more than one minor version apart", lo.major, lo.minor, hi.major, hi.minor), ev...)}
}

func parseMinor(v string) (int, int, bool) {
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	return maj, min, err1 == nil && err2 == nil
}

// equalAcross reports whether a per-cluster value is the same everywhere.
func equalAcross(env *Env, what string, value func(*mesh.Cluster) string, remedy func(*mesh.Cluster) string) []Result {
	groups := map[string][]string{}
	var ev []Evidence
	for _, c := range env.Mesh.Reachable() {
		v := value(c)
		groups[v] = append(groups[v], c.Name)
		ev = append(ev, Ev(c.Name, v))
	}
	if len(groups) <= 1 {
		for v := range groups {
			return []Result{pass(fmt.Sprintf("%s %q everywhere", what, v), ev...)}
		}
		return []Result{pass("no cluster to compare")}
	}
	var parts []string
	var fix []string
	for _, v := range sortedKeys(groups) {
		parts = append(parts, fmt.Sprintf("%q in %s", v, strings.Join(groups[v], ", ")))
	}
	for _, c := range env.Mesh.Reachable() {
		fix = append(fix, remedy(c))
	}
	return []Result{with(failf(strings.Join(fix, "; "), "%s differs: %s", what, strings.Join(parts, "; ")), ev...)}
}

func meshIDEqual(_ context.Context, env *Env) []Result {
	return equalAcross(env, "meshID", func(c *mesh.Cluster) string { return c.MeshID },
		func(c *mesh.Cluster) string {
			return kc(c.Name) + " -n istio-system get cm istio -o jsonpath='{.data.mesh}' | grep meshId"
		})
}

func trustDomainEqual(_ context.Context, env *Env) []Result {
	return equalAcross(env, "trust domain", func(c *mesh.Cluster) string { return c.TrustDomain },
		func(c *mesh.Cluster) string {
			return kc(c.Name) + " -n istio-system get cm istio -o jsonpath='{.data.mesh}' | grep trustDomain"
		})
}

func clusterIDUnique(_ context.Context, env *Env) []Result {
	byID := map[string][]string{}
	var ev []Evidence
	for _, c := range env.Mesh.Reachable() {
		if c.Role == mesh.NoControlPlane {
			continue
		}
		byID[c.ID] = append(byID[c.ID], c.Name)
		ev = append(ev, Ev(c.Name, c.ID+" ("+c.IDSource+")"))
	}
	var out []Result
	for _, id := range sortedKeys(byID) {
		if names := byID[id]; len(names) > 1 {
			r := failf("reinstall with a distinct --set values.global.multiCluster.clusterName=<name> per cluster",
				"clusterName %q is used by %s: istiod keeps one registry per cluster ID, so these clusters shadow each other", id, strings.Join(names, ", "))
			r.Target = id
			out = append(out, with(r, ev...))
		}
	}
	if len(out) == 0 {
		return []Result{pass("every cluster has its own clusterName", ev...)}
	}
	return out
}

func remoteDiscovery(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Remote {
		return []Result{skipf("not a remote cluster (role %s)", c.Role)}
	}
	addr := c.ValuesString("global", "remotePilotAddress")
	if addr == "" {
		return []Result{failf(kc(c.Name)+" -n istio-system get cm istio-sidecar-injector -o jsonpath='{.data.values}'",
			"remote cluster has no global.remotePilotAddress: its injector and proxies cannot reach a primary istiod")}
	}
	for _, p := range env.Mesh.Primaries() {
		if p.GatewayWithAddress(addr) != nil {
			return []Result{pass(fmt.Sprintf("discovery address %s is primary %s's east-west gateway", addr, p.Name),
				Ev("remotePilotAddress", addr), Ev("primary", p.Name))}
		}
		if s := p.Inv.Service(cluster.IstioNamespace, "istiod"); s != nil {
			for _, ing := range s.Status.LoadBalancer.Ingress {
				if ing.IP == addr || ing.Hostname == addr {
					return []Result{pass(fmt.Sprintf("discovery address %s is primary %s's istiod load balancer", addr, p.Name),
						Ev("remotePilotAddress", addr), Ev("primary", p.Name))}
				}
			}
		}
	}
	var known []string
	for a, gc := range env.Mesh.GatewayAddresses() {
		known = append(known, a+" ("+gc.Name+")")
	}
	r := failf(fmt.Sprintf("%s -n istio-system get svc istio-eastwestgateway -o wide (on the primary); reinstall the remote with --set values.global.remotePilotAddress=<that address>", kc(c.Name)),
		"remote cluster's discovery address %s is not the east-west gateway or istiod address of any primary", addr)
	return []Result{with(r, Ev("remotePilotAddress", addr), Ev("known gateway addresses", strings.Join(slices.Sorted(slices.Values(known)), ", ")))}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
