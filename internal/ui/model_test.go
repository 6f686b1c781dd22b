package ui

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// These tests drive Update directly, without a program: the state
// transitions behind the frames.

func newTestModel(w, h int) *Model {
	m := New(Options{Catalogue: testCatalogue(), Header: testHeader, NoColor: true})
	m.animate = false
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

func finishedModel(w, h int) *Model {
	m := newTestModel(w, h)
	for _, ev := range testEvents() {
		m.Update(eventMsg{gen: m.gen, ev: ev})
	}
	m.Update(runDoneMsg{gen: m.gen})
	return m
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEscape}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd = m.Update(msg)
	}
	return cmd
}

func groupNames(m *Model) []string {
	var gs []string
	for _, r := range m.list.rows {
		if r.kind == rowGroup {
			gs = append(gs, r.group)
		}
	}
	return gs
}

// selectRow moves the selection to the first row matching.
func selectRow(t *testing.T, m *Model, match func(r *row) bool) *row {
	t.Helper()
	for i := range m.list.rows {
		if match(&m.list.rows[i]) {
			m.list.cursor = i
			m.moved = true
			m.syncDetail()
			return &m.list.rows[i]
		}
	}
	t.Fatal("no row matches")
	return nil
}

func resultRow(id, cluster string) func(r *row) bool {
	return func(r *row) bool { return r.kind == rowResult && r.res.CheckID == id && r.res.Cluster == cluster }
}

func TestGroupingAndOrder(t *testing.T) {
	m := finishedModel(100, 30)
	if got, want := groupNames(m), []string{"problems", "contexts", "controlplane", "trust", "network", "gateway", "secrets"}; !slices.Equal(got, want) {
		t.Errorf("areas %q, want the problems first, then the areas %q", got, want)
	}
	// The problems: worst first (fail, error, warn), the rest stays in its area.
	var problems []string
	for _, r := range m.list.rows {
		if r.kind == rowResult && r.group == "problems" {
			problems = append(problems, r.res.Key()+" "+r.res.Status.String())
		}
		if r.kind == rowResult && r.group != "problems" && r.res.Problem() {
			t.Errorf("problem %s listed in %s too", r.res.Key(), r.group)
		}
	}
	if want := []string{"trust.cacerts-valid cluster-2 fail", "gateway.reachable cluster-2 → cluster-1 :15443 error", "gateway.external-address cluster-2 warn"}; !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
	press(m, "g")
	if got := groupNames(m); len(got) != 4 || got[0] != "problems" {
		t.Errorf("clusters %q, want the problems first", got)
	}
	press(m, "s")
	if got, want := groupNames(m), []string{"mesh", "cluster-1", "cluster-2"}; !slices.Equal(got, want) {
		t.Errorf("clusters in catalogue order %q, want mesh then the contexts %q", got, want)
	}
	// In catalogue order the problems stay in their areas.
	press(m, "g")
	var gw []checks.Status
	for _, r := range m.list.rows {
		if r.kind == rowResult && r.group == "gateway" {
			gw = append(gw, r.res.Status)
		}
	}
	if want := []checks.Status{checks.Pass, checks.Warn, checks.Pass, checks.Pass, checks.Pass, checks.Error}; !slices.Equal(gw, want) {
		t.Errorf("gateway results in catalogue order %v, want %v", gw, want)
	}
}

func TestFailuresOnly(t *testing.T) {
	m := finishedModel(100, 30)
	press(m, "f")
	if m.list.shown != 3 {
		t.Errorf("%d shown, want 3 (fail, error, warn)", m.list.shown)
	}
	for _, r := range m.list.rows {
		if r.kind != rowGroup && r.res.Status != checks.Fail && r.res.Status != checks.Error && r.res.Status != checks.Warn {
			t.Errorf("%s %s shown with failures only", r.res.CheckID, r.res.Status)
		}
	}
	press(m, "f")
	if m.list.shown != 22 {
		t.Errorf("%d shown after f again, want 22", m.list.shown)
	}
}

