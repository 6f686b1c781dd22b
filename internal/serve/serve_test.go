package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is the loop's After: each wait the loop asks for is sent on
// waits, and the loop goes on when the test sends on tick.
type fakeClock struct {
	waits chan time.Duration
	tick  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{waits: make(chan time.Duration, 16), tick: make(chan time.Time)}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.tick
}

// fakeSource hands the loop the runs the test sends, one per call, and says
// on started when a run begins.
type fakeSource struct {
	started  chan int
	runs     chan Run
	calls    atomic.Int32
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func newFakeSource() *fakeSource {
	return &fakeSource{started: make(chan int, 16), runs: make(chan Run)}
}

func (s *fakeSource) Run(ctx context.Context) Run {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	s.started <- int(s.calls.Add(1))
	select {
	case r := <-s.runs:
		return r
	case <-ctx.Done():
		return Run{}
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func healthy(names ...string) map[string]ClusterHealth {
	out := map[string]ClusterHealth{}
	for _, n := range names {
		out[n] = ClusterHealth{Reachable: true}
	}
	return out
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	for _, tt := range []struct {
		rnd  float64
		want time.Duration
	}{{0, 54 * time.Second}, {0.5, time.Minute}, {1, 66 * time.Second}} {
		l := &Loop{Interval: time.Minute, Jitter: 0.1, Rand: func() float64 { return tt.rnd }}
		if got := l.Wait(); got != tt.want {
			t.Errorf("rand %v: wait %v, want %v", tt.rnd, got, tt.want)
		}
	}
	l := &Loop{Interval: time.Minute, Jitter: 0.1}
	lo, hi := time.Minute, time.Minute
	for range 10000 {
		w := l.Wait()
		if w < 54*time.Second || w > 66*time.Second {
			t.Fatalf("wait %v outside [54s, 66s]", w)
		}
		lo, hi = min(lo, w), max(hi, w)
	}
	// The waits do vary (10,000 draws all within 1s of the mean would be a
	// broken jitter).
	if hi-lo < 10*time.Second {
		t.Errorf("waits spread over only %v", hi-lo)
	}
	if w := (&Loop{Interval: time.Minute, Jitter: 5, Rand: func() float64 { return 0 }}).Wait(); w != 0 {
		t.Errorf("jitter clamped to 1: wait %v, want 0", w)
	}
}

func TestLoopRunsOnEachTickNeverOverlapping(t *testing.T) {
	src, clock := newFakeSource(), newFakeClock()
	store := &Store{}
	var waitsInRun atomic.Int32
	l := &Loop{Run: src.Run, Interval: time.Minute, Jitter: 0.1, Store: store,
		After: func(d time.Duration) <-chan time.Time {
			if src.inFlight.Load() != 0 {
				waitsInRun.Add(1)
			}
			return clock.After(d)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Start(ctx) }()

	// The first run starts at once, before any wait.
	if n := recv(t, src.started, "first run"); n != 1 {
		t.Fatalf("run %d started first", n)
	}
	if store.Last() != nil {
		t.Fatal("a run in progress is already in the store")
	}
	src.runs <- Run{Results: []checks.Result{{CheckID: "a.x", Status: checks.Pass}}, Clusters: healthy("east")}
	w := recv(t, clock.waits, "wait after run 1")
	if w < 54*time.Second || w > 66*time.Second {
		t.Errorf("wait %v outside the interval ±10%%", w)
	}
	if r := store.Last(); r == nil || len(r.Results) != 1 {
		t.Fatalf("store after run 1: %+v", r)
	}
	for i := 2; i <= 4; i++ {
		clock.tick <- time.Now()
		if n := recv(t, src.started, "next run"); n != i {
			t.Fatalf("run %d started, want %d", n, i)
		}
		// A run that takes longer than the interval: no wait is armed (and
		// so no second run can start) until it returns.
		select {
		case d := <-clock.waits:
			t.Fatalf("a wait of %v was armed during run %d", d, i)
		default:
		}
		// A run that read no cluster does not stop the loop.
		src.runs <- Run{Clusters: map[string]ClusterHealth{"east": {}}}
		recv(t, clock.waits, "wait")
	}
	cancel()
	<-done
	if m := src.maxIn.Load(); m != 1 {
		t.Errorf("%d runs were in flight at once", m)
	}
	if n := waitsInRun.Load(); n != 0 {
		t.Errorf("%d waits were armed while a run was in flight", n)
	}
	if got := src.calls.Load(); got != 4 {
		t.Errorf("%d runs, want 4", got)
	}
}

// scrape reads /metrics and parses it as Prometheus does.
func scrape(t *testing.T, c *http.Client, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of family name with exactly these
// labels (ok false when there is none).
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func seriesOfCheck(fams map[string]*dto.MetricFamily, check string) int {
	n := 0
	for _, name := range []string{"meshdoctor_check_status", "meshdoctor_check_results"} {
		for _, m := range fams[name].GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "check" && lp.GetValue() == check {
					n++
				}
			}
		}
	}
	return n
}

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// harness is a loop and a server on a real loopback listener.
type harness struct {
	src    *fakeSource
	clock  *fakeClock
	store  *Store
	base   string
	client *http.Client
	cancel context.CancelFunc
	// loopDone and served close when the loop and the server end; serveErr
	// is then Serve's error.
	loopDone chan struct{}
	served   chan struct{}
	serveErr error
}

func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{src: newFakeSource(), clock: newFakeClock(), store: &Store{}, loopDone: make(chan struct{}), served: make(chan struct{})}
	metrics := NewMetrics(h.store, BuildInfo{Version: "v1.2.3", Commit: "abc123", GoVersion: "go1.26"})
	now := time.Unix(1_700_000_000, 0)
	l := &Loop{Run: h.src.Run, Interval: time.Minute, Jitter: 0.1, Store: h.store, Metrics: metrics, After: h.clock.After,
		Now: func() time.Time { now = now.Add(time.Second); return now }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.base = "http://" + ln.Addr().String()
	h.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.loopDone); l.Start(ctx) }()
	go func() {
		defer close(h.served)
		h.serveErr = Serve(ctx, NewServer(Handler(h.store, metrics)), ln, 5*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		<-h.loopDone
		<-h.served
		h.client.CloseIdleConnections()
	})
	return h
}

func TestMetricsFollowTheLastRunAndDropStaleSeries(t *testing.T) {
	h := start(t)
	recv(t, h.src.started, "run 1")
	if code, _ := get(t, h.client, h.base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first run: %d, want 503", code)
	}
	if code, _ := get(t, h.client, h.base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, _ := get(t, h.client, h.base+"/results"); code != http.StatusServiceUnavailable {
		t.Errorf("/results before the first run: %d, want 503", code)
	}
	fams := scrape(t, h.client, h.base)
	if v, ok := value(fams, "meshdoctor_build_info", map[string]string{"version": "v1.2.3", "commit": "abc123", "goversion": "go1.26"}); !ok || v != 1 {
		t.Errorf("build_info = %v, %v", v, ok)
	}
	if _, ok := value(fams, "meshdoctor_last_success_timestamp_seconds", nil); ok {
		t.Error("last success timestamp before any run")
	}

	run1 := Run{
		Meta: report.Meta{Tool: "meshdoctor", Version: "v1.2.3", Source: "live"},
		Results: []checks.Result{
			// Two targets (addresses) of one check and pair: one series key.
			{CheckID: "network.gateway-reachable", Status: checks.Pass, Cluster: "east", Peer: "west", Target: "10.0.0.1:15443"},
			{CheckID: "network.gateway-reachable", Status: checks.Fail, Cluster: "east", Peer: "west", Target: "10.0.0.2:15443", Message: "refused"},
			{CheckID: "endpoints.istiod-sync", Status: checks.Fail, Cluster: "east", Peer: "west", CausedBy: []string{"network.gateway-reachable east → west"}},
			{CheckID: "trust.root", Status: checks.Pass},
		},
		Clusters: map[string]ClusterHealth{"east": {Reachable: true, InventoryErrors: 2}, "west": {Reachable: true}},
	}
	h.src.runs <- run1
	recv(t, h.clock.waits, "wait after run 1")

	if code, _ := get(t, h.client, h.base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the first run: %d, want 200", code)
	}
	code, body := get(t, h.client, h.base+"/api/v1/results")
	var want bytes.Buffer
	if err := report.JSON(&want, run1.Meta, run1.Results); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !bytes.Equal(body, want.Bytes()) {
		t.Errorf("/api/v1/results: %d\n%s\nwant the check -o json document\n%s", code, body, want.Bytes())
	}

	fams = scrape(t, h.client, h.base)
	gw := map[string]string{"check": "network.gateway-reachable", "cluster": "east", "peer": "west"}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range base {
			out[a] = b
		}
		return out
	}
	for status, want := range map[string]float64{"fail": 1, "pass": 0, "warn": 0, "error": 0, "skipped": 0} {
		if v, ok := value(fams, "meshdoctor_check_status", with(gw, "status", status)); !ok || v != want {
			t.Errorf("check_status{gateway-reachable,status=%s} = %v, %v; want %v", status, v, ok, want)
		}
	}
	for status, want := range map[string]float64{"fail": 1, "pass": 1} {
		if v, ok := value(fams, "meshdoctor_check_results", with(gw, "status", status)); !ok || v != want {
			t.Errorf("check_results{gateway-reachable,status=%s} = %v, %v; want %v", status, v, ok, want)
		}
	}
	if n := len(fams["meshdoctor_check_status"].GetMetric()); n != 3*5 {
		t.Errorf("%d check_status series, want 15 (3 keys × 5 statuses; targets are not labels)", n)
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"meshdoctor_check_status", map[string]string{"check": "trust.root", "cluster": "", "peer": "", "status": "pass"}, 1},
		{"meshdoctor_problems", map[string]string{"status": "fail"}, 2},
		{"meshdoctor_problems", map[string]string{"status": "warn"}, 0},
		{"meshdoctor_root_causes", nil, 1},
		{"meshdoctor_inventory_errors", map[string]string{"cluster": "east"}, 2},
		{"meshdoctor_inventory_errors", map[string]string{"cluster": "west"}, 0},
		{"meshdoctor_cluster_reachable", map[string]string{"cluster": "west"}, 1},
		{"meshdoctor_runs_total", map[string]string{"result": "success"}, 1},
		{"meshdoctor_runs_total", map[string]string{"result": "unreachable"}, 0},
		{"meshdoctor_run_duration_seconds", nil, 1},
		// The fake clock advances 1s a reading: run 1 started at +1s and
		// finished at +2s.
		{"meshdoctor_last_run_timestamp_seconds", nil, 1_700_000_002},
		{"meshdoctor_last_success_timestamp_seconds", nil, 1_700_000_002},
	} {
		if v, ok := value(fams, tt.name, tt.labels); !ok || v != tt.want {
			t.Errorf("%s%v = %v, %v; want %v", tt.name, tt.labels, v, ok, tt.want)
		}
	}

	// Run 2: trust.root is gone, west is unreachable; the gateway passes.
	h.clock.tick <- time.Now()
	recv(t, h.src.started, "run 2")
	h.src.runs <- Run{
		Results: []checks.Result{
			{CheckID: "network.gateway-reachable", Status: checks.Pass, Cluster: "east", Peer: "west", Target: "10.0.0.3:15443"},
		},
		Clusters: map[string]ClusterHealth{"east": {Reachable: true}, "west": {InventoryErrors: 1}},
	}
	recv(t, h.clock.waits, "wait after run 2")
	fams = scrape(t, h.client, h.base)
	if n := seriesOfCheck(fams, "trust.root"); n != 0 {
		t.Errorf("%d series of trust.root after it disappeared from the results", n)
	}
	if n := seriesOfCheck(fams, "endpoints.istiod-sync"); n != 0 {
		t.Errorf("%d series of endpoints.istiod-sync after it disappeared from the results", n)
	}
	if _, ok := value(fams, "meshdoctor_check_results", with(gw, "status", "fail")); ok {
		t.Error("check_results{status=fail} still present when no result fails")
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"meshdoctor_check_status", with(gw, "status", "pass"), 1},
		{"meshdoctor_check_status", with(gw, "status", "fail"), 0},
		{"meshdoctor_problems", map[string]string{"status": "fail"}, 0},
		{"meshdoctor_root_causes", nil, 0},
		{"meshdoctor_cluster_reachable", map[string]string{"cluster": "west"}, 0},
		{"meshdoctor_inventory_errors", map[string]string{"cluster": "west"}, 1},
		{"meshdoctor_runs_total", map[string]string{"result": "success"}, 2},
		{"meshdoctor_run_duration_seconds", nil, 2},
		{"meshdoctor_last_run_timestamp_seconds", nil, 1_700_000_004},
	} {
		if v, ok := value(fams, tt.name, tt.labels); !ok || v != tt.want {
			t.Errorf("%s%v = %v, %v; want %v", tt.name, tt.labels, v, ok, tt.want)
		}
	}

	// Run 3 reads no cluster: not a success; the last success stays.
	h.clock.tick <- time.Now()
	recv(t, h.src.started, "run 3")
	h.src.runs <- Run{Clusters: map[string]ClusterHealth{"east": {InventoryErrors: 1}}}
	recv(t, h.clock.waits, "wait after run 3")
	fams = scrape(t, h.client, h.base)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"meshdoctor_runs_total", map[string]string{"result": "unreachable"}, 1},
		{"meshdoctor_last_run_timestamp_seconds", nil, 1_700_000_006},
		{"meshdoctor_last_success_timestamp_seconds", nil, 1_700_000_004},
	} {
		if v, ok := value(fams, tt.name, tt.labels); !ok || v != tt.want {
			t.Errorf("%s%v = %v, %v; want %v", tt.name, tt.labels, v, ok, tt.want)
		}
	}
	if n := len(fams["meshdoctor_check_status"].GetMetric()); n != 0 {
		t.Errorf("%d check_status series after a run with no results", n)
	}
}

