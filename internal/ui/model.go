package ui

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// runState is where a check stands in the current run.
type runState int

const (
	idle    runState = iota // in no run yet
	queued                  // in the current run, not started
	running                 // started, no results yet
	done                    // results from the latest run that reached it
	notRun                  // a run ended (cancelled) before reporting it
)

// entry is one check of the catalogue and what the UI knows of it.
type entry struct {
	check   checks.Check
	order   int
	state   runState
	results []checks.Result
	ran     bool // results came from some run
}

// run is the run in progress (or the last one).
type run struct {
	gen      int
	ctx      context.Context
	cancel   context.CancelFunc
	ch       <-chan checks.Event
	ids      map[string]bool
	finished int
	active   bool
}

// Messages. Each run-related one carries the generation of the run it
// belongs to, so that events of a replaced run are dropped.
type (
	runStartedMsg struct {
		gen int
		ch  <-chan checks.Event
	}
	eventMsg struct {
		gen int
		ev  checks.Event
	}
	runDoneMsg struct{ gen int }
	copiedMsg  struct {
		where string
		err   error
	}
	exportedMsg struct {
		format, path string
		err          error
	}
)

type groupMode int

const (
	byArea groupMode = iota
	byCluster
)

type sortMode int

const (
	failuresFirst sortMode = iota
	catalogueOrder
)

// Model is the root tea.Model: it owns the state of the run and composes
// the header, list and detail panes.
type Model struct {
	opts    Options
	baseCtx context.Context
	st      styles
	keys    keyMap
	fkeys   filterKeyMap
	help    help.Model
	spin    spinner.Model
	bar     progress.Model
	input   textinput.Model
	list    listPane
	detail  detailPane

	entries    []*entry
	byID       map[string]*entry
	dependents map[string][]string

	gen     int
	run     run
	ticking bool
	// animate ticks the spinner; tests turn it off so frames are stable.
	animate bool

	width, height int
	lay           layout
	groupBy       groupMode
	order         sortMode
	failuresOnly  bool
	filtering     bool
	// moved is set once the user moves the selection; until then the
	// selection stays at the top during a run and the end of a run selects
	// the first failure.
	moved bool

	status    string
	statusErr bool

	// reading is set while the clusters are read (readingContexts, since
	// readingSince); unreachable names those that did not answer.
	reading         bool
	readingContexts []string
	readingSince    time.Time
	// deploying is the namespace probe pods are being deployed into
	// (--deploy-probes) before the clusters are read; "" otherwise.
	deploying    string
	contextsRead map[string]contextRead
	unreachable  []string
	now          func() time.Time

	// mesh is the latest inventory's mesh (InventoryRead); meshMap its map
	// with the results, built again when mapDirty. mapOn shows the map in
	// the list's place, mapSel is the selected element's ID.
	mesh      *mesh.Mesh
	meshMap   *meshmap.Map
	mapDirty  bool
	mapOn     bool
	mapSel    string
	mapOffset int

	// zoom gives the detail pane the whole body.
	zoom bool
	// jumps are the row keys Enter jumped from, for Back.
	jumps []string

	clip    io.Writer // where the OSC 52 sequence goes
	clipEnv clipEnv
}

func newModel(opts Options, r *lipgloss.Renderer, clip io.Writer) *Model {
	st := newStyles(r)
	m := &Model{
		opts:       opts,
		baseCtx:    context.Background(),
		st:         st,
		keys:       newKeyMap(),
		fkeys:      newFilterKeyMap(),
		help:       help.New(),
		spin:       spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(st.running)),
		byID:       map[string]*entry{},
		dependents: map[string][]string{},
		animate:    true,
		now:        time.Now,
		width:      80,
		height:     24,
		clip:       clip,
		clipEnv:    clipEnv{getenv: func(string) string { return "" }, tmuxOption: execTmuxOption},
	}
	m.help.Styles = st.help
	m.keys.Map.SetEnabled(false) // no map view yet
	m.bar = progress.New(
		progress.WithSolidFill(st.progressFull),
		progress.WithColorProfile(r.ColorProfile()),
	)
	m.bar.EmptyColor = st.progressEmpty
	m.bar.PercentageStyle = st.plain
	m.input = textinput.New()
	m.input.Prompt = "/"
	m.input.Placeholder = "text in ID, title, cluster, message or evidence"
	m.input.PromptStyle = st.prompt
	m.input.TextStyle = st.plain
	m.input.PlaceholderStyle = st.dim
	m.input.CompletionStyle = st.dim
	m.input.Cursor.Style = st.selected
	m.input.Cursor.TextStyle = st.plain
	m.input.Cursor.SetMode(cursor.CursorStatic)
	m.list.collapsed = map[string]bool{}
	for _, c := range opts.Catalogue {
		m.addEntry(c)
	}
	m.layout()
	m.refresh()
	return m
}

