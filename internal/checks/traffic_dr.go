package checks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/api/networking/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// The DestinationRule istiod applies to a host for a sidecar, when several
// rules name the host: istiod does not pick one, it merges them into
// consolidated rules per namespace index and then picks one of those for
// the proxy. Everything here mirrors, by name, the pinned module's
// pilot/pkg/model/push_context.go (setDestinationRules, destinationRule,
// getExportedDestinationRuleFromNamespace), destination_rule.go
// (mergeDestinationRule, with ENABLE_ENHANCED_DESTINATIONRULE_MERGE at its
// default true) and sidecar.go (SidecarScope.DestinationRule).

// mergedDR is one ConsolidatedDestRule: the rule as istiod uses it (the
// metadata of the first rule merged, the merged spec) and the rules it
// was merged from, in merge order.
type mergedDR struct {
	rule     cluster.DestinationRule
	exportTo []string // the exportTo set, sorted; a selector rule's is {"."}
	from     []*cluster.DestinationRule
	// ignored says what of the later rules istiod dropped: their
	// trafficPolicy when an earlier one had one, a subset whose name an
	// earlier one defines.
	ignored []ignoredPart
}

// ignoredPart is a part of a DestinationRule that a merge dropped.
type ignoredPart struct {
	dr     *cluster.DestinationRule
	subset string // "" for the top-level trafficPolicy
	// kept is the rule whose policy (or subset) applies instead.
	kept *cluster.DestinationRule
}

func (m *mergedDR) fromNames() []string {
	var out []string
	for _, dr := range m.from {
		out = append(out, dr.Namespace+"/"+dr.Name)
	}
	return out
}

// consolidatedDestRules is the per-namespace index of merged rules by
// host, specific and wildcard hosts apart.
type consolidatedDestRules struct {
	specific, wildcard map[string][]*mergedDR
}

func newConsolidated() *consolidatedDestRules {
	return &consolidatedDestRules{specific: map[string][]*mergedDR{}, wildcard: map[string][]*mergedDR{}}
}

// drIndex is setDestinationRules' destinationRuleIndex for the
// configuration of one cluster.
type drIndex struct {
	root string
	// local: the rules a proxy of the namespace sees first (exportTo
	// empty, "*", "." or the namespace itself).
	local map[string]*consolidatedDestRules
	// exported: the rules visible beyond their namespace.
	exported map[string]*consolidatedDestRules
	// rootLocal: the root namespace's private rules.
	rootLocal *consolidatedDestRules
}

// newDRIndex builds the index of cc's DestinationRules; nil when cc or its
// rules were not read.
func newDRIndex(cc *mesh.Cluster) *drIndex {
	if cc == nil || !cc.Inv.Traffic.Has(cluster.ResDestinationRules) {
		return nil
	}
	// The mesh's defaultDestinationRuleExportTo: only "." and "*" are
	// honoured (exportToDefaults); the default is "*".
	privateDefault := slices.Contains(cc.MeshConfig.GetDefaultDestinationRuleExportTo(), ".")
	return buildDRIndex(cc.Inv.Traffic.DestinationRules, rootNamespace(cc), privateDefault)
}

