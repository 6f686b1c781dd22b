package checks_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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

// ServiceEntries that send to a gateway follow the gateways' ports: a
// NodePort gateway is reached on its nodePort, not on 15443.
func TestServiceEntryFollowsGatewayPorts(t *testing.T) {
	cases := []struct {
		name, addr string
		port       uint32
		status     checks.Status
		msg        string
	}{
		{"the NodePort gateway on its nodePort", "203.0.113.7", 31001, checks.Pass, "gateway"},
		{"the NodePort gateway's address on 15443", "203.0.113.7", 15443, checks.Fail, "31001"},
		{"a stale address on the nodePort", "198.51.100.99", 31001, checks.Fail, "no cluster's east-west gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			_, invs, _, err := scenario.LoadFake(scenarioDir, "gateway-nodeport", now)
			if err != nil {
				t.Fatal(err)
			}
			se := &istionet.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "reviews-cluster-2"}}
			se.Spec.Hosts = []string{"reviews.sample.global"}
			se.Spec.Endpoints = []*networkingv1alpha3.WorkloadEntry{{Address: tc.addr, Ports: map[string]uint32{"http": tc.port}}}
			invs[0].ServiceEntries = append(invs[0].ServiceEntries, se)
			cat, err := checks.Select(checks.Catalogue(), []string{"config.serviceentry-gateway"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rs := (&checks.Runner{Checks: cat}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
			got := resultsOf(rs, "config.serviceentry-gateway", "")
			if len(got) != 1 || got[0].Status != tc.status || !strings.Contains(got[0].Message, tc.msg) {
				t.Errorf("results %+v, want one %s containing %q", got, tc.status, tc.msg)
			}
		})
	}
}

// A forbidden node or gateway-pod list is an error (or a skip) for the
// checks that need it, never a failure, and leaves the others alone.
func TestForbiddenNodesAndGatewayPods(t *testing.T) {
	now := time.Now()
	certs := scenario.NewCerts(now)
	sc, err := scenario.Load(scenarioDir, "gateway-nodeport", scenario.UnitEnv{Certs: certs}, certs)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := scenario.FakeClients(sc, scenario.UnitEnv{Certs: certs})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		fk := c.Kube.(*kubefake.Clientset)
		fk.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no RBAC"))
		})
		fk.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.(k8stesting.ListAction).GetListRestrictions().Labels.String() != cluster.GatewayPodSelector {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no RBAC"))
		})
	}
	m := mesh.Build(cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{}))
	cat, err := checks.Select(checks.Catalogue(), []string{"gateway.address", "network.gateway-label"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := (&checks.Runner{Checks: cat}).Run(context.Background(), &checks.Env{Mesh: m, Now: now, NoNetwork: true}, nil)
	if got := resultsOf(rs, "gateway.address", "cluster-2"); len(got) != 1 || got[0].Status != checks.Error || !strings.Contains(got[0].Message, "forbidden") {
		t.Errorf("gateway.address@cluster-2 (NodePort) = %+v, want an error saying nodes are forbidden", got)
	}
	if got := resultsOf(rs, "gateway.address", "cluster-1"); len(got) != 1 || got[0].Status != checks.Pass {
		t.Errorf("gateway.address@cluster-1 (LoadBalancer) = %+v, want a pass", got)
	}
	for _, cl := range []string{"cluster-1", "cluster-2"} {
		if got := resultsOf(rs, "network.gateway-label", cl); len(got) != 1 || got[0].Status != checks.Skipped || !strings.Contains(got[0].Message, "forbidden") {
			t.Errorf("network.gateway-label@%s = %+v, want a skip saying the pods could not be read", cl, got)
		}
	}
}

// A network may have several gateways: each is checked and named.
func TestSeveralGatewaysPerNetwork(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", now)
	if err != nil {
		t.Fatal(err)
	}
	second := *invs[1].Service("istio-system", "istio-eastwestgateway").DeepCopy()
	second.Namespace, second.Name = "istio-gateways", "eastwest"
	second.Status.LoadBalancer.Ingress = nil
	invs[1].Services = append(invs[1].Services, second)
	cat, err := checks.Select(checks.Catalogue(), []string{"gateway.address", "network.gateway-per-network"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := (&checks.Runner{Checks: cat}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
	got := map[string]checks.Status{}
	for _, r := range resultsOf(rs, "gateway.address", "cluster-2") {
		got[r.Target] = r.Status
	}
	if len(got) != 2 || got["istio-system/istio-eastwestgateway"] != checks.Pass || got["istio-gateways/eastwest"] != checks.Fail {
		t.Errorf("gateway.address@cluster-2 = %v, want the first gateway passing and the pending one failing, each named", got)
	}
	for _, r := range resultsOf(rs, "network.gateway-per-network", "") {
		if r.Target == "network2" && (r.Status != checks.Pass || !strings.Contains(r.Message, "istio-gateways/eastwest")) {
			t.Errorf("network2: %s %s, want a pass naming both gateways", r.Status, r.Message)
		}
	}
}

// A cluster where a service has no ready endpoint is not expected to
// answer for it.
func TestClusterWithoutReadyEndpointsIsNotExpected(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range invs[1].EndpointSlices {
		es := &invs[1].EndpointSlices[i]
		if es.Name == "helloworld-cluster-2" {
			for j := range es.Endpoints {
				es.Endpoints[j].Conditions.Ready = cluster.ConditionFalse
			}
		}
	}
	cat, err := checks.Select(checks.Catalogue(), []string{"probes.cross-cluster"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex := &curlExec{}
	env := &checks.Env{Mesh: mesh.Build(invs), Now: now, Probes: checks.ProbeSettings{Exec: ex, Requests: 1, Timeout: time.Second}}
	rs := (&checks.Runner{Checks: cat}).Run(context.Background(), env, nil)
	got := resultsOf(rs, "probes.cross-cluster", "cluster-1")
	if len(got) != 1 || got[0].Status != checks.Pass {
		t.Fatalf("probes.cross-cluster@cluster-1 = %+v, want one pass: helloworld serves only in cluster-1, which answered", got)
	}
	for _, e := range got[0].Evidence {
		if e.Key == "serves in" && e.Value != "cluster-1" {
			t.Errorf("serves in %q, want cluster-1", e.Value)
		}
	}
}

// curlExec answers every curl probe with one 200 from a local pod.
type curlExec struct{}

func (curlExec) Exec(_ context.Context, pod probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	return []byte(curlOK(pod.Context)), nil, 0, nil
}

// curlOK is CurlCommand's output for one 200 answered by cluster's
// helloworld pod (the fixture's pod name).
const curlMarker = "@@meshdoctor@@" // probe.CurlCommand's result marker

func curlOK(cluster string) string {
	return "HTTP/1.1 200 OK\n\nHello version: v1, instance: helloworld-" + cluster + "-7d9c5b6f4-x1\n" + curlMarker + " 200 0.005 0\n"
}
