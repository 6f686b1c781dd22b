package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

// The terminal tier: the built binary in a real terminal (tmux), driven
// with keys and read with capture-pane. Every wait is on what the screen
// shows; the minute bounds only catch hangs.

// demoCauses returns the demo's results as the JSON report has them and
// its first cause (in the table's order, worst first: a failure).
func demoCauses(t *testing.T, demo string) []checks.Result {
	t.Helper()
	out, _, _ := runCLI(t, "check", "--from", demo, "-o", "json")
	doc, err := report.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var causes []checks.Result
	for _, o := range report.CausesFirst(doc.Results) {
		if !o.Consequence && o.Problem() {
			causes = append(causes, o.Result)
		}
	}
	if len(causes) < 2 || causes[0].Status != checks.Fail || causes[0].Remediation == "" {
		t.Fatalf("the demo's causes are not what this test expects: %+v", causes)
	}
	return causes
}

func demoPath(t *testing.T) string {
	t.Helper()
	demo, err := filepath.Abs(filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return demo
}

// TestTUIRemediationWithinThreeKeys: on the demo at 80×24 and at 200×50,
// the first screen after the run has the first cause selected with the
// start of its remediation in view; z (one key) shows the whole of it; n n
// (two keys) reaches the second cause, gateway.address, with its commands
// in view. The issue measured six keys for the latter.
func TestTUIRemediationWithinThreeKeys(t *testing.T) {
	demo := demoPath(t)
	causes := demoCauses(t, demo)
	first := causes[0]
	var second checks.Result
	for _, c := range causes {
		if c.CheckID == "gateway.address" {
			second = c
		}
	}
	if second.CheckID == "" {
		t.Fatal("the demo has no gateway.address cause")
	}
	for _, size := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			s := tmuxSession(t, size[0], size[1], nil, "--from", demo)
			// No key yet: the first cause, its first command. The screen is
			// read once the run is done and the detail shows the first
			// cause: under load a capture can fall between the redraw of
			// the list and that of the detail (seen in a fresh clone's CI
			// run: the cause's title over the rest of the group detail).
			firstCmd := strings.Split(first.Remediation, "\n")[0]
			wants := []string{"FAIL " + first.CheckID, "Remediation", firstCmd}
			screen := s.waitUntil(t, "the run done and the detail showing "+first.CheckID+" with its remediation", func(screen string) bool {
				if !strings.Contains(screen, "checks done") {
					return false
				}
				det := detailOf(screen)
				for _, want := range wants {
					if !strings.Contains(det, want) {
						return false
					}
				}
				return true
			})
			det := detailOf(screen)
			for _, want := range wants {
				if !strings.Contains(det, want) {
					t.Errorf("first screen's detail lacks %q:\n%s", want, screen)
				}
			}
			// One key: all of it.
			s.keys(t, "z")
			zoomed := func(screen string) bool {
				if !strings.Contains(screen, "z: back to the list") {
					return false
				}
				for _, cmd := range strings.Split(first.Remediation, "\n") {
					if !strings.Contains(detailOf(screen), strings.Join(strings.Fields(cmd), " ")) {
						return false
					}
				}
				return true
			}
			screen = s.waitUntil(t, "the zoomed detail with every command of "+first.CheckID, zoomed)
			det = detailOf(screen)
			for _, cmd := range strings.Split(first.Remediation, "\n") {
				if !strings.Contains(det, strings.Join(strings.Fields(cmd), " ")) {
					t.Errorf("zoomed detail lacks the command %q:\n%s", cmd, screen)
				}
			}
			s.keys(t, "z")
			s.waitFor(t, "RESULTS")
			// n n from the start: the next cause (the consequence of the
			// first sits between them).
			s.keys(t, "n", "n")
			det = detailOf(s.waitUntil(t, "the detail shows "+second.Key(), func(screen string) bool {
				return strings.Contains(detailOf(screen), "FAIL "+second.Key())
			}))
			for _, cmd := range strings.Split(second.Remediation, "\n") {
				if !strings.Contains(det, strings.Join(strings.Fields(cmd), " ")) {
					t.Errorf("detail of %s lacks the command %q:\n%s", second.Key(), cmd, screen)
				}
			}
			// One key: the map, west's gateway without an address marked.
			s.keys(t, "m")
			screen = s.waitFor(t, " MAP · 2 networks")
			if !strings.Contains(screen, "✗ gateway no address:15443") {
				t.Errorf("the map does not mark west's gateway:\n%s", screen)
			}
			s.keys(t, "q")
			if code := s.exit(t); code != "1" {
				t.Errorf("TUI exited %s after showing failures, want 1", code)
			}
		})
	}
}

// TestTUICopiesIntoTmuxBuffer: with tmux's set-clipboard on, c puts the
// selected cause's remediation, and only it, into tmux's paste buffer, and
// the status line says so.
func TestTUICopiesIntoTmuxBuffer(t *testing.T) {
	demo := demoPath(t)
	first := demoCauses(t, demo)[0]
	s := tmuxSession(t, 100, 30, nil, "--from", demo)
	s.tmux(t, "set-option", "-g", "set-clipboard", "on")
	s.waitFor(t, "checks done")
	s.keys(t, "c")
	s.waitFor(t, "copied to tmux's paste buffer via OSC 52")
	if got := s.tmux(t, "show-buffer"); got != first.Remediation {
		t.Errorf("tmux buffer holds %q, want the remediation of %s %q", got, first.Key(), first.Remediation)
	}

	// With set-clipboard off and no passthrough tmux would drop it: the
	// status says what to do instead of "copied".
	s.tmux(t, "set-option", "-g", "set-clipboard", "off")
	s.tmux(t, "set-option", "-g", "allow-passthrough", "off")
	s.keys(t, "c")
	s.waitFor(t, "tmux drops OSC 52 here")
	s.keys(t, "q")
	s.exit(t)
}

