package checks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// TokenExpiryWarning is how close to expiry a remote secret's token warns.
const TokenExpiryWarning = 7 * 24 * time.Hour

// remote-token-expiry and remote-access run even when istiod is not ready
// (RunsDespite): istiod waits for its remote clusters to sync before it
// reports ready (up to PILOT_REMOTE_CLUSTER_TIMEOUT), so a refused token or
// an unreachable remote API server is a cause of that failure, not a
// consequence.
var secretChecks = []Check{
	{ID: "secrets.remote-kubeconfig", Title: "remote secrets hold kubeconfigs istiod can use", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResSecrets}, Cluster: remoteKubeconfig},
	{ID: "secrets.remote-cluster-id", Title: "each remote secret's key is the clusterName of the cluster it points at", Scope: PerCluster,
		DependsOn: []string{"secrets.remote-kubeconfig", "controlplane.cluster-id"}, Needs: []string{cluster.ResSecrets}, Cluster: remoteClusterID},
	{ID: "secrets.remote-stale", Title: "no remote secret points at a cluster outside the mesh", Scope: PerCluster,
		DependsOn: []string{"secrets.remote-kubeconfig", "controlplane.cluster-id"}, Needs: []string{cluster.ResSecrets}, Cluster: remoteStale},
	{ID: "secrets.remote-coverage", Title: "each primary has a remote secret for every other cluster", Scope: PerCluster,
		DependsOn: []string{"secrets.remote-kubeconfig", "controlplane.cluster-id"}, Needs: []string{cluster.ResSecrets}, Cluster: remoteCoverage},
	{ID: "secrets.remote-token-expiry", Title: "remote secret tokens are not expired nor expiring within 7 days", Scope: PerCluster,
		DependsOn: []string{"secrets.remote-kubeconfig"}, RunsDespite: []string{"controlplane.istiod-ready"},
		Needs: []string{cluster.ResSecrets}, Cluster: remoteTokenExpiry},
	{ID: "secrets.remote-access", Title: "each remote secret's server answers and accepts its credentials", Scope: Pair, Network: true,
		DependsOn: []string{"secrets.remote-cluster-id"}, RunsDespite: []string{"controlplane.istiod-ready"},
		Needs: []string{cluster.ResSecrets}, Cluster: remoteAccess},
}

// eachKubeconfig applies fn to every kubeconfig of every remote secret of a
// primary; target is "<secret>/<key>".
func eachKubeconfig(c *mesh.Cluster, fn func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, target string) []Result) []Result {
	if c.Role != mesh.Primary {
		if len(c.Inv.RemoteSecrets) == 0 {
			return []Result{skipf("not applicable: %s cluster, no istiod reads remote secrets here", c.Role)}
		}
	}
	if len(c.Inv.RemoteSecrets) == 0 {
		return []Result{skipf("no remote secrets (istio/multiCluster=true) in istio-system")}
	}
	var out []Result
	for _, rs := range c.Inv.RemoteSecrets {
		for _, rk := range rs.Kubeconfigs {
			target := rs.Name + "/" + rk.ClusterID
			for _, r := range fn(rs, rk, target) {
				if r.Target == "" {
					r.Target = target
				}
				out = append(out, r)
			}
		}
	}
	return out
}

func insecureOptions(c *mesh.Cluster) string {
	v, _ := c.EnvValue("PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS")
	return v
}

// remoteContextOf is the kubeconfig context of the cluster a remote
// secret's kubeconfig names: by clusterName when one cluster has it, else
// by API server; "" when meshdoctor does not know it.
func remoteContextOf(env *Env, rk cluster.RemoteKubeconfig) string {
	if t := env.Mesh.ByID(rk.ClusterID); len(t) == 1 {
		return t[0].Name
	}
	if t := env.Mesh.ByServer(rk.Server); t != nil {
		return t.Name
	}
	return ""
}

// regenerate rewrites the remote secret of clusterID in c from the remote
// cluster's context. Without the context the command lists the contexts to
// pick it from, and the note says what to run then.
func regenerate(c *mesh.Cluster, remote, clusterID, server string) (cmd, note string) {
	if remote == "" {
		return "kubectl config get-contexts", fmt.Sprintf("meshdoctor has no context for cluster %s (server %s): pick it from the list, then run istioctl create-remote-secret --context=CONTEXT --name=%s | %s apply -f -",
			clusterID, orNone(server), shellQuote(clusterID), kc(c.Name))
	}
	return fmt.Sprintf("istioctl create-remote-secret --context=%s --name=%s | %s apply -f -", shellQuote(remote), shellQuote(clusterID), kc(c.Name)), ""
}

