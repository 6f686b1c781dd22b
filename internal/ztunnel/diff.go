package ztunnel

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
)

// Want is one endpoint a ztunnel should have for a service: a ready pod
// of some cluster, with the network it is on.
type Want struct {
	IP, Network, Cluster string
}

// Delta is one difference between a ztunnel's view of a service and the
// expected one, in the sidecar tables' vocabulary (envoyadmin.DeltaKind):
// missing, remote-pod-ip, stale-gateway, unexpected, unhealthy,
// unreachable-network.
type Delta struct {
	Kind   envoyadmin.DeltaKind
	IP     string
	Detail string
}

func (d Delta) String() string { return fmt.Sprintf("%s %s (%s)", d.Kind, orDash(d.IP), d.Detail) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Diff compares what a ztunnel on network local holds for the service of
// hostname host with want. gateways are, per network, the addresses of
// its istio-east-west Gateways (mesh.AmbientGateway.Addresses).
//
// The rule it mirrors (pilot/pkg/serviceregistry/ambient: a remote
// network's workloads reach ztunnel with networkGateway set to
// "<network>/<gateway address>", ztunnel sends to them through it over
// double HBONE): a local endpoint is reached directly; one on another
// network must name a current gateway of its network. A workload of
// another network without a networkGateway is a remote-pod-ip (ztunnel
// would dial it directly and fail); with a gateway that is no current one,
// a stale-gateway; an expected endpoint of a network without any gateway
// is unreachable-network, reported once per network.
func (d *Dump) Diff(host, local string, want []Want, gateways map[string][]string) []Delta {
	byUID := map[string]*Workload{}
	for _, w := range d.Workloads {
		byUID[w.UID] = w
	}
	type got struct {
		w    *Workload
		seen bool
	}
	var have []*got
	for _, s := range d.Services {
		if s.Hostname != host {
			continue
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range s.Endpoints {
				if !yield(k) {
					return
				}
			}
		}) {
			ep := s.Endpoints[k]
			if ep == nil {
				continue
			}
			if w, ok := byUID[ep.WorkloadUID]; ok {
				have = append(have, &got{w: w})
			} else {
				have = append(have, &got{w: &Workload{UID: ep.WorkloadUID, Status: "(no workload)"}})
			}
		}
	}
	var out []Delta
	unreachable := map[string]bool{}
	for _, wt := range want {
		var match *got
		for _, h := range have {
			if slices.Contains(h.w.WorkloadIPs, wt.IP) {
				match = h
				break
			}
		}
		remote := wt.Network != local && wt.Network != ""
		if remote && len(gateways[wt.Network]) == 0 {
			if !unreachable[wt.Network] {
				unreachable[wt.Network] = true
				out = append(out, Delta{Kind: envoyadmin.DeltaUnreachableNetwork, Detail: fmt.Sprintf("network %q has endpoints of %s but no istio-east-west Gateway with an address", wt.Network, host)})
			}
			if match != nil {
				match.seen = true
			}
			continue
		}
		if match == nil {
			out = append(out, Delta{Kind: envoyadmin.DeltaMissing, IP: wt.IP, Detail: fmt.Sprintf("pod of %s on network %s", wt.Cluster, orDash(wt.Network))})
			continue
		}
		match.seen = true
		w := match.w
		switch {
		case remote && w.NetworkGateway == nil:
			out = append(out, Delta{Kind: envoyadmin.DeltaRemotePodIP, IP: wt.IP, Detail: fmt.Sprintf("workload of network %s without a networkGateway: ztunnel would dial it directly", wt.Network)})
		case remote:
			nw, addr, _ := strings.Cut(w.NetworkGateway.Destination, "/")
			if nw != wt.Network || !slices.Contains(gateways[wt.Network], addr) {
				out = append(out, Delta{Kind: envoyadmin.DeltaStaleGateway, IP: wt.IP, Detail: fmt.Sprintf("networkGateway %s is no current gateway of network %s (%s)", w.NetworkGateway.Destination, wt.Network, strings.Join(gateways[wt.Network], ", "))})
			} else if w.Status != "Healthy" {
				out = append(out, Delta{Kind: envoyadmin.DeltaUnhealthy, IP: wt.IP, Detail: "status " + orDash(w.Status)})
			}
		case w.Status != "Healthy":
			out = append(out, Delta{Kind: envoyadmin.DeltaUnhealthy, IP: wt.IP, Detail: "status " + orDash(w.Status)})
		}
	}
	for _, h := range have {
		if !h.seen {
			out = append(out, Delta{Kind: envoyadmin.DeltaUnexpected, IP: strings.Join(h.w.WorkloadIPs, ","), Detail: "not a ready endpoint of the service: " + h.w.UID})
		}
	}
	return out
}
