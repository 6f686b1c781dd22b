package envoyadmin

import (
	"bytes"
	"strings"
	"testing"
)

// What istiod's monitoring port exports for two remote clusters, one of
// them deleted (every state zeroed, clearClusterSyncState).
const istiodMetrics = `# HELP istiod_remote_cluster_sync_status Current synchronization state of remote clusters managed by istiod.
# TYPE istiod_remote_cluster_sync_status gauge
istiod_remote_cluster_sync_status{cluster="cluster-2",cluster_type="remote",status="closed"} 0
istiod_remote_cluster_sync_status{cluster="cluster-2",cluster_type="remote",status="synced"} 1
istiod_remote_cluster_sync_status{cluster="cluster-2",cluster_type="remote",status="syncing"} 0
istiod_remote_cluster_sync_status{cluster="cluster-2",cluster_type="remote",status="timeout"} 0
istiod_remote_cluster_sync_status{cluster="cluster-3",cluster_type="remote",status="synced"} 0
istiod_remote_cluster_sync_status{cluster="cluster-3",cluster_type="remote",status="timeout"} 1
istiod_remote_cluster_sync_status{cluster="gone",cluster_type="remote",status="synced"} 0
# HELP istiod_managed_clusters Number of clusters managed by istiod
# TYPE istiod_managed_clusters gauge
istiod_managed_clusters{cluster_type="local"} 1
istiod_managed_clusters{cluster_type="remote"} 2
`

func TestParseRemoteClusterSync(t *testing.T) {
	states, found, err := ParseRemoteClusterSync(strings.NewReader(istiodMetrics))
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	want := map[string]string{"cluster-2": "synced", "cluster-3": "timeout", "gone": ""}
	if len(states) != len(want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	for k, v := range want {
		if states[k] != v {
			t.Errorf("%s: %q, want %q", k, states[k], v)
		}
	}
	_, found, err = ParseRemoteClusterSync(strings.NewReader("# TYPE pilot_xds gauge\npilot_xds 3\n"))
	if err != nil || found {
		t.Errorf("an istiod without the metric: found %v, err %v", found, err)
	}
}

// TestParseRemoteClusterSyncRealIstiod reads what pilot-discovery of the
// pinned module exported with one synced remote cluster (the remote-cluster
// families of its /metrics, recorded by e2e TestIstiodServingSANs
// -update-istiod).
func TestParseRemoteClusterSyncRealIstiod(t *testing.T) {
	states, found, err := ParseRemoteClusterSync(bytes.NewReader(readFixture(t, "istiod-cluster-1-metrics.txt")))
	if err != nil || !found || len(states) != 1 || states["cluster-2"] != SyncStatusSynced {
		t.Errorf("states %v, found %v, err %v; want cluster-2 synced", states, found, err)
	}
}

// TestParseRemoteClusterSyncHostile: metrics come from a cluster; a body
// over the document limit and text that is no exposition format are
// errors, never a panic or an unbounded read.
func TestParseRemoteClusterSyncHostile(t *testing.T) {
	t.Run("endlessMetrics", func(t *testing.T) {
		if _, _, err := ParseRemoteClusterSync(endlessMetrics{}); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err %v, want the size limit", err)
		}
	})
	for name, body := range map[string][]byte{
		"not the exposition format": []byte("istiod_remote_cluster_sync_status{cluster=\"x\" 1\n"),
		"json":                      []byte(`[{"id":"x"}]`),
		"a value that is no number": []byte("istiod_remote_cluster_sync_status{cluster=\"x\",status=\"synced\"} one\n"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParseRemoteClusterSync(bytes.NewReader(body)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// endlessMetrics is a body that never ends: comment lines, forever.
type endlessMetrics struct{}

func (endlessMetrics) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "# x\n"[i%4]
	}
	return len(p), nil
}
