// Package mesh is the model of the mesh built from the clusters'
// inventories: each cluster's Istio identity (cluster ID, network, mesh ID,
// trust domain, role) and its east-west gateways. It is pure: no I/O.
package mesh

import (
	"fmt"
	"sort"
	"strings"

	"istio.io/api/label"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// Role is a cluster's part in the control plane.
type Role string

const (
	Primary Role = "primary"
	Remote  Role = "remote"
	// NoControlPlane: neither istiod nor a remote configuration was found.
	NoControlPlane Role = "none"
)

// DefaultClusterID is istiod's CLUSTER_ID when none is set.
const DefaultClusterID = "Kubernetes"

// Cluster is one kubeconfig context seen as a member of the mesh.
type Cluster struct {
	Name string // kubeconfig context
	Inv  *cluster.Inventory
	// ID is istiod's CLUSTER_ID (primary) or the injector's clusterName (remote).
	ID          string
	IDSource    string
	Role        Role
	Network     string // istio-system namespace label
	MeshID      string
	TrustDomain string
	// Version is the Istio version from istiod's (or the injector's) image tag.
	Version string
	Istiod  *appsv1.Deployment
	// Gateways are this cluster's network gateways, found by istiod's rules
	// in any namespace under any name (gateway.go); GatewayCandidates the
	// Services istiod does not use as one though they look meant to be
	// (Gateway.Ignored says why).
	Gateways          []Gateway
	GatewayCandidates []Gateway
	// MeshConfig is the parsed `istio` ConfigMap (nil when absent or bad).
	MeshConfig    *meshv1alpha1.MeshConfig
	MeshConfigErr error
	// InjectorValues are the `values` of istio-sidecar-injector.
	InjectorValues map[string]any

	// Revisions are every control-plane revision of the cluster (the
	// default one first); Rev is the one that speaks for the cluster (see
	// pickRevision), whose identity the fields above repeat. Tags maps
	// each revision tag to its revision.
	Revisions []*Revision
	Rev       *Revision
	Tags      map[string]string

	// AliasOf is set when this context reaches the same API server as
	// another context, which represents both (see findAliases); Aliases
	// lists, on the representative, the contexts it stands for, and
	// AliasHow how they were found to be one server.
	AliasOf  string
	Aliases  []string
	AliasHow string
}

// Reachable reports whether the inventory could be taken.
func (c *Cluster) Reachable() bool { return c.Inv.Unreachable == nil }

// Mesh is all clusters, in context-name order.
type Mesh struct {
	Clusters []*Cluster
}

// Build derives the mesh model from inventories.
func Build(invs []*cluster.Inventory) *Mesh {
	m := &Mesh{}
	for _, inv := range invs {
		m.Clusters = append(m.Clusters, buildCluster(inv))
	}
	sort.SliceStable(m.Clusters, func(i, j int) bool { return m.Clusters[i].Name < m.Clusters[j].Name })
	findAliases(m.Clusters)
	return m
}

// Reachable returns the clusters whose inventory was taken, one per API
// server: a context that is an alias of another is left out.
func (m *Mesh) Reachable() []*Cluster {
	var out []*Cluster
	for _, c := range m.Clusters {
		if c.Reachable() && !c.IsAlias() {
			out = append(out, c)
		}
	}
	return out
}

// Cluster returns the cluster of a context name.
func (m *Mesh) Cluster(name string) *Cluster {
	for _, c := range m.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// ByID returns the reachable clusters with this cluster ID.
func (m *Mesh) ByID(id string) []*Cluster {
	var out []*Cluster
	for _, c := range m.Reachable() {
		if c.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// ByServer returns the cluster whose API server URL is server (the
// representative when several contexts share it).
func (m *Mesh) ByServer(server string) *Cluster {
	norm := strings.TrimSuffix(server, "/")
	for _, c := range m.Clusters {
		if strings.TrimSuffix(c.Inv.Server, "/") == norm && norm != "" {
			if c.IsAlias() {
				return m.Cluster(c.AliasOf)
			}
			return c
		}
	}
	return nil
}

// Networks returns the distinct non-empty networks, sorted.
func (m *Mesh) Networks() []string {
	set := map[string]bool{}
	for _, c := range m.Reachable() {
		if c.Network != "" {
			set[c.Network] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// MultiNetwork reports whether the mesh spans more than one network.
func (m *Mesh) MultiNetwork() bool { return len(m.Networks()) > 1 }

// Primaries returns the reachable clusters that run istiod.
func (m *Mesh) Primaries() []*Cluster {
	var out []*Cluster
	for _, c := range m.Reachable() {
		if c.Role == Primary {
			out = append(out, c)
		}
	}
	return out
}

// Topology names the control-plane model: multi-primary, primary-remote,
// single-cluster or none.
func (m *Mesh) Topology() string {
	var p, r int
	for _, c := range m.Reachable() {
		switch c.Role {
		case Primary:
			p++
		case Remote:
			r++
		}
	}
	switch {
	case p == 0:
		return "none"
	case p+r == 1:
		return "single-cluster"
	case r == 0:
		return "multi-primary"
	case p == 1:
		return "primary-remote"
	default:
		return "multi-primary with remotes"
	}
}

// GatewayAddresses maps every address of every network gateway to its cluster.
func (m *Mesh) GatewayAddresses() map[string]*Cluster {
	out := map[string]*Cluster{}
	for _, c := range m.Reachable() {
		for _, g := range c.Gateways {
			for _, a := range g.Addresses {
				out[a] = c
			}
		}
	}
	return out
}

func buildCluster(inv *cluster.Inventory) *Cluster {
	c := &Cluster{Name: inv.Context, Inv: inv, Role: NoControlPlane}
	if inv.Unreachable != nil {
		return c
	}
	if ns := inv.Namespace(cluster.IstioNamespace); ns != nil {
		c.Network = ns.Labels[label.TopologyNetwork.Name]
	}
	c.identify(inv)
	c.Gateways, c.GatewayCandidates = discoverGateways(inv)
	return c
}

func envValue(d *appsv1.Deployment, name string) (string, bool) {
	for _, ct := range d.Spec.Template.Spec.Containers {
		for _, e := range ct.Env {
			if e.Name == name {
				return e.Value, true
			}
		}
	}
	return "", false
}

// EnvValue returns a container env value of istiod.
func (c *Cluster) EnvValue(name string) (string, bool) {
	if c.Istiod == nil {
		return "", false
	}
	return envValue(c.Istiod, name)
}

func imageTag(d *appsv1.Deployment) string {
	for _, ct := range d.Spec.Template.Spec.Containers {
		img := ct.Image
		if i := strings.LastIndex(img, "@"); i >= 0 {
			img = img[:i]
		}
		if i := strings.LastIndex(img, ":"); i >= 0 && !strings.Contains(img[i:], "/") {
			return img[i+1:]
		}
	}
	return ""
}

func valuesString(v map[string]any, path ...string) string {
	var cur any = v
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	switch x := cur.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// ValuesString reads a dotted path of the injector values.
func (c *Cluster) ValuesString(path ...string) string { return valuesString(c.InjectorValues, path...) }
