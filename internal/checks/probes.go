package checks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

var probeChecks = []Check{
	{ID: "probes.cross-cluster", Title: "curl from a probe client pod reaches a multi-cluster service in every cluster", Scope: PerCluster, Network: true,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResPods, cluster.ResServices, cluster.ResEndpointSlices}, Cluster: crossCluster},
	{ID: "probes.gateway-from-pods", Title: "a probe client pod reaches every remote east-west gateway on its gateway port, 15012 and 15017", Scope: Pair, Network: true,
		DependsOn: []string{"gateway.address"}, Needs: []string{cluster.ResPods}, Cluster: gatewayFromPods},
}

// ProbeSettings tune the in-cluster probes.
type ProbeSettings struct {
	// DeployErrors say, per context, why --deploy-probes has no pod there.
	DeployErrors map[string]error
	// Exec runs commands in probe pods (nil: in-cluster probes skipped).
	Exec probe.Execer
	// Targets are host:port/path given with --target; empty: every service
	// present in more than one cluster.
	Targets []string
	// Requests per target (default 10).
	Requests int
	// Timeout per request (default 3s).
	Timeout time.Duration
	// Proxy, "namespace/pod", is the sidecar whose endpoint table is read
	// in every cluster (default: the probe pod).
	Proxy string
	// Service focuses the endpoint checks on one host.
	Service string
}

// deployHint applies Istio's samples/curl (app=curl), which replaced
// samples/sleep.
func deployHint(c *mesh.Cluster) string {
	return fmt.Sprintf("%s create namespace sample\n%s label namespace sample istio-injection=enabled\n%s -n sample apply -f samples/curl/curl.yaml",
		kc(c.Name), kc(c.Name), kc(c.Name))
}

// deployNote goes with deployHint.
const deployNote = "samples/curl/curl.yaml is in the Istio release; or run meshdoctor with --deploy-probes, which deploys a probe client and removes it after"

// probeSelector is the label selector the cluster's probe clients were
// listed with.
func probeSelector(c *mesh.Cluster) string {
	if c.Inv.ProbeSelector == "" {
		return "app=sleep (a snapshot of an older meshdoctor)"
	}
	return c.Inv.ProbeSelector
}

// probePod picks a running probe client with a sidecar.
func probePod(c *mesh.Cluster) (*corev1.Pod, string) {
	var seen []string
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		if p.Namespace == cluster.IstioNamespace {
			continue
		}
		seen = append(seen, fmt.Sprintf("%s/%s (%s)", p.Namespace, p.Name, orUnknown(string(p.Status.Phase))))
		hasProxy := slices.ContainsFunc(p.Spec.Containers, func(ct corev1.Container) bool { return ct.Name == "istio-proxy" })
		if p.Status.Phase == corev1.PodRunning && hasProxy {
			return p, ""
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Sprintf("no probe client pod (selector %s) in this cluster", probeSelector(c))
	}
	return nil, fmt.Sprintf("no running probe client pod (selector %s) with an istio-proxy sidecar: %s", probeSelector(c), strings.Join(seen, ", "))
}

func mainContainer(p *corev1.Pod) string {
	for _, ct := range p.Spec.Containers {
		if ct.Name != "istio-proxy" {
			return ct.Name
		}
	}
	return p.Spec.Containers[0].Name
}

type target struct {
	url      string
	service  string // ns/name, empty for --target
	clusters []string
}

func probeTargets(env *Env) []target {
	var out []target
	for _, t := range env.Probes.Targets {
		u := t
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		out = append(out, target{url: u})
	}
	if len(out) > 0 {
		return out
	}
	return multiClusterServices(env, "")
}

