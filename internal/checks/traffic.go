package checks

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// The traffic area: the configuration that decides where cross-cluster
// traffic goes (locality, subsets, TLS) and whether the other side accepts
// it (peer authentication, authorization, sidecars). It reads
// Inventory.Traffic (internal/cluster/inventory_traffic.go).
var trafficChecks = []Check{
	{ID: "traffic.locality", Title: "locality load balancing of multi-cluster hosts can take effect (failover needs outlier detection)", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResDestinationRules}, Cluster: localityRules},
	{ID: "traffic.tls-remote-endpoints", Title: "no DestinationRule turns off Istio mTLS for a host with endpoints on other networks", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResDestinationRules}, Cluster: tlsRemoteEndpoints},
	{ID: "traffic.peer-authentication", Title: "every cluster's configuration agrees on mTLS to a multi-cluster service's pods", Scope: Mesh,
		DependsOn: []string{"controlplane.istiod-ready"}, Needs: []string{cluster.ResPeerAuthentications}, Mesh: peerAuthConsistent},
	{ID: "traffic.authz-trust-domain", Title: "AuthorizationPolicy principals name a trust domain of the mesh (or an alias)", Scope: PerCluster,
		DependsOn: []string{"controlplane.istiod-ready", "controlplane.mesh-config"}, Needs: []string{cluster.ResAuthorizationPolicies}, Cluster: authzTrustDomains},
	{ID: "traffic.sidecar-missing", Title: "pods behind a multi-cluster service in injected namespaces run a sidecar", Scope: PerCluster,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResWorkloadPods}, Cluster: sidecarMissing},
	{ID: "traffic.subset-pods", Title: "DestinationRule and VirtualService subsets select pods in some cluster", Scope: Mesh,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResDestinationRules}, Mesh: subsetPods},
}

// trafficSkip is the result for a config cluster whose resource could not
// be read, or nil.
func trafficSkip(c *mesh.Cluster, resources ...string) []Result {
	for _, res := range resources {
		if why := trafficRead(c, res); why != "" {
			return []Result{skipf("%s", why)}
		}
	}
	return nil
}

// configOpening is the opening the per-cluster checks of a config
// cluster's rules share: skipped where c runs no istiod (its sidecars get
// another cluster's configuration), where one of resources was not read,
// and, with hosts, where no service is present in more than one cluster;
// else the multi-cluster hosts (nil without hosts).
func configOpening(m *mesh.Mesh, c *mesh.Cluster, hosts bool, resources ...string) (map[string]*mcService, []Result) {
	if r := notConfigCluster(m, c); r != nil {
		return nil, r
	}
	if r := trafficSkip(c, resources...); r != nil {
		return nil, r
	}
	if !hosts {
		return nil, nil
	}
	hs := multiClusterHosts(m)
	if len(hs) == 0 {
		return nil, []Result{skipf("no service is present in more than one cluster")}
	}
	return hs, nil
}

func notConfigCluster(m *mesh.Mesh, c *mesh.Cluster) []Result {
	if c.Istiod != nil {
		return nil
	}
	if cc := configCluster(m, c); cc != nil {
		return []Result{skipf("no istiod here: the sidecars of %s get the configuration of %s, checked there", c.Name, cc.Name)}
	}
	return []Result{skipf("no istiod here and no primary read: whose configuration the sidecars get is unknown")}
}

// policyLevel is one place a DestinationRule's traffic policy applies,
// with the load balancer and outlier detection istiod merges for it
// (port-level and subset settings replace the rule's field by field:
// pilot/pkg/networking/core cluster_traffic_policy.go).
type policyLevel struct {
	where string
	lb    *networkingv1.LoadBalancerSettings
	od    *networkingv1.OutlierDetection
}

func policyLevels(dr *cluster.DestinationRule) []policyLevel {
	tp := dr.Spec.GetTrafficPolicy()
	out := []policyLevel{{"trafficPolicy", tp.GetLoadBalancer(), tp.GetOutlierDetection()}}
	merge := func(where string, lb *networkingv1.LoadBalancerSettings, od *networkingv1.OutlierDetection, parent policyLevel) policyLevel {
		if lb == nil {
			lb = parent.lb
		}
		if od == nil {
			od = parent.od
		}
		return policyLevel{where, lb, od}
	}
	for _, pl := range tp.GetPortLevelSettings() {
		out = append(out, merge(fmt.Sprintf("portLevelSettings[%d]", pl.GetPort().GetNumber()), pl.GetLoadBalancer(), pl.GetOutlierDetection(), out[0]))
	}
	for _, ss := range dr.Spec.GetSubsets() {
		stp := ss.GetTrafficPolicy()
		out = append(out, merge("subset "+ss.GetName(), stp.GetLoadBalancer(), stp.GetOutlierDetection(), out[0]))
	}
	return out
}

// hostEndpoints are the localities of a multi-cluster service's pods, per
// cluster.
type hostEndpoints struct {
	byCluster map[string][]locality // cluster name -> one locality per pod
	sources   []string
}

func endpointsOf(m *mesh.Mesh, ms *mcService) hostEndpoints {
	he := hostEndpoints{byCluster: map[string][]locality{}}
	for _, c := range ms.in {
		pods, _ := backingPods(c, workloadIndex(c), ms.ns, ms.name)
		for _, p := range pods {
			loc, src := podLocality(c, p.Labels, p.NodeName)
			he.byCluster[c.Name] = append(he.byCluster[c.Name], loc)
			if !slices.Contains(he.sources, src) {
				he.sources = append(he.sources, src)
			}
		}
	}
	return he
}

func (he hostEndpoints) all() []locality {
	var out []locality
	for _, k := range sortedKeys(he.byCluster) {
		out = append(out, he.byCluster[k]...)
	}
	return out
}

