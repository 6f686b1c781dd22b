package meshmap_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// demo runs the whole catalogue on the recorded demo mesh, as
// `meshdoctor check --from testdata/demo/mesh.tar.gz` does.
func demo(t *testing.T) (*mesh.Mesh, []checks.Result) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := snapshot.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	m := mesh.Build(s.Inventories)
	env := &checks.Env{Mesh: m, Probes: checks.ProbeSettings{Requests: 10, Timeout: 3 * time.Second}}
	s.ReplayInto(env)
	r := &checks.Runner{Checks: checks.Catalogue()}
	return m, r.Run(context.Background(), env, nil)
}

// dump is the map as lines, for failure messages.
func dump(m *meshmap.Map) string {
	var b strings.Builder
	for _, e := range m.Elements() {
		fmt.Fprintf(&b, "%-60s %-7s problems=%v causes=%v keys=%d\n", e.ID, e.Status, e.Problems, e.Causes, len(e.Keys))
	}
	return b.String()
}

func TestDemoMap(t *testing.T) {
	mm, rs := demo(t)
	m := meshmap.Build(mm, rs)
	t.Log("\n" + dump(m))

	var nets []string
	for _, n := range m.Networks {
		var cs []string
		for _, c := range n.Clusters {
			cs = append(cs, c.Name)
		}
		nets = append(nets, n.Name+":"+strings.Join(cs, ","))
	}
	if want := []string{"network1:central,east", "network2:west"}; !slices.Equal(nets, want) {
		t.Errorf("networks %v, want %v", nets, want)
	}

	west := m.Cluster("west")
	if len(west.Gateways) != 1 || west.Gateways[0].Name != "istio-system/istio-eastwestgateway" || len(west.Gateways[0].Addresses) != 0 {
		t.Fatalf("west's gateway: %+v", west.Gateways)
	}
	g := west.Gateways[0]
	if !g.Broken() || !slices.Equal(g.Causes, []string{"gateway.address west"}) {
		t.Errorf("west's gateway: status %s causes %v, want broken by gateway.address west", g.Status, g.Causes)
	}
	if g.Port != 15443 || !strings.Contains(g.PortList(), "15443") || !strings.Contains(g.PortList(), "15012") {
		t.Errorf("west's gateway ports: %d %s", g.Port, g.PortList())
	}
	east := m.Cluster("east")
	if len(east.Gateways) != 1 || len(east.Gateways[0].Addresses) == 0 || east.Gateways[0].Broken() {
		t.Errorf("east's gateway: %+v", east.Gateways)
	}

	// Both primaries' roots are marked by trust.root-match, and differ.
	for _, name := range []string{"east", "west"} {
		r := m.Cluster(name).Root
		if r.Source != "cacerts" || len(r.Fingerprints) != 1 || len(r.Fingerprints[0]) != 64 {
			t.Errorf("%s root: %+v", name, r)
		}
		if !slices.Contains(r.Causes, "trust.root-match mesh") || !r.Broken() {
			t.Errorf("%s root not marked by trust.root-match: %v", name, r.Problems)
		}
	}
	if m.Cluster("east").Root.Fingerprints[0] == m.Cluster("west").Root.Fingerprints[0] {
		t.Error("east and west show the same root")
	}
	if c := m.Cluster("central"); c.Root.Source != "istio-ca-root-cert" || len(c.Root.Fingerprints) == 0 || c.Root.Marked() {
		t.Errorf("central (remote) root: %+v", c.Root)
	}

	// Edges: east reads central, legacy, west; west reads central, east.
	var edges []string
	for _, e := range m.Edges {
		edges = append(edges, e.From+">"+e.ClusterID+"="+e.To)
	}
	if want := []string{"east>central=central", "east>legacy=", "east>west=west", "west>central=central", "west>east=east"}; !slices.Equal(edges, want) {
		t.Errorf("edges %v, want %v", edges, want)
	}
	legacy := m.Element("edge/east/legacy")
	if legacy == nil || !legacy.Broken() {
		t.Fatalf("the stale edge east → legacy is not broken: %+v", legacy)
	}
	if want := []string{"secrets.remote-stale east istio-remote-secret-legacy/legacy"}; !slices.Equal(legacy.Causes, want) {
		t.Errorf("legacy edge causes %v, want %v", legacy.Causes, want)
	}
	for _, k := range []string{"secrets.remote-access east istio-remote-secret-legacy/legacy", "endpoints.istiod-sync east legacy"} {
		if !slices.Contains(legacy.Problems, k) {
			t.Errorf("legacy edge lacks consequence %q: %v", k, legacy.Problems)
		}
	}
	if e := m.Element("edge/east/west"); e == nil || e.Marked() || len(e.Keys) == 0 {
		t.Errorf("edge east → west should be read and healthy: %+v", e)
	}

	// Every problem of the run is on exactly one element (twice for the
	// mesh-wide root-match, once per primary root), and the causes are
	// the demo's four (central's istiod Service without an EndpointSlice
	// and central led by no primary are its own, on central).
	var causes []string
	seen := map[string]int{}
	for _, e := range m.Elements() {
		for _, k := range e.Problems {
			seen[k]++
		}
		for _, k := range e.Causes {
			if !slices.Contains(causes, k) {
				causes = append(causes, k)
			}
		}
	}
	slices.Sort(causes)
	if want := []string{"controlplane.remote-istiod-service central", "controlplane.remote-served central", "gateway.address west", "secrets.remote-stale east istio-remote-secret-legacy/legacy", "trust.root-match mesh"}; !slices.Equal(causes, want) {
		t.Errorf("causes on the map %v, want %v", causes, want)
	}
	for _, r := range rs {
		if r.Problem() && seen[r.Key()] == 0 {
			t.Errorf("problem %q is on no element", r.Key())
		}
	}
	if n := len(m.Broken()); n < 5 {
		t.Errorf("%d broken elements, want at least 5 (2 roots, west's gateway, legacy edge, clusters with failing probes):\n%s", n, dump(m))
	}
}