// multiClusterServices are the services present in more than one cluster
// (namespace sameness) that serve, with their first port; host, when set,
// keeps only that one (name.namespace[.svc.cluster.local]). A service
// serves in a cluster where it has a ready endpoint that is no probe client:
// the clients' own Services (samples/curl and samples/sleep make one on
// port 80 with nothing listening) are no target, and a cluster where a
// service has no such endpoint is not expected to answer.
func multiClusterServices(env *Env, host string) []target {
	var out []target
	type svcInfo struct {
		port     int32
		present  int
		clusters []string // where it serves
	}
	by := map[string]*svcInfo{}
	for _, c := range env.Mesh.Reachable() {
		clients := probeClients(c)
		for i := range c.Inv.Services {
			s := &c.Inv.Services[i]
			if slices.Contains(skipNamespaces, s.Namespace) || s.Namespace == "default" || len(s.Spec.Ports) == 0 {
				continue
			}
			k := s.Namespace + "/" + s.Name
			if by[k] == nil {
				by[k] = &svcInfo{port: s.Spec.Ports[0].Port}
			}
			by[k].present++
			if serves(c, s.Namespace, s.Name, clients) {
				by[k].clusters = append(by[k].clusters, c.Name)
			}
		}
	}
	for _, k := range sortedKeys(by) {
		si := by[k]
		if si.present < 2 || len(si.clusters) == 0 {
			continue
		}
		ns, name, _ := strings.Cut(k, "/")
		if host != "" && !strings.HasPrefix(name+"."+ns+".svc.cluster.local", strings.TrimSuffix(host, ".")) {
			continue
		}
		path := "/"
		if name == "helloworld" {
			path = "/hello"
		}
		out = append(out, target{url: fmt.Sprintf("http://%s.%s.svc.cluster.local:%d%s", name, ns, si.port, path), service: k, clusters: si.clusters})
	}
	return out
}

// probeClients are the probe client pods of a cluster (namespace/name and
// IPs): the pods listed by the probe selector outside istio-system.
func probeClients(c *mesh.Cluster) map[string]bool {
	out := map[string]bool{}
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		if p.Namespace == cluster.IstioNamespace {
			continue
		}
		out[p.Namespace+"/"+p.Name] = true
		for _, ip := range p.Status.PodIPs {
			out[ip.IP] = true
		}
		if p.Status.PodIP != "" {
			out[p.Status.PodIP] = true
		}
	}
	return out
}

// serves reports whether the Service has, in c, a ready endpoint that is
// not a probe client.
func serves(c *mesh.Cluster, ns, name string, clients map[string]bool) bool {
	for _, es := range c.Inv.EndpointSlices {
		if es.Namespace != ns || es.ServiceName != name {
			continue
		}
		for _, ep := range es.Endpoints {
			if !endpointReady(ep) {
				continue
			}
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				pns := ep.TargetRef.Namespace
				if pns == "" {
					pns = es.Namespace
				}
				if !clients[pns+"/"+ep.TargetRef.Name] {
					return true
				}
				continue
			}
			for _, a := range ep.Addresses {
				if !clients[a] {
					return true
				}
			}
		}
	}
	return false
}

// podCluster maps pod names behind services to their clusters, from the
// EndpointSlices' targetRefs.
func podCluster(m *mesh.Mesh) map[string]string {
	out := map[string]string{}
	for _, c := range m.Reachable() {
		for _, es := range c.Inv.EndpointSlices {
			for _, ep := range es.Endpoints {
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
					out[ep.TargetRef.Name] = c.Name
				}
			}
		}
	}
	return out
}

// probeFrom is the probe pod of c and the probe timeout, or the result
// that says why the in-cluster probes cannot run there.
func probeFrom(env *Env, c *mesh.Cluster) (*corev1.Pod, probe.PodRef, time.Duration, []Result) {
	if env.Probes.Exec == nil {
		return nil, probe.PodRef{}, 0, []Result{skipf("in-cluster probes not available (no exec)")}
	}
	pod, why := probePod(c)
	if pod == nil {
		if err := env.Probes.DeployErrors[c.Name]; err != nil {
			why = "--deploy-probes: " + err.Error()
		}
		r := skipf("%s", why)
		r.Remediation, r.Note = deployHint(c), deployNote
		return nil, probe.PodRef{}, 0, []Result{r}
	}
	timeout := env.Probes.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return pod, probe.PodRef{Context: c.Name, Namespace: pod.Namespace, Name: pod.Name, Container: mainContainer(pod)}, timeout, nil
}