func (he hostEndpoints) describe() string {
	var parts []string
	for _, k := range sortedKeys(he.byCluster) {
		var ls []string
		for _, l := range he.byCluster[k] {
			if s := l.String(); !slices.Contains(ls, s) {
				ls = append(ls, s)
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %d in %s", k, len(he.byCluster[k]), strings.Join(ls, ", ")))
	}
	return strings.Join(parts, "; ")
}

// servedBy are the clusters whose sidecars cc configures: itself and the
// remotes without an istiod of their own.
func servedBy(m *mesh.Mesh, cc *mesh.Cluster) []*mesh.Cluster {
	var out []*mesh.Cluster
	for _, c := range m.Reachable() {
		if c == cc || c.Istiod == nil && configCluster(m, c) == cc {
			out = append(out, c)
		}
	}
	return out
}

// clusterLocality is where a cluster's sidecars are, for the rules' from
// side: its probe pod's locality, else its nodes' when they share one.
func clusterLocality(c *mesh.Cluster) (locality, string) {
	if p, _ := probePod(c); p != nil {
		return podLocality(c, p.Labels, p.Spec.NodeName)
	}
	return podLocality(c, nil, "")
}

// mcHostsOf are the multi-cluster hosts a rule host covers.
func mcHostsOf(hosts map[string]*mcService, dr cluster.DestinationRule) []*mcService {
	h := drHost(dr)
	var out []*mcService
	for _, k := range sortedKeys(hosts) {
		if hostMatches(h, k) {
			out = append(out, hosts[k])
		}
	}
	return out
}

func localityRules(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	hosts, r := configOpening(env.Mesh, c, true, cluster.ResDestinationRules)
	if r != nil {
		return r
	}
	var sidecarLocs []string
	for _, sc := range servedBy(env.Mesh, c) {
		l, _ := clusterLocality(sc)
		sidecarLocs = append(sidecarLocs, fmt.Sprintf("%s: %s", sc.Name, l))
	}
	read := 0
	for i := range c.Inv.Traffic.DestinationRules {
		if len(mcHostsOf(hosts, c.Inv.Traffic.DestinationRules[i])) > 0 {
			read++
		}
	}
	// Each consolidated rule a sidecar gets for a multi-cluster host is
	// judged once, with the first host it applies to (a wildcard rule
	// covers several).
	type judged struct {
		a   appliedDR
		mcs []*mcService
	}
	var rules []judged
	idx := newDRIndex(c)
	for _, hk := range sortedKeys(hosts) {
		ms := hosts[hk]
		for _, a := range idx.effectiveDRs(hk, ms.ns, c.Inv.Traffic.DestinationRules) {
			if i := slices.IndexFunc(rules, func(j judged) bool { return j.a.m == a.m }); i >= 0 {
				rules[i].mcs = append(rules[i].mcs, ms)
				continue
			}
			rules = append(rules, judged{a, []*mcService{ms}})
		}
	}
	pos := func(j judged) int {
		return slices.IndexFunc(c.Inv.Traffic.DestinationRules, func(dr cluster.DestinationRule) bool {
			return dr.Namespace == j.a.m.from[0].Namespace && dr.Name == j.a.m.from[0].Name
		})
	}
	slices.SortStableFunc(rules, func(a, b judged) int { return pos(a) - pos(b) })
	var out []Result
	for _, j := range rules {
		dr := &j.a.m.rule
		r, ok := judgeLocality(env.Mesh, c, dr, j.mcs)
		if ig := ignoredLocality(c, j.a.m); ig != nil {
			r, ok = mergeIgnored(r, ok, *ig), true
		}
		if !ok {
			continue
		}
		r.Cluster, r.Target = c.Name, dr.Namespace+"/"+dr.Name
		r.Evidence = append(r.Evidence, Ev("sidecars", strings.Join(sidecarLocs, "; ")))
		r.Evidence = append(r.Evidence, j.a.m.mergeEvidence()...)
		out = append(out, r)
	}
	if len(out) == 0 {
		if read == 0 {
			return []Result{pass(fmt.Sprintf("no DestinationRule for the %d multi-cluster hosts: no locality rule to check (the mesh default applies)", len(hosts)))}
		}
		return []Result{pass(fmt.Sprintf("%d DestinationRules of multi-cluster hosts read; none sets locality load balancing or outlier detection", read))}
	}
	return out
}

// ignoredLocality is the failure for a consolidated rule that dropped the
// trafficPolicy of a later rule which sets locality load balancing or
// outlier detection: istiod keeps only the oldest rule's trafficPolicy
// (mergeDestinationRule), so those settings never apply. nil when none
// was dropped.
func ignoredLocality(c *mesh.Cluster, m *mergedDR) *Result {
	var lost []string
	var first ignoredPart
	for _, ig := range m.ignoredPolicies() {
		tp := ig.dr.Spec.GetTrafficPolicy()
		var what []string
		if tp.GetLoadBalancer().GetLocalityLbSetting() != nil || tp.GetLoadBalancer().GetZoneAwareLbSetting() != nil {
			what = append(what, "locality load balancing")
		}
		if tp.GetOutlierDetection() != nil {
			what = append(what, "outlier detection")
		}
		for _, pl := range tp.GetPortLevelSettings() {
			if pl.GetLoadBalancer().GetLocalityLbSetting() != nil || pl.GetOutlierDetection() != nil {
				what = append(what, fmt.Sprintf("port %d's locality settings", pl.GetPort().GetNumber()))
			}
		}
		if len(what) == 0 {
			continue
		}
		if len(lost) == 0 {
			first = ig
		}
		kept := "(unknown)"
		if ig.kept != nil {
			kept = ig.kept.Namespace + "/" + ig.kept.Name
		}
		lost = append(lost, fmt.Sprintf("the %s of %s/%s (the trafficPolicy of %s applies)", strings.Join(what, " and "), ig.dr.Namespace, ig.dr.Name, kept))
	}
	if len(lost) == 0 {
		return nil
	}
	r := noted(failf(fmt.Sprintf("%s -n %s edit destinationrules.networking.istio.io %s", kc(c.Name), shellQuote(first.dr.Namespace), shellQuote(first.dr.Name)),
		"istiod merges the DestinationRules %s for %s and keeps only the trafficPolicy of the oldest that has one, so %s never apply",
		strings.Join(m.fromNames(), ", "), m.rule.Spec.GetHost(), strings.Join(lost, "; ")),
		"move the locality settings into the trafficPolicy that applies (or into one DestinationRule for the host), or remove the other rule's trafficPolicy (pilot/pkg/model/destination_rule.go mergeDestinationRule: subsets are merged, the top-level trafficPolicy is the first one's)")
	return &r
}

// mergeIgnored adds an ignored-policy failure to a rule's locality
// verdict.
func mergeIgnored(r Result, ok bool, ig Result) Result {
	if !ok {
		return ig
	}
	ig.Message = ig.Message + "; " + r.Message
	ig.Evidence = append(ig.Evidence, r.Evidence...)
	if r.Note != "" && r.Status != Pass {
		ig.Note += "; " + r.Note
	}
	return ig
}

// judgeLocality judges one DestinationRule's locality settings against the
// rules of pilot/pkg/networking/core/loadbalancer (LocalityLBSettings
// ApplyToCluster, ApplyLocalityLoadBalancer): distribute applies whether or
// not outlier detection is set; failover and failoverPriority (and the
// mesh default, enabled: true) set Envoy priorities only when the cluster
// has outlier detection (enableFailover := Force || c.OutlierDetection !=
// nil), so without it every locality is priority 0. ok is false when the
// rule sets neither locality nor outlier detection anywhere.
func judgeLocality(m *mesh.Mesh, c *mesh.Cluster, dr *cluster.DestinationRule, mcs []*mcService) (Result, bool) {
	edit := fmt.Sprintf("%s -n %s edit destinationrules.networking.istio.io %s", kc(c.Name), shellQuote(dr.Namespace), shellQuote(dr.Name))
	worst := Pass
	var msgs, notes []string
	raise := func(s Status, msg string) {
		if s.Weight() > worst.Weight() {
			worst = s
		}
		msgs = append(msgs, msg)
	}
	he := endpointsOf(m, mcs[0])
	var ev []Evidence
	ev = append(ev, Ev("host", mcs[0].host()), Ev("endpoints", he.describe()), Ev("localities from", strings.Join(he.sources, "; ")))
	// Localities are judged only when some endpoint is known (a cluster
	// whose pods were not read tells nothing).
	known := len(he.all()) > 0
	noLocality := known
	for _, l := range he.all() {
		noLocality = noLocality && l == locality{}
	}
	// A rule's from is matched against the sidecars of every cluster: in a
	// multi-primary mesh the same rule is applied in each primary, and an
	// entry matters only where its from matches.
	var sidecars []locality
	for _, sc := range m.Reachable() {
		l, _ := clusterLocality(sc)
		sidecars = append(sidecars, l)
	}
	meshDefault := c.MeshConfig.GetLocalityLbSetting()
	configured := false
	for _, lv := range policyLevels(dr) {
		if za := lv.lb.GetZoneAwareLbSetting(); za != nil {
			configured = true
			raise(Pass, lv.where+": zone-aware load balancing (failover forced, outlier detection not needed)")
			continue
		}
		ls := lv.lb.GetLocalityLbSetting()
		if ls == nil && lv.od == nil {
			continue
		}
		configured = true
		if ls != nil && ls.GetEnabled() != nil && !ls.GetEnabled().GetValue() {
			raise(Pass, lv.where+": locality load balancing disabled (enabled: false)")
			continue
		}
		if ls == nil {
			if meshDefault != nil && meshDefault.GetEnabled() != nil && !meshDefault.GetEnabled().GetValue() {
				raise(Pass, lv.where+": outlier detection only; the mesh disables locality load balancing")
				continue
			}
			ls = meshDefault
		}
		explicit := len(ls.GetFailover()) > 0 || len(ls.GetFailoverPriority()) > 0
		switch {
		case len(ls.GetDistribute()) > 0:
			judgeDistribute(lv.where, ls, he, sidecars, known, raise)
		case lv.od == nil && explicit:
			raise(Fail, lv.where+": localityLbSetting has failover/failoverPriority but no outlierDetection: istiod sets no locality priorities without it, so every locality (every cluster) gets traffic and nothing fails over")
			notes = append(notes, "add trafficPolicy.outlierDetection (the istio.io locality failover task uses consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m)")
		case lv.od == nil:
			raise(Warn, lv.where+": localityLbSetting is enabled but there is no outlierDetection: istiod sets no priorities, so traffic is spread over every locality")
			notes = append(notes, "add trafficPolicy.outlierDetection for locality failover, or a distribute rule for fixed weights")
		case noLocality:
			raise(Warn, lv.where+": failover is configured but no endpoint has a locality (no topology.kubernetes.io/region or zone on the nodes, no istio-locality label): every endpoint is priority 0, traffic is not kept local")
			notes = append(notes, "label the nodes with topology.kubernetes.io/region and zone (clouds do), or give pods the istio-locality label")
		default:
			judgeFailover(lv.where, ls, he, sidecars, explicit, known, raise)
		}
	}
	if !configured {
		return Result{}, false
	}
	r := Result{Status: worst, Message: strings.Join(msgs, "; "), Evidence: ev}
	if worst != Pass {
		r.Remediation = edit
		r.Note = strings.Join(notes, "; ")
		if r.Note == "" {
			r.Note = "compare the rule's localities with the nodes' topology labels (see the evidence)"
		}
	}
	return r, true
}

func regionsOf(ls []locality) []string {
	var out []string
	for _, l := range ls {
		if l.region != "" && !slices.Contains(out, l.region) {
			out = append(out, l.region)
		}
	}
	slices.Sort(out)
	return out
}

// judgeFailover checks a failover rule (with outlier detection) against
// the localities: each from must be some sidecar's region and each to
// some endpoint's, and says what priority 0 is for each sidecar locality.
func judgeFailover(where string, ls *networkingv1.LocalityLoadBalancerSetting, he hostEndpoints, sidecars []locality, explicit, known bool, raise func(Status, string)) {
	epRegions, scRegions := regionsOf(he.all()), regionsOf(sidecars)
	for _, f := range ls.GetFailover() {
		if len(scRegions) > 0 && !slices.Contains(scRegions, f.GetFrom()) {
			raise(Warn, fmt.Sprintf("%s: failover from %s matches no cluster's region (%s)", where, f.GetFrom(), orNone(strings.Join(scRegions, ", "))))
		}
		if known && len(epRegions) > 0 && !slices.Contains(epRegions, f.GetTo()) {
			raise(Warn, fmt.Sprintf("%s: failover to %s: no endpoint is in that region (%s)", where, f.GetTo(), orNone(strings.Join(epRegions, ", "))))
		}
	}
	kind := "default locality failover (region, zone, subzone)"
	if explicit {
		kind = "locality failover"
	}
	if len(ls.GetFailoverPriority()) > 0 {
		kind = "failoverPriority " + strings.Join(ls.GetFailoverPriority(), ",")
	}
	raise(Pass, fmt.Sprintf("%s: %s with outlier detection: sidecars prefer their own locality and fail over when its endpoints are ejected", where, kind))
}

// judgeDistribute checks a distribute rule: for each sidecar locality a
// from matches, the to weights must reach some endpoint
// (applyLocalityWeights drops the endpoints of localities no to matches:
// when none matches, the sidecar has no endpoint at all).
func judgeDistribute(where string, ls *networkingv1.LocalityLoadBalancerSetting, he hostEndpoints, sidecars []locality, known bool, raise func(Status, string)) {
	located := slices.ContainsFunc(sidecars, func(l locality) bool { return l != locality{} })
	for _, d := range ls.GetDistribute() {
		matched := false
		for _, s := range sidecars {
			matched = matched || localityMatch(s, d.GetFrom())
		}
		if !matched && located {
			raise(Warn, fmt.Sprintf("%s: distribute from %s matches no cluster's locality", where, d.GetFrom()))
			continue
		}
		reached := 0
		for _, l := range he.all() {
			for _, to := range sortedKeys(d.GetTo()) {
				if localityMatch(l, to) {
					reached++
					break
				}
			}
		}
		if !known || !matched {
			raise(Pass, fmt.Sprintf("%s: distribute from %s to %s (the localities are not known here: not compared)", where, d.GetFrom(), weightsText(d.GetTo())))
			continue
		}
		if reached == 0 {
			raise(Fail, fmt.Sprintf("%s: distribute from %s: no endpoint is in any of its to localities (%s): istiod removes every endpoint for those sidecars", where, d.GetFrom(), strings.Join(sortedKeys(d.GetTo()), ", ")))
			continue
		}
		raise(Pass, fmt.Sprintf("%s: distribute from %s to %s reaches %d of %d endpoints", where, d.GetFrom(), weightsText(d.GetTo()), reached, len(he.all())))
	}
}

func weightsText(to map[string]uint32) string {
	var parts []string
	for _, k := range sortedKeys(to) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, to[k]))
	}
	return strings.Join(parts, ",")
}

