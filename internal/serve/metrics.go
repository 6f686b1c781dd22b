package serve

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// The metric model (documented in the README, "Continuous mode"):
//
//	meshdoctor_check_status{check,cluster,peer,status}  1 for the current status, 0 for the other four
//	meshdoctor_check_results{check,cluster,peer,status} how many results of that status (only statuses present)
//	meshdoctor_problems{status}                          warn/fail/error results of the last run
//	meshdoctor_root_causes                               problems no other problem explains
//	meshdoctor_inventory_errors{cluster}                 resources that could not be listed
//	meshdoctor_cluster_reachable{cluster}                1 when the cluster could be read
//	meshdoctor_run_duration_seconds                      histogram of run durations
//	meshdoctor_runs_total{result}                        runs by result (success, unreachable, panic)
//	meshdoctor_last_run_timestamp_seconds                when the last run finished
//	meshdoctor_last_success_timestamp_seconds            when the last run that read a cluster finished
//	meshdoctor_build_info{version,commit,goversion}      1
//
// The status is a label with every value present (an enum "state set", as
// Prometheus naming practice recommends for states), so that `== 1` selects
// the current one and a change is a change of value, not a new series.
// The series key is the JUnit test case's stable key plus the peer: check,
// cluster ("" for mesh scope) and peer ("" when none). Targets (ports,
// addresses, secret keys, services) are not labels: an address changes
// with every gateway and would make series unbounded; the results of one
// key are folded into its worst status (error > fail > warn > pass >
// skipped, as in the JUnit report) and counted in meshdoctor_check_results.
//
// The per-result series are built from the store at each scrape (a
// collector, not gauges that are set), so a result that disappeared from the
// last run is gone from the next scrape: no stale series.

var statuses = []checks.Status{checks.Pass, checks.Warn, checks.Fail, checks.Skipped, checks.Error}

// seriesKey is the labels of one check's series.
type seriesKey struct{ check, cluster, peer string }

func keyOf(r checks.Result) seriesKey { return seriesKey{r.CheckID, r.Cluster, r.Peer} }

// worst folds results into the worst status of each key.
func worst(rs []checks.Result) map[seriesKey]checks.Status {
	out := map[seriesKey]checks.Status{}
	for _, r := range rs {
		k := keyOf(r)
		if was, ok := out[k]; !ok || r.Status.Weight() > was.Weight() {
			out[k] = r.Status
		}
	}
	return out
}

// BuildInfo labels meshdoctor_build_info.
type BuildInfo struct{ Version, Commit, GoVersion string }

// Metrics is meshdoctor's Prometheus registry: the run histogram and
// counter, build info, and a collector of the last run's results.
type Metrics struct {
	Registry *prometheus.Registry
	duration prometheus.Histogram
	runs     *prometheus.CounterVec
}

// NewMetrics registers meshdoctor's metrics, reading results from store.
func NewMetrics(store *Store, build BuildInfo) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meshdoctor_run_duration_seconds",
			Help: "How long one run of the check graph took (reading the clusters included).",
			// A snapshot runs in milliseconds; a live mesh in seconds; a run
			// bounded by --timeout can take minutes.
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshdoctor_runs_total",
			Help: "Runs of the check graph by result: success (at least one cluster read), unreachable, or panic (the run broke; its results were not kept).",
		}, []string{"result"}),
	}
	for _, r := range []string{"success", "unreachable", "panic"} {
		m.runs.WithLabelValues(r)
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "meshdoctor_build_info",
		Help:        "Always 1; the labels are the build's version, commit and Go version.",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "goversion": build.GoVersion},
	})
	info.Set(1)
	reg.MustRegister(m.duration, m.runs, info, &resultsCollector{store: store})
	return m
}

func (m *Metrics) observe(r *Run) {
	m.duration.Observe(r.Duration.Seconds())
	if r.Success() {
		m.runs.WithLabelValues("success").Inc()
	} else {
		m.runs.WithLabelValues("unreachable").Inc()
	}
}

var (
	descStatus = prometheus.NewDesc("meshdoctor_check_status",
		"1 for the check's current status (the worst of its results for this cluster and peer), 0 for the others.",
		[]string{"check", "cluster", "peer", "status"}, nil)
	descResults = prometheus.NewDesc("meshdoctor_check_results",
		"Results of the check for this cluster and peer (one per target) by status.",
		[]string{"check", "cluster", "peer", "status"}, nil)
	descProblems = prometheus.NewDesc("meshdoctor_problems",
		"Results of the last run that are problems, by status (warn, fail, error).",
		[]string{"status"}, nil)
	descCauses = prometheus.NewDesc("meshdoctor_root_causes",
		"Problems of the last run that no other problem explains (the ones to fix first).", nil, nil)
	descInvErrors = prometheus.NewDesc("meshdoctor_inventory_errors",
		"Resources that could not be listed from the cluster in the last run.",
		[]string{"cluster"}, nil)
	descReachable = prometheus.NewDesc("meshdoctor_cluster_reachable",
		"1 when the cluster could be read in the last run.", []string{"cluster"}, nil)
	descLastRun = prometheus.NewDesc("meshdoctor_last_run_timestamp_seconds",
		"When the last run finished (Unix time).", nil, nil)
	descLastSuccess = prometheus.NewDesc("meshdoctor_last_success_timestamp_seconds",
		"When the last run that read at least one cluster finished (Unix time).", nil, nil)
)

// resultsCollector turns the store's last run into series at each scrape.
type resultsCollector struct{ store *Store }

func (c *resultsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStatus, descResults, descProblems, descCauses, descInvErrors, descReachable, descLastRun, descLastSuccess} {
		ch <- d
	}
}

func (c *resultsCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.store.Last()
	if r == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counts := map[seriesKey]map[checks.Status]int{}
	problems := map[checks.Status]int{}
	causes := 0
	for _, res := range r.Results {
		k := keyOf(res)
		if counts[k] == nil {
			counts[k] = map[checks.Status]int{}
		}
		counts[k][res.Status]++
		if res.Problem() {
			problems[res.Status]++
			if len(res.CausedBy) == 0 {
				causes++
			}
		}
	}
	for k, st := range worst(r.Results) {
		for _, s := range statuses {
			v := 0.0
			if s == st {
				v = 1
			}
			gauge(descStatus, v, k.check, k.cluster, k.peer, s.String())
			if n := counts[k][s]; n > 0 {
				gauge(descResults, float64(n), k.check, k.cluster, k.peer, s.String())
			}
		}
	}
	for _, s := range []checks.Status{checks.Warn, checks.Fail, checks.Error} {
		gauge(descProblems, float64(problems[s]), s.String())
	}
	gauge(descCauses, float64(causes))
	names := make([]string, 0, len(r.Clusters))
	for name := range r.Clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h := r.Clusters[name]
		reach := 0.0
		if h.Reachable {
			reach = 1
		}
		gauge(descReachable, reach, name)
		gauge(descInvErrors, float64(h.InventoryErrors), name)
	}
	gauge(descLastRun, float64(r.Started.Add(r.Duration).UnixMilli())/1e3)
	if t := c.store.LastSuccess(); !t.IsZero() {
		gauge(descLastSuccess, float64(t.UnixMilli())/1e3)
	}
}