func crossCluster(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	_, ref, timeout, res := probeFrom(env, c)
	if res != nil {
		return res
	}
	targets := probeTargets(env)
	if len(targets) == 0 {
		return []Result{skipf("no service is present in more than one cluster with a ready endpoint that is no probe client; name one with --target host:port/path")}
	}
	n := max(env.Probes.Requests, 1)
	owners := podCluster(env.Mesh)
	var out []Result
	for _, t := range targets {
		r := Result{Target: t.url}
		r.Evidence = []Evidence{Ev("from", ref.String())}
		attempts, fail := curlIn(ctx, env, c, ref, t.url, n, timeout)
		if fail != nil {
			fail.Target, fail.Evidence = t.url, r.Evidence
			out = append(out, *fail)
			continue
		}
		out = append(out, judgeCurlWith(c, ref, t, attempts, owners, r, localityPolicy(env, c, t)))
	}
	return out
}

// curlIn runs n curl requests to url (probe.CurlCommand) in the probe pod
// ref of c (probeFrom) and parses what curl printed. When there is no
// attempt to judge, fail says why (Skipped for a snapshot that did not
// record the probe, Error otherwise) with the command to confirm; the
// caller adds its Target and Evidence. probes.cross-cluster and
// probes.serviceentry-dns share it.
func curlIn(ctx context.Context, env *Env, c *mesh.Cluster, ref probe.PodRef, url string, n int, timeout time.Duration) ([]probe.CurlAttempt, *Result) {
	cmd, err := probe.CurlCommand(url, n, timeout)
	if err != nil {
		return nil, &Result{Status: Error, Message: "not probed: " + err.Error()}
	}
	stdout, stderr, code, err := env.Probes.Exec.Exec(ctx, ref, cmd)
	if errors.Is(err, ErrNotRecorded) {
		return nil, &Result{Status: Skipped, Message: "no recorded curl probe in the snapshot"}
	}
	if err != nil {
		return nil, &Result{Status: Error, Message: fmt.Sprintf("exec in %s: %v", ref, err),
			Remediation: fmt.Sprintf("%s auth can-i create pods/exec -n %s", kc(c.Name), shellQuote(ref.Namespace))}
	}
	attempts, perr := probe.ParseCurl(stdout)
	if perr != nil || len(attempts) == 0 {
		return nil, &Result{Status: Error, Message: fmt.Sprintf("probe command gave no result (exit %d): %s", code, firstLine(string(stderr))),
			Remediation: fmt.Sprintf("%s -n %s exec %s -c %s -- curl -v %s", kc(c.Name), shellQuote(ref.Namespace), shellQuote(ref.Name), shellQuote(ref.Container), shellQuote(url))}
	}
	return attempts, nil
}

func judgeCurl(c *mesh.Cluster, ref probe.PodRef, t target, attempts []probe.CurlAttempt, owners map[string]string, r Result) Result {
	return judgeCurlWith(c, ref, t, attempts, owners, r, probePolicy{})
}

