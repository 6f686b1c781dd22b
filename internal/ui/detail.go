package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/viewport"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// detailPane shows the selected row: a scrollable viewport over its text.
type detailPane struct {
	vp  viewport.Model
	key string // the row shown; a new row scrolls back to the top
}

func (d *detailPane) set(key, content string) {
	d.vp.SetContent(content)
	if key != d.key {
		d.key = key
		d.vp.GotoTop()
	}
}

// lines is the visible part, exactly vp.Height lines.
func (d *detailPane) lines() []string {
	if d.vp.Height <= 0 {
		return nil
	}
	ls := strings.Split(d.vp.View(), "\n")
	for len(ls) < d.vp.Height {
		ls = append(ls, "")
	}
	return ls[:d.vp.Height]
}

// scrollHint says which lines are shown when the text does not fit.
func (d *detailPane) scrollHint() string {
	total := d.vp.TotalLineCount()
	if total <= d.vp.Height {
		return ""
	}
	first := d.vp.YOffset + 1
	last := min(total, d.vp.YOffset+d.vp.Height)
	return fmt.Sprintf("%d-%d/%d ctrl+d/u", first, last, total)
}

// detailText renders the selected row for a pane w cells wide.
func (m *Model) detailText(r *row, w int) string {
	w = max(10, w)
	if r == nil {
		return m.st.dim.Render("nothing selected")
	}
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	para := func(s string) {
		for _, l := range wrapText(s, w) {
			line(l)
		}
	}
	section := func(title string, hint ...string) {
		line("")
		h := ansi.Truncate(strings.Join(hint, ""), max(0, w-ansi.StringWidth(title)), glyphEllipsis)
		line(m.st.section.Render(title) + m.st.dim.Render(h))
	}
	switch r.kind {
	case rowGroup:
		m.groupDetail(r, w, line, section)
		return strings.TrimRight(b.String(), "\n")
	case rowCheck:
		line(m.stateLabel(r.e) + "  " + r.e.check.ID)
		para(r.e.check.Title)
		line(m.st.label.Render("scope  ") + string(r.e.check.Scope))
		m.dependencies(r.e, nil, w, line, section)
		return strings.TrimRight(b.String(), "\n")
	}
	res := r.res
	// What to do comes first, so that the pane's first lines at 80×24 hold
	// it: status and subject, the message, then for a consequence its
	// causes (fix those first), the remediation and its note; evidence and
	// the dependencies below.
	head := m.st.statusStyle(res.Status).Render(glyphOf(res.Status)+" "+wordOf(res.Status)) + "  " + res.CheckID
	if subj := res.Subject(); subj != "" {
		head += "  " + m.st.label.Render(subj)
	}
	for i, l := range wrapHanging(ansi.Strip(head), w, w-4) {
		if i == 0 {
			// Styled when it fits; wrapped plain otherwise.
			if ansi.StringWidth(head) <= w {
				l = head
			}
			line(l)
			continue
		}
		line("    " + l)
	}
	for _, l := range wrapText(r.e.check.Title, w) {
		line(m.st.dim.Render(l))
	}
	if r.e.state == running || r.e.state == queued {
		line(m.stateLabel(r.e) + m.st.dim.Render("  a rerun will replace this result"))
	}
	para(res.Message)
	if len(res.CausedBy) > 0 {
		section("Caused by", "  fix these first · enter jumps there")
		for _, k := range res.CausedBy {
			m.problemLines(k, w, line)
		}
	}
	if res.Remediation != "" {
		section("Remediation", "  c copies it")
		for _, l := range commandLines(res.Remediation, w-2) {
			line("  " + m.st.command.Render(l))
		}
	}
	// The note follows the command here, unlike the text report: the pane
	// is short, and the command is what "c" copies (the note never is).
	if res.Note != "" {
		section("Note")
		for _, l := range wrapText(res.Note, w-2) {
			line("  " + l)
		}
	}
	if explained := m.explainedBy(res.Key()); len(explained) > 0 {
		section("Explains", "  enter jumps to the first")
		for _, k := range explained {
			m.problemLines(k, w, line)
		}
	}
	if res.Status == checks.Skipped {
		section("Why skipped")
		why, ok := m.skipReason(r.e, res)
		if !ok {
			why = res.Message
		}
		para(why)
	}
	if len(res.Evidence) > 0 {
		section("Evidence")
		// Keys in a column when they are short; otherwise each value follows
		// its key and wraps with a hanging indent.
		kw := 0
		for _, ev := range res.Evidence {
			kw = max(kw, ansi.StringWidth(ev.Key)+1)
		}
		aligned := kw <= w/4
		for _, ev := range res.Evidence {
			k := ev.Key + ":"
			indent, first := 4, w-2-ansi.StringWidth(k)-1
			if aligned {
				k += strings.Repeat(" ", kw-ansi.StringWidth(k))
				indent, first = kw+3, w-kw-3
			}
			if first < 8 {
				// A key too long to share its line: on lines of its own,
				// the value under it.
				for _, kl := range wrapHanging(strings.TrimRight(k, " "), w-2, w-4) {
					line("  " + m.st.evKey.Render(kl))
				}
				for _, v := range wrapText(ev.Value, max(4, w-4)) {
					line("    " + v)
				}
				continue
			}
			vals := wrapHanging(ev.Value, max(4, first), max(4, w-indent))
			for i, v := range vals {
				if i == 0 {
					line("  " + m.st.evKey.Render(k) + " " + v)
				} else {
					line(strings.Repeat(" ", indent) + v)
				}
			}
		}
	}
	if res.Duration > 0 {
		line("")
		line(m.st.label.Render("took ") + res.Duration.Round(time.Millisecond).String())
	}
	m.dependencies(r.e, &res, w, line, section)
	return strings.TrimRight(b.String(), "\n")
}

