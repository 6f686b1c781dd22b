package checks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// Admiral (github.com/istio-ecosystem/admiral) writes the `.global`
// ServiceEntries of a multi-cluster mesh from its remote-cluster secrets,
// the workloads' identity labels and GlobalTrafficPolicies. Formats and
// defaults: internal/cluster/inventory_admiral.go.
var admiralChecks = []Check{
	{ID: "admiral.remote-secrets", Title: "Admiral's admiral/sync secrets parse, point at clusters of the mesh and hold live tokens", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Cluster: admiralRemoteSecrets},
	{ID: "admiral.remote-access", Title: "each Admiral secret's server answers and accepts its credentials", Scope: Pair, Network: true,
		DependsOn: []string{"admiral.remote-secrets"}, Cluster: admiralRemoteAccess},
	{ID: "admiral.serviceentry-gateways", Title: "each ServiceEntry Admiral generated sends to the current gateways of the clusters where its identity runs", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries, cluster.ResAdmiralIdentityPods}, Cluster: admiralServiceEntryGateways},
	{ID: "admiral.gtp-regions", Title: "every region a GlobalTrafficPolicy names is a region of the mesh's nodes", Scope: Mesh,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResAdmiralGTPs, cluster.ResNodes}, Mesh: admiralGTPRegions},
	{ID: "admiral.dependencies", Title: "each Dependency is in the namespace Admiral watches (--dependency_namespace)", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResAdmiralDependencies}, Cluster: admiralDependencies},
	{ID: "admiral.gtp-destinationrule", Title: "the DestinationRule Admiral generated for a GlobalTrafficPolicy's host carries the policy", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries, cluster.ResDestinationRules}, Cluster: admiralGTPDestinationRule},
}

// admiralOf returns a cluster's Admiral inventory, or the skip that says
// why there is none.
func admiralOf(c *mesh.Cluster) (*cluster.Admiral, *Result) {
	a := c.Inv.Admiral
	switch {
	case a == nil:
		r := skipf("Admiral's objects were not read (an inventory of an older meshdoctor)")
		return nil, &r
	case !a.Installed:
		r := skipf("Admiral is not installed: the API server serves no admiral.io Dependency or GlobalTrafficPolicy")
		return nil, &r
	}
	return a, nil
}

// admiralFlags are the flags of the Admiral that writes c's generated
// objects: c's own Admiral Deployment's, else those of the first cluster
// of the run where one was found (Admiral writes its ServiceEntries and
// DestinationRules into every cluster it watches), else Admiral's defaults
// (admiral/cmd/admiral/cmd/root.go).
func admiralFlags(env *Env, c *mesh.Cluster) cluster.AdmiralFlags {
	if f := c.Inv.Admiral.FlagsOrDefault(); f.From != "" {
		return f
	}
	for _, o := range env.Mesh.Reachable() {
		if f := o.Inv.Admiral.FlagsOrDefault(); f.From != "" {
			return f
		}
	}
	return c.Inv.Admiral.FlagsOrDefault()
}

// flagsEvidence says which Deployment's flags a result used, when they
// are not the defaults; nil otherwise.
func flagsEvidence(c *mesh.Cluster, f cluster.AdmiralFlags) []Evidence {
	if f.From == "" {
		return nil
	}
	where := f.From
	if c.Inv.Admiral.FlagsOrDefault().From != f.From {
		where += " (another cluster's Admiral)"
	}
	ev := []Evidence{Ev("admiral flags", fmt.Sprintf("from Deployment %s: --secret_namespace=%s --sync_namespace=%s --hostname_suffix=%s", where, f.SecretNamespace, f.SyncNamespace, f.HostnameSuffix))}
	if len(f.Unread) > 0 {
		ev = append(ev, Ev("admiral flags not used", strings.Join(f.Unread, " ")+" (their defaults are assumed)"))
	}
	return ev
}

func admiralSecretCmd(c *mesh.Cluster, secret, key string) string {
	return fmt.Sprintf("%s -n %s get secret %s -o jsonpath=%s | base64 -d | grep -E '^ *server:'", kc(c.Name), c.Inv.Admiral.FlagsOrDefault().SecretNamespace, shellQuote(secret), shellQuote("{.data."+strings.ReplaceAll(key, ".", `\.`)+"}"))
}

