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

// dnsCurlExec answers a curl probe as curl in the pod would: one attempt with
// the given HTTP status and exit code, in CurlCommand's output format.
type dnsCurlExec struct{ status, exit int }

func (e dnsCurlExec) Exec(_ context.Context, _ probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	if len(cmd) != 3 || !strings.Contains(cmd[2], ".global:80/") {
		return nil, nil, 0, fmt.Errorf("unexpected command %q", cmd)
	}
	return fmt.Appendf(nil, "@@meshdoctor@@ %03d 0.010 %d\n", e.status, e.exit), nil, 0, nil
}

func TestServiceEntryDNSProbe(t *testing.T) {
	for _, tc := range []struct {
		name, scenario string
		exec           dnsCurlExec
		want           checks.Status
		msg            string
	}{
		{"resolved and answered passes", "admiral-global", dnsCurlExec{200, 0}, checks.Pass, "resolved and answered"},
		{"exit 6 without DNS capture names the capture", "admiral-global-broken", dnsCurlExec{0, 6}, checks.Fail, "DNS capture is off"},
		{"exit 6 with capture on names the DNS proxy's table", "admiral-global", dnsCurlExec{0, 6}, checks.Fail, "the DNS proxy does not know the host"},
		{"a reset after resolving warns, not a DNS failure", "admiral-global", dnsCurlExec{0, 56}, checks.Warn, "resolved, but curl failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			_, invs, _, err := scenario.LoadFake(scenarioDir, tc.scenario, now)
			if err != nil {
				t.Fatal(err)
			}
			m := mesh.Build(invs)
			env := &checks.Env{Mesh: m, Now: now, Probes: checks.ProbeSettings{Exec: tc.exec}}
			var got []checks.Result
			for _, c := range checks.Catalogue() {
				if c.ID == "probes.serviceentry-dns" {
					got = c.Cluster(context.Background(), env, m.Cluster("cluster-1"))
				}
			}
			if len(got) != 1 || got[0].Target != "http://stage.greeting.global:80/" {
				t.Fatalf("want one result for stage.greeting.global, got %+v", got)
			}
			if got[0].Status != tc.want || !strings.Contains(got[0].Message, tc.msg) {
				t.Errorf("got %s %q, want %s containing %q", got[0].Status, got[0].Message, tc.want, tc.msg)
			}
			if got[0].Status == checks.Fail && got[0].Remediation == "" {
				t.Error("failure without a remediation")
			}
		})
	}
}

// silentExec is a probe pod whose curl printed nothing: exit 7, a line on
// stderr, no result marker.
type silentExec struct{}

func (silentExec) Exec(context.Context, probe.PodRef, []string) ([]byte, []byte, int, error) {
	return nil, []byte("sh: curl: not found\n"), 127, nil
}

// TestCurlNoResultSameInBothProbes: probes.cross-cluster and
// probes.serviceentry-dns run and parse curl the same way (one helper), so a
// probe command that prints no result is the same error in both, with the
// command that shows what curl does in that pod.
func TestCurlNoResultSameInBothProbes(t *testing.T) {
	for _, tc := range []struct{ id, scenario, target string }{
		{"probes.cross-cluster", "healthy-multi-primary", ""},
		{"probes.serviceentry-dns", "admiral-global", "http://stage.greeting.global:80/"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			now := time.Now()
			_, invs, _, err := scenario.LoadFake(scenarioDir, tc.scenario, now)
			if err != nil {
				t.Fatal(err)
			}
			m := mesh.Build(invs)
			env := &checks.Env{Mesh: m, Now: now, Probes: checks.ProbeSettings{Exec: silentExec{}}}
			var got []checks.Result
			for _, c := range checks.Catalogue() {
				if c.ID == tc.id {
					got = c.Cluster(context.Background(), env, m.Cluster("cluster-1"))
				}
			}
			if len(got) == 0 {
				t.Fatal("no result")
			}
			for _, r := range got {
				if tc.target != "" && r.Target != tc.target {
					t.Errorf("target %q, want %q", r.Target, tc.target)
				}
				if r.Status != checks.Error || r.Message != "probe command gave no result (exit 127): sh: curl: not found" {
					t.Errorf("got %s %q", r.Status, r.Message)
				}
				if !strings.Contains(r.Remediation, "exec ") || !strings.Contains(r.Remediation, "-- curl -v "+r.Target) {
					t.Errorf("remediation %q does not run curl -v on %s in the probe pod", r.Remediation, r.Target)
				}
				if len(r.Evidence) == 0 || r.Evidence[0].Key != "from" {
					t.Errorf("evidence %v does not say which pod probed", r.Evidence)
				}
			}
		})
	}
}