func TestFilterEscClears(t *testing.T) {
	m := finishedModel(100, 30)
	press(m, "/", "t", "l", "s")
	if !m.filtering || m.list.shown != 1 { // "tls": TLS handshake ok
		t.Errorf("filtering=%v shown=%d while typing, want live filtering to 1", m.filtering, m.list.shown)
	}
	press(m, "q") // typed into the filter, not quit
	if m.input.Value() != "tlsq" {
		t.Errorf("filter %q", m.input.Value())
	}
	press(m, "esc")
	if m.filtering || m.input.Value() != "" || m.list.shown != 22 {
		t.Errorf("after esc: filtering=%v value=%q shown=%d", m.filtering, m.input.Value(), m.list.shown)
	}
}

func TestSkippedDetailNamesPrerequisite(t *testing.T) {
	for _, tc := range []struct{ id, cluster string }{
		{"trust.root-match", ""},
		{"trust.istiod-uses-cacerts", "cluster-2"},
	} {
		m := finishedModel(100, 30)
		r := selectRow(t, m, resultRow(tc.id, tc.cluster))
		got := m.detailText(r, 300)
		want := "prerequisite trust.cacerts-valid failed for cluster-2: ca-cert.pem does not chain to root-cert.pem"
		if !strings.Contains(got, "Why skipped\n"+want) {
			t.Errorf("%s: detail does not name the prerequisite:\n%s", tc.id, got)
		}
		if !strings.Contains(got, "Depends on\n  ✗ FAIL trust.cacerts-valid") {
			t.Errorf("%s: dependencies not listed:\n%s", tc.id, got)
		}
	}
}

func TestSkippedOnUnreachableClusterNamesContextsCheck(t *testing.T) {
	m := newTestModel(100, 30)
	cat := testCatalogue()
	m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.CheckFinished, Check: &cat[0], Results: []checks.Result{
		{CheckID: "contexts.reachable", Status: checks.Pass, Cluster: "cluster-1"},
		{CheckID: "contexts.reachable", Status: checks.Error, Cluster: "cluster-2", Message: "dial tcp 10.0.2.1:6443: i/o timeout"},
	}}})
	m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.CheckFinished, Check: &cat[6], Results: []checks.Result{
		{CheckID: "network.namespace-label", Status: checks.Skipped, Cluster: "cluster-2", Message: "cluster unreachable"},
	}}})
	r := selectRow(t, m, resultRow("network.namespace-label", "cluster-2"))
	if got := m.detailText(r, 300); !strings.Contains(got, "prerequisite contexts.reachable could not run for cluster-2: dial tcp") {
		t.Errorf("detail:\n%s", got)
	}
}

func TestEvidenceAndRemediationInDetail(t *testing.T) {
	m := finishedModel(100, 30)
	r := selectRow(t, m, resultRow("trust.cacerts-valid", "cluster-2"))
	got := m.detailText(r, 300)
	for _, want := range []string{
		"✗ FAIL  trust.cacerts-valid  cluster-2\n",
		"\ntook 120ms\n",
		"Evidence\n  secret:         istio-system/cacerts\n  ca-cert issuer: CN=Intermediate CA,O=cluster-2",
		"Remediation  c copies it\n  " + cacertsFix + "\n\nNote\n  " + cacertsNote + "\n",
		"Needed by\n  trust.root-match, trust.istiod-uses-cacerts",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("detail lacks %q:\n%s", want, got)
		}
	}
}

func TestCollapseAndExpand(t *testing.T) {
	m := finishedModel(100, 30)
	selectRow(t, m, resultRow("gateway.ports", "cluster-1"))
	press(m, "enter") // on an item that is no cause: folds its group, selects the header
	r := m.list.selected()
	if r.kind != rowGroup || r.group != "gateway" || !r.collapsed {
		t.Fatalf("selected %+v, want the collapsed gateway header", r)
	}
	for _, r := range m.list.rows {
		if r.kind != rowGroup && r.group == "gateway" {
			t.Fatal("gateway items still shown")
		}
	}
	if !strings.Contains(m.View(), "(4 hidden)") {
		t.Error("collapsed header does not say how many rows it hides")
	}
	press(m, " ")
	if r := m.list.selected(); r.collapsed {
		t.Error("space did not expand")
	}
}

