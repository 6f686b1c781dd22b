// Command demo records the demo snapshot (testdata/demo/mesh.tar.gz) from
// the integration environment: the demo-broken-mesh scenario on real API
// servers, with gateways, probe pods and sidecars simulated around it
// (testenv.World), snapshotted by the real meshdoctor binary. A fresh clone
// then shows meshdoctor on it without any cluster: `make demo`. Re-record
// with `make demo-record` (needs root and `make testbin`).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

func main() {
	name := flag.String("scenario", "demo-broken-mesh", "scenario to record")
	out := flag.String("o", "testdata/demo/mesh.tar.gz", "snapshot to write")
	flag.Parse()
	if err := record(*name, *out); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func record(name, out string) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "meshdoctor-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fmt.Fprintln(os.Stderr, "demo: starting the integration environment for", name)
	w, err := testenv.NewWorld(ctx, tmp, filepath.Join(root, "testdata", "scenarios"), name)
	if err != nil {
		return err
	}
	defer w.Close()
	bin := filepath.Join(tmp, "meshdoctor")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/meshdoctor")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build meshdoctor: %v\n%s", err, b)
	}
	tmpOut := filepath.Join(tmp, "mesh.tar.gz")
	// Default probe settings: a replay with the defaults finds the same
	// recorded commands.
	args := []string{"snapshot", "-o", tmpOut, "--kubeconfig", w.Env.Kubeconfig}
	for _, g := range w.GatewayAddresses {
		args = append(args, "--gateway-address", g)
	}
	snap := exec.CommandContext(ctx, bin, args...)
	snap.Stderr = os.Stderr
	if err := snap.Run(); err != nil {
		return fmt.Errorf("meshdoctor snapshot: %w", err)
	}
	data, err := os.ReadFile(tmpOut)
	if err != nil {
		return err
	}
	if err := noSecrets(data, w.Secrets()); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, out), data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "demo: wrote %s (%d bytes)\n", out, len(data))
	return nil
}

// noSecrets refuses a snapshot that holds any key or token the scenario
// handed out.
func noSecrets(gz []byte, secrets []string) error {
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = bytes.NewReader(gz)
	plain, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("read back the snapshot: %w", err)
	}
	if leaks := scenario.Leaks(secrets, string(plain)); len(leaks) > 0 {
		return fmt.Errorf("snapshot holds %s", strings.Join(leaks, "; "))
	}
	return nil
}
