package ui

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// fakeSource is the test double for the runner: every Start hands the test
// the channel the UI reads, so the test replays events at its own pace.
type fakeSource struct {
	mu    sync.Mutex
	calls [][]string
	runs  chan chan<- checks.Event
}

func newFakeSource() *fakeSource { return &fakeSource{runs: make(chan chan<- checks.Event, 4)} }

func (f *fakeSource) Start(_ context.Context, only []string) <-chan checks.Event {
	ch := make(chan checks.Event)
	f.mu.Lock()
	f.calls = append(f.calls, only)
	f.mu.Unlock()
	f.runs <- ch
	return ch
}

func (f *fakeSource) started(t testing.TB) chan<- checks.Event {
	t.Helper()
	select {
	case ch := <-f.runs:
		return ch
	case <-time.After(time.Minute): // a deadlock guard, not a timing claim: generous for a busy machine
		t.Fatal("the UI did not start a run")
		return nil
	}
}

func (f *fakeSource) startCalls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

var testHeader = Header{
	Contexts: []string{"cluster-1", "cluster-2"},
	Topology: "multi-primary, multi-network",
	Networks: []string{"network1", "network2"},
	Source:   "live",
}

// testCatalogue is a small catalogue shaped like the real one.
func testCatalogue() []checks.Check {
	c := func(id, title string, scope checks.Scope, deps ...string) checks.Check {
		return checks.Check{ID: id, Title: title, Scope: scope, DependsOn: deps}
	}
	return []checks.Check{
		c("contexts.reachable", "each context's API server answers", checks.PerCluster),
		c("controlplane.istiod-ready", "istiod is present and ready", checks.PerCluster, "contexts.reachable"),
		c("controlplane.mesh-id", "meshID is equal everywhere", checks.Mesh, "controlplane.istiod-ready"),
		c("trust.cacerts-valid", "cacerts secret holds a valid CA chain", checks.PerCluster, "contexts.reachable"),
		c("trust.root-match", "all clusters share one root CA", checks.Mesh, "trust.cacerts-valid"),
		c("trust.istiod-uses-cacerts", "istiod serves the plugged-in root", checks.PerCluster, "trust.cacerts-valid"),
		c("network.namespace-label", "istio-system carries topology.istio.io/network", checks.PerCluster),
		c("network.gateway-label", "east-west gateway is on the cluster's network", checks.PerCluster, "network.namespace-label"),
		c("gateway.external-address", "east-west gateway has an external address", checks.PerCluster),
		c("gateway.ports", "east-west gateway exposes 15443, 15012, 15017, 15021", checks.PerCluster, "gateway.external-address"),
		c("gateway.reachable", "remote gateways answer on 15443", checks.Pair, "gateway.ports"),
		c("secrets.present", "a remote secret for every other cluster", checks.PerCluster),
	}
}

// cacertsNote is the prose that goes with cacertsFix: shown, never copied.
const cacertsNote = "run it where cluster-2's intermediate CA files are, issued from the mesh's root"

const cacertsFix = "kubectl --context cluster-2 -n istio-system create secret generic cacerts --from-file=ca-cert.pem --from-file=ca-key.pem --from-file=root-cert.pem --from-file=cert-chain.pem"