func TestDeterministic(t *testing.T) {
	mm, rs := demo(t)
	a, b := dump(meshmap.Build(mm, rs)), dump(meshmap.Build(mm, rs))
	if a != b {
		t.Errorf("two builds differ:\n%s\n%s", a, b)
	}
	for i, e := range meshmap.Build(mm, rs).Elements() {
		if got := meshmap.Build(mm, rs).Element(e.ID); got == nil || got.ID != e.ID {
			t.Errorf("element %d %q not found by ID", i, e.ID)
		}
	}
}

var scenarioDir = filepath.Join("..", "..", "testdata", "scenarios")

func runScenario(t *testing.T, name string) (*mesh.Mesh, []checks.Result) {
	t.Helper()
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, name, now)
	if err != nil {
		t.Fatalf("load scenario %s: %v", name, err)
	}
	m := mesh.Build(invs)
	r := &checks.Runner{Checks: checks.Catalogue()}
	return m, r.Run(context.Background(), &checks.Env{Mesh: m, Now: now, NoNetwork: true}, nil)
}

// TestScenarioMaps: each scenario's own failure lands on the element it is
// about.
func TestScenarioMaps(t *testing.T) {
	tests := []struct {
		scenario string
		element  string // ID of the element that must be broken
		key      string // a problem key it must hold (prefix)
	}{
		{"different-roots", "root/", "trust.root-match"},
		{"gateway-address-pending", "gateway/", "gateway.address"},
		{"remote-secret-missing", "edge/", "secrets.remote-coverage"},
		{"stale-remote-secret", "edge/", "secrets.remote-stale"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			mm, rs := runScenario(t, tt.scenario)
			m := meshmap.Build(mm, rs)
			for _, e := range m.Elements() {
				if !strings.HasPrefix(e.ID, tt.element) {
					continue
				}
				for _, k := range e.Problems {
					if strings.HasPrefix(k, tt.key) {
						return
					}
				}
			}
			t.Errorf("no %s* element holds a %s problem:\n%s", tt.element, tt.key, dump(m))
		})
	}
}

func TestHealthyMapHasNoMarks(t *testing.T) {
	mm, rs := runScenario(t, "healthy-multi-primary")
	m := meshmap.Build(mm, rs)
	for _, e := range m.Elements() {
		if e.Broken() {
			t.Errorf("%s broken in a healthy mesh: %v", e.ID, e.Problems)
		}
	}
	if len(m.Edges) == 0 || len(m.Clusters()) < 2 {
		t.Errorf("healthy multi-primary map is empty:\n%s", dump(m))
	}
	for _, e := range m.Edges {
		if e.To == "" || e.Missing {
			t.Errorf("edge %s leads nowhere", e.ID)
		}
	}
}

// TestUnreachableCluster: a cluster that could not be read is on the map,
// in the network-less group, broken by contexts.reachable, without edges.
func TestUnreachableCluster(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", now)
	if err != nil {
		t.Fatal(err)
	}
	lost := invs[len(invs)-1]
	lost.Unreachable = &cluster.FetchError{Verb: "get", Resource: "version", Reason: cluster.ReasonUnreachable, Message: "dial tcp: i/o timeout"}
	mm := mesh.Build(invs)
	rs := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mm, Now: now, NoNetwork: true}, nil)
	m := meshmap.Build(mm, rs)
	last := m.Networks[len(m.Networks)-1]
	if last.Name != "" || len(last.Clusters) != 1 || last.Clusters[0].Name != lost.Context {
		t.Fatalf("unreachable %s not in the last, network-less group:\n%s", lost.Context, dump(m))
	}
	c := last.Clusters[0]
	if c.Unreachable == "" || !c.Broken() || !slices.ContainsFunc(c.Causes, func(k string) bool { return strings.HasPrefix(k, "contexts.reachable") }) {
		t.Errorf("unreachable cluster: %+v", c)
	}
	for _, e := range m.Edges {
		if e.From == lost.Context {
			t.Errorf("edge %s from a cluster that was not read", e.ID)
		}
	}
}
