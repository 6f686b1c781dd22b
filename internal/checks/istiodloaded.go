package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// istiodLoadedChecks compare istiod's own list of remote clusters with the
// remote secrets in its namespace now.
var istiodLoadedChecks = []Check{
	{ID: "secrets.istiod-loaded", Title: "istiod has loaded each remote secret's clusters under their keys, and holds no cluster whose secret is gone (/debug/clusterz, metrics)", Scope: PerCluster, Network: true,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResSecrets, cluster.ResPods}, Cluster: istiodLoaded},
}

// loadedNote is what /debug/clusterz cannot tell: pkg/cluster DebugInfo
// holds the cluster ID, the secret's namespace/name and the sync status,
// not the secret's resourceVersion nor the hash of the kubeconfig istiod
// loaded (kubeConfigSha in pkg/kube/multicluster is private).
const loadedNote = "istiod's /debug/clusterz does not show the secret's resourceVersion or which kubeconfig istiod loaded, so a secret changed after istiod last synced it (a rotated token istiod has not reconnected with) cannot be told from here"

func istiodLoaded(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Primary {
		return []Result{skipf("not applicable: %s cluster (no istiod reads remote secrets here)", c.Role)}
	}
	body, res := fetchDebug(ctx, env, c, envoyadmin.PathClusterz)
	if res != nil {
		return []Result{*res}
	}
	entries, err := envoyadmin.ParseClusterz(bytes.NewReader(body))
	if err != nil {
		return []Result{{Status: Error, Message: fmt.Sprintf("istiod's %s: %v", envoyadmin.PathClusterz, err)}}
	}
	pod := istiodPod(c)
	showClusterz := istiodDebugCmd(c.Name, pod.Name, envoyadmin.PathClusterz)
	deploy := "istiod"
	if c.Istiod != nil {
		deploy = c.Istiod.Name
	}
	logs := func(s string) string {
		return fmt.Sprintf("%s -n istio-system logs deploy/%s --tail=-1 | grep -F %s", kc(c.Name), shellQuote(deploy), shellQuote(s))
	}
	ev := []Evidence{Ev("istiod", pod.Name)}

	// Metrics, where istiod exports them: a second view of each cluster's
	// sync state; not being able to read them is no failure.
	var metrics map[string]string
	mbody, merr := env.Admin.Get(ctx, envoyadmin.PodRef{Context: c.Name, Namespace: pod.Namespace, Name: pod.Name, Port: envoyadmin.IstiodMonitoringPort}, envoyadmin.PathMetrics)
	switch {
	case errors.Is(merr, ErrNotRecorded):
		ev = append(ev, Ev("metrics", "not recorded in the snapshot"))
	case merr != nil:
		ev = append(ev, Ev("metrics", fmt.Sprintf("not read: %.200v", merr)))
	default:
		m, found, err := envoyadmin.ParseRemoteClusterSync(bytes.NewReader(mbody))
		switch {
		case err != nil:
			ev = append(ev, Ev("metrics", fmt.Sprintf("not parsed: %.200v", err)))
		case !found:
			ev = append(ev, Ev("metrics", envoyadmin.MetricRemoteClusterSyncStatus+" not exported by this istiod"))
		default:
			metrics = m
		}
	}

	byID := map[string]envoyadmin.ClusterzEntry{}
	bySecret := map[string][]envoyadmin.ClusterzEntry{}
	for _, e := range entries {
		if e.SecretName == "" {
			continue // istiod's own (config) cluster
		}
		byID[e.ID] = e
		bySecret[e.SecretName] = append(bySecret[e.SecretName], e)
	}
	have := map[string]bool{} // namespace/name/key of the secrets now
	for _, rs := range c.Inv.RemoteSecrets {
		for _, rk := range rs.Kubeconfigs {
			have[cluster.IstioNamespace+"/"+rs.Name+"/"+rk.ClusterID] = true
		}
	}

	var out []Result
	for _, rs := range c.Inv.RemoteSecrets {
		ref := cluster.IstioNamespace + "/" + rs.Name
		for _, rk := range rs.Kubeconfigs {
			target := rs.Name + "/" + rk.ClusterID
			inMesh := len(env.Mesh.ByID(rk.ClusterID)) > 0 || env.Mesh.ByServer(rk.Server) != nil
			r := istiodLoadedKey(c, ref, rk.ClusterID, inMesh, byID, bySecret, metrics, showClusterz, logs)
			r.Target = target
			if t := env.Mesh.ByID(rk.ClusterID); len(t) == 1 {
				r.Peer = t[0].Name
			}
			out = append(out, with(r, ev...))
		}
	}
	for _, e := range entries {
		if e.SecretName == "" || have[e.SecretName+"/"+e.ID] {
			continue
		}
		ns, name, _ := strings.Cut(e.SecretName, "/")
		target := name + "/" + e.ID
		if ns != cluster.IstioNamespace {
			r := with(skipf("istiod lists cluster %s from secret %s, outside %s, which meshdoctor does not list: cannot tell", e.ID, e.SecretName, cluster.IstioNamespace), ev...)
			r.Target = target
			out = append(out, r)
			continue
		}
		why := fmt.Sprintf("secret %s is gone", e.SecretName)
		for _, rs := range c.Inv.RemoteSecrets {
			if rs.Name == name {
				why = fmt.Sprintf("secret %s no longer has the key %s", e.SecretName, e.ID)
			}
		}
		r := noted(failf(showClusterz+"\n"+logs(e.SecretName)+"\n"+fmt.Sprintf("%s -n istio-system rollout restart deploy/%s", kc(c.Name), shellQuote(deploy)),
			"istiod still holds cluster %s (%s), but %s: it keeps serving that cluster's endpoints", e.ID, orNone(e.SyncStatus), why),
			"istiod drops a cluster when its secret or key is deleted (pkg/kube/multicluster deleteRemoteConfig); one it still lists missed that event: its log shows why, and a restart makes it read the secrets anew. The inventory and /debug/clusterz are read moments apart: run again if the secret was just deleted")
		r.Target = target
		out = append(out, with(r, ev...))
	}
	if len(out) == 0 {
		return []Result{noted(pass("no remote secret and no remote cluster loaded", ev...), loadedNote)}
	}
	return out
}