// judgeCurlWith judges the answers under the target's locality policy
// (traffic.go localityPolicy): answered only locally is a pass where the
// policy prefers the local locality, and a distribute rule's weights are
// compared with the split.
func judgeCurlWith(c *mesh.Cluster, ref probe.PodRef, t target, attempts []probe.CurlAttempt, owners map[string]string, r Result, pol probePolicy) Result {
	confirm := fmt.Sprintf("%s -n %s exec %s -c %s -- curl -sS %s", kc(c.Name), shellQuote(ref.Namespace), shellQuote(ref.Name), shellQuote(ref.Container), shellQuote(t.url))
	byCluster := map[string]int{}
	failures := map[string]int{}
	ok := 0
	for _, a := range attempts {
		switch {
		case a.Exit != 0:
			failures[probe.CurlExitMeaning(a.Exit)]++
		case a.Status < 200 || a.Status > 299:
			failures[fmt.Sprintf("HTTP %d", a.Status)]++
		default:
			ok++
			cl := owners[a.Responder]
			if cl == "" {
				cl = "unknown"
				if a.Responder != "" {
					cl = "unknown (" + a.Responder + ")"
				}
			}
			byCluster[cl]++
		}
	}
	var dist []string
	for _, k := range sortedKeys(byCluster) {
		dist = append(dist, fmt.Sprintf("%s=%d", k, byCluster[k]))
	}
	r.Evidence = append(r.Evidence, Ev("requests", len(attempts)), Ev("answered by", strings.Join(dist, ", ")),
		Ev("p50", probe.Percentile(attempts, 50).Round(100*time.Microsecond)), Ev("p95", probe.Percentile(attempts, 95).Round(100*time.Microsecond)))
	if len(t.clusters) > 0 {
		r.Evidence = append(r.Evidence, Ev("serves in", strings.Join(t.clusters, ", ")))
	}
	if len(failures) > 0 {
		var fs []string
		for _, k := range sortedKeys(failures) {
			fs = append(fs, fmt.Sprintf("%d× %s", failures[k], k))
		}
		sort.Strings(fs)
		r.Status = Fail
		r.Message = fmt.Sprintf("%d of %d requests failed: %s", len(attempts)-ok, len(attempts), strings.Join(fs, "; "))
		r.Remediation = confirm + fmt.Sprintf("\nistioctl --context %s proxy-config endpoints %s -n %s | grep -F %s", shellQuote(c.Name), shellQuote(ref.Name), shellQuote(ref.Namespace), shellQuote(hostOf(t.url)))
		return r
	}
	remote := 0
	for cl, k := range byCluster {
		if cl != c.Name && !strings.HasPrefix(cl, "unknown") {
			remote += k
		}
	}
	if pol.kind != "" {
		r.Evidence = append(r.Evidence, Ev("locality policy", "DestinationRule "+pol.rule+": "+pol.why))
	}
	if pol.kind == "distribute" {
		within, ev := judgeSplit(byCluster, ok, pol)
		r.Evidence = append(r.Evidence, ev...)
		if !within {
			r.Status = Warn
			r.Message = fmt.Sprintf("answers split %s, outside what DestinationRule %s distributes (see expected split)", strings.Join(dist, ", "), pol.rule)
			r.Remediation = fmt.Sprintf("istioctl --context %s proxy-config endpoints %s -n %s --cluster %s",
				shellQuote(c.Name), shellQuote(ref.Name), shellQuote(ref.Namespace), shellQuote(fmt.Sprintf("outbound|%s||%s", portOf(t.url), hostOf(t.url))))
			r.Note = "the weights are per locality: look at each endpoint's locality and load-balancing weight; ejected or unhealthy endpoints and a sidecar outside the rule's from locality change the split"
			return r
		}
		r.Status = Pass
		r.Message = fmt.Sprintf("%d/%d answered (%s), within the split DestinationRule %s distributes, p50 %s", ok, len(attempts), strings.Join(dist, ", "), pol.rule, probe.Percentile(attempts, 50).Round(100*time.Microsecond))
		return r
	}
	if len(t.clusters) > 1 && remote == 0 && byCluster["unknown"] == 0 && pol.kind == "prefer-local" {
		r.Status = Pass
		r.Message = fmt.Sprintf("answered only locally: all %d answers came from %s, as DestinationRule %s prefers (%s)", ok, c.Name, pol.rule, pol.why)
		return r
	}
	if len(t.clusters) > 1 && remote == 0 && byCluster["unknown"] == 0 {
		r.Status = Fail
		r.Message = fmt.Sprintf("no cross-cluster traffic: all %d answers came from %s, though the service serves in %s", ok, c.Name, strings.Join(t.clusters, ", "))
		r.Remediation = fmt.Sprintf("istioctl --context %s proxy-config endpoints %s -n %s --cluster %s",
			shellQuote(c.Name), shellQuote(ref.Name), shellQuote(ref.Namespace), shellQuote(fmt.Sprintf("outbound|%s||%s", portOf(t.url), hostOf(t.url))))
		r.Note = "remote endpoints missing? see the gateway, network and secrets checks; locality load balancing in a DestinationRule can also keep traffic local"
		return r
	}
	r.Status = Pass
	r.Message = fmt.Sprintf("%d/%d answered (%s), p50 %s", ok, len(attempts), strings.Join(dist, ", "), probe.Percentile(attempts, 50).Round(100*time.Microsecond))
	return r
}