func (m *Model) addEntry(c checks.Check) *entry {
	if e := m.byID[c.ID]; e != nil {
		return e
	}
	e := &entry{check: c, order: len(m.entries)}
	m.entries = append(m.entries, e)
	m.byID[c.ID] = e
	for _, d := range c.DependsOn {
		m.dependents[d] = append(m.dependents[d], c.ID)
	}
	return e
}

// Init starts the run at once.
func (m *Model) Init() tea.Cmd { return m.startRun(nil) }

// Results returns the latest results of every check, in catalogue order.
func (m *Model) Results() []checks.Result {
	var out []checks.Result
	for _, e := range m.entries {
		out = append(out, e.results...)
	}
	return out
}

// Update handles one message; all I/O happens in the returned commands.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		m.refresh()
	case runStartedMsg:
		if msg.gen != m.run.gen || !m.run.active {
			return m, nil
		}
		m.run.ch = msg.ch
		return m, waitEvent(m.run.ctx, msg.gen, msg.ch)
	case eventMsg:
		if msg.gen != m.run.gen || !m.run.active {
			return m, nil
		}
		m.apply(msg.ev)
		m.refresh()
		return m, waitEvent(m.run.ctx, msg.gen, m.run.ch)
	case runDoneMsg:
		if msg.gen != m.run.gen || !m.run.active {
			return m, nil
		}
		m.finishRun()
		m.refresh()
	case spinner.TickMsg:
		if !m.run.active {
			m.ticking = false
			return m, nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		m.syncDetail() // the detail pane shows the spinner too
		return m, cmd
	case copiedMsg:
		if msg.err != nil {
			m.setStatus("copy failed: "+msg.err.Error(), true)
		} else {
			m.setStatus(msg.where, false)
		}
	case exportedMsg:
		if msg.err != nil {
			m.setStatus("export "+msg.format+" failed: "+msg.err.Error(), true)
		} else {
			m.setStatus("exported "+msg.format+" to "+msg.path, false)
		}
	case tea.MouseMsg:
		m.mouse(msg)
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.filtering {
			// Keys typed faster than the program reads them arrive as one
			// message ("nn"): each is a key of its own.
			var cmds []tea.Cmd
			for _, r := range msg.Runes {
				cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
			}
			return m, tea.Batch(cmds...)
		}
		return m, m.key(msg)
	}
	return m, nil
}

func (m *Model) setStatus(s string, isErr bool) { m.status, m.statusErr = s, isErr }

// waitEvent waits for the next event of a run: bubbletea's realtime
// pattern, re-armed after every message.
func waitEvent(ctx context.Context, gen int, ch <-chan checks.Event) tea.Cmd {
	return func() tea.Msg {
		select {
		case ev, ok := <-ch:
			if !ok {
				return runDoneMsg{gen: gen}
			}
			return eventMsg{gen: gen, ev: ev}
		case <-ctx.Done():
			return runDoneMsg{gen: gen}
		}
	}
}

// startRun begins a run of only (nil: all) and returns the command that
// calls Source.Start. A run still going is cancelled first.
func (m *Model) startRun(only []string) tea.Cmd {
	m.stopRun()
	m.gen++
	ctx, cancel := context.WithCancel(m.baseCtx)
	m.run = run{gen: m.gen, ctx: ctx, cancel: cancel, ids: map[string]bool{}, active: true}
	mark := func(e *entry) {
		e.state = queued
		m.run.ids[e.check.ID] = true
	}
	if only == nil {
		for _, e := range m.entries {
			mark(e)
		}
	} else {
		for _, id := range only {
			if e := m.byID[id]; e != nil {
				mark(e)
			}
		}
	}
	m.refresh()
	src, gen, ids := m.opts.Source, m.gen, slices.Clone(only)
	cmds := []tea.Cmd{func() tea.Msg {
		if src == nil {
			return runDoneMsg{gen: gen}
		}
		return runStartedMsg{gen: gen, ch: src.Start(ctx, ids)}
	}}
	if m.animate && !m.ticking {
		m.ticking = true
		cmds = append(cmds, m.spin.Tick)
	}
	return tea.Batch(cmds...)
}

