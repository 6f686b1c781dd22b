package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var endpointChecks = []Check{
	{ID: "endpoints.istiod-sync", Title: "istiod has synced every remote cluster (/debug/clusterz)", Scope: PerCluster, Network: true,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResPods}, Cluster: istiodSync},
	{ID: "endpoints.istiod-networks", Title: "istiod knows every network's east-west gateway (/debug/networkz)", Scope: PerCluster, Network: true,
		DependsOn: []string{"controlplane.istiod-ready", "gateway.address"}, Needs: []string{cluster.ResPods}, Cluster: istiodNetworks},
	{ID: "endpoints.proxy-table", Title: "a sidecar's Envoy endpoints for multi-cluster services are the ones that should be there", Scope: PerCluster, Network: true,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResPods, cluster.ResServices, cluster.ResEndpointSlices}, Cluster: proxyTable},
}

// istiodPod picks a running istiod pod of a primary.
func istiodPod(c *mesh.Cluster) *corev1.Pod {
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		if p.Namespace == cluster.IstioNamespace && p.Labels["app"] == "istiod" && p.Status.Phase == corev1.PodRunning {
			return p
		}
	}
	return nil
}

// fetchDebug gets an istiod debug path, or a result saying why it could not.
// Each path of each istiod is read once per run (Env.debug); the body is
// shared and must not be changed.
func fetchDebug(ctx context.Context, env *Env, c *mesh.Cluster, path string) ([]byte, *Result) {
	if c.Role != mesh.Primary {
		r := skipf("not applicable: %s cluster (no istiod)", c.Role)
		return nil, &r
	}
	if env.Admin == nil {
		r := skipf("admin access not available")
		return nil, &r
	}
	pod := istiodPod(c)
	if pod == nil {
		r := skipf("no running istiod pod listed in istio-system")
		return nil, &r
	}
	ref := envoyadmin.PodRef{Context: c.Name, Namespace: pod.Namespace, Name: pod.Name, Port: envoyadmin.IstiodMonitoringPort}
	body, err := env.debug.get(ctx, env.Admin, ref, path)
	if err != nil {
		if errors.Is(err, ErrNotRecorded) {
			r := skipf("no recorded %s in the snapshot", path)
			return nil, &r
		}
		r := Result{Status: Error, Message: fmt.Sprintf("read istiod %s: %v", path, err),
			Remediation: istiodDebugCmd(c.Name, pod.Name, path)}
		return nil, &r
	}
	return body, nil
}

// istiodDebugCmd reads an istiod debug path through the API server's pod
// proxy: one read-only command, no port-forward left running.
func istiodDebugCmd(context, pod, path string) string {
	return fmt.Sprintf("%s get --raw %s", kc(context), shellQuote("/api/v1/namespaces/istio-system/pods/"+pod+":15014/proxy"+path))
}

func istiodSync(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	body, res := fetchDebug(ctx, env, c, envoyadmin.PathClusterz)
	if res != nil {
		return []Result{*res}
	}
	entries, err := envoyadmin.ParseClusterz(bytes.NewReader(body))
	if err != nil {
		return []Result{{Status: Error, Message: err.Error()}}
	}
	byID := map[string]envoyadmin.ClusterzEntry{}
	var ev []Evidence
	for _, e := range entries {
		byID[e.ID] = e
		ev = append(ev, Ev(e.ID, orNone(e.SyncStatus)+" "+e.SecretName))
	}
	var out []Result
	for _, o := range env.Mesh.Reachable() {
		if o == c || o.Role == mesh.NoControlPlane || o.ID == c.ID {
			continue
		}
		r := Result{Peer: o.Name, Evidence: ev}
		e, ok := byID[o.ID]
		switch {
		case !ok:
			r.Status, r.Message = Fail, fmt.Sprintf("istiod does not watch %s (clusterName %s): its endpoints cannot reach %s's proxies", o.Name, o.ID, c.Name)
			r.Remediation = fmt.Sprintf("%s -n istio-system get secrets -l istio/multiCluster=true ; istioctl --context %s remote-clusters", kc(c.Name), shellQuote(c.Name))
		case e.SyncStatus != "synced":
			r.Status, r.Message = Fail, fmt.Sprintf("istiod's watch of %s is %s", o.ID, e.SyncStatus)
			r.Remediation = fmt.Sprintf("%s -n istio-system logs deploy/istiod | grep -i %s", kc(c.Name), shellQuote(o.ID))
			r.Note = fmt.Sprintf("look for credential errors and for whether istiod reaches %s's API server", o.Name)
		default:
			r.Status, r.Message = Pass, fmt.Sprintf("watching %s: synced (secret %s)", o.ID, e.SecretName)
		}
		out = append(out, r)
	}
	for _, e := range entries {
		if e.ID == c.ID || len(env.Mesh.ByID(e.ID)) > 0 || e.SyncStatus == "synced" {
			continue
		}
		r := noted(warnf(fmt.Sprintf("%s -n istio-system get secret %s", kc(c.Name), shellQuote(strings.TrimPrefix(e.SecretName, "istio-system/"))),
			"istiod still tries to watch %s, which is not in the mesh (%s)", e.ID, e.SyncStatus),
			"see secrets.remote-stale: delete the secret if that cluster is gone")
		r.Target = e.ID
		out = append(out, with(r, ev...))
	}
	if len(out) == 0 {
		return []Result{pass("no other cluster to watch", ev...)}
	}
	return out
}

