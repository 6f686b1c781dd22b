package checks

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"istio.io/api/annotation"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// How a remote cluster reaches its primary's istiod (issue 19 §1): the
// remote's istiod Service as the chart renders it, the injector webhook's
// path, the primary leading the remote, and the primary's expose-istiod
// routing. Declared after the gateway checks (expose-istiod builds on
// gateway.ports).
var remotePathChecks = []Check{
	{ID: "controlplane.remote-istiod-service", Title: "a remote's istiod Service, its EndpointSlice and the injector webhook agree with remotePilotAddress",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready", "controlplane.mesh-config"},
		Needs: []string{cluster.ResServices, cluster.ResEndpointSlices, cluster.ResMutatingWebhooks}, Cluster: remoteIstiodService},
	{ID: "controlplane.remote-injection-path", Title: "a remote's injector webhook path names its clusterName and network",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready", "controlplane.mesh-config"},
		Needs: []string{cluster.ResMutatingWebhooks, cluster.ResNamespaces}, Cluster: remoteInjectionPath},
	{ID: "controlplane.remote-served", Title: "the primary leads its remote clusters (EXTERNAL_ISTIOD, topology.istio.io/controlPlaneClusters)",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready"},
		Needs: []string{cluster.ResNamespaces}, Cluster: remoteServed},
	{ID: "controlplane.expose-istiod", Title: "a primary with remotes routes 15012 and 15017 of its east-west gateway to an istiod Service that exists",
		Scope: PerCluster, DependsOn: []string{"controlplane.istiod-ready", "gateway.ports"},
		Needs: []string{cluster.ResServices, cluster.ResGateways, cluster.ResVirtualServices}, Cluster: exposeIstiod},
}

// The chart's test of remotePilotAddress for an IP, IPv4 then IPv6
// (istio-discovery templates remote-istiod-service.yaml and
// remote-istiod-endpointslices.yaml): an IP gets a selector-less Service
// with an EndpointSlice to it, anything else an ExternalName Service.
var (
	chartIPv4 = regexp.MustCompile(`^([0-9]*\.){3}[0-9]*$`)
	chartIPv6 = regexp.MustCompile(`^([0-9a-fA-F]*:)+[0-9a-fA-F]*$`)
)

func chartIsIP(addr string) bool { return chartIPv4.MatchString(addr) || chartIPv6.MatchString(addr) }

// remoteIstiodServiceName is the Service the chart renders for a remote
// revision: istiod[-<rev>], with -remote when a local istiod injects
// (istiodRemote.enabledLocalInjectorIstiod).
func remoteIstiodServiceName(rev *mesh.Revision) string {
	name := "istiod"
	if rev.Name != "" && rev.Name != mesh.DefaultRevision {
		name += "-" + rev.Name
	}
	if v, ok := rev.InjectorValues["istiodRemote"].(map[string]any); ok {
		if b, _ := v["enabledLocalInjectorIstiod"].(bool); b {
			name += "-remote"
		}
	}
	return name
}

// webhookConfig returns the cluster's MutatingWebhookConfiguration named
// name, or nil.
func webhookConfig(c *mesh.Cluster, name string) *cluster.WebhookConfig {
	for i := range c.Inv.MutatingWebhooks {
		if c.Inv.MutatingWebhooks[i].Name == name {
			return &c.Inv.MutatingWebhooks[i]
		}
	}
	return nil
}

