package envoyadmin

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRealIstiodFixturesParse reads what a real istiod produced (recorded
// by `make envoy-fixtures` from pilot-discovery in the integration tier):
// its EDS for a sidecar rendered as a config dump, /debug/clusterz and
// /debug/networkz of a healthy two-network mesh.
func TestRealIstiodFixturesParse(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "envoy")
	for _, cl := range []string{"cluster-1", "cluster-2"} {
		t.Run(cl, func(t *testing.T) {
			open := func(name string) *os.File {
				f, err := os.Open(filepath.Join(dir, "istiod-"+cl+"-"+name+".json"))
				if err != nil {
					t.Fatalf("fixture missing (make envoy-fixtures records it): %v", err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			table, err := ParseConfigDump(open("config_dump"))
			if err != nil {
				t.Fatal(err)
			}
			eps := table[ClusterName("helloworld.sample.svc.cluster.local", 5000, "")]
			if len(eps) != 2 {
				t.Fatalf("helloworld endpoints from istiod: %+v, want the local pod and the other network's gateway", eps)
			}
			gateways := 0
			for _, e := range eps {
				if e.Port == DefaultGatewayPort && e.Workload == "" && e.SourceCluster != cl {
					gateways++
				}
			}
			if gateways != 1 {
				t.Errorf("want one remote gateway endpoint (port 15443, no workload, the other cluster's ID): %+v", eps)
			}
			cz, err := ParseClusterz(open("clusterz"))
			if err != nil {
				t.Fatal(err)
			}
			if len(cz) != 2 {
				t.Errorf("clusterz %+v, want this cluster and the remote one", cz)
			}
			for _, c := range cz {
				if c.SyncStatus != "synced" {
					t.Errorf("clusterz entry %+v not synced", c)
				}
			}
			nz, err := ParseNetworkz(open("networkz"))
			if err != nil {
				t.Fatal(err)
			}
			if len(nz) != 2 {
				t.Errorf("networkz %+v, want both networks' gateways", nz)
			}
		})
	}
}