// problemLines writes a result named by its key, with its status when it
// is among the results, wrapped to the pane's width w with a hanging
// indent (keys hold long targets such as outbound|5000||host).
func (m *Model) problemLines(key string, w int, line func(string)) {
	status := ""
	for _, e := range m.entries {
		for _, r := range e.results {
			if r.Key() == key && status == "" {
				status = m.st.statusStyle(r.Status).Render(glyphOf(r.Status)+" "+wordOf(r.Status)) + " "
			}
		}
	}
	first := max(4, w-2-ansi.StringWidth(status))
	for i, l := range wrapHanging(key, first, max(4, w-4)) {
		if i == 0 {
			line("  " + status + l)
		} else {
			line("    " + l)
		}
	}
}

// explainedBy returns the keys of the problems that key explains.
func (m *Model) explainedBy(key string) []string {
	var out []string
	for _, e := range m.entries {
		for _, r := range e.results {
			if slices.Contains(r.CausedBy, key) {
				out = append(out, r.Key())
			}
		}
	}
	return out
}

// stateLabel is the glyph and word of a check that has no final status.
func (m *Model) stateLabel(e *entry) string {
	switch e.state {
	case running:
		return m.spin.View() + m.st.running.Render(" RUNNING")
	case queued:
		return m.st.dim.Render(glyphQueued + " WAITING")
	case notRun:
		return m.st.dim.Render(glyphNotRun + " NOT RUN")
	}
	return m.st.dim.Render(glyphNotRun + " PENDING")
}

// relevant reports whether a prerequisite's result r bears on a result
// about cluster (mesh results bear on everything, and a mesh result depends
// on every cluster).
func relevant(r checks.Result, cluster string) bool {
	return r.Cluster == "" || cluster == "" || r.Cluster == cluster
}

// skipReason names the prerequisite that stopped res, with its message.
func (m *Model) skipReason(e *entry, res checks.Result) (string, bool) {
	deps := e.check.DependsOn
	if e.check.ID != checks.ContextsReachable {
		// The runner skips every check on an unreachable cluster.
		deps = append(append([]string{}, deps...), checks.ContextsReachable)
	}
	for _, d := range deps {
		de := m.byID[d]
		if de == nil {
			continue
		}
		for _, pr := range de.results {
			if !pr.Blocks() || !relevant(pr, res.Cluster) {
				continue
			}
			if d == checks.ContextsReachable && res.Cluster == "" {
				continue // mesh checks leave unreachable clusters out
			}
			s := fmt.Sprintf("prerequisite %s %s", d, verb(pr.Status))
			if pr.Cluster != "" {
				s += " for " + pr.Subject()
			}
			if pr.Message != "" {
				s += ": " + pr.Message
			}
			return s, true
		}
	}
	return "", false
}

func verb(s checks.Status) string {
	switch s {
	case checks.Fail:
		return "failed"
	case checks.Error:
		return "could not run"
	case checks.Skipped:
		return "was skipped"
	}
	return s.String()
}

