package checks

import (
	"testing"

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
