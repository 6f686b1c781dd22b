package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestPrometheusScrapesServe is meshdoctor serve with a real consumer: the
// built binary checks two simulated clusters every 2 s, a real Prometheus
// server (built from its Go module into bin/ by make testbin) scrapes it
// every second with the alerting rules of deploy/prometheus loaded, and
// the test reads only Prometheus's HTTP API. When cluster-2's remote secret
// for cluster-1 is deleted, the series of that pair,
// meshdoctor_check_status{check="secrets.remote-coverage",cluster="cluster-2",
// peer="cluster-1"}, goes from pass to fail within two runs (the first may
// have started before the deletion), and MeshdoctorRemoteClusterNotSynced
// becomes pending for that pair.
//
// The waits are on events (a run finished, a sample scraped), each bounded
// by a minute only to catch a hang: "within two intervals" is asserted by
// counting serve's runs, not by the clock, so that a busy machine does not
// fail it.
func TestPrometheusScrapesServe(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv.SkipIfDisabled(t)
	prom := filepath.Join(root, "bin", "prometheus")
	if _, err := os.Stat(prom); err != nil {
		t.Skipf("bin/prometheus is missing (make testbin builds it from hack/prometheus): %v", err)
	}
	e := testenv.Start(t, testenv.Options{Clusters: 2})
	bin := meshdoctorBinary(t, root)
	apply(t, e, filepath.Join(root, "testdata", "scenarios"), "healthy-multi-primary")

	const interval = 2 * time.Second
	srv := startServe(t, bin, e.Kubeconfig, interval)
	api := startPrometheus(t, prom, root, srv.addr)

	pair := `check="secrets.remote-coverage",cluster="cluster-2",peer="cluster-1"`
	// Healthy: the pair passes, as Prometheus sees it.
	api.waitFor(t, fmt.Sprintf(`meshdoctor_check_status{%s,status="pass"} == 1`, pair), "the pair passing")
	if v := api.query(t, `up{job="meshdoctor"}`); len(v) != 1 || v[0].Value[1] != "1" {
		t.Errorf("up{job=meshdoctor} = %v", v)
	}
	if v := api.query(t, `meshdoctor_build_info`); len(v) != 1 {
		t.Errorf("meshdoctor_build_info = %v", v)
	}

	// The fault: cluster-2's istiod loses its secret for cluster-1.
	if err := e.Cluster("cluster-2").Admin.CoreV1().Secrets("istio-system").Delete(context.Background(), "istio-remote-secret-cluster-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	// Run k+1, the first to finish after the deletion, may have started
	// before it; run k+2 started after k+1 finished (an interval later),
	// so after the deletion. Wait until Prometheus has scraped a run that
	// finished after k+1's log line, i.e. run k+2 or later, then look at
	// the pair as Prometheus has it.
	k := srv.runs()
	first := srv.waitRuns(t, k+1)
	srv.waitRuns(t, k+2)
	api.waitFor(t, fmt.Sprintf(`meshdoctor_last_run_timestamp_seconds > %.3f`, float64(first.UnixMilli())/1e3), "a scrape of the second run after the deletion")
	if v := api.query(t, fmt.Sprintf(`meshdoctor_check_status{%s,status="fail"}`, pair)); len(v) != 1 || v[0].Value[1] != "1" {
		t.Fatalf("two runs after the remote secret was deleted, the pair's fail series is %v, want 1", v)
	}
	if v := api.query(t, fmt.Sprintf(`meshdoctor_check_status{%s,status="pass"}`, pair)); len(v) != 1 || v[0].Value[1] != "0" {
		t.Errorf("the pair's pass series is %v, want 0", v)
	}
	// The other direction is untouched.
	if v := api.query(t, `meshdoctor_check_status{check="secrets.remote-coverage",cluster="cluster-1",peer="cluster-2",status="pass"}`); len(v) != 1 || v[0].Value[1] != "1" {
		t.Errorf("cluster-1 → cluster-2 pass series is %v, want 1", v)
	}
	t.Logf("the pair's series went to fail %v after the deletion (serve interval %v, scrape 1s)", time.Since(deleted).Round(100*time.Millisecond), interval)
	// The alert rule, evaluated by the real server: pending for this pair.
	api.waitFor(t, `ALERTS{alertname="MeshdoctorRemoteClusterNotSynced",alertstate="pending",cluster="cluster-2",peer="cluster-1"}`, "the alert pending")

	if rss := srv.peakRSS(); rss != "" {
		t.Logf("meshdoctor serve, 2 clusters, %d runs: peak RSS %s", srv.runs(), rss)
	}

	// The manifests that run serve in a cluster, accepted by a real API
	// server (last: the namespace it creates is not in the scenario).
	t.Run("deploy-serve-dry-run", func(t *testing.T) { dryRunServeManifests(t, e.Cluster("cluster-1"), root) })
}

// serveProc is a running `meshdoctor serve`.
type serveProc struct {
	cmd  *exec.Cmd
	addr string

	mu sync.Mutex
	// finished is the time of each "run finished" log line so far.
	finished []time.Time
	// ran is signalled after each.
	ran chan struct{}
}

func startServe(t *testing.T, bin, kubeconfig string, interval time.Duration) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0", "--interval", interval.String(), "--no-network")
	cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, ran: make(chan struct{}, 1)}
	addr := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct {
				Time time.Time `json:"time"`
				Msg  string    `json:"msg"`
				Addr string    `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			switch rec.Msg {
			case "listening":
				addr <- rec.Addr
			case "run finished":
				p.mu.Lock()
				p.finished = append(p.finished, rec.Time)
				p.mu.Unlock()
				select {
				case p.ran <- struct{}{}:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if err := cmd.Wait(); err != nil {
			t.Errorf("meshdoctor serve after SIGTERM: %v", err)
		}
	})
	select {
	case p.addr = <-addr:
	case <-time.After(time.Minute):
		t.Fatal("meshdoctor serve logged no listening address")
	}
	return p
}

func (p *serveProc) runs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.finished)
}

// waitRuns waits until n runs have finished and returns when the n-th did.
func (p *serveProc) waitRuns(t *testing.T, n int) time.Time {
	t.Helper()
	for {
		p.mu.Lock()
		if len(p.finished) >= n {
			at := p.finished[n-1]
			p.mu.Unlock()
			return at
		}
		p.mu.Unlock()
		select {
		case <-p.ran:
		case <-time.After(time.Minute):
			t.Fatalf("meshdoctor serve finished %d runs in all, want %d", p.runs(), n)
		}
	}
}

// peakRSS is the process's VmHWM ("" when /proc is not there).
func (p *serveProc) peakRSS() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// promAPI is a Prometheus server's HTTP API.
type promAPI struct {
	base   string
	client *http.Client
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func startPrometheus(t *testing.T, prom, root, target string) *promAPI {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(root, "deploy", "prometheus", "meshdoctor-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: meshdoctor
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// A free port for the web listener (Prometheus does not report the
	// port it bound for :0).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	api := &promAPI{base: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	deadline := time.After(time.Minute)
	for {
		resp, err := api.client.Get(api.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus exited: %v\n%s", err, b)
		case <-deadline:
			t.Fatal("prometheus not ready within a minute")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// query evaluates an instant PromQL query now.
func (a *promAPI) query(t *testing.T, q string) []sample {
	t.Helper()
	resp, err := a.client.Get(a.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Status != "success" {
		t.Fatalf("query %s: %s %v %s", q, resp.Status, err, b)
	}
	if doc.Data.ResultType != "vector" {
		t.Fatalf("query %s: result type %s", q, doc.Data.ResultType)
	}
	return doc.Data.Result
}

// waitFor waits until q returns at least one sample.
func (a *promAPI) waitFor(t *testing.T, q, what string) []sample {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		if v := a.query(t, q); len(v) > 0 {
			return v
		}
		select {
		case <-deadline:
			t.Fatalf("waiting for %s: %s returned nothing for a minute", what, q)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
