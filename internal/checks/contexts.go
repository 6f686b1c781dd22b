package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// ContextsReachable is the root of the graph: a cluster that fails it is
// left out of every other check.
const ContextsReachable = "contexts.reachable"

var contextChecks = []Check{
	{ID: ContextsReachable, Title: "each context's API server answers", Scope: PerCluster,
		Cluster: reachable},
	{ID: "contexts.authorized", Title: "meshdoctor may read everything it needs", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Cluster: authorized},
	{ID: "contexts.aliases", Title: "each context reaches its own API server (aliases are checked once)", Scope: Mesh,
		Mesh: contextAliases},
}

// contextAliases reports, once per API server, contexts that reach the same
// one (an admin@ copy of a context, two URLs of one server). It warns and
// never fails: the other checks treat the group as one cluster, read
// through its representative.
func contextAliases(_ context.Context, env *Env) []Result {
	groups := env.Mesh.Aliases()
	if len(groups) == 0 && len(env.Mesh.Reachable()) < 2 {
		// With fewer than two clusters read, aliases by kube-system UID
		// cannot be told (server URL and CA aliases would have been found).
		return []Result{tooFew("clusters read", len(env.Mesh.Reachable()))}
	}
	if len(groups) == 0 {
		var ev []Evidence
		for _, c := range env.Mesh.Clusters {
			ev = append(ev, Ev(c.Name, orNone(c.Inv.Server)))
		}
		return []Result{pass("every context reaches its own API server", ev...)}
	}
	var out []Result
	for _, g := range groups {
		var others []string
		var quoted []string
		for _, m := range g.Members {
			quoted = append(quoted, shellQuote(m))
			if m != g.Representative {
				others = append(others, m)
			}
		}
		rep := env.Mesh.Cluster(g.Representative)
		r := warnf("kubectl config get-contexts "+strings.Join(quoted, " "),
			"contexts %s reach one API server (%s): meshdoctor checks it once, as %s; results for %s are those of %s",
			strings.Join(g.Members, ", "), g.How, g.Representative, strings.Join(others, ", "), g.Representative)
		r.Target = g.Representative
		r.Evidence = []Evidence{Ev("representative", g.Representative), Ev("chosen by", "reachable, fewest unreadable resources, named as its clusterName, then name order"),
			Ev("aliases", strings.Join(others, ", ")), Ev("how", g.How)}
		if rep != nil {
			r.Evidence = append(r.Evidence, Ev("server", rep.Inv.Server))
			if ns := rep.Inv.Namespace(mesh.KubeSystem); ns != nil && ns.UID != "" {
				r.Evidence = append(r.Evidence, Ev("kube-system uid", ns.UID))
			}
		}
		out = append(out, r)
	}
	return out
}

func reachable(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if fe := c.Inv.Unreachable; fe != nil {
		return []Result{{Status: Error, Message: fmt.Sprintf("cluster unreachable: %s", fe.Error()),
			Evidence:    []Evidence{Ev("server", c.Inv.Server), Ev("reason", fe.Reason)},
			Remediation: kc(c.Name) + " get --raw /version"}}
	}
	return []Result{pass("reachable, Kubernetes "+c.Inv.Version, Ev("server", c.Inv.Server), Ev("version", c.Inv.Version))}
}

func authorized(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	if len(c.Inv.Errors) == 0 {
		return []Result{pass("every resource meshdoctor reads could be listed")}
	}
	var out []Result
	for _, res := range sortedKeys(c.Inv.Errors) {
		fe := c.Inv.Errors[res]
		ns := " -A"
		switch res {
		case cluster.ResSecrets, cluster.ResConfigMaps, cluster.ResDeployments:
			ns = " -n istio-system"
		case cluster.ResNamespaces, cluster.ResMutatingWebhooks:
			ns = "" // cluster-scoped
		}
		out = append(out, Result{Status: Error, Target: res,
			Message:     fmt.Sprintf("%s: %s %s", fe.Reason, fe.Verb, res),
			Evidence:    []Evidence{Ev("error", fe.Message)},
			Remediation: fmt.Sprintf("%s auth can-i %s %s%s", kc(c.Name), fe.Verb, strings.TrimSuffix(res, ".networking.istio.io"), ns)})
	}
	return out
}
