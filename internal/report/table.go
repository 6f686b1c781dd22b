package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// TableOptions shape the table.
type TableOptions struct {
	// Short lists only warnings, failures and errors (the summary line
	// still counts every result).
	Short bool
	// Color prints statuses in ANSI colours. The caller decides: off when
	// NO_COLOR is set or stdout is not a terminal.
	Color bool
	// Wide does not wrap messages, adds each context's API server, and
	// gives every result with evidence a Details entry, not only the ones
	// that need attention.
	Wide bool
	// Width is the terminal's width in columns: the table is fitted to it
	// (messages wrapped, or put on indented lines under their row when the
	// MESSAGE column would be narrower than minMessageWidth; subjects cut
	// with an ellipsis; long commands continued with " \"). 0 means no
	// limit (output piped to a file): nothing is wrapped or cut. Wide
	// ignores it.
	Width int
	// Map, when set, is drawn as text under the contexts table (writeMap).
	Map *meshmap.Map
}

// minMessageWidth is the narrowest MESSAGE column: with less room, each
// message goes on its own lines, indented by messageIndent, under its row.
const minMessageWidth = 40

const messageIndent = "    "

// consequenceMark starts the CHECK cell of a problem listed under the
// problem that explains it.
const consequenceMark = "└ "

// statusColor is the ANSI SGR code a status is printed in.
func statusColor(s checks.Status) string {
	switch s {
	case checks.Pass:
		return "32" // green
	case checks.Warn:
		return "33" // yellow
	case checks.Fail:
		return "1;31" // bold red
	case checks.Skipped:
		return "90" // grey
	default:
		return "35" // magenta: error, or a status the model does not know
	}
}

// Table writes rs as a table for people: a header naming the run and its
// contexts, one row per result (STATUS, CHECK, SUBJECT, MESSAGE), a numbered
// Details section with the evidence and remediation of the results that
// need attention (marked "[n]" in the table, so the table stays narrow),
// and a summary line.
func Table(w io.Writer, m Meta, rs []checks.Result, opts TableOptions) error {
	var buf bytes.Buffer
	if err := writeTableHeader(&buf, m, opts, opts.Width); err != nil {
		return err
	}

	width := opts.Width
	if opts.Wide {
		width = 0
	}
	var detailed []checks.Result
	var rows [][]string
	for _, o := range CausesFirst(rs) {
		r := o.Result
		if opts.Short && !needsAttention(r.Status) {
			continue
		}
		msg := termSafe(r.Message, false)
		if (opts.Wide || needsAttention(r.Status)) && (len(r.Evidence) > 0 || r.Remediation != "" || r.Note != "") {
			detailed = append(detailed, r)
			msg = strings.TrimSpace(fmt.Sprintf("%s [%d]", msg, len(detailed)))
		}
		check := orDash(termSafe(r.CheckID, false))
		if o.Consequence {
			check = consequenceMark + check
		}
		rows = append(rows, []string{
			statusWord(r.Status, opts.Color),
			check,
			termSafe(r.Subject(), false),
			msg,
		})
	}

	switch {
	case len(rows) > 0:
		if err := renderResults(&buf, rows, width); err != nil {
			return fmt.Errorf("render results table: %w", err)
		}
	case len(rs) == 0:
		buf.WriteString("No results.\n")
	default:
		buf.WriteString("No warnings, failures or errors.\n")
	}

	if len(detailed) > 0 {
		buf.WriteString("\nDetails:\n")
		for i, r := range detailed {
			if i > 0 {
				buf.WriteByte('\n')
			}
			writeDetail(&buf, i+1, r, opts.Color, width)
		}
	}

	buf.WriteByte('\n')
	sum := Summarize(rs)
	buf.WriteString(summaryLine(sum, opts.Color))
	buf.WriteByte('\n')
	if line := sum.Explained(); line != "" {
		buf.WriteString(fitLines(line, width, wrap) + "\n")
	}

	if _, err := w.Write(trimLineEnds(buf.Bytes())); err != nil {
		return fmt.Errorf("write table report: %w", err)
	}
	return nil
}

