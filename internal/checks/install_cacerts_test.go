package checks_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// TestCacertsTLSFormRemediationsUseItsKeys: with cacerts in cert-manager's
// kubernetes.io/tls layout (install-cacerts-tls-*), istiod reads tls.crt,
// tls.key and ca.crt (pilot/pkg/bootstrap/istio_ca.go
// detectSigningCABundleAndCRL), so a trust remediation that reads
// .data.ca-cert.pem or recreates the secret in the istio layout reads
// nothing or replaces the layout the operator chose. Before the fix every
// trust command named the istio keys.
func TestCacertsTLSFormRemediationsUseItsKeys(t *testing.T) {
	istioKey := regexp.MustCompile(`\.data\.(ca-cert|ca-key|cert-chain|root-cert)\\?\.pem`)
	for _, name := range []string{"install-cacerts-tls-different-root", "install-cacerts-tls-no-ca-crt", "install-cacerts-tls-expired"} {
		t.Run(name, func(t *testing.T) {
			_, res, _ := runScenario(t, name)
			var checked int
			for _, r := range res {
				if !strings.HasPrefix(r.CheckID, "trust.") || r.Status != checks.Fail {
					continue
				}
				checked++
				if m := istioKey.FindString(r.Remediation); m != "" {
					t.Errorf("%s reads %s, a key the tls layout does not have:\n%s", scenario.Key(r), m, r.Remediation)
				}
				if strings.Contains(r.Remediation, "create secret") && !strings.Contains(r.Remediation, "--type=kubernetes.io/tls") {
					t.Errorf("%s recreates cacerts in the istio layout:\n%s", scenario.Key(r), r.Remediation)
				}
			}
			if checked == 0 {
				t.Fatal("no failing trust result to check")
			}
		})
	}
}