func TestRerunIDsFollowDependents(t *testing.T) {
	m := finishedModel(100, 30)
	selectRow(t, m, resultRow("contexts.reachable", "cluster-1"))
	want := []string{"contexts.reachable", "controlplane.istiod-ready", "controlplane.mesh-id",
		"trust.cacerts-valid", "trust.root-match", "trust.istiod-uses-cacerts"}
	if got := m.rerunIDs(); !slices.Equal(got, want) {
		t.Errorf("rerun %q, want %q", got, want)
	}
	selectRow(t, m, func(r *row) bool { return r.kind == rowGroup && r.group == "network" })
	if got, want := m.rerunIDs(), []string{"network.namespace-label", "network.gateway-label"}; !slices.Equal(got, want) {
		t.Errorf("rerun group %q, want %q", got, want)
	}
}

func TestRerunRefusedWhileRunning(t *testing.T) {
	m := newTestModel(100, 30)
	gen := m.gen
	if cmd := press(m, "R"); cmd != nil || m.gen != gen {
		t.Error("R started a second run while one is going")
	}
	if m.status != "a run is in progress" {
		t.Errorf("status %q", m.status)
	}
}

func TestEventsOfReplacedRunAreDropped(t *testing.T) {
	m := finishedModel(100, 30)
	old := m.gen
	press(m, "R")
	cat := testCatalogue()
	_, cmd := m.Update(eventMsg{gen: old, ev: checks.Event{Kind: checks.CheckFinished, Check: &cat[0],
		Results: []checks.Result{{CheckID: cat[0].ID, Status: checks.Fail}}}})
	if cmd != nil {
		t.Error("a stale event re-armed the wait")
	}
	if m.run.finished != 0 || m.byID[cat[0].ID].results[0].Status != checks.Pass {
		t.Error("a stale event changed the state")
	}
}

func TestStoppedRunMarksChecksNotRun(t *testing.T) {
	m := newTestModel(100, 30)
	cat := testCatalogue()
	m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.CheckStarted, Check: &cat[0]}})
	m.Update(runDoneMsg{gen: m.gen})
	if m.run.active || m.byID[cat[0].ID].state != notRun || m.byID[cat[5].ID].state != notRun {
		t.Error("checks that never finished are not marked not run")
	}
	if v := m.View(); !strings.Contains(v, "0/12 checks stopped") || !strings.Contains(v, "N/A") {
		t.Errorf("frame does not show the stopped run:\n%s", v)
	}
}

func TestUnknownCheckIsAdded(t *testing.T) {
	m := newTestModel(100, 30)
	extra := checks.Check{ID: "config.stale-serviceentry", Title: "ServiceEntries point at live gateways", Scope: checks.Mesh}
	m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.CheckFinished, Check: &extra,
		Results: []checks.Result{{Status: checks.Warn, Message: "1 stale"}}}})
	rs := m.Results()
	if len(rs) != 1 || rs[0].CheckID != extra.ID {
		t.Errorf("results %+v", rs)
	}
	press(m, "s") // catalogue order: the warning in its own area
	if !slices.Contains(groupNames(m), "config") {
		t.Errorf("groups %q lack config", groupNames(m))
	}
}

func TestCopyWithoutRemediation(t *testing.T) {
	m := finishedModel(100, 30)
	selectRow(t, m, resultRow("gateway.ports", "cluster-1"))
	if cmd := press(m, "c"); cmd != nil {
		t.Error("copy of nothing returned a command")
	}
	if !m.statusErr || !strings.HasPrefix(m.status, "nothing to copy") {
		t.Errorf("status %q", m.status)
	}
	press(m, "down")
	if m.status != "" {
		t.Error("the status did not clear on the next key")
	}
}

func TestExportUnavailable(t *testing.T) {
	m := finishedModel(100, 30)
	if cmd := press(m, "J"); cmd != nil || m.status != "export is not available here" {
		t.Errorf("cmd=%v status=%q", cmd != nil, m.status)
	}
}

