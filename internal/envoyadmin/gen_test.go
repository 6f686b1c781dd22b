package envoyadmin

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filelogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpoptsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var update = flag.Bool("update", false, "rewrite testdata/envoy and the golden files")

const testdataDir = "../../testdata/envoy"

// istioOnlyTypes are message types found in real Istio sidecar dumps that
// go-control-plane does not register. The generator defines a few fields of
// each (enough to look like the real thing) in a registry of its own, so the
// committed dumps carry Anys the package under test cannot resolve.
var istioOnlyTypes = []string{
	"stats.PluginConfig",
	"udpa.type.v1.TypedStruct",
	"istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig",
	"envoy.tcp.metadataexchange.config.MetadataExchange",
}

func istioTypes(t testing.TB) *protoregistry.Types {
	t.Helper()
	str := func(s string) *string { return proto.String(s) }
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string, repeated bool) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: str(name), Number: proto.Int32(num), Type: typ.Enum()}
		f.Label = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
		if repeated {
			f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}
		if typeName != "" {
			f.TypeName = str(typeName)
		}
		return f
	}
	const (
		tString  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		tBool    = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		tMessage = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	files := []*descriptorpb.FileDescriptorProto{
		{
			Name: str("istio/stats.proto"), Package: str("stats"), Syntax: str("proto3"),
			Dependency: []string{"google/protobuf/duration.proto"},
			MessageType: []*descriptorpb.DescriptorProto{{
				Name: str("PluginConfig"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("disable_host_header_fallback", 6, tBool, "", false),
					field("tcp_reporting_duration", 7, tMessage, ".google.protobuf.Duration", false),
				},
			}},
		},
		{
			Name: str("udpa/typed_struct.proto"), Package: str("udpa.type.v1"), Syntax: str("proto3"),
			Dependency: []string{"google/protobuf/struct.proto"},
			MessageType: []*descriptorpb.DescriptorProto{{
				Name: str("TypedStruct"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("type_url", 1, tString, "", false),
					field("value", 2, tMessage, ".google.protobuf.Struct", false),
				},
			}},
		},
		{
			Name: str("istio/alpn.proto"), Package: str("istio.envoy.config.filter.http.alpn.v2alpha1"), Syntax: str("proto3"),
			MessageType: []*descriptorpb.DescriptorProto{
				{Name: str("FilterConfig"), Field: []*descriptorpb.FieldDescriptorProto{
					field("alpn_override", 1, tMessage, ".istio.envoy.config.filter.http.alpn.v2alpha1.AlpnOverride", true),
				}},
				{Name: str("AlpnOverride"), Field: []*descriptorpb.FieldDescriptorProto{
					field("upstream_protocol", 1, tString, "", false),
					field("alpn_override", 2, tString, "", true),
				}},
			},
		},
		{
			Name: str("istio/metadata_exchange.proto"), Package: str("envoy.tcp.metadataexchange.config"), Syntax: str("proto3"),
			MessageType: []*descriptorpb.DescriptorProto{{
				Name:  str("MetadataExchange"),
				Field: []*descriptorpb.FieldDescriptorProto{field("protocol", 1, tString, "", false)},
			}},
		},
	}
	types := new(protoregistry.Types)
	for _, fdp := range files {
		fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
		if err != nil {
			t.Fatalf("descriptor %s: %v", fdp.GetName(), err)
		}
		for i := 0; i < fd.Messages().Len(); i++ {
			if err := types.RegisterMessage(dynamicpb.NewMessageType(fd.Messages().Get(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return types
}

// chainResolver resolves through the Istio-only types, then the global ones.
type chainResolver struct{ first *protoregistry.Types }

func (c chainResolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := c.first.FindMessageByName(n); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (c chainResolver) FindMessageByURL(u string) (protoreflect.MessageType, error) {
	if mt, err := c.first.FindMessageByURL(u); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(u)
}

func (c chainResolver) FindExtensionByName(f protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(f)
}

func (c chainResolver) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}

// gen builds the fixtures. Its methods fail the test on any error.
type gen struct {
	t     testing.TB
	istio *protoregistry.Types
	when  *timestamppb.Timestamp
}

func newGen(t testing.TB) *gen {
	return &gen{t: t, istio: istioTypes(t), when: timestamppb.New(time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC))}
}

func (g *gen) any(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		g.t.Fatal(err)
	}
	return a
}

// istioAny packs an Istio-only message given as protojson text.
func (g *gen) istioAny(name, jsonText string) *anypb.Any {
	mt, err := g.istio.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		g.t.Fatal(err)
	}
	m := mt.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: chainResolver{g.istio}}).Unmarshal([]byte(jsonText), m); err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	a := &anypb.Any{TypeUrl: "type.googleapis.com/" + name}
	if a.Value, err = proto.Marshal(m); err != nil {
		g.t.Fatal(err)
	}
	return a
}

