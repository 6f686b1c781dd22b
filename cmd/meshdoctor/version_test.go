package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
