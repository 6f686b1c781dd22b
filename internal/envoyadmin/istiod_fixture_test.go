package envoyadmin

import (
	"bytes"
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

// TestRealIstiodFixturesDiffEmpty: the EDS the real istiod pushed to each
// sidecar of healthy-multi-primary (network1 and network2, one helloworld
// pod each, one east-west gateway each) is exactly the expected table.
func TestRealIstiodFixturesDiffEmpty(t *testing.T) {
	gws := map[string][]GatewayAddr{
		"network1": {gw("10.214.1.10", "cluster-1")},
		"network2": {gw("10.214.2.10", "cluster-2")},
	}
	eps := []RemoteEndpoint{ep("10.214.101.5", 5000, "cluster-1", "network1"), ep("10.214.102.5", 5000, "cluster-2", "network2")}
	for cl, network := range map[string]string{"cluster-1": "network1", "cluster-2": "network2"} {
		t.Run(cl, func(t *testing.T) {
			table, err := ParseConfigDump(bytes.NewReader(readFixture(t, "istiod-"+cl+"-config_dump.json")))
			if err != nil {
				t.Fatal(err)
			}
			in := ExpectedInput{ProxyNetwork: network, Service: helloworld, Port: 5000, Endpoints: eps, Gateways: gws}
			if d := Diff(Expected(in), table[in.ClusterName()], in); len(d) != 0 {
				t.Errorf("istiod's EDS for a sidecar of %s differs from the expected table:\n%s", cl, renderDeltas(d))
			}
		})
	}
}
