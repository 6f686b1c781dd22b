package checks_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// Admiral run with non-default --secret_namespace, --sync_namespace and
// --hostname_suffix: the admiral checks read the secret, the entry and the
// rule where those flags put them (read with the defaults they pass or
// skip on nothing).
func TestAdmiralChecksReadAdmiralsFlags(t *testing.T) {
	_, rs, _ := runScenario(t, "admiral-global-flags")
	for _, tc := range []struct {
		id, cluster string
		status      checks.Status
		msg, ev     string
	}{
		{"admiral.remote-secrets", "cluster-1", checks.Pass, "key cluster-2 parses", ""},
		{"admiral.serviceentry-gateways", "cluster-1", checks.Pass, "stage.greeting.mesh sends to the gateways of cluster-2", "from Deployment admiral/admiral"},
		{"admiral.serviceentry-gateways", "cluster-2", checks.Pass, "no Admiral ServiceEntry (*.mesh in admiral-generated)", "another cluster's Admiral"},
		{"admiral.gtp-destinationrule", "cluster-1", checks.Fail, "DestinationRule admiral-generated/stage.greeting.mesh-default-dr does not carry GlobalTrafficPolicy", "--sync_namespace=admiral-generated"},
	} {
		var seen []string
		found := false
		for _, r := range resultsOf(rs, tc.id, tc.cluster) {
			if r.Status != tc.status || !strings.Contains(r.Message, tc.msg) {
				seen = append(seen, fmt.Sprintf("%s %q", r.Status, r.Message))
				continue
			}
			found = tc.ev == "" || strings.Contains(fmt.Sprint(r.Evidence), tc.ev)
			if !found {
				t.Errorf("%s@%s: evidence %v lacks %q", tc.id, tc.cluster, r.Evidence, tc.ev)
			}
			found = true
			if r.Status == checks.Fail && !strings.Contains(r.Remediation, "-n admiral-generated") {
				t.Errorf("%s: remediation %q does not look in the sync namespace", tc.id, r.Remediation)
			}
		}
		if !found {
			t.Errorf("%s@%s: no %s result containing %q; got %v", tc.id, tc.cluster, tc.status, tc.msg, seen)
		}
	}
}