// istiodLoadedKey judges one key of a remote secret against what istiod
// loaded (pkg/kube/multicluster/secretcontroller.go addRemoteConfig): a key
// equal to istiod's own cluster ID is ignored, a cluster ID another secret
// registered first is ignored, every other key is loaded under its name.
func istiodLoadedKey(c *mesh.Cluster, ref, key string, inMesh bool, byID map[string]envoyadmin.ClusterzEntry, bySecret map[string][]envoyadmin.ClusterzEntry,
	metrics map[string]string, showClusterz string, logs func(string) string) Result {
	if key == c.ID {
		return skipf("key %s is istiod's own cluster ID, which istiod ignores (see secrets.remote-cluster-id)", key)
	}
	e, ok := byID[key]
	switch {
	case ok && e.SecretName != ref:
		return noted(warnf(showClusterz+"\n"+logs(key),
			"istiod has cluster %s from secret %s, not from %s: it ignores this secret's key (a cluster ID is registered once)", key, e.SecretName, ref),
			"keep one secret per cluster ID: delete the one that should not be there")
	case !ok:
		var others []string
		for _, o := range bySecret[ref] {
			others = append(others, o.ID)
		}
		if len(others) > 0 {
			return noted(failf(showClusterz+"\n"+logs(ref),
				"istiod loaded secret %s under cluster ID %s, not under its key %s: endpoints of that cluster carry another cluster ID", ref, strings.Join(others, ","), key),
				"istiod reloads a secret when it changes; one still loaded under an old key missed that update: its log shows why")
		}
		return noted(failf(showClusterz+"\n"+logs(ref),
			"secret %s has key %s, but istiod has not loaded that cluster: it watches nothing of it", ref, key),
			"istiod skips a key whose kubeconfig it cannot use (see secrets.remote-kubeconfig) and logs why; the inventory and /debug/clusterz are read moments apart: run again if the secret was just created")
	}
	status := e.SyncStatus
	ev := []Evidence{Ev("clusterz", status)}
	if metrics != nil {
		m, listed := metrics[key]
		switch {
		case !listed:
			ev = append(ev, Ev("metrics", "no sample for this cluster"))
		case m == "":
			ev = append(ev, Ev("metrics", "no state set (istiod zeroes a deleted cluster's states)"))
		default:
			ev = append(ev, Ev("metrics", m))
			if status == envoyadmin.SyncStatusSynced && m != envoyadmin.SyncStatusSynced {
				status = m
			}
		}
	}
	switch {
	case status == envoyadmin.SyncStatusSynced:
		return with(noted(pass(fmt.Sprintf("istiod loaded cluster %s from %s: synced", key, ref)), loadedNote), ev...)
	case !inMesh:
		// The secret is stale (secrets.remote-stale fails it, and
		// endpoints.istiod-sync warns of the watch): loaded as it says.
		return with(skipf("istiod loaded cluster %s from %s as the secret says; its watch (%s) is not judged: %s is not in the mesh (see secrets.remote-stale)", key, ref, orNone(status), key), ev...)
	case status == envoyadmin.SyncStatusSyncing:
		return with(noted(warnf(logs(key), "istiod loaded cluster %s from %s, still syncing", key, ref),
			"a cluster syncs for a moment after istiod (re)loads it; it is a problem when it stays (see secrets.remote-access)"), ev...)
	default:
		return with(noted(failf(logs(key), "istiod loaded cluster %s from %s, but its watch is %s: it serves no current endpoints of it", key, ref, orNone(status)),
			"timeout: the remote API server did not answer within PILOT_REMOTE_CLUSTER_TIMEOUT; closed: istiod stopped the watch. See secrets.remote-access for what the credentials may do"), ev...)
	}
}