// remoteRevisions are the revisions of a remote cluster with a
// remotePilotAddress, or a skip saying why there are none.
func remoteRevisions(c *mesh.Cluster) ([]*mesh.Revision, []Result) {
	if c.Role != mesh.Remote {
		return nil, []Result{skipf("not a remote cluster (role %s)", c.Role)}
	}
	var out []*mesh.Revision
	for _, r := range c.Revisions {
		if r.InjectorErr == nil && r.ValuesString("global", "remotePilotAddress") != "" {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, []Result{skipf("no revision with a readable global.remotePilotAddress (see controlplane.remote-discovery and controlplane.mesh-config)")}
	}
	return out, nil
}

// slicesOf are the EndpointSlices of a Service (kubernetes.io/service-name).
func slicesOf(c *mesh.Cluster, ns, svc string) []cluster.EndpointSlice {
	var out []cluster.EndpointSlice
	for _, s := range c.Inv.EndpointSlices {
		if s.Namespace == ns && s.ServiceName == svc {
			out = append(out, s)
		}
	}
	return out
}

// primaryServing reports whether host:port is a primary's east-west
// gateway or istiod load balancer that exposes port, and which.
func primaryServing(env *Env, host string, port int32) (string, bool) {
	for _, p := range env.Mesh.Primaries() {
		if g := p.GatewayWithAddress(host); g != nil {
			return p.Name + " gateway " + g.Name(), remoteSvcPort(g.Service, port) != nil
		}
		if s := p.Inv.Service(cluster.IstioNamespace, "istiod"); s != nil {
			for _, ing := range s.Status.LoadBalancer.Ingress {
				if ing.IP == host || ing.Hostname == host {
					return p.Name + " Service istio-system/istiod", remoteSvcPort(s, port) != nil
				}
			}
		}
	}
	return "", false
}

func remoteSvcPort(s *cluster.Service, port int32) *corev1.ServicePort {
	for i := range s.Spec.Ports {
		if s.Spec.Ports[i].Port == port {
			return &s.Spec.Ports[i]
		}
	}
	return nil
}

// remoteIstiodService checks a remote's istiod Service against what the
// chart renders for its remotePilotAddress and the injector webhook
// against how the API server resolves it. The API server's webhook client
// resolves clientConfig.service with the ClusterIP resolver
// (k8s.io/apiserver pkg/util/proxy ResolveCluster: ClusterIP:port, or for
// an ExternalName Service externalName:<the webhook's port> with no
// targetPort mapping) or, with --enable-aggregator-routing, the endpoint
// resolver (ResolveEndpoint: an EndpointSlice endpoint on the slice port
// named like the Service port; an ExternalName Service is refused,
// "unsupported service type").
func remoteIstiodService(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	revs, skip := remoteRevisions(c)
	if skip != nil {
		return skip
	}
	var out []Result
	for _, rev := range revs {
		out = append(out, revResult(c, rev, oneRemoteIstiodService(env, c, rev)))
	}
	return out
}

func oneRemoteIstiodService(env *Env, c *mesh.Cluster, rev *mesh.Revision) Result {
	addr := rev.ValuesString("global", "remotePilotAddress")
	name := remoteIstiodServiceName(rev)
	ns := cluster.IstioNamespace
	show := fmt.Sprintf("%s -n istio-system get svc,endpointslices -o wide | grep %s\n%s get mutatingwebhookconfiguration %s -o yaml", kc(c.Name), shellQuote(name), kc(c.Name), shellQuote(orDefault(rev.Webhook, mesh.InjectorConfigMapName(rev.Name))))
	reinstall := fmt.Sprintf("reinstall the remote with the remote profile and --set values.global.remotePilotAddress=%s (istioctl install --context %s): the chart renders the Service, its EndpointSlice and the webhook together", addr, c.Name)
	ev := []Evidence{Ev("remotePilotAddress", addr), Ev("service", ns+"/"+name)}
	svc := c.Inv.Service(ns, name)
	if svc == nil {
		return with(noted(failf(show, "remote has no Service %s/%s, which the chart renders for remotePilotAddress %s: sidecars (discoveryAddress istiod.%s.svc:15012) and the injector webhook have nothing to reach istiod by", ns, name, addr, ns), reinstall), ev...)
	}
	ev = append(ev, Ev("service type", orDefault(string(svc.Spec.Type), "ClusterIP")))
	external := svc.Spec.Type == corev1.ServiceTypeExternalName
	if chartIsIP(addr) {
		if external {
			return with(noted(failf(show, "Service %s/%s is ExternalName %s, but remotePilotAddress %s is an IP, for which the chart renders a selector-less Service with an EndpointSlice to it", ns, name, svc.Spec.ExternalName, addr), reinstall), ev...)
		}
		sl := slicesOf(c, ns, name)
		var addrs []string
		var withAddr *cluster.EndpointSlice
		for i := range sl {
			for _, e := range sl[i].Endpoints {
				addrs = append(addrs, e.Addresses...)
				if slices.Contains(e.Addresses, addr) && withAddr == nil {
					withAddr = &sl[i]
				}
			}
		}
		ev = append(ev, Ev("endpointslice addresses", orNone(strings.Join(addrs, ", "))))
		if len(sl) == 0 {
			return with(noted(failf(show, "Service %s/%s has no EndpointSlice: the chart renders one to remotePilotAddress %s; without it the webhook call and sidecars' discovery find no endpoint", ns, name, addr), reinstall), ev...)
		}
		if withAddr == nil {
			return with(noted(failf(show, "the EndpointSlices of Service %s/%s point at %s, not at remotePilotAddress %s: the webhook and discovery go to the old address", ns, name, strings.Join(addrs, ", "), addr), reinstall), ev...)
		}
		// Both resolvers match the slice port by the Service port's name.
		have := map[string]bool{}
		for _, p := range withAddr.Ports {
			if p.Name != nil {
				have[*p.Name] = true
			}
		}
		var missing []string
		for _, p := range svc.Spec.Ports {
			if !have[p.Name] {
				missing = append(missing, fmt.Sprintf("%s (%d)", orDefault(p.Name, "unnamed"), p.Port))
			}
		}
		if len(missing) > 0 {
			return with(noted(failf(show, "EndpointSlice %s/%s has no port named like Service port(s) %s: traffic to them finds no endpoint", ns, withAddr.Name, strings.Join(missing, ", ")), reinstall), ev...)
		}
	} else {
		if !external {
			return with(noted(failf(show, "remotePilotAddress %s is a hostname, for which the chart renders Service %s/%s as ExternalName, but it is %s", addr, ns, name, orDefault(string(svc.Spec.Type), "ClusterIP")), reinstall), ev...)
		}
		ev = append(ev, Ev("externalName", svc.Spec.ExternalName))
		if svc.Spec.ExternalName != addr {
			return with(noted(failf(show, "Service %s/%s is ExternalName %s, not remotePilotAddress %s", ns, name, svc.Spec.ExternalName, addr), reinstall), ev...)
		}
	}
	return webhookAgrees(env, c, rev, svc, addr, show, ev)
}

// webhookAgrees checks the remote revision's injector webhook clientConfig
// against the Service and the address.
func webhookAgrees(env *Env, c *mesh.Cluster, rev *mesh.Revision, svc *cluster.Service, addr, show string, ev []Evidence) Result {
	wc := webhookConfig(c, rev.Webhook)
	if rev.Webhook == "" || wc == nil {
		return with(skipf("Service %s/%s agrees with remotePilotAddress; revision %s has no injector webhook configuration to compare", svc.Namespace, svc.Name, rev.Name), ev...)
	}
	path := injectionPathOf(rev, wc)
	withURL := func(host string) string {
		return fmt.Sprintf("reinstall the remote with --set values.istiodRemote.injectionURL=https://%s%s (the webhook then dials the gateway's webhook port itself)", net.JoinHostPort(host, "15017"), path)
	}
	for _, wh := range wc.Webhooks {
		wev := append(slices.Clone(ev), Ev("webhook", wc.Name+" "+wh.Name))
		switch {
		case wh.Service != nil:
			port := wh.Service.Port
			if port == 0 {
				port = 443 // admissionregistration/v1 default
			}
			wev = append(wev, Ev("clientConfig.service", fmt.Sprintf("%s/%s:%d%s", wh.Service.Namespace, wh.Service.Name, port, wh.Service.Path)))
			target := c.Inv.Service(wh.Service.Namespace, wh.Service.Name)
			if target == nil {
				return with(noted(failf(show, "webhook %s calls Service %s/%s, which does not exist: pod creation in injected namespaces fails (failurePolicy Fail)", wh.Name, wh.Service.Namespace, wh.Service.Name), withURL(addr)), wev...)
			}
			if target.Spec.Type == corev1.ServiceTypeExternalName {
				what, served := primaryServing(env, target.Spec.ExternalName, port)
				msg := fmt.Sprintf("webhook %s calls ExternalName Service %s/%s: the API server dials %s, the webhook's port with no targetPort mapping, or refuses the Service outright with endpoint routing (--enable-aggregator-routing, as on EKS: \"unsupported service type ExternalName\")",
					wh.Name, target.Namespace, target.Name, net.JoinHostPort(target.Spec.ExternalName, strconv.Itoa(int(port))))
				switch {
				case what != "" && !served:
					return with(noted(failf(show, "%s; %s does not expose port %d", msg, what, port), withURL(target.Spec.ExternalName)), wev...)
				case what == "":
					return with(noted(warnf(show, "%s; %s is no primary's gateway or istiod address meshdoctor knows, so whether it serves the webhook on %d cannot be told", msg, target.Spec.ExternalName, port), withURL(target.Spec.ExternalName)), wev...)
				default:
					return with(noted(warnf(show, "%s; %s exposes port %d, so this works only with the ClusterIP resolver", msg, what, port), withURL(target.Spec.ExternalName)), wev...)
				}
			}
			if remoteSvcPort(target, port) == nil {
				return with(noted(failf(show, "webhook %s calls port %d of Service %s/%s, which has no such port (the API server: \"no service port %d found\")", wh.Name, port, target.Namespace, target.Name, port), withURL(addr)), wev...)
			}
		case wh.URL != "":
			wev = append(wev, Ev("clientConfig.url", wh.URL))
			u, err := url.Parse(wh.URL)
			if err != nil || u.Hostname() == "" {
				return with(failf(show, "webhook %s has a clientConfig.url that does not parse: %s", wh.Name, wh.URL), wev...)
			}
			port := int32(443)
			if p, err := strconv.Atoi(u.Port()); err == nil {
				port = int32(p)
			}
			what, served := primaryServing(env, u.Hostname(), port)
			switch {
			case what != "" && !served:
				return with(noted(failf(show, "webhook %s calls %s, but %s does not expose port %d", wh.Name, wh.URL, what, port), withURL(u.Hostname())), wev...)
			case what == "" && u.Hostname() != addr:
				return with(warnf(show, "webhook %s calls %s, which is neither remotePilotAddress %s nor a primary's gateway or istiod address meshdoctor knows: cannot tell whether istiod answers there", wh.Name, wh.URL, addr), wev...)
			}
		}
	}
	kind := "a selector-less Service with an EndpointSlice to " + addr
	if !chartIsIP(addr) {
		kind = "ExternalName " + addr
	}
	return with(pass(fmt.Sprintf("Service %s/%s is %s, as the chart renders it, and webhook %s reaches istiod through it", svc.Namespace, svc.Name, kind, wc.Name)), ev...)
}

// injectionPathOf is the path of the first webhook of a configuration, or
// the one the revision's values give.
func injectionPathOf(rev *mesh.Revision, wc *cluster.WebhookConfig) string {
	for _, wh := range wc.Webhooks {
		if p, ok := webhookPath(wh); ok {
			return p
		}
	}
	return rev.ValuesString("istiodRemote", "injectionPath")
}

func webhookPath(wh cluster.Webhook) (string, bool) {
	switch {
	case wh.Service != nil:
		return wh.Service.Path, true
	case wh.URL != "":
		if u, err := url.Parse(wh.URL); err == nil {
			return u.Path, true
		}
	}
	return "", false
}

// injectEnvs parses an injection path as istiod does
// (pkg/kube/inject/webhook.go parseInjectEnvs): after /inject, key/value
// pairs (/k1/v1/k2/v2, "--slash--" standing for "/"), or the deprecated
// :ENV:k=v form; keys map through URLParameterToEnv (cluster →
// ISTIO_META_CLUSTER_ID, net → ISTIO_META_NETWORK), others upper-cased.
func injectEnvs(path string) map[string]string {
	path = strings.TrimSuffix(path, "/")
	parts := strings.SplitN(path, "/", 3)
	var kv []string
	if len(parts) == 3 {
		if strings.HasPrefix(parts[2], ":ENV:") {
			for _, p := range strings.Split(parts[2], ":ENV:")[1:] {
				pair := strings.SplitN(p, "=", 2)
				if len(pair[0]) > 0 && len(pair) == 2 {
					kv = append(kv, pair...)
				}
			}
		} else {
			kv = strings.Split(parts[2], "/")
			for i := 1; i < len(kv); i += 2 {
				kv[i] = strings.ReplaceAll(kv[i], "--slash--", "/")
			}
		}
	}
	out := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch k := kv[i]; k {
		case "cluster":
			out["ISTIO_META_CLUSTER_ID"] = kv[i+1]
		case "net":
			out["ISTIO_META_NETWORK"] = kv[i+1]
		default:
			out[strings.ToUpper(k)] = kv[i+1]
		}
	}
	return out
}

