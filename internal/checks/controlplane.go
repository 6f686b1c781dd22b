package checks

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"istio.io/api/label"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var controlPlaneChecks = []Check{
	{ID: "controlplane.istiod-ready", Title: "istiod runs and is ready (primaries, every revision), or the cluster is a configured remote",
		Scope: PerCluster, DependsOn: []string{ContextsReachable},
		Needs: []string{cluster.ResDeployments, cluster.ResConfigMaps, cluster.ResServices}, Cluster: istiodReady},
	{ID: "controlplane.mesh-config", Title: "each revision's mesh ConfigMap and injector values parse",
		Scope: PerCluster, DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResConfigMaps}, Cluster: meshConfigParses},
	{ID: "controlplane.topology", Title: "the control-plane topology is known (multi-primary, primary-remote)",
		Scope: Mesh, DependsOn: []string{"controlplane.istiod-ready"}, Mesh: topology},
	{ID: "controlplane.version-skew", Title: "Istio versions are equal or within one minor version",
		Scope: Mesh, DependsOn: []string{"controlplane.istiod-ready"}, Mesh: versionSkew},
	{ID: "controlplane.mesh-id", Title: "every revision of every cluster has the same meshID", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready", "controlplane.mesh-config"}, Mesh: meshIDEqual},
	{ID: "controlplane.cluster-id", Title: "every cluster has its own clusterName (CLUSTER_ID)", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready"}, Mesh: clusterIDUnique},
	{ID: "controlplane.trust-domain", Title: "every revision accepts every other's trust domain (equal, or in trustDomainAliases)", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready", "controlplane.mesh-config"}, Mesh: trustDomainAccepted},
	{ID: "controlplane.remote-discovery", Title: "a remote cluster's discovery address points at a primary",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready"}, Cluster: remoteDiscovery},
	{ID: "controlplane.namespace-revision", Title: "every istio.io/rev namespace label names a revision or revision tag of its cluster",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResNamespaces}, Cluster: namespaceRevision},
}

// revResult sets the revision a result is about as its target.
func revResult(c *mesh.Cluster, r *mesh.Revision, res Result) Result {
	if res.Target == "" {
		res.Target = c.RevisionTarget(r)
	}
	return res
}

// revKey names a revision of a cluster in evidence: the context, with the
// revision when the cluster has more than the default one.
func revKey(c *mesh.Cluster, r *mesh.Revision) string {
	if t := c.RevisionTarget(r); t != "" {
		return c.Name + " " + t
	}
	return c.Name
}

func istiodReady(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	switch c.Role {
	case mesh.Primary:
		var out []Result
		for _, rev := range c.Revisions {
			d := rev.Istiod
			if d == nil {
				var has []string
				if rev.HasInjectorConfigMap {
					has = append(has, "ConfigMap "+rev.InjectorConfigMap)
				}
				if rev.Webhook != "" {
					has = append(has, "webhook "+rev.Webhook)
				}
				r := warnf(fmt.Sprintf("%s -n istio-system get deploy,cm -l istio.io/rev=%s; %s get mutatingwebhookconfigurations -l istio.io/rev=%s", kc(c.Name), shellQuote(rev.Name), kc(c.Name), shellQuote(rev.Name)),
					"revision %s has %s but no istiod Deployment in istio-system: a leftover of a removed revision? (a webhook of it calls an istiod that does not run here)", rev.Name, strings.Join(has, " and "))
				out = append(out, revResult(c, rev, r))
				continue
			}
			ev := []Evidence{Ev("deployment", d.Namespace+"/"+d.Name), Ev("revision", rev.Name), Ev("ready", fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, d.Status.Replicas)),
				Ev("version", rev.Version), Ev("clusterID", rev.ID)}
			if d.Status.ReadyReplicas < 1 {
				r := failf(fmt.Sprintf("%s -n istio-system describe deployment %s; %s -n istio-system logs %s", kc(c.Name), shellQuote(d.Name), kc(c.Name), shellQuote("deploy/"+d.Name)),
					"istiod deployment %s has no ready replica", d.Name)
				out = append(out, revResult(c, rev, with(r, ev...)))
				continue
			}
			out = append(out, revResult(c, rev, pass(fmt.Sprintf("deployment %s ready (%d/%d), Istio %s", d.Name, d.Status.ReadyReplicas, d.Status.Replicas, orUnknown(rev.Version)), ev...)))
		}
		return out
	case mesh.Remote:
		var names []string
		for _, rev := range c.Revisions {
			names = append(names, rev.Name)
		}
		return []Result{pass("remote cluster: its control plane runs in a primary",
			Ev("clusterID", c.ID), Ev("clusterID source", c.IDSource), Ev("remotePilotAddress", c.ValuesString("global", "remotePilotAddress")),
			Ev("revisions", strings.Join(names, ", ")))}
	}
	return []Result{noted(failf(fmt.Sprintf("%s -n istio-system get deploy,svc,cm", kc(c.Name)),
		"no istiod and no remote control-plane configuration in istio-system"),
		fmt.Sprintf("install a control plane: istioctl --context %s install, with the remote profile if its istiod runs in a primary", shellQuote(c.Name)))}
}

// meshConfigParses reports, per revision, whether its mesh ConfigMap and
// injector values parse. A ConfigMap that does not is an error naming it:
// meshdoctor then cannot tell the revision's identity, and the checks that
// compare identities are skipped rather than run on a default.
func meshConfigParses(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if len(c.Revisions) == 0 {
		return []Result{skipf("no revision in istio-system (no istiod Deployment, no %s ConfigMap)", mesh.InjectorConfigMapName(mesh.DefaultRevision))}
	}
	var out []Result
	for _, rev := range c.Revisions {
		show := func(cm, key string) string {
			return fmt.Sprintf("%s -n istio-system get cm %s -o jsonpath='{.data.%s}'", kc(c.Name), shellQuote(cm), key)
		}
		bad := false
		if rev.MeshConfigErr != nil {
			bad = true
			out = append(out, revResult(c, rev, Result{Status: Error, Message: rev.MeshConfigErr.Error(), Remediation: show(rev.MeshConfigMap, "mesh"),
				Evidence: []Evidence{Ev("configmap", cluster.IstioNamespace+"/"+rev.MeshConfigMap), Ev("key", "mesh")}}))
		}
		if rev.InjectorErr != nil {
			bad = true
			out = append(out, revResult(c, rev, Result{Status: Error, Message: rev.InjectorErr.Error(), Remediation: show(rev.ValuesConfigMap, rev.ValuesKey),
				Evidence: []Evidence{Ev("configmap", cluster.IstioNamespace+"/"+rev.ValuesConfigMap), Ev("key", rev.ValuesKey)}}))
		}
		if bad {
			continue
		}
		meshCM, injCM := rev.MeshConfigMap, rev.InjectorConfigMap
		if !rev.HasMeshConfigMap {
			meshCM += " (absent: istiod's defaults)"
		}
		switch {
		case !rev.HasInjectorConfigMap && rev.ValuesConfigMap != "":
			injCM += " (absent; values read from " + rev.ValuesFrom() + ")"
		case !rev.HasInjectorConfigMap:
			injCM += " (absent)"
		}
		out = append(out, revResult(c, rev, pass(fmt.Sprintf("revision %s: mesh config and injector values parse", rev.Name),
			Ev("mesh configmap", meshCM), Ev("injector configmap", injCM), Ev("meshID", rev.MeshID+" ("+rev.MeshIDSource+")"),
			Ev("trust domain", rev.TrustDomain))))
	}
	return out
}

func topology(_ context.Context, env *Env) []Result {
	m := env.Mesh
	var ev []Evidence
	for _, c := range m.Reachable() {
		ev = append(ev, Ev(c.Name, fmt.Sprintf("%s, clusterID %s, network %s", c.Role, c.ID, orNone(c.Network))))
	}
	t := m.Topology()
	if t == "none" {
		var show []string
		for _, c := range m.Reachable() {
			show = append(show, kc(c.Name)+" -n istio-system get deploy,cm")
		}
		return []Result{with(noted(failf(strings.Join(show, "\n"), "no cluster runs istiod: there is no primary"),
			"install istiod (istioctl install) on at least one cluster: it becomes the primary"), ev...)}
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
	parsed := 0
	for _, c := range env.Mesh.Reachable() {
		// Revisions of one cluster may differ during a canary upgrade: that
		// is expected, so clusters are compared by the revision that speaks
		// for them (the default tag's, else the default revision).
		for _, r := range c.Revisions {
			if r != c.Rev && r.Version != "" {
				ev = append(ev, Ev(revKey(c, r), r.Version+" (canary: not compared)"))
			}
		}
		if c.Version == "" {
			continue
		}
		key := c.Name
		if c.Rev != nil {
			key = revKey(c, c.Rev)
		}
		ev = append(ev, Ev(key, c.Version))
		maj, min, ok := parseMinor(c.Version)
		if !ok {
			continue
		}
		parsed++
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
	if parsed < 2 {
		return []Result{with(tooFew("clusters with a parseable Istio version", parsed), ev...)}
	}
	skew := (hi.major-lo.major)*100 + hi.minor - lo.minor
	switch {
	case skew == 0:
		return []Result{pass(fmt.Sprintf("all clusters run Istio %d.%d", lo.major, lo.minor), ev...)}
	case skew == 1:
		return []Result{with(noted(warnf(versionCmds(env), "Istio versions differ by one minor version (%d.%d vs %d.%d): supported, but finish the upgrade", lo.major, lo.minor, hi.major, hi.minor),
			"finish the upgrade: upgrade the older control planes (istioctl x precheck, then istioctl upgrade)"), ev...)}
	}
	return []Result{with(noted(failf(versionCmds(env), "Istio versions %d.%d and %d.%d are more than one minor version apart", lo.major, lo.minor, hi.major, hi.minor),
		"upgrade the older control planes one minor version at a time (istioctl x precheck, then istioctl upgrade)"), ev...)}
}

// versionCmds shows the Istio version of every reachable cluster.
func versionCmds(env *Env) string {
	var out []string
	for _, c := range env.Mesh.Reachable() {
		out = append(out, fmt.Sprintf("istioctl --context %s version", shellQuote(c.Name)))
	}
	return strings.Join(out, "\n")
}

// showValues is the command that shows a cluster's injector values, where
// clusterName, network and remotePilotAddress are set.
func showValues(c *mesh.Cluster) string {
	switch {
	case c.Rev != nil && c.Rev.ValuesConfigMap != "":
		return fmt.Sprintf("%s -n istio-system get cm %s -o jsonpath='{.data.%s}'", kc(c.Name), shellQuote(c.Rev.ValuesConfigMap), c.Rev.ValuesKey)
	case c.Rev != nil && c.Rev.InjectorConfigMap != "":
		return fmt.Sprintf("%s -n istio-system get cm %s -o jsonpath='{.data.values}'", kc(c.Name), shellQuote(c.Rev.InjectorConfigMap))
	}
	return fmt.Sprintf("%s -n istio-system get cm -l istio.io/rev", kc(c.Name))
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

// clusterRev is one revision of one cluster.
type clusterRev struct {
	c *mesh.Cluster
	r *mesh.Revision
}

// revisionsOf lists every revision of every reachable cluster.
func revisionsOf(m *mesh.Mesh) []clusterRev {
	var out []clusterRev
	for _, c := range m.Reachable() {
		for _, r := range c.Revisions {
			out = append(out, clusterRev{c, r})
		}
	}
	return out
}

// showMesh is the command that shows where a revision's mesh setting
// comes from: its mesh ConfigMap, else its injector values.
func showMesh(c *mesh.Cluster, r *mesh.Revision, grep string) string {
	switch {
	case r.HasMeshConfigMap:
		return fmt.Sprintf("%s -n istio-system get cm %s -o jsonpath='{.data.mesh}' | grep %s", kc(c.Name), shellQuote(r.MeshConfigMap), grep)
	case r.HasInjectorConfigMap:
		return fmt.Sprintf("%s -n istio-system get cm %s -o jsonpath='{.data.values}'", kc(c.Name), shellQuote(r.InjectorConfigMap))
	}
	return fmt.Sprintf("%s -n istio-system get cm -l istio.io/rev=%s", kc(c.Name), shellQuote(r.Name))
}

// tooFew is the result of a comparison with fewer than two things to
// compare: skipped, never a pass, since nothing was compared (a single
// cluster, or every other one unreachable).
func tooFew(things string, n int) Result {
	return skipf("fewer than two %s to compare (%d read)", things, n)
}

// meshIDEqual compares the meshID of every revision of every cluster.
func meshIDEqual(_ context.Context, env *Env) []Result {
	groups := map[string][]string{}
	var fix []string
	var evs []Evidence
	for _, cr := range revisionsOf(env.Mesh) {
		key := revKey(cr.c, cr.r)
		if cr.r.InjectedElsewhere() {
			evs = append(evs, Ev(key, "set by the primary's istiod that injects it (no mesh or injector ConfigMap here)"))
			continue
		}
		groups[cr.r.MeshID] = append(groups[cr.r.MeshID], key)
		evs = append(evs, Ev(key, cr.r.MeshID+" ("+cr.r.MeshIDSource+")"))
		fix = append(fix, showMesh(cr.c, cr.r, "meshId"))
	}
	compared := 0
	for _, g := range groups {
		compared += len(g)
	}
	if compared < 2 {
		return []Result{with(tooFew("revisions", compared), evs...)}
	}
	switch len(groups) {
	case 1:
		for v := range groups {
			return []Result{pass(fmt.Sprintf("meshID %q everywhere", v), evs...)}
		}
	}
	var parts []string
	for _, v := range sortedKeys(groups) {
		parts = append(parts, fmt.Sprintf("%q in %s", v, strings.Join(groups[v], ", ")))
	}
	return []Result{with(failf(strings.Join(fix, "; "), "meshID differs: %s", strings.Join(parts, "; ")), evs...)}
}

// trustDomainAccepted: a proxy accepts a peer whose SPIFFE trust domain is
// its mesh's trustDomain or one of its trustDomainAliases. Istio mirrors
// this on both ends: the client matches the server's SAN against service
// accounts expanded with the aliases (pilot/pkg/model/push_context.go
// addServiceAccounts → pkg/spiffe ExpandWithTrustDomains, built from the
// local trust domain, pilot/pkg/serviceregistry/kube SecureNamingSAN), the
// server validates the client against trustDomain + aliases
// (pilot/pkg/networking/plugin/authn TrustDomainsForValidation). So every
// revision must accept every other revision's trust domain, in every
// cluster and between revisions of one cluster.
func trustDomainAccepted(_ context.Context, env *Env) []Result {
	// A revision injected by a primary's istiod gets that istiod's trust
	// domain: it is compared through the primary.
	all := slices.DeleteFunc(revisionsOf(env.Mesh), func(cr clusterRev) bool { return cr.r.InjectedElsewhere() })
	if len(all) < 2 {
		return []Result{tooFew("revisions", len(all))}
	}
	var ev []Evidence
	domains := map[string]bool{}
	withAliases := false
	for _, cr := range all {
		v := cr.r.TrustDomain
		if len(cr.r.TrustDomainAliases) > 0 {
			withAliases = true
			v += " (aliases " + strings.Join(cr.r.TrustDomainAliases, ", ") + ")"
		}
		ev = append(ev, Ev(revKey(cr.c, cr.r), v))
		domains[cr.r.TrustDomain] = true
	}
	var problems, fix []string
	for _, a := range all {
		missing := false
		for _, b := range all {
			if a == b || b.r.TrustDomain == a.r.TrustDomain || slices.Contains(a.r.TrustDomainAliases, b.r.TrustDomain) {
				continue
			}
			missing = true
			problems = append(problems, fmt.Sprintf("%s (%s) does not accept %s's %s", revKey(a.c, a.r), a.r.TrustDomain, revKey(b.c, b.r), b.r.TrustDomain))
		}
		if missing {
			fix = append(fix, showMesh(a.c, a.r, "-A3 trustDomain"))
		}
	}
	names := slices.Sorted(maps.Keys(domains))
	if len(problems) == 0 {
		if len(names) == 1 {
			return []Result{pass(fmt.Sprintf("trust domain %q everywhere", names[0]), ev...)}
		}
		return []Result{pass(fmt.Sprintf("trust domains %s differ, but every revision lists the others in trustDomainAliases", strings.Join(names, ", ")), ev...)}
	}
	hint := "add the other trust domain to trustDomainAliases, or use one trust domain"
	if !withAliases {
		hint = "use one trust domain, or list the others in trustDomainAliases"
	}
	r := failf(strings.Join(fix, "; "), "trust domains differ and are not aliased: %s; mTLS between them fails the SAN check (%s)", strings.Join(problems, "; "), hint)
	return []Result{with(r, ev...)}
}

func clusterIDUnique(_ context.Context, env *Env) []Result {
	byID := map[string][]string{}
	var ev []Evidence
	for _, c := range env.Mesh.Reachable() {
		if c.Role == mesh.NoControlPlane {
			continue
		}
		if c.ID == "" {
			// The injector values do not parse (controlplane.mesh-config
			// says so): the cluster's name cannot be compared.
			ev = append(ev, Ev(c.Name, "unknown ("+c.IDSource+")"))
			continue
		}
		byID[c.ID] = append(byID[c.ID], c.Name)
		ev = append(ev, Ev(c.Name, c.ID+" ("+c.IDSource+")"))
	}
	var out []Result
	for _, id := range sortedKeys(byID) {
		if names := byID[id]; len(names) > 1 {
			var show []string
			for _, n := range names {
				if c := env.Mesh.Cluster(n); c != nil {
					show = append(show, showValues(c))
				}
			}
			r := noted(failf(strings.Join(show, "\n"),
				"clusterName %q is used by %s: istiod keeps one registry per cluster ID, so these clusters shadow each other", id, strings.Join(names, ", ")),
				"reinstall each of these clusters with its own --set values.global.multiCluster.clusterName")
			r.Target = id
			out = append(out, with(r, ev...))
		}
	}
	if len(out) == 0 {
		named := 0
		for _, names := range byID {
			named += len(names)
		}
		if named < 2 {
			return []Result{with(tooFew("clusters", named), ev...)}
		}
		return []Result{pass("every cluster has its own clusterName", ev...)}
	}
	return out
}

func remoteDiscovery(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Remote {
		return []Result{skipf("not a remote cluster (role %s)", c.Role)}
	}
	if err := c.Rev.InjectorErr; err != nil {
		return []Result{skipf("the injector values do not parse (see controlplane.mesh-config): %v", err)}
	}
	addr := c.ValuesString("global", "remotePilotAddress")
	if addr == "" {
		return []Result{noted(failf(showValues(c),
			"remote cluster has no global.remotePilotAddress: its injector and proxies cannot reach a primary istiod"),
			"reinstall the remote with --set values.global.remotePilotAddress set to a primary's east-west gateway address")}
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
	// A primary gateway still without an address may be the one: that is
	// gateway.address's failure, and this check cannot tell.
	var pending []string
	for _, p := range env.Mesh.Primaries() {
		for _, g := range p.Gateways {
			if len(g.Addresses) == 0 {
				pending = append(pending, p.Name+"/"+g.Service.Namespace+"/"+g.Service.Name)
			}
		}
	}
	if len(pending) > 0 {
		return []Result{with(skipf("discovery address %s is no primary's gateway or istiod address, but gateway %s has no address yet (see gateway.address): cannot tell", addr, strings.Join(pending, ", ")),
			Ev("remotePilotAddress", addr))}
	}
	var known []string
	for a, gc := range env.Mesh.GatewayAddresses() {
		known = append(known, a+" ("+gc.Name+")")
	}
	show := []string{showValues(c)}
	for _, p := range env.Mesh.Primaries() {
		show = append(show, fmt.Sprintf("%s get svc -A -l %s -o wide", kc(p.Name), label.TopologyNetwork.Name))
	}
	r := noted(failf(strings.Join(show, "\n"),
		"remote cluster's discovery address %s is not the east-west gateway or istiod address of any primary", addr),
		"reinstall the remote with --set values.global.remotePilotAddress set to a primary's east-west gateway address (see the evidence \"known gateway addresses\")")
	return []Result{with(r, Ev("remotePilotAddress", addr), Ev("known gateway addresses", strings.Join(slices.Sorted(slices.Values(known)), ", ")))}
}

// namespaceRevision resolves every istio.io/rev namespace label the way the
// injector webhooks select namespaces (istio-discovery templates
// mutatingwebhook.yaml and revision-tags-mwc.yaml): each revision's webhook
// matches istio.io/rev=<revision>, each tag's istio.io/rev=<tag>, and all
// of them require istio-injection to be absent, since istio-injection wins.
func namespaceRevision(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	var revs, tags []string
	for _, r := range c.Revisions {
		revs = append(revs, r.Name)
	}
	for _, t := range sortedKeys(c.Tags) {
		tags = append(tags, t+" → "+c.Tags[t])
	}
	known := []Evidence{Ev("revisions", orNone(strings.Join(revs, ", "))), Ev("tags", orNone(strings.Join(tags, ", ")))}
	webhookErr := c.Inv.Err(cluster.ResMutatingWebhooks)
	if webhookErr != nil {
		known[1] = Ev("tags", "unknown: "+webhookErr.Error())
	}
	fixRev := mesh.DefaultRevision
	if c.Rev != nil {
		fixRev = c.Rev.Name
	}
	var out []Result
	nss := slices.Clone(c.Inv.Namespaces)
	slices.SortFunc(nss, func(a, b corev1.Namespace) int { return strings.Compare(a.Name, b.Name) })
	for _, ns := range nss {
		v, ok := ns.Labels[label.IoIstioRev.Name]
		if !ok {
			continue
		}
		target := "namespace " + ns.Name
		relabel := fmt.Sprintf("%s label namespace %s %s=%s --overwrite", kc(c.Name), shellQuote(ns.Name), label.IoIstioRev.Name, shellQuote(fixRev))
		var r Result
		if inj, ok := ns.Labels["istio-injection"]; ok {
			// istioctl analyze reports the same (IST0123 NamespaceMultipleInjectionLabels).
			r = warnf(fmt.Sprintf("%s label namespace %s istio-injection-", kc(c.Name), shellQuote(ns.Name)),
				"namespace %s has istio-injection=%s and istio.io/rev=%s: istio-injection wins, the revision label is ignored", ns.Name, inj, v)
		} else if rev, tag := c.ResolveRevision(v); rev != nil {
			msg := fmt.Sprintf("namespace %s uses revision %s", ns.Name, rev.Name)
			if tag != "" {
				msg = fmt.Sprintf("namespace %s uses tag %s → revision %s", ns.Name, tag, rev.Name)
			}
			r = pass(msg)
		} else if tag != "" {
			r = failf(relabel, "namespace %s uses tag %s, whose webhook points at revision %s, which has no istiod or injector ConfigMap in this cluster: pods there cannot be injected", ns.Name, tag, c.Tags[tag])
		} else if webhookErr != nil {
			r = warnf(fmt.Sprintf("%s get mutatingwebhookconfigurations -l istio.io/tag", kc(c.Name)),
				"namespace %s has istio.io/rev=%s, which is no revision of this cluster, and revision tags could not be read", ns.Name, v)
		} else {
			r = failf(relabel, "namespace %s has istio.io/rev=%s, which names no revision or revision tag of this cluster: no injector webhook matches it, its new pods get no sidecar", ns.Name, v)
		}
		r.Target = target
		out = append(out, with(r, append([]Evidence{Ev("istio.io/rev", v)}, known...)...))
	}
	if len(out) == 0 {
		return []Result{pass("no namespace selects a revision with istio.io/rev", known...)}
	}
	return out
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
