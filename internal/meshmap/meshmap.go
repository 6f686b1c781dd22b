// Package meshmap is the map of a mesh as people draw it: clusters grouped
// by network, each east-west gateway with its addresses and ports, the
// remote-secret edges between clusters (whose istiod reads which API
// server), and the root CA each cluster trusts. Every element carries the
// keys (checks.Result.Key) of the results that concern it, so that writers
// can mark broken elements and a UI can show an element's results.
//
// The map is pure data built from a mesh model and a run's results: no
// I/O, deterministic order. Its strings come from clusters and are hostile:
// every writer escapes them for its medium (terminal, DOT, HTML).
//
// API (stable, see /work/notes/meshmap-api.md for changes):
//
//	m := meshmap.Build(mesh, results)
//	for _, n := range m.Networks { for _, c := range n.Clusters { c.Gateways; c.Root } }
//	m.Edges          // remote-secret edges
//	m.Elements()     // every element, in drawing order, for selection
//	m.Element(id)    // one element by its ID
package meshmap

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/pki"
)

// Kind is what an element of the map is.
type Kind string

const (
	KindMesh    Kind = "mesh"
	KindNetwork Kind = "network"
	KindCluster Kind = "cluster"
	KindGateway Kind = "gateway"
	KindRoot    Kind = "root"
	KindEdge    Kind = "edge"
)

// Element is what every part of the map has: a stable ID and the results
// that concern it.
type Element struct {
	// ID is stable across runs of the same mesh: "cluster/east",
	// "gateway/west/istio-system/istio-eastwestgateway", "root/east",
	// "edge/east/legacy", "network/network1", "mesh".
	ID   string
	Kind Kind
	// Label is a short human name ("east", "istio-system/istio-eastwestgateway").
	Label string
	// Keys are the Result.Key of every result that concerns the element,
	// in the results' order; Problems the keys among them that are
	// warnings, failures or errors, and Causes the problems that no other
	// problem explains (empty CausedBy).
	Keys     []string
	Problems []string
	Causes   []string
	// Status is the worst status (checks.Status.Weight) of those results;
	// Skipped when no result concerns the element.
	Status checks.Status

	worst *checks.Status // while assigning
	fan   []*Element     // a fan-out element (primaryRoots), never on the map
}

// Broken reports whether a failure or an error concerns the element.
func (e *Element) Broken() bool { return e.Status == checks.Fail || e.Status == checks.Error }

// Marked reports whether any problem (a warning too) concerns the element.
func (e *Element) Marked() bool { return len(e.Problems) > 0 }

// Map is the whole mesh.
type Map struct {
	// Mesh holds the mesh-scope results no element below owns
	// (controlplane.topology, config.service-sameness, ...).
	Mesh Element
	// Topology is mesh.Mesh.Topology().
	Topology string
	// Networks in name order; clusters without a network (and unreachable
	// ones) are in a last network with an empty Name.
	Networks []Network
	// Edges are the remote-secret edges, ordered by From, ClusterID, Secret.
	Edges []Edge
}

// Network is a group of clusters that reach each other's pods directly.
type Network struct {
	Element
	Name     string
	Clusters []Cluster
}

// Cluster is one kubeconfig context (aliases of one API server are one
// Cluster, Aliases naming the others).
type Cluster struct {
	Element
	Name string // kubeconfig context
	// ClusterID is istiod's CLUSTER_ID (Element.ID is the map's ID).
	ClusterID string
	Role      string // primary, remote, none
	Network   string
	Version   string // Istio version
	// Unreachable says why the cluster could not be read ("" when it was).
	Unreachable string
	Aliases     []string
	Gateways    []Gateway
	Root        Root
}

// Gateway is an east-west (network) gateway of a cluster, or a Service
// meant to be one that istiod ignores (Ignored says why).
type Gateway struct {
	Element
	Cluster   string // context
	Name      string // namespace/name of the Service
	Network   string
	Addresses []string
	// Port is the port remote clusters dial (the gatewayPort, 15443 by default).
	Port    int
	Ports   []Port
	Ignored string
}

// Port is one port of a gateway Service.
type Port struct {
	Name     string
	Port     int
	NodePort int
}

