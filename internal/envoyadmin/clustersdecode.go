package envoyadmin

import (
	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// decodeClusters reads /clusters?format=json (admin/v3 Clusters) by hand
// into ParseClusters' result, with the endpoint decoder's primitives and
// its strictness (see edsdecode.go): an error means protojson must read
// the document.
func decodeClusters(data []byte) (map[string]map[string]string, error) {
	d := &edsDecoder{data: data}
	d.ws()
	out := map[string]map[string]string{}
	empty, err := d.open('{')
	if err != nil {
		return nil, err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		if string(k) != "cluster_statuses" {
			return nil, d.decline("unknown field %s", k)
		}
		if err := d.once(&seen, 1, k); err != nil {
			return nil, err
		}
		if err := d.array(func() error { return d.clusterStatus(out) }); err != nil {
			return nil, err
		}
		if more, err = d.next('}'); err != nil {
			return nil, err
		}
	}
	d.ws()
	if d.pos != len(d.data) {
		return nil, d.decline("data after the value")
	}
	return out, nil
}

// clusterStatus reads one ClusterStatus into out as clusterHealth does
// (a later cluster of the same name replaces an earlier one).
func (d *edsDecoder) clusterStatus(out map[string]map[string]string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var name string
	hosts := map[string]string{}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "name":
			if err = d.once(&seen, 1, k); err == nil {
				name, err = d.strValue()
			}
		case "added_via_api":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.boolean()
			}
		case "success_rate_ejection_threshold":
			if err = d.once(&seen, 4, k); err == nil {
				err = d.percent()
			}
		case "local_origin_success_rate_ejection_threshold":
			if err = d.once(&seen, 8, k); err == nil {
				err = d.percent()
			}
		case "observability_name":
			if err = d.once(&seen, 16, k); err == nil {
				err = d.skipStr()
			}
		case "eds_service_name":
			if err = d.once(&seen, 32, k); err == nil {
				err = d.skipStr()
			}
		case "circuit_breakers":
			if err = d.once(&seen, 64, k); err == nil {
				err = d.circuitBreakers()
			}
		case "host_statuses":
			if err = d.once(&seen, 128, k); err == nil {
				err = d.hostStatuses(hosts)
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	out[name] = hosts
	return nil
}

func (d *edsDecoder) hostStatuses(hosts map[string]string) error {
	return d.array(func() error { return d.hostStatus(hosts) })
}

// hostStatus reads one HostStatus: its address and health, as
// clusterHealth and hostHealth read them.
func (d *edsDecoder) hostStatus(hosts map[string]string) error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var addr addrFacts
	health := corev3.HealthStatus_UNKNOWN.String()
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "address":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.address(&addr)
			}
		case "health_status":
			if err = d.once(&seen, 2, k); err == nil {
				health, err = d.hostHealth()
			}
		case "stats":
			if err = d.once(&seen, 4, k); err == nil {
				err = d.stats()
			}
		case "success_rate":
			if err = d.once(&seen, 8, k); err == nil {
				err = d.percent()
			}
		case "local_origin_success_rate":
			if err = d.once(&seen, 16, k); err == nil {
				err = d.percent()
			}
		case "weight":
			if err = d.once(&seen, 32, k); err == nil {
				_, err = d.uint32()
			}
		case "priority":
			if err = d.once(&seen, 64, k); err == nil {
				_, err = d.uint32()
			}
		case "hostname":
			if err = d.once(&seen, 128, k); err == nil {
				err = d.skipStr()
			}
		case "locality":
			if err = d.once(&seen, 256, k); err == nil {
				var loc [3]string
				err = d.locality(&loc)
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	hosts[addr.hostPort()] = health
	return nil
}

// hostFlags are HostHealthStatus's failure flags in hostHealth's order.
var hostFlags = []struct{ field, health string }{
	{"failed_active_health_check", HealthFailedActiveCheck},
	{"failed_outlier_check", HealthOutlierEjected},
	{"failed_active_degraded_check", HealthDegradedCheck},
	{"pending_dynamic_removal", HealthPendingRemoval},
	{"pending_active_hc", HealthPendingActiveHC},
	{"excluded_via_immediate_hc_fail", HealthExcludedImmediate},
	{"active_hc_timeout", HealthActiveHCTimeout},
}

