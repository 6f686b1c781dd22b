package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubectlPluginLookup installs the built binary as krew does (on PATH
// under the name kubectl-meshdoctor) and runs it through a real kubectl's
// plugin lookup, built from hack/kube (k8s.io/kubernetes) by make testbin:
// `kubectl meshdoctor version` and `kubectl meshdoctor check` on the demo
// snapshot, arguments and exit code passed through.
func TestKubectlPluginLookup(t *testing.T) {
	kubectl, err := filepath.Abs(filepath.Join("..", "..", "bin", "kubectl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kubectl); err != nil {
		t.Skipf("bin/kubectl is missing (make testbin builds it from hack/kube): %v", err)
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "kubectl-meshdoctor")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=v1.2.3-krew", "-o", plugin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kube := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, kubectl, args...)
		// Only the plugin's directory on PATH: kubectl must find it there.
		cmd.Env = []string{"PATH=" + dir, "HOME=" + dir, "KUBECONFIG=" + filepath.Join(dir, "none"), "NO_COLOR=1"}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return stdout.String(), stderr.String(), ee.ExitCode()
		case err != nil:
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return stdout.String(), stderr.String(), 0
	}

	out, errOut, code := kube("plugin", "list")
	if code != 0 || !strings.Contains(out, plugin) {
		t.Errorf("kubectl plugin list (exit %d) does not list %s:\n%s%s", code, plugin, out, errOut)
	}
	out, errOut, code = kube("meshdoctor", "version", "-o", "json")
	if code != 0 {
		t.Fatalf("kubectl meshdoctor version: exit %d\n%s", code, errOut)
	}
	var b BuildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil || b.Version != "v1.2.3-krew" {
		t.Errorf("kubectl meshdoctor version -o json: %q (%v), want version v1.2.3-krew", out, err)
	}
	demo, err := filepath.Abs(filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = kube("meshdoctor", "check", "--from", demo, "-o", "json")
	if code != exitFailed {
		t.Errorf("kubectl meshdoctor check on the demo: exit %d, want %d (failures)\n%s", code, exitFailed, errOut)
	}
	var doc struct {
		Summary struct{ Fail int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Summary.Fail != 8 {
		t.Errorf("kubectl meshdoctor check -o json: %d failures (%v), want the demo's 8", doc.Summary.Fail, err)
	}
}
