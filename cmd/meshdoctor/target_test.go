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

func TestMaxDumpSize(t *testing.T) {
	for _, v := range []string{"0", "-1Mi", "lots"} {
		_, stderr, code := runCLI(t, "check", "--max-dump-size", v, "--kubeconfig", "/nonexistent")
		if code != exitUsage || !strings.Contains(stderr, "--max-dump-size") {
			t.Errorf("--max-dump-size %q: exit %d, stderr %q; want a usage error naming the flag", v, code, stderr)
		}
	}
	o := &CheckOptions{MaxDumpSize: "256Mi"}
	if err := o.Complete(); err != nil || o.maxDumpBytes != 256<<20 {
		t.Errorf("256Mi: %d bytes, %v", o.maxDumpBytes, err)
	}
}
