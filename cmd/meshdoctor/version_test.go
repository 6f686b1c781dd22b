package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func TestVersionNamesThePinnedIstio(t *testing.T) {
	pin, err := os.ReadFile(filepath.Join("..", "..", "hack", "istio.version"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(pin)); got != provenIstio {
		t.Errorf("provenIstio = %s, hack/istio.version = %s: keep them equal", provenIstio, got)
	}
}

// The version a binary reports comes from the Makefile's -ldflags, or, for
// a plain go build, from the build information Go embeds.
func TestVersionOfBuiltBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice (-short)")
	}
	dir := t.TempDir()
	stamped := filepath.Join(dir, "stamped")
	ld := "-X main.version=v1.2.3 -X main.commit=0123456789abcdef -X main.date=2026-12-01T10:00:00Z"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", stamped, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "version", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var b BuildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if b.Version != "v1.2.3" || b.Commit != "0123456789abcdef" || b.Date != "2026-12-01T10:00:00Z" {
		t.Errorf("stamped binary reports %+v", b)
	}
	for _, m := range builtWith {
		if !strings.HasPrefix(b.Modules[m], "v") {
			t.Errorf("module %s version %q", m, b.Modules[m])
		}
	}
	if len(b.ProvenOn) == 0 || !strings.Contains(b.ProvenOn[0], provenIstio) {
		t.Errorf("provenOn %v", b.ProvenOn)
	}

	plain := filepath.Join(dir, "plain")
	if out, err := exec.Command("go", "build", "-o", plain, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	text, err := exec.Command(plain, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(text), "\n", 2)[0]
	// In a git checkout Go stamps the revision: "meshdoctor dev+<12 hex>".
	if !strings.HasPrefix(first, "meshdoctor dev") || strings.Contains(first, "v1.2.3") {
		t.Errorf("plain build's version line %q", first)
	}
	if !strings.Contains(string(text), "built with k8s.io/client-go v") {
		t.Errorf("plain build's version lacks client-go:\n%s", text)
	}
}

func TestChecksJSONListsTheCatalogue(t *testing.T) {
	out, _, code := runCLI(t, "checks", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var infos []checkInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	cat := checks.Catalogue()
	if len(infos) != len(cat) {
		t.Fatalf("%d checks listed, catalogue has %d", len(infos), len(cat))
	}
	for i, c := range cat {
		if infos[i].ID != c.ID || infos[i].Scope != string(c.Scope) || !slices.Equal(infos[i].DependsOn, c.DependsOn) {
			t.Errorf("entry %d = %+v, catalogue %s %s %v", i, infos[i], c.ID, c.Scope, c.DependsOn)
		}
	}
}

func TestCompletion(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: east, context: {cluster: a, user: u}}, {name: west, context: {cluster: a, user: u}}, {name: admin@east, context: {cluster: a, user: u}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"check", "--kubeconfig", kc, "--context", ""}, []string{"admin@east", "east", "west"}},
		{[]string{"check", "--kubeconfig", kc, "--context", "east,w"}, []string{"east,west"}},
		{[]string{"check", "--only", "trust.root"}, []string{"trust.root-match\tall clusters share one root CA"}},
		{[]string{"check", "--skip", "probes.cross-cluster,endpoints.proxy"}, []string{"probes.cross-cluster,endpoints.proxy-table\ta sidecar's Envoy endpoints for multi-cluster services are the ones that should be there"}},
		{[]string{"check", "--only", "nosuch"}, nil},
		// Registered before the flag existed, -o completed nothing.
		{[]string{"check", "-o", ""}, []string{"table", "short", "wide", "json", "yaml", "dot"}},
	}
	for _, tt := range tests {
		out, _, _ := runCLI(t, append([]string{"__complete"}, tt.args...)...)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("complete %q = %q, want %q", tt.args, got, tt.want)
		}
	}
}
