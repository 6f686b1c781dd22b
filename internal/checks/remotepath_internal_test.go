package checks

import (
	"maps"
	"testing"
)

// TestInjectEnvsParsesAsIstiod: the forms istiod's parseInjectEnvs reads
// (pkg/kube/inject/webhook.go): key/value pairs, --slash-- in values, the
// deprecated :ENV: form, a trailing key without value ignored.
func TestInjectEnvsParsesAsIstiod(t *testing.T) {
	for _, tc := range []struct {
		path string
		want map[string]string
	}{
		{"/inject", map[string]string{}},
		{"/inject/", map[string]string{}},
		{"/inject/cluster/cluster-2/net/network2", map[string]string{"ISTIO_META_CLUSTER_ID": "cluster-2", "ISTIO_META_NETWORK": "network2"}},
		{"/inject/net/network2/cluster/cluster-2/", map[string]string{"ISTIO_META_CLUSTER_ID": "cluster-2", "ISTIO_META_NETWORK": "network2"}},
		{"/inject/cluster/team--slash--a/net/n", map[string]string{"ISTIO_META_CLUSTER_ID": "team/a", "ISTIO_META_NETWORK": "n"}},
		{"/inject/:ENV:cluster=c1:ENV:net=n1", map[string]string{"ISTIO_META_CLUSTER_ID": "c1", "ISTIO_META_NETWORK": "n1"}},
		{"/inject/cluster/c1/custom_env/x/net", map[string]string{"ISTIO_META_CLUSTER_ID": "c1", "CUSTOM_ENV": "x"}},
	} {
		if got := injectEnvs(tc.path); !maps.Equal(got, tc.want) {
			t.Errorf("injectEnvs(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestChartIsIP mirrors the chart's regular expressions: what they call an
// IP gets an EndpointSlice, anything else an ExternalName Service.
func TestChartIsIP(t *testing.T) {
	for addr, want := range map[string]bool{
		"10.214.1.10": true, "fd00::10": true, "2001:db8::1": true,
		"eastwest-1.mesh.example": false, "a1f0c2d4e6b8-1234567890.us-east-1.elb.amazonaws.com": false, "istiod": false,
	} {
		if got := chartIsIP(addr); got != want {
			t.Errorf("chartIsIP(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestServerNameMatches: how a gateway filter chain built from a tls
// match's sniHosts takes a connection's SNI (istiod: "*" sets no
// server_names; Envoy: exact, or "*." suffix with at least one label
// before it; no SNI only where no server_names are set).
func TestServerNameMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, sni string
		want         bool
	}{
		{"*", "istiod.istio-system.svc", true},
		{"*", "", true}, // an IP host: no SNI, taken only by "*"
		{"istiod.istio-system.svc", "", false},
		{"istiod.istio-system.svc", "istiod.istio-system.svc", true},
		{"istiod.istio-system.svc", "ISTIOD.istio-system.svc", true},
		{"istiod.istio-system.svc", "istiod-1-31.istio-system.svc", false},
		{"*.istio-system.svc", "istiod.istio-system.svc", true},
		{"*.istio-system.svc", "a.b.istio-system.svc", true},
		{"*.istio-system.svc", "istio-system.svc", false},
		{"*.istio-system.svc", ".istio-system.svc", false},
		{"*.svc", "istiod.istio-system.svc", true},
		{"istiod.example.com", "istiod.istio-system.svc", false},
	} {
		if got := serverNameMatches(tc.pattern, tc.sni); got != tc.want {
			t.Errorf("serverNameMatches(%q, %q) = %v, want %v", tc.pattern, tc.sni, got, tc.want)
		}
	}
}