func buildDRIndex(rules []cluster.DestinationRule, root string, privateDefault bool) *drIndex {
	x := &drIndex{root: root, local: map[string]*consolidatedDestRules{}, exported: map[string]*consolidatedDestRules{}, rootLocal: newConsolidated()}
	sorted := make([]*cluster.DestinationRule, 0, len(rules))
	for i := range rules {
		if rules[i].Spec != nil {
			sorted = append(sorted, &rules[i])
		}
	}
	// sortConfigBySelectorAndCreationTime: rules with a workload selector
	// first, then the oldest, then by name, then by namespace.
	slices.SortStableFunc(sorted, func(a, b *cluster.DestinationRule) int {
		as, bs := a.Spec.GetWorkloadSelector() != nil, b.Spec.GetWorkloadSelector() != nil
		switch {
		case as && !bs:
			return -1
		case !as && bs:
			return 1
		}
		if r := a.Created.Compare(b.Created); r != 0 {
			return r
		}
		if r := strings.Compare(a.Name, b.Name); r != 0 {
			return r
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	for _, dr := range sorted {
		host := drHost(*dr) // ResolveShortnameToFQDN
		var exp []string
		if dr.Spec.GetWorkloadSelector() == nil {
			for _, e := range dr.Spec.GetExportTo() {
				if !slices.Contains(exp, e) {
					exp = append(exp, e)
				}
			}
			slices.Sort(exp)
		} else {
			exp = []string{"."} // rules with a selector are not exported
		}
		if len(exp) == 0 || slices.Contains(exp, "*") || slices.Contains(exp, ".") || slices.Contains(exp, dr.Namespace) {
			if x.local[dr.Namespace] == nil {
				x.local[dr.Namespace] = newConsolidated()
			}
			x.local[dr.Namespace].merge(dr, host, exp)
		}
		privateOnly := len(exp) == 0 && privateDefault || len(exp) == 1 && (exp[0] == "." || exp[0] == dr.Namespace)
		switch {
		case !privateOnly:
			if x.exported[dr.Namespace] == nil {
				x.exported[dr.Namespace] = newConsolidated()
			}
			x.exported[dr.Namespace].merge(dr, host, exp)
		case dr.Namespace == root:
			x.rootLocal.merge(dr, host, exp)
		}
	}
	return x
}

// merge is mergeDestinationRule: a rule for a host already indexed is
// merged into each consolidated rule with the same exportTo set (and
// into one whose set the new one's strictly contains, while also
// standing alone); selectors must agree. Merging adds the subsets whose
// names are new and takes the trafficPolicy only when the consolidated
// rule has none: the first (oldest) trafficPolicy wins whole, not field
// by field.
func (p *consolidatedDestRules) merge(dr *cluster.DestinationRule, host string, exp []string) {
	rules := p.specific
	if strings.HasPrefix(host, "*") {
		rules = p.wildcard
	}
	list, exists := rules[host]
	if !exists {
		rules[host] = []*mergedDR{newMerged(dr, exp)}
		return
	}
	appendSeparately := true
	for _, m := range list {
		switch {
		case slices.Equal(exp, m.exportTo):
			appendSeparately = false
		case len(m.exportTo) > 0 && supersetOf(exp, m.exportTo):
			appendSeparately = true
		default:
			appendSeparately = true
			continue
		}
		es, ns := m.rule.Spec.GetWorkloadSelector(), dr.Spec.GetWorkloadSelector()
		bothWithout, bothWith := es == nil && ns == nil, es != nil && ns != nil
		if bothWith && !maps.Equal(es.GetMatchLabels(), ns.GetMatchLabels()) {
			appendSeparately = true
			continue
		}
		if bothWithout || bothWith {
			appendSeparately = false
		}
		spec := proto.Clone(m.rule.Spec).(*networkingv1.DestinationRule)
		m.rule.Spec = spec
		m.from = append(m.from, dr)
		for _, ss := range dr.Spec.GetSubsets() {
			if i := slices.IndexFunc(spec.Subsets, func(e *networkingv1.Subset) bool { return e.GetName() == ss.GetName() }); i >= 0 {
				m.ignored = append(m.ignored, ignoredPart{dr: dr, subset: ss.GetName(), kept: m.definer(ss.GetName())})
				continue
			}
			spec.Subsets = append(spec.Subsets, ss)
		}
		switch {
		case spec.TrafficPolicy == nil && dr.Spec.GetTrafficPolicy() != nil:
			spec.TrafficPolicy = dr.Spec.GetTrafficPolicy()
		case spec.TrafficPolicy != nil && dr.Spec.GetTrafficPolicy() != nil:
			m.ignored = append(m.ignored, ignoredPart{dr: dr, kept: m.policyOwner()})
		}
	}
	if appendSeparately {
		rules[host] = append(rules[host], newMerged(dr, exp))
	}
}

func newMerged(dr *cluster.DestinationRule, exp []string) *mergedDR {
	return &mergedDR{rule: *dr, exportTo: exp, from: []*cluster.DestinationRule{dr}}
}

// policyOwner is the merged-from rule whose trafficPolicy applies.
func (m *mergedDR) policyOwner() *cluster.DestinationRule {
	for _, dr := range m.from {
		if dr.Spec.GetTrafficPolicy() != nil {
			return dr
		}
	}
	return nil
}

// definer is the merged-from rule whose subset name applies.
func (m *mergedDR) definer(name string) *cluster.DestinationRule {
	for _, dr := range m.from {
		if slices.ContainsFunc(dr.Spec.GetSubsets(), func(s *networkingv1.Subset) bool { return s.GetName() == name }) {
			return dr
		}
	}
	return nil
}

func supersetOf(a, b []string) bool {
	for _, e := range b {
		if !slices.Contains(a, e) {
			return false
		}
	}
	return true
}

// mostSpecific is MostSpecificHostMatch: the exact host first, else the
// longest wildcard covering it.
func (p *consolidatedDestRules) mostSpecific(host string) []*mergedDR {
	if p == nil {
		return nil
	}
	if !strings.HasPrefix(host, "*") {
		if l, ok := p.specific[host]; ok {
			return l
		}
	} else if l, ok := p.wildcard[host]; ok {
		return l
	}
	best := ""
	for h := range p.wildcard {
		if hostMatches(h, host) && (best == "" || len(h) > len(best) || len(h) == len(best) && h < best) {
			best = h
		}
	}
	if best == "" {
		return nil
	}
	return p.wildcard[best]
}

// lookup is PushContext.destinationRule: the proxy's own namespace's
// rules (the root namespace's private ones for a proxy there), else the
// service namespace's exported to the proxy's namespace, else the root
// namespace's exported to it.
func (x *drIndex) lookup(host, svcNS, proxyNS string) []*mergedDR {
	if x == nil {
		return nil
	}
	if proxyNS != x.root {
		if l := x.local[proxyNS].mostSpecific(host); l != nil {
			return l
		}
	} else if l := x.rootLocal.mostSpecific(host); l != nil {
		return l
	}
	if svcNS != "" {
		if l := x.exportedFrom(svcNS, host, proxyNS); len(l) > 0 {
			return l
		}
	}
	return x.exportedFrom(x.root, host, proxyNS)
}

// exportedFrom is getExportedDestinationRuleFromNamespace: the most
// specific match's rules, kept when exported to the client's namespace.
func (x *drIndex) exportedFrom(owner, host, clientNS string) []*mergedDR {
	var out []*mergedDR
	for _, m := range x.exported[owner].mostSpecific(host) {
		if len(m.exportTo) == 0 || slices.Contains(m.exportTo, "*") || slices.Contains(m.exportTo, clientNS) {
			out = append(out, m)
		}
	}
	return out
}

// forProxy is SidecarScope.DestinationRule for outbound traffic: of the
// consolidated rules, the first whose workload selector (in the proxy's
// namespace) selects the proxy, else the last without a selector. Labels
// nil (unknown) select nothing.
func (x *drIndex) forProxy(host, svcNS, proxyNS string, labels map[string]string) *mergedDR {
	var catchAll *mergedDR
	for _, m := range x.lookup(host, svcNS, proxyNS) {
		sel := m.rule.Spec.GetWorkloadSelector()
		if sel == nil {
			catchAll = m
		}
		if sel != nil && m.rule.Namespace == proxyNS && labels != nil && subsetOf(sel.GetMatchLabels(), labels) {
			return m
		}
	}
	return catchAll
}

// drClientClasses are the caller namespaces that can see a different
// DestinationRule for host (effectiveDRs' classes): the service's and
// root namespaces, each namespace with a rule for the host or named in
// such a rule's exportTo, and "" for any other.
func drClientClasses(x *drIndex, host, svcNS string, rules []cluster.DestinationRule) []string {
	nss := []string{svcNS, x.root}
	for _, dr := range rules {
		if dr.Spec == nil || !hostMatches(drHost(dr), host) {
			continue
		}
		nss = append(nss, dr.Namespace)
		for _, e := range dr.Spec.GetExportTo() {
			if e != "*" && e != "." && e != "~" {
				nss = append(nss, e)
			}
		}
	}
	slices.Sort(nss)
	return append(slices.Compact(nss), "")
}

// appliedDR is a consolidated rule and the proxy namespaces it applies to
// ("" for every namespace that names none of the rules).
type appliedDR struct {
	m       *mergedDR
	clients []string
}

// effectiveDRs are the consolidated rules a host's sidecars get, over
// every class of proxy namespace that can see a different one: the
// service's and root namespaces, each namespace with a rule for the host
// or named in such a rule's exportTo, and any other namespace (""); rules
// with a workload selector count for their namespace. Ordered by the
// position of their first rule in the inventory.
func (x *drIndex) effectiveDRs(host, svcNS string, rules []cluster.DestinationRule) []appliedDR {
	if x == nil {
		return nil
	}
	nss := drClientClasses(x, host, svcNS, rules)
	var out []appliedDR
	add := func(m *mergedDR, ns string) {
		if m == nil {
			return
		}
		// The namespace's own index and the exported one hold equal
		// merges of the same rules: one rule for the checks.
		key := strings.Join(m.fromNames(), ",")
		for i := range out {
			if out[i].m == m || strings.Join(out[i].m.fromNames(), ",") == key {
				if !slices.Contains(out[i].clients, ns) {
					out[i].clients = append(out[i].clients, ns)
				}
				return
			}
		}
		out = append(out, appliedDR{m: m, clients: []string{ns}})
	}
	for _, ns := range nss {
		add(x.forProxy(host, svcNS, ns, nil), ns)
		for _, m := range x.lookup(host, svcNS, ns) {
			if m.rule.Spec.GetWorkloadSelector() != nil && m.rule.Namespace == ns {
				add(m, ns)
			}
		}
	}
	pos := func(a appliedDR) int {
		return slices.IndexFunc(rules, func(dr cluster.DestinationRule) bool {
			return dr.Namespace == a.m.from[0].Namespace && dr.Name == a.m.from[0].Name
		})
	}
	slices.SortStableFunc(out, func(a, b appliedDR) int { return pos(a) - pos(b) })
	return out
}

// mergeEvidence says, for a rule merged from several, which rules and
// what istiod dropped; nil for a rule of its own.
func (m *mergedDR) mergeEvidence() []Evidence {
	if len(m.from) < 2 {
		return nil
	}
	ev := []Evidence{Ev("merged from", strings.Join(m.fromNames(), ", ")+" (oldest first: istiod merges the DestinationRules of one host)")}
	if d := m.ignoredText(); d != "" {
		ev = append(ev, Ev("ignored by istiod", d))
	}
	return ev
}

func (m *mergedDR) ignoredText() string {
	var parts []string
	for _, ig := range m.ignored {
		kept := "(unknown)"
		if ig.kept != nil {
			kept = ig.kept.Namespace + "/" + ig.kept.Name
		}
		if ig.subset == "" {
			parts = append(parts, fmt.Sprintf("the trafficPolicy of %s/%s (%s's applies)", ig.dr.Namespace, ig.dr.Name, kept))
		} else {
			parts = append(parts, fmt.Sprintf("subset %s of %s/%s (%s's applies)", ig.subset, ig.dr.Namespace, ig.dr.Name, kept))
		}
	}
	return strings.Join(parts, "; ")
}

// ignoredPolicies are the later rules whose whole trafficPolicy istiod
// dropped.
func (m *mergedDR) ignoredPolicies() []ignoredPart {
	var out []ignoredPart
	for _, ig := range m.ignored {
		if ig.subset == "" {
			out = append(out, ig)
		}
	}
	return out
}

// dropsSubset reports whether the merge dropped subset name of dr (an
// older rule for the host defines the name).
func (m *mergedDR) dropsSubset(dr *cluster.DestinationRule, name string) bool {
	if m == nil {
		return false
	}
	return slices.ContainsFunc(m.ignored, func(ig ignoredPart) bool { return ig.dr == dr && ig.subset == name })
}