func (g *gen) marshal(m proto.Message) []byte {
	b, err := protojson.MarshalOptions{Resolver: chainResolver{g.istio}, UseProtoNames: true}.Marshal(m)
	if err != nil {
		g.t.Fatal(err)
	}
	return canonicalJSON(g.t, b)
}

// canonicalJSON removes protojson's deliberately unstable whitespace.
func canonicalJSON(t testing.TB, b []byte) []byte {
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func sockAddr(ip string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}}
}

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		InitialFetchTimeout:   durationpb.New(0),
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// service is one outbound service of the fixture sidecar.
type service struct {
	host string
	port int
	eps  []fixtureEndpoint
}

type fixtureEndpoint struct {
	locality *corev3.Locality
	ip       string
	port     int
	weight   uint32
	health   corev3.HealthStatus
	workload string
}

func (s service) cluster() string { return ClusterName(s.host, s.port, "") }

// fixtureServices is what the committed dump holds: helloworld with two local
// pods (cluster-1, network-1) and the network-2 gateway standing for two
// pods of cluster-2; sleep with one local pod.
func fixtureServices() []service {
	east := &corev3.Locality{Region: "us-east1", Zone: "us-east1-b"}
	west := &corev3.Locality{Region: "us-west1", Zone: "us-west1-a"}
	return []service{
		{host: "helloworld.sample.svc.cluster.local", port: 5000, eps: []fixtureEndpoint{
			{east, "10.10.0.11", 5000, 1, corev3.HealthStatus_HEALTHY, "helloworld-v1;sample;helloworld;v1;cluster-1"},
			{east, "10.10.0.12", 5000, 1, corev3.HealthStatus_HEALTHY, "helloworld-v2;sample;helloworld;v2;cluster-1"},
			// The gateway endpoint istiod builds: weight = endpoints behind it, no health_status.
			{west, "172.18.0.20", 15443, 2, corev3.HealthStatus_UNKNOWN, ";;;;cluster-2"},
		}},
		{host: "sleep.sample.svc.cluster.local", port: 80, eps: []fixtureEndpoint{
			{east, "10.10.0.21", 80, 1, corev3.HealthStatus_HEALTHY, "sleep;sample;sleep;latest;cluster-1"},
		}},
	}
}

// syntheticServices adds n services of m endpoints each, for benchmarks.
func syntheticServices(n, m int) []service {
	out := fixtureServices()
	loc := &corev3.Locality{Region: "us-east1", Zone: "us-east1-c"}
	for i := range n {
		s := service{host: fmt.Sprintf("svc-%04d.bench.svc.cluster.local", i), port: 8080}
		for j := range m {
			s.eps = append(s.eps, fixtureEndpoint{loc, fmt.Sprintf("10.%d.%d.%d", 20+i/250, i%250, j+1), 8080, 1,
				corev3.HealthStatus_HEALTHY, fmt.Sprintf("svc-%04d;bench;svc-%04d;latest;cluster-1", i, i)})
		}
		out = append(out, s)
	}
	return out
}