// stopRun cancels the current run's context (the source stops; its
// waiting command returns).
func (m *Model) stopRun() {
	if m.run.cancel != nil {
		m.run.cancel()
	}
}

func (m *Model) apply(ev checks.Event) {
	switch ev.Kind {
	case checks.ProbesDeploying:
		// Shown like the reading of the clusters, which follows it.
		m.reading, m.readingContexts, m.readingSince = true, ev.Contexts, m.now()
		m.contextsRead = map[string]contextRead{}
		m.deploying = ev.Namespace
		return
	case checks.InventoryStarted:
		m.reading, m.readingContexts, m.readingSince = true, ev.Contexts, m.now()
		m.contextsRead = map[string]contextRead{}
		m.deploying = ""
		return
	case checks.ContextRead:
		for _, c := range ev.Contexts {
			m.contextsRead[c] = contextRead{took: m.now().Sub(m.readingSince), unreachable: ev.Unreachable}
		}
		return
	case checks.InventoryRead:
		m.reading = false
		if ev.Mesh != nil {
			m.mesh, m.mapDirty = ev.Mesh, true
			m.keys.Map.SetEnabled(true)
			m.opts.Header.Topology = ev.Mesh.Topology()
			m.opts.Header.Networks = ev.Mesh.Networks()
			m.unreachable = m.unreachable[:0]
			for _, c := range ev.Mesh.Clusters {
				if !c.Reachable() {
					m.unreachable = append(m.unreachable, c.Name)
				}
			}
		}
		return
	}
	if ev.Check == nil {
		return
	}
	e := m.byID[ev.Check.ID]
	if e == nil {
		e = m.addEntry(*ev.Check)
	}
	m.run.ids[e.check.ID] = true
	switch ev.Kind {
	case checks.CheckStarted:
		e.state = running
	case checks.CheckFinished:
		rs := slices.Clone(ev.Results)
		for i := range rs {
			if rs[i].CheckID == "" {
				rs[i].CheckID = e.check.ID
			}
		}
		if e.state != done {
			m.run.finished++
		}
		e.results, e.state, e.ran = rs, done, true
		m.explain()
		m.mapDirty = true
	}
}

// explain links every problem among the results so far to the problems
// that explain it (checks.Explain), so that the list shows causes before
// their consequences and the detail pane names both.
func (m *Model) explain() {
	var cs []checks.Check
	var all []checks.Result
	for _, e := range m.entries {
		cs = append(cs, e.check)
		all = append(all, e.results...)
	}
	all = checks.Explain(cs, all)
	i := 0
	for _, e := range m.entries {
		for k := range e.results {
			e.results[k].CausedBy = all[i].CausedBy
			i++
		}
	}
}

func (m *Model) finishRun() {
	for id := range m.run.ids {
		e := m.byID[id]
		if e == nil || (e.state != queued && e.state != running) {
			continue
		}
		if e.ran {
			e.state = done
		} else {
			e.state = notRun
		}
	}
	m.run.active = false
	m.stopRun()
	if !m.moved {
		m.list.selectFirstFailure()
	}
}

// counts returns the number of results per status.
func (m *Model) counts() (c [5]int) {
	for _, e := range m.entries {
		for _, r := range e.results {
			if int(r.Status) < len(c) {
				c[r.Status]++
			}
		}
	}
	return c
}

func (m *Model) runningCount() (n int) {
	for _, e := range m.entries {
		if e.state == running {
			n++
		}
	}
	return n
}

// refresh rebuilds the rows from the state and points the detail pane at
// the selected row.
func (m *Model) refresh() {
	m.list.rebuild(m.entries, rowOptions{
		groupBy:      m.groupBy,
		order:        m.order,
		failuresOnly: m.failuresOnly,
		filter:       m.input.Value(),
		contexts:     m.opts.Header.Contexts,
	}, m.lay.listH, m.moved)
	m.syncDetail()
}

