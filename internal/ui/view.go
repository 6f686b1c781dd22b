package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

const (
	headerHeight = 4
	// sideBySideWidth is the narrowest terminal that shows list and detail
	// side by side; below it they stack and the detail pane shrinks.
	sideBySideWidth = 100
)

// layout is where each pane sits, recomputed on resize and when the help
// grows or shrinks; the mouse handler reads it too.
type layout struct {
	stacked, zoomed         bool
	width, height           int
	headerH, bodyH, footerH int
	listY, listW, listH     int // listY: first row, below the pane title
	detX, detY, detW, detH  int // detW: text width inside the pane
}

func (l layout) inDetail(x, y int) bool {
	if l.zoomed {
		return true
	}
	if l.stacked {
		return y >= l.detY-1 && y < l.detY+l.detH
	}
	return x >= l.detX && y >= l.listY-1 && y < l.listY+l.listH
}

// listRow maps a screen position to a visible row index.
func (l layout) listRow(x, y int) (int, bool) {
	if l.zoomed || x >= l.listW || y < l.listY || y >= l.listY+l.listH {
		return 0, false
	}
	return y - l.listY, true
}

func (m *Model) layout() {
	w, h := max(20, m.width), max(10, m.height)
	m.help.Width = w
	m.input.Width = max(1, w-3)
	helpH := lipgloss.Height(m.helpView())
	l := layout{width: w, height: h, footerH: 1 + helpH, headerH: headerHeight}
	l.bodyH = max(4, h-l.headerH-l.footerH)
	switch {
	case m.zoom:
		// The detail pane alone, on all but the footer: no header either.
		// The list keeps its selection (and a height, for paging) but is
		// not drawn.
		l.headerH = 0
		l.bodyH = max(4, h-l.footerH)
		l.zoomed, l.stacked = true, true
		l.listW, l.listY, l.listH = w, l.headerH+1, max(1, (l.bodyH-1)/2)
		l.detX, l.detY = 0, l.headerH+1
		l.detW, l.detH = w-2, l.bodyH-1
	case w >= sideBySideWidth:
		l.listW = w * 3 / 5
		l.listY, l.listH = l.headerH+1, l.bodyH-1
		l.detX, l.detY = l.listW+1, l.headerH+1
		l.detW, l.detH = w-l.listW-3, l.bodyH-1
	default:
		// Stacked: the list gets the rows it needs up to about half, the
		// detail the rest, so that at 80×24 the problems and the selected
		// one's remediation are both on the first screen.
		l.stacked = true
		detTotal := min(max(3, l.bodyH/2), l.bodyH-2)
		if m.mapOn {
			// The map needs its lines more than the element's detail.
			detTotal = min(max(3, l.bodyH/3), l.bodyH-2)
		}
		listTotal := l.bodyH - detTotal
		l.listW = w
		l.listY, l.listH = l.headerH+1, listTotal-1
		l.detX, l.detY = 0, l.headerH+listTotal+1
		l.detW, l.detH = w-2, detTotal-1
	}
	m.lay = l
	m.list.height = max(1, l.listH)
	m.list.clampOffset()
	m.detail.vp.Width, m.detail.vp.Height = l.detW, l.detH
}

func (m *Model) helpView() string {
	if m.filtering {
		return m.help.View(m.fkeys)
	}
	return m.help.View(m.keys)
}

// View renders the whole screen, exactly the terminal's size.
func (m *Model) View() string {
	l := m.lay
	out := make([]string, 0, l.height)
	if !l.zoomed {
		out = append(out, m.headerLines(l.width)...)
	}
	out = append(out, m.bodyLines()...)
	out = append(out, m.footerLines(l.width)...)
	for len(out) < l.height {
		out = append(out, "")
	}
	return strings.Join(out[:l.height], "\n")
}

