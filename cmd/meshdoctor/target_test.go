package main

import (
	"strings"
	"testing"
	"time"
)

// TestTargetsThatCurlWouldReadAsOptionsAreUsageErrors: --target reaches curl
// in the probe pods; one that starts with "-" (or holds whitespace) is
// refused before anything runs, by check, snapshot and the TUI alike.
func TestTargetsThatCurlWouldReadAsOptionsAreUsageErrors(t *testing.T) {
	for _, target := range []string{"-K/etc/passwd", "--output=/tmp/x://", "-o/tmp/x", "helloworld:5000 -K/etc/passwd",
		"helloworld:5000/\n-K", "file:///etc/passwd", "http://-K/x"} {
		for _, cmd := range []string{"check", "snapshot"} {
			args := []string{cmd, "--target", target, "--kubeconfig", "/nonexistent"}
			if cmd == "snapshot" {
				args = append(args, "-o", t.TempDir()+"/s.tar.gz")
			}
			_, stderr, code := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, "--target") {
				t.Errorf("%s --target %q: exit %d, stderr %q; want a usage error naming --target", cmd, target, code, stderr)
			}
		}
	}
	o := &CheckOptions{Targets: []string{"helloworld.sample:5000/hello", "https://reviews.bookinfo.svc.cluster.local:9080/"}, Timeout: time.Second, ProbeTimeout: time.Second, Requests: 1}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("valid targets refused: %v", err)
	}
}
