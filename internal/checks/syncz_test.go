package checks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// synczServer answers /debug/syncz for every istiod pod with one body, as a
// port-forward to 15014 would.
type synczServer struct{ body []byte }

func (s synczServer) Get(_ context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	if path != envoyadmin.PathSyncz || pod.Port != envoyadmin.IstiodMonitoringPort {
		return nil, fmt.Errorf("unexpected %s %s", pod, path)
	}
	return s.body, nil
}

func TestIstiodSyncz(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "healthy-primary-remote", now)
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.Build(invs)
	var remote *mesh.Cluster
	for _, c := range m.Clusters {
		if c.Role == mesh.Remote {
			remote = c
		}
	}
	if remote == nil {
		t.Fatal("scenario has no remote cluster")
	}
	var proxy string
	for _, p := range remote.Inv.Pods {
		for _, ct := range p.Spec.Containers {
			if ct.Name == "istio-proxy" && p.Namespace != "istio-system" {
				proxy = p.Name + "." + p.Namespace
			}
		}
	}
	if proxy == "" {
		t.Fatal("remote cluster lists no sidecar pod")
	}
	entry := func(clusterID, sent, acked string, at time.Time) []byte {
		b, _ := json.Marshal([]map[string]any{{"cluster_id": clusterID, "proxy": proxy, "proxy_type": "sidecar",
			"resources": map[string]any{"type.googleapis.com/envoy.config.cluster.v3.Cluster": map[string]any{"sent": sent, "acked": acked, "sentTime": at}}}})
		return b
	}
	for _, tc := range []struct {
		name string
		body []byte
		want checks.Status
		msg  string
	}{
		{"connected and synced passes", entry(remote.ID, "n1", "n1", now), checks.Pass, "synced"},
		{"not connected fails", []byte(`[]`), checks.Fail, "connected to no primary"},
		{"connected under another cluster ID fails", entry("cluster-9", "n1", "n1", now), checks.Fail, "connected as cluster"},
		{"unacknowledged for minutes fails", entry(remote.ID, "n2", "n1", now.Add(-10*time.Minute)), checks.Fail, "has not acknowledged Cluster"},
		{"a push in flight warns", entry(remote.ID, "n2", "n1", now), checks.Warn, "not yet acknowledged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &checks.Env{Mesh: m, Now: now, Admin: synczServer{tc.body}}
			var got []checks.Result
			for _, c := range checks.Catalogue() {
				if c.ID == "endpoints.istiod-syncz" {
					got = c.Cluster(context.Background(), env, remote)
				}
			}
			var found bool
			for _, r := range got {
				if strings.HasSuffix(r.Target, strings.SplitN(proxy, ".", 2)[0]) {
					found = true
					if r.Status != tc.want || !strings.Contains(r.Message, tc.msg) {
						t.Errorf("got %s %q, want %s containing %q", r.Status, r.Message, tc.want, tc.msg)
					}
					if r.Status == checks.Fail && r.Remediation == "" {
						t.Error("failure without a remediation")
					}
				}
			}
			if !found {
				t.Fatalf("no result for %s: %+v", proxy, got)
			}
		})
	}
}
