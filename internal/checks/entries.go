package checks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	istioapi "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// ServiceEntries and DNS: what makes a ServiceEntry that sends across
// clusters (the `.global` style, Admiral's) fail although it is accepted.
var entryChecks = []Check{
	{ID: "config.serviceentry-external-gateway", Title: "no MESH_EXTERNAL ServiceEntry sends to an east-west gateway's mTLS port", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries}, Cluster: serviceEntryExternalGateway},
	{ID: "config.serviceentry-resolution", Title: "ServiceEntry resolution, addresses and endpoints are a combination istiod accepts and can serve", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries}, Cluster: serviceEntryResolution},
	{ID: "config.serviceentry-vip-overlap", Title: "no two ServiceEntry hosts share a VIP on the same port", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries}, Cluster: serviceEntryVIPOverlap},
	{ID: "config.dns-capture", Title: "hosts that only Istio's DNS proxy resolves are called from proxies that have it", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries, cluster.ResConfigMaps, cluster.ResPods}, Cluster: dnsCapture},
}

// Proxy metadata that turns on the sidecar agent's DNS proxy
// (pilot/cmd/pilot-agent/options/options.go DNSCaptureByAgent, default
// false; pkg/model/proxy.go DNSCapture, DNSAutoAllocate).
const (
	metaDNSCapture      = "ISTIO_META_DNS_CAPTURE"
	metaDNSAutoAllocate = "ISTIO_META_DNS_AUTO_ALLOCATE"
	proxyConfigAnnot    = "proxy.istio.io/config"
)

func seTarget(se *istionet.ServiceEntry) string { return se.Namespace + "/" + se.Name }

func seEdit(c *mesh.Cluster, se *istionet.ServiceEntry) string {
	return fmt.Sprintf("%s -n %s edit serviceentries.networking.istio.io %s", kc(c.Name), shellQuote(se.Namespace), shellQuote(se.Name))
}

// gatewayEndpoints maps every discovered gateway address to the ports a
// client dials it on, with the gateways' cluster.
type gwEndpoint struct {
	cluster *mesh.Cluster
	gw      *mesh.Gateway
}

func gatewaysByAddress(env *Env) map[string][]gwEndpoint {
	out := map[string][]gwEndpoint{}
	for _, c := range env.Mesh.Reachable() {
		for i := range c.Gateways {
			g := &c.Gateways[i]
			for _, a := range g.Addresses {
				out[a] = append(out[a], gwEndpoint{c, g})
			}
		}
	}
	return out
}

// sendsToGateway reports the gateway an endpoint sends to on its mTLS
// port: an address of a discovered gateway on the port a client dials it,
// or any address on 15443 (an address meshdoctor does not know: a gateway
// of a cluster outside the run, or a stale one).
func sendsToGateway(we *istioapi.WorkloadEntry, gws map[string][]gwEndpoint) (port uint32, gw *gwEndpoint, ok bool) {
	for _, p := range we.GetPorts() {
		for i := range gws[we.GetAddress()] {
			if uint32(gws[we.GetAddress()][i].gw.Port) == p {
				return p, &gws[we.GetAddress()][i], true
			}
		}
	}
	for _, p := range we.GetPorts() {
		if p == mesh.DefaultGatewayPort {
			return p, nil, true
		}
	}
	return 0, nil, false
}

