package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenDir is the repository's testdata/golden, seen from this package.
const goldenDir = "../../testdata/golden"

// fixedTime is when every fixture run "happened".
var fixedTime = time.Date(2026, 11, 23, 11, 15, 0, 0, time.UTC)

func fixtureMeta() Meta {
	return Meta{
		Tool:        "meshdoctor",
		Version:     "v0.4.0",
		GeneratedAt: fixedTime,
		Hostname:    "ci-runner-7",
		Source:      "live",
		Topology:    "multi-primary",
		Contexts: []ContextInfo{
			{Name: "kind-east", Server: "https://10.89.0.2:6443", ClusterID: "cluster-1", Network: "network1", Role: "primary", Version: "1.27.1"},
			{Name: "kind-west", Server: "https://10.89.0.3:6443", ClusterID: "cluster-2", Network: "network2", Role: "primary", Version: "1.26.4"},
		},
	}
}

// fixtureResults is a run with every status, every kind of subject, evidence
// with XML-special and non-ASCII characters, a multi-line remediation and
// a message long enough to wrap.
func fixtureResults() []checks.Result {
	ms := time.Millisecond
	return []checks.Result{
		{CheckID: "contexts.reachable", Status: checks.Pass, Cluster: "cluster-1", Message: "API server answered (Kubernetes v1.34.2)", Duration: 41 * ms},
		{CheckID: "contexts.reachable", Status: checks.Pass, Cluster: "cluster-2", Message: "API server answered (Kubernetes v1.34.2)", Duration: 41 * ms},
		{CheckID: "controlplane.version-skew", Status: checks.Warn, Message: "Istio versions differ by one minor version: 1.27.1 and 1.26.4",
			Evidence:    []checks.Evidence{{Key: "cluster-1", Value: "1.27.1"}, {Key: "cluster-2", Value: "1.26.4"}},
			Remediation: "istioctl --context kind-west version", Note: "upgrade cluster-2 to 1.27 (istioctl x precheck, then istioctl upgrade)", Duration: 3 * ms},
		{CheckID: "trust.cacerts-valid", Status: checks.Pass, Cluster: "cluster-1", Target: "istio-system/cacerts", Message: "CA chain valid", Duration: 12 * ms},
		{CheckID: "trust.root-match", Status: checks.Fail, Message: "clusters trust different root CAs, so mTLS between them fails with \"unknown authority\"",
			Evidence: []checks.Evidence{
				{Key: "cluster-1 root sha256", Value: "3f:9a:c2:…:71"},
				{Key: "cluster-2 root sha256", Value: "b0:4e:19:…:0d"},
				{Key: "cluster-2 root subject", Value: `O=Müller & Söhne <istio>, CN="Root CA"`},
			},
			Remediation: "make -f tools/certs/Makefile.selfsigned.mk root-ca\nmake -f tools/certs/Makefile.selfsigned.mk kind-west-cacerts\nkubectl --context kind-west -n istio-system create secret generic cacerts --from-file=kind-west/ca-cert.pem --from-file=kind-west/ca-key.pem --from-file=kind-west/root-cert.pem --from-file=kind-west/cert-chain.pem",
			Note:        "run it from the Istio release directory: one new root, an intermediate from it in every primary",
			Duration:    1500 * ms},
		{CheckID: "gateway.reachable", Status: checks.Error, Cluster: "cluster-1", Peer: "cluster-2", Target: "15443", Message: "dial 172.18.255.2:15443: i/o timeout after 5s",
			Evidence: []checks.Evidence{{Key: "address", Value: "172.18.255.2:15443"}}, Duration: 5002 * ms},
		{CheckID: "gateway.reachable", Status: checks.Pass, Cluster: "cluster-2", Peer: "cluster-1", Target: "15443", Message: "TLS handshake completed, chain verifies against the mesh root", Duration: 5002 * ms},
		{CheckID: "endpoints.match", Status: checks.Skipped, Cluster: "cluster-1", Target: "sample/helloworld", Message: "gateway.reachable failed for cluster-1 → cluster-2"},
	}
}

// nastyResults carries what cluster data can hold and XML 1.0 cannot: NUL,
// ESC (a terminal escape sequence), other C0 and C1 controls, U+FFFE, and
// invalid UTF-8.
func nastyResults() []checks.Result {
	return []checks.Result{
		{CheckID: "secrets.remote-parse", Status: checks.Fail, Cluster: "cluster-2", Target: "istio-remote-secret-<east>",
			Message: "kubeconfig key \"cluster-1\" does not parse: yaml: line 3: found character that cannot start any token \x00\x1b[2J",
			Evidence: []checks.Evidence{
				{Key: "data key", Value: "cluster-1\x07\u0085"},
				{Key: "bytes", Value: "a\tb\r\nc \uFFFE \xff end & < > ' \""},
			},
			Remediation: "istioctl create-remote-secret --context kind-east --name cluster-1 | kubectl apply -f - --context kind-west"},
		{CheckID: "secrets.stale", Status: checks.Warn, Cluster: "cluster-2", Message: "secret for cluster-9\x1b]0;owned\x07 is not in the mesh"},
		{CheckID: "config.dr-tls", Status: checks.Error, Cluster: "cluster-1", Message: "list destinationrules: forbidden\x00"},
		{CheckID: "", Status: checks.Error, Cluster: "cluster-1", Message: "check probes.curl crashed: runtime error (a meshdoctor bug, please report it)"},
	}
}

// golden compares got with testdata/golden/name, or rewrites it under
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./internal/report -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		rs   []checks.Result
		want Summary
	}{
		{"no results count as nothing", nil, Summary{}},
		{"each status counts in its own field", fixtureResults(), Summary{Pass: 4, Warn: 1, Fail: 1, Skipped: 1, Error: 1, Total: 8, Causes: 2}},
		{"an unknown status counts as an error", []checks.Result{{Status: checks.Status(42)}}, Summary{Error: 1, Total: 1, Causes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.rs); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSummaryString(t *testing.T) {
	tests := []struct {
		name string
		s    Summary
		want string
	}{
		{"the documented example", Summary{Pass: 12, Fail: 1, Skipped: 3, Total: 16}, "12 passed, 1 failed, 0 warnings, 3 skipped, 0 errors"},
		{"one warning and one error are singular", Summary{Warn: 1, Error: 1, Total: 2}, "0 passed, 0 failed, 1 warning, 0 skipped, 1 error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTermSafe(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		keepNewlines bool
		want         string
	}{
		{"plain text is unchanged", "root → cluster-2 <ok>", false, "root → cluster-2 <ok>"},
		{"an escape sequence is shown, not interpreted", "a\x1b[2Jb", false, `a\x1b[2Jb`},
		{"a C1 control is shown", "a\u0085b", false, `a\x85b`},
		{"newlines become spaces in a cell", "a\nb\tc", false, "a b c"},
		{"newlines stay in details", "a\nb\rc", true, "a\nb\\x0dc"},
		{"invalid UTF-8 becomes U+FFFD", "a\xffb", false, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := termSafe(tt.in, tt.keepNewlines); got != tt.want {
				t.Errorf("termSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// lines is a helper for assertions on line-oriented output.
func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
