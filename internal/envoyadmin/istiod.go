package envoyadmin

import (
	"encoding/json"
	"fmt"
	"io"
)

// Paths of istiod's debug endpoints on its monitoring port (15014).
const (
	PathClusterz = "/debug/clusterz"
	PathNetworkz = "/debug/networkz"
)

// Sync states istiod reports for a cluster in /debug/clusterz.
const (
	SyncStatusSynced  = "synced"
	SyncStatusSyncing = "syncing"
	SyncStatusTimeout = "timeout"
	SyncStatusClosed  = "closed"
)

// ClusterzEntry is one cluster istiod watches, as /debug/clusterz lists it
// (istio pkg/cluster DebugInfo). The first entry is istiod's own (config)
// cluster, with no secret.
type ClusterzEntry struct {
	ID         string `json:"id"`
	SecretName string `json:"secretName"`
	SyncStatus string `json:"syncStatus"`
}

// ParseClusterz reads istiod's /debug/clusterz. A JSON null (istiod without a
// multicluster controller) is an empty list.
func ParseClusterz(r io.Reader) ([]ClusterzEntry, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("read clusterz: %w", err)
	}
	var out []ClusterzEntry
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decode clusterz: %w", err)
	}
	return out, nil
}

// NetworkGateway is a gateway istiod will send cross-network traffic to, as
// /debug/networkz lists it (istio pilot/pkg/model NetworkGateway, marshalled
// without JSON tags, so with Go field names: Network, Cluster, Addr, Port,
// HBONEPort, ServiceAccount). Only gateways with an IP address (or a hostname
// istiod resolved) are listed.
type NetworkGateway struct {
	Network string
	Cluster string
	Addr    string
	Port    int
}

// ParseNetworkz reads istiod's /debug/networkz. An empty body (istiod without
// a network manager writes nothing) and null are an empty list.
func ParseNetworkz(r io.Reader) ([]NetworkGateway, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("read networkz: %w", err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	var raw []struct {
		Network string `json:"Network"`
		Cluster string `json:"Cluster"`
		Addr    string `json:"Addr"`
		Port    uint32 `json:"Port"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode networkz: %w", err)
	}
	out := make([]NetworkGateway, 0, len(raw))
	for _, g := range raw {
		out = append(out, NetworkGateway{Network: g.Network, Cluster: g.Cluster, Addr: g.Addr, Port: int(g.Port)})
	}
	return out, nil
}