// Root is the root CA a cluster trusts.
type Root struct {
	Element
	// Fingerprints are SHA-256 hex of the root certificates (several
	// during a rotation), sorted; empty when none could be read.
	Fingerprints []string
	// Source is where they were read: "cacerts" (a primary's plugged-in
	// CA), "istio-ca-secret" (istiod's self-signed CA) or
	// "istio-ca-root-cert" (the root istiod distributes; remotes).
	Source string
}

// Edge is one kubeconfig of a remote secret: the istiod of From reads the
// API server of To with it.
type Edge struct {
	Element
	// From is the context whose istiod reads the secret.
	From string
	// To is the context of the mesh cluster whose ID is ClusterID; empty
	// when no cluster of the run has it (a stale secret, or a cluster
	// missing from the kubeconfig).
	To string
	// ClusterID is the secret's data key.
	ClusterID string
	// Secret is namespace/name; empty for a missing edge (Missing).
	Secret string
	Server string
	// Missing marks an edge that should exist but does not: a
	// secrets.remote-coverage problem found no secret for To in From.
	Missing bool
}

// Build makes the map of m from a run's results.
func Build(m *mesh.Mesh, rs []checks.Result) *Map {
	out := &Map{Mesh: Element{ID: "mesh", Kind: KindMesh, Label: "mesh"}, Topology: m.Topology()}
	byNet := map[string]*Network{}
	var netNames []string
	for _, c := range m.Clusters {
		if c.IsAlias() {
			continue
		}
		name := c.Network
		if !c.Reachable() {
			name = ""
		}
		n := byNet[name]
		if n == nil {
			label := name
			if label == "" {
				label = "(no network)"
			}
			n = &Network{Element: Element{ID: "network/" + name, Kind: KindNetwork, Label: label}, Name: name}
			byNet[name] = n
			netNames = append(netNames, name)
		}
		n.Clusters = append(n.Clusters, buildCluster(c))
		if c.Reachable() {
			out.Edges = append(out.Edges, edgesOf(m, c)...)
		}
	}
	sort.Slice(netNames, func(i, j int) bool {
		a, b := netNames[i], netNames[j]
		if (a == "") != (b == "") {
			return b == ""
		}
		return a < b
	})
	for _, name := range netNames {
		out.Networks = append(out.Networks, *byNet[name])
	}
	sortEdges(out.Edges)
	out.assign(m, rs)
	return out
}

func buildCluster(c *mesh.Cluster) Cluster {
	mc := Cluster{
		Element: Element{ID: "cluster/" + c.Name, Kind: KindCluster, Label: c.Name},
		Name:    c.Name, ClusterID: c.ID, Role: string(c.Role), Network: c.Network, Version: c.Version,
		Aliases: slices.Clone(c.Aliases),
		Root:    Root{Element: Element{ID: "root/" + c.Name, Kind: KindRoot, Label: "root of " + c.Name}},
	}
	if !c.Reachable() {
		mc.Unreachable = c.Inv.Unreachable.Error()
		return mc
	}
	for _, g := range c.EastWestGateways() {
		mg := Gateway{
			Element: Element{ID: "gateway/" + c.Name + "/" + g.Name(), Kind: KindGateway, Label: g.Name()},
			Cluster: c.Name, Name: g.Name(), Network: g.Network, Addresses: slices.Clone(g.Addresses),
			Port: g.Port, Ignored: g.Ignored,
		}
		for _, p := range g.Service.Spec.Ports {
			mg.Ports = append(mg.Ports, Port{Name: p.Name, Port: int(p.Port), NodePort: int(p.NodePort)})
		}
		mc.Gateways = append(mc.Gateways, mg)
	}
	mc.Root.Fingerprints, mc.Root.Source = rootOf(c)
	return mc
}

