// Package serve is meshdoctor's continuous mode: a loop that runs the check
// graph every interval (with jitter, never two runs at once), a store of the
// last run, its Prometheus metrics and the HTTP endpoints that expose them.
// It knows nothing of kubeconfigs or snapshots: the command hands it a
// RunFunc that reads the clusters anew and runs the checks.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

// Run is the outcome of one run of the check graph.
type Run struct {
	Meta    report.Meta
	Results []checks.Result
	// Clusters is the health of each cluster (context) read.
	Clusters map[string]ClusterHealth
	// Map is the mesh map of the run, drawn on the HTML page at /; nil
	// draws none.
	Map      *meshmap.Map
	Started  time.Time
	Duration time.Duration
}

// ClusterHealth is how well one cluster could be read.
type ClusterHealth struct {
	Reachable bool
	// InventoryErrors is how many resources could not be listed.
	InventoryErrors int
}

// Success reports whether the run read at least one cluster. A run that
// read none is not a successful run: its results say only that nothing
// was seen.
func (r *Run) Success() bool {
	for _, c := range r.Clusters {
		if c.Reachable {
			return true
		}
	}
	return false
}

// RunFunc reads the clusters and runs the checks once. It must honour ctx.
type RunFunc func(ctx context.Context) Run

// Store keeps the last finished run and the last successful one's time.
type Store struct {
	mu          sync.RWMutex
	last        *Run
	lastSuccess time.Time
}

// Last is the last finished run, nil before the first.
func (s *Store) Last() *Run {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// LastSuccess is when the last successful run finished (zero: none yet).
func (s *Store) LastSuccess() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastSuccess
}

func (s *Store) put(r *Run, finished time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = r
	if r.Success() {
		s.lastSuccess = finished
	}
}

// Loop runs Run every Interval ± Jitter until its context ends.
type Loop struct {
	Run      RunFunc
	Interval time.Duration
	// Jitter is the fraction of Interval each wait may differ by (0.1:
	// ±10%), so that several replicas do not hit the API servers together.
	Jitter float64
	Store  *Store
	// Metrics observes each run (optional).
	Metrics *Metrics
	Log     *slog.Logger
	// After and Now are the clock (time.After, time.Now when nil); Rand
	// returns a float in [0,1) (math/rand/v2 when nil). Tests inject them.
	After func(time.Duration) <-chan time.Time
	Now   func() time.Time
	Rand  func() float64
}

// Wait is the pause before the next run: Interval scaled by a uniform
// factor in [1-Jitter, 1+Jitter].
func (l *Loop) Wait() time.Duration {
	rnd := l.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	j := min(max(l.Jitter, 0), 1)
	f := 1 + j*(2*rnd()-1)
	return time.Duration(float64(l.Interval) * f)
}

// Start runs the loop until ctx ends: a run at once, then one after each
// wait. Runs are sequential: the wait starts when a run has finished, so a
// run that takes longer than the interval delays the next one rather than
// overlapping it. A run in progress when ctx ends is cancelled through ctx
// and its (partial) results are not stored.
func (l *Loop) Start(ctx context.Context) {
	after, now := l.After, l.Now
	if after == nil {
		after = time.After
	}
	if now == nil {
		now = time.Now
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		started := now()
		r, ok := l.runOnce(ctx, log)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			// The run broke (a panic reading one cluster, say): the last
			// results stay, and the loop goes on.
			if l.Metrics != nil {
				l.Metrics.runs.WithLabelValues("panic").Inc()
			}
			select {
			case <-ctx.Done():
				return
			case <-after(l.Wait()):
			}
			continue
		}
		finished := now()
		r.Started, r.Duration = started, finished.Sub(started)
		prev := l.Store.Last()
		l.Store.put(&r, finished)
		if l.Metrics != nil {
			l.Metrics.observe(&r)
		}
		logChanges(log, prev, &r)
		select {
		case <-ctx.Done():
			return
		case <-after(l.Wait()):
		}
	}
}

// runOnce is one run; a panic in it is logged and reported as !ok, so that
// nothing one cluster's data makes the code do stops the loop.
func (l *Loop) runOnce(ctx context.Context, log *slog.Logger) (r Run, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			msg := fmt.Sprint(p)
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
			log.Error("run panicked; the last results are kept", "panic", msg, "stack", string(debug.Stack()))
			r, ok = Run{}, false
		}
	}()
	return l.Run(ctx), true
}

// logChanges logs the run and each result whose status changed since the
// previous run (keyed as the metrics are: check, cluster, peer).
func logChanges(log *slog.Logger, prev, cur *Run) {
	s := report.Summarize(cur.Results)
	log.Info("run finished", "duration", cur.Duration.Round(time.Millisecond).String(), "success", cur.Success(),
		"pass", s.Pass, "warn", s.Warn, "fail", s.Fail, "error", s.Error, "skipped", s.Skipped)
	old := map[seriesKey]checks.Status{}
	if prev != nil {
		old = worst(prev.Results)
	}
	now := worst(cur.Results)
	for k, st := range now {
		was, ok := old[k]
		if ok && was == st || !ok && prev == nil && (st == checks.Pass || st == checks.Skipped) {
			// The first run logs only its problems.
			continue
		}
		from := "none"
		if ok {
			from = was.String()
		}
		log.Info("status changed", "check", k.check, "cluster", k.cluster, "peer", k.peer, "from", from, "to", st.String())
	}
	for k, was := range old {
		if _, ok := now[k]; !ok {
			log.Info("status changed", "check", k.check, "cluster", k.cluster, "peer", k.peer, "from", was.String(), "to", "none")
		}
	}
}
