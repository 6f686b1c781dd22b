package e2e

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

func configDump(t *testing.T, eps []testenv.EDSEndpoint) []byte {
	t.Helper()
	b, err := testenv.ConfigDump(map[string][]testenv.EDSEndpoint{"outbound|5000||helloworld.sample.svc.cluster.local": eps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func adminServer(t *testing.T, paths map[string]string) string {
	t.Helper()
	addr, stop, err := testenv.AdminServer(paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// bind places a pod on a node the way the scheduler does.
func bind(t *testing.T, c *testenv.Cluster, ns, pod, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.BindPod(ctx, ns, pod, node); err != nil {
		t.Fatal(err)
	}
}

// testEndpointTables: meshdoctor reads each sidecar's Envoy endpoints and
// istiod's debug view through real port-forwards (API server -> kubelet
// stand-in), and diffs them against what the scenario says should be there.
// cluster-1's sidecar is right; cluster-2's has cluster-1's pod IP instead
// of cluster-1's gateway (network labels broken), and cluster-2's istiod
// lost its watch of cluster-1.
func testEndpointTables(t *testing.T, e *testenv.Env, bin, dir string) {
	applyWith(t, e, dir, "healthy-multi-primary", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clusterz := map[string]string{
		"cluster-1": `[{"id":"cluster-1","secretName":"","syncStatus":"synced"},{"id":"cluster-2","secretName":"istio-system/istio-remote-secret-cluster-2","syncStatus":"synced"}]`,
		"cluster-2": `[{"id":"cluster-2","secretName":"","syncStatus":"synced"},{"id":"cluster-1","secretName":"istio-system/istio-remote-secret-cluster-1","syncStatus":"timeout"}]`,
	}
	networkz := `[{"Network":"network1","Cluster":"cluster-1","Addr":"10.214.1.10","Port":15443},{"Network":"network2","Cluster":"cluster-2","Addr":"10.214.2.10","Port":15443}]`
	dumps := map[string][]testenv.EDSEndpoint{
		"cluster-1": {{Addr: "10.214.101.5", Port: 5000, Weight: 1, Workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}, {Addr: "10.214.2.10", Port: 15443, Weight: 1, Workload: ";;;;cluster-2"}},
		"cluster-2": {{Addr: "10.214.102.5", Port: 5000, Weight: 1, Workload: "helloworld-v2;sample;helloworld;v2;cluster-2"}, {Addr: "10.214.101.5", Port: 5000, Weight: 1, Workload: "helloworld-v1;sample;helloworld;v1;cluster-1"}},
	}
	for _, name := range []string{"cluster-1", "cluster-2"} {
		node := "node-" + name
		k, err := e.AddNode(ctx, name, node)
		if err != nil {
			t.Fatal(err)
		}
		c := e.Cluster(name)
		sleep, istiod := "sleep-5d8b6c4b8-"+name, "istiod-6b7c8d9f5-"+name
		bind(t, c, "sample", sleep, node)
		bind(t, c, "istio-system", istiod, node)
		k.Forward("sample", sleep, 15000, adminServer(t, map[string]string{
			"/config_dump": string(configDump(t, dumps[name])), "/clusters": `{"cluster_statuses":[]}`}))
		k.Forward("istio-system", istiod, 15014, adminServer(t, map[string]string{
			"/debug/clusterz": clusterz[name], "/debug/networkz": networkz}))
	}
	res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "endpoints.*", "--timeout", "10s")
	got := map[string]checks.Result{}
	for _, r := range res.doc.Results {
		if strings.HasPrefix(r.CheckID, "endpoints.") {
			got[scenario.Key(r)] = r
		}
	}
	want := []struct {
		key    string
		status checks.Status
		msg    string
	}{
		{"endpoints.proxy-table@cluster-1", checks.Pass, "as expected"},
		{"endpoints.proxy-table@cluster-2", checks.Fail, "remote-pod-ip 10.214.101.5:5000"},
		{"endpoints.istiod-sync@cluster-1", checks.Pass, "synced"},
		{"endpoints.istiod-sync@cluster-2", checks.Fail, "timeout"},
		{"endpoints.istiod-networks@cluster-1", checks.Pass, "all 2 network gateways"},
	}
	for _, w := range want {
		r, ok := got[w.key]
		if !ok {
			t.Errorf("no %s result; have %v", w.key, got)
			continue
		}
		if r.Status != w.status || !strings.Contains(r.Message, w.msg) {
			t.Errorf("%s = %s %q, want %s containing %q", w.key, r.Status, r.Message, w.status, w.msg)
		}
	}
	if r := got["endpoints.proxy-table@cluster-2"]; !strings.Contains(r.Message, "missing 10.214.1.10:15443") {
		t.Errorf("cluster-2's table lacks cluster-1's gateway, yet the diff does not say so: %s", r.Message)
	}
}

// readOnlyRules are meshdoctor's reads, spelled out so that no wildcard
// grants get on a subresource (a websocket port-forward is authorised by get).
func readOnlyRules(extra ...rbacv1.PolicyRule) []rbacv1.PolicyRule {
	return append([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods", "services", "configmaps", "secrets"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"gateways", "serviceentries", "destinationrules", "virtualservices"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"peerauthentications", "authorizationpolicies"}, Verbs: []string{"get", "list"}},
	}, extra...)
}

// identity makes a user with exactly these cluster-wide rules in cluster-1
// and cluster-2 and returns its kubeconfig.
func identity(t *testing.T, e *testenv.Env, user string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{"cluster-1", "cluster-2"} {
		c := e.Cluster(name)
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules}
		if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.BindClusterRole(ctx, user, user); err != nil {
		t.Fatal(err)
	}
	kc, err := e.UserKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// testAdminFallback: an identity that may exec but not port-forward reads
// the Envoy table with `pilot-agent request` in the istio-proxy container,
// and the result says so; one that may do neither gets an error naming
// both permissions, not a pass.
func testAdminFallback(t *testing.T, e *testenv.Env, bin, dir string) {
	applyWith(t, e, dir, "healthy-multi-primary", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dump := string(configDump(t, []testenv.EDSEndpoint{
		{Addr: "10.214.101.5", Port: 5000, Weight: 1, Workload: "helloworld-v1;sample;helloworld;v1;cluster-1"},
		{Addr: "10.214.2.10", Port: 15443, Weight: 1, Workload: ";;;;cluster-2"}}))
	var asked []string
	k, err := e.AddNode(ctx, "cluster-1", "fallback-node")
	if err != nil {
		t.Fatal(err)
	}
	// The sidecar's pilot-agent, answering `pilot-agent request GET <path>`.
	k.SetExec(func(_ context.Context, _, _, container string, cmd []string, _ io.Reader, stdout, _ io.Writer) error {
		asked = append(asked, container+": "+strings.Join(cmd, " "))
		if len(cmd) < 4 || cmd[0] != "pilot-agent" || cmd[1] != "request" {
			return fmt.Errorf("not pilot-agent: %v", cmd)
		}
		switch strings.SplitN(strings.TrimPrefix(cmd[3], "/"), "?", 2)[0] {
		case "config_dump":
			_, err := io.WriteString(stdout, dump)
			return err
		case "clusters":
			_, err := io.WriteString(stdout, `{"cluster_statuses":[]}`)
			return err
		}
		return fmt.Errorf("unknown path %s", cmd[3])
	})
	bind(t, e.Cluster("cluster-1"), "sample", "sleep-5d8b6c4b8-cluster-1", "fallback-node")

	execOnly := identity(t, e, "meshdoctor-exec-only", readOnlyRules(
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create", "get"}}))
	res := run(t, bin, execOnly, "--context", "cluster-1,cluster-2", "--only", "endpoints.proxy-table")
	var r *checks.Result
	for i := range res.doc.Results {
		if res.doc.Results[i].CheckID == "endpoints.proxy-table" && res.doc.Results[i].Cluster == "cluster-1" {
			r = &res.doc.Results[i]
		}
	}
	if r == nil {
		t.Fatal("no endpoints.proxy-table result")
	}
	via := ""
	for _, ev := range r.Evidence {
		if ev.Key == "read via" {
			via = ev.Value
		}
	}
	if r.Status == checks.Error || !strings.HasPrefix(via, "exec pilot-agent request (port-forward refused") {
		t.Errorf("exec-only identity: %s %q, read via %q; want the table read through exec, saying so; evidence %v; asked %v", r.Status, r.Message, via, r.Evidence, asked)
	}
	if len(asked) == 0 || !strings.HasPrefix(asked[0], "istio-proxy: pilot-agent request GET config_dump?include_eds") {
		t.Errorf("commands run in the pod: %v", asked)
	}

	neither := identity(t, e, "meshdoctor-no-streams", readOnlyRules())
	res = run(t, bin, neither, "--context", "cluster-1,cluster-2", "--only", "endpoints.proxy-table")
	for _, r := range res.doc.Results {
		if r.CheckID != "endpoints.proxy-table" {
			continue
		}
		if r.Status != checks.Error || !strings.Contains(r.Message, "forbidden: create pods/portforward and pods/exec") {
			t.Errorf("identity without exec and port-forward: %s %q, want an error naming both permissions", r.Status, r.Message)
		}
	}
}