// syncDetail renders the detail of the selected row into the detail pane;
// while the clusters are read, it shows how each is doing instead.
func (m *Model) syncDetail() {
	if m.reading {
		m.detail.set("reading", m.readingText(m.lay.detW))
		return
	}
	if m.mapOn {
		if mm := m.mapModel(); mm != nil {
			m.mapSelected(mapLines(mm)) // the first broken element until one is chosen
		}
		text := m.elementText(m.lay.detW)
		m.detail.set("map:"+m.mapSel, text)
		return
	}
	m.detail.set(m.list.selectedKey(), m.detailText(m.list.selected(), m.lay.detW))
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if m.filtering {
		return m.filterKey(msg)
	}
	m.setStatus("", false)
	k := m.keys
	if m.mapOn && !m.zoom && m.mapKey(msg) {
		m.syncDetail()
		return nil
	}
	if m.zoom && m.zoomKey(msg) {
		return nil
	}
	switch {
	case key.Matches(msg, k.Map):
		m.mapOn = !m.mapOn
		m.layout()
		m.refresh()
	case key.Matches(msg, k.Quit):
		m.stopRun()
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.layout()
	case key.Matches(msg, k.Up):
		m.list.move(-1)
		m.moved = true
	case key.Matches(msg, k.Down):
		m.list.move(1)
		m.moved = true
	case key.Matches(msg, k.PageUp):
		m.list.move(-max(1, m.lay.listH-1))
		m.moved = true
	case key.Matches(msg, k.PageDown):
		m.list.move(max(1, m.lay.listH-1))
		m.moved = true
	case key.Matches(msg, k.Home):
		m.list.move(-len(m.list.rows))
		m.moved = true
	case key.Matches(msg, k.End):
		m.list.move(len(m.list.rows))
		m.moved = true
	case key.Matches(msg, k.NextProblem):
		m.nextProblem(1)
	case key.Matches(msg, k.PrevProblem):
		m.nextProblem(-1)
	case key.Matches(msg, k.Jump) && m.jumpTarget() != "":
		m.jump()
	case key.Matches(msg, k.Back):
		m.back()
	case key.Matches(msg, k.Toggle):
		m.list.toggle()
		m.moved = true
	case key.Matches(msg, k.Zoom):
		m.zoom = !m.zoom
		m.layout()
	case key.Matches(msg, k.Filter):
		m.filtering = true
		m.input.Focus()
		m.layout()
	case key.Matches(msg, k.ClearFilter):
		switch {
		case m.help.ShowAll:
			m.help.ShowAll = false
			m.layout()
		case m.input.Value() != "":
			m.input.SetValue("")
		}
	case key.Matches(msg, k.Failures):
		m.failuresOnly = !m.failuresOnly
	case key.Matches(msg, k.Group):
		m.groupBy = 1 - m.groupBy
	case key.Matches(msg, k.Sort):
		m.order = 1 - m.order
	case key.Matches(msg, k.Rerun):
		if m.run.active {
			m.setStatus("a run is in progress", true)
			break
		}
		ids := m.rerunIDs()
		if len(ids) == 0 {
			m.setStatus("nothing to rerun here", true)
			break
		}
		m.moved = true // keep the selection on what is being rerun
		return m.startRun(ids)
	case key.Matches(msg, k.RerunAll):
		if m.run.active {
			m.setStatus("a run is in progress", true)
			break
		}
		return m.startRun(nil)
	case key.Matches(msg, k.Copy):
		return m.copyRemediation()
	case key.Matches(msg, k.ExportJSON):
		return m.export("json")
	case key.Matches(msg, k.ExportJUnit):
		return m.export("junit")
	case key.Matches(msg, k.DetailDown):
		m.detail.vp.HalfPageDown()
		return nil
	case key.Matches(msg, k.DetailUp):
		m.detail.vp.HalfPageUp()
		return nil
	default:
		return nil
	}
	m.refresh()
	return nil
}

