package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

// progress tells a person at a terminal what `check` is doing while it
// runs: one status line on stderr, rewritten in place and cleared at the
// end. It writes nothing when stderr is not a terminal or with --quiet, so
// that logs and CI output stay clean. Lines that must stay (the --wait
// attempts) go through note, which also writes when stderr is not a
// terminal, unless --quiet.
type progress struct {
	w      io.Writer
	live   bool // rewrite a status line (stderr is a terminal)
	quiet  bool
	mu     sync.Mutex
	shown  bool
	now    func() time.Time
	total  int
	done   int
	starts time.Time
}

func newProgress(streams IO, quiet bool, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	return &progress{w: streams.ErrOut, live: streams.ErrIsTTY && !quiet, quiet: quiet, now: now}
}

// status replaces the status line.
func (p *progress) status(format string, a ...any) {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\x1b[K%s", fmt.Sprintf(format, a...))
	p.shown = true
}

// clear removes the status line.
func (p *progress) clear() {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// note writes a line that stays, above the status line.
func (p *progress) note(format string, a ...any) {
	if p.quiet {
		return
	}
	p.clear()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "meshdoctor: "+format+"\n", a...)
}

// deploying says the probe pods (--deploy-probes) are being deployed,
// before any cluster is read.
func (p *progress) deploying(namespace string, contexts int, wait time.Duration) {
	p.status("deploying probe pods into %s in %d context%s (waiting up to %s for them to run)…", namespace, contexts, plural(contexts), wait)
}

// reading says the inventories are being taken.
func (p *progress) reading(contexts int, timeout time.Duration) {
	p.starts = p.now()
	p.status("reading %d context%s (each request within %s)…", contexts, plural(contexts), timeout)
}

// read says how the reading went, with the unreachable contexts by name.
func (p *progress) read(m *mesh.Mesh) {
	var down []string
	for _, c := range m.Clusters {
		if !c.Reachable() {
			down = append(down, c.Name)
		}
	}
	took := p.now().Sub(p.starts).Round(time.Millisecond)
	if len(down) > 0 {
		p.status("read %d context%s in %s; unreachable: %s", len(m.Clusters), plural(len(m.Clusters)), took, strings.Join(down, ", "))
		return
	}
	p.status("read %d context%s in %s", len(m.Clusters), plural(len(m.Clusters)), took)
}

// observer counts finished checks into the status line.
func (p *progress) observer(total int) checks.Observer {
	p.mu.Lock()
	p.total, p.done = total, 0
	p.mu.Unlock()
	return func(e checks.Event) {
		if e.Kind != checks.CheckFinished {
			return
		}
		p.mu.Lock()
		p.done++
		done, total := p.done, p.total
		p.mu.Unlock()
		p.status("checks %d/%d (%s)", done, total, e.Check.ID)
	}
}

// attempt says what --wait found still failing and when it runs again.
func (p *progress) attempt(n int, rs []checks.Result, left, pause time.Duration) {
	s := report.Summarize(rs)
	var causes []string
	for _, r := range checks.Causes(rs) {
		if r.Status == checks.Fail || r.Status == checks.Error {
			causes = append(causes, r.Key())
		}
	}
	const most = 3
	more := ""
	if len(causes) > most {
		more = fmt.Sprintf(" and %d more", len(causes)-most)
		causes = causes[:most]
	}
	p.note("attempt %d: %d failing result%s, caused by %s%s; next attempt in %s (%s left of --wait)",
		n, s.Fail+s.Error, plural(s.Fail+s.Error), strings.Join(causes, "; "), more, pause, left.Round(time.Second))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
