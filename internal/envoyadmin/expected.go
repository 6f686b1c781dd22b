package envoyadmin

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
)

// DefaultGatewayPort is the east-west gateway port Istio uses for a network
// when the gateway Service has no networking.istio.io/gatewayPort label.
const DefaultGatewayPort = 15443

// ExpectedInput is what the expected endpoint table of one service port, seen
// from one sidecar, is computed from.
type ExpectedInput struct {
	// ProxyNetwork is the sidecar's own network as istiod sees it (its
	// ISTIO_META_NETWORK): "" in a single-network mesh, and "" for a sidecar
	// whose network is unknown, which istiod then sends gateways (forceGateway).
	ProxyNetwork string
	Service      string // host FQDN, e.g. helloworld.sample.svc.cluster.local
	Port         int    // service port, e.g. 5000

	// Endpoints is every ready endpoint of the service in every cluster.
	Endpoints []RemoteEndpoint
	// Gateways maps a network to the addresses of its east-west gateways
	// (the gateway Service's external IP and its gatewayPort, 15443 by default).
	Gateways map[string][]GatewayAddr
}

// ClusterName is the Envoy cluster that holds the service port's endpoints.
func (in ExpectedInput) ClusterName() string { return ClusterName(in.Service, in.Port, "") }

// RemoteEndpoint is a ready endpoint of the service in some cluster (the
// sidecar's own included): pod IP, target port, Istio cluster ID, network.
// Additional holds the endpoint's other IPs when istiod builds one endpoint
// for all of a dual-stack pod's addresses (ISTIO_DUAL_STACK: the LbEndpoint's
// additional_addresses).
type RemoteEndpoint struct {
	IP         string
	Port       int
	Cluster    string
	Network    string
	Additional []string
	// NoMTLS: istiod would not send Istio mTLS to this endpoint from the
	// sidecar (a DestinationRule TLS mode other than ISTIO_MUTUAL, no
	// sidecar on the pod, a PeerAuthentication DISABLE: mtls_checker.go
	// checkMtlsEnabled). Through a gateway that is no route at all, so
	// istiod leaves the endpoint out on every other network (ep_filters.go
	// EndpointsByNetworkFilter); on the sidecar's own network it stays.
	NoMTLS bool
}

// GatewayAddr is the address of one east-west gateway of a network.
type GatewayAddr struct {
	Address string
	Port    int
	Cluster string
	// Unresolved: Address is a hostname meshdoctor could not map to the IPs
	// istiod resolved it to. Diff then accepts an EDS gateway entry of that
	// cluster at any IP with the gateway's port, and says so.
	Unresolved bool
}

// sameNetwork mirrors Istio's rule that an empty network on either side
// matches every network.
func sameNetwork(a, b string) bool { return a == "" || b == "" || a == b }

type gatewayIndex struct {
	byNetwork map[string][]GatewayAddr
	byCluster map[[2]string][]GatewayAddr // {network, cluster}
	scale     uint32
}

// indexGateways mirrors istiod's NetworkGateways: duplicates removed, gateways
// sorted by address and port, and the weight scale factor is the least common
// multiple of the gateway counts per network and per (network, cluster), over
// every network, the sidecar's own included.
func indexGateways(gws map[string][]GatewayAddr) gatewayIndex {
	idx := gatewayIndex{byNetwork: map[string][]GatewayAddr{}, byCluster: map[[2]string][]GatewayAddr{}, scale: 1}
	for network, list := range gws {
		seen := map[GatewayAddr]bool{}
		for _, g := range list {
			if g.Port == 0 {
				g.Port = DefaultGatewayPort
			}
			if seen[g] || g.Address == "" {
				continue
			}
			seen[g] = true
			idx.byNetwork[network] = append(idx.byNetwork[network], g)
			key := [2]string{network, g.Cluster}
			idx.byCluster[key] = append(idx.byCluster[key], g)
		}
	}
	sortGws := func(s []GatewayAddr) {
		slices.SortFunc(s, func(a, b GatewayAddr) int {
			return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Cluster, b.Cluster))
		})
	}
	for _, s := range idx.byNetwork {
		sortGws(s)
		idx.scale = lcm(idx.scale, uint32(len(s)))
	}
	for _, s := range idx.byCluster {
		sortGws(s)
		idx.scale = lcm(idx.scale, uint32(len(s)))
	}
	return idx
}