// fit truncates s to w cells and pads it to exactly w.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = ansi.Truncate(s, w, glyphEllipsis)
	if n := ansi.StringWidth(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (m *Model) headerLines(w int) []string {
	h := m.opts.Header
	st := m.st
	// The mesh first and the source last, so that a narrow terminal cuts
	// the least useful part.
	l1 := st.appName.Render("meshdoctor") +
		"  " + orDash(h.Topology) +
		"  " + st.label.Render("networks ") + orDash(strings.Join(h.Networks, ", "))
	l2 := st.label.Render(fmt.Sprintf("contexts (%d) ", len(h.Contexts))) + orDash(strings.Join(h.Contexts, ", "))
	if len(m.unreachable) > 0 && !m.reading {
		l2 += "  " + st.statusStyle(checks.Error).Render("unreachable: "+strings.Join(m.unreachable, ", "))
	}
	l2 += "  " + st.label.Render("source ") + orDash(h.Source)
	switch {
	case m.reading && m.deploying != "":
		l2 = m.spin.View() + st.running.Render(fmt.Sprintf(" deploying probe pods into %s in %d context%s", m.deploying, len(m.readingContexts), plural(len(m.readingContexts)))) +
			st.label.Render(fmt.Sprintf(" (%s)", elapsed(m.now().Sub(m.readingSince))))
	case m.reading:
		// The first frame comes before any cluster has answered: say what
		// is being read, and for how long.
		pending, slow := m.pendingContexts()
		l2 = m.spin.View() + st.running.Render(fmt.Sprintf(" reading %d context%s", len(m.readingContexts), plural(len(m.readingContexts)))) +
			st.label.Render(fmt.Sprintf(" (%s) ", elapsed(m.now().Sub(m.readingSince))))
		switch {
		case len(slow) > 0:
			l2 += st.statusStyle(checks.Warn).Render("slow: " + strings.Join(slow, ", "))
		case len(pending) > 0:
			l2 += "waiting for " + strings.Join(pending, ", ")
		}
	}

	c := m.counts()
	var parts []string
	for _, s := range []checks.Status{checks.Pass, checks.Warn, checks.Fail, checks.Skipped, checks.Error} {
		parts = append(parts, st.statusStyle(s).Render(fmt.Sprintf("%s %d %s", glyphOf(s), c[s], s)))
	}
	if n := m.runningCount(); n > 0 {
		parts = append(parts, m.spin.View()+st.running.Render(fmt.Sprintf(" %d running", n)))
	}
	counts := strings.Join(parts, "  ")

	total := len(m.run.ids)
	state := "done"
	switch {
	case m.run.active:
		state = "running"
	case m.gen == 0:
		state = "not started"
	default:
		for id := range m.run.ids {
			if e := m.byID[id]; e != nil && e.state == notRun {
				state = "stopped"
				break
			}
		}
	}
	label := fmt.Sprintf(" %d/%d checks %s", m.run.finished, total, state)
	pct := 0.0
	if total > 0 {
		pct = float64(m.run.finished) / float64(total)
	}
	bar := m.bar
	bar.Width = max(10, w-ansi.StringWidth(label))
	l4 := bar.ViewAs(pct) + st.label.Render(label)
	return []string{fit(l1, w), fit(l2, w), fit(counts, w), fit(l4, w)}
}

func (m *Model) listTitle(w int) string {
	mode := "by area"
	if m.groupBy == byCluster {
		mode = "by cluster"
	}
	order := "failures first"
	if m.order == catalogueOrder {
		order = "catalogue order"
	}
	left := "RESULTS " + mode + " · " + order
	if m.failuresOnly {
		left += " · failures only"
	}
	if v := m.input.Value(); v != "" {
		left += fmt.Sprintf(" · filter %q", v)
	}
	right := fmt.Sprintf("%d/%d", m.list.shown, m.list.total)
	gap := w - ansi.StringWidth(left) - ansi.StringWidth(right) - 2
	if gap < 1 {
		return m.st.paneTitle.Render(fit(" "+left, w))
	}
	return m.st.paneTitle.Render(" " + left + strings.Repeat(" ", gap) + right + " ")
}

func (m *Model) listLines() []string {
	l, lay := &m.list, m.lay
	out := []string{m.listTitle(lay.listW)}
	if len(l.rows) == 0 {
		msg := "no checks"
		if l.total > 0 {
			msg = "nothing matches (esc clears the filter, f toggles failures only)"
		}
		out = append(out, fit(m.st.dim.Render("  "+msg), lay.listW))
	}
	for i := l.offset; i < len(l.rows) && i < l.offset+lay.listH; i++ {
		out = append(out, m.rowLine(&l.rows[i], lay.listW, i == l.cursor))
	}
	for len(out) < lay.listH+1 {
		out = append(out, strings.Repeat(" ", lay.listW))
	}
	return out
}

// seg is a piece of a row with its style; a selected row drops the styles
// and takes the selection style whole.
type seg struct {
	text  string
	style *lipgloss.Style
}

func (m *Model) rowLine(r *row, w int, sel bool) string {
	cur := "  "
	if sel {
		cur = glyphCursor + " "
	}
	segs := []seg{{text: cur}}
	add := func(text string, style *lipgloss.Style) { segs = append(segs, seg{text, style}) }
	st := &m.st
	switch r.kind {
	case rowGroup:
		g := glyphOpen
		if r.collapsed {
			g = glyphClosed
		}
		add(g+" "+r.group, &st.group)
		for _, s := range []checks.Status{checks.Fail, checks.Error, checks.Warn, checks.Pass, checks.Skipped} {
			if n := r.counts[s]; n > 0 {
				add(fmt.Sprintf("  %s %d", glyphOf(s), n), &st.status[s])
			}
		}
		if r.running > 0 {
			add("  "+ansi.Strip(m.spin.View()), &st.running)
			add(fmt.Sprintf(" %d running", r.running), &st.running)
		}
		if r.waiting > 0 {
			add(fmt.Sprintf("  %s %d waiting", glyphQueued, r.waiting), &st.dim)
		}
		if r.collapsed {
			add(fmt.Sprintf("  (%d hidden)", r.items), &st.dim)
		}
	default:
		add("  ", nil)
		icon, word, style := m.rowState(r)
		add(icon+" "+fmt.Sprintf("%-5s", word)+" ", style)
		// Columns: the ID (without the area when grouped by area) and the
		// subject get their width first, the message what is left, at least
		// a third of the row.
		avail := w - 12
		idW := min(m.list.idW, max(8, avail*2/5))
		subjW := min(m.list.subjW, max(9, (avail-idW)/3))
		add(fit(m.rowID(r), idW), nil)
		if r.kind == rowResult {
			if subjW > 0 {
				add("  "+fit(r.res.Subject(), subjW), &st.label)
			}
			add("  "+firstLine(r.res.Message), nil)
		} else {
			if subjW > 0 {
				add("  "+strings.Repeat(" ", subjW), nil)
			}
			add("  "+r.e.check.Title, &st.dim)
		}
	}
	var b strings.Builder
	for _, s := range segs {
		if sel || s.style == nil {
			b.WriteString(s.text)
		} else {
			b.WriteString(s.style.Render(s.text))
		}
	}
	if sel {
		return st.selected.Render(fit(b.String(), w))
	}
	return fit(b.String(), w)
}

// rowID is the check ID as the list shows it (displayID).
func (m *Model) rowID(r *row) string { return displayID(m.groupBy, r) }

// rowState is the glyph, word and style of an item row.
func (m *Model) rowState(r *row) (string, string, *lipgloss.Style) {
	switch r.e.state {
	case running:
		return ansi.Strip(m.spin.View()), "RUN", &m.st.running
	case queued:
		return glyphQueued, "WAIT", &m.st.dim
	}
	if r.kind == rowResult {
		s := r.res.Status
		if int(s) < len(m.st.status) {
			return glyphOf(s), wordOf(s), &m.st.status[s]
		}
		return glyphOf(s), wordOf(s), &m.st.plain
	}
	if r.e.state == notRun {
		return glyphNotRun, "N/A", &m.st.dim
	}
	return glyphNotRun, "", &m.st.dim
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " " + glyphEllipsis
	}
	return s
}