// serviceEntryExternalGateway: a MESH_EXTERNAL entry (the default location)
// gets no Istio mTLS (pilot/pkg/networking/core/cluster_tls.go
// buildUpstreamTLSSettings: meshExternal turns auto mTLS off), so the
// sidecar sends the application's bytes to the gateway's AUTO_PASSTHROUGH
// listener, which routes only on the Istio SNI outbound_.PORT_._.HOST and
// resets the connection. A DestinationRule with ISTIO_MUTUAL for the host
// sets that SNI (same function: ISTIO_MUTUAL with no sni takes the
// cluster's); without DestinationRules read, the check warns.
func serviceEntryExternalGateway(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	gws := gatewaysByAddress(env)
	drsRead := c.Inv.Traffic.Has(cluster.ResDestinationRules)
	var out []Result
	seen := 0
	for _, se := range c.Inv.ServiceEntries {
		if se.Spec.GetLocation() == istioapi.ServiceEntry_MESH_INTERNAL {
			continue
		}
		for _, we := range se.Spec.GetEndpoints() {
			port, gw, ok := sendsToGateway(we, gws)
			if !ok {
				continue
			}
			seen++
			at := "an unknown gateway"
			if gw != nil {
				at = fmt.Sprintf("%s's gateway %s", gw.cluster.Name, gw.gw.Name())
			}
			ev := []Evidence{Ev("hosts", strings.Join(se.Spec.GetHosts(), ",")), Ev("location", se.Spec.GetLocation().String())}
			mtls, none, partial := istioMutualFor(c, se)
			switch {
			case drsRead && len(none) == 0 && len(partial) > 0:
				r := noted(warnf(fmt.Sprintf("%s get destinationrules.networking.istio.io -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,HOST:.spec.host,TLS:.spec.trafficPolicy.tls.mode,EXPORT:.spec.exportTo", kc(c.Name)),
					"ServiceEntry %s is MESH_EXTERNAL and sends to %s:%d (%s): only some callers get Istio mTLS from a DestinationRule; the others' connections are reset by the gateway's AUTO_PASSTHROUGH listener (%s)",
					seTarget(se), we.GetAddress(), port, at, strings.Join(partial, "; ")),
					"give every caller's namespace a DestinationRule with tls.mode ISTIO_MUTUAL for the host (one in the entry's namespace exported to *), or set spec.location: MESH_INTERNAL and label the endpoints security.istio.io/tlsMode: istio")
				r.Target = seTarget(se)
				out = append(out, with(r, ev...))
				continue
			case drsRead && len(none) == 0:
				r := pass(fmt.Sprintf("MESH_EXTERNAL entry sends to %s:%d (%s); DestinationRule %s adds Istio mTLS", we.GetAddress(), port, at, strings.Join(mtls, ",")), ev...)
				r.Target = seTarget(se)
				out = append(out, r)
				continue
			case drsRead:
				ev = append(ev, Ev("hosts without ISTIO_MUTUAL", strings.Join(none, ",")))
				if len(partial) > 0 {
					ev = append(ev, Ev("hosts with ISTIO_MUTUAL for some callers", strings.Join(partial, "; ")))
				}
			}
			mk, why := failf, ""
			if !drsRead {
				mk, why = warnf, "; DestinationRules were not read, and one with ISTIO_MUTUAL would add it"
			}
			r := noted(mk(fmt.Sprintf("%s -n %s get destinationrules.networking.istio.io -o yaml | grep -n -A3 'tls:'\n%s", kc(c.Name), shellQuote(se.Namespace), seEdit(c, se)),
				"ServiceEntry %s is MESH_EXTERNAL and sends to %s:%d (%s): without Istio mTLS and its SNI the gateway's AUTO_PASSTHROUGH listener resets the connection%s",
				seTarget(se), we.GetAddress(), port, at, why),
				"set spec.location: MESH_INTERNAL and label the endpoints security.istio.io/tlsMode: istio (as Admiral writes them), or give the host a DestinationRule with tls.mode ISTIO_MUTUAL; the first command lists the DestinationRules' TLS settings in the namespace")
			r.Target = seTarget(se)
			out = append(out, with(r, ev...))
		}
	}
	if seen == 0 {
		return []Result{pass(fmt.Sprintf("no MESH_EXTERNAL ServiceEntry sends to a gateway's mTLS port (%d ServiceEntries)", len(c.Inv.ServiceEntries)))}
	}
	return out
}