func istiodNetworks(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	body, res := fetchDebug(ctx, env, c, "/debug/networkz")
	if res != nil {
		return []Result{*res}
	}
	gws, err := envoyadmin.ParseNetworkz(bytes.NewReader(body))
	if err != nil {
		return []Result{{Status: Error, Message: err.Error()}}
	}
	known := map[string]bool{}
	var ev []Evidence
	for _, g := range gws {
		known[fmt.Sprintf("%s %s:%d", g.Network, g.Addr, g.Port)] = true
		ev = append(ev, Ev(g.Network, fmt.Sprintf("%s:%d (%s)", g.Addr, g.Port, g.Cluster)))
	}
	hosts := resolveGatewayHosts(ctx, env, gws, true)
	remedy := fmt.Sprintf("%s -n istio-system get pods -l app=istiod -o name", kc(c.Name))
	if pod := istiodPod(c); pod != nil {
		remedy = istiodDebugCmd(c.Name, pod.Name, "/debug/networkz")
	}
	var missing, unresolved []string
	for _, o := range env.Mesh.Reachable() {
		for _, g := range o.Gateways {
			for _, a := range g.Addresses {
				k := fmt.Sprintf("%s %s:%d", g.Network, a, g.Port)
				if net.ParseIP(a) != nil {
					if !known[k] {
						missing = append(missing, k+" ("+o.Name+")")
					}
					continue
				}
				// A hostname (AWS ELB): istiod resolves it and lists the IPs
				// (pilot/pkg/model/network.go resolveHostnameGateways).
				hk := gatewayHostKey{network: g.Network, cluster: o.ID, host: a, port: g.Port}
				r, ok := hosts[hk]
				switch {
				case ok && r.fromIstiod:
					ev = append(ev, Ev(a, fmt.Sprintf("%s (%s)", strings.Join(r.ips, ", "), r.source)))
				case ok && allKnown(known, g.Network, r.ips, g.Port):
					ev = append(ev, Ev(a, fmt.Sprintf("%s (%s)", strings.Join(r.ips, ", "), r.source)))
				case ok:
					missing = append(missing, fmt.Sprintf("%s (%s; resolves here to %s)", k, o.Name, strings.Join(r.ips, ", ")))
				default:
					// istiod resolves a hostname gateway into one gateway per
					// address, with the base gateway's network, cluster and
					// port, and drops it when nothing resolves
					// (resolveHostnameGateways: "could not resolve hostname").
					// Its /debug/networkz, read here, holds none of that
					// network, cluster and port: istiod has no gateway from
					// this Service, whatever DNS here says.
					why := fmt.Sprintf("%s (%s; istiod lists no gateway of network %q, cluster %s, port %d: it could not resolve the hostname)", k, o.Name, g.Network, o.ID, g.Port)
					if v, set := c.EnvValue("RESOLVE_HOSTNAME_GATEWAYS"); set && v == "false" {
						why = fmt.Sprintf("%s (%s; this istiod has RESOLVE_HOSTNAME_GATEWAYS=false, so it drops hostname gateways)", k, o.Name)
					}
					unresolved = append(unresolved, why)
				}
			}
		}
	}
	if len(missing)+len(unresolved) > 0 {
		r := failf(remedy, "istiod does not know gateway(s) %s: cross-network endpoints get no gateway", strings.Join(append(missing, unresolved...), ", "))
		if len(unresolved) > 0 {
			r.Remediation += "\n" + kc(c.Name) + " -n istio-system logs -l app=istiod --tail=-1 | grep -F 'could not resolve hostname'"
			r.Note = "a LoadBalancer hostname that no longer resolves is usually a load balancer deleted outside Kubernetes: recreate the Service's load balancer or fix its DNS"
		}
		return []Result{with(r, ev...)}
	}
	return []Result{pass(fmt.Sprintf("istiod knows all %d network gateways", len(gws)), ev...)}
}