func (g *gen) configDump(svcs []service) []byte {
	return g.marshal(&adminv3.ConfigDump{Configs: []*anypb.Any{
		g.any(g.bootstrap()),
		g.any(g.clusters(svcs)),
		g.any(g.listeners(svcs)),
		g.any(&adminv3.ScopedRoutesConfigDump{}),
		g.any(g.routes(svcs)),
		g.any(g.secrets()),
		g.any(g.endpoints(svcs)),
	}})
}

func (g *gen) bootstrap() *adminv3.BootstrapConfigDump {
	return &adminv3.BootstrapConfigDump{LastUpdated: g.when, Bootstrap: &bootstrapv3.Bootstrap{
		Node: &corev3.Node{
			Id:      "sidecar~10.10.0.21~sleep-6d68f49858-8hjzc.sample~sample.svc.cluster.local",
			Cluster: "sleep.sample",
			Metadata: mustStruct(g.t, map[string]any{
				"CLUSTER_ID": "cluster-1", "NETWORK": "network-1", "MESH_ID": "mesh1",
				"ISTIO_VERSION": "1.29.0", "NAMESPACE": "sample", "WORKLOAD_NAME": "sleep",
			}),
			Locality: &corev3.Locality{Region: "us-east1", Zone: "us-east1-b"},
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{
			g.staticCluster("prometheus_stats", sockAddr("127.0.0.1", 15000)),
			g.staticCluster("agent", sockAddr("127.0.0.1", 15020)),
			g.staticCluster("xds-grpc", &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "./etc/istio/proxy/XDS"}}}),
		}},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			LdsConfig: adsSource(), CdsConfig: adsSource(),
			AdsConfig: &corev3.ApiConfigSource{
				ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "xds-grpc"}}}},
			},
		},
		Admin: &bootstrapv3.Admin{Address: sockAddr("127.0.0.1", 15000)},
	}}
}

func (g *gen) staticCluster(name string, addr *corev3.Address) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(250 * time.Millisecond),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
				Endpoint: &endpointv3.Endpoint{Address: addr}}}},
		}}},
	}
}

func (g *gen) clusters(svcs []service) *adminv3.ClustersConfigDump {
	d := &adminv3.ClustersConfigDump{VersionInfo: "2026-08-01T12:00:00Z/42"}
	for _, name := range []string{"prometheus_stats", "agent", "xds-grpc"} {
		d.StaticClusters = append(d.StaticClusters, &adminv3.ClustersConfigDump_StaticCluster{
			Cluster: g.any(&clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}), LastUpdated: g.when})
	}
	for _, name := range []string{"BlackHoleCluster", "PassthroughCluster", "InboundPassthroughCluster"} {
		d.DynamicActiveClusters = append(d.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{
			VersionInfo: d.VersionInfo, LastUpdated: g.when,
			Cluster: g.any(&clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}}),
		})
	}
	for _, s := range svcs {
		sni := fmt.Sprintf("outbound_.%d_._.%s", s.port, s.host)
		c := &clusterv3.Cluster{
			Name:                 s.cluster(),
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: s.cluster()},
			ConnectTimeout:       durationpb.New(10 * time.Second),
			LbPolicy:             clusterv3.Cluster_LEAST_REQUEST,
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": mustStruct(g.t, map[string]any{
				"default_original_port": float64(s.port),
				"services":              []any{map[string]any{"host": s.host, "name": "svc", "namespace": "sample"}},
			})}},
			Filters: []*clusterv3.Filter{{
				Name:        "istio.metadata_exchange",
				TypedConfig: g.istioAny("envoy.tcp.metadataexchange.config.MetadataExchange", `{"protocol":"istio-peer-exchange"}`),
			}},
			TypedExtensionProtocolOptions: map[string]*anypb.Any{
				"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": g.any(&httpoptsv3.HttpProtocolOptions{
					CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Hour)},
					UpstreamProtocolOptions: &httpoptsv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
						UseDownstreamProtocolConfig: &httpoptsv3.HttpProtocolOptions_UseDownstreamHttpConfig{}},
				}),
			},
			TransportSocketMatches: []*clusterv3.Cluster_TransportSocketMatch{
				{
					Name:  "tlsMode-istio",
					Match: mustStruct(g.t, map[string]any{"tlsMode": "istio"}),
					TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
						TypedConfig: g.any(&tlsv3.UpstreamTlsContext{
							Sni: sni,
							CommonTlsContext: &tlsv3.CommonTlsContext{
								AlpnProtocols: []string{"istio-peer-exchange", "istio"},
								TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "default", SdsConfig: &corev3.ConfigSource{
									ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
										ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3,
										GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
											EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "sds-grpc"}}}},
									}},
									ResourceApiVersion: corev3.ApiVersion_V3,
								}}},
							},
						}),
					}},
				},
				{
					Name:  "tlsMode-disabled",
					Match: &structpb.Struct{},
					TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.raw_buffer", ConfigType: &corev3.TransportSocket_TypedConfig{
						TypedConfig: g.any(&rawbufferv3.RawBuffer{})}},
				},
			},
		}
		d.DynamicActiveClusters = append(d.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{
			VersionInfo: d.VersionInfo, Cluster: g.any(c), LastUpdated: g.when})
	}
	return d
}

