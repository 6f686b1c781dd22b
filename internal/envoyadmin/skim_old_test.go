package envoyadmin

import (
	"encoding/json"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// The parse as it was before the hand-written endpoint decoder and the
// word-at-a-time skimmer, kept as the baseline of BenchmarkParseLargeDump
// (the "old" way): the byte-at-a-time, recursive skimmer and the strict
// encoding/json decode of each ClusterLoadAssignment into protos.

type oldSkimmer struct {
	data []byte
	pos  int
}

func (s *oldSkimmer) errorf(format string, a ...any) error {
	return &skimError{off: int64(s.pos), msg: fmt.Sprintf(format, a...)}
}

// skimConfigs returns the elements of the top-level "configs" array of a
// JSON object; other top-level members are skipped.
func oldSkimConfigs(data []byte) ([]configSpan, error) {
	s := &oldSkimmer{data: data}
	var spans []configSpan
	seen := false
	err := s.object(0, func(key []byte) error {
		if string(key) != "configs" {
			return s.value(1)
		}
		if seen {
			return s.errorf("duplicate field configs")
		}
		seen = true
		s.ws()
		if s.peek() == 'n' {
			return s.literal("null")
		}
		return s.array(1, func() error {
			start := s.skipWS()
			typ, err := s.anyType(2)
			if err != nil {
				return err
			}
			spans = append(spans, configSpan{typeURL: typ, raw: s.data[start:s.pos]})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.pos != len(s.data) {
		return nil, s.errorf("unexpected data after the top-level object")
	}
	return spans, nil
}

// anyType reads one object (an Any in protojson form) and returns the value
// of its "@type" member, skipping the rest.
func (s *oldSkimmer) anyType(depth int) (string, error) {
	var typ string
	err := s.object(depth, func(key []byte) error {
		if string(key) != "@type" {
			return s.value(depth + 1)
		}
		s.ws()
		raw, err := s.str()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &typ); err != nil {
			return s.errorf("@type: %v", err)
		}
		return nil
	})
	return typ, err
}

func (s *oldSkimmer) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *oldSkimmer) skipWS() int { s.ws(); return s.pos }

func (s *oldSkimmer) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *oldSkimmer) expect(c byte) error {
	s.ws()
	if s.pos >= len(s.data) {
		return errEOF
	}
	if s.data[s.pos] != c {
		return s.errorf("want %q, found %q", c, s.data[s.pos])
	}
	s.pos++
	return nil
}

// object reads {"key": value, ...}, calling member with each raw key (the
// bytes between the quotes, escapes left as they are: the keys compared are
// plain ASCII) once the ':' is consumed; member must read the value.
func (s *oldSkimmer) object(depth int, member func(key []byte) error) error {
	if depth > maxSkimDepth {
		return s.errorf("nesting deeper than %d", maxSkimDepth)
	}
	if err := s.expect('{'); err != nil {
		return err
	}
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		s.ws()
		raw, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(raw[1 : len(raw)-1]); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		case 0:
			return errEOF
		default:
			return s.errorf("want ',' or '}' in object, found %q", s.peek())
		}
	}
}

func (s *oldSkimmer) array(depth int, elem func() error) error {
	if depth > maxSkimDepth {
		return s.errorf("nesting deeper than %d", maxSkimDepth)
	}
	if err := s.expect('['); err != nil {
		return err
	}
	s.ws()
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		case 0:
			return errEOF
		default:
			return s.errorf("want ',' or ']' in array, found %q", s.peek())
		}
	}
}

// value skips one JSON value.
func (s *oldSkimmer) value(depth int) error {
	s.ws()
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth, func([]byte) error { return s.value(depth + 1) })
	case c == '[':
		return s.array(depth, func() error { return s.value(depth + 1) })
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 0:
		return errEOF
	default:
		return s.errorf("invalid character %q looking for a value", c)
	}
}

// str reads a string and returns it with its quotes.
func (s *oldSkimmer) str() ([]byte, error) {
	if s.pos >= len(s.data) {
		return nil, errEOF
	}
	if s.data[s.pos] != '"' {
		return nil, s.errorf("want a string, found %q", s.data[s.pos])
	}
	start := s.pos
	s.pos++
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return s.data[start:s.pos], nil
		case c == '\\':
			s.pos += 2
		case c < 0x20:
			return nil, s.errorf("control character in string")
		default:
			s.pos++
		}
	}
	return nil, errEOF
}

func (s *oldSkimmer) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.errorf("invalid literal, want %s", word)
	}
	s.pos += len(word)
	return nil
}

func (s *oldSkimmer) number() error {
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.pos++
			continue
		}
		break
	}
	if s.pos == start || (s.pos == start+1 && s.data[start] == '-') {
		return s.errorf("invalid number")
	}
	return nil
}

func oldFastEndpoints(typ string, raw []byte, add func(*endpointv3.ClusterLoadAssignment)) error {
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
		s := &oldSkimmer{data: raw}
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

// oldParseConfigDump is parseConfigDump as it was, for the benchmark.
func oldParseConfigDump(data []byte) (Table, error) {
	spans, err := oldSkimConfigs(data)
	if err != nil {
		return nil, fmt.Errorf("decode config dump: %w", err)
	}
	t := Table{}
	found := false
	var opts *protojson.UnmarshalOptions
	for i, sp := range spans {
		if !isEndpointType(sp.typeURL) {
			continue
		}
		found = true
		part := Table{}
		if err := oldFastEndpoints(sp.typeURL, sp.raw, part.addCLA); err == nil {
			t.merge(part)
			continue
		}
		if opts == nil {
			o, err := unmarshalOptions()
			if err != nil {
				return nil, err
			}
			opts = &o
		}
		var c anypb.Any
		if err := opts.Unmarshal(sp.raw, &c); err != nil {
			return nil, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
		if _, err := t.addConfig(i, &c); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, fmt.Errorf("decode config dump: %w", ErrNoEndpoints)
	}
	t.sort()
	return t, nil
}

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

type jsonMetadata struct {
	FilterMetadata      map[string]json.RawMessage `json:"filter_metadata"`
	TypedFilterMetadata json.RawMessage            `json:"typed_filter_metadata"`
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