// secretKeysFor are the cluster IDs under which primaries' remote secrets
// register cluster c (their kubeconfig's server is c's API server): the
// name istiod gives c's registry (pkg/kube/multicluster/secretcontroller.go:
// each data key is a cluster ID).
func secretKeysFor(env *Env, c *mesh.Cluster) map[string][]string {
	out := map[string][]string{}
	for _, p := range env.Mesh.Primaries() {
		for _, rs := range p.Inv.RemoteSecrets {
			for _, rk := range rs.Kubeconfigs {
				if rk.Server != "" && env.Mesh.ByServer(rk.Server) == c {
					out[rk.ClusterID] = append(out[rk.ClusterID], p.Name+" secret "+rs.Name)
				}
			}
		}
	}
	return out
}

// servingPrimaries are the primaries whose istiod watches cluster c: a
// remote secret of theirs points at c's API server, or is keyed c's ID.
func servingPrimaries(env *Env, c *mesh.Cluster) []*mesh.Cluster {
	var out []*mesh.Cluster
	for _, p := range env.Mesh.Primaries() {
		for _, rs := range p.Inv.RemoteSecrets {
			for _, rk := range rs.Kubeconfigs {
				if (rk.Server != "" && env.Mesh.ByServer(rk.Server) == c || c.ID != "" && rk.ClusterID == c.ID) && !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// discoveryPrimary is the primary whose gateway or istiod load balancer
// is the remote's remotePilotAddress, or nil.
func discoveryPrimary(env *Env, c *mesh.Cluster) *mesh.Cluster {
	addr := c.ValuesString("global", "remotePilotAddress")
	if addr == "" {
		return nil
	}
	return primaryAt(env, addr)
}

// remoteInjectionPath compares the cluster and network the remote's
// injector webhook path gives its sidecars (ISTIO_META_CLUSTER_ID and
// ISTIO_META_NETWORK, which win over the injecting istiod's values:
// pkg/kube/inject/inject.go extractClusterAndNetwork) with the name the
// primaries' remote secrets register the cluster under and istio-system's
// network label. Without a cluster in the path, the remote's pods get the
// primary's own clusterName.
func remoteInjectionPath(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	revs, skip := remoteRevisions(c)
	if skip != nil {
		return skip
	}
	keys := secretKeysFor(env, c)
	var out []Result
	for _, rev := range revs {
		wc := webhookConfig(c, rev.Webhook)
		if rev.Webhook == "" || wc == nil {
			out = append(out, revResult(c, rev, skipf("revision %s has no injector webhook configuration in this cluster", rev.Name)))
			continue
		}
		out = append(out, revResult(c, rev, oneInjectionPath(env, c, rev, wc, keys)))
	}
	return out
}

func oneInjectionPath(env *Env, c *mesh.Cluster, rev *mesh.Revision, wc *cluster.WebhookConfig, keys map[string][]string) Result {
	wantID, idSource := "", ""
	switch ids := sortedKeys(keys); {
	case len(ids) == 1:
		wantID, idSource = ids[0], "the key of "+strings.Join(keys[ids[0]], ", ")
	case len(ids) > 1:
		var parts []string
		for _, id := range ids {
			parts = append(parts, id+" ("+strings.Join(keys[id], ", ")+")")
		}
		return skipf("primaries register this cluster under different names, %s (see secrets.remote-cluster-id): which the path must carry cannot be told", strings.Join(parts, "; "))
	case rev.ValuesString("global", "multiCluster", "clusterName") != "":
		wantID, idSource = rev.ValuesString("global", "multiCluster", "clusterName"), rev.ValuesFrom()+" global.multiCluster.clusterName"
	}
	wantNet := c.Network
	primaryID, primaryNet := "", ""
	if p := discoveryPrimary(env, c); p != nil && p.Rev != nil {
		primaryID, primaryNet = p.Rev.ValuesString("global", "multiCluster", "clusterName"), p.Rev.ValuesString("global", "network")
	}
	fixPath := func(id, netw string) string {
		if id == "" {
			id = "CLUSTER"
		}
		p := "/inject/cluster/" + id
		if netw != "" {
			p += "/net/" + netw
		}
		return p
	}
	show := fmt.Sprintf("%s get mutatingwebhookconfiguration %s -o jsonpath='{range .webhooks[*]}{.name} {.clientConfig.service.path}{.clientConfig.url}{\"\\n\"}{end}'", kc(c.Name), shellQuote(wc.Name))
	for _, wh := range wc.Webhooks {
		path, ok := webhookPath(wh)
		if !ok {
			continue
		}
		envs := injectEnvs(path)
		gotID, gotNet := envs["ISTIO_META_CLUSTER_ID"], envs["ISTIO_META_NETWORK"]
		ev := []Evidence{Ev("webhook", wc.Name+" "+wh.Name), Ev("path", orNone(path)), Ev("path cluster", orNone(gotID)), Ev("path network", orNone(gotNet)),
			Ev("clusterName", orDefault(wantID, "unknown")+" ("+orDefault(idSource, "no remote secret points at this cluster, no clusterName in the values")+")"),
			Ev("istio-system network", orNone(wantNet))}
		note := fmt.Sprintf("reinstall the remote with --set values.istiodRemote.injectionPath=%s (the chart writes it into every webhook of %s), then restart its injected workloads", fixPath(wantID, wantNet), wc.Name)
		switch {
		case gotID == "":
			msg := fmt.Sprintf("webhook %s's path %s names no cluster: the primary's istiod injects the remote's pods with its own clusterName", wh.Name, orNone(path))
			if primaryID != "" {
				msg += " " + primaryID
			}
			return with(noted(failf(show, "%s, so their proxies claim to run in the primary", msg), note), ev...)
		case wantID != "" && gotID != wantID:
			return with(noted(failf(show, "webhook %s's path names cluster %s, but this cluster is %s (%s): its proxies report the wrong cluster ID to istiod", wh.Name, gotID, wantID, idSource), note), ev...)
		}
		effNet := gotNet
		if effNet == "" {
			effNet = primaryNet
		}
		if wantNet != "" && effNet != wantNet {
			why := fmt.Sprintf("its path names network %s", gotNet)
			if gotNet == "" {
				why = fmt.Sprintf("its path names no network, so the primary's own network %s is injected", orNone(primaryNet))
			}
			return with(noted(failf(show, "webhook %s injects sidecars of network %s but istio-system is on %s: %s, and istiod routes to them as if on another network", wh.Name, orNone(effNet), wantNet, why), note), ev...)
		}
		if wantID == "" {
			return with(warnf(show, "webhook %s's path names cluster %s, but no primary's remote secret points at this cluster and its values name no clusterName: cannot tell whether it is right", wh.Name, gotID), ev...)
		}
	}
	if len(wc.Webhooks) == 0 {
		return skipf("webhook configuration %s has no webhooks", wc.Name)
	}
	return with(pass(fmt.Sprintf("webhook %s injects cluster %s, network %s", wc.Name, wantID, orNone(wantNet))),
		Ev("clusterName source", idSource), Ev("path", injectionPathOf(rev, wc)))
}

// remoteServed: a primary's istiod leads a remote cluster, writing the
// istio-ca-root-cert ConfigMap into its namespaces and patching the caBundle
// of its injector webhook, only when it runs with EXTERNAL_ISTIOD=true and
// the remote's istio-system namespace annotation
// topology.istio.io/controlPlaneClusters names its CLUSTER_ID or "*"
// (pilot/pkg/serviceregistry/kube/controller/multicluster.go
// checkShouldLead; EXTERNAL_ISTIOD defaults to false in
// pilot/pkg/features/pilot.go). The webhook cert patcher of each istiod
// patches the webhooks of its own revision.
func remoteServed(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Remote {
		return []Result{skipf("not a remote cluster (role %s)", c.Role)}
	}
	ps := servingPrimaries(env, c)
	if len(ps) == 0 {
		return []Result{skipf("no primary holds a remote secret for this cluster (see secrets.remote-coverage): no istiod watches it")}
	}
	key := annotation.TopologyControlPlaneClusters.Name
	ns := c.Inv.Namespace(cluster.IstioNamespace)
	var ann string
	var annSet bool
	if ns != nil {
		ann, annSet = ns.Annotations[annotation.TopologyControlPlaneClusters.Name]
	}
	var leaders []string
	for _, v := range strings.Split(ann, ",") {
		if v = strings.TrimSpace(v); v != "" {
			leaders = append(leaders, v)
		}
	}
	var ev []Evidence
	ev = append(ev, Ev(key, orDefault(ann, "(absent)")))
	if cm := c.Inv.ConfigMap("istio-ca-root-cert"); cm != nil {
		ev = append(ev, Ev("istio-ca-root-cert", "present in istio-system"))
	} else {
		ev = append(ev, Ev("istio-ca-root-cert", "absent from istio-system"))
	}
	var out []Result
	for _, rev := range c.Revisions {
		out = append(out, revResult(c, rev, servedRevision(c, rev, ps, leaders, annSet, ev)))
	}
	return out
}

// servedRevision: one leading primary is enough (each istiod with a secret
// for the remote decides for itself, checkShouldLead); the result is the
// leader's pass, else the reasons of every primary. When none leads but
// the remote already holds an istio-ca-root-cert and every injector webhook
// of the revision has a caBundle (copied by hand, as istio.io's external
// control-plane guide once did), it works today and only warns: new
// namespaces get no root, and rotations are not carried over.
func servedRevision(c *mesh.Cluster, rev *mesh.Revision, ps []*mesh.Cluster, leaders []string, annSet bool, ev []Evidence) Result {
	var fails []Result
	for _, p := range ps {
		r := oneServed(c, rev, p, leaders, annSet, ev)
		if r.Status == Pass || r.Status == Skipped {
			return r
		}
		fails = append(fails, r)
	}
	if len(fails) == 1 {
		return softenServed(c, rev, fails[0])
	}
	var msgs, fixes []string
	var allEv []Evidence
	status := Warn
	for _, f := range fails {
		msgs = append(msgs, f.Message)
		if f.Remediation != "" && !slices.Contains(fixes, f.Remediation) {
			fixes = append(fixes, f.Remediation)
		}
		if f.Status == Fail {
			status = Fail
		}
		for _, e := range f.Evidence {
			if !slices.Contains(allEv, e) {
				allEv = append(allEv, e)
			}
		}
	}
	r := Result{Status: status, Message: "no primary leads this cluster: " + strings.Join(msgs, "; "), Remediation: fixes[0], Evidence: allEv,
		Note: "one leading primary is enough: fix the one that should lead (the command is for the first)"}
	return softenServed(c, rev, r)
}

// softenServed turns a failure into a warning when what the leader would
// write is in place.
func softenServed(c *mesh.Cluster, rev *mesh.Revision, r Result) Result {
	if r.Status != Fail || c.Inv.ConfigMap("istio-ca-root-cert") == nil {
		return r
	}
	if wc := webhookConfig(c, rev.Webhook); wc != nil {
		for _, wh := range wc.Webhooks {
			if wh.CABundleSHA256 == "" {
				return with(r, Ev("webhook caBundle", "empty in "+wc.Name+" "+wh.Name+": the API server cannot verify istiod"))
			}
		}
	}
	r.Status = Warn
	r.Message += "; istio-ca-root-cert and the webhook caBundle are in place today (written by something else): new namespaces get no root and a root rotation is not carried over"
	return r
}

func oneServed(c *mesh.Cluster, rev *mesh.Revision, p *mesh.Cluster, leaders []string, annSet bool, ev []Evidence) Result {
	key := annotation.TopologyControlPlaneClusters.Name
	pr := p.Revision(rev.Name)
	if pr == nil || pr.Istiod == nil {
		var have []string
		for _, r := range p.Revisions {
			if r.Istiod != nil {
				have = append(have, r.Name)
			}
		}
		return with(noted(warnf(fmt.Sprintf("%s -n istio-system get deploy -l app=istiod -L istio.io/rev", kc(p.Name)),
			"primary %s runs no istiod of revision %s (it runs %s): no istiod patches this cluster's %s webhook, and pods of namespaces on that revision are injected by nobody", p.Name, rev.Name, orNone(strings.Join(have, ", ")), rev.Name),
			fmt.Sprintf("install revision %s on %s, or reinstall this remote with the revision %s runs", rev.Name, p.Name, p.Name)), ev...)
	}
	d := pr.Istiod
	ev = append(slices.Clone(ev), Ev("primary", p.Name+" deployment "+d.Name), Ev("primary CLUSTER_ID", pr.ID))
	v, set := pr.EnvValue("EXTERNAL_ISTIOD")
	if v == "(redacted)" {
		// A snapshot of a meshdoctor that did not keep this value.
		return with(skipf("EXTERNAL_ISTIOD of istiod %s in %s was redacted in this snapshot: whether it leads this cluster cannot be told", d.Name, p.Name), ev...)
	}
	on, err := strconv.ParseBool(v) // pkg/env: a bad value is the default, false
	ev = append(ev, Ev("EXTERNAL_ISTIOD", orDefault(v, "(unset: false)")))
	if !set || err != nil || !on {
		return with(noted(failf(fmt.Sprintf("%s -n istio-system set env deploy/%s EXTERNAL_ISTIOD=true", kc(p.Name), shellQuote(d.Name)),
			"istiod %s of primary %s runs without EXTERNAL_ISTIOD=true: it does not lead remote %s (checkShouldLead), so it writes no istio-ca-root-cert into its namespaces and does not patch its injector webhook's caBundle", d.Name, p.Name, c.Name),
			fmt.Sprintf("an install tool will revert kubectl set env: reinstall %s with --set values.pilot.env.EXTERNAL_ISTIOD=true to keep it", p.Name)), ev...)
	}
	if slices.Contains(leaders, "*") || slices.Contains(leaders, pr.ID) {
		return with(pass(fmt.Sprintf("istiod %s of %s (CLUSTER_ID %s) runs with EXTERNAL_ISTIOD and is named in %s", d.Name, p.Name, pr.ID, key)), ev...)
	}
	fix := fmt.Sprintf("%s annotate namespace istio-system %s=%s --overwrite", kc(c.Name), key, shellQuote(strings.Join(append(slices.Clone(leaders), pr.ID), ",")))
	if !annSet {
		return with(failf(fix, "istio-system has no %s annotation: istiod %s of %s (CLUSTER_ID %s) does not lead this cluster, so it writes no istio-ca-root-cert here and does not patch the injector webhook's caBundle", key, d.Name, p.Name, pr.ID), ev...)
	}
	return with(failf(fix, "istio-system's %s names %s, not primary %s's CLUSTER_ID %s: that istiod does not lead this cluster", key, strings.Join(leaders, ", "), p.Name, pr.ID), ev...)
}

// remotesOf are the remote clusters a primary serves: it holds their
// remote secret, or their remotePilotAddress is its address.
func remotesOf(env *Env, p *mesh.Cluster) []*mesh.Cluster {
	var out []*mesh.Cluster
	for _, c := range env.Mesh.Reachable() {
		if c.Role != mesh.Remote {
			continue
		}
		if slices.Contains(servingPrimaries(env, c), p) || discoveryPrimary(env, c) == p {
			out = append(out, c)
		}
	}
	return out
}

// serviceOfHost resolves a destination host as istiod does for Kubernetes
// Services: <name>.<namespace>.svc.<domain>, or a short name in the
// VirtualService's namespace.
func serviceOfHost(host, vsNamespace string) (ns, name string) {
	if i := strings.Index(host, ".svc"); i > 0 {
		parts := strings.SplitN(host[:i], ".", 2)
		if len(parts) == 2 {
			return parts[1], parts[0]
		}
	}
	if !strings.Contains(host, ".") {
		return vsNamespace, host
	}
	parts := strings.SplitN(host, ".", 2)
	return parts[1], parts[0]
}

// exposeIstiod follows, on a primary whose remotes reach it through its
// east-west gateway, the istio.io samples' route to istiod
// (samples/multicluster/expose-istiod.yaml, expose-istiod-rev.yaml.tmpl): a
// Gateway with TLS PASSTHROUGH servers on 15012 and 15017 for the gateway's
// pods, and a VirtualService bound to it routing them to an istiod Service
// (istiod.istio-system on port 15012 and 443; only istiod-<rev> exists on
// a revisioned primary). The gateway Service's own ports are gateway.ports.
func exposeIstiod(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Primary {
		return []Result{skipf("not a primary (role %s)", c.Role)}
	}
	remotes := remotesOf(env, c)
	if len(remotes) == 0 {
		return []Result{skipf("no remote cluster is served by this primary")}
	}
	var viaGateway []string
	var gws []*mesh.Gateway
	through := map[*mesh.Gateway][]*mesh.Cluster{}
	for _, r := range remotes {
		addr := r.ValuesString("global", "remotePilotAddress")
		if g := c.GatewayWithAddress(addr); g != nil {
			viaGateway = append(viaGateway, r.Name)
			if !slices.Contains(gws, g) {
				gws = append(gws, g)
			}
			through[g] = append(through[g], r)
		}
	}
	if len(gws) == 0 {
		return []Result{skipf("no remote reaches this primary through an east-west gateway (remotePilotAddress is none of its gateway addresses)")}
	}
	if !c.Inv.Traffic.Has(cluster.ResVirtualServices) {
		return []Result{skipf("VirtualServices were not read: the route to istiod cannot be followed")}
	}
	apply := fmt.Sprintf("%s apply -n istio-system -f samples/multicluster/expose-istiod.yaml", kc(c.Name))
	applyNote := "run it in the Istio release directory of this primary's version (istioctl's samples/multicluster)"
	if c.Rev != nil && c.Rev.Name != mesh.DefaultRevision {
		apply = fmt.Sprintf("sed 's/{{.Revision}}/%s/g' samples/multicluster/expose-istiod-rev.yaml.tmpl | %s apply -n istio-system -f -", c.Rev.Name, kc(c.Name))
		applyNote = "run it in the Istio release directory of this primary's version: the revisioned sample routes to istiod-" + c.Rev.Name
	}
	var out []Result
	for _, g := range gws {
		r := oneExposeIstiod(env, c, g, through[g], apply, applyNote)
		r.Target = "gateway " + g.Name()
		out = append(out, with(r, Ev("remotes through it", strings.Join(viaGateway, ", ")), Ev("gateway ports", portList(g.Service))))
	}
	return out
}

func oneExposeIstiod(env *Env, c *mesh.Cluster, g *mesh.Gateway, remotes []*mesh.Cluster, apply, applyNote string) Result {
	// Istio Gateways whose selector picks this gateway's pods (its
	// Service's selector labels) with a server on 15012 or 15017.
	type bound struct{ ns, name string }
	var gwRefs []bound
	ports := map[uint32]bool{}
	for _, gw := range c.Inv.Gateways {
		sel := gw.Spec.GetSelector()
		if len(sel) == 0 || !subsetLabels(sel, g.Service.Spec.Selector.Map()) {
			continue
		}
		hit := false
		for _, s := range gw.Spec.GetServers() {
			if n := s.GetPort().GetNumber(); n == 15012 || n == 15017 {
				ports[n], hit = true, true
			}
		}
		if hit {
			gwRefs = append(gwRefs, bound{gw.Namespace, gw.Name})
		}
	}
	var missing []string
	for _, p := range []uint32{15012, 15017} {
		if !ports[p] {
			missing = append(missing, strconv.Itoa(int(p)))
		}
	}
	if len(missing) > 0 {
		return noted(failf(apply, "no Gateway exposes port %s on east-west gateway %s: remotes' proxies (15012) and API servers (15017) reach the gateway but it has no listener for istiod", strings.Join(missing, " and "), g.Name()), applyNote)
	}
	var refs []string
	for _, b := range gwRefs {
		refs = append(refs, b.ns+"/"+b.name)
	}
	var routed []string
	for _, vs := range c.Inv.Traffic.VirtualServices {
		if !boundTo(vs.Gateways, vs.Namespace, refs) {
			continue
		}
		for _, d := range vs.Destinations {
			ns, name := serviceOfHost(d.GetHost(), vs.Namespace)
			svc := c.Inv.Service(ns, name)
			route := fmt.Sprintf("VirtualService %s/%s routes to %s", vs.Namespace, vs.Name, d.GetHost())
			if svc == nil {
				var have []string
				for _, s := range c.Inv.Services {
					if s.Namespace == cluster.IstioNamespace && strings.HasPrefix(s.Name, "istiod") {
						have = append(have, s.Name)
					}
				}
				return with(noted(failf(fmt.Sprintf("%s -n %s delete virtualservice %s\n%s", kc(c.Name), shellQuote(vs.Namespace), shellQuote(vs.Name), apply),
					"%s, but Service %s/%s does not exist here: remotes' discovery and injection calls through the gateway reach no istiod", route, ns, name), applyNote),
					Ev("istiod Services", orNone(strings.Join(have, ", "))))
			}
			if n := d.GetPort().GetNumber(); n != 0 && remoteSvcPort(svc, int32(n)) == nil {
				return with(noted(failf(fmt.Sprintf("%s -n %s get virtualservice %s -o yaml\n%s -n %s get svc %s -o jsonpath='{.spec.ports}'", kc(c.Name), shellQuote(vs.Namespace), shellQuote(vs.Name), kc(c.Name), shellQuote(ns), shellQuote(name)),
					"%s port %d, which Service %s/%s does not expose", route, n, ns, name), applyNote), Ev("service ports", portList(svc)))
			}
			routed = append(routed, fmt.Sprintf("%s:%d", d.GetHost(), d.GetPort().GetNumber()))
		}
	}
	if len(routed) == 0 {
		return noted(failf(apply, "Gateway %s exposes 15012 and 15017 on %s but no VirtualService bound to it routes them to istiod", strings.Join(refs, ", "), g.Name()), applyNote)
	}
	slices.Sort(routed)
	routes := Ev("routes", strings.Join(slices.Compact(routed), ", "))
	sni, unknown, fail := exposedSNI(env, c, g, remotes, refs, ports)
	if fail != nil {
		return with(noted(failf(apply, "%s", fail.msg), fail.note+"; "+applyNote), routes, Ev("SNI", fail.sni), Ev("tls matches", orNone(fail.matches)))
	}
	r := with(pass(fmt.Sprintf("Gateway %s routes 15012 and 15017 to istiod Services that exist", strings.Join(refs, ", "))), routes)
	if len(sni) > 0 {
		r = with(r, Ev("SNI matched", strings.Join(sni, ", ")))
	}
	if len(unknown) > 0 {
		r.Note = "not judged, what these remotes send as SNI: " + strings.Join(unknown, "; ")
	}
	return r
}

// sniFail is a remote's istiod connection that no filter chain of the
// gateway takes.
type sniFail struct{ msg, note, sni, matches string }

// exposedSNI follows each host a remote through gateway g dials for
// istiod (istiodHosts: its proxies' discoveryAddress, its injector
// webhooks) to the gateway port it reaches (one of ports, the istiod
// Gateway servers' 15012 and 15017), and asks whether a tls route
// of a VirtualService bound to one of the Gateways refs takes a
// connection with that SNI on that port. istiod builds one filter chain
// per matching tls match of a passthrough server, with the match's
// sniHosts as Envoy's server_names, none (any name, or no SNI at all) when
// they hold "*" (pilot/pkg/networking/core/gateway.go
// buildGatewayNetworkFiltersFromTLSRoutes, listener.go toFilterChainMatch).
// An IP host is dialled without SNI (Go's and Envoy's TLS clients send none
// for an IP), which only a "*" match takes. It returns the uses that
// matched, those it could not follow, and the first that fails.
func exposedSNI(env *Env, c *mesh.Cluster, g *mesh.Gateway, remotes []*mesh.Cluster, refs []string, ports map[uint32]bool) (matched, unknown []string, fail *sniFail) {
	for _, r := range remotes {
		for _, u := range istiodHosts(env, r) {
			p, why := resolveIstiod(env, r, u)
			if why != "" || p.primary != c || c.GatewayWithAddress(p.addr) != g {
				if why == "" {
					why = fmt.Sprintf("%s leads to %s, not this gateway", u.host, p.addr)
				}
				unknown = append(unknown, r.Name+" "+u.source+": "+why)
				continue
			}
			if !ports[uint32(p.port)] {
				// Another port of the gateway (an ExternalName Service dialled
				// on 443): controlplane.remote-istiod-service judges that.
				unknown = append(unknown, fmt.Sprintf("%s %s: reaches port %d of the gateway, where no istiod Gateway server listens", r.Name, u.source, p.port))
				continue
			}
			sni := u.host
			if net.ParseIP(sni) != nil {
				sni = ""
			}
			ok, read, matches := tlsRouteTakes(c, refs, uint32(p.port), sni)
			if !read {
				unknown = append(unknown, r.Name+" "+u.source+": the VirtualServices' tls matches were not read (a snapshot from an older meshdoctor)")
				continue
			}
			shown := sni
			if shown == "" {
				shown = "none (" + u.host + " is an IP)"
			}
			if ok {
				matched = append(matched, fmt.Sprintf("%s %s:%d", r.Name, orNone(sni), p.port))
				continue
			}
			who := "its proxies dial istiod"
			if u.kind == probe.KindTLSWebhook {
				who = "its API server calls the injector"
			}
			return matched, unknown, &sniFail{
				msg: fmt.Sprintf("remote %s: %s at %s (%s), port %d of gateway %s, with SNI %s, but no tls route of a VirtualService bound to Gateway %s matches it on that port: the gateway has no filter chain for the connection and closes it",
					r.Name, who, u.host, u.source, p.port, g.Name(), shown, strings.Join(refs, ", ")),
				note:    "istiod makes a gateway filter chain per tls match of a passthrough server and gives it the match's sniHosts as Envoy server_names (only \"*\" takes any name, and a connection without SNI); Envoy matches a name exactly or by a \"*.\" suffix",
				sni:     shown,
				matches: matches,
			}
		}
	}
	return matched, unknown, nil
}

// tlsRouteTakes reports whether a tls match of a VirtualService bound to
// one of refs takes a connection on port with SNI sni ("" for none), and
// lists the matches seen on that port.
func tlsRouteTakes(c *mesh.Cluster, refs []string, port uint32, sni string) (ok, read bool, seen string) {
	read = true
	var all []string
	for _, vs := range c.Inv.Traffic.VirtualServices {
		if !vs.TLSRead {
			read = read && !boundTo(vs.Gateways, vs.Namespace, refs)
			continue
		}
		for _, tr := range vs.TLS {
			for _, m := range tr.Match {
				gws := m.Gateways
				if len(gws) == 0 {
					gws = vs.Gateways
				}
				if !boundTo(gws, vs.Namespace, refs) || m.Port != 0 && m.Port != port || !tr.Routes {
					continue
				}
				all = append(all, fmt.Sprintf("%s/%s sniHosts %s", vs.Namespace, vs.Name, strings.Join(m.SNIHosts, ",")))
				if slices.ContainsFunc(m.SNIHosts, func(h string) bool { return serverNameMatches(h, sni) }) {
					ok = true
				}
			}
		}
	}
	return ok, read || ok, strings.Join(all, "; ")
}

// boundTo reports whether one of a VirtualService's gateway references
// (gws, of a VirtualService in namespace ns) names one of refs
// (namespace/name).
func boundTo(gws []string, ns string, refs []string) bool {
	return slices.ContainsFunc(gws, func(name string) bool { return slices.Contains(refs, qualifiedGateway(name, ns)) })
}

// qualifiedGateway is a VirtualService's gateway reference as
// namespace/name (a bare name is in the VirtualService's namespace).
func qualifiedGateway(name, vsNamespace string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return vsNamespace + "/" + name
}

// serverNameMatches reports whether an Envoy filter chain whose
// server_names hold pattern (from a tls match's sniHosts) takes a
// connection with SNI sni: "*" takes every connection (istiod sets no
// server_names then), "*.suffix" any name ending in .suffix, else the
// same name (case-insensitive, as SNI is).
func serverNameMatches(pattern, sni string) bool {
	pattern, sni = strings.ToLower(pattern), strings.ToLower(sni)
	switch {
	case pattern == "*":
		return true
	case sni == "":
		return false
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(sni, pattern[1:]) && len(sni) > len(pattern)-1
	}
	return pattern == sni
}

// subsetLabels reports whether every label of sel is in labels.
func subsetLabels(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
