package checks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// TestGatewayReachabilityAmbientHBONE: an ambient istio-east-west Gateway
// (rendered by gen-eastwest-gateway.sh --ambient in install-amb-mn) is
// probed where remote ztunnels send, HBONE on 15008, and on 15021; never
// on the sidecar gateway's 15443. A refused 15008 fails with the commands
// that show the Service and the gateway's listener.
func TestGatewayReachabilityAmbientHBONE(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome probe.Outcome
		want    checks.Status
	}{
		{"a gateway that completes the HBONE handshake passes", probe.OutcomeOK, checks.Pass},
		{"nothing listening on 15008 fails", probe.OutcomeRefused, checks.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			_, invs, _, err := scenario.LoadFake(scenarioDir, "install-amb-mn", now)
			if err != nil {
				t.Fatal(err)
			}
			m := mesh.Build(invs)
			var asked []string
			env := &checks.Env{Mesh: m, Now: now, Probe: func(_ context.Context, tg probe.GatewayTarget) []probe.PortResult {
				var out []probe.PortResult
				for _, p := range tg.Ports {
					asked = append(asked, fmt.Sprintf("%s:%d %s", tg.Address, p.Number, p.Kind))
					pr := probe.PortResult{Port: p, Address: fmt.Sprintf("%s:%d", tg.Address, p.Number), Outcome: probe.OutcomeOK, Detail: "ok"}
					if p.Kind == probe.KindHBONE {
						pr.Outcome, pr.Detail = tc.outcome, string(tc.outcome)
					}
					out = append(out, pr)
				}
				return out
			}}
			var got []checks.Result
			for _, c := range checks.Catalogue() {
				if c.ID == "gateway.reachability" {
					got = c.Cluster(context.Background(), env, m.Cluster("cluster-2"))
				}
			}
			if strings.Join(asked, ", ") != "10.214.2.10:15008 hbone, 10.214.2.10:15021 status" {
				t.Fatalf("probed %q, want 15008 (hbone) and 15021 of cluster-2's istio-east-west Gateway", asked)
			}
			if len(got) != 2 || got[0].Target != "10.214.2.10 port 15008" {
				t.Fatalf("got %+v, want the 15008 and 15021 results", got)
			}
			r := got[0]
			if r.Status != tc.want {
				t.Errorf("15008: %s %q, want %s", r.Status, r.Message, tc.want)
			}
			if r.Status == checks.Fail && (!strings.Contains(r.Remediation, "get svc istio-eastwestgateway") || !strings.Contains(r.Remediation, "--port 15008")) {
				t.Errorf("remediation %q does not show the Service and the 15008 listener", r.Remediation)
			}
		})
	}
}