// secretServer shows only the server lines of a remote secret's
// kubeconfig: never its credentials.
func secretServer(c *mesh.Cluster, secret, key string) string {
	return fmt.Sprintf("%s -n istio-system get secret %s -o jsonpath=%s | base64 -d | grep -E '^ *server:'", kc(c.Name), shellQuote(secret), shellQuote("{.data."+strings.ReplaceAll(key, ".", `\.`)+"}"))
}

func remoteKubeconfig(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	allowed := insecureOptions(c)
	return eachKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, _ string) []Result {
		remote := remoteContextOf(env, rk)
		regen, note := regenerate(c, remote, rk.ClusterID, rk.Server)
		if rk.ParseError != "" {
			return []Result{noted(parseError(regen, "secret istio-system/%s key %s: %s", rs.Name, rk.ClusterID, rk.ParseError), note)}
		}
		ev := []Evidence{Ev("server", rk.Server), Ev("auth", rk.Auth)}
		if kind := cluster.LocalAddressKind(serverHost(rk.Server)); kind != "" {
			fix, note := "kubectl config get-contexts", fmt.Sprintf("regenerate the secret with istioctl create-remote-secret --server=https://ADDRESS, an address of %s's API server that istiod can reach", rk.ClusterID)
			if remote != "" {
				// The API server's endpoint as the cluster itself publishes
				// it (default/kubernetes), not the local address of this
				// machine's kubeconfig.
				fix = fmt.Sprintf("server=$(%s -n default get endpoints kubernetes -o jsonpath='https://{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}')\nistioctl create-remote-secret --context=%s --name=%s --server=\"$server\" | %s apply -f -",
					kc(remote), shellQuote(remote), shellQuote(rk.ClusterID), kc(c.Name))
				note = fmt.Sprintf("the address is the one %s's API server publishes in default/kubernetes; check that istiod in %s can reach it (another network may need the load balancer's address instead)", remote, c.Name)
			}
			return []Result{with(noted(failf(fix,
				"server %s is a %s address: istiod would dial itself or its own node, not the remote cluster", rk.Server, kind), note), ev...)}
		}
		option := ""
		switch {
		case rk.Auth == "exec":
			option = "exec"
		case strings.HasPrefix(rk.Auth, "auth-provider:") && rk.Auth != "auth-provider:oidc":
			option = "authProvider"
		case rk.Auth == "token-file":
			option = "tokenFile"
		case rk.Auth == "client-cert-file":
			option = "clientKey"
		case rk.Auth == "none":
			return []Result{with(noted(failf(regen, "kubeconfig has no credentials"), note), ev...)}
		}
		if option != "" && !strings.Contains(allowed, option) {
			if note == "" {
				note = fmt.Sprintf("istioctl create-remote-secret writes a service-account token, which istiod accepts; or allow %s in istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS", option)
			}
			return []Result{with(noted(failf(regen, "user authenticates with %s, which istiod rejects unless PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS allows %s", rk.Auth, option), note), ev...)}
		}
		return []Result{pass(fmt.Sprintf("kubeconfig for %s parses (%s auth)", rk.ClusterID, rk.Auth), ev...)}
	})
}

func serverHost(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func remoteClusterID(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	registered := map[string]string{}
	return eachKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, _ string) []Result {
		ev := []Evidence{Ev("key", rk.ClusterID), Ev("server", rk.Server)}
		if rk.ClusterID == c.ID {
			return []Result{with(warnf(fmt.Sprintf("%s -n istio-system delete secret %s", kc(c.Name), shellQuote(rs.Name)),
				"key %s is this cluster's own clusterName: istiod ignores it", rk.ClusterID), ev...)}
		}
		if prev, dup := registered[rk.ClusterID]; dup {
			return []Result{with(warnf(fmt.Sprintf("%s -n istio-system delete secret %s", kc(c.Name), shellQuote(rs.Name)),
				"cluster ID %s is already registered by secret %s: istiod ignores this one", rk.ClusterID, prev), ev...)}
		}
		registered[rk.ClusterID] = rs.Name
		if len(env.Mesh.ByID(rk.ClusterID)) > 0 {
			return []Result{with(pass(fmt.Sprintf("key %s is a cluster of the mesh", rk.ClusterID)), ev...)}
		}
		if target := env.Mesh.ByServer(rk.Server); target != nil && target.Reachable() {
			r := failf(fmt.Sprintf("istioctl create-remote-secret --context=%s --name=%s | %s apply -f -\n%s -n istio-system delete secret %s",
				shellQuote(target.Name), shellQuote(target.ID), kc(c.Name), kc(c.Name), shellQuote(rs.Name)),
				"key %s but its server is cluster %s, whose clusterName is %s: istiod registers the endpoints under the wrong cluster ID", rk.ClusterID, target.Name, target.ID)
			return []Result{with(r, append(ev, Ev("clusterName of "+target.Name, target.ID))...)}
		}
		return []Result{with(pass(fmt.Sprintf("key %s names no cluster of the mesh (see secrets.remote-stale)", rk.ClusterID)), ev...)}
	})
}

