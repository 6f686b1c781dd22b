package ui

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func TestMain(m *testing.M) {
	// Anything that renders through lipgloss's default renderer (bubbles'
	// own defaults) is colourless too, so goldens do not depend on the
	// terminal the tests run in.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the program's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type exportCall struct {
	format string
	n      int
}

// harness runs the UI in a teatest program against a fakeSource.
type harness struct {
	t    *testing.T
	tm   *teatest.TestModel
	src  *fakeSource
	run  chan<- checks.Event
	clip syncBuffer

	mu      sync.Mutex
	exports []exportCall
}

func start(t *testing.T, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, src: newFakeSource()}
	m := New(Options{
		Catalogue: testCatalogue(),
		Header:    testHeader,
		Source:    hs.src,
		NoColor:   true,
		Export: func(format string, rs []checks.Result) (string, error) {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.exports = append(hs.exports, exportCall{format, len(rs)})
			return "/tmp/meshdoctor." + format, nil
		},
	})
	m.animate = false // spinner frames stay on frame 0
	m.clip = &hs.clip
	clock := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC) // elapsed times stay 0s in goldens
	m.now = func() time.Time { return clock }
	m.clipEnv = clipEnv{getenv: func(string) string { return "" }} // a plain terminal
	hs.tm = teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = hs.tm.Quit() })
	hs.run = hs.src.started(t)
	return hs
}

func (h *harness) send(evs ...checks.Event) {
	h.t.Helper()
	for _, ev := range evs {
		select {
		case h.run <- ev:
		case <-time.After(time.Minute): // a deadlock guard, not a timing claim: generous for a busy machine
			h.t.Fatalf("the UI stopped reading events at %s", ev.Check.ID)
		}
	}
}

// finish replays the whole scenario and ends the run.
func (h *harness) finish() {
	h.t.Helper()
	h.send(testEvents()...)
	close(h.run)
	h.waitFor("12/12 checks done")
}

