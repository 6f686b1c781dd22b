package ui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// Colours are the 16 ANSI ones, so that the terminal's theme decides how
// they look on light and dark backgrounds: no adaptive colours, which would
// make lipgloss query the terminal while bubbletea owns its input.
const (
	colRed     = lipgloss.Color("1")
	colGreen   = lipgloss.Color("2")
	colYellow  = lipgloss.Color("3")
	colBlue    = lipgloss.Color("4")
	colMagenta = lipgloss.Color("5")
	colCyan    = lipgloss.Color("6")
	colGrey    = lipgloss.Color("8")
)

// Glyphs. Each is one cell wide; the words next to them carry the meaning
// when there is no colour.
const (
	glyphCursor   = ">"
	glyphOpen     = "▾"
	glyphClosed   = "▸"
	glyphQueued   = "○"
	glyphNotRun   = "·"
	glyphSep      = "│"
	glyphHRule    = "─"
	glyphEllipsis = "…"
)

// statusGlyph and statusWord are indexed by checks.Status.
var (
	statusGlyph = [...]string{checks.Pass: "✓", checks.Warn: "!", checks.Fail: "✗", checks.Skipped: "-", checks.Error: "E"}
	statusWord  = [...]string{checks.Pass: "PASS", checks.Warn: "WARN", checks.Fail: "FAIL", checks.Skipped: "SKIP", checks.Error: "ERROR"}
)

func glyphOf(s checks.Status) string {
	if int(s) < len(statusGlyph) {
		return statusGlyph[s]
	}
	return "?"
}

func wordOf(s checks.Status) string {
	if int(s) < len(statusWord) {
		return statusWord[s]
	}
	return s.String()
}

// styles is every style the UI uses, built once from one renderer so that
// NO_COLOR (an Ascii renderer) reaches all of them.
type styles struct {
	r *lipgloss.Renderer

	appName   lipgloss.Style
	label     lipgloss.Style
	dim       lipgloss.Style
	status    [5]lipgloss.Style
	running   lipgloss.Style
	selected  lipgloss.Style
	group     lipgloss.Style
	paneTitle lipgloss.Style
	section   lipgloss.Style
	evKey     lipgloss.Style
	command   lipgloss.Style
	rule      lipgloss.Style
	info      lipgloss.Style
	errMsg    lipgloss.Style
	prompt    lipgloss.Style
	plain     lipgloss.Style

	progressFull, progressEmpty string // colours for bubbles/progress

	help help.Styles
}

func newStyles(r *lipgloss.Renderer) styles {
	s := styles{r: r}
	ns := r.NewStyle
	s.plain = ns()
	s.appName = ns().Bold(true).Foreground(colMagenta)
	s.label = ns().Foreground(colGrey)
	s.dim = ns().Foreground(colGrey)
	s.status[checks.Pass] = ns().Foreground(colGreen)
	s.status[checks.Warn] = ns().Foreground(colYellow)
	s.status[checks.Fail] = ns().Foreground(colRed).Bold(true)
	s.status[checks.Skipped] = ns().Foreground(colGrey)
	s.status[checks.Error] = ns().Foreground(colMagenta).Bold(true)
	s.running = ns().Foreground(colCyan)
	s.selected = ns().Reverse(true).Bold(true)
	s.group = ns().Bold(true)
	s.paneTitle = ns().Foreground(colGrey)
	s.section = ns().Bold(true).Underline(true)
	s.evKey = ns().Foreground(colBlue)
	s.command = ns().Foreground(colCyan)
	s.rule = ns().Foreground(colGrey)
	s.info = ns().Foreground(colGreen)
	s.errMsg = ns().Foreground(colRed).Bold(true)
	s.prompt = ns().Foreground(colBlue).Bold(true)
	s.progressFull, s.progressEmpty = string(colGreen), string(colGrey)
	s.help = help.Styles{
		Ellipsis:       ns().Foreground(colGrey),
		ShortKey:       ns().Bold(true),
		ShortDesc:      ns().Foreground(colGrey),
		ShortSeparator: ns().Foreground(colGrey),
		FullKey:        ns().Bold(true),
		FullDesc:       ns().Foreground(colGrey),
		FullSeparator:  ns().Foreground(colGrey),
	}
	return s
}

// statusStyle is the style of a status, plain for unknown ones.
func (s styles) statusStyle(st checks.Status) lipgloss.Style {
	if int(st) < len(s.status) {
		return s.status[st]
	}
	return s.plain
}