func TestShutdownStopsARunInFlightAndTheServer(t *testing.T) {
	h := start(t)
	recv(t, h.src.started, "run 1")
	h.src.runs <- Run{Results: []checks.Result{{CheckID: "a.x", Status: checks.Pass}}, Clusters: healthy("east")}
	recv(t, h.clock.waits, "wait")
	h.clock.tick <- time.Now()
	recv(t, h.src.started, "run 2")
	// Run 2 is in flight (waiting for the clusters) when the signal comes.
	h.cancel()
	recv(t, h.loopDone, "the loop to stop")
	recv(t, h.served, "the server to stop")
	if h.serveErr != nil {
		t.Errorf("Serve: %v", h.serveErr)
	}
	if r := h.store.Last(); r == nil || len(r.Results) != 1 {
		t.Errorf("store after shutdown: %+v, want run 1 (a cancelled run is not stored)", r)
	}
	if _, err := h.client.Get(h.base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
	// goleak (TestMain) checks that the loop, the server and its
	// connections left no goroutine behind.
}

// syncBuffer is a log sink the loop's goroutine writes and the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records are the JSON log lines written so far with msg (all when "").
func (b *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if msg == "" || rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// changes is "check cluster peer from→to" of each "status changed" line.
func changes(t *testing.T, b *syncBuffer) []string {
	t.Helper()
	var out []string
	for _, r := range b.records(t, "status changed") {
		out = append(out, fmt.Sprintf("%v %v %v %v→%v", r["check"], r["cluster"], r["peer"], r["from"], r["to"]))
	}
	sort.Strings(out)
	return out
}

func TestLoopLogsStatusChangesAsJSON(t *testing.T) {
	src, clock := newFakeSource(), newFakeClock()
	logs := &syncBuffer{}
	l := &Loop{Run: src.Run, Interval: time.Minute, Store: &Store{}, After: clock.After,
		Log: slog.New(slog.NewJSONHandler(logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Start(ctx) }()
	defer func() { cancel(); <-done }()

	step := func(rs ...checks.Result) {
		t.Helper()
		recv(t, src.started, "run")
		logs.reset()
		src.runs <- Run{Results: rs, Clusters: healthy("east", "west")}
		recv(t, clock.waits, "wait")
	}
	// Run 1 logs only its problems: passes and skips are not changes.
	step(
		checks.Result{CheckID: "secrets.remote-coverage", Cluster: "east", Peer: "west", Status: checks.Pass},
		checks.Result{CheckID: "trust.root-match", Status: checks.Fail},
		checks.Result{CheckID: "gateway.reachability", Cluster: "west", Status: checks.Skipped},
	)
	if got := changes(t, logs); !slices.Equal(got, []string{"trust.root-match   none→fail"}) {
		t.Errorf("run 1 changes: %q, want only trust.root-match none→fail", got)
	}
	fin := logs.records(t, "run finished")
	if len(fin) != 1 || fin[0]["fail"] != float64(1) || fin[0]["pass"] != float64(1) || fin[0]["success"] != true {
		t.Errorf("run finished lines: %v", fin)
	}
	// Run 2: the remote secret is gone (pass→fail), the roots match again,
	// the gateway check is unchanged, a new warning appears.
	clock.tick <- time.Now()
	step(
		checks.Result{CheckID: "secrets.remote-coverage", Cluster: "east", Peer: "west", Status: checks.Fail},
		checks.Result{CheckID: "trust.root-match", Status: checks.Pass},
		checks.Result{CheckID: "gateway.reachability", Cluster: "west", Status: checks.Skipped},
		checks.Result{CheckID: "secrets.remote-token-expiry", Cluster: "east", Status: checks.Warn},
	)
	want := []string{
		"secrets.remote-coverage east west pass→fail",
		"secrets.remote-token-expiry east  none→warn",
		"trust.root-match   fail→pass",
	}
	if got := changes(t, logs); !slices.Equal(got, want) {
		t.Errorf("run 2 changes:\n%q\nwant\n%q", got, want)
	}
	// Run 3: the same results: no change logged; a result that is gone is.
	clock.tick <- time.Now()
	step(
		checks.Result{CheckID: "secrets.remote-coverage", Cluster: "east", Peer: "west", Status: checks.Fail},
		checks.Result{CheckID: "trust.root-match", Status: checks.Pass},
		checks.Result{CheckID: "gateway.reachability", Cluster: "west", Status: checks.Skipped},
	)
	if got := changes(t, logs); !slices.Equal(got, []string{"secrets.remote-token-expiry east  warn→none"}) {
		t.Errorf("run 3 changes: %q, want only the vanished warning", got)
	}
}

// TestAPanickingRunDoesNotStopTheLoop: a run that panics (a bug reached
// through one cluster's data) is logged and counted; the last results are
// kept and the next run happens as usual.
func TestAPanickingRunDoesNotStopTheLoop(t *testing.T) {
	src, clock := newFakeSource(), newFakeClock()
	logs := &syncBuffer{}
	store := &Store{}
	metrics := NewMetrics(store, BuildInfo{})
	var n atomic.Int32
	l := &Loop{Store: store, Metrics: metrics, Interval: time.Minute, After: clock.After,
		Log: slog.New(slog.NewJSONHandler(logs, nil)),
		Run: func(ctx context.Context) Run {
			if n.Add(1) == 2 {
				panic("index out of range reading cluster west")
			}
			return src.Run(ctx)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Start(ctx) }()
	defer func() { cancel(); <-done }()

	recv(t, src.started, "run 1")
	src.runs <- Run{Results: []checks.Result{{CheckID: "a.x", Status: checks.Fail}}, Clusters: healthy("east")}
	recv(t, clock.waits, "wait after run 1")
	clock.tick <- time.Now()
	recv(t, clock.waits, "wait after the panicking run 2")
	if p := logs.records(t, "run panicked; the last results are kept"); len(p) != 1 || !strings.Contains(fmt.Sprint(p[0]["panic"]), "index out of range") {
		t.Errorf("panic log lines: %v", p)
	}
	if r := store.Last(); r == nil || len(r.Results) != 1 || r.Results[0].CheckID != "a.x" {
		t.Errorf("store after the panic: %+v, want run 1's results", r)
	}
	clock.tick <- time.Now()
	recv(t, src.started, "run 3")
	src.runs <- Run{Results: []checks.Result{{CheckID: "a.x", Status: checks.Pass}}, Clusters: healthy("east")}
	recv(t, clock.waits, "wait after run 3")
	if r := store.Last(); r == nil || r.Results[0].Status != checks.Pass {
		t.Errorf("store after run 3: %+v", r)
	}
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "meshdoctor_runs_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if got["success"] != 2 || got["panic"] != 1 || got["unreachable"] != 0 {
		t.Errorf("runs_total = %v, want success 2, panic 1", got)
	}
}
