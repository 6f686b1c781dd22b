package checks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// istiodDebug answers istiod's /debug/clusterz and /metrics on 15014, as a
// port-forward would; a nil metrics body is a read error.
type istiodDebug struct{ clusterz, metrics []byte }

func (s istiodDebug) Get(_ context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	if pod.Port != envoyadmin.IstiodMonitoringPort {
		return nil, fmt.Errorf("unexpected port %d", pod.Port)
	}
	switch {
	case path == envoyadmin.PathClusterz:
		return s.clusterz, nil
	case path == envoyadmin.PathMetrics && s.metrics != nil:
		return s.metrics, nil
	}
	return nil, fmt.Errorf("GET %s: connection refused", path)
}

func syncMetric(cluster, status string) []byte {
	var b strings.Builder
	b.WriteString("# TYPE istiod_remote_cluster_sync_status gauge\n")
	for _, s := range []string{"closed", "synced", "syncing", "timeout"} {
		v := 0
		if s == status {
			v = 1
		}
		fmt.Fprintf(&b, "istiod_remote_cluster_sync_status{cluster=%q,cluster_type=\"remote\",status=%q} %d\n", cluster, s, v)
	}
	return []byte(b.String())
}

// TestIstiodLoaded: cluster-1 of install-pr-mn holds istioctl
// create-remote-secret's istio-remote-secret-cluster-2. Its /debug/clusterz
// is the one a real istiod (bin/pilot-discovery) answered for that secret
// (testdata/envoy/istiod-cluster-1-clusterz.json, make envoy-fixtures), or
// that response changed to each fault.
func TestIstiodLoaded(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("..", "..", "testdata", "envoy", "istiod-cluster-1-clusterz.json"))
	if err != nil {
		t.Fatal(err)
	}
	// /metrics of that istiod, its remote-cluster families (TestIstiodServingSANs -update-istiod).
	realMetrics, err := os.ReadFile(filepath.Join("..", "..", "testdata", "envoy", "istiod-cluster-1-metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const key = "istio-remote-secret-cluster-2/cluster-2"
	for _, tc := range []struct {
		name     string
		clusterz string
		metrics  []byte
		want     map[string]checks.Status
		msg      string
	}{
		{name: "the real istiod's response for the secret passes", clusterz: string(real),
			want: map[string]checks.Status{key: checks.Pass}, msg: "loaded cluster cluster-2"},
		{name: "synced in the real istiod's clusterz and metrics passes", clusterz: string(real), metrics: realMetrics,
			want: map[string]checks.Status{key: checks.Pass}, msg: "synced"},
		{name: "metrics saying timeout fail", clusterz: string(real), metrics: syncMetric("cluster-2", "timeout"),
			want: map[string]checks.Status{key: checks.Fail}, msg: "its watch is timeout"},
		{name: "a secret istiod has not loaded fails", clusterz: `[{"id":"cluster-1","secretName":"","syncStatus":"synced"}]`,
			want: map[string]checks.Status{key: checks.Fail}, msg: "istiod has not loaded that cluster"},
		{name: "a loaded cluster whose secret is gone fails",
			clusterz: strings.TrimSuffix(strings.TrimSpace(string(real)), "]") + `,{"id":"cluster-9","secretName":"istio-system/istio-remote-secret-cluster-9","syncStatus":"synced"}]`,
			want:     map[string]checks.Status{key: checks.Pass, "istio-remote-secret-cluster-9/cluster-9": checks.Fail}, msg: "secret istio-system/istio-remote-secret-cluster-9 is gone"},
		{name: "a secret loaded under another cluster ID fails",
			clusterz: `[{"id":"cluster-1","secretName":"","syncStatus":"synced"},{"id":"cluster-two","secretName":"istio-system/istio-remote-secret-cluster-2","syncStatus":"synced"}]`,
			want:     map[string]checks.Status{key: checks.Fail, "istio-remote-secret-cluster-2/cluster-two": checks.Fail}, msg: "under cluster ID cluster-two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			_, invs, _, err := scenario.LoadFake(scenarioDir, "install-pr-mn", now)
			if err != nil {
				t.Fatal(err)
			}
			m := mesh.Build(invs)
			env := &checks.Env{Mesh: m, Now: now, Admin: istiodDebug{clusterz: []byte(tc.clusterz), metrics: tc.metrics}}
			var got []checks.Result
			for _, c := range checks.Catalogue() {
				if c.ID == "secrets.istiod-loaded" {
					got = c.Cluster(context.Background(), env, m.Cluster("cluster-1"))
					if r := c.Cluster(context.Background(), env, m.Cluster("cluster-2")); len(r) != 1 || r[0].Status != checks.Skipped {
						t.Errorf("remote: %+v, want one skip", r)
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %v", got, tc.want)
			}
			all := ""
			for _, r := range got {
				all += r.Message + "\n"
				if want, ok := tc.want[r.Target]; !ok || r.Status != want {
					t.Errorf("%s: %s %q, want %v", r.Target, r.Status, r.Message, tc.want)
				}
				if r.Status == checks.Fail && (r.Remediation == "" || r.Note == "") {
					t.Errorf("%s: failure without remediation or note", r.Target)
				}
				if r.Status == checks.Pass && !strings.Contains(r.Note, "resourceVersion") {
					t.Errorf("%s: a pass must say what clusterz cannot tell: %q", r.Target, r.Note)
				}
			}
			if !strings.Contains(all, tc.msg) {
				t.Errorf("messages %q do not say %q", all, tc.msg)
			}
		})
	}
}

// countingAdmin counts the reads of each (pod, path) made through it.
type countingAdmin struct {
	envoyadmin.Fetcher
	mu    sync.Mutex
	reads map[string]int
}

func (c *countingAdmin) Get(ctx context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	c.mu.Lock()
	c.reads[pod.String()+" "+path]++
	c.mu.Unlock()
	return c.Fetcher.Get(ctx, pod, path)
}

// TestClusterzReadOncePerRun: endpoints.istiod-sync and
// secrets.istiod-loaded both judge cluster-1's /debug/clusterz; a whole
// run reads it from that istiod once, and both checks still judge it.
func TestClusterzReadOncePerRun(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("..", "..", "testdata", "envoy", "istiod-cluster-1-clusterz.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "install-pr-mn", now)
	if err != nil {
		t.Fatal(err)
	}
	admin := &countingAdmin{Fetcher: istiodDebug{clusterz: real}, reads: map[string]int{}}
	env := &checks.Env{Mesh: mesh.Build(invs), Now: now, Admin: admin}
	results := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), env, nil)
	judged := map[string]bool{}
	for _, r := range results {
		if (r.CheckID == "endpoints.istiod-sync" || r.CheckID == "secrets.istiod-loaded") && r.Cluster == "cluster-1" && r.Status != checks.Skipped {
			judged[r.CheckID] = true
		}
	}
	if !judged["endpoints.istiod-sync"] || !judged["secrets.istiod-loaded"] {
		t.Fatalf("both clusterz checks must judge cluster-1, judged %v", judged)
	}
	n := 0
	for k, v := range admin.reads {
		if strings.HasSuffix(k, " "+envoyadmin.PathClusterz) {
			if v != 1 {
				t.Errorf("%s read %d times in one run, want 1", k, v)
			}
			n++
		}
	}
	if n != 1 {
		t.Errorf("clusterz read from %d pods, want cluster-1's istiod only: %v", n, admin.reads)
	}
}
