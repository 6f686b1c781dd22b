package probe

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// During a trust-domain migration a workload behind the gateway may still
// hold a certificate of the old trust domain, which its mesh lists in
// trustDomainAliases: Istio accepts it (pkg/spiffe ExpandWithTrustDomains),
// so the probe does too; a trust domain that is neither is still bad-san.
func TestPassthroughAcceptsTrustDomainAliases(t *testing.T) {
	pki := newMeshPKI(t)
	old := pki.cluster1.issue(t, leafSpec{uris: []string{"spiffe://old.example/ns/sample/sa/helloworld"}})
	cases := []struct {
		name    string
		aliases []string
		want    Outcome
	}{
		{"old trust domain listed as an alias", []string{"other.example", "old.example"}, OutcomeOK},
		{"old trust domain not aliased", nil, OutcomeBadSAN},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			port := portOf(t, ln)
			serve(t, ln, sniRouter(map[string]tls.Certificate{helloworldSNI: old}))
			target := GatewayTarget{Cluster: "cluster2", Address: "127.0.0.1", Ports: []Port{{Number: port, Kind: KindTLSPassthrough}},
				Roots: pki.root.pool(), TrustDomain: "new.example", TrustDomainAliases: tc.aliases, SNI: helloworldSNI}
			got := ProbeGateway(t.Context(), loopbackDNSDialer(), target, 5*time.Second)
			if len(got) != 1 || got[0].Outcome != tc.want {
				t.Fatalf("got %+v, want %s", got, tc.want)
			}
			if tc.want == OutcomeBadSAN && !strings.Contains(got[0].Detail, "new.example") {
				t.Errorf("detail %q does not name the expected trust domain", got[0].Detail)
			}
		})
	}
}
