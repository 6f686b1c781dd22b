package envoyadmin

import (
	"bytes"
	"fmt"
	"io"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// PathMetrics is istiod's Prometheus endpoint on its monitoring port.
const PathMetrics = "/metrics"

// MetricRemoteClusterSyncStatus is the gauge istiod keeps per remote
// cluster and state, 1 for the state the cluster is in
// (pkg/kube/multicluster/secretcontroller.go remoteClusterSyncState:
// labels cluster, cluster_type="remote", status synced|syncing|timeout|
// closed). Istiod zeroes every state of a cluster it deletes
// (clearClusterSyncState), so a cluster without a 1 is not managed.
const MetricRemoteClusterSyncStatus = "istiod_remote_cluster_sync_status"

// maxMetricsBytes bounds one istiod's /metrics body: a large istiod
// exports a few MiB.
const maxMetricsBytes = 64 << 20

// maxMetricClusters bounds the clusters read from one istiod's metrics.
const maxMetricClusters = 100_000

// ParseRemoteClusterSync reads istiod's /metrics (Prometheus text format)
// and returns, per remote cluster ID, the state whose
// istiod_remote_cluster_sync_status sample is 1. found is false when the
// metric is absent (an istiod that does not export it). Other metric
// families are parsed and dropped.
func ParseRemoteClusterSync(r io.Reader) (states map[string]string, found bool, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxMetricsBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("read metrics: %w", err)
	}
	if len(data) > maxMetricsBytes {
		return nil, false, fmt.Errorf("read metrics: larger than %d bytes", maxMetricsBytes)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, false, fmt.Errorf("parse metrics: %w", err)
	}
	mf, ok := families[MetricRemoteClusterSyncStatus]
	if !ok {
		return nil, false, nil
	}
	states = map[string]string{}
	for _, m := range mf.GetMetric() {
		var clusterID, status, kind string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "cluster":
				clusterID = l.GetValue()
			case "status":
				status = l.GetValue()
			case "cluster_type":
				kind = l.GetValue()
			}
		}
		if clusterID == "" || kind != "" && kind != "remote" {
			continue
		}
		if _, seen := states[clusterID]; !seen {
			if len(states) >= maxMetricClusters {
				return nil, true, fmt.Errorf("metrics list more than %d remote clusters", maxMetricClusters)
			}
			states[clusterID] = ""
		}
		if m.GetGauge().GetValue() == 1 {
			states[clusterID] = status
		}
	}
	return states, true, nil
}