func (g *gen) httpFilters() []*hcmv3.HttpFilter {
	typed := func(name string, a *anypb.Any) *hcmv3.HttpFilter {
		return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}
	}
	return []*hcmv3.HttpFilter{
		typed("istio.metadata_exchange", g.istioAny("udpa.type.v1.TypedStruct",
			`{"type_url":"type.googleapis.com/io.istio.http.peer_metadata.Config","value":{"upstream_discovery":[{"istio_headers":{}},{"workload_discovery":{}}]}}`)),
		typed("envoy.filters.http.grpc_stats", g.any(&grpcstatsv3.FilterConfig{EmitFilterState: true,
			PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{StatsForAllMethods: wrapperspb.Bool(false)}})),
		typed("istio.alpn", g.istioAny("istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig",
			`{"alpnOverride":[{"upstreamProtocol":"HTTP10","alpnOverride":["istio-http/1.0","istio","http/1.0"]}]}`)),
		typed("envoy.filters.http.fault", g.any(&faultv3.HTTPFault{})),
		typed("envoy.filters.http.cors", g.any(&corsv3.Cors{})),
		typed("istio.stats", g.istioAny("stats.PluginConfig", `{"disableHostHeaderFallback":true,"tcpReportingDuration":"5s"}`)),
		typed("envoy.filters.http.router", g.any(&routerv3.Router{})),
	}
}

