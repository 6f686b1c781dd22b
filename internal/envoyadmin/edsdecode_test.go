package envoyadmin

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// sectionByProtojson is the fallback for one endpoint section: protojson
// of the whole section, then the table as addConfig builds it.
func sectionByProtojson(t testing.TB, raw []byte) (Table, error) {
	opts, err := unmarshalOptions()
	if err != nil {
		t.Fatal(err)
	}
	var c anypb.Any
	if err := opts.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	tab := Table{}
	if _, err := tab.addConfig(0, &c); err != nil {
		return nil, err
	}
	tab.sort()
	return tab, nil
}

// sectionByDecoder is decodeEndpoints on one section, sorted as
// parseConfigDump sorts.
func sectionByDecoder(typ string, raw []byte) (Table, error) {
	tab := Table{}
	if err := decodeEndpoints(typ, raw, tab); err != nil {
		return nil, err
	}
	tab.sort()
	return tab, nil
}

// endpointSections are the endpoint sections of a dump.
func endpointSections(t testing.TB, doc []byte) []configSpan {
	spans, err := skimConfigs(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []configSpan
	for _, sp := range spans {
		if isEndpointType(sp.typeURL) {
			out = append(out, sp)
		}
	}
	return out
}

// TestDecodeEndpointsMatchesProtojson: on every endpoint section of the
// committed dumps and of generated ones (compact and pretty-printed, the
// ?resource= forms), the hand-written decoder takes the section itself and
// gives the table protojson gives for it.
func TestDecodeEndpointsMatchesProtojson(t *testing.T) {
	g := newGen(t)
	docs := map[string][]byte{
		"config_dump.json":         readFixture(t, "config_dump.json"),
		"ambient-config_dump.json": readFixture(t, "ambient-config_dump.json"),
		"synthetic-300x4":          g.configDump(syntheticServices(300, 4)),
	}
	// The ?resource= forms: each config of the dump is one endpoint config,
	// or one ClusterLoadAssignment.
	for _, name := range []string{"config_dump.json", "ambient-config_dump.json"} {
		var dynamic, clas []*anypb.Any
		for _, sp := range endpointSections(t, docs[name]) {
			var eds adminv3.EndpointsConfigDump
			opts, _ := unmarshalOptions()
			var a anypb.Any
			if err := opts.Unmarshal(sp.raw, &a); err != nil {
				t.Fatal(err)
			}
			if err := anypb.UnmarshalTo(&a, &eds, proto.UnmarshalOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, c := range eds.GetDynamicEndpointConfigs() {
				dynamic = append(dynamic, g.any(c))
				clas = append(clas, c.GetEndpointConfig())
			}
			for _, c := range eds.GetStaticEndpointConfigs() {
				dynamic = append(dynamic, g.any(c))
			}
		}
		docs[name+"/resource-configs"] = g.marshal(&adminv3.ConfigDump{Configs: dynamic})
		docs[name+"/resource-clas"] = g.marshal(&adminv3.ConfigDump{Configs: clas})
	}
	for name, doc := range docs {
		for form, data := range map[string][]byte{"pretty": doc, "compact": compactJSON(t, doc)} {
			sections := endpointSections(t, data)
			if len(sections) == 0 {
				t.Fatalf("%s: no endpoint section", name)
			}
			for i, sp := range sections {
				want, err := sectionByProtojson(t, sp.raw)
				if err != nil {
					t.Fatalf("%s/%s: protojson: %v", name, form, err)
				}
				got, err := sectionByDecoder(sp.typeURL, sp.raw)
				if err != nil {
					t.Errorf("%s/%s section %d: the decoder declined a section Envoy writes: %v", name, form, i, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s/%s section %d: decoder's table differs from protojson's:\n got %v\nwant %v", name, form, i, got, want)
				}
			}
		}
	}
}

// cla wraps the body of a ClusterLoadAssignment into a dump of it.
func claDoc(body string) string {
	return `{"configs":[{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",` + body + `}]}`
}

// lbDoc is a dump of one LbEndpoint given by its members.
func lbDoc(members string) string {
	return claDoc(`"cluster_name":"c","endpoints":[{"lb_endpoints":[{` + members + `}]}]`)
}

const sock = `"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}}`

// TestDecodeEndpointsTakesWhatIsSure: forms the decoder reads (escapes,
// non-ASCII text, every field it knows, fields in any order), each giving
// protojson's table.
func TestDecodeEndpointsTakesWhatIsSure(t *testing.T) {
	for name, doc := range map[string]string{
		"escapes in values": claDoc(`"cluster_name":"c\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t|x","endpoints":[{"locality":{"region":"r\u0041","zone":"z","sub_zone":"s"},"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}},"metadata":{"filter_metadata":{"istio":{"workload":"w\u003bx;ns;c;r;cl\u002d1"}}}}]}]`),
		"non-ASCII":         claDoc(`"cluster_name":"κλάστερ €𝄞","endpoints":[]`),
		"every field": claDoc(`"cluster_name":"c","policy":{"overprovisioning_factor":140,"weighted_priority_health":true},"endpoints":[{"priority":2,"load_balancing_weight":3,"proximity":1,"locality":{"region":"r"},"lb_endpoints":[` +
			`{"endpoint":{"hostname":"h","address":{"socket_address":{"protocol":"UDP","address":"10.0.0.1","port_value":4294967295,"resolver_name":"x","ipv4_compat":false,"network_namespace_filepath":"/n"}},"additional_addresses":[{"address":{"socket_address":{"address":"fd00::1","port_value":80}}},{}]},"health_status":"DRAINING","load_balancing_weight":0,` +
			`"metadata":{"filter_metadata":{"x":{"a":[1,-2.5e3,true,false,null,{"b":{}},[]],"c":"d"},"istio":{"workload":"w;n;c;r;cl","other":1}},"typed_filter_metadata":{"istio.stats":{"@type":"type.googleapis.com/stats.PluginConfig","disableHostHeaderFallback":false,"x":{"y":[1]}}}}},` +
			`{"endpoint":{"address":{"pipe":{"path":"/p","mode":420}}}},` +
			`{"endpoint":{"address":{"envoy_internal_address":{"server_listener_name":"connect_originate","endpoint_id":"10.0.0.9:80"}}},"metadata":{"filter_metadata":{"envoy.filters.listener.original_dst":{"local":"10.0.0.9:8080","waypoint":"10.0.0.8:15008"}}}},` +
			`{"endpoint":{"address":{}}},{"endpoint":{}},{}]}]`),
		"fields in another order": claDoc(`"endpoints":[{"lb_endpoints":[{"load_balancing_weight":7,"health_status":"HEALTHY",` + sock + `}],"locality":{"zone":"z","region":"r"},"priority":1}],"cluster_name":"c"`),
		"@type last":              `{"configs":[{"cluster_name":"c","@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"}]}`,
		"dynamic config":          `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","version_info":"v","client_status":"ACKED","last_updated":"2026-08-01T12:00:00.123456789+02:00","endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c"}}]}`,
		"static config":           `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig","last_updated":"2026-08-01T12:00:00Z"}]}`,
		"empty EDS dump":          `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","static_endpoint_configs":[],"dynamic_endpoint_configs":[{}]}]}`,
		"two CLAs of one cluster": `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c","endpoints":[{"lb_endpoints":[{` + sock + `}]}]}},{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c"}}]}]}`,
	} {
		sp := endpointSections(t, []byte(doc))[0]
		want, err := sectionByProtojson(t, sp.raw)
		if err != nil {
			t.Fatalf("%s: protojson: %v", name, err)
		}
		got, err := sectionByDecoder(sp.typeURL, sp.raw)
		if err != nil {
			t.Errorf("%s: declined: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoder's table differs from protojson's:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// TestDecodeEndpointsDeclines: what the decoder is not sure of, and what
// protojson rejects, goes to protojson, and ParseConfigDump still gives
// protojson's answer (a table, or an error).
func TestDecodeEndpointsDeclines(t *testing.T) {
	for name, doc := range map[string]string{
		// Forms protojson reads that the decoder leaves to it.
		"camelCase":                 claDoc(`"clusterName":"c"`),
		"camelCase deep":            lbDoc(`"endpoint":{"address":{"socketAddress":{"address":"10.0.0.1","portValue":80}}}`),
		"port as string":            lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":"80"}}}`),
		"port with exponent":        lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":8e1}}}`),
		"port with fraction":        lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80.0}}}`),
		"weight as string":          lbDoc(`"load_balancing_weight":"3",` + sock),
		"unknown field":             lbDoc(sock + `,"some_new_field":{"x":1}`),
		"unknown enum":              lbDoc(`"health_status":"SOMETHING_NEW",` + sock),
		"enum by number":            lbDoc(`"health_status":1,` + sock),
		"null":                      lbDoc(`"metadata":null,` + sock),
		"null name":                 claDoc(`"cluster_name":null`),
		"escaped key":               claDoc(`"cluster\u005fname":"c"`),
		"escaped @type":             `{"configs":[{"\u0040type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c"}]}`,
		"known Any in typed md":     lbDoc(sock + `,"metadata":{"typed_filter_metadata":{"x":{"@type":"type.googleapis.com/envoy.config.core.v3.Locality","region":"r"}}}`),
		"Any without @type":         lbDoc(sock + `,"metadata":{"typed_filter_metadata":{"x":{"a":1}}}`),
		"deep Struct":               lbDoc(sock + `,"metadata":{"filter_metadata":{"x":{"a":` + strings.Repeat(`[`, maxStructDepth+1) + strings.Repeat(`]`, maxStructDepth+1) + `}}}`),
		"endpoint_name":             lbDoc(`"endpoint_name":"x"`),
		"named_endpoints":           claDoc(`"cluster_name":"c","named_endpoints":{}`),
		"EDS dump with a new field": `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c"}}],"new_field":1}]}`,
		"second config unsure":      `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump","dynamic_endpoint_configs":[{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"a"}},{"endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","clusterName":"b"}}]}]}`,
		"error_state":               `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","error_state":{"details":"x"}}]}`,
		// Forms protojson rejects.
		"duplicate field":        claDoc(`"cluster_name":"a","cluster_name":"b"`),
		"duplicate map key":      lbDoc(sock + `,"metadata":{"filter_metadata":{"istio":{"workload":"a;;;;x"},"istio":{"workload":"b;;;;y"}}}`),
		"duplicate Struct key":   lbDoc(sock + `,"metadata":{"filter_metadata":{"istio":{"workload":"a;;;;x","workload":"b;;;;y"}}}`),
		"two addresses (oneof)":  lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80},"pipe":{"path":"/p"}}}`),
		"port out of range":      lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":4294967296}}}`),
		"negative port":          lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":-1}}}`),
		"leading zero":           lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":080}}}`),
		"lone high surrogate":    claDoc(`"cluster_name":"\ud83d"`),
		"lone low surrogate":     claDoc(`"cluster_name":"\ude00x"`),
		"surrogate then letter":  claDoc(`"cluster_name":"\ud83d\u0041"`),
		"bad escape":             claDoc(`"cluster_name":"\x41"`),
		"short \\u":              claDoc(`"cluster_name":"\u00g1"`),
		"invalid UTF-8":          claDoc("\"cluster_name\":\"\xff\""),
		"UTF-8 surrogate":        claDoc("\"cluster_name\":\"\xed\xa0\x80\""),
		"invalid UTF-8 in md":    lbDoc(sock + ",\"metadata\":{\"filter_metadata\":{\"x\":{\"a\":\"\xc3\"}}}"),
		"timestamp out of range": `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig","last_updated":"0000-12-31T23:59:59Z"}]}`,
		"timestamp too precise":  `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig","last_updated":"2026-08-01T12:00:00.1234567890Z"}]}`,
		"bad timestamp":          `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig","last_updated":"2026-08-01 12:00:00Z"}]}`,
		"number out of range":    lbDoc(sock + `,"metadata":{"filter_metadata":{"x":{"a":1e400}}}`),
		"bad number":             lbDoc(sock + `,"metadata":{"filter_metadata":{"x":{"a":1.}}}`),
		"wrong @type":            `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","endpoint_config":{"@type":"type.googleapis.com/envoy.config.core.v3.Locality","region":"r"}}]}`,
		"no @type in config":     `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","endpoint_config":{"cluster_name":"c"}}]}`,
		"empty endpoint_config":  `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","endpoint_config":{}}]}`,
		"duplicate @type":        `{"configs":[{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c"}]}`,
		"trailing comma":         claDoc(`"cluster_name":"c","endpoints":[],`),
		"bool as string":         lbDoc(`"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","ipv4_compat":"true"}}}`),
	} {
		spans, _ := skimConfigs([]byte(doc)) // a malformed one may not skim
		for _, sp := range spans {
			if _, err := sectionByDecoder(sp.typeURL, sp.raw); err == nil {
				t.Errorf("%s: the decoder took a form it is not sure of", name)
			}
		}
		want, wantErr := fullDecode(t, []byte(doc))
		got, err := ParseConfigDump(strings.NewReader(doc))
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, %v; protojson gives %v, %v", name, got, err, want, wantErr)
		}
	}
}

