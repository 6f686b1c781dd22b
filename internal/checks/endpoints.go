package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

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
	body, err := env.Admin.Get(ctx, ref, path)
	if err != nil {
		if errors.Is(err, ErrNotRecorded) {
			r := skipf("no recorded %s in the snapshot", path)
			return nil, &r
		}
		r := Result{Status: Error, Message: fmt.Sprintf("read istiod %s: %v", path, err),
			Remediation: fmt.Sprintf("%s -n istio-system port-forward %s 15014 & curl -s localhost:15014%s", kc(c.Name), pod.Name, path)}
		return nil, &r
	}
	return body, nil
}

func istiodSync(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	body, res := fetchDebug(ctx, env, c, "/debug/clusterz")
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
			r.Remediation = fmt.Sprintf("%s -n istio-system logs deploy/istiod | grep -i %s (credentials, reachability of %s's API server)", kc(c.Name), o.ID, o.Name)
		default:
			r.Status, r.Message = Pass, fmt.Sprintf("watching %s: synced (secret %s)", o.ID, e.SecretName)
		}
		out = append(out, r)
	}
	for _, e := range entries {
		if e.ID == c.ID || len(env.Mesh.ByID(e.ID)) > 0 || e.SyncStatus == "synced" {
			continue
		}
		r := warnf(fmt.Sprintf("%s -n istio-system get secret %s (see secrets.remote-stale)", kc(c.Name), strings.TrimPrefix(e.SecretName, "istio-system/")),
			"istiod still tries to watch %s, which is not in the mesh (%s)", e.ID, e.SyncStatus)
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
	var missing []string
	for _, o := range env.Mesh.Reachable() {
		for _, g := range o.Gateways {
			for _, a := range g.Addresses {
				k := fmt.Sprintf("%s %s:%d", g.Network, a, g.Port)
				if !known[k] {
					missing = append(missing, k+" ("+o.Name+")")
				}
			}
		}
	}
	if len(missing) > 0 {
		r := failf(fmt.Sprintf("%s -n istio-system port-forward deploy/istiod 15014 & curl -s localhost:15014/debug/networkz", kc(c.Name)),
			"istiod does not know gateway(s) %s: cross-network endpoints get no gateway", strings.Join(missing, ", "))
		return []Result{with(r, ev...)}
	}
	return []Result{pass(fmt.Sprintf("istiod knows all %d network gateways", len(gws)), ev...)}
}

// serviceInput builds the expected-table input of a service port as seen
// from a sidecar in c.
func serviceInput(m *mesh.Mesh, c *mesh.Cluster, ns, name string, port int32) envoyadmin.ExpectedInput {
	in := envoyadmin.ExpectedInput{ProxyNetwork: c.Network, Service: fmt.Sprintf("%s.%s.svc.cluster.local", name, ns), Port: int(port),
		Gateways: map[string][]envoyadmin.GatewayAddr{}}
	for _, o := range m.Reachable() {
		for _, g := range o.Gateways {
			for _, a := range g.Addresses {
				in.Gateways[g.Network] = append(in.Gateways[g.Network], envoyadmin.GatewayAddr{Address: a, Port: g.Port, Cluster: o.ID})
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
		for _, es := range o.Inv.EndpointSlices {
			if es.Namespace != ns || es.Labels[discoveryv1.LabelServiceName] != name {
				continue
			}
			target := endpointPort(es, svcPort)
			if target == 0 {
				continue
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				for _, a := range ep.Addresses {
					in.Endpoints = append(in.Endpoints, envoyadmin.RemoteEndpoint{IP: a, Port: target, Cluster: o.ID, Network: o.Network})
				}
			}
		}
	}
	return in
}

func endpointPort(es discoveryv1.EndpointSlice, sp *corev1.ServicePort) int {
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
	if ns, name, ok := strings.Cut(env.Probes.Proxy, "/"); ok {
		ref = envoyadmin.PodRef{Context: c.Name, Namespace: ns, Name: name, Port: envoyadmin.EnvoyAdminPort}
	} else {
		pod, why := probePod(c)
		if pod == nil {
			r := skipf("no sidecar to inspect: %s (or name one with --proxy namespace/pod)", why)
			r.Remediation = deployHint(c)
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
				Remediation: fmt.Sprintf("%s auth can-i create pods/portforward -n %s; %s auth can-i create pods/exec -n %s", kc(c.Name), ref.Namespace, kc(c.Name), ref.Namespace)}}
		}
		if apierrors.IsNotFound(err) && env.Probes.Proxy != "" {
			return []Result{skipf("--proxy %s: no such pod in this cluster", env.Probes.Proxy)}
		}
		return []Result{{Status: Error, Message: fmt.Sprintf("read Envoy endpoints of %s: %v", ref, err),
			Remediation: fmt.Sprintf("istioctl --context %s proxy-config endpoints %s -n %s", shellQuote(c.Name), ref.Name, ref.Namespace)}}
	}
	via := "port-forward to localhost:15000"
	if fb, ok := env.Admin.(interface {
		FellBack(envoyadmin.PodRef) (string, bool)
	}); ok {
		if why, fell := fb.FellBack(ref); fell {
			via = "exec pilot-agent request (port-forward refused: " + why + ")"
		}
	}
	var out []Result
	for _, t := range targets {
		ns, name, _ := strings.Cut(t.service, "/")
		port := servicePort(env.Mesh, ns, name)
		in := serviceInput(env.Mesh, c, ns, name, port)
		want := envoyadmin.Expected(in)
		got := table[in.ClusterName()]
		deltas := append(envoyadmin.Diff(want, got, in), unlabelledLeaks(env.Mesh, c, got)...)
		r := Result{Target: in.ClusterName(), Evidence: []Evidence{Ev("proxy", ref.String()), Ev("read via", via),
			Ev("want", describeEndpoints(want)), Ev("got", describeEndpoints(got))}}
		if len(deltas) == 0 {
			r.Status, r.Message = Pass, fmt.Sprintf("%d endpoints as expected (%s)", len(got), describeEndpoints(got))
			out = append(out, r)
			continue
		}
		severe := false
		var parts []string
		for _, d := range deltas {
			if d.Kind == envoyadmin.DeltaUnreachableNetwork {
				parts = append(parts, fmt.Sprintf("%s (%s)", d.Kind, d.Detail))
			} else {
				parts = append(parts, fmt.Sprintf("%s %s:%d", d.Kind, d.Endpoint.Address, d.Endpoint.Port))
			}
			r.Evidence = append(r.Evidence, Ev(string(d.Kind), d.Detail))
			severe = severe || d.Kind != envoyadmin.DeltaWeight && d.Kind != envoyadmin.DeltaUnhealthy
		}
		r.Status = Warn
		if severe {
			r.Status = Fail
		}
		r.Message = "endpoint table differs: " + strings.Join(parts, "; ")
		r.Remediation = fmt.Sprintf("istioctl --context %s proxy-config endpoints %s -n %s --cluster '%s'", shellQuote(c.Name), ref.Name, ref.Namespace, in.ClusterName())
		out = append(out, r)
	}
	return out
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
		if e.SourceCluster != "" {
			x += "@" + e.SourceCluster
		}
		if e.Weight > 1 {
			x += fmt.Sprintf(" w%d", e.Weight)
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
func unlabelledLeaks(m *mesh.Mesh, c *mesh.Cluster, got []envoyadmin.Endpoint) []envoyadmin.Delta {
	// Only where networks are in use: the proxy's own cluster is on one and
	// the mesh has network gateways.
	gateway := map[string]bool{}
	for a := range m.GatewayAddresses() {
		gateway[a] = true
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