// istioMutualFor splits an entry's hosts by the DestinationRule each
// caller's sidecar gets for them, merged and picked as istiod does
// (traffic_dr.go: the caller's namespace, the entry's namespace exported
// to it, the root namespace; several rules for a host merged, the oldest
// trafficPolicy whole). The callers' namespaces are not known here, so
// every class of caller namespace that can see a different rule is asked
// (the entry's and root namespaces, those with or exported a rule for the
// host, any other): a host is in rules (with the rule names) when every
// class gets tls.mode ISTIO_MUTUAL (top level or on one of the entry's
// ports), in none when no class does and no workload-selected rule adds
// it, else in partial with the classes that do and do not.
func istioMutualFor(c *mesh.Cluster, se *istionet.ServiceEntry) (rules, none, partial []string) {
	idx := newDRIndex(c)
	if idx == nil {
		return nil, se.Spec.GetHosts(), nil
	}
	mutual := func(m *mergedDR) bool {
		if m == nil {
			return false
		}
		owner := m.policyOwner()
		if owner == nil {
			return false
		}
		tp := owner.Spec.GetTrafficPolicy()
		if tp.GetTls().GetMode() == istioapi.ClientTLSSettings_ISTIO_MUTUAL {
			return true
		}
		for _, pl := range tp.GetPortLevelSettings() {
			for _, p := range se.Spec.GetPorts() {
				if pl.GetPort().GetNumber() == p.GetNumber() && pl.GetTls().GetMode() == istioapi.ClientTLSSettings_ISTIO_MUTUAL {
					return true
				}
			}
		}
		return false
	}
	for _, h := range se.Spec.GetHosts() {
		var on, off, names []string
		selected := false
		for _, a := range idx.effectiveDRs(h, se.Namespace, c.Inv.Traffic.DestinationRules) {
			if a.m.rule.Spec.GetWorkloadSelector() != nil {
				selected = selected || mutual(a.m)
			}
		}
		for _, ns := range drClientClasses(idx, h, se.Namespace, c.Inv.Traffic.DestinationRules) {
			m := idx.forProxy(h, se.Namespace, ns, nil)
			label := ns
			if ns == "" {
				label = "any other namespace"
			}
			if mutual(m) {
				on = append(on, label)
				names = append(names, m.fromNames()...)
			} else {
				off = append(off, label)
			}
		}
		slices.Sort(names)
		names = slices.Compact(names)
		switch {
		case len(off) == 0:
			rules = append(rules, strings.Join(names, "+"))
		case len(on) == 0 && !selected:
			none = append(none, h)
		default:
			what := fmt.Sprintf("%s: ISTIO_MUTUAL for callers in %s, not in %s", h, orNone(strings.Join(on, ",")), strings.Join(off, ","))
			if selected {
				what += " (a rule with a workload selector adds it for the workloads it selects)"
			}
			partial = append(partial, what)
		}
	}
	return rules, none, partial
}

