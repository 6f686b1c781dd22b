package checks

import (
	"slices"
	"strings"
)

// Causes and consequences. Most problems in a mesh show up several times: a
// gateway without an address (the cause) also leaves a remote proxy's endpoint
// table without that gateway and curl answered only locally (consequences).
// Explain links each non-passing result to the non-passing results that
// explain it, so that every output can show causes first with their
// consequences under them.
//
// A result is explained by a problem of
//   - the contexts check for its cluster or its peer: nothing about a
//     cluster that does not answer can be told;
//   - one of its check's prerequisites (DependsOn, transitively) in the same
//     cluster, at mesh scope, or, for the cross-cluster checks, anywhere;
//   - one of the checks in explainedBy: domain links the dependency graph
//     does not carry, because the consequence must still run to be seen;
//   - for a failure (or error) of a check, a failure of a check that runs
//     despite it (Check.RunsDespite) in the same cluster: the prerequisite
//     failed because of what the later check found (istiod stays unready
//     while a remote API server does not answer). The prerequisite's
//     failure in turn does not explain that check.
//
// A problem explains only problems at most as severe as itself (a warning
// does not explain a failure; an error counts as a failure).

// explainedBy lists, for a check, the checks whose problems explain its own.
// It must stay acyclic (TestExplainedByIsAcyclic).
var explainedBy = map[string][]string{
	// A mesh without a reachable primary has no known topology.
	"controlplane.topology":     {ContextsReachable},
	"trust.root-match":          {"trust.cacerts-present"},
	"trust.istiod-uses-cacerts": {"trust.cacerts-present"},
	"network.gateway-per-network": {
		"gateway.address", "ambient.eastwest-gateway",
	},
	"secrets.remote-access":     {"secrets.remote-stale", "secrets.remote-token-expiry"},
	"secrets.remote-coverage":   {"controlplane.topology", "secrets.remote-namespace"},
	"gateway.reachability":      {"gateway.ports", "gateway.cross-network", "trust.root-match", "trust.istiod-uses-cacerts", "ambient.eastwest-gateway"},
	"probes.gateway-from-pods":  {"gateway.ports", "gateway.reachability"},
	"endpoints.istiod-sync":     {"secrets.remote-kubeconfig", "secrets.remote-cluster-id", "secrets.remote-stale", "secrets.remote-coverage", "secrets.remote-token-expiry", "secrets.remote-access"},
	"endpoints.istiod-networks": {"network.namespace-label", "network.gateway-label", "network.gateway-per-network", "gateway.address", "gateway.ports"},
	"endpoints.proxy-table": {
		"controlplane.cluster-id", "network.namespace-label", "network.injector-network", "network.gateway-label",
		"network.gateway-per-network", "gateway.address", "gateway.ports", "gateway.cross-network",
		"secrets.remote-coverage", "secrets.remote-access", "endpoints.istiod-sync", "endpoints.istiod-networks",
		"traffic.tls-remote-endpoints", "traffic.peer-authentication", "traffic.sidecar-missing",
	},
	"probes.cross-cluster": {
		"controlplane.cluster-id", "controlplane.mesh-id", "controlplane.trust-domain", "trust.root-match", "trust.istiod-uses-cacerts",
		"network.namespace-label", "network.gateway-label", "network.gateway-per-network", "gateway.address", "gateway.ports",
		"gateway.cross-network", "gateway.reachability", "secrets.remote-coverage", "secrets.remote-access",
		"probes.gateway-from-pods", "endpoints.istiod-sync", "endpoints.istiod-networks", "endpoints.proxy-table",
		"traffic.locality", "traffic.tls-remote-endpoints", "traffic.peer-authentication", "traffic.sidecar-missing", "traffic.subset-pods",
	},
	// istiod sends a ztunnel the other networks through their
	// istio-east-west Gateways, for the services global where they run.
	"endpoints.ztunnel-table": {
		"network.namespace-label", "ambient.istiod-multi-network", "ambient.eastwest-gateway", "ambient.global-services",
		"secrets.remote-coverage", "secrets.remote-access", "endpoints.istiod-sync",
	},
	"config.serviceentry-gateway": {"gateway.address"},
	// Admiral copies gateway addresses into its entries through its secrets.
	"admiral.serviceentry-gateways": {"gateway.address", "config.serviceentry-gateway", "admiral.remote-secrets", "admiral.remote-access"},
	"admiral.gtp-destinationrule":   {"admiral.gtp-regions", "admiral.remote-secrets"},
	// A .global host resolves only through the DNS proxy, and then goes
	// where its entry sends it.
	"probes.serviceentry-dns": {"config.dns-capture", "config.serviceentry-resolution", "config.serviceentry-gateway",
		"config.serviceentry-external-gateway", "admiral.serviceentry-gateways", "endpoints.istiod-syncz"},
	// istiod skips a key whose kubeconfig it rejects or whose cluster ID is
	// its own or registered already.
	"secrets.istiod-loaded": {"secrets.remote-kubeconfig", "secrets.remote-cluster-id", "secrets.remote-token-expiry", "secrets.remote-access"},
	// A remote reaches a primary's istiod through the primary's gateway or
	// load balancer: a gateway without an address or port, or a root that
	// is not the mesh's, explains what the probe sees there.
	"probes.istiod-san": {"controlplane.remote-discovery", "gateway.address", "gateway.ports", "gateway.reachability", "trust.root-match", "trust.istiod-uses-cacerts"},
	// A remote's proxies reach a primary's istiod through its gateway's 15012.
	"endpoints.istiod-syncz": {"controlplane.remote-discovery", "gateway.address", "gateway.ports", "endpoints.istiod-sync"},
}