// forEndpoint picks the gateways istiod would use for an endpoint: those of
// its network in its own cluster, else all of its network's.
func (idx gatewayIndex) forEndpoint(network, cluster string) []GatewayAddr {
	if gws := idx.byCluster[[2]string{network, cluster}]; len(gws) > 0 {
		return gws
	}
	return idx.byNetwork[network]
}

func lcm(a, b uint32) uint32 {
	if a == 0 || b == 0 {
		return max(a, b)
	}
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// Expected computes the endpoints a sidecar on in.ProxyNetwork should have for
// the service port, following istiod's split-horizon EDS
// (pilot/pkg/xds/endpoints/ep_filters.go EndpointsByNetworkFilter):
//   - an endpoint on the sidecar's network, or with no network, appears by pod
//     IP (with its other addresses, for a dual-stack pod istiod merged);
//   - forceGateway: a sidecar with no network of its own, in a mesh with
//     gateways, is sent the gateways of every endpoint whose network has some,
//     its own cluster's included; with no gateway anywhere it gets pod IPs;
//   - the endpoints of another network that has gateways are replaced by those
//     gateways (the network's gateways in the endpoint's own cluster when it
//     has some), each with a weight equal to the endpoints it stands for,
//     split evenly when there are several;
//   - endpoints of another network without a gateway are left out: they cannot
//     be reached (istiod then sends their pod IPs, which Diff reports);
//   - endpoints of another network istiod would not send Istio mTLS to
//     (NoMTLS) are left out, and count towards no gateway's weight.
//
// When any gateway is known, every weight is scaled by the least common
// multiple of the gateway counts per network and per (network, cluster).
// Locality and health are not predicted. The result is sorted by address and
// port.
func Expected(in ExpectedInput) []Endpoint {
	idx := indexGateways(in.Gateways)
	unit := uint32(1)
	if len(idx.byNetwork) > 0 {
		unit = idx.scale
	}
	direct := map[string]int{} // match key -> index in directList
	directList := make([]Endpoint, 0, len(in.Endpoints))
	gwWeight := map[GatewayAddr]uint32{}
	for _, ep := range in.Endpoints {
		gws := idx.forEndpoint(ep.Network, ep.Cluster)
		// ep_filters.go: forceGateway := b.network == "" && epNetwork != "" && len(gateways) > 0
		forceGateway := in.ProxyNetwork == "" && ep.Network != "" && len(gws) > 0
		if !forceGateway && sameNetwork(in.ProxyNetwork, ep.Network) {
			e := Endpoint{Address: ep.IP, Port: ep.Port, SourceCluster: ep.Cluster}
			for _, a := range ep.Additional {
				e.AdditionalAddresses = append(e.AdditionalAddresses, Endpoint{Address: a, Port: ep.Port}.HostPort())
			}
			// Indices, not values: an Endpoint is too big to sit in a map
			// without one allocation per entry.
			k := e.matchKey()
			if i, ok := direct[k]; ok {
				directList[i].Weight += unit
				continue
			}
			e.Weight = unit
			direct[k] = len(directList)
			directList = append(directList, e)
			continue
		}
		if len(gws) == 0 {
			continue // unreachable network: see Diff
		}
		if ep.NoMTLS {
			continue // ep_filters.go: cross-network traffic needs Istio mTLS (SNI routing)
		}
		for _, g := range gws {
			gwWeight[g] += unit / uint32(len(gws))
		}
	}
	out := directList
	for g, w := range gwWeight {
		out = append(out, Endpoint{Address: g.Address, Port: g.Port, Weight: max(w, 1), SourceCluster: g.Cluster})
	}
	slices.SortFunc(out, compareEndpoints)
	return out
}

// DeltaKind classifies one difference between the expected and the actual
// endpoint table.
type DeltaKind string

const (
	// DeltaMissing: an expected endpoint (local pod or remote gateway) is not
	// in the sidecar's table.
	DeltaMissing DeltaKind = "missing"
	// DeltaRemotePodIP: a pod IP of another network is in the table. istiod
	// sends those only when it knows no gateway for that network, so gateway
	// discovery or network labels are broken.
	DeltaRemotePodIP DeltaKind = "remote-pod-ip"
	// DeltaStaleGateway: a gateway-like endpoint (gateway port, or Istio
	// gateway metadata) that is no current gateway of a network with
	// endpoints: an old load balancer address, a stale meshNetworks entry.
	DeltaStaleGateway DeltaKind = "stale-gateway"
	// DeltaUnexpected: any other endpoint that should not be there.
	DeltaUnexpected DeltaKind = "unexpected"
	// DeltaUnhealthy: an expected endpoint Envoy does not send traffic to.
	DeltaUnhealthy DeltaKind = "unhealthy"
	// DeltaWeight: an expected endpoint with another load balancing weight
	// (gateway weights count the endpoints behind them).
	DeltaWeight DeltaKind = "weight"
	// DeltaUnreachableNetwork: a network with ready endpoints but no
	// east-west gateway the sidecar could reach them through.
	DeltaUnreachableNetwork DeltaKind = "unreachable-network"
	// DeltaUnresolvedGateway: not a difference but a limit of the diff: a
	// gateway addressed by a hostname meshdoctor could not resolve was
	// matched to the EDS gateway entry of its cluster at whatever IP istiod
	// resolved, and weights were not compared.
	DeltaUnresolvedGateway DeltaKind = "unresolved-gateway"
)

// rank orders kinds in Diff's output: the causes first, then their effects.
func (k DeltaKind) rank() int {
	switch k {
	case DeltaUnreachableNetwork:
		return 0
	case DeltaMissing:
		return 1
	case DeltaRemotePodIP:
		return 2
	case DeltaStaleGateway:
		return 3
	case DeltaUnexpected:
		return 4
	case DeltaUnhealthy:
		return 5
	case DeltaWeight:
		return 6
	case DeltaUnresolvedGateway:
		return 7
	}
	return 8
}

// Delta is one difference. Endpoint is the sidecar's entry (for missing, the
// expected one; for unreachable-network, only SourceCluster is set, to the
// network's first cluster); Want is the expected entry where there is one.
type Delta struct {
	Kind     DeltaKind
	Endpoint Endpoint
	Want     *Endpoint
	Detail   string
}

// Diff compares the sidecar's endpoints for a service port (got, usually
// table[in.ClusterName()]) with Expected(in) (want). Entries are matched by
// all their addresses (primary and additional: one dual-stack LbEndpoint is
// one entry) and port, an internal address by its real target; the entries
// of one endpoint in several locality groups or priorities are summed first.
// A double-HBONE gateway entry (inner_connect_originate, to the gateway's
// HBONE port) matches the expected gateway of that address. The result is
// ordered by kind, then address and port.
func Diff(want, got []Endpoint, in ExpectedInput) []Delta {
	var out []Delta
	idx := indexGateways(in.Gateways)
	gatewayPorts := map[int]bool{DefaultGatewayPort: true}
	gatewayOf := map[string]string{} // address -> network
	unresolved := map[[2]string]GatewayAddr{}
	for network, gws := range idx.byNetwork {
		for _, g := range gws {
			gatewayPorts[g.Port] = true
			gatewayOf[g.Address] = network
			if g.Unresolved {
				unresolved[[2]string{g.Address, g.Cluster}] = g
			}
		}
	}

	wantBy := make(map[string]bool, len(want))
	wantGateway := map[string]string{} // gateway address -> want key
	for _, w := range want {
		k := w.matchKey()
		wantBy[k] = true
		if _, ok := gatewayOf[w.Address]; ok {
			wantGateway[w.Address] = k
		}
	}
	// The entries Envoy has, merged by match key: merged[i] is gotKeys[i]'s.
	// Indices, not values, in the map: an Endpoint is too big to sit in a
	// map without one allocation per entry.
	gotIdx := make(map[string]int, len(got))
	gotKeys := make([]string, 0, len(got))
	merged := make([]Endpoint, 0, len(got))
	for _, g := range got {
		k := g.matchKey()
		if wk, ok := wantGateway[g.Address]; ok && g.Tunnel == TunnelInnerConnectOriginate {
			k = wk
		}
		if i, ok := gotIdx[k]; ok {
			prev := &merged[i]
			prev.Weight += g.Weight
			if !g.Healthy() && prev.Healthy() {
				prev.Health = g.Health
			}
			continue
		}
		gotIdx[k] = len(merged)
		merged = append(merged, g)
		gotKeys = append(gotKeys, k)
	}

	// Facts about the mesh that explain unexpected entries.
	podNetwork := map[string]RemoteEndpoint{} // pod IP -> endpoint
	epsByNetwork := map[string][]RemoteEndpoint{}
	for _, ep := range in.Endpoints {
		podNetwork[ep.IP] = ep
		for _, a := range ep.Additional {
			podNetwork[a] = ep
		}
		epsByNetwork[ep.Network] = append(epsByNetwork[ep.Network], ep)
	}
	isPodIP := func(e Endpoint) (RemoteEndpoint, bool) {
		if rep, ok := podNetwork[e.Address]; ok {
			return rep, true
		}
		for _, a := range e.AdditionalAddresses {
			if h, _, err := net.SplitHostPort(a); err == nil {
				if rep, ok := podNetwork[h]; ok {
					return rep, true
				}
			}
		}
		return RemoteEndpoint{}, false
	}

	for _, network := range sortedKeys(epsByNetwork) {
		eps := epsByNetwork[network]
		if sameNetwork(in.ProxyNetwork, network) || len(idx.byNetwork[network]) > 0 {
			continue
		}
		out = append(out, Delta{
			Kind:     DeltaUnreachableNetwork,
			Endpoint: Endpoint{SourceCluster: eps[0].Cluster},
			Detail: fmt.Sprintf("network %q has %d ready endpoint(s) but no east-west gateway; a sidecar on %q cannot reach them",
				network, len(eps), in.ProxyNetwork),
		})
	}

	// An unresolved hostname gateway stands for the EDS gateway entries of
	// its cluster and port at IPs meshdoctor cannot predict: istiod makes one
	// gateway per address the name resolves to (network.go
	// resolveHostnameGateways), so claim every such entry. With one entry the
	// weights are as predicted; with several, the split and the mesh-wide
	// scale factor depend on the address count, so weights are not compared.
	claimed := map[string]bool{}       // got keys
	claimedBy := map[string][]string{} // want key -> got keys
	compareWeights := true
	for _, w := range want {
		g, isUnresolved := unresolved[[2]string{w.Address, w.SourceCluster}]
		if !isUnresolved {
			continue
		}
		if _, ok := gotIdx[w.matchKey()]; ok {
			continue
		}
		for i, k := range gotKeys {
			e := merged[i]
			expected := wantBy[k]
			_, isPod := isPodIP(e)
			_, knownGw := gatewayOf[e.Address]
			if expected || claimed[k] || isPod || knownGw || e.Workload != "" || e.SourceCluster != g.Cluster ||
				net.ParseIP(e.Address) == nil || (e.Port != g.Port && e.Tunnel != TunnelInnerConnectOriginate) {
				continue
			}
			claimed[k] = true
			claimedBy[w.matchKey()] = append(claimedBy[w.matchKey()], k)
		}
		if len(claimedBy[w.matchKey()]) > 1 {
			compareWeights = false
		}
	}
	for _, w := range want {
		keys := claimedBy[w.matchKey()]
		if len(keys) == 0 {
			continue
		}
		slices.SortFunc(keys, func(a, b string) int { return compareEndpoints(merged[gotIdx[a]], merged[gotIdx[b]]) })
		var hosts []string
		for _, k := range keys {
			hosts = append(hosts, merged[gotIdx[k]].HostPort())
		}
		detail := fmt.Sprintf("gateway %s could not be resolved from here; istiod resolves it: accepted the EDS gateway entry %s of cluster %s on port %d",
			w.Address, strings.Join(hosts, ", "), w.SourceCluster, w.Port)
		if !compareWeights {
			detail += " (several addresses: weights not compared)"
		}
		out = append(out, Delta{Kind: DeltaUnresolvedGateway, Endpoint: merged[gotIdx[keys[0]]], Want: ptr(w), Detail: detail})
	}

	for _, w := range want {
		k := w.matchKey()
		gi, ok := gotIdx[k]
		claims := claimedBy[k]
		if !ok && len(claims) == 0 {
			detail := "local endpoint missing from EDS"
			if network, isGw := gatewayOf[w.Address]; isGw {
				detail = fmt.Sprintf("gateway of network %q (cluster %s) missing: remote endpoints unreachable from this sidecar", network, w.SourceCluster)
				if _, un := unresolved[[2]string{w.Address, w.SourceCluster}]; un {
					detail = fmt.Sprintf("gateway %s of network %q could not be resolved from here; istiod resolves it, but the sidecar has no gateway entry of cluster %s on port %d",
						w.Address, network, w.SourceCluster, w.Port)
				}
			}
			out = append(out, Delta{Kind: DeltaMissing, Endpoint: w, Want: ptr(w), Detail: detail})
			continue
		}
		compare := func(g Endpoint) {
			if !g.Healthy() {
				out = append(out, Delta{Kind: DeltaUnhealthy, Endpoint: g, Want: ptr(w), Detail: "health " + g.Health})
			}
			if compareWeights && g.Weight != w.Weight {
				out = append(out, Delta{Kind: DeltaWeight, Endpoint: g, Want: ptr(w),
					Detail: fmt.Sprintf("weight %d, want %d", g.Weight, w.Weight)})
			}
		}
		if ok {
			compare(merged[gi])
		}
		for _, ck := range claims {
			compare(merged[gotIdx[ck]])
		}
	}

	for i, k := range gotKeys {
		if wantBy[k] || claimed[k] {
			continue
		}
		g := merged[i]
		rep, isPod := isPodIP(g)
		switch {
		case isPod && !sameNetwork(in.ProxyNetwork, rep.Network):
			detail := fmt.Sprintf("pod IP of cluster %s on network %q leaked into a sidecar on %q", rep.Cluster, rep.Network, in.ProxyNetwork)
			if len(idx.byNetwork[rep.Network]) == 0 {
				detail += ": istiod knows no gateway for that network"
			} else {
				detail += ": the endpoint's network label disagrees with istiod's view"
			}
			out = append(out, Delta{Kind: DeltaRemotePodIP, Endpoint: g, Detail: detail})
		case gatewayPorts[g.Port] || gatewayOf[g.Address] != "" || (g.SourceCluster != "" && g.Workload == ""):
			detail := "gateway-like endpoint that is no current east-west gateway address"
			if network, isGw := gatewayOf[g.Address]; isGw {
				detail = fmt.Sprintf("gateway of network %q, which has no ready endpoints of the service", network)
			}
			out = append(out, Delta{Kind: DeltaStaleGateway, Endpoint: g, Detail: detail})
		default:
			out = append(out, Delta{Kind: DeltaUnexpected, Endpoint: g, Detail: "not a ready endpoint of the service"})
		}
	}

	slices.SortStableFunc(out, func(a, b Delta) int {
		return cmp.Or(
			cmp.Compare(a.Kind.rank(), b.Kind.rank()),
			compareEndpoints(a.Endpoint, b.Endpoint),
		)
	})
	return out
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