func TestMouse(t *testing.T) {
	m := finishedModel(80, 24)
	lay := m.lay
	wheel := func(b tea.MouseButton, x, y int) {
		m.Update(tea.MouseMsg{X: x, Y: y, Button: b, Action: tea.MouseActionPress})
	}
	wheel(tea.MouseButtonWheelDown, 5, lay.detY+1) // the cacerts failure: 22 lines
	if m.detail.vp.YOffset != 3 {
		t.Errorf("detail offset %d after wheel down on the detail", m.detail.vp.YOffset)
	}
	wheel(tea.MouseButtonWheelDown, 5, lay.listY+1)
	if m.list.offset != 3 || m.list.cursor < 3 {
		t.Errorf("offset %d cursor %d after wheel down on the list", m.list.offset, m.list.cursor)
	}
	wheel(tea.MouseButtonWheelUp, 5, lay.listY+1)
	if m.list.offset != 0 {
		t.Errorf("offset %d after wheel up", m.list.offset)
	}
	m.Update(tea.MouseMsg{X: 10, Y: lay.listY + 2, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.list.cursor != 2 {
		t.Errorf("click selected row %d, want 2", m.list.cursor)
	}
}

func TestLayoutFillsTheTerminal(t *testing.T) {
	for _, sz := range [][2]int{{120, 40}, {100, 30}, {99, 30}, {80, 24}, {40, 12}, {20, 8}} {
		m := finishedModel(sz[0], sz[1])
		press(m, "?")
		for _, help := range []bool{true, false} {
			v := m.View()
			lines := strings.Split(v, "\n")
			if len(lines) != max(10, sz[1]) {
				t.Errorf("%dx%d help=%v: %d lines", sz[0], sz[1], help, len(lines))
			}
			for i, l := range lines {
				if w := lipgloss.Width(l); w > max(20, sz[0]) {
					t.Errorf("%dx%d: line %d is %d wide", sz[0], sz[1], i, w)
				}
			}
			press(m, "?")
		}
		if stacked := sz[0] < sideBySideWidth; m.lay.stacked != stacked {
			t.Errorf("%dx%d: stacked=%v", sz[0], sz[1], m.lay.stacked)
		}
	}
}

func TestNoColorAndColor(t *testing.T) {
	if v := finishedModel(100, 30).View(); strings.Contains(v, "\x1b") {
		t.Error("NoColor frame has escape sequences")
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI)
	m := newModel(Options{Catalogue: testCatalogue(), Header: testHeader}, r, io.Discard)
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	if v := m.View(); !strings.Contains(v, "\x1b[") {
		t.Error("a colour renderer draws no colour")
	}
}

func TestWrapText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		first, w int
		want     []string
	}{
		{"fits", "a b c", 10, 10, []string{"a b c"}},
		{"breaks at spaces, keeps flags whole", "kubectl --from-file=a.pem --from-file=b.pem", 26, 26,
			[]string{"kubectl --from-file=a.pem", "--from-file=b.pem"}},
		{"hard-breaks long words", "3f:a1:09:7c:22:be", 6, 6, []string{"3f:a1:", "09:7c:", "22:be"}},
		{"hanging width", "one two three four", 4, 10, []string{"one", "two three", "four"}},
		{"keeps paragraphs", "a\n\nb", 5, 5, []string{"a", "", "b"}},
	} {
		if got := wrapHanging(tc.in, tc.first, tc.w); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}

func TestObserverSource(t *testing.T) {
	cat := testCatalogue()
	src := ObserverSource(func(ctx context.Context, only []string, obs checks.Observer) {
		for i := range only {
			obs(checks.Event{Kind: checks.CheckStarted, Check: &cat[i]})
		}
	})
	var got []string
	for ev := range src.Start(context.Background(), []string{"a", "b"}) {
		got = append(got, ev.Check.ID)
	}
	if want := []string{cat[0].ID, cat[1].ID}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}

	// A reader that went away must not block the runner: cancelling
	// drops the events and the channel closes.
	ctx, cancel := context.WithCancel(context.Background())
	ch := ObserverSource(func(ctx context.Context, _ []string, obs checks.Observer) {
		for ctx.Err() == nil {
			obs(checks.Event{Kind: checks.CheckStarted, Check: &cat[0]})
		}
	}).Start(ctx, nil)
	<-ch
	cancel()
	timeout := time.After(time.Minute) // a deadlock guard, not a timing claim
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed after cancel")
		}
	}
}

