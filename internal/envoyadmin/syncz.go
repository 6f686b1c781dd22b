package envoyadmin

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// PathSyncz is istiod's list of connected proxies and their xDS state.
const PathSyncz = "/debug/syncz"

// SynczEntry is one connected proxy as /debug/syncz lists it
// (pilot/pkg/xds/debug.go SyncStatus and ResourceStatus): the proxy ID
// (<pod>.<namespace> for a sidecar), the cluster it says it runs in, and
// per xDS type the nonce last sent and last acknowledged.
type SynczEntry struct {
	ClusterID    string                   `json:"cluster_id"`
	ProxyID      string                   `json:"proxy"`
	ProxyType    string                   `json:"proxy_type"`
	IstioVersion string                   `json:"istio_version"`
	Resources    map[string]SynczResource `json:"resources"`
}

// SynczResource is one watched type's state.
type SynczResource struct {
	Sent      string    `json:"sent"`
	Acked     string    `json:"acked"`
	SentTime  time.Time `json:"sentTime"`
	LastError string    `json:"lastError"`
}

// maxSynczEntries bounds the proxies read from one istiod.
const maxSynczEntries = 200_000

// ParseSyncz reads istiod's /debug/syncz. The per-type legacy fields
// (cluster_sent, cluster_acked, ...) are folded into Resources under the
// short type names CDS, LDS, RDS, EDS, ECDS when an istiod does not write
// resources.
func ParseSyncz(r io.Reader) ([]SynczEntry, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("read syncz: %w", err)
	}
	var raw []struct {
		SynczEntry
		ClusterSent   string `json:"cluster_sent"`
		ClusterAcked  string `json:"cluster_acked"`
		ListenerSent  string `json:"listener_sent"`
		ListenerAcked string `json:"listener_acked"`
		RouteSent     string `json:"route_sent"`
		RouteAcked    string `json:"route_acked"`
		EndpointSent  string `json:"endpoint_sent"`
		EndpointAcked string `json:"endpoint_acked"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode syncz: %w", err)
	}
	if len(raw) > maxSynczEntries {
		return nil, fmt.Errorf("syncz lists %d proxies, more than %d", len(raw), maxSynczEntries)
	}
	out := make([]SynczEntry, 0, len(raw))
	for _, e := range raw {
		s := e.SynczEntry
		if len(s.Resources) == 0 {
			s.Resources = map[string]SynczResource{}
			for t, p := range map[string][2]string{"CDS": {e.ClusterSent, e.ClusterAcked}, "LDS": {e.ListenerSent, e.ListenerAcked},
				"RDS": {e.RouteSent, e.RouteAcked}, "EDS": {e.EndpointSent, e.EndpointAcked}} {
				if p[0] != "" || p[1] != "" {
					s.Resources[t] = SynczResource{Sent: p[0], Acked: p[1]}
				}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Stale lists the types whose last sent nonce the proxy has not
// acknowledged, as istioctl proxy-status calls them STALE
// (istioctl/pkg/writer/pilot/status.go: sent != acked).
func (e SynczEntry) Stale() []string {
	var out []string
	for t, r := range e.Resources {
		if r.Sent != "" && r.Sent != r.Acked {
			out = append(out, t)
		}
	}
	return out
}