// dependencies lists the check's prerequisites with how they stand for the
// result's cluster, and the checks that need it.
func (m *Model) dependencies(e *entry, res *checks.Result, w int, line func(string), section func(string, ...string)) {
	if len(e.check.DependsOn) > 0 {
		section("Depends on")
		cluster := ""
		if res != nil {
			cluster = res.Cluster
		}
		for _, d := range e.check.DependsOn {
			de := m.byID[d]
			if de == nil {
				m.labelled(m.st.dim.Render(glyphNotRun), m.st.dim, d+" (not in this run)", w, line)
				continue
			}
			if len(de.results) == 0 {
				m.labelled(m.stateLabel(de), m.st.plain, d, w, line)
				continue
			}
			worst, ok := checks.Pass, false
			for _, pr := range de.results {
				if relevant(pr, cluster) && (!ok || severity(pr.Status) < severity(worst)) {
					worst, ok = pr.Status, true
				}
			}
			if !ok {
				m.labelled(m.st.dim.Render(glyphNotRun), m.st.dim, d+" (no result here)", w, line)
				continue
			}
			m.labelled(m.st.statusStyle(worst).Render(glyphOf(worst)+" "+wordOf(worst)), m.st.plain, d, w, line)
		}
	}
	if deps := m.dependents[e.check.ID]; len(deps) > 0 {
		section("Needed by")
		for _, l := range wrapText(strings.Join(deps, ", "), w-2) {
			line("  " + l)
		}
	}
}

// labelled writes "  LABEL text", the text wrapped under it with a
// hanging indent when it does not fit the pane's width w.
func (m *Model) labelled(label string, style lipgloss.Style, text string, w int, line func(string)) {
	first := w - 3 - ansi.StringWidth(label)
	if first < 8 {
		line("  " + label)
		for _, l := range wrapText(text, max(4, w-4)) {
			line("    " + style.Render(l))
		}
		return
	}
	for i, l := range wrapHanging(text, first, max(4, w-4)) {
		if i == 0 {
			line("  " + label + " " + style.Render(l))
		} else {
			line("    " + style.Render(l))
		}
	}
}

// severity orders statuses worst first.
func severity(s checks.Status) int {
	return rank(nil, &checks.Result{Status: s})
}

func (m *Model) groupDetail(r *row, w int, line func(string), section func(string, ...string)) {
	what := "area"
	if m.groupBy == byCluster {
		what = "cluster"
	}
	line(m.st.group.Render(r.group) + m.st.dim.Render("  "+what))
	if r.items == 1 {
		line("1 result shown")
	} else {
		line(fmt.Sprintf("%d results shown", r.items))
	}
	section("Checks")
	for _, id := range m.list.groupChecks[r.group] {
		e := m.byID[id]
		if e == nil {
			continue
		}
		var label string
		if e.state == running || e.state == queued || len(e.results) == 0 {
			label = m.stateLabel(e)
		} else {
			worst := e.results[0].Status
			for _, x := range e.results {
				if severity(x.Status) < severity(worst) {
					worst = x.Status
				}
			}
			label = m.st.statusStyle(worst).Render(glyphOf(worst) + " " + wordOf(worst))
		}
		line(ansi.Truncate("  "+label+" "+id, w, glyphEllipsis))
	}
	line("")
	for _, l := range wrapText("enter folds the group · r reruns these checks and their dependents", w) {
		line(m.st.dim.Render(l))
	}
}

// commandLines lays out a remediation of one command per line for a pane
// w cells wide: each command wraps at spaces, its continuation lines
// indented four more cells so that one command reads as one.
func commandLines(cmds string, w int) []string {
	var out []string
	for _, c := range strings.Split(cmds, "\n") {
		indent := 4
		for _, word := range strings.Fields(c) {
			if ansi.StringWidth(word) > w-indent {
				// A word that fits the pane but not the indented line:
				// no indent, rather than a word cut in two.
				indent = 0
			}
		}
		for i, l := range wrapHanging(c, w, w-indent) {
			if i > 0 {
				l = strings.Repeat(" ", indent) + l
			}
			out = append(out, l)
		}
	}
	return out
}

// wrapText wraps plain text at spaces to lines of at most w cells, breaking
// words longer than a line. Unlike ansi.Wrap it keeps hyphens, so that
// flags like --from-file stay whole.
func wrapText(s string, w int) []string { return wrapHanging(s, w, w) }

// wrapHanging is wrapText with a first line of its own width.
func wrapHanging(s string, first, rest int) []string {
	var out []string
	width := func() int {
		if len(out) == 0 {
			return max(1, first)
		}
		return max(1, rest)
	}
	for _, para := range strings.Split(s, "\n") {
		cur, curW := "", 0
		for _, word := range strings.Fields(para) {
			ww := ansi.StringWidth(word)
			for ww > 0 {
				w := width()
				switch {
				case curW == 0 && ww <= w:
					cur, curW, ww = word, ww, 0
				case curW > 0 && curW+1+ww <= w:
					cur, curW, ww = cur+" "+word, curW+1+ww, 0
				case curW > 0:
					out = append(out, cur)
					cur, curW = "", 0
				default: // a word longer than a line
					head := ansi.Truncate(word, w, "")
					out = append(out, head)
					word = word[len(head):]
					ww = ansi.StringWidth(word)
				}
			}
		}
		out = append(out, cur)
	}
	return out
}