func hostOf(url string) string {
	u := url[strings.Index(url, "://")+3:]
	if i := strings.IndexAny(u, ":/"); i >= 0 {
		u = u[:i]
	}
	return u
}

func portOf(url string) string {
	u := url[strings.Index(url, "://")+3:]
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		return u[i+1:]
	}
	return "80"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func gatewayFromPods(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	pod, ref, timeout, res := probeFrom(env, c)
	if res != nil {
		return res
	}
	var out []Result
	for _, o := range env.Mesh.Reachable() {
		if o == c {
			continue
		}
		for i := range o.Gateways {
			g := &o.Gateways[i]
			if len(g.Addresses) == 0 {
				continue
			}
			out = append(out, probeGatewayFromPod(ctx, env, c, o, g, pod, ref, timeout)...)
		}
	}
	if len(out) == 0 {
		return []Result{skipf("no other cluster has a gateway address to reach")}
	}
	return out
}

// probeGatewayFromPod connects from the probe pod to one remote gateway's
// first address on its gateway port and istiod's ports, as a client dials
// them (nodePorts on a NodePort gateway).
func probeGatewayFromPod(ctx context.Context, env *Env, c, o *mesh.Cluster, g *mesh.Gateway, pod *corev1.Pod, ref probe.PodRef, timeout time.Duration) []Result {
	var out []Result
	addr := g.Addresses[0]
	for _, port := range []int{g.Port, dialPort(g, 15012), dialPort(g, 15017)} {
		r := Result{Peer: o.Name, Target: fmt.Sprintf("%s port %d", addr, port), Evidence: []Evidence{Ev("from", ref.String()), Ev("vantage", "pod "+ref.String()), Ev("gateway", g.Name())}}
		stdout, stderr, _, err := env.Probes.Exec.Exec(ctx, ref, probe.ConnectCommand(addr, port, timeout))
		if errors.Is(err, ErrNotRecorded) {
			r.Status, r.Message = Skipped, "no recorded probe in the snapshot"
			out = append(out, r)
			continue
		}
		if err != nil {
			r.Status, r.Message = Error, fmt.Sprintf("exec in %s: %v", ref, err)
			out = append(out, r)
			continue
		}
		res, perr := probe.ParseConnect(stdout)
		if perr != nil {
			r.Status, r.Message = Error, fmt.Sprintf("probe command gave no result: %v %s", perr, firstLine(string(stderr)))
			out = append(out, r)
			continue
		}
		r.Evidence = append(r.Evidence, Ev("curl exit", res.Exit), Ev("connect", res.Connect.Round(time.Millisecond)))
		if res.Connected() {
			r.Status, r.Message = Pass, fmt.Sprintf("TCP connect to %s's gateway %s (curl exit %d: %s)", o.Name, g.Name(), res.Exit, probe.CurlExitMeaning(res.Exit))
		} else {
			r.Status = Fail
			r.Message = fmt.Sprintf("cannot reach %s's gateway %s from inside %s: %s", o.Name, g.Name(), c.Name, probe.CurlExitMeaning(res.Exit))
			r.Remediation = fmt.Sprintf("%s -n %s exec %s -c %s -- curl -sv --connect-timeout 3 %s",
				kc(c.Name), shellQuote(pod.Namespace), shellQuote(pod.Name), shellQuote(ref.Container), shellQuote(fmt.Sprintf("telnet://%s:%d", addr, port)))
			r.Note = fmt.Sprintf("check the egress rules from %s's nodes to %s", c.Name, addr)
		}
		out = append(out, r)
	}
	return out
}
