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

// Checks of how a primary's istiod really uses its remote clusters, beyond
// the remote secrets' own contents (secrets.go).
var remoteChecks = []Check{
	{ID: "secrets.remote-namespace", Title: "no istio/multiCluster=true secret sits outside istiod's namespace, where istiod does not read it",
		Scope: PerCluster, DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResSecrets}, Cluster: remoteNamespace},
}

// remoteNamePrefix is how istioctl create-remote-secret names a secret:
// istio-remote-secret-<name> (istioctl/pkg/multicluster/remote_secret.go).
const remoteNamePrefix = "istio-remote-secret-"

// misplacedFor returns the secrets outside istio-system that look meant
// for cluster o (by create-remote-secret's name or annotation).
func misplacedFor(c, o *mesh.Cluster) []cluster.SecretMeta {
	if c.Inv.Remote == nil {
		return nil
	}
	var out []cluster.SecretMeta
	for _, s := range c.Inv.Remote.OtherNamespaceSecrets {
		if o.ID != "" && (s.Cluster == o.ID || s.Name == remoteNamePrefix+o.ID) {
			out = append(out, s)
		}
	}
	return out
}

// watched reports whether istiod in c has a remote secret in istio-system
// for cluster o (by key, as remote-coverage counts it).
func watched(c, o *mesh.Cluster) bool {
	for _, rs := range c.Inv.RemoteSecrets {
		for _, rk := range rs.Kubeconfigs {
			if rk.ClusterID == o.ID {
				return true
			}
		}
	}
	return false
}

// remoteNamespace reports each istio/multiCluster=true secret outside
// istio-system: istiod watches only its own namespace
// (pkg/kube/multicluster/secretcontroller.go NewController filters on
// SystemNamespace and the label), so such a secret is ignored. It fails
// when it is the only secret for a cluster of the mesh (that cluster is
// then not watched), and warns otherwise. The secrets are read as
// metadata only: their names and create-remote-secret's annotation, never
// their data.
func remoteNamespace(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Inv.Remote == nil || !c.Inv.Remote.SecretsListed {
		why := "not listed (snapshot of an older version)"
		if c.Inv.Remote != nil && c.Inv.Remote.SecretsError != nil {
			why = c.Inv.Remote.SecretsError.Error()
		}
		return []Result{noted(skipf("cannot tell: the istio/multiCluster=true secrets of other namespaces were not read: %s", why),
			"meshdoctor lists them as metadata only, but Kubernetes RBAC cannot grant that alone: it needs list on secrets in all namespaces (the optional ClusterRole meshdoctor-secret-metadata in deploy/rbac.yaml)")}
	}
	others := c.Inv.Remote.OtherNamespaceSecrets
	if len(others) == 0 {
		return []Result{pass("no istio/multiCluster=true secret outside istio-system")}
	}
	var out []Result
	for _, s := range others {
		ref := s.Namespace + "/" + s.Name
		ev := []Evidence{Ev("secret", ref), Ev("namespace istiod reads", cluster.IstioNamespace)}
		if s.Cluster != "" {
			ev = append(ev, Ev(cluster.ClusterAnnotation, s.Cluster))
		}
		show := fmt.Sprintf("%s -n %s get secret %s --show-labels", kc(c.Name), shellQuote(s.Namespace), shellQuote(s.Name))
		var peer *mesh.Cluster
		for _, o := range env.Mesh.Reachable() {
			if o != c && slices.Contains(misplacedFor(c, o), s) {
				peer = o
				break
			}
		}
		switch {
		case c.Role != mesh.Primary:
			out = append(out, with(noted(warnf(show, "secret %s is labelled istio/multiCluster=true, but no istiod reads remote secrets in this %s cluster", ref, c.Role),
				"a remote secret belongs in istio-system of the primary whose istiod should watch the cluster it points at"), ev...))
		case peer != nil && !watched(c, peer):
			regen, note := regenerate(c, peer.Name, peer.ID, peer.Inv.Server)
			r := failf(regen+"\n"+fmt.Sprintf("%s -n %s delete secret %s", kc(c.Name), shellQuote(s.Namespace), shellQuote(s.Name)),
				"remote secret for %s is in namespace %s, not %s: istiod reads remote secrets only in its own namespace, so it does not watch %s", peer.Name, s.Namespace, cluster.IstioNamespace, peer.Name)
			r.Target, r.Peer = ref, peer.Name
			if note == "" {
				note = fmt.Sprintf("the first command writes the secret for %s into %s (where istiod reads it), the second removes the misplaced copy", peer.Name, cluster.IstioNamespace)
			}
			out = append(out, with(noted(r, note), ev...))
			continue
		default:
			why := "it names no cluster of the mesh"
			if peer != nil {
				why = fmt.Sprintf("%s is watched through a secret in %s already", peer.Name, cluster.IstioNamespace)
			}
			out = append(out, with(noted(warnf(show, "secret %s is labelled istio/multiCluster=true outside %s: istiod ignores it (%s)", ref, cluster.IstioNamespace, why),
				fmt.Sprintf("delete it, or remove its istio/multiCluster label, if nothing else uses it; istiod reads remote secrets only in %s", cluster.IstioNamespace)), ev...))
		}
		out[len(out)-1].Target = ref
	}
	return out
}

