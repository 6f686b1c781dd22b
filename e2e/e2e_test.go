// Package e2e runs the built meshdoctor binary, as a user would, against
// real kube-apiservers (internal/testenv) holding every scenario under
// testdata/scenarios, and proves what only a real environment can show: that
// meshdoctor writes nothing (audit logs), that a dead cluster is reported
// within --timeout while the others are still checked, and that a missing
// permission is an error that says "forbidden", not a crash or a pass.
//
// It is an ordinary test package: `go test ./...` runs it when bin/ has the
// binaries of `make testbin`, and skips it (naming them) otherwise. The
// meshdoctor binary is built from this tree into a temporary directory
// unless MESHDOCTOR names one.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/pki"
	"github.com/meshdoctor/meshdoctor/internal/report"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestE2E shares one environment of three clusters across all subtests:
// starting API servers per scenario would cost more than the scenarios.
// Reset empties the clusters between scenarios. The audit assertion runs
// last, over everything meshdoctor did.
func TestE2E(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := testenv.Start(t, testenv.Options{Clusters: 3})
	bin := meshdoctorBinary(t, root)
	dir := filepath.Join(root, "testdata", "scenarios")
	names, err := scenario.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 17 {
		t.Fatalf("found %d scenarios, want at least 17", len(names))
	}

	t.Run("scenarios", func(t *testing.T) {
		// Scenarios whose clusters are not cluster-1..3 (the demo's central,
		// east, west) get an environment of their own, after the others.
		other := map[string][]string{}
		for _, name := range names {
			clusters, err := clusterNames(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			if !allIn(clusters, e) {
				set := strings.Join(clusters, ",")
				other[set] = append(other[set], name)
				continue
			}
			t.Run(name, func(t *testing.T) { runScenario(t, e, bin, dir, name) })
		}
		for _, set := range slices.Sorted(maps.Keys(other)) {
			oe := testenv.Start(t, testenv.Options{Names: strings.Split(set, ",")})
			for _, name := range other[set] {
				t.Run(name, func(t *testing.T) { runScenario(t, oe, bin, dir, name) })
			}
			checkReadOnly(t, oe)
			oe.Close()
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		// An identity with meshdoctor's ClusterRole but not its istio-system
		// Role: it may not list secrets (or configmaps) there.
		ctx := context.Background()
		const user = "meshdoctor-no-secrets"
		if err := e.BindClusterRole(ctx, user, "meshdoctor-reader"); err != nil {
			t.Fatal(err)
		}
		for _, c := range e.Clusters {
			if err := configMapsOnly(ctx, c, user); err != nil {
				t.Fatal(err)
			}
		}
		kc, err := e.UserKubeconfig(user)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, e, dir, "healthy-multi-primary")
		res := run(t, bin, kc, "--context", "cluster-1,cluster-2", "--no-network")
		if res.exit == 0 {
			t.Errorf("exit 0 without permission to read secrets")
		}
		if strings.Contains(res.stderr, "panic") || strings.Contains(res.stderr, "goroutine ") {
			t.Errorf("stderr mentions a panic:\n%s", res.stderr)
		}
		// The checks that read secrets are errors that say what was
		// forbidden; what depends on them is skipped; nothing about secrets
		// passes.
		got := scenario.ByStatus(res.doc.Results)
		for _, cl := range []string{"cluster-1", "cluster-2"} {
			for _, id := range []string{"trust.cacerts-present", "secrets.remote-kubeconfig"} {
				k := id + "@" + cl
				if !slices.Contains(got[checks.Error], k) {
					t.Errorf("%s is not an error; errors: %v", k, got[checks.Error])
				}
			}
		}
		for _, r := range res.doc.Results {
			needsSecrets := strings.HasPrefix(r.CheckID, "trust.") || strings.HasPrefix(r.CheckID, "secrets.")
			if needsSecrets && r.Status == checks.Error && !strings.Contains(r.Message, "forbidden: list secrets") {
				t.Errorf("%s: error without \"forbidden: list secrets\": %s", scenario.Key(r), r.Message)
			}
			if needsSecrets && (r.Status == checks.Pass || r.Status == checks.Fail) {
				t.Errorf("%s is %s without access to secrets: %s", scenario.Key(r), r.Status, r.Message)
			}
		}
	})

	t.Run("remote-access", func(t *testing.T) {
		// With the network on (only the secrets checks, so that nothing
		// probes the fixtures' gateway addresses), istiod's credentials in
		// the remote secrets are tried against the real API servers: tokens
		// minted by TokenRequest work, a made-up expired token is refused.
		for _, tc := range []struct {
			scenario string
			want     map[string]checks.Status
		}{
			{"healthy-multi-primary", map[string]checks.Status{
				"secrets.remote-access@cluster-1": checks.Pass, "secrets.remote-access@cluster-2": checks.Pass}},
			{"expired-token", map[string]checks.Status{
				"secrets.remote-access@cluster-1": checks.Fail, "secrets.remote-access@cluster-2": checks.Pass,
				"secrets.remote-token-expiry@cluster-1": checks.Fail}},
			// istiod unready in cluster-1: remote-access still runs there
			// (RunsDespite), and the refused token explains istiod-ready.
			{"istiod-not-ready-remote-refused", map[string]checks.Status{
				"secrets.remote-access@cluster-1": checks.Fail, "secrets.remote-access@cluster-2": checks.Pass,
				"secrets.remote-token-expiry@cluster-1": checks.Fail, "controlplane.istiod-ready@cluster-1": checks.Fail}},
		} {
			t.Run(tc.scenario, func(t *testing.T) {
				apply(t, e, dir, tc.scenario)
				res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "secrets.*", "--probe-timeout", "5s")
				got := map[string]checks.Status{}
				for _, r := range res.doc.Results {
					got[scenario.Key(r)] = r.Status
					if r.CheckID == "secrets.remote-access" && r.Status == checks.Fail && !strings.Contains(r.Message, "unauthorized") {
						t.Errorf("%s fails for another reason than the refused token: %s", scenario.Key(r), r.Message)
					}
				}
				for k, want := range tc.want {
					if got[k] != want {
						t.Errorf("%s = %s, want %s", k, got[k], want)
					}
				}
				for _, r := range res.doc.Results {
					if scenario.Key(r) == "controlplane.istiod-ready@cluster-1" && r.Status == checks.Fail &&
						!slices.ContainsFunc(r.CausedBy, func(k string) bool { return strings.HasPrefix(k, "secrets.remote-access cluster-1") }) {
						t.Errorf("istiod-ready@cluster-1 is not explained by the refused remote: caused by %v", r.CausedBy)
					}
				}
			})
		}
	})

	t.Run("gateway-reachability", func(t *testing.T) {
		// Each cluster's east-west gateway is a real server in a network
		// namespace, with certificates from the scenario's own CAs; the
		// fixtures' LoadBalancer IPs are replaced with --gateway-address.
		// cluster-2's gateway presents istiod's port with a certificate of
		// another root and has no webhook port.
		certs := scenario.NewCerts(time.Now())
		applyWith(t, e, dir, "healthy-multi-primary", certs)
		leaf := func(cluster, root string, opts pki.Options) *tls.Certificate {
			inter, err := certs.Intermediate(root, cluster)
			if err != nil {
				t.Fatal(err)
			}
			l, err := pki.NewLeaf(inter, cluster, opts)
			if err != nil {
				t.Fatal(err)
			}
			return &tls.Certificate{Certificate: [][]byte{l.Cert.Raw, inter.Cert.Raw}, PrivateKey: l.Key}
		}
		istiod := pki.Options{DNSNames: []string{"istiod.istio-system.svc"}}
		workload := pki.Options{URIs: []string{"spiffe://cluster.local/ns/sample/sa/helloworld"}}
		gw1 := testenv.StartGateway(t, "e2e-gw1", testenv.GatewayOptions{
			Istiod: leaf("cluster-1", "mesh", istiod), Workload: leaf("cluster-1", "mesh", workload), Status: 200})
		gw2 := testenv.StartGateway(t, "e2e-gw2", testenv.GatewayOptions{
			Istiod: leaf("cluster-2", "rogue-root", istiod), Workload: leaf("cluster-2", "mesh", workload), Status: 503})
		res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "gateway.reachability", "--probe-timeout", "3s",
			"--gateway-address", "cluster-1="+gw1.Addr, "--gateway-address", "cluster-2="+gw2.Addr)
		want := map[string]string{
			"cluster-1 port 15443": "pass", "cluster-1 port 15012": "pass", "cluster-1 port 15017": "pass", "cluster-1 port 15021": "pass",
			"cluster-2 port 15443": "pass", "cluster-2 port 15012": "fail root-mismatch", "cluster-2 port 15017": "fail root-mismatch",
			"cluster-2 port 15021": "fail http-status",
		}
		got := map[string]string{}
		for _, r := range res.doc.Results {
			if r.CheckID != "gateway.reachability" {
				continue
			}
			port := r.Target[strings.LastIndex(r.Target, " port ")+1:]
			v := r.Status.String()
			if r.Status == checks.Fail {
				v += " " + strings.SplitN(r.Message, ":", 2)[0]
				if r.Remediation == "" {
					t.Errorf("%s %s fails without a remediation", r.Cluster, port)
				}
			}
			got[r.Cluster+" "+port] = v
			if !strings.Contains(r.Target, gw1.Addr) && !strings.Contains(r.Target, gw2.Addr) {
				t.Errorf("probed %s, not the test's gateways", r.Target)
			}
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %q, want %q", k, got[k], w)
			}
		}
	})

	t.Run("endpoint-tables", func(t *testing.T) { testEndpointTables(t, e, bin, dir) })
	t.Run("admin-fallback", func(t *testing.T) { testAdminFallback(t, e, bin, dir) })
	t.Run("curl-probes", func(t *testing.T) { testCurlProbes(t, e, bin, dir) })
	t.Run("deploy-probes", func(t *testing.T) { testDeployProbes(t, e, bin, dir) })
	t.Run("exec-scoped", func(t *testing.T) { testExecScoped(t, e, dir) })
	t.Run("wait", func(t *testing.T) { testWait(t, e, bin, dir) })

	t.Run("dead-cluster", func(t *testing.T) {
		apply(t, e, dir, "healthy-multi-primary")
		const timeout = 5 * time.Second
		for _, mode := range []string{"paused", "stopped"} {
			t.Run(mode, func(t *testing.T) {
				var err error
				if mode == "paused" {
					err = e.PauseCluster("cluster-2") // accepts connections, never answers
				} else {
					err = e.StopCluster("cluster-2") // refuses
				}
				if err != nil {
					t.Fatal(err)
				}
				res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--no-network", "--timeout", timeout.String())
				// The runner allows each check 3×timeout; the collection
				// itself is bounded by timeout. Allow startup and slack.
				if limit := 2*timeout + 5*time.Second; res.took > limit {
					t.Errorf("run took %v with a dead cluster, want under %v", res.took, limit)
				}
				t.Logf("%s cluster-2: exit %d in %v", mode, res.exit, res.took)
				if res.exit == 0 {
					t.Errorf("exit 0 with a dead cluster")
				}
				got := scenario.ByStatus(res.doc.Results)
				if !slices.Contains(got[checks.Error], "contexts.reachable@cluster-2") {
					t.Errorf("contexts.reachable@cluster-2 is not an error; errors: %v", got[checks.Error])
				}
				var c1 []string
				for _, r := range res.doc.Results {
					if r.Cluster == "cluster-1" && r.Status == checks.Pass {
						c1 = append(c1, r.CheckID)
					}
				}
				for _, want := range []string{"contexts.reachable", "controlplane.istiod-ready", "trust.cacerts-valid", "gateway.address"} {
					if !slices.Contains(c1, want) {
						t.Errorf("cluster-1 lacks a passing %s; its passes: %v", want, c1)
					}
				}
			})
		}
	})

	t.Run("audit-read-only", func(t *testing.T) { checkReadOnly(t, e) })
}

