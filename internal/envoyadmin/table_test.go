package envoyadmin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// renderTable prints a table one endpoint per line, for golden files.
func renderTable(t Table) string {
	var b strings.Builder
	for _, name := range sortedKeys(t) {
		fmt.Fprintf(&b, "%s\n", name)
		for _, e := range t[name] {
			fmt.Fprintf(&b, "  %-22s weight=%d priority=%d locality=%q health=%q workload=%q cluster=%q",
				e.HostPort(), e.Weight, e.Priority, e.Locality, e.Health, e.Workload, e.SourceCluster)
			if len(e.AdditionalAddresses) > 0 {
				fmt.Fprintf(&b, " additional=%q", e.AdditionalAddresses)
			}
			if e.Tunnel != "" {
				fmt.Fprintf(&b, " tunnel=%q internal=%q", e.Tunnel, e.Internal)
			}
			if e.Waypoint != "" {
				fmt.Fprintf(&b, " waypoint=%q", e.Waypoint)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func fixtureTable(t *testing.T) Table {
	t.Helper()
	table, err := ParseConfigDump(bytes.NewReader(readFixture(t, "config_dump.json")))
	if err != nil {
		t.Fatalf("ParseConfigDump: %v", err)
	}
	health, err := ParseClusters(bytes.NewReader(readFixture(t, "clusters.json")))
	if err != nil {
		t.Fatalf("ParseClusters: %v", err)
	}
	table.MergeHealth(health)
	return table
}

// TestParseConfigDumpFixture proves the sidecar dump (with its Istio-only Any
// types) parses into the endpoint table in table.golden, with the gateway
// endpoint's weight and cluster ID, and /clusters health merged over EDS.
func TestParseConfigDumpFixture(t *testing.T) {
	checkGolden(t, "table.golden", renderTable(fixtureTable(t)))
}

// TestParseAmbientDualStackFixture proves every address of an LbEndpoint is
// kept (a dual-stack pod's additional_addresses), an internal address is
// keyed by its real target from the original_dst metadata with its tunnel
// kind and internal address kept, a locality group's priority is kept, and
// /clusters health (which names hosts by their internal address) is merged.
func TestParseAmbientDualStackFixture(t *testing.T) {
	table, err := ParseConfigDump(bytes.NewReader(readFixture(t, "ambient-config_dump.json")))
	if err != nil {
		t.Fatalf("ParseConfigDump: %v", err)
	}
	health, err := ParseClusters(bytes.NewReader(readFixture(t, "ambient-clusters.json")))
	if err != nil {
		t.Fatalf("ParseClusters: %v", err)
	}
	table.MergeHealth(health)
	checkGolden(t, "ambient-table.golden", renderTable(table))
}

// TestUnknownAnyTypesDoNotBreakParsing proves that the committed dump really
// holds Any types this binary cannot resolve, in listeners, clusters and the
// EDS section itself, and still parses.
func TestUnknownAnyTypesDoNotBreakParsing(t *testing.T) {
	dump := readFixture(t, "config_dump.json")
	for _, name := range istioOnlyTypes {
		url := "type.googleapis.com/" + name
		if _, err := protoregistry.GlobalTypes.FindMessageByURL(url); !errors.Is(err, protoregistry.NotFound) {
			t.Fatalf("%s is registered (err=%v): the test would not exercise the fallback", name, err)
		}
		if !bytes.Contains(dump, []byte(`"@type": "`+url+`"`)) {
			t.Fatalf("fixture has no Any of type %s", name)
		}
	}
	var plain adminv3.ConfigDump
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(dump, &plain); err == nil {
		t.Fatal("protojson without the fallback resolver parsed the dump: the fixture does not exercise it")
	}
	table, err := ParseConfigDump(bytes.NewReader(dump))
	if err != nil {
		t.Fatalf("ParseConfigDump: %v", err)
	}
	if got := len(table[ClusterName("sleep.sample.svc.cluster.local", 80, "")]); got != 1 {
		t.Errorf("sleep endpoints (the one with an unknown typed_filter_metadata) = %d, want 1", got)
	}
}

// TestParseConfigDumpShapes covers the other shapes Envoy answers with.
func TestParseConfigDumpShapes(t *testing.T) {
	const cla = `{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
		"cluster_name":"outbound|80||a.ns.svc.cluster.local",
		"endpoints":[{"locality":{"region":"r","zone":"z","sub_zone":"s"},"lb_endpoints":[
			{"endpoint":{"address":{"socket_address":{"address":"10.0.0.2","port_value":80}}},"health_status":"DRAINING"},
			{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}},"load_balancing_weight":3}]}]}`
	tests := []struct {
		name string
		dump string
		want []Endpoint
	}{
		{
			name: "resource= form lists endpoint configs directly",
			dump: `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","endpoint_config":` + cla + `}]}`,
			want: []Endpoint{
				{Address: "10.0.0.1", Port: 80, Weight: 3, Locality: "r/z/s"},
				{Address: "10.0.0.2", Port: 80, Weight: 1, Locality: "r/z/s", Health: "DRAINING"},
			},
		},
		{
			name: "camelCase JSON and an unset weight (Envoy's default 1)",
			dump: `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","staticEndpointConfigs":[{"endpointConfig":
				{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","clusterName":"outbound|80||a.ns.svc.cluster.local",
				"endpoints":[{"lbEndpoints":[{"endpoint":{"address":{"socketAddress":{"address":"10.0.0.9","portValue":80}}}}]}]}}]}]}`,
			want: []Endpoint{{Address: "10.0.0.9", Port: 80, Weight: 1}},
		},
		{
			name: "endpoint config Envoy requested but never received is skipped",
			dump: `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[{"client_status":"REQUESTED"}]}]}`,
		},
		{
			name: "unknown top-level config type and unknown fields are skipped",
			dump: `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v9.FutureConfigDump","x":1},
				{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","future_field":true,"dynamic_endpoint_configs":[{"endpoint_config":` + cla + `}]}]}`,
			want: []Endpoint{
				{Address: "10.0.0.1", Port: 80, Weight: 3, Locality: "r/z/s"},
				{Address: "10.0.0.2", Port: 80, Weight: 1, Locality: "r/z/s", Health: "DRAINING"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := ParseConfigDump(strings.NewReader(tt.dump))
			if err != nil {
				t.Fatalf("ParseConfigDump: %v", err)
			}
			got := table["outbound|80||a.ns.svc.cluster.local"]
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("endpoints\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseErrors proves that malformed input gives a wrapped error naming
// what was being read, never a panic or an empty result.
func TestParseErrors(t *testing.T) {
	dump := readFixture(t, "config_dump.json")
	parsers := map[string]func(string) error{
		"config dump": func(s string) error { _, err := ParseConfigDump(strings.NewReader(s)); return err },
		"clusters":    func(s string) error { _, err := ParseClusters(strings.NewReader(s)); return err },
		"clusterz":    func(s string) error { _, err := ParseClusterz(strings.NewReader(s)); return err },
		"networkz":    func(s string) error { _, err := ParseNetworkz(strings.NewReader(s)); return err },
	}
	tests := []struct {
		name   string
		parser string
		input  string
		is     error
	}{
		{name: "truncated config dump", parser: "config dump", input: string(dump[:len(dump)/2])},
		{name: "config dump is a JSON array", parser: "config dump", input: `[]`},
		{name: "configs of the wrong type", parser: "config dump", input: `{"configs":"x"}`},
		{name: "port is a string", parser: "config dump", input: `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
			"dynamic_endpoint_configs":[{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
			"endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"port_value":"eighty"}}}}]}]}}]}]}`},
		{name: "dump taken without include_eds", parser: "config dump", input: `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.ClustersConfigDump"}]}`, is: ErrNoEndpoints},
		{name: "clusters JSON given as a config dump", parser: "config dump", input: string(readFixture(t, "clusters.json")), is: ErrNoEndpoints},
		{name: "empty config dump", parser: "config dump", input: ``},
		{name: "truncated clusters", parser: "clusters", input: `{"cluster_statuses":[{"name":"a"`},
		{name: "clusters text format instead of JSON", parser: "clusters", input: "outbound|80||a::10.0.0.1:80::health_flags::healthy\n"},
		{name: "clusterz is an object", parser: "clusterz", input: `{"id":"cluster-1"}`},
		{name: "networkz port is a string", parser: "networkz", input: `[{"Network":"n","Addr":"1.2.3.4","Port":"15443"}]`},
		{name: "networkz truncated", parser: "networkz", input: `[{"Network":"n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parsers[tt.parser](tt.input)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.parser) {
				t.Errorf("error %q does not say it was reading the %s", err, tt.parser)
			}
			if errors.Unwrap(err) == nil {
				t.Errorf("error %q wraps nothing", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestParseIstiodDebug(t *testing.T) {
	entries, err := ParseClusterz(bytes.NewReader(readFixture(t, "clusterz.json")))
	if err != nil {
		t.Fatal(err)
	}
	want := []ClusterzEntry{
		{ID: "cluster-1", SyncStatus: SyncStatusSynced},
		{ID: "cluster-2", SecretName: "istio-system/istio-remote-secret-cluster-2", SyncStatus: SyncStatusSynced},
		{ID: "cluster-3", SecretName: "istio-system/istio-remote-secret-cluster-3", SyncStatus: SyncStatusTimeout},
	}
	if fmt.Sprint(entries) != fmt.Sprint(want) {
		t.Errorf("clusterz\n got %+v\nwant %+v", entries, want)
	}
	gws, err := ParseNetworkz(bytes.NewReader(readFixture(t, "networkz.json")))
	if err != nil {
		t.Fatal(err)
	}
	wantGws := []NetworkGateway{
		{Network: "network-1", Cluster: "cluster-1", Addr: "172.18.0.10", Port: 15443},
		{Network: "network-2", Cluster: "cluster-2", Addr: "172.18.0.20", Port: 15443},
	}
	if fmt.Sprint(gws) != fmt.Sprint(wantGws) {
		t.Errorf("networkz\n got %+v\nwant %+v", gws, wantGws)
	}
	if gws, err := ParseNetworkz(strings.NewReader("")); err != nil || len(gws) != 0 {
		t.Errorf("empty networkz (istiod without a network manager) = %v, %v; want none, nil", gws, err)
	}
}