func allKnown(known map[string]bool, network string, ips []string, port int) bool {
	for _, ip := range ips {
		if !known[fmt.Sprintf("%s %s:%d", network, ip, port)] {
			return false
		}
	}
	return len(ips) > 0
}

// Resolver looks up the addresses of a gateway hostname (an AWS ELB name in
// a LoadBalancer Service's status). Tests pass a fake; the CLI passes
// SystemResolver.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// SystemResolver is the machine's resolver, each lookup bounded by Timeout
// (5s when zero).
type SystemResolver struct {
	Resolver *net.Resolver // nil: net.DefaultResolver
	Timeout  time.Duration
}

// LookupHost resolves host to its A and AAAA addresses.
func (r SystemResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := r.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	addrs, err := res.LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve gateway hostname %s: %w", host, err)
	}
	return addrs, nil
}

// gatewayHostKey names one hostname address of a network gateway the way
// istiod keys the gateways it resolves: network, cluster, port.
type gatewayHostKey struct {
	network, cluster, host string
	port                   int
}

type hostResolution struct {
	ips        []string
	source     string
	fromIstiod bool
}

// maxGatewayHosts bounds the DNS lookups of one check: gateway hostnames
// come from the clusters' Service status.
const maxGatewayHosts = 16

// resolveGatewayHosts maps every hostname address of the mesh's gateways to
// IPs, as istiod does (pilot/pkg/model/network.go resolveHostnameGateways:
// each resolved address becomes a gateway with the base gateway's network,
// cluster and port). First from istiod's own /debug/networkz when it was read
// (its entries of that network, cluster and port that are no IP gateway
// address of the mesh), else through env.Resolver. A hostname in neither is
// not in the map.
func resolveGatewayHosts(ctx context.Context, env *Env, networkz []envoyadmin.NetworkGateway, haveNetworkz bool) map[gatewayHostKey]hostResolution {
	literal := map[string]bool{} // "network cluster ip port" of IP gateways
	var keys []gatewayHostKey
	for _, o := range env.Mesh.Reachable() {
		for _, g := range o.Gateways {
			for _, a := range g.Addresses {
				if net.ParseIP(a) != nil {
					literal[fmt.Sprintf("%s %s %s %d", g.Network, o.ID, a, g.Port)] = true
				} else {
					keys = append(keys, gatewayHostKey{network: g.Network, cluster: o.ID, host: a, port: g.Port})
				}
			}
		}
	}
	out := map[gatewayHostKey]hostResolution{}
	lookups := 0
	for _, k := range keys {
		if haveNetworkz {
			var ips []string
			for _, n := range networkz {
				if n.Network == k.network && n.Cluster == k.cluster && n.Port == k.port && net.ParseIP(n.Addr) != nil &&
					!literal[fmt.Sprintf("%s %s %s %d", n.Network, n.Cluster, n.Addr, n.Port)] && !slices.Contains(ips, n.Addr) {
					ips = append(ips, n.Addr)
				}
			}
			if len(ips) > 0 {
				out[k] = hostResolution{ips: ips, source: "resolved by istiod, /debug/networkz", fromIstiod: true}
				continue
			}
		}
		if env.Resolver == nil || lookups >= maxGatewayHosts {
			continue
		}
		lookups++
		addrs, err := env.Resolver.LookupHost(ctx, k.host)
		var ips []string
		for _, a := range addrs {
			if net.ParseIP(a) != nil && !slices.Contains(ips, a) {
				ips = append(ips, a)
			}
		}
		if err == nil && len(ips) > 0 {
			out[k] = hostResolution{ips: ips, source: "resolved from here by DNS"}
		}
	}
	return out
}