// TestDecoderFieldsAreProtoFields: every field name the decoder reads is
// the proto name of a field of that message, of the kind it reads it as.
func TestDecoderFieldsAreProtoFields(t *testing.T) {
	for m, fields := range map[proto.Message]string{
		&adminv3.EndpointsConfigDump{}:                       "static_endpoint_configs:message dynamic_endpoint_configs:message",
		&adminv3.EndpointsConfigDump_StaticEndpointConfig{}:  "endpoint_config:google.protobuf.Any last_updated:google.protobuf.Timestamp",
		&adminv3.EndpointsConfigDump_DynamicEndpointConfig{}: "version_info:string endpoint_config:google.protobuf.Any last_updated:google.protobuf.Timestamp client_status:enum",
		&endpointv3.ClusterLoadAssignment{}:                  "cluster_name:string endpoints:message policy:message",
		&endpointv3.ClusterLoadAssignment_Policy{}:           "overprovisioning_factor:google.protobuf.UInt32Value weighted_priority_health:bool",
		&endpointv3.LocalityLbEndpoints{}:                    "locality:message lb_endpoints:message load_balancing_weight:google.protobuf.UInt32Value priority:uint32 proximity:google.protobuf.UInt32Value",
		&corev3.Locality{}:                                   "region:string zone:string sub_zone:string",
		&endpointv3.LbEndpoint{}:                             "endpoint:message health_status:enum metadata:message load_balancing_weight:google.protobuf.UInt32Value",
		&endpointv3.Endpoint{}:                               "address:message hostname:string additional_addresses:message",
		&endpointv3.Endpoint_AdditionalAddress{}:             "address:message",
		&corev3.Address{}:                                    "socket_address:message pipe:message envoy_internal_address:message",
		&corev3.SocketAddress{}:                              "protocol:enum address:string port_value:uint32 resolver_name:string ipv4_compat:bool network_namespace_filepath:string",
		&corev3.Pipe{}:                                       "path:string mode:uint32",
		&corev3.EnvoyInternalAddress{}:                       "server_listener_name:string endpoint_id:string",
		&corev3.Metadata{}:                                   "filter_metadata:google.protobuf.Struct typed_filter_metadata:google.protobuf.Any",
		&adminv3.Clusters{}:                                  "cluster_statuses:message",
		&adminv3.ClusterStatus{}:                             "name:string added_via_api:bool success_rate_ejection_threshold:message local_origin_success_rate_ejection_threshold:message observability_name:string eds_service_name:string circuit_breakers:message host_statuses:message",
		&adminv3.HostStatus{}:                                "address:message health_status:message stats:message success_rate:message local_origin_success_rate:message weight:uint32 priority:uint32 hostname:string locality:message",
		&adminv3.HostHealthStatus{}:                          "failed_active_health_check:bool failed_outlier_check:bool failed_active_degraded_check:bool pending_dynamic_removal:bool pending_active_hc:bool excluded_via_immediate_hc_fail:bool active_hc_timeout:bool eds_health_status:enum",
		&adminv3.SimpleMetric{}:                              "name:string value:uint64 type:enum",
		&typev3.Percent{}:                                    "value:double",
		&clusterv3.CircuitBreakers{}:                         "thresholds:message per_host_thresholds:message",
		&clusterv3.CircuitBreakers_Thresholds{}:              "priority:enum max_connections:google.protobuf.UInt32Value max_pending_requests:google.protobuf.UInt32Value max_requests:google.protobuf.UInt32Value max_retries:google.protobuf.UInt32Value max_connection_pools:google.protobuf.UInt32Value track_remaining:bool",
	} {
		desc := m.ProtoReflect().Descriptor()
		for _, f := range strings.Fields(fields) {
			name, kind, _ := strings.Cut(f, ":")
			fd := desc.Fields().ByTextName(name)
			if fd == nil {
				t.Errorf("%s has no field %s", desc.FullName(), name)
				continue
			}
			got := fd.Kind().String()
			if fd.Kind() == protoreflect.MessageKind {
				md := fd.Message()
				if fd.IsMap() {
					md = fd.MapValue().Message()
				}
				if n := string(md.FullName()); strings.HasPrefix(n, "google.protobuf.") {
					got = n
				}
			}
			if got != kind {
				t.Errorf("%s.%s is %s, the decoder reads it as %s", desc.FullName(), name, got, kind)
			}
		}
	}
}