func (g *gen) listeners(svcs []service) *adminv3.ListenersConfigDump {
	d := &adminv3.ListenersConfigDump{VersionInfo: "2026-08-01T12:00:00Z/42"}
	add := func(l *listenerv3.Listener) {
		d.DynamicListeners = append(d.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name: l.Name, ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{
				VersionInfo: d.VersionInfo, Listener: g.any(l), LastUpdated: g.when}})
	}
	add(&listenerv3.Listener{
		Name: "virtualOutbound", Address: sockAddr("0.0.0.0", 15001), UseOriginalDst: wrapperspb.Bool(true),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		FilterChains: []*listenerv3.FilterChain{{Name: "virtualOutbound-catchall-tcp", Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.tcp_proxy", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: g.any(&tcpproxyv3.TcpProxy{
				StatPrefix: "PassthroughCluster", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "PassthroughCluster"},
			})},
		}}}},
	})
	ports := map[int]bool{}
	for _, s := range svcs {
		if ports[s.port] {
			continue
		}
		ports[s.port] = true
		name := fmt.Sprintf("0.0.0.0_%d", s.port)
		hcm := &hcmv3.HttpConnectionManager{
			StatPrefix: "outbound_" + name,
			RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
				ConfigSource: adsSource(), RouteConfigName: fmt.Sprint(s.port)}},
			HttpFilters: g.httpFilters(),
			AccessLog: []*accesslogv3.AccessLog{{Name: "envoy.access_loggers.file", ConfigType: &accesslogv3.AccessLog_TypedConfig{
				TypedConfig: g.any(&filelogv3.FileAccessLog{Path: "/dev/stdout"})}}},
		}
		add(&listenerv3.Listener{
			Name: name, Address: sockAddr("0.0.0.0", s.port), BindToPort: wrapperspb.Bool(false),
			TrafficDirection: corev3.TrafficDirection_OUTBOUND,
			ListenerFilters: []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.http_inspector",
				ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: g.any(&httpinspectorv3.HttpInspector{})}}},
			FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
				Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: g.any(hcm)}}}}},
		})
	}
	return d
}

func (g *gen) routes(svcs []service) *adminv3.RoutesConfigDump {
	byPort := map[int]*routev3.RouteConfiguration{}
	var order []int
	for _, s := range svcs {
		rc := byPort[s.port]
		if rc == nil {
			rc = &routev3.RouteConfiguration{Name: fmt.Sprint(s.port), ValidateClusters: wrapperspb.Bool(false)}
			byPort[s.port] = rc
			order = append(order, s.port)
		}
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{
			Name:    fmt.Sprintf("%s:%d", s.host, s.port),
			Domains: []string{s.host, fmt.Sprintf("%s:%d", s.host, s.port)},
			Routes: []*routev3.Route{{
				Name:  "default",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: s.cluster()}, Timeout: durationpb.New(0)}},
			}},
		})
	}
	d := &adminv3.RoutesConfigDump{}
	for _, p := range order {
		d.DynamicRouteConfigs = append(d.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{
			VersionInfo: "2026-08-01T12:00:00Z/42", RouteConfig: g.any(byPort[p]), LastUpdated: g.when})
	}
	return d
}

func (g *gen) secrets() *adminv3.SecretsConfigDump {
	inline := func(s string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
	}
	return &adminv3.SecretsConfigDump{DynamicActiveSecrets: []*adminv3.SecretsConfigDump_DynamicSecret{
		{Name: "default", VersionInfo: "0", LastUpdated: g.when, Secret: g.any(&tlsv3.Secret{Name: "default",
			Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inline("-----BEGIN CERTIFICATE-----\n(fixture)\n-----END CERTIFICATE-----\n"),
				PrivateKey:       inline("[redacted]")}}})},
		{Name: "ROOTCA", VersionInfo: "0", LastUpdated: g.when, Secret: g.any(&tlsv3.Secret{Name: "ROOTCA",
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inline("-----BEGIN CERTIFICATE-----\n(fixture root)\n-----END CERTIFICATE-----\n")}}})},
	}}
}

