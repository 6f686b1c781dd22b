package ui

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// The map view (m) draws the mesh as internal/meshmap models it: the
// clusters grouped by network, each with its root fingerprint and its
// east-west gateways with their addresses, then the remote-secret edges
// (whose istiod reads which API server), then the mesh-wide results. Every
// element is a line that can be selected; broken ones are marked with
// their status. The detail pane shows the selected element's results,
// causes first with their remediation; enter opens the element's first
// problem in the result list.
//
// It is not the first screen: at 80×24 a map of even three clusters and
// the selected cause's remediation do not both fit, and the remediation is
// what the first screen must show (the first failure is selected there).

// mapLine is one line of the map: an element (id set) or a heading.
type mapLine struct {
	id     string
	indent int
	glyph  string // the element's status, "" for headings
	status checks.Status
	marked bool
	cause  bool // a problem of the element is a root cause
	text   string
}

// clean makes cluster data safe to draw: control characters (escape
// sequences among them) become '?'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// mapModel returns the map of the latest inventory and results, built
// again when the results changed; nil before the clusters were read.
func (m *Model) mapModel() *meshmap.Map {
	if m.mesh == nil {
		return nil
	}
	if m.meshMap == nil || m.mapDirty {
		m.meshMap = meshmap.Build(m.mesh, m.Results())
		m.mapDirty = false
	}
	return m.meshMap
}

func elementLine(e *meshmap.Element, indent int, text string) mapLine {
	l := mapLine{id: e.ID, indent: indent, status: e.Status, marked: e.Marked(), cause: len(e.Causes) > 0, text: text}
	switch {
	case e.Marked() || e.Status == checks.Pass:
		l.glyph = glyphOf(e.Status)
	default:
		l.glyph = glyphNotRun
	}
	return l
}

// mapLines lays the map out, one element per line.
func mapLines(mm *meshmap.Map) []mapLine {
	var out []mapLine
	for _, n := range mm.Networks {
		label := "network " + clean(n.Name)
		if n.Name == "" {
			label = "no network (or unreachable)"
		}
		out = append(out, elementLine(&n.Element, 0, label))
		for _, c := range n.Clusters {
			var facts []string
			for _, f := range []string{c.Role, c.Version} {
				if f != "" {
					facts = append(facts, clean(f))
				}
			}
			if c.ClusterID != "" && c.ClusterID != c.Name {
				facts = append(facts, "id "+clean(c.ClusterID))
			}
			text := "cluster " + clean(c.Name)
			if len(facts) > 0 {
				text += "  " + strings.Join(facts, " · ")
			}
			if c.Unreachable != "" {
				text += "  unreachable: " + clean(c.Unreachable)
			}
			out = append(out, elementLine(&c.Element, 1, text))
			root := "root none read"
			if len(c.Root.Fingerprints) > 0 {
				var fps []string
				for _, fp := range c.Root.Fingerprints {
					fps = append(fps, meshmap.Fingerprint16(fp))
				}
				root = "root " + strings.Join(fps, ",") + " (" + clean(c.Root.Source) + ")"
			}
			if c.Unreachable == "" {
				out = append(out, elementLine(&c.Root.Element, 2, root))
			}
			for _, g := range c.Gateways {
				addr := "no address"
				if len(g.Addresses) > 0 {
					addr = clean(strings.Join(g.Addresses, ","))
				}
				text := fmt.Sprintf("gateway %s:%d  %s", addr, g.Port, shortName(g.Name))
				if g.Ignored != "" {
					text += "  ignored: " + clean(g.Ignored)
				}
				out = append(out, elementLine(&g.Element, 2, text))
			}
			if c.Unreachable == "" && len(c.Gateways) == 0 {
				out = append(out, mapLine{indent: 2, text: "no east-west gateway"})
			}
		}
	}
	if len(mm.Edges) > 0 {
		out = append(out, mapLine{text: "remote secrets  (istiod of → the API server it reads)"})
		for _, e := range mm.Edges {
			to := clean(e.To)
			if to == "" {
				to = clean(e.ClusterID) + " (not in this run)"
			}
			text := clean(e.From) + " → " + to
			switch {
			case e.Missing:
				text += "  no secret"
			case e.Secret != "":
				text += "  " + shortName(e.Secret)
			}
			out = append(out, elementLine(&e.Element, 1, text))
		}
	}
	out = append(out, elementLine(&mm.Mesh, 0, "mesh  "+clean(mm.Topology)))
	return out
}

// shortName is a namespace/name without the namespace when it is Istio's
// own (the map is narrow; the detail pane has the whole name).
func shortName(nsName string) string {
	return clean(strings.TrimPrefix(nsName, "istio-system/"))
}

// selectable returns the indexes of the lines that are elements.
func selectable(ls []mapLine) []int {
	var out []int
	for i, l := range ls {
		if l.id != "" {
			out = append(out, i)
		}
	}
	return out
}