// FuzzDecodeEndpoints gives mutated endpoint sections to the decoder as
// each endpoint type: it never panics, and a section it takes, protojson
// takes too and reads into the same table.
//
//	go test ./internal/envoyadmin -run XXX -fuzz FuzzDecodeEndpoints -fuzztime 60s
func FuzzDecodeEndpoints(f *testing.F) {
	for _, name := range []string{"config_dump.json", "ambient-config_dump.json"} {
		for _, sp := range endpointSections(f, readFixture(f, name)) {
			f.Add(sp.raw)
			f.Add(compactJSON(f, sp.raw))
		}
	}
	for _, doc := range []string{
		lbDoc(sock + `,"metadata":{"filter_metadata":{"istio":{"workload":"w\u003bx;ns;c;r;cl\u002d1"},"x":{"a":[1,-2.5e3,true,null,{}]}},"typed_filter_metadata":{"s":{"@type":"type.googleapis.com/stats.PluginConfig","v":1}}}`),
		lbDoc(`"endpoint":{"address":{"envoy_internal_address":{"server_listener_name":"connect_originate","endpoint_id":"10.0.0.9:80"}},"additional_addresses":[{"address":{"pipe":{"path":"/p","mode":1}}}]},"health_status":"DRAINING","load_balancing_weight":0`),
		`{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.DynamicEndpointConfig","version_info":"v","client_status":"ACKED","last_updated":"2026-08-01T12:00:00.5+02:00","endpoint_config":{"@type":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","cluster_name":"c\ud83d\ude00","policy":{"overprovisioning_factor":140}}}]}`,
	} {
		f.Add(endpointSections(f, []byte(doc))[0].raw)
	}
	types := []string{edsDumpURL, dynamicURL, staticURL, claURL}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, typ := range types {
			got, err := sectionByDecoder(typ, raw)
			if err != nil {
				if !isDeclined(err) {
					t.Fatalf("%s: error not marked as declined: %v", typ, err)
				}
				continue
			}
			want, err := sectionByProtojson(t, raw)
			if err != nil {
				t.Fatalf("%s: the decoder takes a section protojson rejects (%v):\n%s", typ, err, raw)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: decoder's table differs from protojson's:\n got %+v\nwant %+v", typ, got, want)
			}
		}
	})
}