// testResults are the results of the scenario: cluster-2's cacerts does
// not chain to the root, and its gateway has no external address yet.
func testResults() map[string][]checks.Result {
	ms := 40 * time.Millisecond
	pass := func(id, cl, msg string, ev ...checks.Evidence) checks.Result {
		return checks.Result{CheckID: id, Status: checks.Pass, Cluster: cl, Message: msg, Evidence: ev, Duration: ms}
	}
	both := func(id, msg string) []checks.Result {
		return []checks.Result{pass(id, "cluster-1", msg), pass(id, "cluster-2", msg)}
	}
	return map[string][]checks.Result{
		"contexts.reachable": {
			pass("contexts.reachable", "cluster-1", "API server answers (v1.33.2)", checks.Ev("server", "https://10.0.1.1:6443")),
			pass("contexts.reachable", "cluster-2", "API server answers (v1.33.2)", checks.Ev("server", "https://10.0.2.1:6443")),
		},
		"controlplane.istiod-ready": both("controlplane.istiod-ready", "istiod 1.27.1 ready (1/1)"),
		"controlplane.mesh-id":      {pass("controlplane.mesh-id", "", "meshID mesh1 everywhere")},
		"trust.cacerts-valid": {
			pass("trust.cacerts-valid", "cluster-1", "ca-cert.pem chains to root-cert.pem"),
			{CheckID: "trust.cacerts-valid", Status: checks.Fail, Cluster: "cluster-2", Duration: 120 * time.Millisecond,
				Message: "ca-cert.pem does not chain to root-cert.pem",
				Evidence: []checks.Evidence{
					checks.Ev("secret", "istio-system/cacerts"),
					checks.Ev("ca-cert issuer", "CN=Intermediate CA,O=cluster-2"),
					checks.Ev("root subject", "CN=Root CA,O=Istio"),
					checks.Ev("root sha256", "3f:a1:09:7c:22:be:51:0e:9d:44:c8:7a:01:6b:f2:93"),
				},
				Remediation: cacertsFix, Note: cacertsNote},
		},
		"trust.root-match": {{CheckID: "trust.root-match", Status: checks.Skipped, Duration: ms,
			Message: "prerequisite trust.cacerts-valid fail for cluster-2"}},
		"trust.istiod-uses-cacerts": {
			pass("trust.istiod-uses-cacerts", "cluster-1", "istio-ca-root-cert matches cacerts root"),
			{CheckID: "trust.istiod-uses-cacerts", Status: checks.Skipped, Cluster: "cluster-2", Duration: ms,
				Message: "prerequisite trust.cacerts-valid fail for cluster-2"},
		},
		"network.namespace-label": {
			pass("network.namespace-label", "cluster-1", "istio-system is on network1", checks.Ev("label", "topology.istio.io/network=network1")),
			pass("network.namespace-label", "cluster-2", "istio-system is on network2", checks.Ev("label", "topology.istio.io/network=network2")),
		},
		"network.gateway-label": both("network.gateway-label", "istio-eastwestgateway is on the namespace's network"),
		"gateway.external-address": {
			pass("gateway.external-address", "cluster-1", "LoadBalancer ingress 172.18.0.10"),
			{CheckID: "gateway.external-address", Status: checks.Warn, Cluster: "cluster-2", Duration: ms,
				Message:     "LoadBalancer has no ingress address yet",
				Evidence:    []checks.Evidence{checks.Ev("service", "istio-system/istio-eastwestgateway"), checks.Ev("type", "LoadBalancer")},
				Remediation: "kubectl --context cluster-2 -n istio-system get svc istio-eastwestgateway -o wide"},
		},
		"gateway.ports": both("gateway.ports", "ports 15443, 15012, 15017, 15021 exposed"),
		"gateway.reachable": {
			{CheckID: "gateway.reachable", Status: checks.Pass, Cluster: "cluster-1", Peer: "cluster-2", Target: ":15443", Message: "TLS handshake ok", Duration: ms},
			{CheckID: "gateway.reachable", Status: checks.Error, Cluster: "cluster-2", Peer: "cluster-1", Target: ":15443", Message: "dial timeout after 5s", Duration: ms},
		},
		"secrets.present": both("secrets.present", "istio-remote-secret for the other cluster present"),
	}
}

// testEvents is the whole run: each check started then finished, two at a
// time, in catalogue order.
func testEvents() []checks.Event {
	cat := testCatalogue()
	res := testResults()
	var evs []checks.Event
	for i := 0; i < len(cat); i += 2 {
		for j := i; j < min(i+2, len(cat)); j++ {
			evs = append(evs, checks.Event{Kind: checks.CheckStarted, Check: &cat[j]})
		}
		for j := i; j < min(i+2, len(cat)); j++ {
			evs = append(evs, checks.Event{Kind: checks.CheckFinished, Check: &cat[j], Results: res[cat[j].ID]})
		}
	}
	return evs
}

// bigCatalogue has n checks over seven areas with dependency chains, for
// the benchmark.
func bigCatalogue(n int) []checks.Check {
	areas := []string{"contexts", "controlplane", "trust", "network", "gateway", "secrets", "config"}
	var cs []checks.Check
	for i := range n {
		c := checks.Check{
			ID:    fmt.Sprintf("%s.check-%02d", areas[i%len(areas)], i),
			Title: fmt.Sprintf("check number %d of the benchmark catalogue", i),
			Scope: checks.PerCluster,
		}
		if i >= len(areas) {
			c.DependsOn = []string{cs[i-len(areas)].ID}
		}
		cs = append(cs, c)
	}
	return cs
}
