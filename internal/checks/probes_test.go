package checks

import (
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

func TestJudgeCurl(t *testing.T) {
	c := &mesh.Cluster{Name: "east", Inv: &cluster.Inventory{Context: "east"}}
	tg := target{url: "http://helloworld.sample.svc.cluster.local:5000/hello", service: "sample/helloworld", clusters: []string{"east", "west"}}
	owners := map[string]string{"helloworld-v1-a": "east", "helloworld-v2-b": "west"}
	ok := func(who string) probe.CurlAttempt {
		return probe.CurlAttempt{Status: 200, Time: 5 * time.Millisecond, Responder: who}
	}
	cases := []struct {
		name     string
		attempts []probe.CurlAttempt
		status   Status
		msg      string
	}{
		{"answered by both clusters", []probe.CurlAttempt{ok("helloworld-v1-a"), ok("helloworld-v2-b"), ok("helloworld-v2-b")}, Pass, "east=1, west=2"},
		{"only the local cluster answers", []probe.CurlAttempt{ok("helloworld-v1-a"), ok("helloworld-v1-a")}, Fail, "no cross-cluster traffic"},
		{"timeouts", []probe.CurlAttempt{ok("helloworld-v1-a"), {Exit: 28}}, Fail, "1× timed out"},
		{"503 from the remote", []probe.CurlAttempt{{Status: 503, Responder: "helloworld-v2-b"}}, Fail, "HTTP 503"},
		{"DNS", []probe.CurlAttempt{{Exit: 6}}, Fail, "could not resolve host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := judgeCurl(c, probe.PodRef{Context: "east", Namespace: "sample", Name: "curl-1", Container: "curl"}, tg, tc.attempts, owners, Result{})
			if r.Status != tc.status || !strings.Contains(r.Message, tc.msg) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Message, tc.status, tc.msg)
			}
			if r.Status == Fail && r.Remediation == "" {
				t.Error("failure without remediation")
			}
		})
	}
}