func isDeclined(err error) bool { return errors.Is(err, errDeclined) }

// TestParseConfigDumpLargeMatchesProtojson: the generated large dump, both
// forms, gives the table the whole-document protojson decode gives.
func TestParseConfigDumpLargeMatchesProtojson(t *testing.T) {
	if testing.Short() {
		t.Skip("large dump")
	}
	doc := newGen(t).configDump(syntheticServices(2000, 5))
	for form, data := range map[string][]byte{"pretty": doc, "compact": compactJSON(t, doc)} {
		want, err := fullDecode(t, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseConfigDump(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < 2000 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d clusters, protojson %d, or tables differ", form, len(got), len(want))
		}
	}
}

// TestDecodeEndpointsMutations: every one-byte mutation of a section that
// uses every field the decoder reads (a byte deleted, doubled, or replaced
// by one that matters to JSON) is declined, or read as protojson reads it.
func TestDecodeEndpointsMutations(t *testing.T) {
	doc := lbDoc(`"endpoint":{"hostname":"h","address":{"socket_address":{"address":"10.0.0.1","port_value":80,"protocol":"TCP"}},"additional_addresses":[{"address":{"pipe":{"path":"/p","mode":1}}}]},"health_status":"HEALTHY","load_balancing_weight":2,` +
		`"metadata":{"filter_metadata":{"istio":{"workload":"w\u003b;n;c;r;cl"},"x":{"a":[1.5e2,true,null,{"b":"\ud83d\ude00"}]}},"typed_filter_metadata":{"s":{"@type":"type.googleapis.com/stats.PluginConfig","v":1}}}`)
	raw := endpointSections(t, []byte(doc))[0].raw
	taken := 0
	check := func(m []byte) {
		got, err := sectionByDecoder(claURL, m)
		if err != nil {
			return
		}
		taken++
		want, err := sectionByProtojson(t, m)
		if err != nil {
			t.Fatalf("the decoder takes a section protojson rejects (%v):\n%s", err, m)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("tables differ on\n%s\n got %+v\nwant %+v", m, got, want)
		}
	}
	for i := range raw {
		check(append(append([]byte{}, raw[:i]...), raw[i+1:]...))
		check(append(append([]byte{}, raw[:i+1]...), raw[i:]...))
		for _, c := range []byte("\"\\{}[],:0 9-.eEnuxX\x00\x7f\xc3\xff") {
			m := append([]byte{}, raw...)
			m[i] = c
			check(m)
		}
	}
	if taken == 0 {
		t.Fatal("no mutation was taken")
	}
	t.Logf("%d mutations of %d bytes taken by the decoder", taken, len(raw))
}

// TestDecodeClustersMutations is TestDecodeEndpointsMutations for
// /clusters?format=json.
func TestDecodeClustersMutations(t *testing.T) {
	raw := []byte(`{"cluster_statuses":[{"name":"c","added_via_api":true,"circuit_breakers":{"thresholds":[{"priority":"HIGH","max_connections":1024,"track_remaining":true}]},` +
		`"host_statuses":[{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}},"stats":[{"name":"rq_total","value":"12","type":"COUNTER"}],"health_status":{"failed_outlier_check":true,"eds_health_status":"HEALTHY"},"success_rate":{"value":99.5},"weight":2,"locality":{"region":"r"}},` +
		`{"address":{"envoy_internal_address":{"server_listener_name":"l","endpoint_id":"10.0.0.2:80"}},"health_status":{"eds_health_status":"DRAINING"}}]},{"name":"d\u00e9","host_statuses":[]}]}`)
	taken := 0
	check := func(m []byte) {
		got, err := decodeClusters(m)
		if err != nil {
			return
		}
		taken++
		want, err := clustersByProtojson(t, m)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("on\n%s\nthe decoder gives %v, protojson %v, %v", m, got, want, err)
		}
	}
	for i := range raw {
		check(append(append([]byte{}, raw[:i]...), raw[i+1:]...))
		check(append(append([]byte{}, raw[:i+1]...), raw[i:]...))
		for _, c := range []byte("\"\\{}[],:0 9-.eEntfxX\x00\xc3\xff") {
			m := append([]byte{}, raw...)
			m[i] = c
			check(m)
		}
	}
	if taken == 0 {
		t.Fatal("no mutation was taken")
	}
	t.Logf("%d mutations of %d bytes taken by the decoder", taken, len(raw))
}
