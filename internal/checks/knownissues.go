package checks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/checks/knownissues"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// KnownIssuesID is the check that matches the mesh against the catalogue of
// known Istio bugs (internal/checks/knownissues/known-issues.yaml).
const KnownIssuesID = "controlplane.known-issues"

var knownIssueChecks = []Check{
	{ID: KnownIssuesID, Title: "no known multi-cluster bug of the running Istio version applies to this cluster's configuration",
		Scope: PerCluster, DependsOn: []string{ContextsReachable},
		Needs: []string{cluster.ResDeployments, cluster.ResConfigMaps}, Cluster: knownIssues},
}

// knownIssues reports, per revision of the cluster, every catalogued bug
// whose version range holds the revision's Istio version and whose
// conditions hold for the cluster (a warning with the upstream link, the
// fixed versions and the workaround), a pass naming how many entries were
// matched against the version, or a skip when the version is unknown.
func knownIssues(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	issues, err := knownissues.Load()
	if err != nil {
		return []Result{{Status: Error, Message: "the known-issues catalogue does not load (a meshdoctor bug): " + err.Error()}}
	}
	if len(c.Revisions) == 0 {
		return []Result{skipf("no Istio revision in istio-system: no version to match against known issues")}
	}
	mf := meshFacts(env.Mesh)
	var out []Result
	for _, rev := range c.Revisions {
		v, ok := knownissues.ParseVersion(rev.Version)
		if !ok {
			out = append(out, revResult(c, rev, skipf("Istio version of revision %s is unknown (%s): cannot tell which known issues apply", rev.Name, orUnknown(rev.Version))))
			continue
		}
		facts := revisionFacts(c, rev, mf)
		var hits []Result
		for _, is := range issues {
			if !is.Applies(v, facts) {
				continue
			}
			hits = append(hits, knownIssueResult(c, rev, v, is))
		}
		if len(hits) == 0 {
			out = append(out, revResult(c, rev, pass(fmt.Sprintf("none of the %d known multi-cluster issues applies to Istio %s here", len(issues), v),
				Ev("version", v), Ev("known issues", len(issues)))))
			continue
		}
		out = append(out, hits...)
	}
	return out
}

func knownIssueResult(c *mesh.Cluster, rev *mesh.Revision, v knownissues.Version, is knownissues.Issue) Result {
	r, _ := is.Affects(v)
	fixed := "not fixed yet"
	if f := is.FixedIn(); len(f) > 0 {
		fixed = "fixed in " + strings.Join(f, ", ")
	}
	if r.Fixed == "" && len(is.FixedIn()) > 0 {
		fixed += ", not on the " + fmt.Sprintf("%d.%d", v.Major, v.Minor) + " line"
	}
	var when []string
	for _, cond := range is.When {
		when = append(when, cond.String())
	}
	span := r.From + " ≤ v"
	if r.From == "" {
		span = "v"
	}
	if r.Fixed != "" {
		span += " < " + r.Fixed
	}
	res := warnf(versionCommand(c, rev), "Istio %s has a known multi-cluster bug that applies here: %s (%s; %s)", v, is.Title, fixed, is.Link)
	res.Target = is.ID
	if t := c.RevisionTarget(rev); t != "" {
		res.Target = t + " " + is.ID
	}
	res.Evidence = []Evidence{Ev("version", v), Ev("affected", span), Ev("when", strings.Join(when, ", ")), Ev("link", is.Link)}
	if len(is.Sources) > 0 {
		res.Evidence = append(res.Evidence, Ev("sources", strings.Join(is.Sources, " ")))
	}
	return noted(res, fmt.Sprintf("a bug of this Istio version, not a misconfiguration (%s, %s). Workaround: %s The command shows the version the revision runs.", is.Link, fixed, is.Workaround))
}

// versionCommand prints the version a revision runs: istiod's image, or on
// a cluster without istiod the injector values' tag.
func versionCommand(c *mesh.Cluster, rev *mesh.Revision) string {
	if rev.Istiod != nil {
		return fmt.Sprintf("%s -n %s get deployment %s -o jsonpath='{.spec.template.spec.containers[*].image}'", kc(c.Name), shellQuote(rev.Istiod.Namespace), shellQuote(rev.Istiod.Name))
	}
	return fmt.Sprintf("%s -n istio-system get configmap %s -o jsonpath='{.data.values}' | grep -o '\"tag\":\"[^\"]*\"'", kc(c.Name), shellQuote(rev.ValuesConfigMap))
}

// meshFacts are the mesh-wide facts (names "mesh.*" of knownissues.FactNames).
func meshFacts(m *mesh.Mesh) knownissues.Facts {
	f := knownissues.Facts{
		"mesh.topology":      {m.Topology()},
		"mesh.multi-network": {strconv.FormatBool(m.MultiNetwork())},
	}
	var kinds []string
	domains := map[string]bool{}
	for _, c := range m.Reachable() {
		for _, g := range c.Gateways {
			for _, a := range g.Addresses {
				kind := "hostname"
				if _, err := netip.ParseAddr(a); err == nil {
					kind = "ip"
				}
				if !slices.Contains(kinds, kind) {
					kinds = append(kinds, kind)
				}
			}
		}
		for _, r := range c.Revisions {
			if r.TrustDomain != "" {
				domains[r.TrustDomain] = true
			}
		}
	}
	if len(kinds) > 0 {
		f["mesh.gateway-address-kinds"] = kinds
	}
	if len(domains) > 0 {
		f["mesh.trust-domains-differ"] = []string{strconv.FormatBool(len(domains) > 1)}
	}
	return f
}

// revisionFacts are the facts of one revision of a cluster, with the mesh's.
// Feature flags default as pilot/pkg/features declares them: ambient off
// (PILOT_ENABLE_AMBIENT), ambient multi-network off and read only with
// ambient on (registerAmbient in ambient.go), the xDS cache on
// (PILOT_ENABLE_XDS_CACHE in xds.go); a value that does not parse as a
// bool (strconv.ParseBool, as istio's env package) leaves the default.
func revisionFacts(c *mesh.Cluster, rev *mesh.Revision, mf knownissues.Facts) knownissues.Facts {
	f := knownissues.Facts{}
	for k, v := range mf {
		f[k] = v
	}
	f["role"] = []string{string(c.Role)}
	f["remote-secrets"] = []string{strconv.FormatBool(len(c.Inv.RemoteSecrets) > 0)}
	if rev.TrustDomain != "" {
		f["trust-domain"] = []string{rev.TrustDomain}
	}
	flag := func(name string, def bool) bool {
		v, ok := rev.EnvValue(name)
		if !ok {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return def
		}
		return b
	}
	ambient := flag("PILOT_ENABLE_AMBIENT", false)
	f["ambient"] = []string{strconv.FormatBool(ambient)}
	f["ambient-multi-network"] = []string{strconv.FormatBool(ambient && flag("AMBIENT_ENABLE_MULTI_NETWORK", false))}
	f["xds-cache"] = []string{strconv.FormatBool(flag("PILOT_ENABLE_XDS_CACHE", true))}
	if rev.Istiod != nil {
		for _, ct := range rev.Istiod.Spec.Template.Spec.Containers {
			for _, e := range ct.Env {
				if e.ValueFrom == nil && f["env."+e.Name] == nil {
					f["env."+e.Name] = []string{e.Value}
				}
			}
		}
	}
	return f
}
