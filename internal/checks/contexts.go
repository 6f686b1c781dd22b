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