// A problem that another explains is listed after the causes, marked, and
// its detail names the cause; the cause's detail names what it explains.
func TestCausesBeforeConsequences(t *testing.T) {
	cat := []checks.Check{
		{ID: "endpoints.proxy-table", Title: "a sidecar's endpoints are the ones that should be there", Scope: checks.PerCluster},
		{ID: "gateway.address", Title: "the east-west gateway has an external address", Scope: checks.PerCluster},
	}
	m := New(Options{Catalogue: cat, Header: testHeader, NoColor: true})
	m.animate = false
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	results := map[string][]checks.Result{
		"endpoints.proxy-table": {{CheckID: "endpoints.proxy-table", Status: checks.Fail, Cluster: "cluster-1", Message: "west's gateway missing"}},
		"gateway.address":       {{CheckID: "gateway.address", Status: checks.Fail, Cluster: "cluster-2", Message: "no external address"}},
	}
	for i := range cat {
		m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.CheckFinished, Check: &cat[i], Results: results[cat[i].ID]}})
	}
	m.Update(runDoneMsg{gen: m.gen})

	var order []string
	for _, r := range m.list.rows {
		id := ""
		if r.kind != rowGroup {
			id = m.rowID(&r)
		}
		order = append(order, r.group+":"+id)
	}
	if want := []string{"problems:", "problems:gateway.address", "problems:└ endpoints.proxy-table"}; !slices.Equal(order, want) {
		t.Errorf("rows %q, want the cause, then its consequence %q", order, want)
	}
	r := selectRow(t, m, resultRow("endpoints.proxy-table", "cluster-1"))
	if id := m.rowID(r); id != "└ endpoints.proxy-table" {
		t.Errorf("consequence row shows %q", id)
	}
	detail := m.detailText(r, 100)
	if !strings.Contains(detail, "Caused by") || !strings.Contains(detail, "gateway.address cluster-2") {
		t.Errorf("consequence detail does not name its cause:\n%s", detail)
	}
	r = selectRow(t, m, resultRow("gateway.address", "cluster-2"))
	if id := m.rowID(r); id != "gateway.address" {
		t.Errorf("cause row shows %q", id)
	}
	detail = m.detailText(r, 100)
	if !strings.Contains(detail, "Explains") || !strings.Contains(detail, "endpoints.proxy-table cluster-1") {
		t.Errorf("cause detail does not name what it explains:\n%s", detail)
	}
	// In a narrow pane the key wraps instead of being cut.
	narrow := m.detailText(r, 24)
	for _, l := range strings.Split(narrow, "\n") {
		if ansi.StringWidth(l) > 24 {
			t.Errorf("line wider than the pane: %q", l)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(narrow), ""), "endpoints.proxy-tablecluster-1") {
		t.Errorf("the consequence's key is cut in a narrow pane:\n%s", narrow)
	}
}

// causeModel is a finished run with one cause (west's gateway has no
// address) explaining two consequences, and a passing check.
func causeModel(t *testing.T, w, h int) *Model {
	t.Helper()
	cat := []checks.Check{
		{ID: "contexts.reachable", Title: "each context's API server answers", Scope: checks.PerCluster},
		{ID: "endpoints.proxy-table", Title: "a sidecar's endpoints are the ones that should be there", Scope: checks.PerCluster},
		{ID: "gateway.address", Title: "the east-west gateway has an external address", Scope: checks.PerCluster},
	}
	m := New(Options{Catalogue: cat, Header: testHeader, NoColor: true})
	m.animate = false
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	results := map[string][]checks.Result{
		"contexts.reachable": {{CheckID: "contexts.reachable", Status: checks.Pass, Cluster: "east", Message: "reachable"}},
		"endpoints.proxy-table": {
			{CheckID: "endpoints.proxy-table", Status: checks.Fail, Cluster: "central", Target: "outbound|5000||helloworld", Message: "west's gateway missing"},
			{CheckID: "endpoints.proxy-table", Status: checks.Fail, Cluster: "east", Target: "outbound|5000||helloworld", Message: "west's gateway missing"},
		},
		"gateway.address": {{CheckID: "gateway.address", Status: checks.Fail, Cluster: "west", Message: "no external address",
			Remediation: "kubectl --context west -n istio-system get svc istio-eastwestgateway -o wide"}},
	}
	for i := range cat {
		m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.CheckFinished, Check: &cat[i], Results: results[cat[i].ID]}})
	}
	m.Update(runDoneMsg{gen: m.gen})
	return m
}

