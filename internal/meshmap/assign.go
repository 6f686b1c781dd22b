package meshmap

import (
	"slices"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// assign gives every result to the one element it concerns, by the scope
// and target conventions of the checks:
//
//   - mesh scope: trust.* → the root of every primary (what
//     trust.root-match compares); a Target naming a network
//     (network.gateway-per-network) → that network; the rest → Mesh;
//   - secrets.* and endpoints.istiod-sync → the edge of From=Cluster whose
//     Target is "<secret>/<cluster ID>" (eachKubeconfig), whose cluster ID
//     is the Target, or that leads to Peer; a secrets.remote-coverage
//     problem without such an edge adds a Missing edge;
//   - gateway.*, network.gateway-label and probes.gateway-from-pods → a
//     gateway of Cluster (of Peer for probes.gateway-from-pods, which names
//     the probed cluster as Peer): the only one, or the one whose name or
//     address the Target holds (perGateway names it when there are
//     several);
//   - trust.* of one cluster → its root;
//   - anything else → the cluster (Mesh when Cluster is not on the map).
func (m *Map) assign(mm *mesh.Mesh, rs []checks.Result) {
	for _, r := range rs {
		m.owner(mm, r).add(r)
	}
	sortEdges(m.Edges)
	for _, e := range m.Elements() {
		e.settle()
	}
}

func (m *Map) owner(mm *mesh.Mesh, r checks.Result) *Element {
	area := r.Area()
	if r.Cluster == "" {
		if area == "trust" {
			return m.primaryRoots()
		}
		for i := range m.Networks {
			if n := &m.Networks[i]; r.Target != "" && n.Name == r.Target {
				return &n.Element
			}
		}
		return &m.Mesh
	}
	c := m.Cluster(r.Cluster)
	if c == nil {
		return &m.Mesh
	}
	switch {
	case area == "secrets" || r.CheckID == "endpoints.istiod-sync":
		if e := m.edgeFor(mm, r); e != nil {
			return e
		}
	case area == "gateway" || r.CheckID == "network.gateway-label" || r.CheckID == "probes.gateway-from-pods":
		owner := c
		if r.CheckID == "probes.gateway-from-pods" && r.Peer != "" {
			if p := m.Cluster(r.Peer); p != nil {
				owner = p
			}
		}
		if g := gatewayFor(owner, r.Target); g != nil {
			return &g.Element
		}
		return &owner.Element
	case area == "trust":
		return &c.Root.Element
	}
	return &c.Element
}

// primaryRoots is a fan-out element: adding to it adds to the root of every
// reachable primary (a mesh-scope trust result concerns all of them).
func (m *Map) primaryRoots() *Element {
	fan := &Element{}
	for _, c := range m.Clusters() {
		if c.Role == string(mesh.Primary) && c.Unreachable == "" {
			fan.fan = append(fan.fan, &c.Root.Element)
		}
	}
	if len(fan.fan) == 0 {
		return &m.Mesh
	}
	return fan
}

func (m *Map) edgeFor(mm *mesh.Mesh, r checks.Result) *Element {
	secret, key, hasKey := strings.Cut(r.Target, "/")
	for i := range m.Edges {
		e := &m.Edges[i]
		if e.From != r.Cluster || e.Missing {
			continue
		}
		switch {
		case hasKey && e.ClusterID == key && strings.HasSuffix(e.Secret, "/"+secret):
			return &e.Element
		case !hasKey && r.Target != "" && e.ClusterID == r.Target:
			return &e.Element
		}
	}
	if r.Peer == "" {
		return nil
	}
	for i := range m.Edges {
		if e := &m.Edges[i]; e.From == r.Cluster && e.To == r.Peer && !e.Missing {
			return &e.Element
		}
	}
	for i := range m.Edges {
		if e := &m.Edges[i]; e.From == r.Cluster && e.To == r.Peer && e.Missing {
			return &e.Element
		}
	}
	if r.CheckID != "secrets.remote-coverage" || !r.Problem() {
		return nil
	}
	id := r.Peer
	if p := mm.Cluster(r.Peer); p != nil && p.ID != "" {
		id = p.ID
	}
	e := Edge{From: r.Cluster, To: r.Peer, ClusterID: id, Missing: true}
	e.Element = edgeElement(r.Cluster, id, r.Peer)
	e.ID += "/missing"
	m.Edges = append(m.Edges, e)
	return &m.Edges[len(m.Edges)-1].Element
}

func gatewayFor(c *Cluster, target string) *Gateway {
	switch len(c.Gateways) {
	case 0:
		return nil
	case 1:
		return &c.Gateways[0]
	}
	for i := range c.Gateways {
		if g := &c.Gateways[i]; target == g.Name || strings.HasPrefix(target, g.Name+" ") {
			return g
		}
	}
	for i := range c.Gateways {
		g := &c.Gateways[i]
		for _, a := range g.Addresses {
			if strings.HasPrefix(target, a+" ") || target == a {
				return g
			}
		}
	}
	return nil
}

// add records r on e (and on the elements e fans out to).
func (e *Element) add(r checks.Result) {
	if len(e.fan) > 0 {
		for _, f := range e.fan {
			f.add(r)
		}
		return
	}
	k := r.Key()
	if slices.Contains(e.Keys, k) {
		return
	}
	e.Keys = append(e.Keys, k)
	if r.Problem() {
		e.Problems = append(e.Problems, k)
		if len(r.CausedBy) == 0 {
			e.Causes = append(e.Causes, k)
		}
	}
	if e.worst == nil || r.Status.Weight() > e.worst.Weight() {
		s := r.Status
		e.worst = &s
	}
}

func (e *Element) settle() {
	e.Status = checks.Skipped
	if e.worst != nil {
		e.Status = *e.worst
	}
}