// serviceInput builds the expected-table input of a service port as seen
// from a sidecar in c on proxyNetwork; hosts maps hostname gateways to the
// IPs istiod uses (resolveGatewayHosts); drs is the DestinationRule index
// of c's config cluster (nil: built here), built once per proxy by the
// caller that loops over services.
func serviceInput(m *mesh.Mesh, c *mesh.Cluster, proxyNetwork string, hosts map[gatewayHostKey]hostResolution, drs *drIndex, ns, name string, port int32) envoyadmin.ExpectedInput {
	in := envoyadmin.ExpectedInput{ProxyNetwork: proxyNetwork, Service: fmt.Sprintf("%s.%s.svc.cluster.local", name, ns), Port: int(port),
		Gateways: map[string][]envoyadmin.GatewayAddr{}}
	dualStack := istiodDualStack(m, c)
	mtls := newMTLSView(m, c, drs, in.Service, ns, port)
	for _, o := range m.Reachable() {
		for _, g := range o.Gateways {
			for _, a := range g.Addresses {
				if net.ParseIP(a) != nil {
					in.Gateways[g.Network] = append(in.Gateways[g.Network], envoyadmin.GatewayAddr{Address: a, Port: g.Port, Cluster: o.ID})
					continue
				}
				r, ok := hosts[gatewayHostKey{network: g.Network, cluster: o.ID, host: a, port: g.Port}]
				if !ok {
					in.Gateways[g.Network] = append(in.Gateways[g.Network], envoyadmin.GatewayAddr{Address: a, Port: g.Port, Cluster: o.ID, Unresolved: true})
					continue
				}
				for _, ip := range r.ips {
					in.Gateways[g.Network] = append(in.Gateways[g.Network], envoyadmin.GatewayAddr{Address: ip, Port: g.Port, Cluster: o.ID})
				}
			}
		}
		svc := o.Inv.Service(ns, name)
		if svc == nil {
			continue
		}
		var svcPort *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Port == port {
				svcPort = &svc.Spec.Ports[i]
			}
		}
		svcSlices := workloadSlices(o, ns, name)
		podIPs := dualStackPods(svcSlices, dualStack && len(svc.Spec.ClusterIPs) > 1)
		for _, es := range svcSlices {
			target := endpointPort(es, svcPort)
			if target == 0 {
				continue
			}
			for _, ep := range es.Endpoints {
				if !endpointReady(ep) {
					continue
				}
				ips, dual := podIPs[podOf(ep)]
				if dual && es.AddressType == discoveryv1.AddressTypeIPv6 {
					continue // merged into the pod's IPv4 endpoint
				}
				for _, a := range ep.Addresses {
					re := envoyadmin.RemoteEndpoint{IP: a, Port: target, Cluster: o.ID, Network: o.Network, NoMTLS: mtls.off(o, ep, target)}
					if dual {
						for _, ip := range ips {
							if ip != a {
								re.Additional = append(re.Additional, ip)
							}
						}
					}
					in.Endpoints = append(in.Endpoints, re)
				}
			}
		}
	}
	return in
}

// workloadSlices are the EndpointSlices of Service ns/name in c that istiod
// reads workloads from: FQDN slices are not supported (endpointslice.go
// updateEndpointCacheForSlice).
func workloadSlices(c *mesh.Cluster, ns, name string) []cluster.EndpointSlice {
	var out []cluster.EndpointSlice
	for _, es := range c.Inv.EndpointSlices {
		if es.Namespace == ns && es.ServiceName == name && es.AddressType != discoveryv1.AddressTypeFQDN {
			out = append(out, es)
		}
	}
	return out
}

// endpointReady is an endpoint's ready condition as the EndpointSlice API
// defines it: unset means ready.
func endpointReady(ep cluster.Endpoint) bool {
	return ep.Conditions.Ready != cluster.ConditionFalse
}

// istiodDualStack reports whether the istiod serving a sidecar in c has
// ISTIO_DUAL_STACK on (pilot/pkg/features EnableDualStack, parsed as a Go
// bool, default false): c's own istiod, else, for a remote cluster, a
// primary's.
func istiodDualStack(m *mesh.Mesh, c *mesh.Cluster) bool {
	on := func(x *mesh.Cluster) (bool, bool) {
		v, ok := x.EnvValue("ISTIO_DUAL_STACK")
		if !ok {
			return false, x.Istiod != nil
		}
		b, err := strconv.ParseBool(v)
		return err == nil && b, true
	}
	if c.Istiod != nil {
		b, _ := on(c)
		return b
	}
	for _, o := range m.Reachable() {
		if o.Role == mesh.Primary {
			if b, known := on(o); known {
				return b
			}
		}
	}
	return false
}