// waitFor waits until the program has drawn s.
func (h *harness) waitFor(s string) {
	h.t.Helper()
	teatest.WaitFor(h.t, h.tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// waitForLine waits until the program has drawn a line matching re (one
// WaitFor, from where the last wait stopped reading, so that a frame drawn
// meanwhile is not skipped).
func (h *harness) waitForLine(re *regexp.Regexp) {
	h.t.Helper()
	teatest.WaitFor(h.t, h.tm.Output(), func(b []byte) bool {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if re.Match(line) {
				return true
			}
		}
		return false
	}, teatest.WithDuration(time.Minute), teatest.WithCheckInterval(5*time.Millisecond))
}

// keys types keys: names of special keys or runes.
func (h *harness) keys(ks ...string) {
	special := map[string]tea.KeyType{
		"up": tea.KeyUp, "down": tea.KeyDown, "enter": tea.KeyEnter, "esc": tea.KeyEscape,
		"pgdown": tea.KeyPgDown, "pgup": tea.KeyPgUp, "ctrl+d": tea.KeyCtrlD, "space": tea.KeySpace,
	}
	for _, k := range ks {
		if t, ok := special[k]; ok {
			h.tm.Send(tea.KeyMsg{Type: t})
			continue
		}
		h.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
	}
}

// final quits and returns the model as the program left it.
func (h *harness) final() *Model {
	h.t.Helper()
	_ = h.tm.Quit()
	m, ok := h.tm.FinalModel(h.t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if !ok {
		h.t.Fatal("final model is not a *Model")
	}
	return m
}

// golden compares the frame the model draws with testdata/<test>.golden
// (go test -update rewrites it).
func golden(t *testing.T, m *Model) {
	t.Helper()
	teatest.RequireEqualOutput(t, []byte(m.View()+"\n"))
}

func selectedResult(t *testing.T, m *Model) checks.Result {
	t.Helper()
	r := m.list.selected()
	if r == nil || r.kind != rowResult {
		t.Fatalf("selection is %+v, want a result", r)
	}
	return r.res
}

func TestGolden(t *testing.T) {
	t.Run("startup", func(t *testing.T) {
		h := start(t, 100, 30)
		cat := testCatalogue()
		// The runner starts the checks without prerequisites first.
		for _, i := range []int{0, 6, 8, 11} {
			h.send(checks.Event{Kind: checks.CheckStarted, Check: &cat[i]})
		}
		h.waitFor("4 running")
		m := h.final()
		golden(t, m)
		if got := m.runningCount(); got != 4 {
			t.Errorf("running = %d, want 4", got)
		}
		if m.list.cursor != 0 {
			t.Errorf("cursor = %d, want 0 (the top) before the user moves", m.list.cursor)
		}
	})

	t.Run("in progress", func(t *testing.T) {
		h := start(t, 100, 30)
		// send returns once the UI has taken the 10th event from the
		// run's channel, not once it has drawn it: wait for the frame
		// only the 10th event draws (4 checks done with their 7
		// results, the next 2 running), so that quitting cannot overtake
		// the event. "4/12 checks running" is drawn by the 8th already.
		h.send(testEvents()[:10]...)
		h.waitForLine(regexp.MustCompile(`6 pass .*1 fail .*2 running`))
		m := h.final()
		golden(t, m)
		if c := m.counts(); c != [5]int{6, 0, 1, 0, 0} {
			t.Errorf("counts = %v, want 6 pass, 1 fail", c)
		}
		if !m.run.active || m.run.finished != 4 || len(m.run.ids) != 12 {
			t.Errorf("run = active %v, %d/%d, want active, 4/12", m.run.active, m.run.finished, len(m.run.ids))
		}
	})

	t.Run("finished with failure selected", func(t *testing.T) {
		h := start(t, 100, 30)
		h.finish()
		m := h.final()
		golden(t, m)
		r := selectedResult(t, m)
		if r.CheckID != "trust.cacerts-valid" || r.Cluster != "cluster-2" || r.Status != checks.Fail {
			t.Errorf("selected %s %s %s, want the cacerts failure on cluster-2", r.CheckID, r.Cluster, r.Status)
		}
		if c := m.counts(); c != [5]int{17, 1, 1, 2, 1} {
			t.Errorf("counts = %v", c)
		}
		view := m.View()
		for _, want := range []string{"Remediation", "--from-file=cert-chain.pem", "ca-cert.pem does not chain", "Note"} {
			if !strings.Contains(view, want) {
				t.Errorf("detail pane lacks %q", want)
			}
		}
	})

	t.Run("filter on", func(t *testing.T) {
		h := start(t, 100, 30)
		h.finish()
		h.keys("/", "15443", "enter")
		m := h.final()
		golden(t, m)
		if m.filtering || m.input.Value() != "15443" {
			t.Errorf("filtering=%v value=%q, want the filter applied and closed", m.filtering, m.input.Value())
		}
		if m.list.shown != 4 || m.list.total != 22 {
			t.Errorf("shown %d of %d, want 4 of 22", m.list.shown, m.list.total)
		}
	})

	t.Run("help open", func(t *testing.T) {
		h := start(t, 100, 30)
		h.finish()
		h.keys("?")
		m := h.final()
		golden(t, m)
		if !m.help.ShowAll {
			t.Error("full help not shown")
		}
	})

	t.Run("deploying probes 80x24", func(t *testing.T) {
		h := start(t, 80, 24)
		h.send(checks.Event{Kind: checks.ProbesDeploying, Contexts: testHeader.Contexts, Namespace: "probes"})
		h.waitForLine(regexp.MustCompile(`deploying probe pods into probes in 2 contexts`))
		m := h.final()
		golden(t, m)
		view := m.View()
		for _, want := range []string{"Deploying probe pods", "namespace probes", "cluster-1", "cluster-2"} {
			if !strings.Contains(view, want) {
				t.Errorf("first frame lacks %q:\n%s", want, view)
			}
		}
		if strings.Contains(view, "slow:") || strings.Contains(view, "Reading the clusters") {
			t.Errorf("deploying is shown as reading:\n%s", view)
		}
	})

	t.Run("deploying probes, then reading", func(t *testing.T) {
		h := start(t, 80, 24)
		h.send(checks.Event{Kind: checks.ProbesDeploying, Contexts: testHeader.Contexts, Namespace: "probes"},
			checks.Event{Kind: checks.InventoryStarted, Contexts: testHeader.Contexts})
		h.waitForLine(regexp.MustCompile(`reading 2 contexts`))
		if m := h.final(); m.deploying != "" || !m.reading {
			t.Errorf("deploying %q reading %v, want reading only", m.deploying, m.reading)
		}
	})

	t.Run("reading the clusters 80x24", func(t *testing.T) {
		h := start(t, 80, 24)
		h.send(checks.Event{Kind: checks.InventoryStarted, Contexts: testHeader.Contexts},
			checks.Event{Kind: checks.ContextRead, Contexts: []string{"cluster-1"}})
		h.waitFor("read in 0s")
		golden(t, h.final())
	})

	t.Run("narrow 80x24", func(t *testing.T) {
		h := start(t, 80, 24)
		h.finish()
		m := h.final()
		golden(t, m)
		if !m.lay.stacked {
			t.Error("panes not stacked at 80 columns")
		}
		if got := strings.Count(m.View(), "\n") + 1; got != 24 {
			t.Errorf("frame has %d lines, want 24", got)
		}
		if r := selectedResult(t, m); r.CheckID != "trust.cacerts-valid" {
			t.Errorf("selected %s", r.CheckID)
		}
	})
}

func TestRerunSelectedReplacesResults(t *testing.T) {
	h := start(t, 100, 30)
	h.finish()
	h.keys("r")
	rerun := h.src.started(t)
	cat := testCatalogue()
	fixed := []checks.Result{
		{CheckID: "trust.cacerts-valid", Status: checks.Pass, Cluster: "cluster-1", Message: "ca-cert.pem chains to root-cert.pem"},
		{CheckID: "trust.cacerts-valid", Status: checks.Pass, Cluster: "cluster-2", Message: "ca-cert.pem chains to root-cert.pem"},
	}
	for i, rs := range map[int][]checks.Result{
		3: fixed,
		4: {{CheckID: "trust.root-match", Status: checks.Pass, Message: "one root"}},
		5: {
			{CheckID: "trust.istiod-uses-cacerts", Status: checks.Pass, Cluster: "cluster-1", Message: "ok"},
			{CheckID: "trust.istiod-uses-cacerts", Status: checks.Pass, Cluster: "cluster-2", Message: "ok"},
		},
	} {
		rerun <- checks.Event{Kind: checks.CheckStarted, Check: &cat[i]}
		rerun <- checks.Event{Kind: checks.CheckFinished, Check: &cat[i], Results: rs}
	}
	close(rerun)
	h.waitFor("3/3 checks done")
	m := h.final()

	calls := h.src.startCalls()
	want := []string{"trust.cacerts-valid", "trust.root-match", "trust.istiod-uses-cacerts"}
	if len(calls) != 2 || calls[0] != nil || !slices.Equal(calls[1], want) {
		t.Fatalf("Start calls = %q, want all, then %q", calls, want)
	}
	if c := m.counts(); c != [5]int{20, 1, 0, 0, 1} {
		t.Errorf("counts after rerun = %v, want the trust failure and skips gone", c)
	}
	if n := len(m.Results()); n != 22 {
		t.Errorf("%d results, want 22 (replaced, not added)", n)
	}
	// The selection stays on the same result, now passing.
	if r := selectedResult(t, m); r.CheckID != "trust.cacerts-valid" || r.Cluster != "cluster-2" || r.Status != checks.Pass {
		t.Errorf("selected %s %s %s", r.CheckID, r.Cluster, r.Status)
	}
}

func TestCopyWritesOSC52(t *testing.T) {
	h := start(t, 100, 30)
	h.finish()
	h.keys("c")
	h.waitFor("via OSC 52")
	m := h.final()
	// Only the command: the result's Note is not copied.
	if want := osc52.New(cacertsFix).String(); h.clip.String() != want {
		t.Errorf("clipboard output %q, want %q", h.clip.String(), want)
	}
	if m.status != "copied to the terminal's clipboard via OSC 52" || m.statusErr {
		t.Errorf("status %q", m.status)
	}
}

func TestExportJSONAndJUnit(t *testing.T) {
	h := start(t, 100, 30)
	h.finish()
	h.keys("J")
	h.waitFor("exported json to /tmp/meshdoctor.json")
	h.keys("X")
	h.waitFor("exported junit to /tmp/meshdoctor.junit")
	h.final()
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []exportCall{{"json", 22}, {"junit", 22}}; !slices.Equal(h.exports, want) {
		t.Errorf("exports %v, want %v", h.exports, want)
	}
}

func TestRunReturnsResults(t *testing.T) {
	evs := testEvents()
	src := SourceFunc(func(_ context.Context, _ []string) <-chan checks.Event {
		ch := make(chan checks.Event, len(evs))
		for _, ev := range evs {
			ch <- ev
		}
		close(ch)
		return ch
	})
	in, typed := io.Pipe()
	var out syncBuffer
	type ret struct {
		rs  []checks.Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		rs, err := Run(context.Background(), Options{Catalogue: testCatalogue(), Header: testHeader, Source: src, NoColor: true}, in, &out)
		done <- ret{rs, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "checks done") {
		if time.Now().After(deadline) {
			t.Fatalf("run never finished; output:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := typed.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	var r ret
	select {
	case r = <-done:
	case <-time.After(time.Minute): // a deadlock guard, not a timing claim: generous for a busy machine
		t.Fatal("Run did not return after q")
	}
	_ = typed.Close()
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.rs) != 22 || r.rs[0].CheckID != "contexts.reachable" {
		t.Errorf("Run returned %d results starting %+v", len(r.rs), r.rs[0])
	}
	for _, seq := range []string{"\x1b[?1049h", "\x1b[?1002h"} { // alt screen, mouse
		if !strings.Contains(out.String(), seq) {
			t.Errorf("output lacks %q", seq)
		}
	}
	if strings.Contains(out.String(), "\x1b[3") {
		t.Error("NoColor output has colours")
	}
}