// remoteNetworks is, per network, how many of a service's ready endpoints
// are on it.
func endpointNetworks(ms *mcService) map[string]int {
	out := map[string]int{}
	for _, c := range ms.in {
		n := 0
		for _, es := range c.Inv.EndpointSlices {
			if es.Namespace != ms.ns || es.ServiceName != ms.name {
				continue
			}
			for _, ep := range es.Endpoints {
				if endpointReady(ep) {
					n += len(ep.Addresses)
				}
			}
		}
		if n > 0 {
			out[c.Network] += n
		}
	}
	return out
}

func tlsRemoteEndpoints(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	hosts, r := configOpening(env.Mesh, c, true, cluster.ResDestinationRules)
	if r != nil {
		return r
	}
	if !env.Mesh.MultiNetwork() {
		return []Result{skipf("one network: endpoints of every cluster are reached directly, whatever the TLS mode (the peer-authentication check compares modes)")}
	}
	// The consolidated rules sidecars get for each host (istiod merges
	// several rules for one host: a later rule's trafficPolicy is ignored
	// when an earlier one has one), in the order of their first rule.
	type judged struct {
		a  appliedDR
		ms *mcService
	}
	var rules []judged
	idx := newDRIndex(c)
	for _, hk := range sortedKeys(hosts) {
		ms := hosts[hk]
		if len(endpointNetworks(ms)) < 2 {
			continue
		}
		for _, a := range idx.effectiveDRs(hk, ms.ns, c.Inv.Traffic.DestinationRules) {
			rules = append(rules, judged{a, ms})
		}
	}
	pos := func(j judged) int {
		return slices.IndexFunc(c.Inv.Traffic.DestinationRules, func(dr cluster.DestinationRule) bool {
			return dr.Namespace == j.a.m.from[0].Namespace && dr.Name == j.a.m.from[0].Name
		})
	}
	slices.SortStableFunc(rules, func(a, b judged) int { return pos(a) - pos(b) })
	var ignored []string
	var results []Result
	checked := 0
	for _, j := range rules {
		dr, ms := &j.a.m.rule, j.ms
		nets := endpointNetworks(ms)
		checked += len(j.a.m.from)
		if t := j.a.m.ignoredText(); t != "" {
			ignored = append(ignored, t)
		}
		var bad []string
		subsets := []string{""}
		for _, ss := range dr.Spec.GetSubsets() {
			subsets = append(subsets, ss.GetName())
		}
		svc := ms.in[0].Inv.Service(ms.ns, ms.name)
		var ports []uint32
		for _, p := range svc.Spec.Ports {
			ports = append(ports, uint32(p.Port))
		}
		for _, ss := range subsets {
			for _, p := range ports {
				if m := tlsModeFor(dr, ss, p); m != nil && *m != networkingv1.ClientTLSSettings_ISTIO_MUTUAL {
					bad = append(bad, fmt.Sprintf("%s port %d: %s", envoyadmin.ClusterName(ms.host(), int(p), ss), p, m))
				}
			}
		}
		if len(bad) == 0 {
			continue
		}
		var netEv []string
		for _, n := range sortedKeys(nets) {
			netEv = append(netEv, fmt.Sprintf("%s=%d", orNone(n), nets[n]))
		}
		r := noted(failf(fmt.Sprintf("%s -n %s edit destinationrules.networking.istio.io %s", kc(c.Name), shellQuote(dr.Namespace), shellQuote(dr.Name)),
			"DestinationRule %s/%s turns off Istio mTLS for %s, which has endpoints on %d networks: istiod drops the endpoints of the other networks from every sidecar it configures (%s)",
			dr.Namespace, dr.Name, ms.host(), len(nets), strings.Join(bad, "; ")),
			"cross-network traffic is routed by the east-west gateway on the SNI of Istio mTLS (AUTO_PASSTHROUGH), so istiod sends remote-network endpoints only where it would send ISTIO_MUTUAL (ep_filters.go); set tls.mode ISTIO_MUTUAL or remove the tls block for in-mesh hosts")
		r.Cluster, r.Target = c.Name, dr.Namespace+"/"+dr.Name
		r = with(r, Ev("endpoints per network", strings.Join(netEv, ", ")), Ev("tls", strings.Join(bad, "; ")))
		results = append(results, with(r, j.a.m.mergeEvidence()...))
	}
	if len(results) == 0 {
		msg := fmt.Sprintf("%d DestinationRules of hosts with endpoints on several networks read; none sets a TLS mode other than ISTIO_MUTUAL", checked)
		if len(ignored) > 0 {
			msg += " where istiod applies it (ignored after merging the rules of one host: " + strings.Join(ignored, "; ") + ")"
		}
		return []Result{pass(msg)}
	}
	return results
}