// heldServer is an API server on loopback that holds every request until
// the test releases it, then answers /version and 404 for the rest.
type heldServer struct {
	*httptest.Server
	release func()
	held    atomic.Int32 // requests waiting now
}

func newHeldServer(t *testing.T) *heldServer {
	t.Helper()
	gate := make(chan struct{})
	s := &heldServer{}
	s.release = sync.OnceFunc(func() { close(gate) })
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.held.Add(1)
		select {
		case <-gate:
		case <-r.Context().Done():
			s.held.Add(-1)
			return
		}
		s.held.Add(-1)
		if r.URL.Path == "/version" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"major":"1","minor":"33","gitVersion":"v1.33.0"}`)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(func() { s.release(); s.Close() })
	return s
}

// TestTUIFirstFrameBeforeTheClustersAnswer: with two API servers that hold
// every request, the first frame already names both contexts as being
// read, and then as slow with their elapsed time, before any inventory has
// returned; released one at a time, the frame says which was read, and the
// run goes on once both have answered.
func TestTUIFirstFrameBeforeTheClustersAnswer(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			east, west := newHeldServer(t), newHeldServer(t)
			kc := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: east, cluster: {server: %q}}, {name: west, cluster: {server: %q}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: east, context: {cluster: east, user: u}}, {name: west, context: {cluster: west, user: u}}]
current-context: east
`, east.URL, west.URL)), 0o600); err != nil {
				t.Fatal(err)
			}
			s := tmuxSession(t, size[0], size[1], []string{"KUBECONFIG=/dev/null"}, "--kubeconfig", kc, "--timeout", "5m")

			screen := s.waitFor(t, "reading 2 contexts")
			for _, want := range []string{"meshdoctor", "Reading the clusters", "east", "west"} {
				if !strings.Contains(screen, want) {
					t.Errorf("first frame lacks %q:\n%s", want, screen)
				}
			}
			screen = s.waitFor(t, "slow: east, west")
			if !strings.Contains(screen, "slow: no answer after") {
				t.Errorf("slow contexts without their elapsed time:\n%s", screen)
			}
			if east.held.Load() == 0 || west.held.Load() == 0 {
				t.Fatalf("the servers hold %d and %d requests: the frame did not come before the inventories", east.held.Load(), west.held.Load())
			}
			if strings.Contains(screen, "checks done") || strings.Contains(screen, "read in") {
				t.Fatalf("a context was read while both servers hold every request:\n%s", screen)
			}

			east.release()
			screen = s.waitFor(t, "read in")
			if !strings.Contains(screen, "slow: west") || strings.Contains(screen, "slow: east") {
				t.Errorf("after east answered, the frame should name only west as slow:\n%s", screen)
			}
			west.release()
			s.waitFor(t, "checks done")
			s.keys(t, "q")
			s.exit(t)
		})
	}
}

// session is a detached tmux session running the binary.
type session struct {
	sock, exitFile string
}

// tmuxSession runs meshdoctor with args in a detached tmux session of w×h
// (its exit code goes to a file, see exit).
func tmuxSession(t *testing.T, w, h int, env []string, args ...string) *session {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skipf("tmux not installed: %v", err)
	}
	// The test binary runs the real main (TestMain, MESHDOCTOR_RUN_MAIN).
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &session{sock: filepath.Join(dir, "tmux.sock"), exitFile: filepath.Join(dir, "exit")}
	script := bin + " " + strings.Join(args, " ") + "; echo $? > " + s.exitFile + "; sleep 30"
	cmd := append([]string{"-f", "/dev/null", "new-session", "-d", "-s", "md", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "env", "TERM=xterm-256color", "MESHDOCTOR_RUN_MAIN=1"}, env...)
	s.tmux(t, append(cmd, "sh", "-c", script)...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

// tmux runs a tmux command on the session's server.
func (s *session) tmux(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *session) keys(t *testing.T, keys ...string) {
	t.Helper()
	s.tmux(t, append([]string{"send-keys", "-t", "md"}, keys...)...)
}

func (s *session) waitFor(t *testing.T, want string) string {
	t.Helper()
	return s.waitUntil(t, fmt.Sprintf("%q", want), func(screen string) bool { return strings.Contains(screen, want) })
}

// waitUntil polls the screen until ok holds (the minute only catches a
// hang).
func (s *session) waitUntil(t *testing.T, what string, ok func(screen string) bool) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var screen string
	for time.Now().Before(deadline) {
		screen = s.tmux(t, "capture-pane", "-p", "-t", "md")
		if ok(screen) {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("screen never showed %s:\n%s", what, screen)
	return ""
}

// exit returns the exit code the session's script wrote.
func (s *session) exit(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(s.exitFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the TUI did not quit on q")
	return ""
}

// detailOf joins the detail pane's wrapped lines into one string, single
// spaces between words: the pane right of the last │ side by side, or
// below the ── DETAIL rule (up to the status and help lines) stacked.
func detailOf(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	var parts []string
	for i, l := range lines {
		if strings.Contains(l, "── DETAIL") {
			parts = lines[i+1 : max(i+1, len(lines)-2)]
			break
		}
	}
	if parts == nil {
		for _, l := range lines {
			if i := strings.LastIndex(l, "│"); i >= 0 {
				parts = append(parts, l[i+len("│"):])
			}
		}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}
