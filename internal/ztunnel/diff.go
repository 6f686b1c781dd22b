package ztunnel

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
)

// Want is one endpoint a ztunnel should have for a service: a ready pod
// of some cluster, with the network it is on.
type Want struct {
	IP, Network, Cluster string
	// Workload names the pod the address belongs to ("": the address
	// alone): a dual-stack pod is one workload with two addresses, and a
	// coalesced workload's capacity counts workloads
	// (multicluster.go coalescedWorkloads).
	Workload string
}

// workloads counts the distinct workloads of ws.
func workloads(ws []Want) int {
	seen := map[string]bool{}
	for _, w := range ws {
		seen[w.Cluster+"/"+cmp.Or(w.Workload, w.IP)] = true
	}
	return len(seen)
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
// The rule it mirrors is the pinned istiod's with
// AMBIENT_ENABLE_MULTI_NETWORK (pilot/pkg/serviceregistry/ambient/
// multicluster.go, SplitHorizonWorkloads): a ztunnel gets the workloads
// of its own network with their IPs (networkLocalWorkloads), and for each
// other network and global service one coalesced workload without IPs
// whose networkGateway is "<network>/<gateway address>" of that network's
// first gateway, with the count of the workloads it stands for as its
// capacity (coalescedWorkloads, createSplitHorizonWorkload; uid
// "<network>/SplitHorizonWorkload/<gateway ns/name>/<gateway address>/
// <service>", helpers.go generateSplitHorizonWorkloadUID). No gateway for
// a network: istiod logs "No network gateway found" and sends nothing.
// Older istiods sent each remote workload with its IPs and the
// networkGateway; that covers its network as well.
//
// So: a local endpoint must be there by IP and Healthy (else missing,
// unhealthy). A remote network is covered by a workload of that network
// reached through one of its current gateways; a workload of another
// network that ztunnel would dial directly (no networkGateway) is a
// remote-pod-ip, one through a gateway that is no current one a
// stale-gateway, and a network with endpoints but nothing routed to it is
// missing (the gateway endpoint, named by the gateway address); a network
// without any gateway is unreachable-network, once. A coalesced workload
// whose capacity is not the number of endpoints it stands for is a weight
// difference. Workloads of the service nobody expects are unexpected.
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
		for _, k := range slices.Sorted(maps.Keys(s.Endpoints)) {
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
	remote := map[string][]Want{}
	for _, wt := range want {
		if wt.Network != local && wt.Network != "" {
			remote[wt.Network] = append(remote[wt.Network], wt)
			continue
		}
		var match *got
		for _, h := range have {
			if slices.Contains(h.w.WorkloadIPs, wt.IP) {
				match = h
				break
			}
		}
		if match == nil {
			out = append(out, Delta{Kind: envoyadmin.DeltaMissing, IP: wt.IP, Detail: fmt.Sprintf("pod of %s on network %s", wt.Cluster, orDash(wt.Network))})
			continue
		}
		match.seen = true
		if match.w.Status != "Healthy" {
			out = append(out, Delta{Kind: envoyadmin.DeltaUnhealthy, IP: wt.IP, Detail: "status " + orDash(match.w.Status)})
		}
	}
	for _, nw := range slices.Sorted(maps.Keys(remote)) {
		wants := remote[nw]
		gws := gateways[nw]
		// The workloads that belong to network nw: by network, by the
		// gateway they go through, or by an IP of nw's endpoints.
		var mine []*got
		for _, h := range have {
			gnw, _, _ := strings.Cut(gatewayDest(h.w), "/")
			if h.w.Network == nw || gnw == nw || slices.ContainsFunc(wants, func(wt Want) bool { return slices.Contains(h.w.WorkloadIPs, wt.IP) }) {
				h.seen = true
				mine = append(mine, h)
			}
		}
		if len(gws) == 0 {
			out = append(out, Delta{Kind: envoyadmin.DeltaUnreachableNetwork, Detail: fmt.Sprintf("network %q has %d endpoints of %s but no istio-east-west Gateway with an address", nw, len(wants), host)})
			continue
		}
		covered, faulty := false, false
		for _, h := range mine {
			w := h.w
			ip := strings.Join(w.WorkloadIPs, ",")
			gnw, addr, _ := strings.Cut(gatewayDest(w), "/")
			switch {
			case w.NetworkGateway == nil:
				faulty = true
				out = append(out, Delta{Kind: envoyadmin.DeltaRemotePodIP, IP: ip, Detail: fmt.Sprintf("workload %s of network %s without a networkGateway: ztunnel would dial the pod directly across networks", w.UID, nw)})
			case !viaGateway(gnw, addr, nw, gws):
				faulty = true
				out = append(out, Delta{Kind: envoyadmin.DeltaStaleGateway, IP: cmp.Or(ip, addr), Detail: fmt.Sprintf("networkGateway %s is no current gateway of network %s (%s)", w.NetworkGateway.Destination, nw, strings.Join(gws, ", "))})
			case w.Status != "Healthy":
				covered = true
				out = append(out, Delta{Kind: envoyadmin.DeltaUnhealthy, IP: cmp.Or(ip, addr), Detail: "status " + orDash(w.Status)})
			default:
				covered = true
				if n := workloads(wants); len(w.WorkloadIPs) == 0 && w.Capacity != 0 && int(w.Capacity) != n {
					out = append(out, Delta{Kind: envoyadmin.DeltaWeight, IP: addr, Detail: fmt.Sprintf("capacity %d through gateway %s, but network %s has %d workloads", w.Capacity, addr, nw, n)})
				}
			}
		}
		if !covered && !faulty {
			clusters := map[string]bool{}
			for _, wt := range wants {
				clusters[wt.Cluster] = true
			}
			out = append(out, Delta{Kind: envoyadmin.DeltaMissing, IP: gws[0], Detail: fmt.Sprintf("no endpoint through network %s's gateway %s for the %d endpoints of %s", nw, gws[0], len(wants), strings.Join(slices.Sorted(maps.Keys(clusters)), ", "))})
		}
	}
	for _, h := range have {
		if !h.seen {
			out = append(out, Delta{Kind: envoyadmin.DeltaUnexpected, IP: cmp.Or(strings.Join(h.w.WorkloadIPs, ","), gatewayDest(h.w)), Detail: "not a ready endpoint of the service: " + h.w.UID})
		}
	}
	return out
}

// viaGateway reports whether a networkGateway destination "<a>/<b>" is a
// current gateway of network nw: "<network>/<ip>" for an address, or
// "<namespace>/<hostname>" for a gateway addressed by hostname
// (createSplitHorizonWorkload: GatewayAddress_Hostname with the Gateway's
// namespace), whose workload carries the network itself.
func viaGateway(a, b, nw string, gws []string) bool {
	if !slices.Contains(gws, b) {
		return false
	}
	if _, err := netip.ParseAddr(b); err != nil {
		return true // a hostname: a is the Gateway's namespace
	}
	return a == nw
}

func gatewayDest(w *Workload) string {
	if w.NetworkGateway == nil {
		return ""
	}
	return w.NetworkGateway.Destination
}