func peerAuthConsistent(_ context.Context, env *Env) []Result {
	ccs := configClusters(env.Mesh)
	var readable []*mesh.Cluster
	var why []string
	for _, cc := range ccs {
		if r := trafficSkip(cc, cluster.ResPeerAuthentications, cluster.ResDestinationRules, cluster.ResWorkloadPods); r != nil {
			why = append(why, cc.Name+": "+r[0].Message)
			continue
		}
		readable = append(readable, cc)
	}
	if len(readable) < 2 {
		r := tooFew("clusters with istiod whose traffic configuration was read", len(readable))
		if len(why) > 0 {
			r.Message += " (" + strings.Join(why, "; ") + ")"
		}
		return []Result{r}
	}
	hosts := multiClusterHosts(env.Mesh)
	if len(hosts) == 0 {
		return []Result{skipf("no service is present in more than one cluster")}
	}
	type finding struct {
		ms            *mcService
		server, other *mesh.Cluster
		strict        bool
		by, how       string
		pods          []string
		port          uint32
		dropped       bool
	}
	var order []string
	found := map[string]*finding{}
	pairs := 0
	drs := map[*mesh.Cluster]*drIndex{}
	for _, b := range readable {
		drs[b] = newDRIndex(b)
	}
	for _, hk := range sortedKeys(hosts) {
		ms := hosts[hk]
		for _, a := range ms.in {
			server := configCluster(env.Mesh, a)
			if server == nil || !slices.Contains(readable, server) {
				continue
			}
			svc := a.Inv.Service(ms.ns, ms.name)
			pods, _ := backingPods(a, workloadIndex(a), ms.ns, ms.name)
			for _, p := range pods {
				if !p.Sidecar && p.Labels[tlsModeLabel] != tlsModeIstio {
					continue // no sidecar enforces its mode: traffic.sidecar-missing
				}
				for _, sp := range svc.Spec.Ports {
					port := uint32(sp.TargetPort.IntValue())
					if port == 0 {
						port = uint32(sp.Port)
					}
					smode, sby := peerAuthMode(server.Inv.Traffic, rootNamespace(server), p.Namespace, p.Labels, port)
					for _, b := range readable {
						if b == server {
							continue
						}
						pairs++
						dr := drs[b].forProxy(ms.host(), ms.ns, "", nil).ruleOf()
						sends, how := mtlsTo(b, dr, "", uint32(sp.Port), p.Namespace, p.Labels, port)
						strict := smode == securityv1.PeerAuthentication_MutualTLS_STRICT && !sends
						if !strict && !(smode == securityv1.PeerAuthentication_MutualTLS_DISABLE && sends) {
							continue
						}
						k := fmt.Sprintf("%s|%s|%s|%t|%d", ms.key(), a.Name, b.Name, strict, port)
						f := found[k]
						if f == nil {
							f = &finding{ms: ms, server: a, other: b, strict: strict, by: orNone(sby), how: how, port: port,
								dropped: !sends && a.Network != "" && !slices.ContainsFunc(servedBy(env.Mesh, b), func(x *mesh.Cluster) bool { return x.Network == a.Network })}
							found[k] = f
							order = append(order, k)
						}
						f.pods = append(f.pods, p.Namespace+"/"+p.Name)
					}
				}
			}
		}
	}
	var out []Result
	for _, k := range order {
		f := found[k]
		var problem string
		if f.strict {
			problem = fmt.Sprintf("%s requires mTLS (STRICT, %s) for %d pods of %s on port %d, but the sidecars %s configures send them plaintext (%s)", f.server.Name, f.by, len(f.pods), f.ms.key(), f.port, f.other.Name, f.how)
			if f.dropped {
				problem += "; across networks istiod drops such endpoints instead, so these pods get no traffic from there"
			}
		} else {
			problem = fmt.Sprintf("%s accepts only plaintext (DISABLE, %s) on %d pods of %s on port %d, but the sidecars %s configures send them Istio mTLS (%s)", f.server.Name, f.by, len(f.pods), f.ms.key(), f.port, f.other.Name, f.how)
		}
		r := noted(failf(fmt.Sprintf("%s get peerauthentications.security.istio.io -A\n%s get peerauthentications.security.istio.io -A", kc(f.server.Name), kc(f.other.Name)), "%s", problem),
			"each primary applies its own cluster's PeerAuthentications and DestinationRules to every endpoint it sends, the remote ones included: apply the same PeerAuthentication (and DestinationRule TLS settings) in every primary")
		r.Target = f.ms.key()
		out = append(out, with(r, Ev("pods", strings.Join(f.pods, ", ")), Ev("server config", f.server.Name+": "+f.by), Ev("client config", f.other.Name+": "+f.how)))
	}
	if len(out) == 0 {
		return []Result{pass(fmt.Sprintf("%d (pod port, other primary) pairs of %d multi-cluster services compared: every primary sends what the pod's own cluster accepts", pairs, len(hosts)))}
	}
	return out
}

