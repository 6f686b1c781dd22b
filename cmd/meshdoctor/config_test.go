package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A kubeconfig that cannot make a client is the operator's configuration
// error (exit 2, with the cause), not an unreachable cluster (exit 3).
func TestBrokenKubeconfigContextIsAConfigurationError(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, kubeconfig, want string
	}{
		{"context names a missing cluster", `apiVersion: v1
kind: Config
clusters:
- name: real
  cluster: {server: "https://10.0.0.1:6443"}
contexts:
- name: c
  context: {cluster: gone, user: u}
users:
- name: u
  user: {token: t}
current-context: c
`, `cluster "gone"`},
		{"certificate-authority file missing", `apiVersion: v1
kind: Config
clusters:
- name: real
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ` + filepath.Join(dir, "no-such-ca.crt") + `}
contexts:
- name: c
  context: {cluster: real, user: u}
users:
- name: u
  user: {token: t}
current-context: c
`, "no-such-ca.crt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(path, []byte(tc.kubeconfig), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runCLI(t, "check", "--kubeconfig", path, "--no-network", "--timeout", "2s")
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "KUBERNETES_MASTER") {
				t.Errorf("stderr %q does not name the configuration error (%q)", stderr, tc.want)
			}
		})
	}
}