// mapSelected returns the selected element's line index among ls,
// selecting the first element with a cause when none is.
func (m *Model) mapSelected(ls []mapLine) int {
	sel := selectable(ls)
	if len(sel) == 0 {
		return -1
	}
	for _, i := range sel {
		if ls[i].id == m.mapSel {
			return i
		}
	}
	// Where a cause is (failures first), else the first broken element.
	pick := -1
	for _, want := range []func(l mapLine) bool{
		func(l mapLine) bool { return l.cause && (l.status == checks.Fail || l.status == checks.Error) },
		func(l mapLine) bool { return l.cause },
		func(l mapLine) bool { return l.status == checks.Fail || l.status == checks.Error },
		func(mapLine) bool { return true },
	} {
		for _, i := range sel {
			if pick < 0 && want(ls[i]) {
				pick = i
			}
		}
	}
	m.mapSel = ls[pick].id
	return pick
}

// mapMove moves the selection among the elements: by delta, or (marked)
// to the next/previous marked element, wrapping around.
func (m *Model) mapMove(delta int, marked bool) {
	mm := m.mapModel()
	if mm == nil {
		return
	}
	ls := mapLines(mm)
	sel := selectable(ls)
	cur := m.mapSelected(ls)
	pos := 0
	for k, i := range sel {
		if i == cur {
			pos = k
		}
	}
	if !marked {
		pos = max(0, min(len(sel)-1, pos+delta))
		m.mapSel = ls[sel[pos]].id
		return
	}
	for step := 1; step <= len(sel); step++ {
		k := ((pos+delta*step)%len(sel) + len(sel)) % len(sel)
		if ls[sel[k]].marked {
			m.mapSel = ls[sel[k]].id
			return
		}
	}
	m.setStatus("nothing on the map is marked", false)
}

// mapOpen leaves the map for the list with the selected element's first
// problem (a cause first) selected.
func (m *Model) mapOpen() {
	mm := m.mapModel()
	if mm == nil {
		return
	}
	e := mm.Element(m.mapSel)
	if e == nil {
		return
	}
	keys := append(append([]string{}, e.Causes...), e.Problems...)
	keys = append(keys, e.Keys...)
	for _, k := range keys {
		if rk := m.rowKeyOf(k); rk != "" {
			m.mapOn = false
			m.layout()
			m.selectKey(rk)
			return
		}
	}
	m.setStatus("no result about "+clean(e.Label)+" in the list (filtered?)", true)
}

// mapPaneLines draws the map in the list pane's place: a title and
// exactly lay.listH lines, the selection kept in view.
func (m *Model) mapPaneLines() []string {
	lay := m.lay
	w := lay.listW
	mm := m.mapModel()
	title := " MAP"
	if mm != nil {
		broken := len(mm.Broken())
		title += fmt.Sprintf(" · %d network%s · %d broken", len(mm.Networks), plural(len(mm.Networks)), broken)
	}
	right := "m: list "
	gap := w - ansi.StringWidth(title) - ansi.StringWidth(right)
	if gap < 1 {
		title, right, gap = fit(title, w), "", 0
	}
	out := []string{m.st.paneTitle.Render(title + strings.Repeat(" ", gap) + right)}
	if mm == nil {
		out = append(out, fit(m.st.dim.Render("  the map appears once the clusters are read"), w))
	} else {
		ls := mapLines(mm)
		cur := m.mapSelected(ls)
		// Keep the selection in view.
		if cur < m.mapOffset {
			m.mapOffset = cur
		}
		if cur >= m.mapOffset+lay.listH {
			m.mapOffset = cur - lay.listH + 1
		}
		m.mapOffset = max(0, min(m.mapOffset, len(ls)-lay.listH))
		for i := m.mapOffset; i < len(ls) && i < m.mapOffset+lay.listH; i++ {
			out = append(out, m.mapLineView(ls[i], w, i == cur))
		}
	}
	for len(out) < lay.listH+1 {
		out = append(out, strings.Repeat(" ", w))
	}
	return out
}

func (m *Model) mapLineView(l mapLine, w int, sel bool) string {
	cur := "  "
	if sel {
		cur = glyphCursor + " "
	}
	pad := strings.Repeat("  ", l.indent)
	if l.id == "" {
		return fit(cur+pad+m.st.group.Render(l.text), w)
	}
	var style lipgloss.Style
	switch {
	case l.marked:
		style = m.st.statusStyle(l.status)
	case l.status == checks.Pass:
		style = m.st.status[checks.Pass]
	default:
		style = m.st.dim
	}
	if sel {
		return m.st.selected.Render(fit(cur+pad+l.glyph+" "+l.text, w))
	}
	text := l.text
	if l.indent == 0 {
		text = m.st.group.Render(text)
	}
	return fit(cur+pad+style.Render(l.glyph)+" "+text, w)
}