// trustDomainsOf is every trust domain the mesh's clusters accept: each
// revision's trustDomain and its trustDomainAliases.
func trustDomainsOf(m *mesh.Mesh) []string {
	var out []string
	add := func(td string) {
		if td != "" && !slices.Contains(out, td) {
			out = append(out, td)
		}
	}
	for _, c := range m.Reachable() {
		add(c.TrustDomain)
		for _, r := range c.Revisions {
			add(r.TrustDomain)
			for _, a := range r.TrustDomainAliases {
				add(a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// principalTrustDomain is the trust domain a principal names: the part
// before "/ns/" (Istio principals are SPIFFE IDs without spiffe://);
// "" with ok false for a principal no trust domain can be read from, or
// one whose trust domain part is a wildcard.
func principalTrustDomain(p string) (td string, ok bool) {
	p = strings.TrimPrefix(p, "spiffe://")
	i := strings.Index(p, "/ns/")
	if i <= 0 {
		return "", false
	}
	td = p[:i]
	if strings.Contains(td, "*") {
		return "", false
	}
	return td, true
}

func authzTrustDomains(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if _, r := configOpening(env.Mesh, c, false, cluster.ResAuthorizationPolicies); r != nil {
		return r
	}
	known := trustDomainsOf(env.Mesh)
	if len(known) == 0 {
		return []Result{skipf("no cluster's trust domain is known")}
	}
	var out []Result
	principals := 0
	for _, ap := range c.Inv.Traffic.AuthorizationPolicies {
		var bad []string
		check := func(p string) {
			td, ok := principalTrustDomain(p)
			if !ok {
				return
			}
			principals++
			if !slices.Contains(known, td) && !slices.Contains(bad, p) {
				bad = append(bad, p)
			}
		}
		for _, rule := range ap.Spec.GetRules() {
			for _, f := range rule.GetFrom() {
				for _, p := range f.GetSource().GetPrincipals() {
					check(p)
				}
				for _, p := range f.GetSource().GetNotPrincipals() {
					check(p)
				}
			}
			for _, w := range rule.GetWhen() {
				if w.GetKey() == "source.principal" {
					for _, p := range append(slices.Clone(w.GetValues()), w.GetNotValues()...) {
						check(p)
					}
				}
			}
		}
		if len(bad) == 0 {
			continue
		}
		effect := "an ALLOW rule naming only these matches no workload of the mesh (requests are denied)"
		if ap.Spec.GetAction() == securityv1.AuthorizationPolicy_DENY {
			effect = "a DENY rule naming them never matches (nothing is denied)"
		}
		r := noted(warnf(fmt.Sprintf("%s -n %s get authorizationpolicies.security.istio.io %s -o yaml", kc(c.Name), shellQuote(ap.Namespace), shellQuote(ap.Name)),
			"AuthorizationPolicy %s/%s names principals of a trust domain no cluster has (%s): %s", ap.Namespace, ap.Name, strings.Join(bad, ", "), effect),
			"a workload's principal is <trustDomain>/ns/<namespace>/sa/<account>; use a trust domain of the mesh, or add the old one to meshConfig.trustDomainAliases during a migration (warned, not failed: a cluster not among the contexts could have it)")
		r.Cluster, r.Target = c.Name, ap.Namespace+"/"+ap.Name
		out = append(out, with(r, Ev("mesh trust domains", strings.Join(known, ", ")), Ev("action", ap.Spec.GetAction().String())))
	}
	if len(out) == 0 {
		if principals == 0 {
			return []Result{pass(fmt.Sprintf("%d AuthorizationPolicies read, none names a principal with a trust domain", len(c.Inv.Traffic.AuthorizationPolicies)))}
		}
		return []Result{pass(fmt.Sprintf("%d principals in %d AuthorizationPolicies read, all of trust domains of the mesh (%s) or aliases", principals, len(c.Inv.Traffic.AuthorizationPolicies), strings.Join(known, ", ")))}
	}
	return out
}

func sidecarMissing(_ context.Context, env *Env, c *mesh.Cluster) []Result {
	if r := trafficSkip(c, cluster.ResWorkloadPods); r != nil {
		return r
	}
	hosts := multiClusterHosts(env.Mesh)
	multiNet := env.Mesh.MultiNetwork()
	idx := workloadIndex(c)
	var out []Result
	checked := 0
	for _, hk := range sortedKeys(hosts) {
		ms := hosts[hk]
		if !slices.Contains(ms.in, c) {
			continue
		}
		on, why := injectedNamespace(c, ms.ns)
		if !on {
			continue
		}
		pods, _ := backingPods(c, idx, ms.ns, ms.name)
		var bare []string
		for _, p := range pods {
			checked++
			if p.Sidecar || p.Labels[tlsModeLabel] == tlsModeIstio || p.Annotations["ambient.istio.io/redirection"] == "enabled" {
				continue
			}
			name := p.Name
			if v := p.Annotations["sidecar.istio.io/inject"]; v == "false" || p.Labels["sidecar.istio.io/inject"] == "false" {
				name += " (opted out: sidecar.istio.io/inject=false)"
			}
			bare = append(bare, name)
		}
		if len(bare) == 0 {
			continue
		}
		otherNet := false
		for _, o := range ms.in {
			otherNet = otherNet || o.Network != c.Network
		}
		st := Warn
		msg := fmt.Sprintf("%d pods behind multi-cluster service %s run no sidecar in namespace %s (%s): they are reached in plaintext, and not at all where mTLS is STRICT", len(bare), ms.key(), ms.ns, why)
		if multiNet && otherNet {
			st = Fail
			msg = fmt.Sprintf("%d pods behind multi-cluster service %s run no sidecar in namespace %s (%s): istiod drops endpoints without Istio mTLS from the sidecars of other networks, so they cannot be reached across networks", len(bare), ms.key(), ms.ns, why)
		}
		r := Result{Status: st, Message: msg, Cluster: c.Name, Target: ms.key(),
			Remediation: fmt.Sprintf("%s -n %s get pods -l %s -o custom-columns=NAME:.metadata.name,CONTAINERS:.spec.containers[*].name", kc(c.Name), shellQuote(ms.ns), shellQuote(selectorText(c, ms))),
			Note:        "restart the workloads so that the injector adds the sidecar (kubectl rollout restart deployment -n <namespace> <name>), after removing any sidecar.istio.io/inject=false",
			Evidence:    []Evidence{Ev("pods without sidecar", strings.Join(bare, ", ")), Ev("namespace", why)}}
		out = append(out, r)
	}
	if len(out) == 0 {
		if checked == 0 {
			return []Result{pass("no pod behind a multi-cluster service in a sidecar-injected namespace here")}
		}
		return []Result{pass(fmt.Sprintf("all %d pods behind multi-cluster services in injected namespaces run a sidecar", checked))}
	}
	return out
}

func selectorText(c *mesh.Cluster, ms *mcService) string {
	svc := c.Inv.Service(ms.ns, ms.name)
	if svc == nil || len(svc.Spec.Selector) == 0 {
		return "app"
	}
	var parts []string
	for _, kv := range svc.Spec.Selector { // sorted by key
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	return strings.Join(parts, ",")
}

// subsetPods: every subset a DestinationRule defines for a host with a
// Service in some cluster must select pods of that Service in some
// cluster (the cross-cluster IST0173), and every subset a VirtualService
// routes to must be defined by a DestinationRule of the same cluster's
// configuration (each primary reads only its own).
func subsetPods(_ context.Context, env *Env) []Result {
	var readable []*mesh.Cluster
	for _, c := range env.Mesh.Reachable() {
		if trafficRead(c, cluster.ResWorkloadPods) == "" {
			readable = append(readable, c)
		}
	}
	if len(readable) == 0 {
		return []Result{skipf("no cluster's pods were read")}
	}
	allRead := len(readable) == len(env.Mesh.Reachable())
	type svcRef struct{ ns, name string }
	services := map[string]svcRef{} // host -> service
	for _, c := range env.Mesh.Reachable() {
		for _, s := range c.Inv.Services {
			if !slices.Contains(skipNamespaces, s.Namespace) {
				services[s.Name+"."+s.Namespace+".svc."+domainSuffix] = svcRef{s.Namespace, s.Name}
			}
		}
	}
	selects := func(host string, labels map[string]string) (bool, []string) {
		ref, ok := services[host]
		if !ok {
			return true, nil // not a Kubernetes service (a ServiceEntry host): not judged
		}
		var where []string
		selected := false
		for _, c := range env.Mesh.Reachable() {
			if svc := c.Inv.Service(ref.ns, ref.name); svc != nil && len(svc.Spec.Selector) > 0 {
				selected = true
			}
		}
		if !selected {
			return true, nil // endpoints not made from pods (no selector): not judged
		}
		for _, c := range readable {
			svc := c.Inv.Service(ref.ns, ref.name)
			for _, p := range selectedPods(c, svc) {
				if subsetOf(labels, p.Labels) {
					return true, nil
				}
			}
			if svc != nil {
				where = append(where, c.Name)
			}
		}
		return false, where
	}
	var out []Result
	subsets := 0
	for _, cc := range configClusters(env.Mesh) {
		if trafficRead(cc, cluster.ResDestinationRules) != "" {
			continue
		}
		idx := newDRIndex(cc)
		routed := map[string]bool{} // host|subset a VirtualService of cc routes to
		if trafficRead(cc, cluster.ResVirtualServices) == "" {
			for _, vs := range cc.Inv.Traffic.VirtualServices {
				for _, d := range vs.Destinations {
					if d.GetSubset() == "" {
						continue
					}
					host := resolveShort(d.GetHost(), vs.Namespace)
					routed[host+"|"+d.GetSubset()] = true
					if dr := idx.forProxy(host, services[host].ns, vs.Namespace, nil).ruleOf(); !definesSubset(dr, d.GetSubset()) {
						r := noted(failf(fmt.Sprintf("%s get destinationrules.networking.istio.io -A -o yaml | grep -n -A3 %s", kc(cc.Name), shellQuote("name: "+d.GetSubset())),
							"VirtualService %s/%s routes to subset %s of %s, which no DestinationRule of %s defines: those requests fail (503, no cluster for the route)", vs.Namespace, vs.Name, d.GetSubset(), host, cc.Name),
							"each primary reads only its own cluster's DestinationRules: apply the DestinationRule that defines the subset in "+cc.Name+" too")
						r.Cluster, r.Target = cc.Name, vs.Namespace+"/"+vs.Name
						out = append(out, r)
					}
				}
			}
		}
		for i, dr := range cc.Inv.Traffic.DestinationRules {
			host := drHost(dr)
			merged := idx.forProxy(host, services[host].ns, dr.Namespace, nil)
			for _, ss := range dr.Spec.GetSubsets() {
				if len(ss.GetLabels()) == 0 || merged.dropsSubset(&cc.Inv.Traffic.DestinationRules[i], ss.GetName()) {
					continue // a duplicate name istiod drops when it merges the host's rules
				}
				ok, where := selects(host, ss.GetLabels())
				if ok {
					if _, known := services[host]; known {
						subsets++
					}
					continue
				}
				subsets++
				st, effect := Warn, "unused: no VirtualService here routes to it"
				if routed[host+"|"+ss.GetName()] {
					st, effect = Fail, "a VirtualService routes to it, so those requests find no endpoint (503 no healthy upstream)"
				}
				if !allRead && st == Fail {
					st = Warn
					effect += "; not every cluster's pods were read, so a pod may exist elsewhere"
				}
				var sel []string
				for _, k := range sortedKeys(ss.GetLabels()) {
					sel = append(sel, k+"="+ss.GetLabels()[k])
				}
				r := Result{Status: st, Cluster: cc.Name, Target: dr.Namespace + "/" + dr.Name,
					Message:     fmt.Sprintf("subset %s of DestinationRule %s/%s (%s) selects no pod of %s in any cluster (%s): %s", ss.GetName(), dr.Namespace, dr.Name, strings.Join(sel, ","), host, strings.Join(where, ", "), effect),
					Remediation: fmt.Sprintf("%s -n %s get pods -l %s --show-labels", kc(where0(where, cc.Name)), shellQuote(services[host].ns), shellQuote(strings.Join(sel, ","))),
					Note:        "fix the subset's labels to those of the pods (a version label, say), or deploy the missing version"}
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		if subsets == 0 {
			return []Result{pass("no DestinationRule defines a subset of a Kubernetes service, and no VirtualService routes to an undefined subset")}
		}
		return []Result{pass(fmt.Sprintf("%d subsets of Kubernetes services read; each selects pods in some cluster, and every routed subset is defined", subsets))}
	}
	return out
}

func where0(where []string, def string) string {
	if len(where) > 0 {
		return where[0]
	}
	return def
}

func resolveShort(h, ns string) string {
	if h != "" && !strings.Contains(h, ".") {
		return h + "." + ns + ".svc." + domainSuffix
	}
	return h
}

func definesSubset(dr *cluster.DestinationRule, subset string) bool {
	if dr == nil {
		return false
	}
	for _, ss := range dr.Spec.GetSubsets() {
		if ss.GetName() == subset {
			return true
		}
	}
	return false
}

// binomialAcceptance is the range of counts k of n consistent with share
// p: the exact two-sided binomial test at level alpha keeps every k whose
// lower and upper tails both exceed alpha/2.
func binomialAcceptance(n int, p, alpha float64) (lo, hi int) {
	if n <= 0 {
		return 0, 0
	}
	if p <= 0 {
		return 0, 0
	}
	if p >= 1 {
		return n, n
	}
	pmf := make([]float64, n+1)
	ln := func(x float64) float64 { v, _ := math.Lgamma(x); return v }
	for k := 0; k <= n; k++ {
		pmf[k] = math.Exp(ln(float64(n+1)) - ln(float64(k+1)) - ln(float64(n-k+1)) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
	}
	cum := 0.0
	lo = 0
	for k := 0; k <= n; k++ {
		cum += pmf[k]
		if cum > alpha/2 {
			lo = k
			break
		}
	}
	cum = 0
	hi = n
	for k := n; k >= 0; k-- {
		cum += pmf[k]
		if cum > alpha/2 {
			hi = k
			break
		}
	}
	return lo, hi
}

// probePolicy is what the locality settings of a target's DestinationRule
// make the probe's answers mean, for sidecars in one cluster.
type probePolicy struct {
	// kind: "" (no locality policy: every cluster should answer),
	// "prefer-local" (only local answers are expected while they are
	// healthy), "distribute" (answers split by shares).
	kind string
	rule string // namespace/name of the DestinationRule
	why  string
	// shares is, for distribute, each cluster's expected share of answers.
	shares map[string]float64
}

// localityPolicy reads the DestinationRule istiod applies to t's host for
// the probe pod of c (c's config cluster, the pod's namespace and labels)
// and predicts the split by the loadbalancer package's rules (see
// judgeLocality).
func localityPolicy(env *Env, c *mesh.Cluster, t target) probePolicy {
	cc := configCluster(env.Mesh, c)
	if cc == nil || trafficRead(cc, cluster.ResDestinationRules) != "" {
		return probePolicy{}
	}
	host := ""
	if ns, name, ok := strings.Cut(t.service, "/"); ok {
		host = name + "." + ns + ".svc." + domainSuffix
	} else {
		host = strings.TrimSuffix(hostOf(t.url), ".") // a --target naming the FQDN
	}
	ms := multiClusterHosts(env.Mesh)[host]
	if ms == nil {
		return probePolicy{}
	}
	pod, _ := probePod(c)
	var proxyNS string
	var proxyLabels map[string]string
	var proxyLoc locality
	var locSrc string
	if pod != nil {
		proxyNS, proxyLabels = pod.Namespace, pod.Labels
		proxyLoc, locSrc = podLocality(c, pod.Labels, pod.Spec.NodeName)
	}
	dr := destinationRuleFor(cc, ms.host(), ms.ns, proxyNS, proxyLabels).ruleOf()
	if dr == nil {
		return probePolicy{}
	}
	port := portOf(t.url)
	levels := policyLevels(dr)
	lv := levels[0]
	for _, l := range levels {
		if l.where == "portLevelSettings["+port+"]" {
			lv = l
		}
	}
	pol := probePolicy{rule: dr.Namespace + "/" + dr.Name}
	if lv.lb.GetZoneAwareLbSetting() != nil {
		pol.kind, pol.why = "prefer-local", "zone-aware load balancing keeps traffic in the sidecar's region"
		return pol
	}
	ls := lv.lb.GetLocalityLbSetting()
	if ls == nil && lv.od != nil {
		ls = cc.MeshConfig.GetLocalityLbSetting()
	}
	if ls == nil || ls.GetEnabled() != nil && !ls.GetEnabled().GetValue() {
		return probePolicy{}
	}
	he := endpointsOf(env.Mesh, ms)
	if len(ls.GetDistribute()) > 0 {
		for _, d := range ls.GetDistribute() {
			if !localityMatch(proxyLoc, d.GetFrom()) {
				continue
			}
			pol.kind, pol.shares = "distribute", distributeShares(he, d.GetTo())
			pol.why = fmt.Sprintf("distribute from %s (the sidecar is in %s, from %s) to %s", d.GetFrom(), proxyLoc, locSrc, weightsText(d.GetTo()))
			if len(pol.shares) == 0 {
				return probePolicy{}
			}
			return pol
		}
		return probePolicy{}
	}
	if lv.od == nil {
		return probePolicy{} // no priorities without outlier detection
	}
	if len(ls.GetFailoverPriority()) > 0 {
		pol.kind, pol.why = "prefer-local", fmt.Sprintf("failoverPriority %s with outlier detection prefers endpoints that share the sidecar's labels", strings.Join(ls.GetFailoverPriority(), ","))
		return pol
	}
	if proxyLoc == (locality{}) {
		return probePolicy{}
	}
	// applyLocalityFailover: priority by region/zone/subzone match, a
	// region with no failover rule from the sidecar's region behind the
	// one the rule names.
	best, bestIn := 5, []string{}
	for _, cl := range sortedKeys(he.byCluster) {
		for _, l := range he.byCluster[cl] {
			p := lbPriority(proxyLoc, l)
			if p == 3 {
				for _, f := range ls.GetFailover() {
					if f.GetFrom() == proxyLoc.region {
						if l.region != f.GetTo() {
							p = 4
						}
						break
					}
				}
			}
			switch {
			case p < best:
				best, bestIn = p, []string{cl}
			case p == best && !slices.Contains(bestIn, cl):
				bestIn = append(bestIn, cl)
			}
		}
	}
	if len(bestIn) != 1 || bestIn[0] != c.Name {
		return probePolicy{} // the first priority spans clusters, or is elsewhere
	}
	pol.kind = "prefer-local"
	pol.why = fmt.Sprintf("locality failover with outlier detection: the sidecar's locality %s (from %s) is priority 0 and only %s has endpoints there", proxyLoc, locSrc, c.Name)
	return pol
}

// distributeShares is each cluster's expected share of requests under a
// distribute rule's to weights (applyLocalityWeights: a pattern's weight is
// divided among the localities it matches in proportion to their
// endpoints; endpoints no pattern matches get nothing). Envoy picks a
// locality in proportion to its weight.
func distributeShares(he hostEndpoints, to map[string]uint32) map[string]float64 {
	type group struct {
		weight float64
		count  map[string]int
		total  int
	}
	groups := map[string]*group{}
	for _, cl := range sortedKeys(he.byCluster) {
		for _, l := range he.byCluster[cl] {
			for _, p := range sortedKeys(to) {
				if localityMatch(l, p) {
					g := groups[p]
					if g == nil {
						g = &group{weight: float64(to[p]), count: map[string]int{}}
						groups[p] = g
					}
					g.count[cl]++
					g.total++
					break
				}
			}
		}
	}
	sum := 0.0
	for _, g := range groups {
		sum += g.weight
	}
	if sum == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, g := range groups {
		for cl, n := range g.count {
			out[cl] += g.weight / sum * float64(n) / float64(g.total)
		}
	}
	return out
}

// distributeAlpha is the level of the split test: the probability that a
// correctly configured split is reported is at most this, over all the
// clusters of one target (Bonferroni).
const distributeAlpha = 0.001

// judgeSplit compares the answers per cluster with a distribute rule's
// shares by an exact two-sided binomial test per cluster.
func judgeSplit(byCluster map[string]int, ok int, pol probePolicy) (bool, []Evidence) {
	alpha := distributeAlpha / float64(max(len(pol.shares), 1))
	within := true
	var exp []string
	for _, cl := range sortedKeys(pol.shares) {
		p := pol.shares[cl]
		lo, hi := binomialAcceptance(ok, p, alpha)
		k := byCluster[cl]
		mark := ""
		if k < lo || k > hi {
			within, mark = false, " ✗"
		}
		exp = append(exp, fmt.Sprintf("%s %.0f%%: %d answers, %d..%d accepted%s", cl, 100*p, k, lo, hi, mark))
	}
	for cl, k := range byCluster {
		if _, ok := pol.shares[cl]; !ok && k > 0 && !strings.HasPrefix(cl, "unknown") {
			within = false
			exp = append(exp, fmt.Sprintf("%s 0%%: %d answers ✗", cl, k))
		}
	}
	return within, []Evidence{Ev("expected split", strings.Join(exp, "; ")),
		Ev("split test", fmt.Sprintf("exact two-sided binomial per cluster, α=%g over the clusters (%g each), on %d answers: more --requests narrow the accepted ranges", distributeAlpha, alpha, ok))}
}
