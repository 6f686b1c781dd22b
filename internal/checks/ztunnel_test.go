package checks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// ztunnelAdmin answers GET /config_dump on port 15000 of each cluster's
// ztunnel pod with that cluster's dump, as ztunnel's admin listener does
// (istioctl ztunnel-config reads the same path); err fails every Get.
type ztunnelAdmin struct {
	dumps map[string][]byte // by kube context
	err   error
	got   []string // "context namespace/name:port path" of every Get
}

func (z *ztunnelAdmin) Get(_ context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	z.got = append(z.got, fmt.Sprintf("%s %s/%s:%d %s", pod.Context, pod.Namespace, pod.Name, pod.Port, path))
	if z.err != nil {
		return nil, z.err
	}
	if pod.Port != 15000 || path != "/config_dump" || !strings.HasPrefix(pod.Name, "ztunnel-") {
		return nil, fmt.Errorf("unexpected GET %s on %s", path, pod)
	}
	b, ok := z.dumps[pod.Context]
	if !ok {
		return nil, fmt.Errorf("no ztunnel in %s", pod.Context)
	}
	return b, nil
}

func ztunnelDump(t *testing.T, cluster string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ztunnel", "install-amb-mn-"+cluster+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withZtunnelPods adds to each ambient cluster the pod its ztunnel
// DaemonSet runs in istio-system (the scenarios' status writer makes pods
// for Deployments only): labels as manifests/charts/ztunnel's template
// (app: ztunnel), Running.
func withZtunnelPods(m *mesh.Mesh) {
	for _, c := range m.Clusters {
		if !c.DataPlane().Ambient() {
			continue
		}
		c.Inv.Pods = append(c.Inv.Pods, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ztunnel-" + c.Name[len(c.Name)-1:] + "x7k2p", Namespace: "istio-system",
				Labels: map[string]string{"app": "ztunnel", "app.kubernetes.io/name": "ztunnel"}},
			Spec:   corev1.PodSpec{NodeName: c.Name + "-node", Containers: []corev1.Container{{Name: "istio-proxy"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		})
	}
}

func ztunnelTable(t *testing.T, scen string, admin envoyadmin.Fetcher, pods bool, cl string) []checks.Result {
	t.Helper()
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, scen, now)
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.Build(invs)
	if pods {
		withZtunnelPods(m)
	}
	env := &checks.Env{Mesh: m, Now: now, Admin: admin}
	for _, c := range checks.Catalogue() {
		if c.ID == "endpoints.ztunnel-table" {
			return c.Cluster(context.Background(), env, m.Cluster(cl))
		}
	}
	t.Fatal("endpoints.ztunnel-table is not in the catalogue")
	return nil
}

const (
	helloHost = "helloworld.sample.svc.cluster.local"
	// the coalesced workload cluster-1's ztunnel holds for network2
	splitUID = "network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/10.214.2.10/sample/helloworld.sample.svc.cluster.local"
)

func TestZtunnelTable(t *testing.T) {
	healthy := ztunnelDump(t, "cluster-1")
	// edit changes the dump as decoded JSON.
	edit := func(f func(workloads, endpoints map[string]any)) []byte {
		var d map[string]any
		if err := json.Unmarshal(healthy, &d); err != nil {
			t.Fatal(err)
		}
		svc := d["services"].(map[string]any)["sample/"+helloHost].(map[string]any)
		f(d["workloads"].(map[string]any), svc["endpoints"].(map[string]any))
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// remove drops the coalesced workload and its endpoint: istiod found
	// no gateway for network2, or does not share the service.
	remove := edit(func(w, ep map[string]any) {
		delete(w, splitUID)
		delete(ep, splitUID+":")
	})
	// podIPs is an istiod that sends network2's pod by its IP without a
	// networkGateway (what a missing network label or an istiod without
	// AMBIENT_ENABLE_MULTI_NETWORK gives).
	podIPs := edit(func(w, _ map[string]any) {
		sh := w[splitUID].(map[string]any)
		delete(sh, "networkGateway")
		sh["workloadIps"] = []string{"10.214.102.12"}
	})
	for _, tc := range []struct {
		name    string
		dump    []byte
		err     error
		noPods  bool
		scen    string
		status  checks.Status
		message string
	}{
		{name: "the rendered ambient install's ztunnel holds its pod and network2 through its gateway", dump: healthy, status: checks.Pass, message: "10.214.101.12, via network2/10.214.2.10 capacity 1"},
		{name: "no workload for network2 is the gateway endpoint missing", dump: remove, status: checks.Fail, message: "missing 10.214.2.10"},
		{name: "network2's pod IP without a networkGateway is a remote pod IP", dump: podIPs, status: checks.Fail, message: "remote-pod-ip 10.214.102.12"},
		{name: "a ztunnel that cannot be read warns with the reason", err: errors.New("port-forward to istio-system/ztunnel-1x7k2p:15000: connection refused"), status: checks.Warn, message: "connection refused"},
		{name: "a dump that is no JSON warns", dump: []byte("<html>"), status: checks.Warn, message: "not with a config dump"},
		{name: "no ztunnel pod listed skips with the reason", noPods: true, status: checks.Skipped, message: "no running ztunnel pod"},
		{name: "a sidecar cluster is skipped", scen: "healthy-multi-primary", status: checks.Skipped, message: "sidecar data plane"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := &ztunnelAdmin{dumps: map[string][]byte{"cluster-1": tc.dump}, err: tc.err}
			got := ztunnelTable(t, cmpOr(tc.scen, "install-amb-mn"), admin, !tc.noPods, "cluster-1")
			if len(got) != 1 {
				t.Fatalf("want one result, got %+v", got)
			}
			r := got[0]
			t.Logf("%s %s | %s | %v", r.Status, r.Message, r.Remediation, r.Evidence)
			if r.Status != tc.status || !strings.Contains(r.Message, tc.message) {
				t.Fatalf("got %s %q, want %s containing %q", r.Status, r.Message, tc.status, tc.message)
			}
			if tc.dump != nil && (len(admin.got) != 1 || admin.got[0] != "cluster-1 istio-system/ztunnel-1x7k2p:15000 /config_dump") {
				t.Errorf("reads %q, want one GET /config_dump on the ztunnel's port 15000", admin.got)
			}
			if r.Status == checks.Pass || r.Status == checks.Fail {
				if r.Target != helloHost {
					t.Errorf("target %q, want %s", r.Target, helloHost)
				}
			}
			if r.Status == checks.Fail || r.Status == checks.Warn {
				if !strings.Contains(r.Remediation, "istioctl --context cluster-1 ztunnel-config") && !strings.Contains(r.Remediation, "auth can-i") {
					t.Errorf("remediation %q is no command that confirms it", r.Remediation)
				}
			}
		})
	}
}

// TestZtunnelTableLeavesScopeDisagreementToGlobalServices: with
// istio.io/global removed in one cluster (install-amb-mn-global-one-side)
// neither ztunnel's view can be told, since istiod coalesces only a service
// whose merged scope is global; ambient.global-services fails it, and the
// table check skips in both clusters rather than guess.
func TestZtunnelTableLeavesScopeDisagreementToGlobalServices(t *testing.T) {
	admin := &ztunnelAdmin{dumps: map[string][]byte{"cluster-1": ztunnelDump(t, "cluster-1"), "cluster-2": ztunnelDump(t, "cluster-2")}}
	for _, cl := range []string{"cluster-1", "cluster-2"} {
		got := ztunnelTable(t, "install-amb-mn-global-one-side", admin, true, cl)
		if len(got) != 1 || got[0].Status != checks.Skipped || !strings.Contains(got[0].Message, "shared globally") {
			t.Errorf("%s: %+v, want one skip", cl, got)
		}
	}
}

// TestZtunnelTableHealthyInstall: both clusters of the rendered ambient
// multi-network install pass with their ztunnels' dumps.
func TestZtunnelTableHealthyInstall(t *testing.T) {
	admin := &ztunnelAdmin{dumps: map[string][]byte{"cluster-1": ztunnelDump(t, "cluster-1"), "cluster-2": ztunnelDump(t, "cluster-2")}}
	for _, cl := range []string{"cluster-1", "cluster-2"} {
		for _, r := range ztunnelTable(t, "install-amb-mn", admin, true, cl) {
			if r.Status != checks.Pass {
				t.Errorf("%s: %s %s", cl, r.Status, r.Message)
			}
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// replayAdmin is ztunnelAdmin, with every other admin path unrecorded (as
// a snapshot without it answers): those checks skip.
type replayAdmin struct{ *ztunnelAdmin }

func (r replayAdmin) Get(ctx context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	if !strings.HasPrefix(pod.Name, "ztunnel-") {
		return nil, checks.ErrNotRecorded
	}
	return r.ztunnelAdmin.Get(ctx, pod, path)
}

// TestInstallAmbientWithNetworkChecks: the rendered healthy ambient
// multi-network install, with the network checks on (the install matrix
// runs --no-network): each ztunnel's dump and a gateway that answers every
// probed port give no failure and no error, and the new checks pass.
func TestInstallAmbientWithNetworkChecks(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "install-amb-mn", now)
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.Build(invs)
	withZtunnelPods(m)
	admin := replayAdmin{&ztunnelAdmin{dumps: map[string][]byte{"cluster-1": ztunnelDump(t, "cluster-1"), "cluster-2": ztunnelDump(t, "cluster-2")}}}
	env := &checks.Env{Mesh: m, Now: now, Admin: admin, Probe: func(_ context.Context, tg probe.GatewayTarget) []probe.PortResult {
		var out []probe.PortResult
		for _, p := range tg.Ports {
			out = append(out, probe.PortResult{Port: p, Address: fmt.Sprintf("%s:%d", tg.Address, p.Number), Outcome: probe.OutcomeOK, Detail: "ok"})
		}
		return out
	}}
	res := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), env, nil)
	passes := map[string]int{}
	for _, r := range res {
		if r.Status == checks.Fail || r.Status == checks.Error {
			t.Errorf("%s %s: %s", r.Status, scenario.Key(r), r.Message)
		}
		if r.Status == checks.Pass {
			passes[r.CheckID]++
		}
	}
	n := map[checks.Status]int{}
	for _, r := range res {
		n[r.Status]++
	}
	t.Logf("%d pass, %d warn, %d fail, %d error, %d skipped results", n[checks.Pass], n[checks.Warn], n[checks.Fail], n[checks.Error], n[checks.Skipped])
	if passes["endpoints.ztunnel-table"] != 2 || passes["gateway.reachability"] != 4 {
		t.Errorf("passes of endpoints.ztunnel-table %d (want 2, one per cluster), gateway.reachability %d (want 4: 15008 and 15021 of two gateways)",
			passes["endpoints.ztunnel-table"], passes["gateway.reachability"])
	}
}
