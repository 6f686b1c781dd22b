package envoyadmin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
)

// fullDecode is how dumps were parsed before the skim: the whole document
// through protojson. It is the reference the skim must agree with, and the
// baseline of BenchmarkParseConfigDump.
func fullDecode(t testing.TB, data []byte) (Table, error) {
	opts, err := unmarshalOptions()
	if err != nil {
		t.Fatal(err)
	}
	var dump adminv3.ConfigDump
	if err := opts.Unmarshal(data, &dump); err != nil {
		return nil, err
	}
	index := make([]int, len(dump.GetConfigs()))
	for i := range index {
		index[i] = i
	}
	return tableFromConfigs(dump.GetConfigs(), index)
}

func compactJSON(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestSkimMatchesFullDecode: on every shape of dump the generator makes
// (the committed sidecar and ambient dumps, a large one, compact and pretty),
// skipping the sections the table does not read gives the table that
// decoding everything gives.
func TestSkimMatchesFullDecode(t *testing.T) {
	g := newGen(t)
	docs := map[string][]byte{
		"config_dump.json":         readFixture(t, "config_dump.json"),
		"ambient-config_dump.json": readFixture(t, "ambient-config_dump.json"),
		"synthetic-300x4":          g.configDump(syntheticServices(300, 4)),
		// The ?resource= form: the configs are the endpoint configs.
		"resource-form": []byte(`{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}}}]}]}}]}`),
	}
	for name, doc := range docs {
		for form, data := range map[string][]byte{"pretty": doc, "compact": compactJSON(t, doc)} {
			t.Run(name+"/"+form, func(t *testing.T) {
				want, err := fullDecode(t, data)
				if err != nil {
					t.Fatalf("reference decode: %v", err)
				}
				got, err := ParseConfigDump(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("ParseConfigDump: %v", err)
				}
				if len(got) == 0 || !reflect.DeepEqual(got, want) {
					t.Errorf("skimmed table (%d clusters) differs from the full decode (%d clusters)", len(got), len(want))
				}
			})
		}
	}
}

// TestSkimRejectsMalformed: a document the skim cannot walk is an error,
// never a short table: every truncation of a real dump, and the classic
// malformations, in sections that are skipped as well as those decoded.
func TestSkimRejectsMalformed(t *testing.T) {
	dump := readFixture(t, "config_dump.json")
	for i := 1; i < 400; i++ {
		cut := len(dump) * i / 400
		if _, err := ParseConfigDump(bytes.NewReader(dump[:cut])); err == nil {
			t.Fatalf("truncated at %d of %d bytes: no error", cut, len(dump))
		}
	}
	skipped := `{"@type":"type.googleapis.com/envoy.admin.v3.ClustersConfigDump",%s}`
	eds := `{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c"}`
	for name, doc := range map[string]string{
		"trailing data":        `{"configs":[` + eds + `]} x`,
		"two documents":        `{"configs":[` + eds + `]}{}`,
		"missing comma":        `{"configs":[` + fmt.Sprintf(skipped, `"a":1 "b":2`) + `,` + eds + `]}`,
		"missing colon":        `{"configs":[` + fmt.Sprintf(skipped, `"a" 1`) + `,` + eds + `]}`,
		"unterminated string":  `{"configs":[` + fmt.Sprintf(skipped, `"a":"x`) + `]}`,
		"control char":         "{\"configs\":[" + fmt.Sprintf(skipped, "\"a\":\"x\ny\"") + "," + eds + "]}",
		"bad literal":          `{"configs":[` + fmt.Sprintf(skipped, `"a":nul`) + `,` + eds + `]}`,
		"bad number":           `{"configs":[` + fmt.Sprintf(skipped, `"a":-`) + `,` + eds + `]}`,
		"mismatched brackets":  `{"configs":[` + fmt.Sprintf(skipped, `"a":[1}`) + `,` + eds + `]}`,
		"deep nesting":         `{"configs":[` + fmt.Sprintf(skipped, `"a":`+strings.Repeat("[", maxSkimDepth+5)+strings.Repeat("]", maxSkimDepth+5)) + `,` + eds + `]}`,
		"duplicate configs":    `{"configs":[` + eds + `],"configs":[]}`,
		"configs not an array": `{"configs":{}}`,
		"not an object":        `[` + eds + `]`,
		"config not an object": `{"configs":[1]}`,
		"bad @type":            `{"configs":[{"@type":1}]}`,
	} {
		if _, err := ParseConfigDump(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// largeDump is the shape of the scale issue: 5,000 outbound clusters with
// EDS, TLS transport sockets, circuit breakers and TypedStruct extensions,
// their listeners and routes, 5 endpoints each, in Envoy's pretty-printed
// form (as /config_dump writes it) or compacted.
func largeDump(b testing.TB, services, endpoints int, pretty bool) []byte {
	dump := newGen(b).configDump(syntheticServices(services, endpoints))
	if !pretty {
		dump = compactJSON(b, dump)
	}
	return dump
}

// processCPU is the CPU time (user + system) the process has used: on a
// machine shared with other work, what a parse costs is its CPU time, not
// its wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakHeap samples the live heap while fn runs and returns the highest
// value seen, in bytes: the part of peak RSS the parse is responsible for.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			v := read()
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkParseLargeDump parses the 5,000-cluster dump (compact and in
// Envoy's pretty-printed form) and an 11,000-cluster pretty one of ~100 MB
// as FetchTable does, in place ("new"), by the parse as it was before the
// hand-written endpoint decoder and the word-at-a-time skimmer ("old",
// skim_old_test.go), and, for the 5,000-cluster dumps, by decoding
// everything with protojson ("full-decode"), all in the same run.
// cpu-ms/op is the process's CPU time per parse (getrusage; wall time
// means little on a shared machine). peak-heap-MB is the live heap above
// what was live before, the dump itself (held by the caller) excluded; the
// target is peak RSS <= 2x the dump + 50 MB, so the parse may add at most
// 1x the dump + 50 MB.
func BenchmarkParseLargeDump(b *testing.B) {
	for _, size := range []struct {
		services int
		pretty   bool
		ways     []string
	}{
		{5000, false, []string{"new", "old", "full-decode"}},
		{5000, true, []string{"new", "old", "full-decode"}},
		{11000, true, []string{"new", "old"}},
	} {
		dump := largeDump(b, size.services, 5, size.pretty)
		form := map[bool]string{false: "compact", true: "pretty"}[size.pretty]
		for _, way := range size.ways {
			b.Run(fmt.Sprintf("%s/clusters=%d/%dMB/%s", form, size.services, len(dump)>>20, way), func(b *testing.B) {
				parse := func() {
					var err error
					switch way {
					case "new":
						_, err = parseConfigDump(dump)
					case "old":
						_, err = oldParseConfigDump(dump)
					default:
						_, err = fullDecode(b, dump)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(dump)))
				b.ReportAllocs()
				var peak uint64
				cpu0 := processCPU()
				for b.Loop() {
					peak = max(peak, peakHeap(parse))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// TestFastEndpointsMatchesProtojson: on what the generator writes as Envoy
// does, the fast decoder takes every endpoint section itself (no fallback)
// and builds the table protojson builds; on what it is not sure of
// (camelCase names, numbers as strings, unknown fields or enums) it declines,
// and the table still comes out the same through protojson.
func TestFastEndpointsMatchesProtojson(t *testing.T) {
	g := newGen(t)
	for name, doc := range map[string][]byte{
		"config_dump.json":         readFixture(t, "config_dump.json"),
		"ambient-config_dump.json": readFixture(t, "ambient-config_dump.json"),
		"synthetic-300x4":          g.configDump(syntheticServices(300, 4)),
	} {
		spans, err := skimConfigs(doc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sp := range spans {
			if !isEndpointType(sp.typeURL) {
				continue
			}
			n++
			if err := decodeEndpoints(sp.typeURL, sp.raw, Table{}); err != nil {
				t.Errorf("%s: the fast decoder declined an endpoint section Envoy writes: %v", name, err)
			}
		}
		if n == 0 {
			t.Errorf("%s: no endpoint section", name)
		}
	}

	cla := func(body string) string {
		return `{"configs":[{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",` + body + `}]}`
	}
	for name, doc := range map[string]string{
		"camelCase":                      cla(`"clusterName":"c","endpoints":[{"lbEndpoints":[{"endpoint":{"address":{"socketAddress":{"address":"10.0.0.1","portValue":80}}}}]}]`),
		"port as string":                 cla(`"cluster_name":"c","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":"80"}}}}]}]`),
		"unknown field":                  cla(`"cluster_name":"c","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}},"some_new_field":{"x":1}}]}]`),
		"unknown enum":                   cla(`"cluster_name":"c","endpoints":[{"lb_endpoints":[{"health_status":"SOMETHING_NEW","endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}}}]}]`),
		"EDS dump with an unknown field": `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}}}]}]}}],"new_field":1}]}`,
		"EDS dump, second config unsure": `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"a"}},{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","clusterName":"b"}}]}]}`,
		"weight as string":               cla(`"cluster_name":"c","endpoints":[{"lb_endpoints":[{"load_balancing_weight":"3","endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}}}]}]`),
	} {
		spans, err := skimConfigs([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := decodeEndpoints(spans[0].typeURL, spans[0].raw, Table{}); err == nil {
			t.Errorf("%s: the fast decoder took a form it is not sure of", name)
		}
		want, wantErr := fullDecode(t, []byte(doc))
		got, err := ParseConfigDump(strings.NewReader(doc))
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, %v; protojson gives %v, %v", name, got, err, want, wantErr)
		}
	}
}

// clustersByProtojson is ParseClusters as it was: protojson only.
func clustersByProtojson(t testing.TB, data []byte) (map[string]map[string]string, error) {
	opts, err := unmarshalOptions()
	if err != nil {
		t.Fatal(err)
	}
	var cs adminv3.Clusters
	if err := opts.Unmarshal(data, &cs); err != nil {
		return nil, err
	}
	return clusterHealth(&cs), nil
}

// TestDecodeClustersMatchesProtojson: the /clusters decoder takes what
// Envoy writes, gives protojson's result, and declines what it is unsure of
// or protojson rejects.
func TestDecodeClustersMatchesProtojson(t *testing.T) {
	g := newGen(t)
	for name, doc := range map[string][]byte{
		"clusters.json":         readFixture(t, "clusters.json"),
		"ambient-clusters.json": readFixture(t, "ambient-clusters.json"),
		"synthetic-300x4":       g.clustersJSON(syntheticServices(300, 4)),
	} {
		if _, err := decodeClusters(doc); err != nil {
			t.Errorf("%s: declined: %v", name, err)
		}
		want, err := clustersByProtojson(t, doc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseClusters(bytes.NewReader(doc))
		if err != nil || len(got) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %d clusters (%v), protojson %d", name, len(got), err, len(want))
		}
	}
	for name, doc := range map[string]string{
		"every field": `{"cluster_statuses":[{"name":"c","added_via_api":true,"success_rate_ejection_threshold":{"value":80.5},"local_origin_success_rate_ejection_threshold":{"value":1},"observability_name":"o","eds_service_name":"e",` +
			`"circuit_breakers":{"thresholds":[{"max_connections":4294967295,"max_pending_requests":4294967295,"max_requests":4294967295,"max_retries":4294967295,"max_connection_pools":1,"track_remaining":true},{"priority":"HIGH","max_connections":1024}],"per_host_thresholds":[{}]},` +
			`"host_statuses":[{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}},"stats":[{"name":"rq_total","value":"18446744073709551615","type":"COUNTER"},{"name":"cx_active","value":3,"type":"GAUGE"}],` +
			`"health_status":{"failed_active_health_check":false,"failed_outlier_check":true,"failed_active_degraded_check":true,"pending_dynamic_removal":false,"pending_active_hc":false,"excluded_via_immediate_hc_fail":false,"active_hc_timeout":false,"eds_health_status":"DRAINING"},` +
			`"success_rate":{"value":99.5},"local_origin_success_rate":{"value":0},"weight":2,"hostname":"h","priority":1,"locality":{"region":"r","zone":"z","sub_zone":"s"}},` +
			`{"address":{"envoy_internal_address":{"server_listener_name":"connect_originate","endpoint_id":"10.0.0.2:80"}},"health_status":{"active_hc_timeout":true}},{},{"health_status":{}}]},` +
			`{"name":"c","host_statuses":[]},{"name":"d\u00e9"}]}`,
	} {
		if _, err := decodeClusters([]byte(doc)); err != nil {
			t.Errorf("%s: declined: %v", name, err)
		}
		want, err := clustersByProtojson(t, []byte(doc))
		if err != nil {
			t.Fatalf("%s: protojson: %v", name, err)
		}
		if got, err := ParseClusters(strings.NewReader(doc)); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v (%v), protojson %v", name, got, err, want)
		}
	}
	for name, doc := range map[string]string{
		"camelCase":     `{"clusterStatuses":[{"name":"c","hostStatuses":[{"address":{"socketAddress":{"address":"10.0.0.1","portValue":80}},"healthStatus":{"edsHealthStatus":"HEALTHY"}}]}]}`,
		"unknown field": `{"cluster_statuses":[{"name":"c","new_thing":1,"host_statuses":[]}]}`,
		"unknown enum":  `{"cluster_statuses":[{"name":"c","host_statuses":[{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}},"health_status":{"eds_health_status":"NEW"}}]}]}`,
		"retry budget":  `{"cluster_statuses":[{"name":"c","circuit_breakers":{"thresholds":[{"retry_budget":{}}]}}]}`,
		"null":          `{"cluster_statuses":[{"name":"c","host_statuses":null}]}`,
		"stat as float": `{"cluster_statuses":[{"name":"c","host_statuses":[{"stats":[{"name":"x","value":1.5}]}]}]}`,
		"stat too big":  `{"cluster_statuses":[{"name":"c","host_statuses":[{"stats":[{"name":"x","value":"18446744073709551616"}]}]}]}`,
		"duplicate":     `{"cluster_statuses":[{"name":"c","name":"d"}]}`,
		"two addresses": `{"cluster_statuses":[{"name":"c","host_statuses":[{"address":{"pipe":{"path":"/a"},"socket_address":{}}}]}]}`,
		"trailing data": `{"cluster_statuses":[]} {}`,
	} {
		if _, err := decodeClusters([]byte(doc)); err == nil {
			t.Errorf("%s: the fast decoder took a form it is not sure of", name)
		}
		want, wantErr := clustersByProtojson(t, []byte(doc))
		got, err := ParseClusters(strings.NewReader(doc))
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, %v; protojson gives %v, %v", name, got, err, want, wantErr)
		}
	}
}

// BenchmarkParseLargeClusters is /clusters?format=json of the same proxy.
func BenchmarkParseLargeClusters(b *testing.B) {
	doc := newGen(b).clustersJSON(syntheticServices(5000, 5))
	for _, way := range []string{"new", "old", "protojson"} {
		b.Run(fmt.Sprintf("pretty/%dMB/%s", len(doc)>>20, way), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			cpu0 := processCPU()
			defer func() {
				b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			}()
			for b.Loop() {
				var err error
				switch way {
				case "new":
					_, err = parseClusters(doc)
				case "old":
					_, err = oldParseClusters(doc)
				default:
					_, err = clustersByProtojson(b, doc)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