// misplacedNote says, for remote-coverage, where a missing secret is.
func misplacedNote(c, o *mesh.Cluster) string {
	ms := misplacedFor(c, o)
	if len(ms) == 0 {
		return ""
	}
	var refs []string
	for _, m := range ms {
		refs = append(refs, m.Namespace+"/"+m.Name)
	}
	return fmt.Sprintf(" (a secret for it, %s, is in another namespace than %s, which istiod does not read: see secrets.remote-namespace)", strings.Join(refs, ", "), cluster.IstioNamespace)
}

// watchResults turns a denied review of what istiod watches in a remote
// cluster (cluster.VerbsWatched) into one result per resource, judged by
// the features istiod in c runs with: the core kinds fail, the MCS kinds
// fail only with ENABLE_MCS_SERVICE_DISCOVERY, WorkloadEntries (read with
// PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY, default on) and Gateway API
// gateways (read once their CRDs exist there) warn; what istiod does not
// read with its features is no problem.
func watchResults(env *Env, c *mesh.Cluster, rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, target, peer string, fe *cluster.FetchError, ev []Evidence) []Result {
	flag := func(name string, def bool) bool {
		v, ok := c.EnvValue(name)
		if !ok {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return def
		}
		return b
	}
	mcs := flag("ENABLE_MCS_SERVICE_DISCOVERY", false)
	mcsGroup, _ := c.EnvValue("MCS_API_GROUP")
	remote := remoteContextOf(env, rk)
	var out []Result
	var notRead []string
	for _, res := range strings.Split(fe.Resource, ",") {
		confirm := secretServer(c, rs.Name, rk.ClusterID)
		if remote != "" && rk.TokenSubject != "" {
			confirm = fmt.Sprintf("%s auth can-i list %s -A --as=%s", kc(remote), res, shellQuote(rk.TokenSubject))
		}
		fix := fmt.Sprintf("restore list and watch on %s for the secret's identity in %s: the istio-reader ClusterRole of Istio's istio-discovery chart grants it", res, orNone(remote))
		var r Result
		switch res {
		case "pods", "services", "nodes", "namespaces", "endpointslices.discovery.k8s.io":
			r = failf(confirm, "the secret's identity may not list and watch %s in %s: istiod cannot sync that cluster", res, rk.ClusterID)
		case "serviceexports.multicluster.x-k8s.io", "serviceimports.multicluster.x-k8s.io":
			if !mcs || mcsGroup != "" && mcsGroup != "multicluster.x-k8s.io" {
				notRead = append(notRead, res)
				continue
			}
			r = failf(confirm, "istiod runs with ENABLE_MCS_SERVICE_DISCOVERY but the secret's identity may not list and watch %s in %s", res, rk.ClusterID)
		case "workloadentries.networking.istio.io":
			if !flag("PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY", true) {
				notRead = append(notRead, res)
				continue
			}
			r = warnf(confirm, "the secret's identity may not list and watch %s in %s: istiod reads them from remote clusters (PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY, on by default)", res, rk.ClusterID)
		case "gateways.gateway.networking.k8s.io":
			r = warnf(confirm, "the secret's identity may not list and watch %s in %s: istiod watches them once the Gateway API CRDs are installed there", res, rk.ClusterID)
		default:
			notRead = append(notRead, res)
			continue
		}
		r.Target, r.Peer = target+" "+res, peer
		out = append(out, with(noted(r, fix+"; the command asks as that identity, impersonated with your own credentials, its token never printed"), ev...))
	}
	if len(out) == 0 {
		r := pass("server answers and the credentials may list and watch what istiod watches with its features", ev...)
		r.Target, r.Peer = target, peer
		if len(notRead) > 0 {
			r = with(r, Ev("denied, not read by this istiod", strings.Join(notRead, ", ")))
		}
		return []Result{r}
	}
	return out
}
