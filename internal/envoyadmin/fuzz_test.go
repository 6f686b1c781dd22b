package envoyadmin

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// FuzzParseConfigDump feeds arbitrary bytes (seeded with the committed dumps)
// to the parsers: they may fail, never panic, and a table they return is
// sorted. Run it with a bounded minimization, or the engine spends its whole
// budget minimizing the 36 KiB seed:
//
//	go test ./internal/envoyadmin -run XXX -fuzz FuzzParseConfigDump -fuzztime 20s -fuzzminimizetime 100x
func FuzzParseConfigDump(f *testing.F) {
	for _, name := range []string{"config_dump.json", "clusters.json", "clusterz.json", "networkz.json", "ambient-config_dump.json", "ambient-clusters.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(`{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"pipe":{"path":"/p"}}}}]}]}}]}`))
	// An internal address whose original_dst "local" is not host:port keeps
	// its envoy:// form.
	f.Add([]byte(`{"configs":[{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c","endpoints":[{"priority":2,"lb_endpoints":[{"endpoint":{"address":{"envoy_internal_address":{"server_listener_name":"connect_originate","endpoint_id":"x"}}},"metadata":{"filter_metadata":{"envoy.filters.listener.original_dst":{"local":"[::1]:99999"}}}}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := ParseConfigDump(bytes.NewReader(data))
		// Skimming and the fast decoder never lose what protojson reads:
		// a dump that decodes whole gives the same table.
		if want, werr := fullDecode(t, data); werr == nil {
			if err != nil {
				t.Fatalf("protojson reads the dump, ParseConfigDump fails: %v", err)
			}
			if !reflect.DeepEqual(table, want) {
				t.Fatalf("table differs from protojson's:\n got %v\nwant %v", table, want)
			}
		}
		if err == nil {
			for name, eps := range table {
				for i := 1; i < len(eps); i++ {
					if compareEndpoints(eps[i-1], eps[i]) > 0 {
						t.Fatalf("%s not sorted: %v", name, eps)
					}
				}
			}
		}
		// The /clusters decoder takes only what protojson reads the same.
		if got, err := decodeClusters(data); err == nil {
			want, werr := clustersByProtojson(t, data)
			if werr != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("clusters: the decoder gives %v, protojson %v, %v", got, want, werr)
			}
		}
		if want, werr := clustersByProtojson(t, data); werr == nil {
			got, err := ParseClusters(bytes.NewReader(data))
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("clusters: protojson reads %v, ParseClusters gives %v, %v", want, got, err)
			}
		}
		if h, err := ParseClusters(bytes.NewReader(data)); err == nil && table != nil {
			table.MergeHealth(h)
		}
		_, _ = ParseClusterz(bytes.NewReader(data))
		_, _ = ParseNetworkz(bytes.NewReader(data))
	})
}

func BenchmarkParseConfigDump(b *testing.B) {
	for _, size := range []struct{ services, endpoints int }{{0, 0}, {200, 10}, {1000, 20}} {
		g := newGen(b)
		dump := g.configDump(syntheticServices(size.services, size.endpoints))
		b.Run(fmt.Sprintf("services=%d/endpoints=%d/%dKiB", size.services+2, size.endpoints, len(dump)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(dump)))
			for b.Loop() {
				if _, err := ParseConfigDump(bytes.NewReader(dump)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiff computes the expected table and diffs it against a sidecar
// table that matches it, for 5,000 endpoints over 10 clusters and for the
// 100,000 endpoints over 50 clusters of the performance issue (5 networks).
func BenchmarkDiff(b *testing.B) {
	for _, size := range []struct{ clusters, perCluster int }{{10, 500}, {50, 2000}} {
		b.Run(fmt.Sprintf("endpoints=%d/clusters=%d", size.clusters*size.perCluster, size.clusters), func(b *testing.B) {
			in := ExpectedInput{ProxyNetwork: "network-1", Service: helloworld, Port: 5000, Gateways: map[string][]GatewayAddr{}}
			for c := range size.clusters {
				network := fmt.Sprintf("network-%d", c%5+1)
				cluster := fmt.Sprintf("cluster-%d", c+1)
				in.Gateways[network] = append(in.Gateways[network], GatewayAddr{Address: fmt.Sprintf("172.18.0.%d", c+1), Port: 15443, Cluster: cluster})
				for i := range size.perCluster {
					in.Endpoints = append(in.Endpoints, RemoteEndpoint{IP: fmt.Sprintf("10.%d.%d.%d", c, i/250, i%250+1), Port: 5000, Cluster: cluster, Network: network})
				}
			}
			got := Expected(in)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if d := Diff(Expected(in), got, in); len(d) != 0 {
					b.Fatalf("deltas: %v", d)
				}
			}
		})
	}
}