func isIP(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

// serviceEntryResolution mirrors ValidateServiceEntry
// (pkg/config/validation/validation.go) for the combinations it rejects —
// an entry that exists anyway got past a disabled or failing webhook — and
// reports the accepted ones that serve nothing. DNS resolution with IP
// endpoints is accepted and works (Envoy's STRICT_DNS takes an IP literal),
// so it is not reported.
func serviceEntryResolution(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	zones := proxyZones(env, c)
	var out []Result
	for _, se := range c.Inv.ServiceEntries {
		spec := &se.Spec
		res := spec.GetResolution()
		var problems []string
		bad := false
		for _, a := range spec.GetAddresses() {
			if strings.Contains(a, "/") && res != istioapi.ServiceEntry_NONE && res != istioapi.ServiceEntry_STATIC {
				problems = append(problems, fmt.Sprintf("CIDR address %s with resolution %s (istiod's validation allows CIDRs only for NONE and STATIC)", a, res))
				bad = true
			}
		}
		switch res {
		case istioapi.ServiceEntry_NONE:
			if len(spec.GetEndpoints()) > 0 {
				problems = append(problems, "resolution NONE with endpoints (istiod's validation: no endpoints for resolution none)")
				bad = true
			}
		case istioapi.ServiceEntry_STATIC:
			for _, we := range spec.GetEndpoints() {
				if a := we.GetAddress(); a != "" && !isIP(a) && !strings.HasPrefix(a, "unix://") {
					problems = append(problems, fmt.Sprintf("resolution STATIC with endpoint address %s, which is not an IP (use resolution DNS for host names)", a))
					bad = true
				}
			}
			if len(spec.GetEndpoints()) == 0 && spec.GetWorkloadSelector() == nil {
				problems = append(problems, "resolution STATIC with no endpoints and no workloadSelector: the hosts have no endpoint at all (no healthy upstream)")
			}
		case istioapi.ServiceEntry_DNS_ROUND_ROBIN:
			if len(spec.GetEndpoints()) > 1 {
				problems = append(problems, fmt.Sprintf("resolution DNS_ROUND_ROBIN with %d endpoints (istiod's validation allows 0 or 1)", len(spec.GetEndpoints())))
				bad = true
			}
		}
		if (res == istioapi.ServiceEntry_DNS || res == istioapi.ServiceEntry_DNS_ROUND_ROBIN) && len(spec.GetEndpoints()) == 0 && spec.GetWorkloadSelector() == nil {
			for _, h := range spec.GetHosts() {
				if onlyDNSProxy(h, zones) {
					problems = append(problems, fmt.Sprintf("resolution %s with no endpoints: Envoy resolves %s itself, and no DNS server outside the mesh knows it", res, h))
				}
			}
		}
		if len(problems) == 0 {
			continue
		}
		mk := warnf
		if bad {
			mk = failf
		}
		r := noted(mk(seEdit(c, se), "ServiceEntry %s: %s", seTarget(se), strings.Join(problems, "; ")),
			"fix the resolution or the endpoints; an object istiod's validation rejects exists only because the validating webhook did not run (istioctl analyze reports it too)")
		r.Target = seTarget(se)
		out = append(out, with(r, Ev("resolution", res.String()), Ev("hosts", strings.Join(spec.GetHosts(), ",")),
			Ev("endpoints", len(spec.GetEndpoints())), Ev("addresses", strings.Join(spec.GetAddresses(), ","))))
	}
	if len(out) == 0 {
		return []Result{pass(fmt.Sprintf("%d ServiceEntries: resolution, addresses and endpoints consistent", len(c.Inv.ServiceEntries)))}
	}
	return out
}

// isHTTPish are the protocols whose outbound listener is 0.0.0.0:PORT with
// routes chosen by Host (pkg/config/protocol IsHTTP): for them the VIP does
// not pick the service.
func isHTTPish(p string) bool {
	switch strings.ToUpper(p) {
	case "HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY":
		return true
	}
	return false
}

// visibleTogether reports whether some namespace sees both entries
// (exportTo: "." is the entry's own namespace, "*" or empty every one).
func visibleTogether(a, b *istionet.ServiceEntry) bool {
	scope := func(se *istionet.ServiceEntry) (all bool, ns []string) {
		ex := se.Spec.GetExportTo()
		if len(ex) == 0 {
			return true, nil
		}
		for _, e := range ex {
			switch e {
			case "*":
				return true, nil
			case ".":
				ns = append(ns, se.Namespace)
			case "~":
			default:
				ns = append(ns, e)
			}
		}
		return false, ns
	}
	aAll, aNS := scope(a)
	bAll, bNS := scope(b)
	switch {
	case aAll || bAll:
		return (aAll || len(aNS) > 0) && (bAll || len(bNS) > 0)
	}
	for _, n := range aNS {
		if slices.Contains(bNS, n) {
			return true
		}
	}
	return false
}

// serviceEntryVIPOverlap: istiod builds one outbound listener per VIP and
// port for TCP services, so two hosts with one VIP on a TCP port collide
// (one wins, the other's traffic goes to the wrong service); the DNS proxy
// answers both hosts with the same address. The 240.0.0.0/8 `.global`
// style allocates these by hand or by Admiral.
func serviceEntryVIPOverlap(_ context.Context, _ *Env, c *mesh.Cluster) []Result {
	type use struct {
		se     *istionet.ServiceEntry
		prefix netip.Prefix
		ports  map[uint32]string
	}
	var uses []use
	for _, se := range c.Inv.ServiceEntries {
		ports := map[uint32]string{}
		for _, p := range se.Spec.GetPorts() {
			ports[p.GetNumber()] = p.GetProtocol()
		}
		for _, a := range se.Spec.GetAddresses() {
			var pf netip.Prefix
			var err error
			if strings.Contains(a, "/") {
				pf, err = netip.ParsePrefix(a)
			} else {
				var ip netip.Addr
				ip, err = netip.ParseAddr(a)
				if err == nil {
					pf = netip.PrefixFrom(ip, ip.BitLen())
				}
			}
			if err == nil {
				uses = append(uses, use{se, pf.Masked(), ports})
			}
		}
	}
	var out []Result
	reported := map[string]bool{}
	for i := range uses {
		for j := i + 1; j < len(uses); j++ {
			a, b := uses[i], uses[j]
			if a.se == b.se || !a.prefix.Overlaps(b.prefix) || !visibleTogether(a.se, b.se) {
				continue
			}
			if sameHosts(a.se, b.se) {
				continue // one host split over several entries: istiod merges them
			}
			var shared []string
			tcp := false
			for p, proto := range a.ports {
				if bp, ok := b.ports[p]; ok {
					shared = append(shared, strconv.Itoa(int(p)))
					tcp = tcp || !isHTTPish(proto) || !isHTTPish(bp)
				}
			}
			if len(shared) == 0 {
				continue
			}
			slices.Sort(shared)
			key := seTarget(a.se) + " " + seTarget(b.se)
			if reported[key] {
				continue
			}
			reported[key] = true
			cmd := seEdit(c, b.se)
			var r Result
			if tcp {
				r = noted(failf(cmd, "ServiceEntries %s (%s) and %s (%s) share address %s on port %s, not HTTP: istiod builds one listener for both and one host's traffic goes to the other",
					seTarget(a.se), strings.Join(a.se.Spec.GetHosts(), ","), seTarget(b.se), strings.Join(b.se.Spec.GetHosts(), ","), a.prefix.Addr(), strings.Join(shared, ",")),
					"give each host its own address (Admiral allocates them from 240.0.0.0/16 in its ConfigMap; hand-written entries need distinct ones)")
			} else {
				r = noted(warnf(cmd, "ServiceEntries %s and %s share address %s on HTTP port %s: routed by Host today, but the DNS proxy answers both hosts with one address and a non-HTTP port would collide",
					seTarget(a.se), seTarget(b.se), a.prefix.Addr(), strings.Join(shared, ",")),
					"give each host its own address")
			}
			r.Target = seTarget(a.se)
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return []Result{pass(fmt.Sprintf("%d ServiceEntry addresses, none shared between hosts on one port", len(uses)))}
	}
	return out
}

func sameHosts(a, b *istionet.ServiceEntry) bool {
	x, y := slices.Clone(a.Spec.GetHosts()), slices.Clone(b.Spec.GetHosts())
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// proxyZones are the name suffixes whose hosts resolve only through
// Istio's DNS proxy in c: `.global` (the old multicluster convention and
// Admiral's default hostname suffix) is no DNS zone that Kubernetes or the
// Internet serves, and neither is the --hostname_suffix of the Admiral
// that writes c's entries (admiralFlags: Admiral generates
// <env>.<identity>.<suffix> hosts for the DNS proxy to answer). Other
// private names cannot be told from here.
func proxyZones(env *Env, c *mesh.Cluster) []string {
	zones := []string{cluster.AdmiralHostSuffix}
	if f := admiralFlags(env, c); f.HostnameSuffix != "" {
		zones = append(zones, strings.Trim(strings.ToLower(f.HostnameSuffix), "."))
	}
	slices.Sort(zones)
	return slices.Compact(zones)
}

// zonesText is "*.global" or "*.global, *.mesh" for messages.
func zonesText(zones []string) string {
	var out []string
	for _, z := range zones {
		out = append(out, "*."+z)
	}
	return strings.Join(out, ", ")
}

// onlyDNSProxy reports whether a ServiceEntry host is under one of zones
// (proxyZones) and so resolves only through Istio's DNS proxy; wildcard
// hosts are never looked up by name.
func onlyDNSProxy(host string, zones []string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.HasPrefix(h, "*") {
		return false
	}
	for _, z := range zones {
		if z != "" && strings.HasSuffix(h, "."+z) {
			return true
		}
	}
	return false
}

// proxyDNS is what one proxy's metadata says of the DNS proxy.
type proxyDNS struct {
	capture, autoAllocate bool
	from                  string
}

func metaBool(m map[string]string, k string) (bool, bool) {
	v, ok := m[k]
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b, true
}

// revisionDNS reads defaultConfig.proxyMetadata of a revision's mesh
// config.
func revisionDNS(r *mesh.Revision) proxyDNS {
	d := proxyDNS{from: "mesh config " + r.MeshConfigMap}
	if r.MeshConfig == nil || r.MeshConfig.GetDefaultConfig() == nil {
		return d
	}
	md := r.MeshConfig.GetDefaultConfig().GetProxyMetadata()
	d.capture, _ = metaBool(md, metaDNSCapture)
	d.autoAllocate, _ = metaBool(md, metaDNSAutoAllocate)
	return d
}

// podRevision is the revision whose injector made a pod's sidecar: its
// istio.io/rev label (or a tag), else the cluster's main revision.
func podRevision(c *mesh.Cluster, p *corev1.Pod) *mesh.Revision {
	rev := p.Labels["istio.io/rev"]
	if t, ok := c.Tags[rev]; ok {
		rev = t
	}
	for _, r := range c.Revisions {
		if r.Name == rev {
			return r
		}
	}
	return c.Rev
}

// podDNS overlays a pod's proxy.istio.io/config proxyMetadata on its
// revision's defaults (pkg/kube/inject merges the annotation over the mesh
// defaultConfig).
//
// The injector writes proxyMetadata into the istio-proxy container's env,
// which the agent reads: an env value there is what the proxy has.
func podDNS(c *mesh.Cluster, p *corev1.Pod) (d proxyDNS) {
	if r := podRevision(c, p); r != nil {
		d = revisionDNS(r)
	}
	defer func() {
		for _, ct := range p.Spec.Containers {
			if ct.Name != "istio-proxy" {
				continue
			}
			for _, e := range ct.Env {
				v, err := strconv.ParseBool(e.Value)
				switch {
				case e.Name == metaDNSCapture:
					d.capture, d.from = err == nil && v, "the istio-proxy container's env"
				case e.Name == metaDNSAutoAllocate:
					d.autoAllocate = err == nil && v
				}
			}
		}
	}()
	raw := p.Annotations[proxyConfigAnnot]
	if raw == "" || len(raw) > 64<<10 {
		return d
	}
	var pc struct {
		ProxyMetadata map[string]string `json:"proxyMetadata"`
	}
	if err := yaml.Unmarshal([]byte(raw), &pc); err != nil {
		return d
	}
	if v, ok := metaBool(pc.ProxyMetadata, metaDNSCapture); ok {
		d.capture, d.from = v, "pod annotation "+proxyConfigAnnot
	}
	if v, ok := metaBool(pc.ProxyMetadata, metaDNSAutoAllocate); ok {
		d.autoAllocate = v
	}
	return d
}

func hasSidecar(p *corev1.Pod) bool {
	for _, ct := range append(slices.Clone(p.Spec.Containers), p.Spec.InitContainers...) {
		if ct.Name == "istio-proxy" {
			return true
		}
	}
	return false
}

// dnsProxyHosts are the ServiceEntry hosts that need the DNS proxy, with
// whether the proxy has an address to answer with: spec.addresses, the
// status addresses istiod's allocator writes (PILOT_ENABLE_IP_AUTOALLOCATE,
// on by default), or, per proxy, ISTIO_META_DNS_AUTO_ALLOCATE
// (pkg/dns/server/name_table.go: a host without an address is not in the
// name table).
type dnsHost struct {
	host, entry string
	addressed   bool
}

func dnsProxyHosts(c *mesh.Cluster, zones []string) []dnsHost {
	var out []dnsHost
	for _, se := range c.Inv.ServiceEntries {
		for _, h := range se.Spec.GetHosts() {
			if !onlyDNSProxy(h, zones) {
				continue
			}
			addressed := len(se.Spec.GetAddresses()) > 0
			for _, a := range se.Status.GetAddresses() {
				if a.GetHost() == "" || a.GetHost() == h {
					addressed = true
				}
			}
			out = append(out, dnsHost{h, seTarget(se), addressed})
		}
	}
	return out
}

func dnsCapture(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	zones := proxyZones(env, c)
	hosts := dnsProxyHosts(c, zones)
	if len(hosts) == 0 {
		return []Result{pass("no ServiceEntry host that only Istio's DNS proxy resolves (" + zonesText(zones) + ")")}
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.host)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	hostEv := Ev("hosts", strings.Join(names, ","))
	var revOn []string
	revCapture := map[string]proxyDNS{}
	for _, r := range c.Revisions {
		d := revisionDNS(r)
		revCapture[r.Name] = d
		if d.capture {
			revOn = append(revOn, r.Name)
		}
	}
	patch := meshConfigPatchNote
	var out []Result
	sidecars := 0
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		if p.Namespace == cluster.IstioNamespace || !hasSidecar(p) || p.Status.Phase != corev1.PodRunning {
			continue
		}
		sidecars++
		d := podDNS(c, p)
		target := p.Namespace + "/" + p.Name
		if !d.capture {
			r := noted(failf(fmt.Sprintf("%s -n %s get pod %s -o jsonpath=%s", kc(c.Name), shellQuote(p.Namespace), shellQuote(p.Name),
				shellQuote(`{.spec.containers[?(@.name=="istio-proxy")].env[?(@.name=="`+metaDNSCapture+`")].value}`)),
				"pod %s has no DNS capture (%s=true is not in %s): %s resolve only through Istio's DNS proxy, so curl from here fails with exit 6 (could not resolve host)",
				target, metaDNSCapture, orNone(d.from), strings.Join(names, ",")),
				patch)
			r.Target = target
			out = append(out, with(r, hostEv))
			continue
		}
		var unaddressed []string
		for _, h := range hosts {
			if !h.addressed && !d.autoAllocate {
				unaddressed = append(unaddressed, h.host+" ("+h.entry+")")
			}
		}
		if len(unaddressed) > 0 {
			r := noted(warnf(fmt.Sprintf("%s get serviceentries.networking.istio.io -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.addresses} {.status.addresses}{\"\\n\"}{end}'", kc(c.Name)),
				"pod %s captures DNS, but %s have no address (spec.addresses or istiod's allocated status.addresses) and %s is off: the DNS proxy does not answer them",
				target, strings.Join(unaddressed, ", "), metaDNSAutoAllocate),
				"give the entries addresses, or set ISTIO_META_DNS_AUTO_ALLOCATE: \"true\" next to ISTIO_META_DNS_CAPTURE")
			r.Target = target
			out = append(out, with(r, hostEv))
			continue
		}
		r := pass(fmt.Sprintf("pod %s captures DNS (%s)", target, d.from), hostEv)
		r.Target = target
		out = append(out, r)
	}
	if sidecars > 0 {
		return out
	}
	if len(revOn) > 0 {
		return []Result{pass(fmt.Sprintf("DNS capture on in the mesh config of revision(s) %s; no sidecar pod listed to confirm", strings.Join(revOn, ",")), hostEv)}
	}
	return []Result{with(noted(warnf(fmt.Sprintf("%s -n istio-system get configmap -l 'istio.io/rev' -o name ; %s -n istio-system get configmap istio -o jsonpath='{.data.mesh}'", kc(c.Name), kc(c.Name)),
		"no revision's mesh config sets %s=true: %s resolve only for pods that set it in their %s annotation", metaDNSCapture, strings.Join(names, ","), proxyConfigAnnot), patch), hostEv)}
}

const meshConfigPatchNote = "the command prints the pod's ISTIO_META_DNS_CAPTURE (empty: unset); turn on the DNS proxy for the mesh (meshConfig.defaultConfig.proxyMetadata ISTIO_META_DNS_CAPTURE: \"true\", and ISTIO_META_DNS_AUTO_ALLOCATE: \"true\" for entries without addresses) or per workload with the proxy.istio.io/config annotation, then restart the pods"

// entryProbeChecks curl the hosts only the DNS proxy resolves; declared
// after the probes area, whose pod selection they share (probeFrom).
var entryProbeChecks = []Check{
	{ID: "probes.serviceentry-dns", Title: "a probe client resolves and reaches each host only Istio's DNS proxy answers (.global)", Scope: PerCluster, Network: true,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServiceEntries, cluster.ResPods}, Cluster: serviceEntryDNSProbe},
}

// dnsProbeTargets are one URL per `.global` host of a cluster's entries, on
// the entry's first port.
func dnsProbeTargets(c *mesh.Cluster, zones []string) []dnsHost {
	seen := map[string]bool{}
	var out []dnsHost
	for _, se := range c.Inv.ServiceEntries {
		ports := se.Spec.GetPorts()
		if len(ports) == 0 {
			continue
		}
		for _, h := range se.Spec.GetHosts() {
			if !onlyDNSProxy(h, zones) || seen[h] {
				continue
			}
			seen[h] = true
			addressed := len(se.Spec.GetAddresses()) > 0 || len(se.Status.GetAddresses()) > 0
			out = append(out, dnsHost{host: fmt.Sprintf("http://%s:%d/", h, ports[0].GetNumber()), entry: seTarget(se), addressed: addressed})
		}
	}
	return out
}

// serviceEntryDNSProbe curls each `.global` host once from the probe pod.
// Exit 6 (could not resolve host) is reported with its cause as the pod's
// DNS proxy settings tell it; any HTTP answer passes (the host resolved and
// the mesh routed it); other exits warn with their meaning, which the
// gateway and endpoint checks explain.
func serviceEntryDNSProbe(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	zones := proxyZones(env, c)
	targets := dnsProbeTargets(c, zones)
	if len(targets) == 0 {
		return []Result{skipf("no ServiceEntry host that only Istio's DNS proxy resolves (%s)", zonesText(zones))}
	}
	pod, ref, timeout, res := probeFrom(env, c)
	if res != nil {
		return res
	}
	d := podDNS(c, pod)
	var out []Result
	for _, t := range targets {
		r := Result{Target: t.host, Evidence: []Evidence{Ev("from", ref.String()), Ev("entry", t.entry)}}
		attempts, fail := curlIn(ctx, env, c, ref, t.host, 1, timeout)
		if fail != nil {
			fail.Target, fail.Evidence = t.host, r.Evidence
			out = append(out, *fail)
			continue
		}
		a := attempts[0]
		confirm := fmt.Sprintf("%s -n %s exec %s -c %s -- curl -sS %s", kc(c.Name), shellQuote(ref.Namespace), shellQuote(ref.Name), shellQuote(ref.Container), shellQuote(t.host))
		switch {
		case a.Exit == 0:
			r.Status, r.Message = Pass, fmt.Sprintf("resolved and answered (HTTP %d)", a.Status)
		case a.Exit == 6:
			cause := "the DNS proxy does not know the host: the ServiceEntry is not exported to namespace " + pod.Namespace + ", or the proxy has not received it (see endpoints.istiod-syncz)"
			switch {
			case !d.capture:
				cause = fmt.Sprintf("DNS capture is off for this pod (%s=true is not in %s)", metaDNSCapture, orNone(d.from))
			case !t.addressed && !d.autoAllocate:
				cause = fmt.Sprintf("the entry has no address and %s is off: the DNS proxy has nothing to answer with", metaDNSAutoAllocate)
			}
			r = noted(failf(confirm, "curl exit 6, could not resolve host: %s", cause), meshConfigPatchNote)
			r.Target, r.Evidence = t.host, []Evidence{Ev("from", ref.String()), Ev("entry", t.entry)}
		default:
			r = noted(warnf(confirm, "resolved, but curl failed: %s", probe.CurlExitMeaning(a.Exit)),
				"the name resolved, so DNS is not the problem: see the gateway, ServiceEntry and endpoint checks for where the request stops")
			r.Target, r.Evidence = t.host, []Evidence{Ev("from", ref.String()), Ev("entry", t.entry)}
		}
		out = append(out, r)
	}
	return out
}