func remoteStale(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	return eachKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, _ string) []Result {
		ev := []Evidence{Ev("key", rk.ClusterID), Ev("server", rk.Server)}
		if len(env.Mesh.ByID(rk.ClusterID)) > 0 || env.Mesh.ByServer(rk.Server) != nil || rk.ClusterID == c.ID {
			return []Result{with(pass("points at a cluster of the mesh"), ev...)}
		}
		var known []string
		for _, o := range env.Mesh.Reachable() {
			known = append(known, o.ID)
		}
		r := noted(failf(fmt.Sprintf("%s -n istio-system delete secret %s", kc(c.Name), shellQuote(rs.Name)),
			"stale remote secret: cluster %s is not in the mesh; istiod keeps trying to watch it", rk.ClusterID),
			fmt.Sprintf("delete the secret only if cluster %s is gone; if it is not, add its context to the kubeconfig (and to --contexts) so meshdoctor checks it", rk.ClusterID))
		return []Result{with(r, append(ev, Ev("mesh cluster IDs", strings.Join(known, ", ")))...)}
	})
}

func remoteCoverage(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Primary {
		return []Result{skipf("not applicable: %s cluster", c.Role)}
	}
	have := map[string]bool{}
	byServer := map[string]string{}
	for _, rs := range c.Inv.RemoteSecrets {
		for _, rk := range rs.Kubeconfigs {
			have[rk.ClusterID] = true
			byServer[strings.TrimSuffix(rk.Server, "/")] = rs.Name + "/" + rk.ClusterID
		}
	}
	var out []Result
	for _, o := range env.Mesh.Reachable() {
		if o == c || o.Role == mesh.NoControlPlane || o.ID == c.ID {
			continue
		}
		if have[o.ID] {
			r := pass(fmt.Sprintf("watches %s (clusterName %s)", o.Name, o.ID))
			r.Peer = o.Name
			out = append(out, r)
			continue
		}
		if key, ok := byServer[strings.TrimSuffix(o.Inv.Server, "/")]; ok && o.Inv.Server != "" {
			r := skipf("secret %s points at %s under another key: see secrets.remote-cluster-id", key, o.Name)
			r.Peer = o.Name
			out = append(out, r)
			continue
		}
		r := failf(fmt.Sprintf("istioctl create-remote-secret --context=%s --name=%s | %s apply -f -", shellQuote(o.Name), shellQuote(o.ID), kc(c.Name)),
			"no remote secret for %s (clusterName %s) in %s: istiod in %s does not see its endpoints%s", o.Name, o.ID, cluster.IstioNamespace, c.Name, misplacedNote(c, o))
		r.Peer = o.Name
		out = append(out, r)
	}
	if len(out) == 0 {
		return []Result{pass("no other cluster to watch")}
	}
	return out
}

func remoteTokenExpiry(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	return eachKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, _ string) []Result {
		if rk.ParseError != "" {
			return []Result{skipf("kubeconfig does not parse")}
		}
		if rk.TokenExpiry == nil {
			return []Result{pass(fmt.Sprintf("no expiring token (%s auth)", rk.Auth))}
		}
		exp := *rk.TokenExpiry
		ev := []Evidence{Ev("token exp", exp.Format(time.RFC3339)), Ev("subject", rk.TokenSubject)}
		fix, note := regenerate(c, remoteContextOf(env, rk), rk.ClusterID, rk.Server)
		switch {
		case env.Now.After(exp):
			return []Result{with(noted(failf(fix, "token expired %s ago: istiod cannot watch %s", env.Now.Sub(exp).Round(time.Minute), rk.ClusterID), note), ev...)}
		case exp.Sub(env.Now) < TokenExpiryWarning:
			return []Result{with(noted(warnf(fix, "token expires in %s", exp.Sub(env.Now).Round(time.Minute)), note), ev...)}
		}
		return []Result{with(pass("token valid until "+exp.Format("2006-01-02")), ev...)}
	})
}

