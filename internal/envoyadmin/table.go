// Package envoyadmin reads a sidecar's Envoy endpoint table through the
// Kubernetes API server and compares it with the table Istio should have
// pushed to it.
package envoyadmin

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// maxDocumentBytes bounds what is read from one admin response. A sidecar in a
// large mesh dumps tens of megabytes; anything past this is not a config dump.
const maxDocumentBytes = 512 << 20

// Endpoint as Envoy has it for one cluster: one LbEndpoint, with every
// address it holds.
type Endpoint struct {
	// Address and Port are the endpoint's real target: the socket address of
	// a plain endpoint (IP or hostname), or, for an envoy_internal_address,
	// the "local" field of its filter_metadata["envoy.filters.listener.original_dst"]
	// (istio pilot/pkg/networking/util BuildTunnelMetadataStruct), where the
	// tunnel really goes. A pipe path, or "envoy://LISTENER/ID" for an
	// internal address without that metadata, with Port 0.
	Address string
	Port    int
	// AdditionalAddresses are the endpoint's additional_addresses as
	// "ip:port": the other IP family of a dual-stack pod, which istiod puts in
	// the same LbEndpoint (pilot/pkg/xds/endpoints/endpoint_builder.go
	// buildEnvoyLbEndpoint, with ISTIO_DUAL_STACK).
	AdditionalAddresses []string
	// Tunnel is the internal listener an envoy_internal_address endpoint
	// points at: "connect_originate" (HBONE to an ambient pod or a waypoint),
	// "inner_connect_originate" (double HBONE through a remote network's
	// east-west gateway), "forward_inner_connect" (an east-west gateway's own
	// forwarding); "" for a socket address.
	Tunnel string
	// Internal is the internal address as istioctl prints it,
	// "envoy://connect_originate/10.0.0.1:8080"; "" for a socket address.
	Internal string
	// Waypoint is the original_dst "waypoint" field: the waypoint's
	// "ip:port" when the tunnel goes to a service waypoint.
	Waypoint string
	Weight   uint32 // load_balancing_weight; Envoy's default 1 when unset
	Locality string // "region/zone/subzone", trailing empty parts dropped
	// Priority is the priority of the endpoint's LocalityLbEndpoints group
	// (0 is tried first; istio's loadbalancer package sets higher ones for
	// locality failover). Shown, not yet compared.
	Priority uint32

	// Health is the EDS health_status ("HEALTHY", "UNHEALTHY", "DRAINING",
	// "TIMEOUT", "DEGRADED"), "" when EDS set none (Istio sets none on gateway
	// endpoints), or after MergeHealth the live state from /clusters, where a
	// failed check wins over the EDS status (see the Health* constants).
	Health string

	// Workload is the first ';' field of filter_metadata["istio"]["workload"]
	// ("name;namespace;canonical;revision;clusterID"): empty for the endpoints
	// Istio builds for a remote network's gateway.
	Workload string
	// SourceCluster is the last ';' field of that value: the Istio cluster ID
	// the endpoint (or the gateway standing for it) comes from.
	SourceCluster string
}

// Internal listener names istiod points internal addresses at
// (pilot/pkg/xds/endpoints/endpoint_builder.go connectOriginate,
// forwardInnerConnect; ep_filters.go innerConnectOriginate).
const (
	TunnelConnectOriginate      = "connect_originate"
	TunnelInnerConnectOriginate = "inner_connect_originate"
	TunnelForwardInnerConnect   = "forward_inner_connect"
)

// originalDstKey is istio's util.OriginalDstMetadataKey: the filter metadata
// that carries an internal address's real target.
const originalDstKey = "envoy.filters.listener.original_dst"

// Health values derived from /clusters?format=json host flags. A flag wins
// over the EDS status because it is what Envoy acts on.
const (
	HealthFailedActiveCheck = "FAILED_ACTIVE_HEALTH_CHECK"
	HealthOutlierEjected    = "FAILED_OUTLIER_CHECK"
	HealthDegradedCheck     = "FAILED_ACTIVE_DEGRADED_CHECK"
	HealthPendingRemoval    = "PENDING_DYNAMIC_REMOVAL"
	HealthPendingActiveHC   = "PENDING_ACTIVE_HC"
	HealthExcludedImmediate = "EXCLUDED_VIA_IMMEDIATE_HC_FAIL"
	HealthActiveHCTimeout   = "ACTIVE_HC_TIMEOUT"
)