func selectedKey(m *Model) string {
	r := m.list.selected()
	if r == nil {
		return "<none>"
	}
	if r.kind == rowGroup {
		return "group " + r.group
	}
	return r.res.Key()
}

const (
	keyCause   = "gateway.address west"
	keyCentral = "endpoints.proxy-table central outbound|5000||helloworld"
	keyEast    = "endpoints.proxy-table east outbound|5000||helloworld"
)

func TestEnterJumpsBetweenCauseAndConsequence(t *testing.T) {
	m := causeModel(t, 100, 30)
	if got := selectedKey(m); got != keyCause {
		t.Fatalf("the run ended with %q selected, want the cause %q", got, keyCause)
	}
	for i, step := range []struct{ key, want string }{
		{"enter", keyCentral}, // the cause's first consequence
		{"enter", keyCause},   // and back
		{"enter", keyCentral},
		{"down", keyEast},
		{"b", keyCause}, // back from the jump, wherever the selection went
		{"b", keyCause}, // nothing left to go back from
		{"N", keyEast},  // previous problem wraps to the last
		{"enter", keyCause},
	} {
		press(m, step.key)
		if got := selectedKey(m); got != step.want {
			t.Fatalf("step %d (%s): selected %q, want %q", i, step.key, got, step.want)
		}
	}
	if m.status != "" {
		t.Errorf("status %q after a plain jump", m.status)
	}
	// Enter on a result that is neither cause nor consequence folds its group.
	selectRow(t, m, resultRow("contexts.reachable", "east"))
	press(m, "enter")
	if r := m.list.selected(); r.kind != rowGroup || !r.collapsed {
		t.Errorf("enter on a pass selected %q, want its folded group", selectedKey(m))
	}
}

func TestNextProblemSkipsPassesAndOpensFoldedGroups(t *testing.T) {
	m := causeModel(t, 100, 30)
	press(m, "n")
	if got := selectedKey(m); got != keyCentral {
		t.Fatalf("n selected %q, want %q", got, keyCentral)
	}
	press(m, "n")
	press(m, "n") // past the last problem: wraps to the first
	if got := selectedKey(m); got != keyCause || !strings.HasPrefix(m.status, "wrapped") {
		t.Errorf("n at the end selected %q (status %q), want the first problem, wrapped", got, m.status)
	}
	press(m, "N")
	if got := selectedKey(m); got != keyEast {
		t.Errorf("N at the start selected %q, want the last problem", got)
	}
	// Fold the problems group: n opens it again.
	press(m, " ")
	if r := m.list.selected(); r.kind != rowGroup || !r.collapsed {
		t.Fatalf("space selected %q", selectedKey(m))
	}
	press(m, "n")
	if got := selectedKey(m); got != keyCause {
		t.Errorf("n from the folded header selected %q, want the first problem", got)
	}
	// Nothing but passes: n says so.
	p := finishedModel(100, 30)
	press(p, "f") // failures only keeps problems; filter them all out
	press(p, "/", "n", "o", "t", "h", "i", "n", "g", "enter")
	press(p, "n")
	if p.status != "no problems" {
		t.Errorf("status %q with no problem shown", p.status)
	}
}

func TestZoomShowsTheWholeRemediationAt80x24(t *testing.T) {
	m := causeModel(t, 80, 24)
	v := m.View()
	if !strings.Contains(v, "kubectl --context west -n istio-system get svc istio-eastwestgateway -o wide") {
		t.Errorf("the selected cause's remediation is not on the first screen:\n%s", v)
	}
	press(m, "z")
	if !m.lay.zoomed {
		t.Fatal("z did not zoom")
	}
	v = m.View()
	if strings.Contains(v, "RESULTS") || !strings.Contains(v, "Explains") {
		t.Errorf("zoomed frame shows the list or lacks the detail:\n%s", v)
	}
	if got := strings.Count(v, "\n") + 1; got != 24 {
		t.Errorf("zoomed frame has %d lines", got)
	}
	// ↓ scrolls the zoomed detail instead of moving the hidden list (the
	// cacerts failure's detail is longer than the screen).
	long := finishedModel(80, 24)
	press(long, "z")
	sel := selectedKey(long)
	press(long, "down")
	if long.detail.vp.YOffset != 1 || selectedKey(long) != sel {
		t.Errorf("down while zoomed: offset %d, selected %q (was %q)", long.detail.vp.YOffset, selectedKey(long), sel)
	}
	press(m, "n") // n still moves the selection, the detail follows
	if !strings.Contains(m.View(), "FAIL  endpoints.proxy-table  central") {
		t.Errorf("zoomed detail does not follow n:\n%s", m.View())
	}
	press(m, "tab")
	if m.lay.zoomed {
		t.Error("tab did not unzoom")
	}
}