// checkReadOnly asserts that every request meshdoctor's identity made, on
// every API server of e (stopped ones included), was a read.
func checkReadOnly(t *testing.T, e *testenv.Env) {
	t.Helper()
	total := 0
	for _, c := range e.Clusters {
		evs, err := e.AuditEvents(c.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.User.Username == testenv.MeshdoctorUser {
				total++
			}
		}
		for _, w := range testenv.Writes(evs, testenv.MeshdoctorUser) {
			t.Errorf("%s: meshdoctor sent %s %s (%d)", c.Name, w.Verb, w.RequestURI, code(w))
		}
	}
	if total < 10 {
		t.Errorf("only %d audit events by %s: is the audit log written?", total, testenv.MeshdoctorUser)
	}
	t.Logf("%d requests by %s, all reads", total, testenv.MeshdoctorUser)
}

func runScenario(t *testing.T, e *testenv.Env, bin, dir, name string) {
	if root, err := testenv.RepoRoot(); err == nil && strings.HasPrefix(name, "install-amb") && !testenv.HasGatewayAPICRDs(root) {
		t.Skipf("ambient scenario needs the Gateway API CRDs: %s missing (hack/testbin.sh writes it)", testenv.GatewayAPICRDs)
	}
	sc := apply(t, e, dir, name)
	kubeconfig := e.Kubeconfig
	if len(sc.Meta.Contexts) > 0 {
		kubeconfig = contextsKubeconfig(t, e, sc) // install_contexts_test.go
	}
	res := run(t, bin, kubeconfig, "--context", strings.Join(sc.ContextNames(), ","), "--no-network")
	assertExpect(t, sc, res)
}

