package checks_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// recordingExec answers every probe command with "not recorded" and keeps
// the commands, so a test sees which pods ran what.
type recordingExec struct {
	mu   sync.Mutex
	cmds map[string][]string // pod → commands
}

func (r *recordingExec) Exec(_ context.Context, pod probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmds == nil {
		r.cmds = map[string][]string{}
	}
	r.cmds[pod.String()] = append(r.cmds[pod.String()], strings.Join(cmd, " "))
	return nil, nil, 0, checks.ErrNotRecorded
}

// runOnly loads a scenario and runs the checks matching only (and their
// prerequisites) with an exec that records the probes.
func runOnly(t *testing.T, name string, only []string, opts cluster.CollectOptions) ([]checks.Result, *recordingExec, *mesh.Mesh) {
	t.Helper()
	now := time.Now()
	sc, _, _, err := scenario.LoadFake(scenarioDir, name, now)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := scenario.FakeClients(sc, scenario.UnitEnv{Certs: scenario.NewCerts(now)})
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.Build(cluster.CollectAll(context.Background(), clients, opts))
	cat, err := checks.Select(checks.Catalogue(), only, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex := &recordingExec{}
	env := &checks.Env{Mesh: m, Now: now, Probes: checks.ProbeSettings{Exec: ex, Requests: 1, Timeout: time.Second}}
	return (&checks.Runner{Checks: cat}).Run(context.Background(), env, nil), ex, m
}

func resultsOf(rs []checks.Result, id, cl string) []checks.Result {
	var out []checks.Result
	for _, r := range rs {
		if r.CheckID == id && (cl == "" || r.Cluster == cl) {
			out = append(out, r)
		}
	}
	return out
}

// The curl sample (samples/curl, app=curl) replaced samples/sleep: its pods
// are probe clients by default.
func TestCurlSampleIsAProbeClient(t *testing.T) {
	rs, ex, _ := runOnly(t, "gateway-nodeport", []string{"probes.cross-cluster"}, cluster.CollectOptions{})
	for _, cl := range []string{"cluster-1", "cluster-2"} {
		got := resultsOf(rs, "probes.cross-cluster", cl)
		if len(got) == 0 || got[0].Status == checks.Skipped && strings.Contains(got[0].Message, "no probe client") {
			t.Errorf("%s: %+v, want the curl pod used", cl, got)
		}
	}
	if len(ex.cmds["cluster-1/sample/curl-5d8b6c4b8-cluster-1"]) == 0 {
		t.Errorf("no probe ran in the curl pod: %v", ex.cmds)
	}
}

// A probe selector given with --probe-selector is the one the messages name,
// and the hint applies samples/curl.
func TestProbeMessagesNameTheSelectorUsed(t *testing.T) {
	rs, _, _ := runOnly(t, "healthy-multi-primary", []string{"probes.cross-cluster"}, cluster.CollectOptions{ProbeSelector: "app=curl"})
	got := resultsOf(rs, "probes.cross-cluster", "cluster-1")
	if len(got) != 1 || got[0].Status != checks.Skipped {
		t.Fatalf("results %+v, want one skip", got)
	}
	if !strings.Contains(got[0].Message, "app=curl") || strings.Contains(got[0].Message, "app=sleep") {
		t.Errorf("message %q does not name the selector used (app=curl)", got[0].Message)
	}
	if !strings.Contains(got[0].Remediation, "samples/curl/curl.yaml") {
		t.Errorf("remediation %q does not apply samples/curl", got[0].Remediation)
	}
}

// The probe clients' own Services (sleep/curl: port 80, nothing serving)
// exist in every cluster; they are no probe target.
func TestProbeClientServicesAreNoTargets(t *testing.T) {
	for _, name := range []string{"healthy-multi-primary", "gateway-nodeport"} {
		t.Run(name, func(t *testing.T) {
			rs, _, _ := runOnly(t, name, []string{"probes.cross-cluster"}, cluster.CollectOptions{})
			var targets []string
			for _, r := range resultsOf(rs, "probes.cross-cluster", "cluster-1") {
				targets = append(targets, r.Target)
			}
			if !slices.Contains(targets, "http://helloworld.sample.svc.cluster.local:5000/hello") {
				t.Errorf("targets %v: helloworld missing", targets)
			}
			for _, tg := range targets {
				if strings.Contains(tg, "sleep.") || strings.Contains(tg, "curl.") {
					t.Errorf("targets %v: the probe client's own Service is a target", targets)
				}
			}
		})
	}
}

// A gateway installed by the istio/gateway chart under its own name and
// namespace is found and checked.
func TestGatewayUnderAnotherNameIsChecked(t *testing.T) {
	rs, _, _ := runOnly(t, "gateway-helm-pod-network", []string{"gateway.*", "network.gateway-label"}, cluster.CollectOptions{})
	for _, id := range []string{"gateway.address", "gateway.ports", "gateway.cross-network", "network.gateway-label"} {
		got := resultsOf(rs, id, "cluster-2")
		if len(got) == 0 {
			t.Errorf("%s: no result", id)
			continue
		}
		for _, r := range got {
			if r.Status == checks.Skipped {
				t.Errorf("%s skipped: %s", id, r.Message)
			}
		}
	}
	got := resultsOf(rs, "network.gateway-label", "cluster-2")
	if len(got) == 0 || got[len(got)-1].Status != checks.Fail || !strings.Contains(got[len(got)-1].Message, "eastwest-7d9c5b6f4-abcde=network1") {
		t.Errorf("network.gateway-label = %+v, want a failure naming the pod in istio-gateways", got)
	}
}

// A LoadBalancer hostname passes gateway.address: istiod resolves it.
func TestGatewayHostnamePasses(t *testing.T) {
	rs, _, _ := runOnly(t, "gateway-hostname", []string{"gateway.address"}, cluster.CollectOptions{})
	got := resultsOf(rs, "gateway.address", "cluster-2")
	if len(got) != 1 || got[0].Status != checks.Pass || !strings.Contains(got[0].Message, "istiod resolves") {
		t.Errorf("gateway.address = %+v, want a pass saying istiod resolves the hostname", got)
	}
}