func remoteAccess(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	return eachKubeconfig(c, func(rs cluster.RemoteSecret, rk cluster.RemoteKubeconfig, target string) []Result {
		var peer string
		if t := env.Mesh.ByID(rk.ClusterID); len(t) == 1 {
			peer = t[0].Name
		}
		if rk.ParseError != "" {
			return []Result{{Status: Skipped, Peer: peer, Message: "kubeconfig does not parse"}}
		}
		if env.RemoteAccess == nil {
			return []Result{{Status: Skipped, Peer: peer, Message: "no remote access prober"}}
		}
		err := env.RemoteAccess(ctx, c.Name, rs.Name, rk)
		if errors.Is(err, ErrNotRecorded) {
			return []Result{{Status: Skipped, Peer: peer, Message: "no recorded result for this secret in the snapshot"}}
		}
		ev := []Evidence{Ev("server", rk.Server)}
		if !env.RecordedAt.IsZero() {
			ev = append(ev, Ev("recorded", env.RecordedAt.Format(time.RFC3339)))
		}
		var fe *cluster.FetchError
		if errors.As(err, &fe) && fe.Verb == cluster.VerbsWatched {
			// Per resource istiod watches there, by its features (remote.go).
			return watchResults(env, c, rs, rk, target, peer, fe, ev)
		}
		if errors.As(err, &fe) && fe.Reason == cluster.ReasonNotTried {
			// meshdoctor never runs a plugin or reads a file named by
			// cluster data (cluster.RemoteAccess): it cannot tell.
			r := noted(warnf(fmt.Sprintf("%s -n istio-system get secret %s -o jsonpath=%s | base64 -d | grep -noE '^ *(server|exec|tokenFile|client-key|client-certificate|certificate-authority|proxy-url|auth-provider):'",
				kc(c.Name), shellQuote(rs.Name), shellQuote("{.data."+strings.ReplaceAll(rk.ClusterID, ".", `\.`)+"}")),
				"%s", fe.Message),
				"the command prints only the names of the kubeconfig's fields that need a plugin or a file on istiod's host, never their values or the credentials")
			r.Peer = peer
			return []Result{with(r, ev...)}
		}
		if err != nil {
			fix := secretServer(c, rs.Name, rk.ClusterID)
			note := "the command shows only the server the secret sends istiod to; compare it with the cluster's API server, and see what the secret's identity may do without printing its token"
			if remote := remoteContextOf(env, rk); remote != "" && rk.TokenSubject != "" {
				fix += fmt.Sprintf("\n%s auth can-i list endpointslices.discovery.k8s.io -A --as=%s", kc(remote), shellQuote(rk.TokenSubject))
				note = "the first command shows only the server the secret sends istiod to; the second asks, as the secret's identity (impersonated with your own credentials, its token never printed), whether it may list what istiod watches"
			}
			r := noted(failf(fix, "%s", accessProblem(rk.ClusterID, err)), note)
			r.Peer = peer
			return []Result{with(r, ev...)}
		}
		r := pass("server answers and the credentials may list what istiod watches")
		r.Peer = peer
		return []Result{with(r, ev...)}
	})
}

// accessProblem says why istiod could not use a remote secret.
func accessProblem(clusterID string, err error) string {
	var fe *cluster.FetchError
	if errors.As(err, &fe) {
		switch fe.Reason {
		case cluster.ReasonUnauthorized:
			return fmt.Sprintf("the API server of %s refuses the secret's credentials (unauthorized: token expired, revoked or from another cluster)", clusterID)
		case cluster.ReasonForbidden:
			return fmt.Sprintf("the secret's identity may not %s %s in %s (forbidden): istiod cannot watch it", fe.Verb, fe.Resource, clusterID)
		case cluster.ReasonTimeout, cluster.ReasonUnreachable:
			return fmt.Sprintf("the API server of %s does not answer (%s): %s", clusterID, fe.Reason, fe.Message)
		}
	}
	return fmt.Sprintf("istiod cannot use its secret for %s: %v", clusterID, err)
}
