package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real main in a child process (the test
// binary re-executed with MESHDOCTOR_RUN_MAIN=1), to send it signals.
func TestMain(m *testing.M) {
	if os.Getenv("MESHDOCTOR_RUN_MAIN") == "1" {
		os.Exit(run())
	}
	os.Exit(m.Run())
}

func TestSecondInterruptExitsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exited := make(chan int, 1)
	var errOut bytes.Buffer
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		handleSignals(sigs, done, cancel, &errOut, func(code int) { exited <- code })
	}()
	sigs <- os.Interrupt
	<-ctx.Done() // the first interrupt cancels the run
	select {
	case code := <-exited:
		t.Fatalf("exit(%d) on the first interrupt", code)
	default:
	}
	sigs <- os.Interrupt
	if code := <-exited; code != exitInterrupted {
		t.Errorf("second interrupt: exit(%d), want %d", code, exitInterrupted)
	}
	<-returned
	if !strings.Contains(errOut.String(), "interrupt again to exit at once") {
		t.Errorf("the first interrupt does not say how to exit at once: %q", errOut.String())
	}
}

// TestInterruptStopsARunHeldByAHungCredentialPlugin runs meshdoctor on a
// kubeconfig whose user is an exec plugin that never returns, with a
// --timeout so long that only signals can end the run, interrupts it twice
// and waits for it to exit.
func TestInterruptStopsARunHeldByAHungCredentialPlugin(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no fifo: %v", err)
	}
	pidFile := filepath.Join(dir, "pid")
	plugin := filepath.Join(dir, "hung-plugin.sh")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\necho $$ > "+pidFile+"\necho started > "+fifo+"\nexec sleep 3600 </dev/null >/dev/null 2>&1\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The plugin outlives meshdoctor (client-go never kills it): kill it.
	// It lets go of meshdoctor's stderr, so that stderr ends with the run.
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
contexts:
- name: c
  context: {cluster: c, user: plugin}
users:
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: `+plugin+`
      interactiveMode: Never
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "check", "--kubeconfig", kc, "--timeout", "10m", "--no-network", "-o", "json")
	cmd.Env = append(os.Environ(), "MESHDOCTOR_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	started := make(chan struct{})
	go func() {
		if b, err := os.ReadFile(fifo); err == nil && len(b) > 0 { // blocks until the plugin writes
			close(started)
		}
	}()
	select {
	case <-started:
	case err := <-exited:
		t.Fatalf("meshdoctor exited before running the plugin: %v", err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var stderrText []string
	guard := time.After(2 * time.Minute) // a hang guard, not a performance bound
	for said := false; !said; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stderr closed before meshdoctor acknowledged the interrupt:\n%s", strings.Join(stderrText, "\n"))
			}
			stderrText = append(stderrText, line)
			said = strings.Contains(line, "interrupt again")
		case <-guard:
			t.Fatalf("meshdoctor did not acknowledge the interrupt; stderr:\n%s", strings.Join(stderrText, "\n"))
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("meshdoctor: %v, want an exit code", err)
		}
		// The second interrupt exits 130; if the run already ended after
		// the first (it stops waiting for the plugin when cancelled), it
		// exits as a run where no cluster could be reached.
		t.Logf("exit %d", ee.ExitCode())
		if code := ee.ExitCode(); code != exitInterrupted && code != exitCouldNotRun {
			t.Errorf("exit %d, want %d or %d; stderr:\n%s", code, exitInterrupted, exitCouldNotRun, strings.Join(stderrText, "\n"))
		}
	case <-guard:
		t.Fatalf("meshdoctor did not exit after two interrupts; stderr:\n%s", strings.Join(stderrText, "\n"))
	}
}