type podKey struct{ namespace, name string }

func podOf(ep cluster.Endpoint) podKey {
	if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
		return podKey{}
	}
	return podKey{ep.TargetRef.Namespace, ep.TargetRef.Name}
}

// dualStackPods mirrors endpointslice.go updateEndpointCacheForSlice with
// ISTIO_DUAL_STACK on and a Service with more than one ClusterIP: a pod
// with more than one IP is one IstioEndpoint carrying all its IPs, built from
// its IPv4 slice entry, and its IPv6 slice entry is skipped. The inventory
// holds the slices, not the pods, so a pod's IPs are the addresses its
// targetRef has across the IPv4 and IPv6 slices.
func dualStackPods(svcSlices []cluster.EndpointSlice, enabled bool) map[podKey][]string {
	if !enabled {
		return nil
	}
	ips := map[podKey][]string{}
	families := map[podKey]map[discoveryv1.AddressType]bool{}
	for _, es := range svcSlices {
		for _, ep := range es.Endpoints {
			k := podOf(ep)
			if k == (podKey{}) {
				continue
			}
			if families[k] == nil {
				families[k] = map[discoveryv1.AddressType]bool{}
			}
			families[k][es.AddressType] = true
			ips[k] = append(ips[k], ep.Addresses...)
		}
	}
	for k, f := range families {
		if !f[discoveryv1.AddressTypeIPv4] || !f[discoveryv1.AddressTypeIPv6] {
			delete(ips, k)
		}
	}
	return ips
}

// proxyNetwork is the sidecar's network as istiod sees it,
// proxy.Metadata.Network: the istio-proxy container's ISTIO_META_NETWORK,
// which the injector writes from the pod's topology.istio.io/network label or
// values.global.network (pkg/kube/inject/inject.go extractClusterAndNetwork,
// injection-template.yaml), next to an ISTIO_META_CLUSTER_ID it always
// writes. An injected sidecar without ISTIO_META_NETWORK has no network
// (""), which ep_filters.go answers with gateways (forceGateway). When the
// pod or an injected container spec is not in the inventory, the cluster's
// network is assumed, and source says so.
func proxyNetwork(c *mesh.Cluster, pod *corev1.Pod) (network, source string) {
	if pod != nil {
		for _, ct := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
			if ct.Name != "istio-proxy" {
				continue
			}
			injected := false
			for _, e := range ct.Env {
				switch e.Name {
				case "ISTIO_META_NETWORK":
					return e.Value, "sidecar env ISTIO_META_NETWORK"
				case "ISTIO_META_CLUSTER_ID":
					injected = true
				}
			}
			if injected {
				return "", "sidecar injected without ISTIO_META_NETWORK: istiod sees no network and sends gateways (forceGateway)"
			}
		}
	}
	return c.Network, "assumed from the istio-system network label (no injected istio-proxy spec of the pod listed)"
}

func endpointPort(es cluster.EndpointSlice, sp *corev1.ServicePort) int {
	if sp == nil {
		return 0
	}
	for _, p := range es.Ports {
		if p.Port == nil {
			continue
		}
		if (p.Name != nil && *p.Name == sp.Name) || len(es.Ports) == 1 {
			return int(*p.Port)
		}
	}
	return 0
}