// Healthy reports whether Envoy sends traffic to the endpoint: no health
// status (Envoy treats UNKNOWN as healthy) or HEALTHY.
func (e Endpoint) Healthy() bool {
	switch e.Health {
	case "", "HEALTHY", "UNKNOWN":
		return true
	}
	return false
}

// HostPort is the endpoint's "ip:port" as Diff keys it: the real target
// (see Address); the bare address for pipes and internal addresses without
// original_dst metadata.
func (e Endpoint) HostPort() string {
	if e.Port == 0 {
		return e.Address
	}
	return net.JoinHostPort(e.Address, strconv.Itoa(e.Port))
}

// AdminAddress is the endpoint's address as /clusters names the host: the
// internal address for a tunnel, else HostPort.
func (e Endpoint) AdminAddress() string {
	if e.Internal != "" {
		return e.Internal
	}
	return e.HostPort()
}

// matchKey is how Diff pairs an expected and an actual endpoint: every
// address of the LbEndpoint, primary and additional, in sorted order. istiod
// takes a dual-stack pod's primary from pod.Status.PodIPs, which the
// inventory does not hold, so the order of the families is not compared.
func (e Endpoint) matchKey() string {
	if len(e.AdditionalAddresses) == 0 {
		return e.HostPort()
	}
	all := append([]string{e.HostPort()}, e.AdditionalAddresses...)
	slices.Sort(all)
	return strings.Join(all, ",")
}

func compareEndpoints(a, b Endpoint) int {
	return cmp.Or(
		cmp.Compare(a.Address, b.Address),
		cmp.Compare(a.Port, b.Port),
		cmp.Compare(a.Priority, b.Priority),
		cmp.Compare(a.Locality, b.Locality),
		cmp.Compare(a.SourceCluster, b.SourceCluster),
		cmp.Compare(a.Tunnel, b.Tunnel),
		slices.Compare(a.AdditionalAddresses, b.AdditionalAddresses),
	)
}

// Table maps an Envoy cluster name ("outbound|PORT|SUBSET|HOST") to its
// endpoints, each slice sorted by address, port and locality.
type Table map[string][]Endpoint

// ClusterName is the name Istio gives the outbound cluster of a service port.
func ClusterName(host string, port int, subset string) string {
	return "outbound|" + strconv.Itoa(port) + "|" + subset + "|" + host
}

// ParseConfigDump reads Envoy's /config_dump?include_eds: an admin/v3
// ConfigDump whose EndpointsConfigDump (dynamic and static endpoint configs)
// holds one ClusterLoadAssignment per cluster. It also accepts the
// ?resource= form, whose configs are the endpoint configs themselves. A dump
// without endpoints (include_eds forgotten) is an error, not an empty table.
func ParseConfigDump(r io.Reader) (Table, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config dump: %w", err)
	}
	return parseConfigDump(data)
}

// isEndpointType tells the config types that carry endpoints; every other
// section of a dump is skipped without being decoded (see skimConfigs).
func isEndpointType(url string) bool {
	switch url {
	case typeURL(&adminv3.EndpointsConfigDump{}),
		typeURL(&adminv3.EndpointsConfigDump_DynamicEndpointConfig{}),
		typeURL(&adminv3.EndpointsConfigDump_StaticEndpointConfig{}),
		typeURL(&endpointv3.ClusterLoadAssignment{}):
		return true
	}
	return false
}

