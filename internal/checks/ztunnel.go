package checks

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/ztunnel"
)

// ztunnelChecks read ztunnel's own view of the global services, as
// endpoints.proxy-table reads a sidecar's: the endpoints area, declared
// after the ambient checks whose data-plane detection they use.
var ztunnelChecks = []Check{
	{ID: "endpoints.ztunnel-table", Title: "a ztunnel's workloads for global services are the ones that should be there: local pods, and each other network through its east-west gateway", Scope: PerCluster, Network: true,
		DependsOn: []string{"controlplane.istiod-ready", "ambient.dataplane"}, Needs: []string{cluster.ResPods, cluster.ResServices, cluster.ResEndpointSlices}, Cluster: ztunnelTable},
}

// ZtunnelAdminPort and ZtunnelConfigDump are where istioctl ztunnel-config
// reads a ztunnel (istioctl/pkg/ztunnelconfig/ztunnelconfig.go
// extractZtunnelConfigDump: a port-forward to --proxy-admin-port, default
// util.DefaultProxyAdminPort 15000, GET config_dump). ztunnel binds it to
// localhost in its pod, as Envoy does.
const (
	ZtunnelAdminPort  = 15000
	ZtunnelConfigDump = "/config_dump"
)

// ztunnelPod picks the ztunnel to read: a running pod of the ztunnel
// DaemonSet (manifests/charts/ztunnel/templates/daemonset.yaml labels its
// pods app: ztunnel) in istio-system, the one on the probe client's node
// when there is one (the ztunnel that client's traffic leaves through),
// else the first by name.
func ztunnelPod(c *mesh.Cluster) *corev1.Pod {
	var pods []*corev1.Pod
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		if p.Namespace == cluster.IstioNamespace && p.Labels["app"] == cluster.AgentZtunnel && p.Status.Phase == corev1.PodRunning {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return nil
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	if client, _ := probePod(c); client != nil && client.Spec.NodeName != "" {
		for _, p := range pods {
			if p.Spec.NodeName == client.Spec.NodeName {
				return p
			}
		}
	}
	return pods[0]
}

// ambientGateways are, per network, the addresses istiod uses for the
// network's istio-east-west Gateways (mesh.AmbientGateway, Ignored "").
func ambientGateways(m *mesh.Mesh) map[string][]string {
	out := map[string][]string{}
	for _, o := range m.Reachable() {
		for _, g := range o.AmbientEastWestGateways() {
			if g.Ignored == "" {
				out[g.Network] = append(out[g.Network], g.Addresses...)
			}
		}
	}
	return out
}

// readyEndpoints are the ready addresses of a Service's EndpointSlices in
// one cluster (FQDN slices are no workloads), each with the pod it belongs
// to (a dual-stack pod has an address in two slices).
func readyEndpoints(c *mesh.Cluster, ns, name string) []ztunnel.Want {
	var out []ztunnel.Want
	for _, es := range workloadSlices(c, ns, name) {
		for _, ep := range es.Endpoints {
			if !endpointReady(ep) {
				continue
			}
			pod := ""
			if k := podOf(ep); k != (podKey{}) {
				pod = k.namespace + "/" + k.name
			}
			for _, a := range ep.Addresses {
				out = append(out, ztunnel.Want{IP: a, Network: c.Network, Cluster: c.Name, Workload: pod})
			}
		}
	}
	return out
}

// ztunnelTable diffs a ztunnel's config dump against the expected view of
// each service global in c and shared globally by another cluster: c's own
// ready pods by IP; for the other clusters whose copy c's istiod takes as
// GLOBAL (ServiceScope, as ambient.global-services reads it), their pods by IP
// when on c's network, else their network's east-west gateway
// (ztunnel.Diff has the rule, from istiod's multicluster.go).
func ztunnelTable(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	if d := c.DataPlane(); !d.Ambient() {
		return notAmbient(d)
	}
	if env.Admin == nil {
		return []Result{skipf("admin access not available")}
	}
	cs := ambientClusters(env.Mesh)
	all, keys := sharedServices(cs)
	type target struct {
		ns, name, host string
		want           []ztunnel.Want
		ev             []Evidence
	}
	var targets []target
	for _, k := range keys {
		copies := all[k]
		own := copies[c.Name]
		if own == nil {
			continue
		}
		t := target{ns: own.Namespace, name: own.Name, host: fmt.Sprintf("%s.%s.svc.cluster.local", own.Name, own.Namespace)}
		shared, ownGlobal := false, false
		for _, cn := range sortedKeys(copies) {
			o := env.Mesh.Cluster(cn)
			g, known, why := c.ServiceScope(copies[cn])
			if !known {
				return []Result{skipf("the service scope of %s is not known (%s): cannot tell which services are global", k, why)}
			}
			t.ev = append(t.ev, Ev("scope in "+cn, why))
			switch {
			case o == c:
				ownGlobal = g
			case !g:
				continue
			default:
				shared = true
			}
			t.want = append(t.want, readyEndpoints(o, own.Namespace, own.Name)...)
		}
		// A service global elsewhere but local here is
		// ambient.global-services' failure; istiod coalesces only a
		// service whose merged scope is global (multicluster.go), so the
		// view here cannot be told.
		if shared && ownGlobal {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return []Result{skipf("no service of this cluster is shared globally by another ambient cluster")}
	}
	pod := ztunnelPod(c)
	if pod == nil {
		why := fmt.Sprintf("no running ztunnel pod (app=ztunnel) listed in %s", cluster.IstioNamespace)
		for _, z := range c.DataPlane().Ztunnel {
			if z.Namespace != cluster.IstioNamespace {
				why += fmt.Sprintf(" (DaemonSet %s/%s runs outside it; meshdoctor lists pods of %s only)", z.Namespace, z.Name, cluster.IstioNamespace)
				break
			}
		}
		r := skipf("%s", why)
		r.Remediation = fmt.Sprintf("%s get pods -A -l app=ztunnel -o wide", kc(c.Name))
		return []Result{r}
	}
	ref := envoyadmin.PodRef{Context: c.Name, Namespace: pod.Namespace, Name: pod.Name, Port: ZtunnelAdminPort}
	zref := shellQuote(pod.Name + "." + pod.Namespace)
	confirm := func(ns string) string {
		return fmt.Sprintf("istioctl --context %s ztunnel-config service %s --service-namespace %s\nistioctl --context %s ztunnel-config workload %s --workload-namespace %s -o json",
			shellQuote(c.Name), zref, shellQuote(ns), shellQuote(c.Name), zref, shellQuote(ns))
	}
	body, err := env.Admin.Get(ctx, ref, ZtunnelConfigDump)
	if errors.Is(err, ErrNotRecorded) {
		return []Result{skipf("no recorded ztunnel config dump of %s in the snapshot", ref)}
	}
	if err != nil {
		if envoyadmin.IsForbidden(err) {
			return []Result{{Status: Warn, Message: fmt.Sprintf("cannot read ztunnel's table: forbidden to port-forward to %s", ref),
				Evidence:    []Evidence{Ev("error", err)},
				Remediation: fmt.Sprintf("%s auth can-i create pods/portforward -n %s", kc(c.Name), shellQuote(ref.Namespace))}}
		}
		return []Result{{Status: Warn, Message: fmt.Sprintf("cannot read ztunnel's table from %s: %v", ref, err),
			Remediation: confirm(targets[0].ns)}}
	}
	dump, err := ztunnel.Parse(bytes.NewReader(body))
	if err != nil {
		return []Result{{Status: Warn, Message: fmt.Sprintf("ztunnel %s answered, but not with a config dump meshdoctor reads: %v", ref, err),
			Remediation: confirm(targets[0].ns)}}
	}
	gateways := ambientGateways(env.Mesh)
	var out []Result
	for _, t := range targets {
		deltas := dump.Diff(t.host, c.Network, t.want, gateways)
		r := Result{Target: t.host, Evidence: append([]Evidence{Ev("ztunnel", ref.String()), Ev("read via", "port-forward to localhost:15000 "+ZtunnelConfigDump),
			Ev("ztunnel network", orNone(c.Network)), Ev("want", describeWants(t.want, c.Network, gateways)), Ev("got", describeZtunnel(dump, t.host))}, t.ev...)}
		if len(deltas) == 0 {
			r.Status, r.Message = Pass, fmt.Sprintf("ztunnel holds %s as expected: %s", t.host, describeZtunnel(dump, t.host))
			out = append(out, r)
			continue
		}
		severe := false
		var parts []string
		for _, d := range deltas {
			r.Evidence = append(r.Evidence, Ev(string(d.Kind), d.Detail))
			parts = append(parts, d.String())
			severe = severe || d.Kind != envoyadmin.DeltaWeight && d.Kind != envoyadmin.DeltaUnhealthy
		}
		r.Status = Warn
		if severe {
			r.Status = Fail
		}
		r.Message = "ztunnel's table differs: " + strings.Join(parts, "; ")
		r.Remediation = confirm(t.ns)
		r.Note = "istiod sends a ztunnel its own network's pods by IP and, for each other network, one workload through that network's istio-east-west Gateway (networkGateway); see ambient.eastwest-gateway, ambient.global-services and ambient.istiod-multi-network for the usual causes"
		out = append(out, r)
	}
	return out
}

// describeWants lists the expected view: local IPs, and each other network
// by its gateway.
func describeWants(want []ztunnel.Want, local string, gateways map[string][]string) string {
	var ips []string
	remote := map[string]int{}
	for _, w := range want {
		if w.Network == local || w.Network == "" {
			ips = append(ips, w.IP)
		} else {
			remote[w.Network]++
		}
	}
	parts := []string{}
	if len(ips) > 0 {
		parts = append(parts, strings.Join(ips, ", "))
	}
	for _, nw := range sortedKeys(remote) {
		gw := "no gateway"
		if g := gateways[nw]; len(g) > 0 {
			gw = "via " + strings.Join(g, "|")
		}
		parts = append(parts, fmt.Sprintf("%s %s (%d endpoints)", nw, gw, remote[nw]))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}

// describeZtunnel lists what the ztunnel holds for host: IPs, or
// "via <networkGateway>" with the capacity of a coalesced workload.
func describeZtunnel(d *ztunnel.Dump, host string) string {
	byUID := map[string]*ztunnel.Workload{}
	for _, w := range d.Workloads {
		byUID[w.UID] = w
	}
	var parts []string
	for _, s := range d.Services {
		if s.Hostname != host {
			continue
		}
		for _, k := range sortedKeys(s.Endpoints) {
			ep := s.Endpoints[k]
			if ep == nil {
				continue
			}
			w, ok := byUID[ep.WorkloadUID]
			if !ok {
				parts = append(parts, "(unknown workload "+ep.WorkloadUID+")")
				continue
			}
			x := strings.Join(w.WorkloadIPs, "+")
			if w.NetworkGateway != nil {
				x = strings.TrimSpace(x + " via " + w.NetworkGateway.Destination)
				if w.Capacity > 0 {
					x += fmt.Sprintf(" capacity %d", w.Capacity)
				}
			}
			parts = append(parts, x)
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	if len(parts) > 8 {
		parts = append(parts[:8], fmt.Sprintf("… %d more", len(parts)-8))
	}
	return strings.Join(parts, ", ")
}
