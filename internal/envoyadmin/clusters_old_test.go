package envoyadmin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// The /clusters?format=json decoder as it was before decodeClusters, kept as
// the "old" baseline of BenchmarkParseLargeClusters: it reads the fields
// ParseClusters uses with encoding/json, strictly (an
// unknown field, a string number, an unknown enum name decline it and
// protojson reads the document instead).

type jsonClusters struct {
	ClusterStatuses []struct {
		Name                                    string           `json:"name"`
		AddedViaAPI                             json.RawMessage  `json:"added_via_api"`
		SuccessRateEjectionThreshold            json.RawMessage  `json:"success_rate_ejection_threshold"`
		HostStatuses                            []jsonHostStatus `json:"host_statuses"`
		LocalOriginSuccessRateEjectionThreshold json.RawMessage  `json:"local_origin_success_rate_ejection_threshold"`
		CircuitBreakers                         json.RawMessage  `json:"circuit_breakers"`
		ObservabilityName                       json.RawMessage  `json:"observability_name"`
		EDSServiceName                          json.RawMessage  `json:"eds_service_name"`
	} `json:"cluster_statuses"`
}

type jsonHostStatus struct {
	Address                *jsonAddress    `json:"address"`
	Stats                  json.RawMessage `json:"stats"`
	HealthStatus           *jsonHostHealth `json:"health_status"`
	SuccessRate            json.RawMessage `json:"success_rate"`
	Weight                 json.RawMessage `json:"weight"`
	Hostname               json.RawMessage `json:"hostname"`
	Priority               json.RawMessage `json:"priority"`
	LocalOriginSuccessRate json.RawMessage `json:"local_origin_success_rate"`
	Locality               json.RawMessage `json:"locality"`
}

type jsonHostHealth struct {
	FailedActiveHealthCheck    bool        `json:"failed_active_health_check"`
	FailedOutlierCheck         bool        `json:"failed_outlier_check"`
	FailedActiveDegradedCheck  bool        `json:"failed_active_degraded_check"`
	PendingDynamicRemoval      bool        `json:"pending_dynamic_removal"`
	PendingActiveHC            bool        `json:"pending_active_hc"`
	ExcludedViaImmediateHCFail bool        `json:"excluded_via_immediate_hc_fail"`
	ActiveHCTimeout            bool        `json:"active_hc_timeout"`
	EDSHealthStatus            *jsonHealth `json:"eds_health_status"`
}

func oldFastClusters(data []byte) (*adminv3.Clusters, error) {
	var in jsonClusters
	if err := strictDecode(data, &in); err != nil {
		return nil, err
	}
	out := &adminv3.Clusters{}
	for _, c := range in.ClusterStatuses {
		st := &adminv3.ClusterStatus{Name: c.Name}
		for _, h := range c.HostStatuses {
			hs := &adminv3.HostStatus{Address: h.Address.proto()}
			if hh := h.HealthStatus; hh != nil {
				hs.HealthStatus = &adminv3.HostHealthStatus{
					FailedActiveHealthCheck:    hh.FailedActiveHealthCheck,
					FailedOutlierCheck:         hh.FailedOutlierCheck,
					FailedActiveDegradedCheck:  hh.FailedActiveDegradedCheck,
					PendingDynamicRemoval:      hh.PendingDynamicRemoval,
					PendingActiveHc:            hh.PendingActiveHC,
					ExcludedViaImmediateHcFail: hh.ExcludedViaImmediateHCFail,
					ActiveHcTimeout:            hh.ActiveHCTimeout,
				}
				if hh.EDSHealthStatus != nil {
					hs.HealthStatus.EdsHealthStatus = corev3.HealthStatus(*hh.EDSHealthStatus)
				}
			}
			st.HostStatuses = append(st.HostStatuses, hs)
		}
		out.ClusterStatuses = append(out.ClusterStatuses, st)
	}
	return out, nil
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

// oldParseClusters is parseClusters as it was.
func oldParseClusters(data []byte) (map[string]map[string]string, error) {
	cs, err := oldFastClusters(data)
	if err != nil {
		opts, err := unmarshalOptions()
		if err != nil {
			return nil, err
		}
		cs = &adminv3.Clusters{}
		if err := opts.Unmarshal(data, cs); err != nil {
			return nil, fmt.Errorf("decode clusters: %w", err)
		}
	}
	return clusterHealth(cs), nil
}
