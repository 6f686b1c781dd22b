package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/report"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

var scenarioDir = filepath.Join("..", "..", "testdata", "scenarios")

// snapshotOf records a scenario (fake clientsets) as a snapshot file and
// returns its path and every secret the scenario's fixtures hold.
func snapshotOf(t *testing.T, name string) (string, *scenario.Scenario, []string) {
	t.Helper()
	sc, invs, certs, err := scenario.LoadFake(scenarioDir, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".tar.gz")
	var buf bytes.Buffer
	s := &snapshot.Snapshot{Manifest: snapshot.Manifest{TakenAt: time.Now().UTC(), Tool: "meshdoctor", Vantage: "test"}, Inventories: invs}
	if err := snapshot.Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sc, certs.Secrets()
}

// runCLI runs the command tree as main does and returns stdout, stderr
// and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	root := newRootCmd(streams)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	code := exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

func TestCheckExitCodesAndFailingIDsPerScenario(t *testing.T) {
	names, err := scenario.List(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			snap, sc, secrets := snapshotOf(t, name)
			junit := filepath.Join(t.TempDir(), "r.xml")
			stdout, stderr, code := runCLI(t, "check", "--from", snap, "-o", "json", "--junit", junit)
			if code != sc.Meta.Expect.Exit {
				t.Fatalf("exit %d, want %d; stderr: %s", code, sc.Meta.Expect.Exit, stderr)
			}
			doc, err := report.ReadJSON(strings.NewReader(stdout))
			if err != nil {
				t.Fatalf("-o json does not round-trip into the schema: %v", err)
			}
			for _, m := range sc.Meta.Expect.Mismatches(doc.Results) {
				t.Error(m)
			}
			xml, err := os.ReadFile(junit)
			if err != nil {
				t.Fatal(err)
			}
			table, _, _ := runCLI(t, "check", "--from", snap, "-o", "wide")
			snapBytes, _ := os.ReadFile(snap)
			assertNoSecrets(t, secrets, map[string]string{"json": stdout, "junit": string(xml), "table": table, "stderr": stderr, "snapshot": gunzip(t, snapBytes)})
		})
	}
}

// assertNoSecrets fails if any fixture private key or token, or any PEM
// private key block, appears in an output.
func assertNoSecrets(t *testing.T, secrets []string, outputs map[string]string) {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("the scenario handed out no secrets: the scan would prove nothing")
	}
	for name, text := range outputs {
		for _, leak := range scenario.Leaks(secrets, text) {
			t.Errorf("%s leaks %s", name, leak)
		}
	}
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gunzip snapshot: %v", err)
	}
	return string(out)
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.kubeconfig")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nclusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.kubeconfig")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.tar.gz")
	if err := os.WriteFile(trunc, []byte{0x1f, 0x8b, 8, 0, 0}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"malformed kubeconfig", []string{"check", "--kubeconfig", bad}, "kubeconfig"},
		{"kubeconfig without contexts", []string{"check", "--kubeconfig", empty}, "no contexts"},
		{"unknown context", []string{"check", "--kubeconfig", empty, "--context", "nope"}, "nope"},
		{"bad output format", []string{"check", "-o", "xml"}, "--output"},
		{"bad check glob", []string{"check", "--only", "["}, "pattern"},
		{"truncated snapshot", []string{"check", "--from", trunc}, "snapshot"},
		{"missing snapshot", []string{"check", "--from", filepath.Join(dir, "none.tar.gz")}, "no such file"},
		{"bad gateway override", []string{"check", "--gateway-address", "x"}, "context=address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.want)
			}
		})
	}
}

func TestUnreachableContextIsAnErrorResultWithinTimeout(t *testing.T) {
	// A context pointing at a loopback port nothing listens on, and a
	// reachable-by-nothing second one: every cluster unreachable => exit 3.
	kc := `apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: dead
  context: {cluster: dead, user: u}
users:
- name: u
  user: {token: not-a-real-token}
current-context: dead
`
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, stderr, code := runCLI(t, "check", "--kubeconfig", path, "--timeout", "2s", "-o", "json", "--no-network")
	took := time.Since(start)
	if code != exitCouldNotRun {
		t.Fatalf("exit %d, want %d (stderr %s)", code, exitCouldNotRun, stderr)
	}
	if took > 10*time.Second {
		t.Errorf("run took %s with --timeout 2s", took)
	}
	doc, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var reach *checks.Result
	for i, r := range doc.Results {
		if r.CheckID == checks.ContextsReachable && r.Cluster == "dead" {
			reach = &doc.Results[i]
		}
	}
	if reach == nil || reach.Status != checks.Error {
		t.Fatalf("contexts.reachable for dead = %+v, want an error result", reach)
	}
	if strings.Contains(out, "not-a-real-token") || strings.Contains(stderr, "not-a-real-token") {
		t.Error("the kubeconfig's token was printed")
	}
}

func TestChecksListsTheCatalogue(t *testing.T) {
	out, _, code := runCLI(t, "checks")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range checks.Catalogue() {
		if !strings.Contains(out, c.ID) {
			t.Errorf("catalogue listing lacks %s", c.ID)
		}
	}
}

func TestJUnitValidatesAgainstTheSharedXSD(t *testing.T) {
	xsd := filepath.Join("..", "..", "..", "shared", "schemas", "junit-10.xsd")
	if _, err := os.Stat(xsd); err != nil {
		t.Skipf("JUnit schema not found beside the repo (%v)", err)
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skipf("xmllint not installed (Debian libxml2-utils): %v", err)
	}
	snap, _, _ := snapshotOf(t, "demo-broken-mesh")
	junit := filepath.Join(t.TempDir(), "demo.xml")
	if _, stderr, code := runCLI(t, "check", "--from", snap, "--junit", junit); code != exitFailed {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", xsd, junit).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint rejects --junit output: %v\n%s", err, out)
	}
}