func eachAdmiralKubeconfig(c *mesh.Cluster, fn func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig) []Result) []Result {
	a, skip := admiralOf(c)
	if skip != nil {
		return []Result{*skip}
	}
	f := a.FlagsOrDefault()
	ns, label := f.SecretNamespace, f.SecretFilterTags
	if !a.SecretsListed {
		if c.Inv.Err(cluster.ResNamespaces) == nil && c.Inv.Namespace(ns) == nil {
			return []Result{skipf("no namespace %s: Admiral's controller does not run here (a cluster Admiral watches has its CRDs only)", ns)}
		}
		if a.SecretsError == nil {
			return []Result{skipf("the %s secrets of namespace %s were not listed", label, ns)}
		}
		r := Result{Status: Error, Message: fmt.Sprintf("cannot list the %s secrets of namespace %s: %s", label, ns, a.SecretsError.Error()),
			Remediation: fmt.Sprintf("%s -n %s create role meshdoctor-admiral --verb=get,list --resource=secrets\n%s -n %s create rolebinding meshdoctor-admiral --role=meshdoctor-admiral --group=meshdoctor:readers",
				kc(c.Name), ns, kc(c.Name), ns),
			Note: "deploy/rbac.yaml: where Admiral runs, meshdoctor needs a Role to read its secrets; the commands grant it to the group meshdoctor:readers (run them as an admin)"}
		return []Result{r}
	}
	if len(a.Secrets) == 0 {
		return []Result{skipf("no %s=true secret in namespace %s: Admiral watches no remote cluster from here", label, ns)}
	}
	var out []Result
	for _, rs := range a.Secrets {
		for _, rk := range rs.Kubeconfigs {
			for _, r := range fn(rs, rk) {
				if r.Target == "" {
					r.Target = ns + "/" + rs.Name + "/" + rk.ClusterID
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// admiralRemoteSecrets: Admiral builds its client with clientcmd's defaults
// (admiral/pkg/controller/secret/secretcontroller.go createRemoteCluster),
// so unlike istiod it would run an exec plugin; meshdoctor never does.
func admiralRemoteSecrets(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	return eachAdmiralKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig) []Result {
		show := admiralSecretCmd(c, rs.Name, rk.ClusterID)
		if rk.ParseError != "" {
			return []Result{noted(failf(show, "Admiral secret %s key %s: %s", rs.Name, rk.ClusterID, rk.ParseError),
				"Admiral skips a key whose kubeconfig does not load; regenerate it (Admiral's install/scripts/cluster-secret.sh)")}
		}
		ev := []Evidence{Ev("server", rk.Server), Ev("auth", rk.Auth)}
		if kind := cluster.LocalAddressKind(serverHost(rk.Server)); kind != "" {
			return []Result{with(noted(failf(show, "server %s is a %s address: Admiral would dial its own pod or node, not cluster %s", rk.Server, kind, rk.ClusterID),
				"regenerate the secret with the API server address Admiral's pod can reach"), ev...)}
		}
		target := env.Mesh.ByServer(rk.Server)
		if target == nil {
			if t := env.Mesh.ByID(rk.ClusterID); len(t) == 1 {
				target = t[0]
			} else if t := env.Mesh.Cluster(rk.ClusterID); t != nil {
				target = t
			}
		}
		if target == nil {
			return []Result{with(noted(warnf(show, "key %s (server %s) is no cluster meshdoctor reads", rk.ClusterID, orNone(rk.Server)),
				"add the cluster's context to the run, or delete the secret if that cluster is gone: Admiral keeps generating entries for it"), ev...)}
		}
		if rk.Auth == "none" {
			return []Result{with(noted(failf(show, "kubeconfig for %s has no credentials", rk.ClusterID), "regenerate the secret with a service-account token"), ev...)}
		}
		if rk.TokenExpiry != nil {
			exp := *rk.TokenExpiry
			ev = append(ev, Ev("token exp", exp.Format(time.RFC3339)), Ev("subject", rk.TokenSubject))
			switch {
			case env.Now.After(exp):
				r := noted(failf(show, "token for %s expired %s ago: Admiral no longer sees its workloads", rk.ClusterID, env.Now.Sub(exp).Round(time.Minute)),
					"regenerate the secret (Admiral's install/scripts/cluster-secret.sh mints it from the admiral service account)")
				r.Peer = target.Name
				return []Result{with(r, ev...)}
			case exp.Sub(env.Now) < TokenExpiryWarning:
				r := noted(warnf(show, "token for %s expires in %s", rk.ClusterID, exp.Sub(env.Now).Round(time.Minute)), "regenerate the secret before it expires")
				r.Peer = target.Name
				return []Result{with(r, ev...)}
			}
		}
		r := pass(fmt.Sprintf("key %s parses (%s auth) and points at %s", rk.ClusterID, rk.Auth, target.Name), ev...)
		r.Peer = target.Name
		return []Result{r}
	})
}

func admiralRemoteAccess(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	return eachAdmiralKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig) []Result {
		peer := ""
		if t := env.Mesh.ByServer(rk.Server); t != nil {
			peer = t.Name
		}
		switch {
		case rk.ParseError != "":
			return []Result{{Status: Skipped, Peer: peer, Message: "kubeconfig does not parse"}}
		case env.RemoteAccess == nil:
			return []Result{{Status: Skipped, Peer: peer, Message: "no remote access prober"}}
		}
		// The secret is named by namespace too: Admiral's and Istio's
		// secrets are recorded side by side in a snapshot.
		err := env.RemoteAccess(ctx, c.Name, c.Inv.Admiral.FlagsOrDefault().SecretNamespace+"/"+rs.Name, rk)
		if errors.Is(err, ErrNotRecorded) {
			return []Result{{Status: Skipped, Peer: peer, Message: "no recorded result for this secret in the snapshot"}}
		}
		ev := []Evidence{Ev("server", rk.Server)}
		var fe *cluster.FetchError
		if errors.As(err, &fe) && fe.Reason == cluster.ReasonNotTried {
			r := noted(warnf(admiralSecretCmd(c, rs.Name, rk.ClusterID), "%s", fe.Message),
				"meshdoctor never runs a plugin or reads a file named by a secret; the command shows only the server")
			r.Peer = peer
			return []Result{with(r, ev...)}
		}
		if err != nil {
			r := noted(failf(admiralSecretCmd(c, rs.Name, rk.ClusterID), "%s", strings.Replace(accessProblem(rk.ClusterID, err), "istiod", "Admiral", 1)),
				"Admiral lists Services, Deployments and Rollouts with these credentials; regenerate the secret from the remote cluster's admiral service account")
			r.Peer = peer
			return []Result{with(r, ev...)}
		}
		r := pass("server answers and the credentials may list endpointslices and services", ev...)
		r.Peer = peer
		return []Result{r}
	})
}

// nodeRegions is a cluster's region as Admiral reads it from its nodes
// (admiral/pkg/controller/admiral/node.go): topology.kubernetes.io/region,
// else the deprecated failure-domain label.
func nodeRegions(c *mesh.Cluster) []string {
	var out []string
	for _, n := range c.Inv.Nodes {
		r := n.Labels["topology.kubernetes.io/region"]
		if r == "" {
			r = n.Labels["failure-domain.beta.kubernetes.io/region"]
		}
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// admiralIdentities maps each identity to the clusters where a running pod
// carries it.
func admiralIdentities(env *Env) (map[string][]*mesh.Cluster, bool) {
	out := map[string][]*mesh.Cluster{}
	all := true
	for _, c := range env.Mesh.Reachable() {
		a := c.Inv.Admiral
		if a == nil || !a.Installed {
			continue
		}
		if !a.IdentitiesListed {
			all = false
			continue
		}
		for _, p := range a.Identities {
			id := strings.ToLower(p.Identity)
			if p.Phase == "Running" && !slices.Contains(out[id], c) {
				out[id] = append(out[id], c)
			}
		}
	}
	return out, all
}

// identityOfHost finds the identity of an Admiral host
// ([<dnsPrefix>.]<env>.<identity>.<hostname_suffix>): the longest known identity the
// host ends with.
func identityOfHost(host, suffix string, ids map[string][]*mesh.Cluster) string {
	h := strings.TrimSuffix(strings.ToLower(host), "."+suffix)
	best := ""
	for id := range ids {
		if strings.HasSuffix(h, "."+id) && len(id) > len(best) {
			best = id
		}
	}
	return best
}

// isAdmiralEntry: a ServiceEntry in Admiral's --sync_namespace for a host
// under its --hostname_suffix.
func isAdmiralEntry(se *istionet.ServiceEntry, f cluster.AdmiralFlags) bool {
	if se.Namespace != f.SyncNamespace {
		return false
	}
	return slices.ContainsFunc(se.Spec.GetHosts(), func(h string) bool {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		return strings.HasSuffix(h, "."+strings.ToLower(f.HostnameSuffix)) && !strings.HasPrefix(h, "*")
	})
}

func admiralServiceEntryGateways(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	flags := admiralFlags(env, c)
	var entries []*istionet.ServiceEntry
	for _, se := range c.Inv.ServiceEntries {
		if isAdmiralEntry(se, flags) {
			entries = append(entries, se)
		}
	}
	if len(entries) == 0 {
		if _, skip := admiralOf(c); skip != nil {
			return []Result{*skip}
		}
		return []Result{pass(fmt.Sprintf("no Admiral ServiceEntry (*.%s in %s)", flags.HostnameSuffix, flags.SyncNamespace), flagsEvidence(c, flags)...)}
	}
	ids, complete := admiralIdentities(env)
	gws := gatewaysByAddress(env)
	var out []Result
	for _, se := range entries {
		host := se.Spec.GetHosts()[0]
		target := seTarget(se)
		fix := seEdit(c, se)
		id := identityOfHost(host, flags.HostnameSuffix, ids)
		if id == "" {
			st := warnf
			note := "no running pod labelled identity in the clusters read; Admiral removes the entry's endpoints when the workload goes"
			if !complete {
				note = "the identity pods of some clusters could not be listed"
			}
			r := noted(st(fmt.Sprintf("%s get pods -A -l identity -o wide", kc(c.Name)), "ServiceEntry %s for %s: no cluster read runs its identity", target, host), note)
			r.Target = target
			out = append(out, r)
			continue
		}
		runs := ids[id]
		covered := map[*mesh.Cluster]bool{}
		for _, we := range se.Spec.GetEndpoints() {
			addr := we.GetAddress()
			if x := strings.TrimSuffix(addr, "."); strings.HasSuffix(x, ".svc.cluster.local") || strings.HasSuffix(x, ".svc") {
				covered[c] = true // Admiral's local endpoint: the Service in this cluster
				continue
			}
			port, gw, ok := sendsToGateway(we, gws)
			if gw == nil {
				msg := fmt.Sprintf("ServiceEntry %s sends %s to %s, which is no cluster's current gateway address", target, host, addr)
				if ok {
					msg = fmt.Sprintf("ServiceEntry %s sends %s to %s:%d, which is no cluster's current gateway address (stale after a gateway change?)", target, host, addr, port)
				}
				r := noted(failf(fix, "%s", msg), "Admiral rewrites the endpoints when it sees the gateway Service change; a stale one means Admiral lost the cluster (see admiral.remote-secrets) or the entry is no longer Admiral's")
				r.Target = target
				out = append(out, r)
				continue
			}
			covered[gw.cluster] = true
			if !slices.Contains(runs, gw.cluster) {
				r := noted(warnf(fix, "ServiceEntry %s sends %s to %s's gateway, but identity %s runs in no pod there", target, host, gw.cluster.Name, id),
					"traffic sent there finds no endpoint behind the gateway")
				r.Target, r.Peer = target, gw.cluster.Name
				out = append(out, r)
			}
			if regions := nodeRegions(gw.cluster); we.GetLocality() != "" && len(regions) > 0 && !slices.Contains(regions, strings.Split(we.GetLocality(), "/")[0]) {
				r := noted(warnf(fix, "ServiceEntry %s's endpoint %s has locality %s, but %s's nodes are in %s", target, addr, we.GetLocality(), gw.cluster.Name, strings.Join(regions, ",")),
					"locality load balancing and GlobalTrafficPolicy failover follow the endpoint's locality")
				r.Target, r.Peer = target, gw.cluster.Name
				out = append(out, r)
			}
		}
		for _, x := range runs {
			if covered[x] || x == c {
				continue
			}
			var addrs []string
			for _, g := range x.Gateways {
				for _, a := range g.Addresses {
					addrs = append(addrs, fmt.Sprintf("%s:%d", a, g.Port))
				}
			}
			r := noted(failf(fix, "ServiceEntry %s does not send %s to %s, where identity %s runs", target, host, x.Name, id),
				fmt.Sprintf("add an endpoint for %s's gateway (%s), or find why Admiral did not (its secret for %s, see admiral.remote-secrets)", x.Name, orNone(strings.Join(addrs, ", ")), x.Name))
			r.Target, r.Peer = target, x.Name
			out = append(out, r)
		}
		if !slices.ContainsFunc(out, func(r Result) bool { return r.Target == target }) {
			var names []string
			for _, x := range runs {
				names = append(names, x.Name)
			}
			r := pass(fmt.Sprintf("%s sends to the gateways of %s, where %s runs", host, strings.Join(names, ","), id), flagsEvidence(c, flags)...)
			r.Target = target
			out = append(out, r)
		}
	}
	return out
}

func admiralGTPRegions(_ context.Context, env *Env) []Result {
	regions := map[string][]string{}
	var gtps []struct {
		c *mesh.Cluster
		g cluster.AdmiralGTP
	}
	for _, c := range env.Mesh.Reachable() {
		if !c.Inv.NodesListed {
			return []Result{skipf("the nodes of %s were not listed", c.Name)}
		}
		for _, r := range nodeRegions(c) {
			regions[r] = append(regions[r], c.Name)
		}
		if a := c.Inv.Admiral; a != nil && a.Installed {
			for _, g := range a.GTPs {
				gtps = append(gtps, struct {
					c *mesh.Cluster
					g cluster.AdmiralGTP
				}{c, g})
			}
		}
	}
	if len(gtps) == 0 {
		return []Result{skipf("no GlobalTrafficPolicy in any cluster (or Admiral is not installed)")}
	}
	known := strings.Join(sortedKeys(regions), ",")
	var out []Result
	for _, x := range gtps {
		target := x.g.Namespace + "/" + x.g.Name
		fix := fmt.Sprintf("%s -n %s edit globaltrafficpolicies.admiral.io %s", kc(x.c.Name), shellQuote(x.g.Namespace), shellQuote(x.g.Name))
		problems := 0
		for _, e := range x.g.Errors {
			r := noted(failf(fix, "GlobalTrafficPolicy %s: %s", target, e), "Admiral cannot apply a policy it cannot read")
			r.Cluster, r.Target = x.c.Name, target
			out = append(out, r)
			problems++
		}
		for _, p := range x.g.Policies {
			for _, t := range p.Targets {
				if _, ok := regions[t.Region]; ok {
					continue
				}
				problems++
				mk := failf
				if t.Weight == 0 {
					mk = warnf
				}
				r := noted(mk(fix, "GlobalTrafficPolicy %s sends weight %d to region %q, which no node of the mesh is in (regions: %s)", target, t.Weight, t.Region, orNone(known)),
					"Admiral writes the weight into the DestinationRule's localityLbSetting.distribute; a region without endpoints gets the traffic and drops it")
				r.Cluster, r.Target = x.c.Name, target
				out = append(out, with(r, Ev("dnsPrefix", orNone(p.DNSPrefix)), Ev("lbType", p.LbType)))
			}
		}
		if problems == 0 {
			r := pass(fmt.Sprintf("GlobalTrafficPolicy %s names only regions of the mesh (%s)", target, known))
			r.Cluster, r.Target = x.c.Name, target
			out = append(out, r)
		}
	}
	return out
}

// gtpHost is the host a policy of a GlobalTrafficPolicy applies to
// (admiral/pkg/clusters/serviceentry.go createSeAndDrSetFromGtp): the
// identity's <env>.<identity>.<suffix>, or <dnsPrefix>.<env>.<identity>.<suffix>
// when dnsPrefix is neither the env nor "default"; the deprecated dns field
// names the host itself.
func gtpHost(g cluster.AdmiralGTP, p cluster.AdmiralGTPPolicy, suffix string) string {
	if p.DNS != "" {
		return strings.ToLower(p.DNS)
	}
	env := g.Env
	if env == "" {
		env = "default"
	}
	base := strings.ToLower(env + "." + g.Identity + "." + suffix)
	if p.DNSPrefix == "" || p.DNSPrefix == env || p.DNSPrefix == "default" {
		return base
	}
	return strings.ToLower(p.DNSPrefix) + "." + base
}

// admiralGTPDestinationRule: for each policy of every GlobalTrafficPolicy,
// the cluster's Admiral ServiceEntry for its host must come with the
// DestinationRule Admiral writes beside it (<host>-default-dr or <host>-dr
// in admiral-sync, admiral/pkg/clusters/destinationrule_handler.go
// getDestinationRule): for FAILOVER with targets, localityLbSetting.distribute
// from this cluster's region to the targets of non-zero weight, with those
// weights; for TOPOLOGY, no distribute (locality-prefer).
func admiralGTPDestinationRule(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if !c.Inv.Traffic.Has(cluster.ResDestinationRules) {
		return []Result{skipf("DestinationRules were not read in %s", c.Name)}
	}
	type pol struct {
		g    cluster.AdmiralGTP
		p    cluster.AdmiralGTPPolicy
		from string
	}
	flags := admiralFlags(env, c)
	byHost := map[string]pol{}
	for _, o := range env.Mesh.Reachable() {
		if a := o.Inv.Admiral; a != nil && a.Installed {
			for _, g := range a.GTPs {
				for _, p := range g.Policies {
					byHost[gtpHost(g, p, flags.HostnameSuffix)] = pol{g, p, o.Name}
				}
			}
		}
	}
	if len(byHost) == 0 {
		if _, skip := admiralOf(c); skip != nil {
			return []Result{*skip}
		}
		return []Result{skipf("no GlobalTrafficPolicy in any cluster")}
	}
	regions := nodeRegions(c)
	var out []Result
	for _, se := range c.Inv.ServiceEntries {
		if !isAdmiralEntry(se, flags) {
			continue
		}
		host := strings.ToLower(se.Spec.GetHosts()[0])
		pl, ok := byHost[host]
		if !ok {
			continue
		}
		target := seTarget(se)
		gtpRef := fmt.Sprintf("%s/%s in %s", pl.g.Namespace, pl.g.Name, pl.from)
		var dr *cluster.DestinationRule
		for i := range c.Inv.Traffic.DestinationRules {
			d := &c.Inv.Traffic.DestinationRules[i]
			if d.Namespace == flags.SyncNamespace && d.Spec != nil && strings.EqualFold(d.Spec.GetHost(), host) {
				dr = d
			}
		}
		list := fmt.Sprintf("%s -n %s get destinationrules.networking.istio.io -o yaml", kc(c.Name), flags.SyncNamespace)
		if dr == nil {
			r := noted(failf(list, "no DestinationRule for %s in %s: GlobalTrafficPolicy %s is not applied here (and the host gets no ISTIO_MUTUAL Admiral sets)", host, flags.SyncNamespace, gtpRef),
				"Admiral writes <host>-default-dr beside <host>-se; look at Admiral's log for the policy")
			r.Target = target
			out = append(out, r)
			continue
		}
		drRef := dr.Namespace + "/" + dr.Name
		lls := dr.Spec.GetTrafficPolicy().GetLoadBalancer().GetLocalityLbSetting()
		want := map[string]uint32{}
		for _, t := range pl.p.Targets {
			if t.Weight != 0 {
				want[t.Region] = uint32(t.Weight)
			}
		}
		ev := append([]Evidence{Ev("policy", fmt.Sprintf("%s %s", pl.p.LbType, weights(want))), Ev("destination rule", drRef)}, flagsEvidence(c, flags)...)
		fix := fmt.Sprintf("%s -n %s get destinationrules.networking.istio.io %s -o yaml", kc(c.Name), flags.SyncNamespace, shellQuote(dr.Name))
		var got []string
		match := false
		for _, d := range lls.GetDistribute() {
			got = append(got, d.GetFrom()+" → "+weights(d.GetTo()))
			fromRegion := strings.TrimSuffix(strings.Split(d.GetFrom(), "/")[0], "*")
			if equalWeights(d.GetTo(), want) && (fromRegion == "" || len(regions) == 0 || slices.Contains(regions, fromRegion)) {
				match = true
			}
		}
		ev = append(ev, Ev("distribute", orNone(strings.Join(got, "; "))))
		switch {
		case pl.p.LbType == "FAILOVER" && len(want) > 0 && !match:
			r := noted(failf(fix, "DestinationRule %s does not carry GlobalTrafficPolicy %s: want distribute from %s/* to %s", drRef, gtpRef, strings.Join(regions, ","), weights(want)),
				"Admiral rewrites the rule when it processes the policy; a rule that differs was edited by hand or Admiral did not see the policy (its secret for the policy's cluster, see admiral.remote-secrets)")
			r.Target = target
			out = append(out, with(r, ev...))
		case pl.p.LbType == "TOPOLOGY" && len(lls.GetDistribute()) > 0:
			r := noted(warnf(fix, "GlobalTrafficPolicy %s is TOPOLOGY (prefer local), but DestinationRule %s distributes by weight", gtpRef, drRef),
				"Admiral's active-passive mode also writes a distribute; check which one is meant")
			r.Target = target
			out = append(out, with(r, ev...))
		default:
			r := pass(fmt.Sprintf("DestinationRule %s carries GlobalTrafficPolicy %s", drRef, gtpRef), ev...)
			r.Target = target
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return []Result{pass("no Admiral ServiceEntry here for a GlobalTrafficPolicy's host")}
	}
	return out
}

func weights(m map[string]uint32) string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(out, ",") + "}"
}

func equalWeights(a, b map[string]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// admiralDependencies reads the Dependency objects as Admiral's
// dependency controller does: its informer lists one namespace, the
// --dependency_namespace (admiral/pkg/controller/admiral/dependency.go,
// NewDependencyInformer(client, namespace, ...)), of the cluster Admiral
// runs in. A Dependency elsewhere is never read, so its source gets no
// ServiceEntry for its destinations. Certain only where this cluster's
// own Admiral Deployment gave the flags; with another cluster's flags or
// the defaults it warns. Whether the identities run is not judged:
// Admiral also takes an identity from a pod annotation, which the
// inventory's label-selected identity pods do not show.
func admiralDependencies(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	a, skip := admiralOf(c)
	if skip != nil {
		return []Result{*skip}
	}
	if len(a.Dependencies) == 0 {
		return []Result{pass("no Dependency object in this cluster")}
	}
	flags := admiralFlags(env, c)
	own := c.Inv.Admiral.FlagsOrDefault().From != ""
	list := fmt.Sprintf("%s get dependencies.admiral.io -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,SOURCE:.spec.source,DESTINATIONS:.spec.destinations", kc(c.Name))
	var out []Result
	for _, d := range a.Dependencies {
		target := d.Namespace + "/" + d.Name
		ev := []Evidence{Ev("source", orNone(d.Source)), Ev("destinations", orNone(strings.Join(d.Destinations, ",")))}
		ev = append(ev, flagsEvidence(c, flags)...)
		var r Result
		switch {
		case d.Namespace != flags.DependencyNamespace && own:
			r = noted(failf(list, "Dependency %s is in namespace %s, but Admiral watches only %s (its --dependency_namespace): it is never read, so %s gets no ServiceEntry for %s",
				target, d.Namespace, flags.DependencyNamespace, orNone(d.Source), orNone(strings.Join(d.Destinations, ","))),
				"move the Dependency to namespace "+flags.DependencyNamespace+" (or run Admiral with --dependency_namespace "+d.Namespace+")")
		case d.Namespace != flags.DependencyNamespace:
			why := "Admiral's defaults (no Admiral Deployment was found)"
			if flags.From != "" {
				why = "the flags of Admiral Deployment " + flags.From + " in another cluster, which reads Dependencies only in its own cluster"
			}
			r = noted(warnf(list, "Dependency %s is in namespace %s, not %s (--dependency_namespace, from %s): Admiral may never read it",
				target, d.Namespace, flags.DependencyNamespace, why),
				"Admiral reads Dependencies in its --dependency_namespace of the cluster it runs in; move the Dependency there")
		default:
			r = pass(fmt.Sprintf("Dependency %s is in Admiral's --dependency_namespace %s", target, flags.DependencyNamespace))
		}
		r.Target = target
		out = append(out, with(r, ev...))
	}
	return out
}
