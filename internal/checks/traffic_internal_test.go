package checks

import (
	"fmt"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

func TestBinomialAcceptanceWidensWithFewerRequests(t *testing.T) {
	for _, tc := range []struct {
		n      int
		p      float64
		lo, hi int
	}{
		{100, 0.2, 7, 35}, // exact two-sided, alpha 0.0005 (0.001 over two clusters); values checked with Python math.comb
		{10, 0.2, 0, 7},   // ten requests cannot tell all-local from 80/20
		{1000, 0.2, 157, 245},
		{50, 1, 50, 50},
		{50, 0, 0, 0},
	} {
		lo, hi := binomialAcceptance(tc.n, tc.p, 0.0005)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("n=%d p=%g: accepted %d..%d, want %d..%d", tc.n, tc.p, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestPrincipalTrustDomain(t *testing.T) {
	for p, want := range map[string]string{
		"cluster.local/ns/sample/sa/curl": "cluster.local",
		"spiffe://old-td/ns/a/sa/b":       "old-td",
		"*/ns/sample/sa/curl":             "",
		"*":                               "",
		"cluster.local/ns/sample/sa/*":    "cluster.local",
		"prefix-*.example/ns/x/sa/y":      "",
		"not-a-principal":                 "",
	} {
		if got, _ := principalTrustDomain(p); got != want {
			t.Errorf("%q: %q, want %q", p, got, want)
		}
	}
}

func TestPeerAuthModeFollowsIstiodsPrecedence(t *testing.T) {
	pa := func(ns, name string, sel map[string]string, mode securityv1.PeerAuthentication_MutualTLS_Mode, ports map[uint32]securityv1.PeerAuthentication_MutualTLS_Mode) cluster.PeerAuthentication {
		spec := &securityv1.PeerAuthentication{Mtls: &securityv1.PeerAuthentication_MutualTLS{Mode: mode}}
		if sel != nil {
			spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: sel}
		}
		for p, m := range ports {
			if spec.PortLevelMtls == nil {
				spec.PortLevelMtls = map[uint32]*securityv1.PeerAuthentication_MutualTLS{}
			}
			spec.PortLevelMtls[p] = &securityv1.PeerAuthentication_MutualTLS{Mode: m}
		}
		return cluster.PeerAuthentication{Namespace: ns, Name: name, Spec: spec}
	}
	const (
		unset  = securityv1.PeerAuthentication_MutualTLS_UNSET
		strict = securityv1.PeerAuthentication_MutualTLS_STRICT
		off    = securityv1.PeerAuthentication_MutualTLS_DISABLE
		perm   = securityv1.PeerAuthentication_MutualTLS_PERMISSIVE
	)
	hw := map[string]string{"app": "helloworld"}
	tc := &cluster.TrafficConfig{PeerAuthentications: []cluster.PeerAuthentication{
		pa("istio-system", "default", nil, strict, nil),
		pa("sample", "default", nil, unset, nil), // inherits STRICT
		pa("sample", "hw", hw, unset, map[uint32]securityv1.PeerAuthentication_MutualTLS_Mode{5000: off}),
	}}
	if m, by := peerAuthMode(tc, "istio-system", "sample", map[string]string{"app": "curl"}, 80); m != strict || by != "istio-system/default" {
		t.Errorf("curl: %s by %s, want STRICT by the mesh policy (namespace UNSET inherits)", m, by)
	}
	if m, by := peerAuthMode(tc, "istio-system", "sample", hw, 5000); m != off || by != "sample/hw" {
		t.Errorf("helloworld:5000: %s by %s, want DISABLE by the workload port-level mode", m, by)
	}
	if m, _ := peerAuthMode(tc, "istio-system", "sample", hw, 8080); m != strict {
		t.Errorf("helloworld:8080: %s, want STRICT (the workload policy is UNSET there)", m)
	}
	if m, _ := peerAuthMode(&cluster.TrafficConfig{}, "istio-system", "sample", hw, 80); m != perm {
		t.Errorf("no policy: %s, want PERMISSIVE", m)
	}
}

func TestTLSModeForFollowsMtlsChecker(t *testing.T) {
	disable, simple := networkingv1.ClientTLSSettings_DISABLE, networkingv1.ClientTLSSettings_SIMPLE
	dr := &cluster.DestinationRule{Namespace: "sample", Name: "hw", Spec: &networkingv1.DestinationRule{
		Host: "helloworld",
		TrafficPolicy: &networkingv1.TrafficPolicy{Tls: &networkingv1.ClientTLSSettings{Mode: disable},
			PortLevelSettings: []*networkingv1.TrafficPolicy_PortTrafficPolicy{{Port: &networkingv1.PortSelector{Number: 9000}, Tls: &networkingv1.ClientTLSSettings{Mode: networkingv1.ClientTLSSettings_ISTIO_MUTUAL}}}},
		Subsets: []*networkingv1.Subset{{Name: "v1", TrafficPolicy: &networkingv1.TrafficPolicy{Tls: &networkingv1.ClientTLSSettings{Mode: simple}}}, {Name: "v2"}},
	}}
	for _, tc := range []struct {
		subset string
		port   uint32
		want   networkingv1.ClientTLSSettings_TLSmode
	}{
		{"", 5000, disable}, {"", 9000, networkingv1.ClientTLSSettings_ISTIO_MUTUAL}, {"v1", 5000, simple}, {"v2", 5000, disable},
	} {
		if got := tlsModeFor(dr, tc.subset, tc.port); got == nil || *got != tc.want {
			t.Errorf("subset %q port %d: %v, want %s", tc.subset, tc.port, got, tc.want)
		}
	}
	if drHost(*dr) != "helloworld.sample.svc.cluster.local" {
		t.Errorf("short host resolved to %s", drHost(*dr))
	}
}

func TestLocalityMatchAndPriority(t *testing.T) {
	l := locality{"region1", "zone1", ""}
	for rule, want := range map[string]bool{"region1/zone1/*": true, "region1/*": true, "*": true, "region1": true, "region2/*": false, "region1/zone2/*": false} {
		if localityMatch(l, rule) != want {
			t.Errorf("%s matches %s: %v", l, rule, !want)
		}
	}
	if p := lbPriority(l, locality{"region1", "zone2", ""}); p != 2 {
		t.Errorf("same region, other zone: priority %d, want 2", p)
	}
	if got := parseLocality("region1.zone1.sub"); got != (locality{"region1", "zone1", "sub"}) {
		t.Errorf("istio-locality label parsed to %v", got)
	}
}

// The consolidated DestinationRule follows istiod's merge and precedence
// (pilot/pkg/model push_context.go setDestinationRules / destinationRule,
// destination_rule.go mergeDestinationRule, sidecar.go DestinationRule).
func TestDestinationRuleMergeFollowsIstiod(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC) }
	tp := func(mode networkingv1.ClientTLSSettings_TLSmode) *networkingv1.TrafficPolicy {
		return &networkingv1.TrafficPolicy{Tls: &networkingv1.ClientTLSSettings{Mode: mode}}
	}
	dr := func(ns, name string, created time.Time, host string, pol *networkingv1.TrafficPolicy, subsets ...string) cluster.DestinationRule {
		spec := &networkingv1.DestinationRule{Host: host, TrafficPolicy: pol}
		for _, s := range subsets {
			spec.Subsets = append(spec.Subsets, &networkingv1.Subset{Name: s, Labels: map[string]string{"version": s + "-" + name}})
		}
		return cluster.DestinationRule{Namespace: ns, Name: name, Created: created, Spec: spec}
	}
	const host = "helloworld.sample.svc.cluster.local"
	disable, mutual, simple := networkingv1.ClientTLSSettings_DISABLE, networkingv1.ClientTLSSettings_ISTIO_MUTUAL, networkingv1.ClientTLSSettings_SIMPLE

	t.Run("oldest trafficPolicy wins whole, subsets are joined, the first of a duplicate name wins", func(t *testing.T) {
		// "a-new" sorts first by name but is newer: age decides, not the name.
		x := buildDRIndex([]cluster.DestinationRule{
			dr("sample", "a-new", day(20), host, tp(disable), "v2", "v1"),
			dr("sample", "z-old", day(2), "helloworld", tp(mutual), "v1"),
		}, "istio-system", false)
		m := x.forProxy(host, "sample", "other", nil)
		if m == nil || m.rule.Name != "z-old" {
			t.Fatalf("consolidated rule %+v, want z-old's metadata", m)
		}
		if got := tlsModeFor(&m.rule, "", 5000); got == nil || *got != mutual {
			t.Errorf("tls %v, want ISTIO_MUTUAL of the older rule", got)
		}
		var names []string
		for _, ss := range m.rule.Spec.GetSubsets() {
			names = append(names, ss.GetName()+"="+ss.GetLabels()["version"])
		}
		if strings.Join(names, ",") != "v1=v1-z-old,v2=v2-a-new" {
			t.Errorf("subsets %v, want v1 of z-old and v2 of a-new", names)
		}
		if len(m.ignoredPolicies()) != 1 || m.ignoredPolicies()[0].dr.Name != "a-new" {
			t.Errorf("ignored %+v, want a-new's trafficPolicy", m.ignored)
		}
	})
	t.Run("a rule without trafficPolicy lets the next one's apply", func(t *testing.T) {
		x := buildDRIndex([]cluster.DestinationRule{
			dr("sample", "old", day(2), host, nil, "v1"),
			dr("sample", "new", day(20), host, tp(disable)),
		}, "istio-system", false)
		if got := tlsModeFor(x.forProxy(host, "sample", "other", nil).ruleOf(), "", 5000); got == nil || *got != disable {
			t.Errorf("tls %v, want the newer rule's DISABLE", got)
		}
	})
	t.Run("the proxy's namespace first, then the service's, then the root namespace", func(t *testing.T) {
		x := buildDRIndex([]cluster.DestinationRule{
			dr("istio-system", "root", day(1), host, tp(simple)),
			dr("sample", "svc", day(2), host, tp(mutual)),
			dr("client", "local", day(3), host, tp(disable)),
		}, "istio-system", false)
		for ns, want := range map[string]string{"client": "local", "other": "svc", "sample": "svc"} {
			if m := x.forProxy(host, "sample", ns, nil); m == nil || m.rule.Name != want {
				t.Errorf("proxy in %s: %v, want %s", ns, m.ruleOf(), want)
			}
		}
	})
	t.Run("exportTo hides a rule from other namespaces; rules with a different exportTo are not merged", func(t *testing.T) {
		priv := dr("sample", "private", day(1), host, tp(disable))
		priv.Spec.ExportTo = []string{"."}
		x := buildDRIndex([]cluster.DestinationRule{priv, dr("istio-system", "root", day(2), host, tp(mutual))}, "istio-system", false)
		if m := x.forProxy(host, "sample", "sample", nil); m == nil || m.rule.Name != "private" {
			t.Errorf("proxy in sample: %v, want its own namespace's private rule", m.ruleOf())
		}
		if m := x.forProxy(host, "sample", "other", nil); m == nil || m.rule.Name != "root" {
			t.Errorf("proxy in other: %v, want the root namespace's rule (private is not exported)", m.ruleOf())
		}
		pub := dr("sample", "public", day(3), host, tp(simple), "v9")
		x = buildDRIndex([]cluster.DestinationRule{priv, pub}, "istio-system", false)
		if m := x.forProxy(host, "sample", "other", nil); m == nil || m.rule.Name != "public" || len(m.from) != 1 {
			t.Errorf("proxy in other: %+v, want public alone", m)
		}
		// The mesh's defaultDestinationRuleExportTo "." keeps a rule without exportTo private.
		x = buildDRIndex([]cluster.DestinationRule{dr("sample", "svc", day(2), host, tp(mutual))}, "istio-system", true)
		if m := x.forProxy(host, "sample", "other", nil); m != nil {
			t.Errorf("proxy in other with default exportTo '.': %v, want none", m.ruleOf())
		}
	})
	t.Run("a workload selector applies to the pods it selects in its namespace, before the catch-all", func(t *testing.T) {
		sel := dr("sample", "curl-only", day(5), host, tp(disable))
		sel.Spec.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "curl"}}
		x := buildDRIndex([]cluster.DestinationRule{dr("sample", "all", day(1), host, tp(mutual)), sel}, "istio-system", false)
		if m := x.forProxy(host, "sample", "sample", map[string]string{"app": "curl"}); m == nil || m.rule.Name != "curl-only" {
			t.Errorf("curl in sample: %v, want curl-only", m.ruleOf())
		}
		if m := x.forProxy(host, "sample", "sample", map[string]string{"app": "other"}); m == nil || m.rule.Name != "all" {
			t.Errorf("other pod in sample: %v, want all", m.ruleOf())
		}
		if m := x.forProxy(host, "sample", "other", map[string]string{"app": "curl"}); m == nil || m.rule.Name != "all" {
			t.Errorf("curl in other: %v, want all (selectors are not exported)", m.ruleOf())
		}
		var names []string
		for _, a := range x.effectiveDRs(host, "sample", []cluster.DestinationRule{dr("sample", "all", day(1), host, nil), sel}) {
			names = append(names, a.m.rule.Name)
		}
		if strings.Join(names, ",") != "all,curl-only" {
			t.Errorf("effective rules %v, want all and curl-only", names)
		}
	})
	t.Run("the exact host before a wildcard", func(t *testing.T) {
		x := buildDRIndex([]cluster.DestinationRule{
			dr("sample", "wild", day(1), "*.sample.svc.cluster.local", tp(disable)),
			dr("sample", "exact", day(2), host, tp(mutual)),
		}, "istio-system", false)
		if m := x.forProxy(host, "sample", "other", nil); m == nil || m.rule.Name != "exact" {
			t.Errorf("%v, want exact", m.ruleOf())
		}
		if m := x.forProxy("curl.sample.svc.cluster.local", "sample", "other", nil); m == nil || m.rule.Name != "wild" {
			t.Errorf("curl: %v, want wild", m.ruleOf())
		}
	})
}

