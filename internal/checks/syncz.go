package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// StaleAfter is how long a proxy may leave a push unacknowledged before
// the sync check fails rather than warns: a push in flight is STALE for a
// moment in istioctl proxy-status too.
const StaleAfter = time.Minute

var syncChecks = []Check{
	{ID: "endpoints.istiod-syncz", Title: "a remote cluster's proxies are connected to a primary's istiod and not stale (/debug/syncz)", Scope: PerCluster, Network: true,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResPods}, Cluster: istiodSyncz},
}

// istiodPods are the running istiod pods of every revision of a primary: a
// proxy connects to one replica, so each one's /debug/syncz is read.
func istiodPods(c *mesh.Cluster) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		if p.Namespace == cluster.IstioNamespace && p.Labels["app"] == "istiod" && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// proxyID is the xDS node ID's short form istiod lists: <pod>.<namespace>.
func proxyID(p *corev1.Pod) string { return p.Name + "." + p.Namespace }

func istiodSyncz(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Remote {
		return []Result{skipf("not applicable: %s cluster (its proxies connect to its own istiod; see istioctl proxy-status)", c.Role)}
	}
	if env.Admin == nil {
		return []Result{skipf("admin access not available")}
	}
	var primaries []*mesh.Cluster
	for _, p := range env.Mesh.Reachable() {
		if p.Role == mesh.Primary {
			primaries = append(primaries, p)
		}
	}
	if len(primaries) == 0 {
		return []Result{skipf("no reachable primary whose istiod could serve %s", c.Name)}
	}
	byProxy := map[string]envoyadmin.SynczEntry{}
	servedBy := map[string]string{}
	var read, unread []string
	var proxyStatus []string
	for _, p := range primaries {
		pods := istiodPods(p)
		if len(pods) == 0 {
			unread = append(unread, p.Name+" (no running istiod pod listed)")
			continue
		}
		proxyStatus = append(proxyStatus, fmt.Sprintf("istioctl --context %s proxy-status", shellQuote(p.Name)))
		for _, pod := range pods {
			ref := envoyadmin.PodRef{Context: p.Name, Namespace: pod.Namespace, Name: pod.Name, Port: envoyadmin.IstiodMonitoringPort}
			body, err := env.Admin.Get(ctx, ref, envoyadmin.PathSyncz)
			if errors.Is(err, ErrNotRecorded) {
				unread = append(unread, p.Name+"/"+pod.Name+" (not recorded in the snapshot)")
				continue
			}
			if err != nil {
				unread = append(unread, fmt.Sprintf("%s/%s (%v)", p.Name, pod.Name, err))
				continue
			}
			entries, err := envoyadmin.ParseSyncz(bytes.NewReader(body))
			if err != nil {
				unread = append(unread, fmt.Sprintf("%s/%s (%v)", p.Name, pod.Name, err))
				continue
			}
			read = append(read, p.Name+"/"+pod.Name)
			for _, e := range entries {
				byProxy[e.ProxyID] = e
				servedBy[e.ProxyID] = p.Name + "/" + pod.Name
			}
		}
	}
	ev := []Evidence{Ev("istiod read", orNone(strings.Join(read, ", ")))}
	if len(unread) > 0 {
		ev = append(ev, Ev("istiod not read", strings.Join(unread, "; ")))
	}
	if len(read) == 0 {
		if len(unread) > 0 && strings.Contains(strings.Join(unread, ""), "not recorded") {
			return []Result{skipf("no recorded %s in the snapshot", envoyadmin.PathSyncz)}
		}
		return []Result{with(Result{Status: Error, Message: "could not read /debug/syncz from any primary's istiod",
			Remediation: strings.Join(proxyStatus, "\n")}, ev...)}
	}
	fix := strings.Join(proxyStatus, "\n")
	var out []Result
	expected := 0
	checked := map[string]bool{}
	for i := range c.Inv.Pods {
		pod := &c.Inv.Pods[i]
		if !hasSidecar(pod) && !(pod.Namespace == cluster.IstioNamespace && slices.ContainsFunc(pod.Spec.Containers, func(ct corev1.Container) bool { return ct.Name == "istio-proxy" })) {
			continue
		}
		if pod.Status.Phase != corev1.PodRunning {
			continue
		}
		expected++
		id := proxyID(pod)
		checked[id] = true
		e, ok := byProxy[id]
		target := pod.Namespace + "/" + pod.Name
		switch {
		case !ok && len(unread) > 0:
			r := noted(warnf(fix, "proxy %s is in no /debug/syncz that could be read; some istiod replicas could not be read", id),
				"a proxy connects to one istiod replica: read the missing ones, or run istioctl proxy-status")
			r.Target = target
			out = append(out, with(r, ev...))
		case !ok:
			r := noted(failf(fmt.Sprintf("%s -n %s logs %s -c istio-proxy --tail=50 | grep -iE 'xds|connection|15012'", kc(c.Name), shellQuote(pod.Namespace), shellQuote(pod.Name)),
				"proxy %s of remote cluster %s is connected to no primary's istiod: it has no configuration and no endpoints from the mesh", id, c.Name),
				"the proxy reaches istiod through discoveryAddress (the primary's east-west gateway on 15012 in primary-remote): look for connection errors in its log; see controlplane.remote-discovery and gateway.ports")
			r.Target = target
			out = append(out, with(r, ev...))
		case e.ClusterID != c.ID:
			r := noted(failf(fmt.Sprintf("%s -n %s get pod %s -o jsonpath=%s", kc(c.Name), shellQuote(pod.Namespace), shellQuote(pod.Name),
				shellQuote(`{.spec.containers[?(@.name=="istio-proxy")].env[?(@.name=="ISTIO_META_CLUSTER_ID")].value}`)),
				"proxy %s of %s is connected as cluster %q, not %s's clusterName %s: istiod serves it another cluster's view", id, c.Name, e.ClusterID, c.Name, c.ID),
				"the injector sets ISTIO_META_CLUSTER_ID from its webhook path (/inject/cluster/<id>/net/<network>); fix the remote's injector and restart the pod")
			r.Target = target
			out = append(out, with(r, ev...))
		default:
			out = append(out, staleResults(env, e, target, servedBy[id], fix)...)
		}
	}
	// Proxies of this cluster that are not listed in its inventory.
	for _, id := range sortedKeys(byProxy) {
		e := byProxy[id]
		if e.ClusterID != c.ID || checked[id] {
			continue
		}
		for _, r := range staleResults(env, e, id, servedBy[id], fix) {
			if r.Status != Pass {
				out = append(out, r)
			}
		}
		expected++
	}
	if expected == 0 {
		return []Result{with(skipf("no proxy of %s listed and none in /debug/syncz as cluster %s", c.Name, c.ID), ev...)}
	}
	return out
}