// parseConfigDump parses a dump held in memory once: the endpoint sections
// are sub-slices of data, decoded where they lie, by decodeEndpoints or, when
// it is not sure, by protojson.
func parseConfigDump(data []byte) (Table, error) {
	spans, err := skimConfigs(data)
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
		if err := decodeEndpoints(sp.typeURL, sp.raw, part); err == nil {
			if len(t) == 0 {
				t = part
			} else {
				t.merge(part)
			}
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

// tableFromConfigs builds the table from decoded configs; index[k] is the
// position of configs[k] in the dump, for error messages.
func tableFromConfigs(configs []*anypb.Any, index []int) (Table, error) {
	t := Table{}
	found := false
	for k, c := range configs {
		ok, err := t.addConfig(index[k], c)
		if err != nil {
			return nil, err
		}
		found = found || ok
	}
	if !found {
		return nil, fmt.Errorf("decode config dump: %w", ErrNoEndpoints)
	}
	t.sort()
	return t, nil
}

func (t Table) sort() {
	for name := range t {
		slices.SortFunc(t[name], compareEndpoints)
	}
}

// addConfig adds the endpoints of configs[i] of a dump, and reports whether
// it was an endpoint section at all.
func (t Table) addConfig(i int, c *anypb.Any) (bool, error) {
	switch c.GetTypeUrl() {
	case typeURL(&adminv3.EndpointsConfigDump{}):
		var eds adminv3.EndpointsConfigDump
		if err := anypb.UnmarshalTo(c, &eds, proto.UnmarshalOptions{DiscardUnknown: true}); err != nil {
			return true, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
		for j, s := range eds.GetStaticEndpointConfigs() {
			if err := t.addAny(s.GetEndpointConfig()); err != nil {
				return true, fmt.Errorf("decode config dump: static_endpoint_configs[%d]: %w", j, err)
			}
		}
		for j, d := range eds.GetDynamicEndpointConfigs() {
			if err := t.addAny(d.GetEndpointConfig()); err != nil {
				return true, fmt.Errorf("decode config dump: dynamic_endpoint_configs[%d]: %w", j, err)
			}
		}
	case typeURL(&adminv3.EndpointsConfigDump_DynamicEndpointConfig{}):
		var d adminv3.EndpointsConfigDump_DynamicEndpointConfig
		if err := anypb.UnmarshalTo(c, &d, proto.UnmarshalOptions{DiscardUnknown: true}); err != nil {
			return true, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
		if err := t.addAny(d.GetEndpointConfig()); err != nil {
			return true, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
	case typeURL(&adminv3.EndpointsConfigDump_StaticEndpointConfig{}):
		var s adminv3.EndpointsConfigDump_StaticEndpointConfig
		if err := anypb.UnmarshalTo(c, &s, proto.UnmarshalOptions{DiscardUnknown: true}); err != nil {
			return true, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
		if err := t.addAny(s.GetEndpointConfig()); err != nil {
			return true, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
	case typeURL(&endpointv3.ClusterLoadAssignment{}):
		if err := t.addAny(c); err != nil {
			return true, fmt.Errorf("decode config dump: configs[%d]: %w", i, err)
		}
	default:
		return false, nil
	}
	return true, nil
}

// ErrNoEndpoints means a config dump has no endpoint section: it was taken
// without ?include_eds, or it is not a config dump.
var ErrNoEndpoints = errors.New("no EndpointsConfigDump in config dump (was ?include_eds set?)")

func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

func (t Table) addAny(a *anypb.Any) error {
	if a == nil {
		t.addCLA(nil) // an endpoint config Envoy asked for but never got
		return nil
	}
	var cla endpointv3.ClusterLoadAssignment
	if err := anypb.UnmarshalTo(a, &cla, proto.UnmarshalOptions{DiscardUnknown: true}); err != nil {
		return fmt.Errorf("decode %s: %w", a.GetTypeUrl(), err)
	}
	t.addCLA(&cla)
	return nil
}

// merge adds the clusters and endpoints of o.
func (t Table) merge(o Table) {
	for name, eps := range o {
		if _, ok := t[name]; !ok {
			t[name] = []Endpoint{}
		}
		t[name] = append(t[name], eps...)
	}
}

// addCLA adds one cluster's endpoints; nil adds nothing.
func (t Table) addCLA(cla *endpointv3.ClusterLoadAssignment) {
	if cla == nil {
		return
	}
	name := cla.GetClusterName()
	if _, ok := t[name]; !ok {
		t[name] = []Endpoint{}
	}
	for _, group := range cla.GetEndpoints() {
		locality := localityString(group.GetLocality())
		for _, lb := range group.GetLbEndpoints() {
			ep := Endpoint{Locality: locality, Priority: group.GetPriority(), Weight: 1}
			if w := lb.GetLoadBalancingWeight(); w != nil {
				ep.Weight = w.GetValue()
			}
			if hs := lb.GetHealthStatus(); hs != corev3.HealthStatus_UNKNOWN {
				ep.Health = hs.String()
			}
			setAddress(&ep, lb)
			ep.Workload, ep.SourceCluster = workloadOf(lb.GetMetadata())
			t[name] = append(t[name], ep)
		}
	}
}

func localityString(l *corev3.Locality) string {
	return strings.TrimRight(l.GetRegion()+"/"+l.GetZone()+"/"+l.GetSubZone(), "/")
}

// setAddress fills every address of an LbEndpoint: the primary one, the
// additional_addresses, and for an envoy_internal_address the real target
// istiod put in the original_dst metadata ("local", and "waypoint" for a
// service waypoint; pilot/pkg/xds/endpoints/endpoint_builder.go
// buildEnvoyLbEndpoint, ep_filters.go for the double-HBONE gateway).
func setAddress(ep *Endpoint, lb *endpointv3.LbEndpoint) {
	for _, add := range lb.GetEndpoint().GetAdditionalAddresses() {
		ep.AdditionalAddresses = append(ep.AdditionalAddresses, factsOf(add.GetAddress()).hostPort())
	}
	od := lb.GetMetadata().GetFilterMetadata()[originalDstKey].GetFields()
	ep.setPrimary(factsOf(lb.GetEndpoint().GetAddress()), od["local"].GetStringValue(), od["waypoint"].GetStringValue())
}

// setPrimary fills the endpoint's primary address (see setAddress) from
// its address and the original_dst metadata's "local" and "waypoint"
// strings ("" when absent or not strings). Both decoders go through it.
func (ep *Endpoint) setPrimary(a addrFacts, local, waypoint string) {
	ep.Address, ep.Port = a.addressPort()
	if a.kind != addrInternal {
		return
	}
	ep.Tunnel, ep.Internal = a.listener, ep.Address
	ep.Waypoint = waypoint
	if local == "" {
		// No metadata: the endpoint ID is istiod's target too
		// (util.BuildInternalLbEndpoint copies "local" into it).
		local = a.id
	}
	host, port, err := net.SplitHostPort(local)
	if err != nil {
		return
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return
	}
	ep.Address, ep.Port = host, p
}

// addrFacts is what the table reads of an envoy.config.core.v3.Address.
type addrFacts struct {
	kind     addrKind
	host     string // the socket address, or the pipe path
	port     uint32 // the socket address's port_value
	listener string // the internal address's server_listener_name
	id       string // the internal address's endpoint_id
}

type addrKind uint8

const (
	addrNone addrKind = iota
	addrSocket
	addrPipe
	addrInternal
)

func factsOf(a *corev3.Address) addrFacts {
	switch {
	case a.GetSocketAddress() != nil:
		sa := a.GetSocketAddress()
		return addrFacts{kind: addrSocket, host: sa.GetAddress(), port: sa.GetPortValue()}
	case a.GetPipe() != nil:
		return addrFacts{kind: addrPipe, host: a.GetPipe().GetPath()}
	case a.GetEnvoyInternalAddress() != nil:
		ia := a.GetEnvoyInternalAddress()
		return addrFacts{kind: addrInternal, listener: ia.GetServerListenerName(), id: ia.GetEndpointId()}
	}
	return addrFacts{}
}

// addressPort is the address and port the table shows for a: a socket
// address, a pipe path with port 0, "envoy://LISTENER/ID" with port 0.
func (a addrFacts) addressPort() (string, int) {
	switch a.kind {
	case addrSocket:
		return a.host, int(a.port)
	case addrPipe:
		return a.host, 0
	case addrInternal:
		return "envoy://" + a.listener + "/" + a.id, 0
	}
	return "", 0
}

func (a addrFacts) hostPort() string {
	addr, port := a.addressPort()
	return Endpoint{Address: addr, Port: port}.HostPort()
}

func addressOf(a *corev3.Address) (string, int) { return factsOf(a).addressPort() }

// workloadOf splits Istio's compressed telemetry metadata
// "name;namespace;canonical-service;revision;clusterID".
func workloadOf(md *corev3.Metadata) (workload, cluster string) {
	return splitWorkload(md.GetFilterMetadata()["istio"].GetFields()["workload"].GetStringValue())
}

func splitWorkload(s string) (workload, cluster string) {
	if s == "" {
		return "", ""
	}
	first, last := s, s
	if i := strings.IndexByte(s, ';'); i >= 0 {
		first, last = s[:i], s[strings.LastIndexByte(s, ';')+1:]
	}
	return first, last
}

// ParseClusters reads Envoy's /clusters?format=json (admin/v3 Clusters) into
// cluster name -> "ip:port" -> health, for Table.MergeHealth. The health is
// the first failed host flag (see the Health* constants), else the EDS status.
func ParseClusters(r io.Reader) (map[string]map[string]string, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("read clusters: %w", err)
	}
	return parseClusters(data)
}

func parseClusters(data []byte) (map[string]map[string]string, error) {
	if h, err := decodeClusters(data); err == nil {
		return h, nil
	}
	opts, err := unmarshalOptions()
	if err != nil {
		return nil, err
	}
	cs := &adminv3.Clusters{}
	if err := opts.Unmarshal(data, cs); err != nil {
		return nil, fmt.Errorf("decode clusters: %w", err)
	}
	return clusterHealth(cs), nil
}

// clusterHealth is ParseClusters' result from the decoded document.
func clusterHealth(cs *adminv3.Clusters) map[string]map[string]string {
	out := make(map[string]map[string]string, len(cs.GetClusterStatuses()))
	for _, c := range cs.GetClusterStatuses() {
		hosts := make(map[string]string, len(c.GetHostStatuses()))
		for _, h := range c.GetHostStatuses() {
			addr, port := addressOf(h.GetAddress())
			hosts[Endpoint{Address: addr, Port: port}.HostPort()] = hostHealth(h.GetHealthStatus())
		}
		out[c.GetName()] = hosts
	}
	return out
}

func hostHealth(h *adminv3.HostHealthStatus) string {
	switch {
	case h.GetFailedActiveHealthCheck():
		return HealthFailedActiveCheck
	case h.GetFailedOutlierCheck():
		return HealthOutlierEjected
	case h.GetFailedActiveDegradedCheck():
		return HealthDegradedCheck
	case h.GetPendingDynamicRemoval():
		return HealthPendingRemoval
	case h.GetPendingActiveHc():
		return HealthPendingActiveHC
	case h.GetExcludedViaImmediateHcFail():
		return HealthExcludedImmediate
	case h.GetActiveHcTimeout():
		return HealthActiveHCTimeout
	}
	return h.GetEdsHealthStatus().String()
}

// MergeHealth sets each endpoint's Health from a ParseClusters result, where
// the cluster and the endpoint's address (AdminAddress: the primary
// "ip:port", or the internal address) are present there; other endpoints
// keep the EDS status.
func (t Table) MergeHealth(h map[string]map[string]string) {
	for name, eps := range t {
		hosts := h[name]
		if hosts == nil {
			continue
		}
		for i := range eps {
			if s, ok := hosts[eps[i].AdminAddress()]; ok {
				eps[i].Health = s
			}
		}
	}
}

func readAll(r io.Reader) ([]byte, error) {
	data, err := readCappedSized(r, maxDocumentBytes, "document", 0)
	if tooLarge := (*TooLargeError)(nil); errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("document larger than %d bytes", maxDocumentBytes)
	}
	return data, err
}