// writeTableHeader prints what the run was about: one line for the run and,
// when there are contexts, a small table of them.
func writeTableHeader(buf *bytes.Buffer, m Meta, opts TableOptions, width int) error {
	line := []string{strings.TrimSpace(nonEmpty(m.Tool, "meshdoctor") + " " + m.Version)}
	if m.Topology != "" {
		line = append(line, m.Topology+" mesh")
	}
	if m.Source != "" {
		line = append(line, m.Source)
	}
	if !m.GeneratedAt.IsZero() {
		line = append(line, m.GeneratedAt.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	head := termSafe(strings.Join(line, ", "), false)
	if width > 0 && !opts.Wide {
		head = wrap(head, width)
	}
	buf.WriteString(head)
	buf.WriteString("\n\n")
	if len(m.Contexts) == 0 {
		return writeHeaderMap(buf, opts, width)
	}

	header := []string{"CONTEXT", "CLUSTER", "NETWORK", "ROLE", "VERSION"}
	// The data plane is shown once any cluster runs ambient: a mesh of
	// sidecars only keeps the header it always had.
	dataPlane := slices.ContainsFunc(m.Contexts, func(c ContextInfo) bool { return c.DataPlane != "" && c.DataPlane != "sidecar" })
	if dataPlane {
		header = append(header, "DATAPLANE")
	}
	if opts.Wide {
		header = append(header, "SERVER")
	}
	rows := make([][]string, 0, len(m.Contexts))
	for _, c := range m.Contexts {
		row := []string{c.Name, c.ClusterID, c.Network, c.Role, c.Version}
		if dataPlane {
			row = append(row, c.DataPlane)
		}
		if opts.Wide {
			row = append(row, c.Server)
		}
		for i := range row {
			row[i] = orDash(termSafe(row[i], false))
		}
		rows = append(rows, row)
	}
	if err := renderTable(buf, header, rows); err != nil {
		return fmt.Errorf("render contexts table: %w", err)
	}
	buf.WriteByte('\n')
	return writeHeaderMap(buf, opts, width)
}

// writeHeaderMap draws opts.Map, if any, fitted to width (unless Wide).
func writeHeaderMap(buf *bytes.Buffer, opts TableOptions, width int) error {
	if opts.Map == nil {
		return nil
	}
	if opts.Wide {
		width = 0
	}
	writeMap(buf, opts.Map, opts.Color, width)
	buf.WriteByte('\n')
	return nil
}

// renderResults prints the results table fitted to width (0: no limit).
// With room for a MESSAGE column of minMessageWidth, messages are wrapped
// inside it; without, the table has STATUS, CHECK and SUBJECT (cut to fit,
// with an ellipsis) and each message follows its row on indented lines.
func renderResults(buf *bytes.Buffer, rows [][]string, width int) error {
	header := []string{"STATUS", "CHECK", "SUBJECT", "MESSAGE"}
	if width <= 0 {
		return renderTable(buf, header, rows)
	}
	const gap = 3 // renderTable's column padding
	statusW, checkW, subjectW := len("skipped"), len(header[1]), len(header[2])
	for _, r := range rows {
		checkW = max(checkW, twwidth.Width(r[1]))
		subjectW = max(subjectW, twwidth.Width(r[2]))
	}
	fixed := statusW + gap + checkW + gap
	if msgW := width - fixed - subjectW - gap; msgW >= minMessageWidth {
		wrapped := make([][]string, len(rows))
		for i, r := range rows {
			wrapped[i] = []string{r[0], r[1], r[2], wrap(r[3], msgW)}
		}
		return renderTable(buf, header, wrapped)
	}
	subjectMax := max(width-fixed, len(header[2]))
	short := make([][]string, len(rows))
	for i, r := range rows {
		short[i] = []string{r[0], r[1], ellipsize(r[2], subjectMax)}
	}
	var table bytes.Buffer
	if err := renderTable(&table, header[:3], short); err != nil {
		return err
	}
	// One line per row (no cell holds a newline): each message goes under
	// its row.
	lines := strings.Split(strings.TrimRight(table.String(), "\n"), "\n")
	if len(lines) != len(rows)+1 {
		return fmt.Errorf("table of %d rows rendered as %d lines", len(rows), len(lines))
	}
	buf.WriteString(lines[0] + "\n")
	msgW := max(width-len(messageIndent), minMessageWidth/2)
	for i, r := range rows {
		buf.WriteString(lines[i+1] + "\n")
		for _, l := range strings.Split(wrap(r[3], msgW), "\n") {
			buf.WriteString(messageIndent + l + "\n")
		}
	}
	return nil
}

// ellipsize cuts s to at most width display columns, ending in "…" when cut.
func ellipsize(s string, width int) string {
	if twwidth.Width(s) <= width {
		return s
	}
	head, _ := cutAtWidth(s, max(width-1, 1))
	return head + "…"
}

// renderTable prints a borderless, left-aligned table in the style of
// kubectl get: columns separated by three spaces; a cell with newlines
// spans several lines.
func renderTable(w io.Writer, header []string, rows [][]string) error {
	opts := []tablewriter.Option{
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoFormat(tw.Off),
		tablewriter.WithPadding(tw.Padding{Right: "   ", Overwrite: true}),
		// Cells arrive wrapped (see wrap): tablewriter's own wrapping
		// either drops the tail of a long word or breaks every word.
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// writeDetail prints one numbered Details entry: status, check and subject
// on the first line, then the message, the evidence and the remediation
// indented under it (testdata/golden/report-table.txt shows one). With a
// width, the message and evidence are wrapped to it and remediation lines
// are continued (" \\") so that a command still runs as pasted.
func writeDetail(buf *bytes.Buffer, n int, r checks.Result, color bool, width int) {
	num := fmt.Sprintf("%d. ", n)
	pad := strings.Repeat(" ", len(num))
	title := fmt.Sprintf("%s  %s  %s", r.Status, termSafe(r.CheckID, false), termSafe(r.Subject(), false))
	title = fitLines(title, width-len(num), wrap)
	// The status word is coloured after fitting, so that escape codes do
	// not count as columns.
	title = statusWord(r.Status, color) + strings.TrimPrefix(title, r.Status.String())
	for i, line := range strings.Split(title, "\n") {
		if i == 0 {
			buf.WriteString(num + line + "\n")
		} else {
			buf.WriteString(pad + line + "\n")
		}
	}
	if r.Message != "" {
		writeIndented(buf, pad, "", fitLines(termSafe(r.Message, true), width-len(pad), wrap))
	}
	if len(r.Evidence) > 0 {
		buf.WriteString(pad + "evidence:\n")
		for _, e := range r.Evidence {
			writeIndented(buf, pad+"  ", "  ", fitLines(termSafe(e.Key, false)+": "+termSafe(e.Value, true), width-len(pad)-4, wrap))
		}
	}
	if len(r.CausedBy) > 0 {
		buf.WriteString(pad + "caused by:\n")
		for _, k := range r.CausedBy {
			writeIndented(buf, pad+"  ", "  ", fitLines(termSafe(k, false), width-len(pad)-2, wrap))
		}
	}
	if r.Note != "" {
		buf.WriteString(pad + "note:\n")
		writeIndented(buf, pad+"  ", "", fitLines(termSafe(r.Note, true), width-len(pad)-2, wrap))
	}
	if r.Remediation != "" {
		buf.WriteString(pad + "remediation:\n")
		writeIndented(buf, pad+"  ", "", fitLines(termSafe(r.Remediation, true), width-len(pad)-2, continueCommand))
	}
}

// fitLines applies fit to every line of s longer than width; width <= 0
// leaves s as it is.
func fitLines(s string, width int, fit func(string, int) string) string {
	if width <= 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if twwidth.Width(l) > width {
			lines[i] = fit(l, max(width, 20))
		}
	}
	return strings.Join(lines, "\n")
}

// continueCommand breaks a shell command line longer than width at spaces
// outside quotes, ending each broken line with " \\" so that the command
// still runs as pasted. A word longer than width is left whole.
func continueCommand(line string, width int) string {
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	var out []string
	cur, quote := "", rune(0)
	var word strings.Builder
	flush := func() {
		w := word.String()
		word.Reset()
		if w == "" {
			return
		}
		switch {
		case cur == "":
			cur = w
		case len(indent)+twwidth.Width(cur)+1+twwidth.Width(w)+2 <= width:
			cur += " " + w
		default:
			out = append(out, cur+" \\")
			cur = "  " + w
		}
	}
	for _, r := range strings.TrimLeft(line, " ") {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ':
			flush()
			continue
		}
		word.WriteRune(r)
	}
	flush()
	out = append(out, cur)
	for i := range out {
		out[i] = indent + out[i]
	}
	return strings.Join(out, "\n")
}

// writeIndented writes s with every line indented and continuation lines
// of a multi-line value indented by hang more.
func writeIndented(buf *bytes.Buffer, indent, hang, s string) {
	for i, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if i > 0 {
			buf.WriteString(hang)
		}
		buf.WriteString(indent + line + "\n")
	}
}

func statusWord(s checks.Status, color bool) string {
	if !color {
		return s.String()
	}
	return colorize(statusColor(s), s.String())
}

func colorize(sgr, s string) string { return "\x1b[" + sgr + "m" + s + "\x1b[0m" }

// summaryLine is Summary.String with the non-zero warning, failure and
// error counts coloured.
func summaryLine(s Summary, color bool) string {
	if !color {
		return s.String()
	}
	parts := s.parts()
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
		if p.n > 0 && needsAttention(p.status) {
			out[i] = colorize(statusColor(p.status), p.text)
		}
	}
	return strings.Join(out, ", ")
}