func (m *Model) detailTitle(w int) string {
	hint := m.detail.scrollHint()
	if m.lay.stacked {
		left := glyphHRule + glyphHRule + " DETAIL "
		if m.lay.zoomed {
			left += "(z: back to the list) "
		} else {
			left += "z zoom "
		}
		right := ""
		if hint != "" {
			right = " " + hint + " " + glyphHRule + glyphHRule
		}
		if ansi.StringWidth(left)+ansi.StringWidth(right) > w {
			right = ""
		}
		fill := max(0, w-ansi.StringWidth(left)-ansi.StringWidth(right))
		return m.st.rule.Render(fit(left+strings.Repeat(glyphHRule, fill)+right, w))
	}
	left := " DETAIL  z zoom"
	gap := w - ansi.StringWidth(left) - ansi.StringWidth(hint) - 1
	if hint == "" || gap < 1 {
		return m.st.paneTitle.Render(fit(left, w))
	}
	return m.st.paneTitle.Render(left + strings.Repeat(" ", gap) + hint + " ")
}

func (m *Model) bodyLines() []string {
	lay := m.lay
	var list []string
	if m.mapOn {
		list = m.mapPaneLines()
	} else {
		list = m.listLines()
	}
	det := m.detail.lines()
	if lay.zoomed {
		out := []string{m.detailTitle(lay.width)}
		for _, d := range det {
			out = append(out, fit(" "+d, lay.width))
		}
		return out
	}
	if lay.stacked {
		out := list
		out = append(out, m.detailTitle(lay.width))
		for _, d := range det {
			out = append(out, fit(" "+d, lay.width))
		}
		return out
	}
	paneW := lay.width - lay.listW - 1
	sep := m.st.rule.Render(glyphSep)
	out := make([]string, 0, lay.bodyH)
	for i, l := range list {
		right := ""
		switch {
		case i == 0:
			right = m.detailTitle(paneW)
		case i-1 < len(det):
			right = fit(" "+det[i-1], paneW)
		default:
			right = strings.Repeat(" ", paneW)
		}
		out = append(out, l+sep+right)
	}
	return out
}

func (m *Model) footerLines(w int) []string {
	var status string
	switch {
	case m.filtering:
		status = m.input.View()
	default:
		var parts []string
		if v := m.input.Value(); v != "" {
			parts = append(parts, m.st.prompt.Render("/")+v+m.st.dim.Render(" (esc clears)"))
		}
		if m.status != "" {
			style := m.st.info
			if m.statusErr {
				style = m.st.errMsg
			}
			parts = append(parts, style.Render(m.status))
		}
		status = strings.Join(parts, "  ")
	}
	out := []string{fit(status, w)}
	for _, l := range strings.Split(m.helpView(), "\n") {
		out = append(out, fit(l, w))
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