func (g *gen) endpoints(svcs []service) *adminv3.EndpointsConfigDump {
	d := &adminv3.EndpointsConfigDump{}
	for _, c := range g.bootstrap().GetBootstrap().GetStaticResources().GetClusters() {
		d.StaticEndpointConfigs = append(d.StaticEndpointConfigs, &adminv3.EndpointsConfigDump_StaticEndpointConfig{
			EndpointConfig: g.any(c.GetLoadAssignment()), LastUpdated: g.when})
	}
	for _, s := range svcs {
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: s.cluster(), Policy: &endpointv3.ClusterLoadAssignment_Policy{
			OverprovisioningFactor: wrapperspb.UInt32(140)}}
		groups := map[string]*endpointv3.LocalityLbEndpoints{}
		for _, e := range s.eps {
			key := localityString(e.locality)
			grp := groups[key]
			if grp == nil {
				grp = &endpointv3.LocalityLbEndpoints{Locality: e.locality, LoadBalancingWeight: wrapperspb.UInt32(0)}
				groups[key] = grp
				cla.Endpoints = append(cla.Endpoints, grp)
			}
			grp.LoadBalancingWeight.Value += e.weight
			md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				"envoy.transport_socket_match": mustStruct(g.t, map[string]any{"tlsMode": "istio"}),
				"istio":                        mustStruct(g.t, map[string]any{"workload": e.workload}),
			}}
			if e.ip == "10.10.0.21" {
				// An unknown Any inside the EDS section itself.
				md.TypedFilterMetadata = map[string]*anypb.Any{"istio.stats": g.istioAny("stats.PluginConfig", `{"disableHostHeaderFallback":false}`)}
			}
			grp.LbEndpoints = append(grp.LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(e.ip, e.port)}},
				HealthStatus:        e.health,
				Metadata:            md,
				LoadBalancingWeight: wrapperspb.UInt32(e.weight),
			})
		}
		d.DynamicEndpointConfigs = append(d.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
			VersionInfo: "2026-08-01T12:00:00Z/42", EndpointConfig: g.any(cla), LastUpdated: g.when})
	}
	return d
}

// clustersJSON is /clusters?format=json for the fixture: the second
// helloworld pod is ejected by outlier detection.
func (g *gen) clustersJSON(svcs []service) []byte {
	cs := &adminv3.Clusters{}
	for _, s := range svcs {
		st := &adminv3.ClusterStatus{Name: s.cluster(), AddedViaApi: true, ObservabilityName: s.cluster(), EdsServiceName: s.cluster()}
		for _, e := range s.eps {
			hs := &adminv3.HostHealthStatus{EdsHealthStatus: corev3.HealthStatus_HEALTHY}
			if e.ip == "10.10.0.12" {
				hs.FailedOutlierCheck = true
			}
			st.HostStatuses = append(st.HostStatuses, &adminv3.HostStatus{
				Address: sockAddr(e.ip, e.port), HealthStatus: hs, Weight: e.weight, Locality: e.locality,
				Stats: []*adminv3.SimpleMetric{
					{Name: "cx_connect_fail", Value: 0},
					{Name: "rq_total", Value: 12, Type: adminv3.SimpleMetric_COUNTER},
					{Name: "cx_active", Value: 1, Type: adminv3.SimpleMetric_GAUGE},
				},
			})
		}
		cs.ClusterStatuses = append(cs.ClusterStatuses, st)
	}
	cs.ClusterStatuses = append(cs.ClusterStatuses, &adminv3.ClusterStatus{Name: "agent", HostStatuses: []*adminv3.HostStatus{{
		Address: sockAddr("127.0.0.1", 15020), HealthStatus: &adminv3.HostHealthStatus{EdsHealthStatus: corev3.HealthStatus_HEALTHY}, Weight: 1}}})
	return g.marshal(cs)
}

// clusterzJSON and networkzJSON mirror istiod's debug output: istio's
// cluster.DebugInfo (json tags) and model.NetworkGateway (no tags).
func clusterzJSON(t testing.TB) []byte {
	type debugInfo struct {
		ID         string `json:"id"`
		SecretName string `json:"secretName"`
		SyncStatus string `json:"syncStatus"`
	}
	return indentJSON(t, []debugInfo{
		{ID: "cluster-1", SyncStatus: "synced"},
		{ID: "cluster-2", SecretName: "istio-system/istio-remote-secret-cluster-2", SyncStatus: "synced"},
		{ID: "cluster-3", SecretName: "istio-system/istio-remote-secret-cluster-3", SyncStatus: "timeout"},
	})
}

