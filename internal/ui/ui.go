// Package ui is meshdoctor's interactive terminal UI (bubbletea v1, bubbles,
// lipgloss). It knows nothing about how checks run: a Source starts a run and
// streams checks.Events; the UI shows them live, lets the user filter, rerun,
// copy remediations and export, and returns the final results.
package ui

import (
	"context"
	"io"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// Source is how the UI starts a run; the caller (cmd) wires it to the real runner.
type Source interface {
	// Start begins a run of the given check IDs (nil = all) and returns a
	// channel of events closed at the end. When ctx is cancelled (a rerun
	// replaced the run, or the UI quit) the source must stop sending and
	// close the channel: the UI no longer reads it.
	Start(ctx context.Context, only []string) <-chan checks.Event
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, only []string) <-chan checks.Event

// Start implements Source.
func (f SourceFunc) Start(ctx context.Context, only []string) <-chan checks.Event {
	return f(ctx, only)
}

// ObserverSource makes a Source of a function that runs checks and reports
// to an observer, the way checks.Runner.Run does. run is called on its own
// goroutine; the channel closes when it returns. Events the UI can no longer
// take (ctx cancelled) are dropped instead of blocking the runner.
func ObserverSource(run func(ctx context.Context, only []string, obs checks.Observer)) Source {
	return SourceFunc(func(ctx context.Context, only []string) <-chan checks.Event {
		ch := make(chan checks.Event, 16)
		go func() {
			defer close(ch)
			run(ctx, only, func(e checks.Event) {
				select {
				case ch <- e:
				case <-ctx.Done():
				}
			})
		}()
		return ch
	})
}

// Header is what the top of the screen says about the mesh.
type Header struct {
	Contexts []string
	Topology string
	Networks []string
	Source   string // "live" or "snapshot ... taken ..."
}

// Options configure the UI.
type Options struct {
	Catalogue []checks.Check // to show pending checks and dependencies
	Header    Header
	Source    Source
	// Export writes the results in format "json" or "junit" and returns the
	// path written; the caller owns files. Nil disables J and X.
	Export  func(format string, rs []checks.Result) (path string, err error)
	NoColor bool // NO_COLOR
}

// New returns the root model. Colours follow the terminal on stdout unless
// opts.NoColor.
func New(opts Options) *Model {
	r := lipgloss.DefaultRenderer()
	if opts.NoColor {
		r = noColor(os.Stdout)
	}
	m := newModel(opts, r, os.Stdout)
	m.clipEnv.getenv = os.Getenv
	return m
}

// Run runs the UI full screen (alternate screen, mouse) on in/out until the
// user quits or ctx ends, and returns the results as they stood then, in
// catalogue order.
func Run(ctx context.Context, opts Options, in io.Reader, out io.Writer) ([]checks.Result, error) {
	r := lipgloss.NewRenderer(out)
	if opts.NoColor {
		r = noColor(out)
	}
	m := newModel(opts, r, out)
	m.baseCtx = ctx
	m.clipEnv.getenv = os.Getenv
	p := tea.NewProgram(m,
		tea.WithContext(ctx),
		tea.WithInput(in),
		tea.WithOutput(out),
		tea.WithAltScreen(),
		tea.WithMouseCellMotion(),
	)
	final, err := p.Run()
	m.stopRun()
	if fm, ok := final.(*Model); ok && fm != nil {
		m = fm
	}
	return m.Results(), err
}

// noColor is a renderer that draws no colours nor attributes.
func noColor(w io.Writer) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(w)
	r.SetColorProfile(termenv.Ascii)
	return r
}