func TestShortHelpFits80Columns(t *testing.T) {
	m := finishedModel(80, 24)
	m.keys.Map.SetEnabled(true) // as once the clusters are read
	h := m.helpView()
	if w := lipgloss.Width(h); w > 80 || !strings.HasSuffix(strings.TrimSpace(h), "q quit") {
		t.Errorf("short help is %d wide or loses q: %q", w, h)
	}
}

func TestReadingShowsEachContextAndTheSlowOnes(t *testing.T) {
	m := newTestModel(80, 24)
	clock := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	ev := func(e checks.Event) { m.Update(eventMsg{gen: m.gen, ev: e}) }
	ev(checks.Event{Kind: checks.InventoryStarted, Contexts: []string{"central", "east", "west"}})
	v := m.View()
	for _, want := range []string{"reading 3 contexts (0s) waiting for central, east, west", "Reading the clusters", "central  reading… 0s", "west     reading… 0s"} {
		if !strings.Contains(v, want) {
			t.Errorf("first frame lacks %q:\n%s", want, v)
		}
	}
	clock = clock.Add(400 * time.Millisecond)
	ev(checks.Event{Kind: checks.ContextRead, Contexts: []string{"east"}})
	clock = clock.Add(2100 * time.Millisecond)
	m.Update(spinner.TickMsg{}) // what redraws the elapsed time
	v = m.View()
	for _, want := range []string{"reading 3 contexts (2.5s) slow: central, west", "✓ east     read in 400ms", "! central  slow: no answer after 2.5s"} {
		if !strings.Contains(v, want) {
			t.Errorf("frame after 2.5s lacks %q:\n%s", want, v)
		}
	}
	ev(checks.Event{Kind: checks.ContextRead, Contexts: []string{"west"}, Unreachable: "timeout: get version: no answer"})
	if v := m.View(); !strings.Contains(v, "E west     could not be read after 2.5s: timeout") || !strings.Contains(v, "slow: central") || strings.Contains(v, "slow: central, west") {
		t.Errorf("frame after west gave up:\n%s", v)
	}
	ev(checks.Event{Kind: checks.InventoryRead})
	if v := m.View(); strings.Contains(v, "Reading the clusters") || strings.Contains(v, "reading 3") {
		t.Errorf("still reading after InventoryRead:\n%s", v)
	}
}

func TestKeysTypedTogetherAreEachHandled(t *testing.T) {
	m := causeModel(t, 100, 30)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("nn")})
	if got := selectedKey(m); got != keyEast {
		t.Errorf(`"nn" in one message selected %q, want two problems further %q`, got, keyEast)
	}
}

func TestCommandLinesNeverCutAWordThatFitsThePane(t *testing.T) {
	cmd := "make -f tools/certs/Makefile.selfsigned.mk root-ca"
	for _, w := range []int{20, 34, 36, 80} {
		got := commandLines(cmd, w)
		joined := strings.Join(strings.Fields(strings.Join(got, " ")), " ")
		if w < 34 { // the path is wider than the pane: hard-broken
			joined, cmd := strings.Join(strings.Fields(strings.Join(got, "")), ""), strings.ReplaceAll(cmd, " ", "")
			if joined != cmd {
				t.Errorf("width %d: %q loses text", w, got)
			}
			continue
		}
		if joined != cmd {
			t.Errorf("width %d: %q does not read back as the command", w, got)
		}
		for _, l := range got {
			if ansi.StringWidth(l) > w {
				t.Errorf("width %d: line %q is wider", w, l)
			}
		}
		if w >= 34 && !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "tools/certs/Makefile.selfsigned.mk") }) {
			t.Errorf("width %d: the 34-cell path was cut though it fits: %q", w, got)
		}
	}
}