func staleResults(env *Env, e envoyadmin.SynczEntry, target, istiod, fix string) []Result {
	stale := e.Stale()
	slices.Sort(stale)
	ev := []Evidence{Ev("istiod", istiod), Ev("proxy", e.ProxyID)}
	if len(stale) == 0 {
		r := pass(fmt.Sprintf("proxy %s connected to %s, synced", e.ProxyID, istiod), ev...)
		r.Target = target
		return []Result{r}
	}
	oldest := time.Time{}
	var errs []string
	for _, t := range stale {
		rs := e.Resources[t]
		if oldest.IsZero() || !rs.SentTime.IsZero() && rs.SentTime.Before(oldest) {
			oldest = rs.SentTime
		}
		if rs.LastError != "" {
			errs = append(errs, fmt.Sprintf("%s: %.200s", shortType(t), rs.LastError))
		}
	}
	var types []string
	for _, t := range stale {
		types = append(types, shortType(t))
	}
	if len(errs) > 0 {
		ev = append(ev, Ev("last errors", strings.Join(errs, "; ")))
	}
	since := ""
	old := !oldest.IsZero() && env.Now.Sub(oldest) > StaleAfter && env.RecordedAt.IsZero()
	if !oldest.IsZero() {
		since = fmt.Sprintf(" (sent %s)", oldest.UTC().Format(time.RFC3339))
	}
	var r Result
	if old || len(errs) > 0 {
		r = noted(failf(fix, "proxy %s has not acknowledged %s%s: it runs on older configuration (STALE in istioctl proxy-status)", e.ProxyID, strings.Join(types, ","), since),
			"a rejected push shows its error in the evidence and in the proxy's log; a proxy that stays STALE without one has lost its stream to istiod")
	} else {
		r = noted(warnf(fix, "proxy %s has not yet acknowledged %s%s", e.ProxyID, strings.Join(types, ","), since),
			"a push in flight is STALE for a moment: run the command again; it is a problem when it stays")
	}
	r.Target = target
	return []Result{with(r, ev...)}
}

// shortType turns a type URL into its last element (Cluster, Listener...).
func shortType(t string) string {
	if i := strings.LastIndexAny(t, "./"); i >= 0 && i+1 < len(t) {
		return t[i+1:]
	}
	return t
}
