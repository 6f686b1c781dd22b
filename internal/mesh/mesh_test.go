package mesh_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

func build(t *testing.T, name string) *mesh.Mesh {
	t.Helper()
	_, invs, _, err := scenario.LoadFake(filepath.Join("..", "..", "testdata", "scenarios"), name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return mesh.Build(invs)
}

func TestBuild(t *testing.T) {
	cases := []struct {
		scenario, topology string
		roles, ids, nets   []string
		gateways           []int
	}{
		{"healthy-multi-primary", "multi-primary", []string{"primary", "primary"}, []string{"cluster-1", "cluster-2"}, []string{"network1", "network2"}, []int{1, 1}},
		{"healthy-primary-remote", "primary-remote", []string{"primary", "remote"}, []string{"cluster-1", "cluster-2"}, []string{"network1", "network2"}, []int{1, 1}},
		{"duplicate-cluster-id", "multi-primary", []string{"primary", "primary"}, []string{"Kubernetes", "Kubernetes"}, []string{"network1", "network2"}, []int{1, 1}},
		{"demo-broken-mesh", "multi-primary with remotes", []string{"remote", "primary", "primary"}, []string{"central", "east", "west"}, []string{"network1", "network1", "network2"}, []int{0, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			m := build(t, tc.scenario)
			if got := m.Topology(); got != tc.topology {
				t.Errorf("topology %q, want %q", got, tc.topology)
			}
			for i, c := range m.Clusters {
				if string(c.Role) != tc.roles[i] || c.ID != tc.ids[i] || c.Network != tc.nets[i] || len(c.Gateways) != tc.gateways[i] {
					t.Errorf("%s: role %s id %s network %s gateways %d, want %s %s %s %d", c.Name, c.Role, c.ID, c.Network, len(c.Gateways),
						tc.roles[i], tc.ids[i], tc.nets[i], tc.gateways[i])
				}
				if tc.scenario == "healthy-primary-remote" {
					// The rendered install (testdata/installs/primary-remote-multi-network):
					// images tagged by the pinned module's chart, the remote's meshID
					// set by the primary that injects it.
					if c.TrustDomain != "cluster.local" || c.Role == mesh.Primary && c.MeshID != "mesh1" {
						t.Errorf("%s: meshID %q trust domain %q", c.Name, c.MeshID, c.TrustDomain)
					}
					continue
				}
				if c.MeshID != "mesh1" || c.TrustDomain != "cluster.local" || c.Version != "1.28.1" {
					t.Errorf("%s: meshID %q trust domain %q version %q", c.Name, c.MeshID, c.TrustDomain, c.Version)
				}
			}
		})
	}
}

func TestUnreachableClusterIsLeftOut(t *testing.T) {
	m := mesh.Build([]*cluster.Inventory{
		{Context: "up", Namespaces: nil},
		{Context: "down", Unreachable: &cluster.FetchError{Reason: cluster.ReasonUnreachable}},
	})
	if len(m.Clusters) != 2 || len(m.Reachable()) != 1 || m.Reachable()[0].Name != "up" {
		t.Errorf("reachable = %v", m.Reachable())
	}
	if m.Topology() != "none" {
		t.Errorf("topology without istiod = %q", m.Topology())
	}
}