// explainedAnywhere are the checks whose results in one cluster are caused by
// problems in another: a cause of theirs counts wherever it is.
var explainedAnywhere = []string{
	"network.gateway-per-network", "secrets.remote-coverage", "gateway.reachability", "probes.gateway-from-pods",
	"endpoints.istiod-sync", "endpoints.istiod-networks", "endpoints.proxy-table", "probes.cross-cluster",
	"config.serviceentry-gateway", "admiral.serviceentry-gateways", "endpoints.istiod-syncz", "probes.serviceentry-dns",
	"admiral.gtp-destinationrule", "endpoints.ztunnel-table",
	"probes.istiod-san",
}

// Key names a result among all of a run's: check ID and subject.
func (r Result) Key() string { return strings.TrimSpace(r.CheckID + " " + r.Subject()) }

// Problem reports whether a result is a warning, a failure or an error.
func (r Result) Problem() bool { return r.Status == Warn || r.Status == Fail || r.Status == Error }

// severity ranks problems: a failure and an error weigh the same.
func severity(s Status) int {
	switch s {
	case Warn:
		return 1
	case Fail, Error:
		return 2
	}
	return 0
}

// Explain sets CausedBy on every problem in rs that other problems explain
// (see the rules above), and returns rs. cs is the catalogue the results
// came from (for the prerequisites).
func Explain(cs []Check, rs []Result) []Result {
	pre := prerequisites(cs)
	prereqs := func(id string) map[string]bool { return pre(id, true) }
	despite := map[string][]string{}
	for _, c := range cs {
		despite[c.ID] = c.RunsDespite
	}
	var problems []int
	for i, r := range rs {
		rs[i].CausedBy = nil
		if r.Problem() {
			problems = append(problems, i)
		}
	}
	for _, i := range problems {
		r := &rs[i]
		pre := prereqs(r.CheckID)
		linked := explainedBy[r.CheckID]
		anywhere := slices.Contains(explainedAnywhere, r.CheckID)
		for _, j := range problems {
			c := rs[j]
			if i == j || severity(c.Status) < severity(r.Status) {
				continue
			}
			var explains bool
			switch {
			case slices.Contains(despite[c.CheckID], r.CheckID):
				// c ran despite r's failure and may be why.
				explains = severity(r.Status) == 2 && severity(c.Status) == 2 && c.Cluster == r.Cluster
			case c.CheckID == ContextsReachable:
				explains = c.Cluster != "" && (c.Cluster == r.Cluster || c.Cluster == r.Peer ||
					r.Cluster == "" && slices.Contains(linked, ContextsReachable))
			case !pre[c.CheckID] && !slices.Contains(linked, c.CheckID):
			case Area(c.CheckID) == "secrets":
				explains = secretExplains(c, *r)
			default:
				explains = c.Cluster == "" || anywhere || c.Cluster == r.Cluster || c.Cluster == r.Peer
			}
			if explains && c.CheckID != r.CheckID {
				r.CausedBy = append(r.CausedBy, c.Key())
			}
		}
	}
	return rs
}

// secretExplains reports whether c, a problem with a remote secret of
// c.Cluster's istiod, explains r. A secret is read by one istiod: it
// explains only what that cluster's istiod serves (r in the same cluster),
// and among the secrets checks only those about the same secret or peer. A
// secret for a cluster outside the mesh (no peer) explains only the other
// findings about that secret and istiod's own sync status.
func secretExplains(c, r Result) bool {
	if c.Cluster != r.Cluster {
		return false
	}
	if Area(r.CheckID) == "secrets" {
		return c.Target == r.Target || c.Peer != "" && c.Peer == r.Peer
	}
	return c.Peer != "" || r.CheckID == "endpoints.istiod-sync"
}

// Causes returns the problems no other problem explains, in rs's order.
func Causes(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Problem() && len(r.CausedBy) == 0 {
			out = append(out, r)
		}
	}
	return out
}
