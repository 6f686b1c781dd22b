package ui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// demoRun runs the whole catalogue on the recorded demo mesh, as
// `meshdoctor --from testdata/demo/mesh.tar.gz` does, and returns the
// events of that run as the TUI gets them (inventory first).
func demoRun(t *testing.T) ([]checks.Check, []checks.Event) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := snapshot.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.Build(s.Inventories)
	env := &checks.Env{Mesh: m, Probes: checks.ProbeSettings{Requests: 10, Timeout: 3 * time.Second}}
	s.ReplayInto(env)
	cat := checks.Catalogue()
	var names []string
	for _, c := range m.Clusters {
		names = append(names, c.Name)
	}
	evs := []checks.Event{{Kind: checks.InventoryStarted, Contexts: names}, {Kind: checks.InventoryRead, Mesh: m}}
	var finished []checks.Event
	(&checks.Runner{Checks: cat, Parallel: 1}).Run(context.Background(), env, func(e checks.Event) {
		if e.Kind == checks.CheckFinished {
			for i := range e.Results {
				e.Results[i].Duration = 0 // stable goldens
			}
			finished = append(finished, e)
		}
	})
	// Catalogue order, whatever order the runner finished in.
	for _, c := range cat {
		for _, e := range finished {
			if e.Check.ID == c.ID {
				evs = append(evs, e)
			}
		}
	}
	return cat, evs
}

// startDemo shows the demo's finished run in a w×h teatest program.
func startDemo(t *testing.T, w, h int) *harness {
	t.Helper()
	cat, evs := demoRun(t)
	hs := &harness{t: t, src: newFakeSource()}
	m := New(Options{Catalogue: cat, Header: Header{Contexts: []string{"central", "east", "west"}, Topology: "…", Source: "snapshot testdata/demo/mesh.tar.gz"}, Source: hs.src, NoColor: true})
	m.animate = false
	clock := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	hs.tm = teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = hs.tm.Quit() })
	hs.run = hs.src.started(t)
	hs.send(evs...)
	close(hs.run)
	hs.waitFor("checks done")
	return hs
}

// The demo on the first screen: the problems group on top, causes first
// with their consequences under them, the first cause selected with its
// remediation in view; and the map, with the broken elements marked.
func TestDemoGolden(t *testing.T) {
	t.Run("list 80x24", func(t *testing.T) {
		m := startDemo(t, 80, 24).final()
		golden(t, m)
		if r := selectedResult(t, m); r.CheckID != "trust.root-match" {
			t.Errorf("first screen selects %s, want the first cause trust.root-match", r.Key())
		}
	})
	t.Run("map 100x30", func(t *testing.T) {
		h := startDemo(t, 100, 30)
		h.keys("m")
		h.waitFor(" MAP")
		m := h.final()
		golden(t, m)
		v := m.View()
		for _, want := range []string{"network network1", "network network2", "cluster west", "gateway 10.214.1.10:15443",
			"root ", "remote secrets", "east → legacy (not in this run)", "✗ gateway no address:15443  istio-eastwestgateway"} {
			if !strings.Contains(v, want) {
				t.Errorf("map lacks %q", want)
			}
		}
	})
	t.Run("map 80x24 next broken element", func(t *testing.T) {
		h := startDemo(t, 80, 24)
		h.keys("m", "n")
		h.waitFor(" MAP")
		golden(t, h.final())
	})
}

// Selecting a broken element shows its results, and enter opens its cause
// in the list.
func TestMapSelectionShowsResultsAndOpensThem(t *testing.T) {
	cat, evs := demoRun(t)
	m := New(Options{Catalogue: cat, Header: testHeader, NoColor: true})
	m.animate = false
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	for _, ev := range evs {
		m.Update(eventMsg{gen: m.gen, ev: ev})
	}
	m.Update(runDoneMsg{gen: m.gen})
	press(m, "m")
	if !m.mapOn {
		t.Fatal("m did not open the map")
	}
	// Move to west's gateway, the one without an address.
	for range 40 {
		if m.mapSel == "gateway/west/istio-system/istio-eastwestgateway" {
			break
		}
		press(m, "n")
	}
	if m.mapSel != "gateway/west/istio-system/istio-eastwestgateway" {
		t.Fatalf("n never reached west's gateway (at %q)", m.mapSel)
	}
	text := m.elementText(100)
	for _, want := range []string{"FAIL  gateway istio-system/istio-eastwestgateway", "address no address", "Causes", "gateway.address west",
		"kubectl --context west -n istio-system get svc istio-eastwestgateway -o wide"} {
		if !strings.Contains(text, want) {
			t.Errorf("element detail lacks %q:\n%s", want, text)
		}
	}
	press(m, "enter")
	if m.mapOn {
		t.Fatal("enter did not leave the map")
	}
	if r := selectedResult(t, m); r.Key() != "gateway.address west" {
		t.Errorf("enter opened %q, want the gateway's cause", r.Key())
	}
}

// Every detail of the demo, at the widths the panes take at 80×24 (78),
// 100×30 (37) and a narrow one: no line wider than the pane, and the
// message and every command read back whole (wrapping loses no word).
func TestDemoDetailsFitAndLoseNothing(t *testing.T) {
	cat, evs := demoRun(t)
	m := New(Options{Catalogue: cat, Header: testHeader, NoColor: true})
	m.animate = false
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	for _, ev := range evs {
		m.Update(eventMsg{gen: m.gen, ev: ev})
	}
	m.Update(runDoneMsg{gen: m.gen})
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, w := range []int{78, 37, 24} {
		for i := range m.list.rows {
			r := &m.list.rows[i]
			text := m.detailText(r, w)
			for _, l := range strings.Split(text, "\n") {
				if lw := ansi.StringWidth(l); lw > w {
					t.Fatalf("width %d, %s: line %q is %d wide", w, r.key, l, lw)
				}
			}
			if r.kind != rowResult {
				continue
			}
			fits := func(s string) bool {
				for _, word := range strings.Fields(s) {
					if ansi.StringWidth(word) > w-6 {
						return false
					}
				}
				return true
			}
			got := norm(text)
			if fits(r.res.Message) && !strings.Contains(got, norm(r.res.Message)) {
				t.Errorf("width %d, %s: the message is not whole:\n%s", w, r.res.Key(), text)
			}
			for _, c := range strings.Split(r.res.Remediation, "\n") {
				if fits(c) && !strings.Contains(got, norm(c)) {
					t.Errorf("width %d, %s: the command %q is not whole:\n%s", w, r.res.Key(), c, text)
				}
			}
		}
	}
	// The map's elements too.
	press(m, "m")
	for _, w := range []int{78, 37, 24} {
		for _, l := range mapLines(m.mapModel()) {
			if l.id == "" {
				continue
			}
			m.mapSel = l.id
			for _, tl := range strings.Split(m.elementText(w), "\n") {
				if lw := ansi.StringWidth(tl); lw > w {
					t.Fatalf("width %d, %s: line %q is %d wide", w, l.id, tl, lw)
				}
			}
		}
	}
	// A line the pane must cut ends with an ellipsis.
	if l := fit("kubectl --context west -n istio-system get svc", 20); !strings.HasSuffix(l, glyphEllipsis) || ansi.StringWidth(l) != 20 {
		t.Errorf("fit cut %q", l)
	}
}