// elementText is the detail of the selected map element: what it is, its
// causes with their remediation, its other problems, then every result
// about it.
func (m *Model) elementText(w int) string {
	w = max(10, w)
	mm := m.mapModel()
	if mm == nil {
		return m.st.dim.Render("the clusters have not been read yet")
	}
	e := mm.Element(m.mapSel)
	if e == nil {
		return m.st.dim.Render("nothing selected")
	}
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	section := func(title, hint string) {
		line("")
		line(m.st.section.Render(title) + m.st.dim.Render(ansi.Truncate(hint, max(0, w-ansi.StringWidth(title)), glyphEllipsis)))
	}
	word := "no results"
	if len(e.Keys) > 0 {
		word = wordOf(e.Status)
	}
	label := clean(e.Label)
	if !strings.HasPrefix(label, string(e.Kind)) {
		label = string(e.Kind) + " " + label
	}
	status := m.st.statusStyle(e.Status).Render(glyphOf(e.Status) + " " + word)
	for i, l := range wrapHanging(label, max(4, w-ansi.StringWidth(status)-2), max(4, w-4)) {
		if i == 0 {
			line(status + "  " + l)
		} else {
			line("    " + l)
		}
	}
	for _, f := range m.elementFacts(mm, e) {
		for i, l := range wrapHanging(f, w, w-2) {
			if i > 0 {
				l = "  " + l
			}
			line(l)
		}
	}
	byKey := map[string]checks.Result{}
	for _, r := range m.Results() {
		if _, ok := byKey[r.Key()]; !ok {
			byKey[r.Key()] = r
		}
	}
	if len(e.Causes) > 0 {
		section("Causes", "  enter opens the first in the list")
		for _, k := range e.Causes {
			m.problemLines(k, w, line)
			r := byKey[k]
			for _, l := range wrapText(r.Message, w-4) {
				line("    " + l)
			}
			for _, l := range commandLines(r.Remediation, w-2) {
				line("  " + m.st.command.Render(l))
			}
		}
	}
	var others []string
	for _, k := range e.Problems {
		if !slices.Contains(e.Causes, k) {
			others = append(others, k)
		}
	}
	if len(others) > 0 {
		section("Consequences", "")
		for _, k := range others {
			m.problemLines(k, w, line)
		}
	}
	if len(e.Keys) > 0 {
		section(fmt.Sprintf("Results (%d)", len(e.Keys)), "")
		for _, k := range e.Keys {
			if !slices.Contains(e.Problems, k) {
				m.problemLines(k, w, line)
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// elementFacts are the lines that say what an element is.
func (m *Model) elementFacts(mm *meshmap.Map, e *meshmap.Element) []string {
	for _, c := range mm.Clusters() {
		switch e.ID {
		case c.Element.ID:
			f := []string{fmt.Sprintf("role %s · network %s · Istio %s · cluster ID %s", orDash(clean(c.Role)), orDash(clean(c.Network)), orDash(clean(c.Version)), orDash(clean(c.ClusterID)))}
			if len(c.Aliases) > 0 {
				f = append(f, "aliases "+clean(strings.Join(c.Aliases, ", ")))
			}
			if c.Unreachable != "" {
				f = append(f, "unreachable: "+clean(c.Unreachable))
			}
			return f
		case c.Root.Element.ID:
			f := []string{"source " + orDash(clean(c.Root.Source))}
			for _, fp := range c.Root.Fingerprints {
				f = append(f, "sha256 "+clean(fp))
			}
			return f
		}
		for _, g := range c.Gateways {
			if g.Element.ID == e.ID {
				addr := "no address"
				if len(g.Addresses) > 0 {
					addr = clean(strings.Join(g.Addresses, ", "))
				}
				f := []string{"cluster " + clean(g.Cluster) + " · network " + orDash(clean(g.Network)), "address " + addr, fmt.Sprintf("dialled on %d · ports %s", g.Port, g.PortList())}
				if g.Ignored != "" {
					f = append(f, "ignored by istiod: "+clean(g.Ignored))
				}
				return f
			}
		}
	}
	for _, ed := range mm.Edges {
		if ed.Element.ID == e.ID {
			to := clean(ed.To)
			if to == "" {
				to = "cluster " + clean(ed.ClusterID) + ", not in this run"
			}
			if ed.Missing {
				return []string{"istiod of " + clean(ed.From) + " has no remote secret for " + to}
			}
			return []string{"istiod of " + clean(ed.From) + " reads " + to, "secret " + clean(ed.Secret) + " key " + clean(ed.ClusterID), "server " + orDash(clean(ed.Server))}
		}
	}
	if e.ID == mm.Mesh.ID {
		return []string{"topology " + orDash(clean(mm.Topology)), "results about the whole mesh that no element owns"}
	}
	return nil
}
