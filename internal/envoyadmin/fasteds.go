package envoyadmin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The endpoint sections are most of what is left once the skim has dropped
// listeners, clusters and routes, and protojson spends most of its time on
// them too (each ClusterLoadAssignment is an Any, resolved, re-marshalled and
// decoded again; each endpoint's metadata is a Struct). fastEndpoints decodes
// the fields the table reads with encoding/json into the same protos, and is
// strict: a field it does not know, a number written as a string, an enum it
// does not know, the camelCase names protojson also accepts — anything it is
// not sure to read as protojson would — fails it, and the caller decodes
// that section with protojson instead. TestFastEndpointsMatchesProtojson and
// FuzzParseConfigDump hold the two to the same tables.

type jsonEndpointConfig struct {
	Type           string          `json:"@type"` // set in the ?resource= form
	VersionInfo    json.RawMessage `json:"version_info"`
	EndpointConfig *jsonCLA        `json:"endpoint_config"`
	LastUpdated    json.RawMessage `json:"last_updated"`
	ClientStatus   json.RawMessage `json:"client_status"`
	ErrorState     json.RawMessage `json:"error_state"`
}

type jsonCLA struct {
	Type           string                  `json:"@type"`
	ClusterName    string                  `json:"cluster_name"`
	Endpoints      []jsonLocalityEndpoints `json:"endpoints"`
	NamedEndpoints json.RawMessage         `json:"named_endpoints"`
	Policy         json.RawMessage         `json:"policy"`
}

type jsonLocalityEndpoints struct {
	Locality *struct {
		Region  string `json:"region"`
		Zone    string `json:"zone"`
		SubZone string `json:"sub_zone"`
	} `json:"locality"`
	LbEndpoints         []jsonLbEndpoint `json:"lb_endpoints"`
	LoadBalancingWeight json.RawMessage  `json:"load_balancing_weight"`
	Priority            uint32           `json:"priority"`
	Proximity           json.RawMessage  `json:"proximity"`
	Metadata            json.RawMessage  `json:"metadata"`
	LedsConfig          json.RawMessage  `json:"leds_cluster_locality_config"`
}

type jsonLbEndpoint struct {
	Endpoint            *jsonEndpoint    `json:"endpoint"`
	HealthStatus        *jsonHealth      `json:"health_status"`
	Metadata            *jsonMetadata    `json:"metadata"`
	LoadBalancingWeight *uint32          `json:"load_balancing_weight"`
	EndpointName        *json.RawMessage `json:"endpoint_name"`
}

type jsonEndpoint struct {
	Address             *jsonAddress    `json:"address"`
	HealthCheckConfig   json.RawMessage `json:"health_check_config"`
	Hostname            json.RawMessage `json:"hostname"`
	AdditionalAddresses []struct {
		Address *jsonAddress `json:"address"`
	} `json:"additional_addresses"`
}

type jsonAddress struct {
	SocketAddress *struct {
		Protocol     json.RawMessage `json:"protocol"`
		Address      string          `json:"address"`
		PortValue    uint32          `json:"port_value"`
		NamedPort    json.RawMessage `json:"named_port"`
		ResolverName json.RawMessage `json:"resolver_name"`
		IPv4Compat   json.RawMessage `json:"ipv4_compat"`
		NetworkNS    json.RawMessage `json:"network_namespace_filepath"`
	} `json:"socket_address"`
	Pipe *struct {
		Path string          `json:"path"`
		Mode json.RawMessage `json:"mode"`
	} `json:"pipe"`
	EnvoyInternalAddress *struct {
		ServerListenerName string `json:"server_listener_name"`
		EndpointID         string `json:"endpoint_id"`
	} `json:"envoy_internal_address"`
}

type jsonMetadata struct {
	FilterMetadata      map[string]json.RawMessage `json:"filter_metadata"`
	TypedFilterMetadata json.RawMessage            `json:"typed_filter_metadata"`
}

// jsonHealth is a HealthStatus enum: its name, or its number.
type jsonHealth corev3.HealthStatus

func (h *jsonHealth) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		v, ok := corev3.HealthStatus_value[name]
		if !ok {
			return fmt.Errorf("unknown health status %q", name)
		}
		*h = jsonHealth(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return fmt.Errorf("health status %s: %w", b, err)
	}
	*h = jsonHealth(n)
	return nil
}

var (
	claURL     = typeURL(&endpointv3.ClusterLoadAssignment{})
	edsDumpURL = typeURL(&adminv3.EndpointsConfigDump{})
	dynamicURL = typeURL(&adminv3.EndpointsConfigDump_DynamicEndpointConfig{})
	staticURL  = typeURL(&adminv3.EndpointsConfigDump_StaticEndpointConfig{})
)

func strictDecode(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after the value")
	}
	return nil
}

