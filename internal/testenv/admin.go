package testenv

import (
	"fmt"
	"net"
	"net/http"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EDSEndpoint is one endpoint of an Envoy cluster in a config dump.
type EDSEndpoint struct {
	Addr   string
	Port   uint32
	Weight uint32
	// Workload is Istio's filter_metadata istio.workload
	// ("name;namespace;canonical;revision;clusterID"; ";;;;clusterID" for a
	// remote network's gateway).
	Workload string
}

// ConfigDump renders an Envoy /config_dump?include_eds as a sidecar serves
// it, with go-control-plane's types: one EDS cluster per entry of eds.
func ConfigDump(eds map[string][]EDSEndpoint) ([]byte, error) {
	var configs []*adminv3.EndpointsConfigDump_DynamicEndpointConfig
	for name, eps := range eds {
		loc := &endpointv3.LocalityLbEndpoints{}
		for _, e := range eps {
			md, err := structpb.NewStruct(map[string]any{"workload": e.Workload})
			if err != nil {
				return nil, err
			}
			loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
					Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: e.Addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: e.Port}}}}}},
				Metadata:            &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": md}},
				LoadBalancingWeight: wrapperspb.UInt32(max(e.Weight, 1)),
			})
		}
		cla, err := anypb.New(&endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{loc}})
		if err != nil {
			return nil, err
		}
		configs = append(configs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{EndpointConfig: cla})
	}
	dump, err := anypb.New(&adminv3.EndpointsConfigDump{DynamicEndpointConfigs: configs})
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(&adminv3.ConfigDump{Configs: []*anypb.Any{dump}})
}

// AdminServer serves fixed bodies by path on 127.0.0.1, standing in for
// what listens on localhost inside a pod (Envoy's admin, istiod's debug
// port). It returns the address and a function that stops it.
func AdminServer(paths map[string]string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := paths[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return ln.Addr().String(), func() { srv.Close(); <-done }, nil
}
