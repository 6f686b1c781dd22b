package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// slowContext is how long a context may take to answer before the UI
// calls it slow: a healthy API server lists what meshdoctor reads well
// within a second.
const slowContext = time.Second

// contextRead is how a context's inventory came back.
type contextRead struct {
	took        time.Duration
	unreachable string
}

// elapsed is a duration as the progress shows it: tenths of a second.
func elapsed(d time.Duration) string { return d.Truncate(100 * time.Millisecond).String() }

// pendingContexts returns the contexts not read yet, and those of them
// that are slow, in the order they were named.
func (m *Model) pendingContexts() (pending, slow []string) {
	late := m.now().Sub(m.readingSince) >= slowContext
	for _, c := range m.readingContexts {
		if _, ok := m.contextsRead[c]; ok {
			continue
		}
		pending = append(pending, c)
		if late {
			slow = append(slow, c)
		}
	}
	return pending, slow
}

// readingText is the detail pane while the clusters are read: one line
// per context, saying it is being read (and for how long, slow ones
// marked), was read, or could not be.
func (m *Model) readingText(w int) string {
	w = max(10, w)
	var b strings.Builder
	since := m.now().Sub(m.readingSince)
	if m.deploying != "" {
		fmt.Fprintf(&b, "%s\n", m.st.section.Render("Deploying probe pods"))
		for _, l := range wrapText(fmt.Sprintf("One sleep pod per context in namespace %s (--deploy-probes), for the curl probes; %s so far. The clusters are read once the pods run or --deploy-timeout passes; the pods are deleted when meshdoctor exits.", m.deploying, elapsed(since)), w) {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
		for _, c := range m.readingContexts {
			b.WriteString(ansi.Truncate(m.spin.View()+" "+fit(c, max(4, w-2)), w, glyphEllipsis) + "\n")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s\n", m.st.section.Render("Reading the clusters"))
	nameW := 0
	for _, c := range m.readingContexts {
		nameW = max(nameW, ansi.StringWidth(c))
	}
	nameW = min(nameW, max(4, w/3))
	for _, c := range m.readingContexts {
		name := fit(c, nameW)
		var l string
		switch r, ok := m.contextsRead[c]; {
		case !ok && since >= slowContext:
			l = m.st.statusStyle(checks.Warn).Render("! " + name + "  slow: no answer after " + elapsed(since))
		case !ok:
			l = m.spin.View() + " " + name + m.st.dim.Render("  reading… "+elapsed(since))
		case r.unreachable != "":
			l = m.st.statusStyle(checks.Error).Render(glyphOf(checks.Error)+" "+name) + "  could not be read after " + elapsed(r.took) + ": " + r.unreachable
		default:
			l = m.st.statusStyle(checks.Pass).Render(glyphOf(checks.Pass)+" "+name) + "  read in " + elapsed(r.took)
		}
		b.WriteString(ansi.Truncate(l, w, glyphEllipsis) + "\n")
	}
	b.WriteString("\n")
	for _, l := range wrapText("The checks start when every context has answered or timed out (--timeout).", w) {
		b.WriteString(m.st.dim.Render(l) + "\n")
	}
	return b.String()
}