func networkzJSON(t testing.TB) []byte {
	type namespacedName struct{ Namespace, Name string }
	type networkGateway struct {
		Network        string
		Cluster        string
		Addr           string
		Port           uint32
		HBONEPort      uint32
		ServiceAccount namespacedName
	}
	sa := namespacedName{Namespace: "istio-system", Name: "istio-eastwestgateway-service-account"}
	return indentJSON(t, []networkGateway{
		{Network: "network-1", Cluster: "cluster-1", Addr: "172.18.0.10", Port: 15443, ServiceAccount: sa},
		{Network: "network-2", Cluster: "cluster-2", Addr: "172.18.0.20", Port: 15443, HBONEPort: 15008, ServiceAccount: sa},
	})
}

func indentJSON(t testing.TB, v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Internal listener names and metadata keys as the pinned istiod writes
// them (pilot/pkg/xds/endpoints/endpoint_builder.go buildEnvoyLbEndpoint,
// ep_filters.go EndpointsByNetworkFilter, pilot/pkg/networking/util).
const (
	genOriginalDst     = "envoy.filters.listener.original_dst"
	genTransportSocket = "envoy.transport_socket_match"
)

func internalAddr(listener, id string) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
		AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: listener}, EndpointId: id}}}
}

// ambientEndpoints is the EDS a sidecar of cluster-1 (network-1) gets from an
// istiod with ISTIO_DUAL_STACK and ambient multi-network on, mirroring what
// the pinned endpoint builder emits:
//   - helloworld: a dual-stack pod, one LbEndpoint with its IPv6 address in
//     additional_addresses; an ambient pod reached over HBONE
//     (connect_originate, the real target in original_dst "local"); and, in a
//     failover group of priority 1, network-2's gateway reached by double
//     HBONE (inner_connect_originate to its HBONE port 15008, the tunnel
//     address in original_dst, the service in istio.double_hbone);
//   - reviews: a service with a waypoint: connect_originate to the waypoint
//     (endpoint ID and original_dst "waypoint"), "local" the service VIP.
func (g *gen) ambientEndpoints() *adminv3.EndpointsConfigDump {
	st := func(m map[string]any) *structpb.Struct { return mustStruct(g.t, m) }
	east := &corev3.Locality{Region: "us-east1", Zone: "us-east1-b"}
	west := &corev3.Locality{Region: "us-west1", Zone: "us-west1-a"}
	hello := &endpointv3.ClusterLoadAssignment{ClusterName: ClusterName("helloworld.sample.svc.cluster.local", 5000, ""),
		Endpoints: []*endpointv3.LocalityLbEndpoints{
			{Locality: east, LoadBalancingWeight: wrapperspb.UInt32(2), LbEndpoints: []*endpointv3.LbEndpoint{
				{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: sockAddr("10.10.0.11", 5000),
						AdditionalAddresses: []*endpointv3.Endpoint_AdditionalAddress{
							{Address: sockAddr("fd00:10::11", 5000)},
						},
					}},
					HealthStatus: corev3.HealthStatus_HEALTHY,
					Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
						genTransportSocket: st(map[string]any{"tlsMode": "istio"}),
						"istio":            st(map[string]any{"workload": "helloworld-v1;sample;helloworld;v1;cluster-1"}),
					}},
					LoadBalancingWeight: wrapperspb.UInt32(1),
				},
				{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: internalAddr("connect_originate", "10.10.0.13:5000"),
					}},
					HealthStatus: corev3.HealthStatus_HEALTHY,
					Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
						genTransportSocket: st(map[string]any{"tunnel": "http"}),
						genOriginalDst:     st(map[string]any{"local": "10.10.0.13:5000"}),
						"istio":            st(map[string]any{"workload": "helloworld-v3;sample;helloworld;v3;cluster-1"}),
					}},
					LoadBalancingWeight: wrapperspb.UInt32(1),
				},
			}},
			{Locality: west, Priority: 1, LoadBalancingWeight: wrapperspb.UInt32(2), LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: internalAddr("inner_connect_originate", "172.18.0.20:15008"),
				}},
				Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
					genTransportSocket: st(map[string]any{"tunnel": "http"}),
					genOriginalDst:     st(map[string]any{"local": "172.18.0.20:15008"}),
					"istio": st(map[string]any{"workload": ";;;;cluster-2",
						"double_hbone": map[string]any{"hbone_target_address": "helloworld.sample.svc.cluster.local:5000"}}),
				}},
				LoadBalancingWeight: wrapperspb.UInt32(2),
			}}},
		}}
	reviews := &endpointv3.ClusterLoadAssignment{ClusterName: ClusterName("reviews.sample.svc.cluster.local", 9080, ""),
		Endpoints: []*endpointv3.LocalityLbEndpoints{{Locality: east, LoadBalancingWeight: wrapperspb.UInt32(1),
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: internalAddr("connect_originate", "10.10.0.30:15008"),
				}},
				HealthStatus: corev3.HealthStatus_HEALTHY,
				Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
					genTransportSocket: st(map[string]any{"tunnel": "http"}),
					genOriginalDst:     st(map[string]any{"local": "10.96.0.40:9080", "waypoint": "10.10.0.30:15008"}),
					"istio":            st(map[string]any{"workload": "reviews-v1;sample;reviews;v1;cluster-1"}),
				}},
				LoadBalancingWeight: wrapperspb.UInt32(1),
			}},
		}}}
	d := &adminv3.EndpointsConfigDump{}
	for _, cla := range []*endpointv3.ClusterLoadAssignment{hello, reviews} {
		d.DynamicEndpointConfigs = append(d.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
			VersionInfo: "2026-08-01T12:00:00Z/43", EndpointConfig: g.any(cla), LastUpdated: g.when})
	}
	return d
}