// rootOf reads the root a cluster trusts: a primary's cacerts root (what
// trust.root-match compares), else istiod's self-signed istio-ca-secret,
// else the istio-ca-root-cert ConfigMap istiod distributes.
func rootOf(c *mesh.Cluster) ([]string, string) {
	if c.Role == mesh.Primary {
		if b := c.Inv.CACerts; b != nil {
			if fps := fingerprints(b.Root); len(fps) > 0 {
				return fps, "cacerts"
			}
		}
		if b := c.Inv.IstioCASecret; b != nil {
			root := b.Root
			if strings.TrimSpace(root) == "" {
				root = b.CACert
			}
			if fps := fingerprints(root); len(fps) > 0 {
				return fps, "istio-ca-secret"
			}
		}
	}
	if cm := c.Inv.ConfigMap("istio-ca-root-cert"); cm != nil {
		if fps := fingerprints(cm.Data["root-cert.pem"]); len(fps) > 0 {
			return fps, "istio-ca-root-cert"
		}
	}
	return nil, ""
}

func fingerprints(pemText string) []string {
	certs, err := pki.ParseCerts(pemText)
	if err != nil {
		return nil
	}
	fps := pki.FingerprintSet(certs)
	slices.Sort(fps)
	return slices.Compact(fps)
}

// edgesOf lists the kubeconfigs of c's remote secrets as edges. A key equal
// to c's own cluster ID is kept (istiod ignores it; the secrets checks say
// so).
func edgesOf(m *mesh.Mesh, c *mesh.Cluster) []Edge {
	var out []Edge
	for _, s := range c.Inv.RemoteSecrets {
		for _, k := range s.Kubeconfigs {
			e := Edge{From: c.Name, ClusterID: k.ClusterID, Secret: cluster.IstioNamespace + "/" + s.Name, Server: k.Server}
			if to := m.ByID(k.ClusterID); len(to) > 0 {
				e.To = to[0].Name
			}
			e.Element = edgeElement(c.Name, k.ClusterID, e.To)
			out = append(out, e)
		}
	}
	return out
}

func edgeElement(from, clusterID, to string) Element {
	label := from + " → " + clusterID
	if to != "" && to != clusterID {
		label = from + " → " + to + " (" + clusterID + ")"
	}
	return Element{ID: "edge/" + from + "/" + clusterID, Kind: KindEdge, Label: label}
}

func sortEdges(es []Edge) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.From != b.From {
			return a.From < b.From
		}
		if a.ClusterID != b.ClusterID {
			return a.ClusterID < b.ClusterID
		}
		return a.Secret < b.Secret
	})
}

// Elements returns every element in drawing order: the mesh, then per
// network the network, its clusters, each followed by its root and
// gateways, then the edges. The pointers point into m.
func (m *Map) Elements() []*Element {
	out := []*Element{&m.Mesh}
	for i := range m.Networks {
		n := &m.Networks[i]
		out = append(out, &n.Element)
		for j := range n.Clusters {
			c := &n.Clusters[j]
			out = append(out, &c.Element, &c.Root.Element)
			for k := range c.Gateways {
				out = append(out, &c.Gateways[k].Element)
			}
		}
	}
	for i := range m.Edges {
		out = append(out, &m.Edges[i].Element)
	}
	return out
}

// Element returns the element with this ID, or nil.
func (m *Map) Element(id string) *Element {
	for _, e := range m.Elements() {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// Cluster returns the cluster of a context, or nil.
func (m *Map) Cluster(name string) *Cluster {
	for i := range m.Networks {
		for j := range m.Networks[i].Clusters {
			if c := &m.Networks[i].Clusters[j]; c.Name == name {
				return c
			}
		}
	}
	return nil
}

// Clusters returns every cluster in drawing order (pointers into m).
func (m *Map) Clusters() []*Cluster {
	var out []*Cluster
	for i := range m.Networks {
		for j := range m.Networks[i].Clusters {
			out = append(out, &m.Networks[i].Clusters[j])
		}
	}
	return out
}

// Broken returns the elements a failure or error concerns, in drawing order.
func (m *Map) Broken() []*Element {
	var out []*Element
	for _, e := range m.Elements() {
		if e.Broken() {
			out = append(out, e)
		}
	}
	return out
}

// Fingerprint16 is the short form of a fingerprint used in messages (the
// first 16 hex digits, as the trust checks print them).
func Fingerprint16(fp string) string { return pki.Short(fp) }

// PortList is "15443,15012,15017,15021" (the ports in Service order).
func (g *Gateway) PortList() string {
	ps := make([]string, len(g.Ports))
	for i, p := range g.Ports {
		ps[i] = strconv.Itoa(p.Port)
	}
	return strings.Join(ps, ",")
}