// fastEndpoints decodes one endpoint section of a dump (any of the four
// types isEndpointType accepts) and hands each ClusterLoadAssignment to add
// as it is decoded (nil for an endpoint config Envoy asked for but never
// got), so that only one is held at a time. An error means the section must
// be read by protojson; what add was given before it must then be dropped.
func fastEndpoints(typ string, raw []byte, add func(*endpointv3.ClusterLoadAssignment)) error {
	one := func(c *jsonEndpointConfig) error {
		if c.EndpointConfig == nil {
			add(nil)
			return nil
		}
		cla, err := c.EndpointConfig.proto()
		if err != nil {
			return err
		}
		add(cla)
		return nil
	}
	switch typ {
	case edsDumpURL:
		// {"@type", "static_endpoint_configs": [...], "dynamic_endpoint_configs": [...]}:
		// walked with the skimmer, each config decoded on its own.
		s := &skimmer{data: raw}
		err := s.object(0, func(key []byte) error {
			switch string(key) {
			case "@type":
				s.ws()
				_, err := s.str()
				return err
			case "static_endpoint_configs", "dynamic_endpoint_configs":
				s.ws()
				if s.peek() == 'n' {
					return s.literal("null")
				}
				return s.array(1, func() error {
					start := s.skipWS()
					if err := s.value(2); err != nil {
						return err
					}
					var c jsonEndpointConfig
					if err := strictDecode(raw[start:s.pos], &c); err != nil {
						return err
					}
					return one(&c)
				})
			}
			return fmt.Errorf("unknown field %q", key)
		})
		if err != nil {
			return err
		}
		s.ws()
		if s.pos != len(raw) {
			return s.errorf("data after the value")
		}
		return nil
	case dynamicURL, staticURL:
		var c jsonEndpointConfig
		if err := strictDecode(raw, &c); err != nil {
			return err
		}
		return one(&c)
	case claURL:
		var c jsonCLA
		if err := strictDecode(raw, &c); err != nil {
			return err
		}
		return one(&jsonEndpointConfig{EndpointConfig: &c})
	}
	return fmt.Errorf("not an endpoint section: %s", typ)
}

func (c *jsonCLA) proto() (*endpointv3.ClusterLoadAssignment, error) {
	if c.Type != claURL {
		return nil, fmt.Errorf("endpoint config of type %q", c.Type)
	}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: c.ClusterName}
	for _, g := range c.Endpoints {
		lle := &endpointv3.LocalityLbEndpoints{Priority: g.Priority}
		if g.Locality != nil {
			lle.Locality = &corev3.Locality{Region: g.Locality.Region, Zone: g.Locality.Zone, SubZone: g.Locality.SubZone}
		}
		for _, lb := range g.LbEndpoints {
			e := &endpointv3.LbEndpoint{}
			if lb.HealthStatus != nil {
				e.HealthStatus = corev3.HealthStatus(*lb.HealthStatus)
			}
			if lb.LoadBalancingWeight != nil {
				e.LoadBalancingWeight = wrapperspb.UInt32(*lb.LoadBalancingWeight)
			}
			if lb.Endpoint != nil {
				ep := &endpointv3.Endpoint{Address: lb.Endpoint.Address.proto()}
				for _, a := range lb.Endpoint.AdditionalAddresses {
					ep.AdditionalAddresses = append(ep.AdditionalAddresses, &endpointv3.Endpoint_AdditionalAddress{Address: a.Address.proto()})
				}
				e.HostIdentifier = &endpointv3.LbEndpoint_Endpoint{Endpoint: ep}
			}
			md, err := lb.Metadata.proto()
			if err != nil {
				return nil, err
			}
			e.Metadata = md
			lle.LbEndpoints = append(lle.LbEndpoints, e)
		}
		cla.Endpoints = append(cla.Endpoints, lle)
	}
	return cla, nil
}

func (a *jsonAddress) proto() *corev3.Address {
	switch {
	case a == nil:
		return nil
	case a.SocketAddress != nil:
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: a.SocketAddress.Address, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: a.SocketAddress.PortValue}}}}
	case a.Pipe != nil:
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: a.Pipe.Path}}}
	case a.EnvoyInternalAddress != nil:
		return &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
			AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: a.EnvoyInternalAddress.ServerListenerName},
			EndpointId:           a.EnvoyInternalAddress.EndpointID}}}
	}
	return &corev3.Address{}
}

// metadataFields are the filter metadata fields the table reads
// (workloadOf, setAddress); others are not kept.
var metadataFields = map[string][]string{
	"istio":        {"workload"},
	originalDstKey: {"local", "waypoint"},
}

func (m *jsonMetadata) proto() (*corev3.Metadata, error) {
	if m == nil {
		return nil, nil
	}
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for key, fields := range metadataFields {
		raw, ok := m.FilterMetadata[key]
		if !ok {
			continue
		}
		var values map[string]json.RawMessage
		if err := json.Unmarshal(raw, &values); err != nil {
			return nil, fmt.Errorf("filter_metadata[%q]: %w", key, err)
		}
		s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for _, f := range fields {
			var v string
			if raw, ok := values[f]; ok && len(raw) > 0 && raw[0] == '"' {
				if err := json.Unmarshal(raw, &v); err != nil {
					return nil, fmt.Errorf("filter_metadata[%q][%q]: %w", key, f, err)
				}
				s.Fields[f] = structpb.NewStringValue(v)
			}
		}
		md.FilterMetadata[key] = s
	}
	return md, nil
}
