package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/report"
)

// TestTUIInARealTerminal runs the built binary in tmux on the demo
// snapshot, navigates to a failure with the keyboard and reads the screen.
func TestTUIInARealTerminal(t *testing.T) {
	demo, err := filepath.Abs(filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	tmux, exitFile := tmuxSession(t, 120, 40, nil, "--from", demo)

	// What the non-interactive path says about the same snapshot.
	out, _, _ := runCLI(t, "check", "--from", demo, "-o", "json")
	doc, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	screen := waitFor(t, func() string { return tmux("capture-pane", "-p", "-t", "md") }, "checks done")
	if want := fmt.Sprintf("%d fail", doc.Summary.Fail); doc.Summary.Fail == 0 || !strings.Contains(screen, want) {
		t.Fatalf("header does not count the demo's failures (%q):\n%s", want, screen)
	}
	// failures only, then down to the second failure (the pending gateway)
	tmux("send-keys", "-t", "md", "f")
	waitFor(t, func() string { return tmux("capture-pane", "-p", "-t", "md") }, "failures only")
	tmux("send-keys", "-t", "md", "Down", "Down") // the gateway group header, then its failure
	screen = waitFor(t, func() string { return tmux("capture-pane", "-p", "-t", "md") }, "no external address")
	detail := detailPane(screen)
	for _, want := range []string{"FAIL gateway.address", "kubectl --context west -n istio-system get svc istio-eastwestgateway -o wide"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail pane lacks %q:\n%s", want, screen)
		}
	}
	tmux("send-keys", "-t", "md", "q")
	if code := waitExit(t, exitFile); code != "1" {
		t.Errorf("TUI exited %s after showing failures, want 1", code)
	}
}

// waitExit returns the exit code the tmux session's script wrote.
func waitExit(t *testing.T, exitFile string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(exitFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the TUI did not quit on q")
	return ""
}

// TestTUIFirstFrameBeforeTheClustersAnswer: against an API server that
// never answers, the first frame already says which context is being read
// and for how long; q quits (exit 3: nothing was read).
func TestTUIFirstFrameBeforeTheClustersAnswer(t *testing.T) {
	dir := t.TempDir()
	stall := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stall); slow.Close() })
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: slow, cluster: {server: %q}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: slow-cluster, context: {cluster: slow, user: u}}]
current-context: slow-cluster
`, slow.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	tmux, exitFile := tmuxSession(t, 100, 30, []string{"KUBECONFIG=/dev/null"}, "--kubeconfig", kc, "--timeout", "5m")

	waitFor(t, func() string { return tmux("capture-pane", "-p", "-t", "md") }, "reading 1 context")
	screen := waitFor(t, func() string { return tmux("capture-pane", "-p", "-t", "md") }, "slow-cluster")
	if !strings.Contains(screen, "meshdoctor") {
		t.Errorf("first frame has no header:\n%s", screen)
	}
	tmux("send-keys", "-t", "md", "q")
	if code := waitExit(t, exitFile); code != "3" {
		t.Errorf("exit %s after quitting before the cluster answered, want 3", code)
	}
}

// tmuxSession builds the binary, runs it in a detached tmux session of
// w×h with args (the exit code goes to the returned file) and returns a
// function that runs tmux commands on that session's server.
func tmuxSession(t *testing.T, w, h int, env []string, args ...string) (tmux func(args ...string) string, exitFile string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skipf("tmux not installed: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "meshdoctor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "tmux.sock")
	exitFile = filepath.Join(dir, "exit")
	tmux = func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	script := bin + " " + strings.Join(args, " ") + "; echo $? > " + exitFile + "; sleep 30"
	cmd := append([]string{"new-session", "-d", "-s", "md", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "env", "TERM=xterm-256color"}, env...)
	tmux(append(cmd, "sh", "-c", script)...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", sock, "kill-server").Run() })
	return tmux, exitFile
}

func waitFor(t *testing.T, capture func() string, want string) string {
	t.Helper()
	// Generous: it polls for an event, and a busy machine may be slow.
	deadline := time.Now().Add(time.Minute)
	var screen string
	for time.Now().Before(deadline) {
		screen = capture()
		if strings.Contains(screen, want) {
			return screen
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("screen never showed %q:\n%s", want, screen)
	return ""
}

// detailPane joins the right-hand pane's wrapped lines into one string.
func detailPane(screen string) string {
	var parts []string
	for _, line := range strings.Split(screen, "\n") {
		if i := strings.LastIndex(line, "│"); i >= 0 {
			if p := strings.TrimSpace(line[i+len("│"):]); p != "" {
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}