func TestDropsSubsetNamesTheLaterDuplicate(t *testing.T) {
	old := cluster.DestinationRule{Namespace: "sample", Name: "old", Created: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Spec: &networkingv1.DestinationRule{Host: "helloworld", Subsets: []*networkingv1.Subset{{Name: "v2", Labels: map[string]string{"version": "v2"}}}}}
	later := cluster.DestinationRule{Namespace: "sample", Name: "later", Created: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC),
		Spec: &networkingv1.DestinationRule{Host: "helloworld", Subsets: []*networkingv1.Subset{{Name: "v2", Labels: map[string]string{"version": "v3"}}}}}
	rules := []cluster.DestinationRule{later, old}
	m := buildDRIndex(rules, "istio-system", false).forProxy("helloworld.sample.svc.cluster.local", "sample", "sample", nil)
	if !m.dropsSubset(&rules[0], "v2") || m.dropsSubset(&rules[1], "v2") {
		t.Errorf("the later rule's v2 must be the one dropped: %+v", m.ignored)
	}
}

// BenchmarkDestinationRuleIndex: the index is built per lookup (per
// service port of the expected endpoint table), so its cost on a cluster
// with many rules matters: 1000 rules over 500 hosts (half the hosts have
// two rules to merge).
func BenchmarkDestinationRuleIndex(b *testing.B) {
	var rules []cluster.DestinationRule
	for i := range 1000 {
		host := fmt.Sprintf("svc-%d.ns-%d.svc.cluster.local", i%500, i%7)
		rules = append(rules, cluster.DestinationRule{Namespace: fmt.Sprintf("ns-%d", i%7), Name: fmt.Sprintf("dr-%d", i), Created: time.Unix(int64(i), 0),
			Spec: &networkingv1.DestinationRule{Host: host, TrafficPolicy: &networkingv1.TrafficPolicy{}, Subsets: []*networkingv1.Subset{{Name: fmt.Sprintf("v%d", i)}}}})
	}
	for b.Loop() {
		x := buildDRIndex(rules, "istio-system", false)
		if x.forProxy("svc-1.ns-1.svc.cluster.local", "ns-1", "other", nil) == nil {
			b.Fatal("no rule")
		}
	}
}