func proxyTable(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	if env.Admin == nil {
		return []Result{skipf("admin access not available")}
	}
	var ref envoyadmin.PodRef
	var proxyPod *corev1.Pod
	if ns, name, ok := strings.Cut(env.Probes.Proxy, "/"); ok {
		ref = envoyadmin.PodRef{Context: c.Name, Namespace: ns, Name: name, Port: envoyadmin.EnvoyAdminPort}
		for i := range c.Inv.Pods {
			if p := &c.Inv.Pods[i]; p.Namespace == ns && p.Name == name {
				proxyPod = p
			}
		}
	} else {
		pod, why := probePod(c)
		proxyPod = pod
		if pod == nil {
			r := skipf("no sidecar to inspect: %s (or name one with --proxy namespace/pod)", why)
			r.Remediation, r.Note = deployHint(c), deployNote
			return []Result{r}
		}
		ref = envoyadmin.PodRef{Context: c.Name, Namespace: pod.Namespace, Name: pod.Name, Port: envoyadmin.EnvoyAdminPort}
	}
	targets := multiClusterServices(env, env.Probes.Service)
	if len(targets) == 0 {
		if env.Probes.Service != "" {
			return []Result{skipf("service %s is not present in more than one cluster", env.Probes.Service)}
		}
		return []Result{skipf("no service is present in more than one cluster")}
	}
	table, err := envoyadmin.FetchTable(ctx, env.Admin, ref)
	if errors.Is(err, ErrNotRecorded) {
		return []Result{skipf("no recorded Envoy config dump of %s in the snapshot", ref)}
	}
	if err != nil {
		if envoyadmin.IsForbidden(err) {
			return []Result{{Status: Error, Message: fmt.Sprintf("forbidden: create pods/portforward and pods/exec in %s: cannot read the Envoy endpoints of %s", ref.Namespace, ref),
				Evidence:    []Evidence{Ev("error", err)},
				Remediation: fmt.Sprintf("%s auth can-i create pods/portforward -n %s; %s auth can-i create pods/exec -n %s", kc(c.Name), shellQuote(ref.Namespace), kc(c.Name), shellQuote(ref.Namespace))}}
		}
		if apierrors.IsNotFound(err) && env.Probes.Proxy != "" {
			return []Result{skipf("--proxy %s: no such pod in this cluster", env.Probes.Proxy)}
		}
		return []Result{{Status: Error, Message: fmt.Sprintf("read Envoy endpoints of %s: %v", ref, err),
			Remediation: fmt.Sprintf("istioctl --context %s proxy-config endpoints %s -n %s", shellQuote(c.Name), shellQuote(ref.Name), shellQuote(ref.Namespace))}}
	}
	via := "port-forward to localhost:15000"
	if fb, ok := env.Admin.(interface {
		FellBack(envoyadmin.PodRef) (string, bool)
	}); ok {
		if why, fell := fb.FellBack(ref); fell {
			via = "exec pilot-agent request (port-forward refused: " + why + ")"
		}
	}
	network, networkSource := proxyNetwork(c, proxyPod)
	hosts, hostEv := proxyGatewayHosts(ctx, env, c)
	drs := newDRIndex(configCluster(env.Mesh, c))
	var out []Result
	for _, t := range targets {
		ns, name, _ := strings.Cut(t.service, "/")
		port := servicePort(env.Mesh, ns, name)
		in := serviceInput(env.Mesh, c, network, hosts, drs, ns, name, port)
		want := envoyadmin.Expected(in)
		got := table[in.ClusterName()]
		deltas := append(envoyadmin.Diff(want, got, in), unlabelledLeaks(env.Mesh, c, hosts, got)...)
		r := Result{Target: in.ClusterName(), Evidence: append([]Evidence{Ev("proxy", ref.String()), Ev("read via", via),
			Ev("proxy network", orNone(network)+" ("+networkSource+")"),
			Ev("want", describeEndpoints(want)), Ev("got", describeEndpoints(got))}, hostEv...)}
		if len(deltas) == 0 {
			r.Status, r.Message = Pass, fmt.Sprintf("%d endpoints as expected (%s)", len(got), describeEndpoints(got))
			out = append(out, r)
			continue
		}
		severe := false
		var parts, notes []string
		for _, d := range deltas {
			r.Evidence = append(r.Evidence, Ev(string(d.Kind), d.Detail))
			switch d.Kind {
			case envoyadmin.DeltaUnresolvedGateway:
				notes = append(notes, d.Detail)
				continue
			case envoyadmin.DeltaUnreachableNetwork:
				parts = append(parts, fmt.Sprintf("%s (%s)", d.Kind, d.Detail))
			default:
				parts = append(parts, fmt.Sprintf("%s %s", d.Kind, d.Endpoint.HostPort()))
			}
			severe = severe || d.Kind != envoyadmin.DeltaWeight && d.Kind != envoyadmin.DeltaUnhealthy
		}
		r.Status = Warn
		if severe {
			r.Status = Fail
		}
		if len(parts) == 0 {
			r.Message = fmt.Sprintf("%d endpoints as expected (%s); %s", len(got), describeEndpoints(got), strings.Join(notes, "; "))
			out = append(out, r)
			continue
		}
		r.Message = "endpoint table differs: " + strings.Join(parts, "; ")
		if len(notes) > 0 {
			r.Message += "; " + strings.Join(notes, "; ")
		}
		r.Remediation = fmt.Sprintf("istioctl --context %s proxy-config endpoints %s -n %s --cluster %s", shellQuote(c.Name), shellQuote(ref.Name), shellQuote(ref.Namespace), shellQuote(in.ClusterName()))
		out = append(out, r)
	}
	return out
}