func (m *Model) filterKey(msg tea.KeyMsg) tea.Cmd {
	var cmd tea.Cmd
	switch {
	case key.Matches(msg, m.fkeys.Quit):
		m.stopRun()
		return tea.Quit
	case key.Matches(msg, m.fkeys.Accept):
		m.filtering = false
		m.input.Blur()
	case key.Matches(msg, m.fkeys.Cancel):
		m.filtering = false
		m.input.Blur()
		m.input.SetValue("")
	default:
		m.input, cmd = m.input.Update(msg)
	}
	m.layout()
	m.refresh()
	return cmd
}

func (m *Model) mouse(msg tea.MouseMsg) {
	if msg.Action != tea.MouseActionPress {
		return
	}
	inDetail := m.lay.inDetail(msg.X, msg.Y)
	switch msg.Button {
	case tea.MouseButtonWheelUp, tea.MouseButtonWheelDown:
		delta := 3
		if msg.Button == tea.MouseButtonWheelUp {
			delta = -3
		}
		if inDetail {
			if delta < 0 {
				m.detail.vp.ScrollUp(-delta)
			} else {
				m.detail.vp.ScrollDown(delta)
			}
			return
		}
		if m.mapOn {
			m.mapMove(delta/3, false)
			m.syncDetail()
			return
		}
		m.list.scroll(delta)
		m.moved = true
		m.syncDetail()
	case tea.MouseButtonLeft:
		if m.mapOn {
			return // the map is driven by keys
		}
		if i, ok := m.lay.listRow(msg.X, msg.Y); ok && m.list.clickRow(i) {
			m.moved = true
			m.syncDetail()
		}
	}
}

// rerunIDs is the selected check (or every check of the selected group)
// and everything that depends on it, in catalogue order.
func (m *Model) rerunIDs() []string {
	r := m.list.selected()
	if r == nil {
		return nil
	}
	want := map[string]bool{}
	var add func(id string)
	add = func(id string) {
		if want[id] {
			return
		}
		want[id] = true
		for _, d := range m.dependents[id] {
			add(d)
		}
	}
	if r.kind == rowGroup {
		for _, id := range m.list.groupChecks[r.group] {
			add(id)
		}
	} else {
		add(r.e.check.ID)
	}
	var ids []string
	for _, e := range m.entries {
		if want[e.check.ID] {
			ids = append(ids, e.check.ID)
		}
	}
	return ids
}

// copyRemediation writes the selected result's remediation to the
// terminal's clipboard with OSC 52.
func (m *Model) copyRemediation() tea.Cmd {
	r := m.list.selected()
	if r == nil || r.kind != rowResult || r.res.Remediation == "" {
		m.setStatus("nothing to copy: no remediation here", true)
		return nil
	}
	do := copyCmd(m.baseCtx, m.clipEnv, m.clip, r.res.Remediation)
	return func() tea.Msg { return do() }
}

func (m *Model) export(format string) tea.Cmd {
	if m.opts.Export == nil {
		m.setStatus("export is not available here", true)
		return nil
	}
	m.setStatus("exporting "+format+"…", false)
	export, rs := m.opts.Export, m.Results()
	return func() tea.Msg {
		path, err := export(format, rs)
		return exportedMsg{format: format, path: path, err: err}
	}
}

// nextProblem selects the next (dir 1) or previous (dir -1) problem (a
// failure, error or warning) in the list's order, opening its group when
// it is folded, and wraps around at the ends.
func (m *Model) nextProblem(dir int) {
	items := m.list.items
	// pos is the selection's place in items; a group header sits just
	// before its first item (pos = that item's index - 0.5, as 2i-1).
	pos := -1
	if sel := m.list.selected(); sel != nil {
		for i := range items {
			if items[i].key == sel.key {
				pos = 2 * i
				break
			}
			if sel.kind == rowGroup && items[i].group == sel.group {
				pos = 2*i - 1
				break
			}
		}
	}
	var problems []int
	for i, it := range items {
		if it.kind == rowResult && it.res.Problem() {
			problems = append(problems, i)
		}
	}
	if len(problems) == 0 {
		m.setStatus("no problems", false)
		return
	}
	next := -1
	if dir > 0 {
		for _, i := range problems {
			if 2*i > pos {
				next = i
				break
			}
		}
		if next < 0 {
			next = problems[0]
			m.setStatus("wrapped to the first problem", false)
		}
	} else {
		for _, i := range slices.Backward(problems) {
			if 2*i < pos {
				next = i
				break
			}
		}
		if next < 0 {
			next = problems[len(problems)-1]
			m.setStatus("wrapped to the last problem", false)
		}
	}
	m.selectKey(items[next].key)
}