// wrap breaks s into lines of at most width display columns: at spaces,
// and inside a word (a fingerprint, a URL) longer than width, so that
// nothing is lost.
func wrap(s string, width int) string {
	var lines []string
	var line strings.Builder
	lineWidth := 0
	for _, word := range strings.Fields(s) {
		w := twwidth.Width(word)
		if lineWidth > 0 && lineWidth+1+w <= width {
			line.WriteString(" " + word)
			lineWidth += 1 + w
			continue
		}
		if lineWidth > 0 {
			lines = append(lines, line.String())
			line.Reset()
		}
		for w > width {
			head, rest := cutAtWidth(word, width)
			lines = append(lines, head)
			word, w = rest, twwidth.Width(rest)
		}
		line.WriteString(word)
		lineWidth = w
	}
	if line.Len() > 0 {
		lines = append(lines, line.String())
	}
	return strings.Join(lines, "\n")
}

// cutAtWidth splits s after at most width display columns (at least one
// rune, so that a wide rune in a narrow column still makes progress).
func cutAtWidth(s string, width int) (head, rest string) {
	used := 0
	for i, r := range s {
		rw := twwidth.Width(string(r))
		if i > 0 && used+rw > width {
			return s[:i], s[i:]
		}
		used += rw
	}
	return s, ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trimLineEnds drops the trailing spaces tablewriter pads the last column
// with, so that output and golden files carry no invisible whitespace.
func trimLineEnds(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}