// ambientClustersJSON is /clusters?format=json for the ambient fixture: an
// internal address is named by its envoy_internal_address there; the HBONE
// pod fails its outlier check.
func (g *gen) ambientClustersJSON() []byte {
	hs := func(failed bool) *adminv3.HostHealthStatus {
		return &adminv3.HostHealthStatus{EdsHealthStatus: corev3.HealthStatus_HEALTHY, FailedOutlierCheck: failed}
	}
	return g.marshal(&adminv3.Clusters{ClusterStatuses: []*adminv3.ClusterStatus{{
		Name: ClusterName("helloworld.sample.svc.cluster.local", 5000, ""),
		HostStatuses: []*adminv3.HostStatus{
			{Address: sockAddr("10.10.0.11", 5000), HealthStatus: hs(false), Weight: 1},
			{Address: internalAddr("connect_originate", "10.10.0.13:5000"), HealthStatus: hs(true), Weight: 1},
			{Address: internalAddr("inner_connect_originate", "172.18.0.20:15008"), HealthStatus: hs(false), Weight: 2, Priority: 1},
		},
	}}})
}

// fixtures is every committed file under testdata/envoy, by name.
func fixtures(t testing.TB) map[string][]byte {
	g := newGen(t)
	svcs := fixtureServices()
	return map[string][]byte{
		"config_dump.json":         g.configDump(svcs),
		"clusters.json":            g.clustersJSON(svcs),
		"clusterz.json":            clusterzJSON(t),
		"networkz.json":            networkzJSON(t),
		"ambient-config_dump.json": g.marshal(&adminv3.ConfigDump{Configs: []*anypb.Any{g.any(g.bootstrap()), g.any(g.ambientEndpoints())}}),
		"ambient-clusters.json":    g.ambientClustersJSON(),
	}
}

// TestTestdataIsGenerated fails when testdata/envoy drifts from the generator
// (hand edits, or a generator change without -update).
func TestTestdataIsGenerated(t *testing.T) {
	for name, want := range fixtures(t) {
		path := filepath.Join(testdataDir, name)
		if *update {
			if err := os.MkdirAll(testdataDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/envoyadmin -run TestTestdataIsGenerated -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output (run with -update)", path)
		}
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