// proxyGatewayHosts maps the mesh's hostname gateways to IPs for the
// expected table of a sidecar in c: from the /debug/networkz of the istiod
// serving it (c's, else a primary's) when it can be read, else by DNS.
func proxyGatewayHosts(ctx context.Context, env *Env, c *mesh.Cluster) (map[gatewayHostKey]hostResolution, []Evidence) {
	hasHost := false
	for a := range env.Mesh.GatewayAddresses() {
		hasHost = hasHost || net.ParseIP(a) == nil
	}
	if !hasHost {
		return nil, nil
	}
	servers := []*mesh.Cluster{c}
	if c.Role != mesh.Primary {
		servers = nil
		for _, o := range env.Mesh.Reachable() {
			if o.Role == mesh.Primary {
				servers = append(servers, o)
			}
		}
	}
	var ev []Evidence
	for _, s := range servers {
		body, res := fetchDebug(ctx, env, s, envoyadmin.PathNetworkz)
		if res != nil {
			ev = append(ev, Ev("networkz of "+s.Name, res.Message))
			continue
		}
		gws, err := envoyadmin.ParseNetworkz(bytes.NewReader(body))
		if err != nil {
			ev = append(ev, Ev("networkz of "+s.Name, err))
			continue
		}
		return resolveGatewayHosts(ctx, env, gws, true), ev
	}
	return resolveGatewayHosts(ctx, env, nil, false), ev
}

func servicePort(m *mesh.Mesh, ns, name string) int32 {
	for _, c := range m.Reachable() {
		if s := c.Inv.Service(ns, name); s != nil && len(s.Spec.Ports) > 0 {
			return s.Spec.Ports[0].Port
		}
	}
	return 0
}

func describeEndpoints(eps []envoyadmin.Endpoint) string {
	if len(eps) == 0 {
		return "(none)"
	}
	var s []string
	for i, e := range eps {
		if i == 8 {
			s = append(s, fmt.Sprintf("… %d more", len(eps)-8))
			break
		}
		x := fmt.Sprintf("%s:%d", e.Address, e.Port)
		for _, a := range e.AdditionalAddresses {
			x += "+" + a
		}
		if e.Tunnel != "" {
			x += " via " + e.Tunnel
		}
		if e.SourceCluster != "" {
			x += "@" + e.SourceCluster
		}
		if e.Weight > 1 {
			x += fmt.Sprintf(" w%d", e.Weight)
		}
		if e.Priority > 0 {
			x += fmt.Sprintf(" p%d", e.Priority)
		}
		s = append(s, x)
	}
	return strings.Join(s, ", ")
}

// unlabelledLeaks finds, in a mesh that uses networks, pod IPs from another
// cluster that has no network label. Istio treats endpoints without a
// network as reachable from every network and sends their pod IPs across,
// so the expected table (which takes networks from the same labels) agrees
// with the sidecar; the traffic still cannot cross networks without the
// gateway.
func unlabelledLeaks(m *mesh.Mesh, c *mesh.Cluster, hosts map[gatewayHostKey]hostResolution, got []envoyadmin.Endpoint) []envoyadmin.Delta {
	// Only where networks are in use: the proxy's own cluster is on one and
	// the mesh has network gateways.
	gateway := map[string]bool{}
	for a := range m.GatewayAddresses() {
		gateway[a] = true
	}
	for _, r := range hosts {
		for _, ip := range r.ips {
			gateway[ip] = true
		}
	}
	if c.Network == "" || len(gateway) == 0 {
		return nil
	}
	var out []envoyadmin.Delta
	for _, e := range got {
		if gateway[e.Address] {
			continue
		}
		for _, o := range m.Reachable() {
			if o.ID != e.SourceCluster || o.ID == c.ID || o.Network != "" {
				continue
			}
			out = append(out, envoyadmin.Delta{Kind: envoyadmin.DeltaRemotePodIP, Endpoint: e,
				Detail: fmt.Sprintf("%s:%d is a pod of %s, whose istio-system has no topology.istio.io/network label: istiod sends its pod IPs to every network instead of routing them through a gateway", e.Address, e.Port, o.Name)})
		}
	}
	return out
}