// hostHealth reads a HostHealthStatus into hostHealth's result.
func (d *edsDecoder) hostHealth() (string, error) {
	empty, err := d.open('{')
	if err != nil {
		return "", err
	}
	var set uint32 // the flags that are true
	eds := corev3.HealthStatus_UNKNOWN
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return "", err
		}
		i := -1
		for j, f := range hostFlags {
			if string(k) == f.field {
				i = j
			}
		}
		switch {
		case i >= 0:
			if err = d.once(&seen, 1<<i, k); err == nil {
				if d.pos < len(d.data) && d.data[d.pos] == 't' {
					set |= 1 << i
				}
				err = d.boolean()
			}
		case string(k) == "eds_health_status":
			if err = d.once(&seen, 1<<len(hostFlags), k); err == nil {
				var v int32
				v, err = d.enum(corev3.HealthStatus_value)
				eds = corev3.HealthStatus(v)
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return "", err
		}
		if more, err = d.next('}'); err != nil {
			return "", err
		}
	}
	for i, f := range hostFlags {
		if set&(1<<i) != 0 {
			return f.health, nil
		}
	}
	return eds.String(), nil
}

// stats reads a HostStatus's SimpleMetrics.
func (d *edsDecoder) stats() error {
	empty, err := d.open('[')
	if err != nil {
		return err
	}
	for more := !empty; more; {
		inner, err := d.open('{')
		if err != nil {
			return err
		}
		var seen uint32
		for more := !inner; more; {
			k, err := d.key()
			if err != nil {
				return err
			}
			switch string(k) {
			case "name":
				if err = d.once(&seen, 1, k); err == nil {
					err = d.skipStr()
				}
			case "value":
				if err = d.once(&seen, 2, k); err == nil {
					err = d.uint64()
				}
			case "type":
				if err = d.once(&seen, 4, k); err == nil {
					_, err = d.enum(adminv3.SimpleMetric_Type_value)
				}
			default:
				err = d.decline("unknown field %s", k)
			}
			if err != nil {
				return err
			}
			if more, err = d.next('}'); err != nil {
				return err
			}
		}
		if more, err = d.next(']'); err != nil {
			return err
		}
	}
	return nil
}

// circuitBreakers reads a cluster.v3.CircuitBreakers as /clusters shows
// it: thresholds and per_host_thresholds without retry budgets.
func (d *edsDecoder) circuitBreakers() error {
	empty, err := d.open('{')
	if err != nil {
		return err
	}
	var seen uint32
	for more := !empty; more; {
		k, err := d.key()
		if err != nil {
			return err
		}
		switch string(k) {
		case "thresholds":
			if err = d.once(&seen, 1, k); err == nil {
				err = d.thresholds()
			}
		case "per_host_thresholds":
			if err = d.once(&seen, 2, k); err == nil {
				err = d.thresholds()
			}
		default:
			err = d.decline("unknown field %s", k)
		}
		if err != nil {
			return err
		}
		if more, err = d.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// thresholdCounts are the UInt32Value fields of a CircuitBreakers.Thresholds.
var thresholdCounts = []string{"max_connections", "max_pending_requests", "max_requests", "max_retries", "max_connection_pools"}

func (d *edsDecoder) thresholds() error {
	empty, err := d.open('[')
	if err != nil {
		return err
	}
	for more := !empty; more; {
		inner, err := d.open('{')
		if err != nil {
			return err
		}
		var seen uint32
		for more := !inner; more; {
			k, err := d.key()
			if err != nil {
				return err
			}
			i := -1
			for j, f := range thresholdCounts {
				if string(k) == f {
					i = j
				}
			}
			switch {
			case i >= 0:
				if err = d.once(&seen, 1<<i, k); err == nil {
					_, err = d.uint32()
				}
			case string(k) == "priority":
				if err = d.once(&seen, 1<<5, k); err == nil {
					_, err = d.enum(corev3.RoutingPriority_value)
				}
			case string(k) == "track_remaining":
				if err = d.once(&seen, 1<<6, k); err == nil {
					err = d.boolean()
				}
			default:
				err = d.decline("unknown field %s", k)
			}
			if err != nil {
				return err
			}
			if more, err = d.next('}'); err != nil {
				return err
			}
		}
		if more, err = d.next(']'); err != nil {
			return err
		}
	}
	return nil
}