// clusterNames are a scenario's cluster file names, as scenario.Load names
// its clusters.
func clusterNames(dir, name string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, name, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".yaml"); n != "scenario" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func allIn(clusters []string, e *testenv.Env) bool {
	for _, c := range clusters {
		if e.Cluster(c) == nil {
			return false
		}
	}
	return true
}

// configMapsOnly lets user list configmaps, not secrets, in istio-system.
func configMapsOnly(ctx context.Context, c *testenv.Cluster, user string) error {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmaps-only", Namespace: "istio-system"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := c.Admin.RbacV1().Roles("istio-system").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "configmaps-only", Namespace: "istio-system"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "configmaps-only"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	if _, err := c.Admin.RbacV1().RoleBindings("istio-system").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	return nil
}

func code(ev testenv.AuditEvent) int {
	if ev.ResponseStatus == nil {
		return 0
	}
	return ev.ResponseStatus.Code
}

// meshdoctorBinary is $MESHDOCTOR, or the CLI built from this tree.
func meshdoctorBinary(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv("MESHDOCTOR"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "meshdoctor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/meshdoctor")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build meshdoctor: %v\n%s", err, out)
	}
	return bin
}

// apply empties the clusters and applies one scenario.
func apply(t *testing.T, e *testenv.Env, dir, name string) *scenario.Scenario {
	t.Helper()
	return applyWith(t, e, dir, name, nil)
}