// selectKey selects the row with key k, opening its group when it is
// folded; false when no row has it (filtered out).
func (m *Model) selectKey(k string) bool {
	for _, it := range m.list.items {
		if it.key == k {
			m.list.collapsed[collapseKey(m.groupBy, it.group)] = false
			break
		}
	}
	m.moved = true
	m.refresh()
	for i := range m.list.rows {
		if m.list.rows[i].key == k {
			m.list.cursor = i
			m.list.clampOffset()
			m.syncDetail()
			return true
		}
	}
	return false
}

// rowKeyOf returns the key of the row showing the result named rk (a
// checks.Result Key), or "".
func (m *Model) rowKeyOf(rk string) string {
	for _, it := range m.list.items {
		if it.kind == rowResult && it.res.Key() == rk {
			return it.key
		}
	}
	return ""
}

// jumpTarget is where Enter goes from the selected row: from a cause to
// the first problem it explains (in the list's order), from a consequence
// back to the cause it was reached from, else to its first cause.
func (m *Model) jumpTarget() string {
	r := m.list.selected()
	if r == nil || r.kind != rowResult {
		return ""
	}
	if len(r.res.CausedBy) > 0 {
		if n := len(m.jumps); n > 0 {
			for _, it := range m.list.items {
				if it.key == m.jumps[n-1] && slices.Contains(r.res.CausedBy, it.res.Key()) {
					return it.key
				}
			}
		}
		for _, c := range r.res.CausedBy {
			if k := m.rowKeyOf(c); k != "" {
				return k
			}
		}
		return ""
	}
	key := r.res.Key()
	for _, it := range m.list.items {
		if it.kind == rowResult && slices.Contains(it.res.CausedBy, key) {
			return it.key
		}
	}
	return ""
}

// jump follows jumpTarget, remembering where it came from; a jump back to
// the row it came from pops it instead.
func (m *Model) jump() {
	from, to := m.list.selectedKey(), m.jumpTarget()
	if n := len(m.jumps); n > 0 && m.jumps[n-1] == to {
		m.jumps = m.jumps[:n-1]
	} else {
		m.jumps = append(m.jumps, from)
	}
	if !m.selectKey(to) {
		m.setStatus("hidden by the filter (esc clears it)", true)
	}
}

// back returns to the row the last jump left.
func (m *Model) back() {
	n := len(m.jumps)
	if n == 0 {
		m.setStatus("no jump to go back from", true)
		return
	}
	to := m.jumps[n-1]
	m.jumps = m.jumps[:n-1]
	m.selectKey(to)
}

// mapKey handles the keys that mean something else on the map: moving
// among its elements and opening one; false for the others.
func (m *Model) mapKey(msg tea.KeyMsg) bool {
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		m.mapMove(-1, false)
	case key.Matches(msg, k.Down):
		m.mapMove(1, false)
	case key.Matches(msg, k.PageUp):
		m.mapMove(-max(1, m.lay.listH-1), false)
	case key.Matches(msg, k.PageDown):
		m.mapMove(max(1, m.lay.listH-1), false)
	case key.Matches(msg, k.Home):
		m.mapMove(-1<<20, false)
	case key.Matches(msg, k.End):
		m.mapMove(1<<20, false)
	case key.Matches(msg, k.NextProblem):
		m.mapMove(1, true)
	case key.Matches(msg, k.PrevProblem):
		m.mapMove(-1, true)
	case key.Matches(msg, k.Jump):
		m.mapOpen()
	default:
		return false
	}
	return true
}

// zoomKey scrolls the zoomed detail pane with the list's movement keys
// (the list is not on screen); false for the other keys.
func (m *Model) zoomKey(msg tea.KeyMsg) bool {
	k, vp := m.keys, &m.detail.vp
	switch {
	case key.Matches(msg, k.Up):
		vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		vp.PageUp()
	case key.Matches(msg, k.PageDown):
		vp.PageDown()
	case key.Matches(msg, k.Home):
		vp.GotoTop()
	case key.Matches(msg, k.End):
		vp.GotoBottom()
	default:
		return false
	}
	return true
}