// applyWith applies a scenario whose certificates come from certs (new
// ones when nil).
func applyWith(t *testing.T, e *testenv.Env, dir, name string, certs *scenario.Certs) *scenario.Scenario {
	t.Helper()
	if certs == nil {
		certs = scenario.NewCerts(time.Now())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(dir, name, e, certs)
	if err != nil {
		t.Fatalf("load scenario: %v", err)
	}
	if err := e.Apply(ctx, sc); err != nil {
		t.Fatal(err)
	}
	return sc
}

type result struct {
	exit           int
	stdout, stderr string
	took           time.Duration
	doc            *report.Document
}

// run runs `meshdoctor check -o json --junit F` and checks that the JSON and
// the JUnit file are there and parse.
func run(t *testing.T, bin, kubeconfig string, args ...string) result {
	t.Helper()
	junit := filepath.Join(t.TempDir(), "junit.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"check", "--kubeconfig", kubeconfig, "-o", "json", "--junit", junit}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "KUBECONFIG=/dev/null")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("run meshdoctor: %v\n%s", err, res.stderr)
	}
	if res.exit == 2 || res.exit < 0 {
		t.Fatalf("meshdoctor %s: exit %d\n%s", strings.Join(argv, " "), res.exit, res.stderr)
	}
	if res.doc, err = report.ReadJSON(strings.NewReader(res.stdout)); err != nil {
		t.Fatalf("JSON report: %v\nstdout:\n%s\nstderr:\n%s", err, res.stdout, res.stderr)
	}
	checkJUnit(t, junit, res.doc)
	return res
}

func checkJUnit(t *testing.T, path string, doc *report.Document) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("JUnit file: %v", err)
	}
	var x struct {
		XMLName  xml.Name `xml:"testsuites"`
		Failures int      `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatalf("JUnit file does not parse: %v", err)
	}
	// One test case per check and cluster; it fails when its worst result
	// (error above fail above the rest) is a failure.
	rank := map[checks.Status]int{checks.Skipped: 0, checks.Pass: 1, checks.Warn: 2, checks.Fail: 3, checks.Error: 4}
	worst := map[[2]string]checks.Status{}
	for _, r := range doc.Results {
		k := [2]string{r.CheckID, r.Cluster}
		if w, ok := worst[k]; !ok || rank[r.Status] > rank[w] {
			worst[k] = r.Status
		}
	}
	failed := 0
	for _, st := range worst {
		if st == checks.Fail {
			failed++
		}
	}
	cases := 0
	for _, s := range x.Suites {
		cases += len(s.Cases)
	}
	if cases != len(worst) {
		t.Errorf("JUnit has %d test cases, the JSON report %d checks×clusters", cases, len(worst))
	}
	if x.Failures != failed {
		t.Errorf("JUnit failures = %d, JSON report: %d checks×clusters whose worst result failed", x.Failures, failed)
	}
}

// assertExpect is the unit tier's rule (internal/checks/scenario_test.go)
// applied to the binary's JSON and exit code.
func assertExpect(t *testing.T, sc *scenario.Scenario, res result) {
	t.Helper()
	if res.exit != sc.Meta.Expect.Exit {
		t.Errorf("exit %d, want %d\nstderr:\n%s", res.exit, sc.Meta.Expect.Exit, res.stderr)
	}
	for _, m := range sc.Meta.Expect.Mismatches(res.doc.Results) {
		t.Error(m)
	}
}
