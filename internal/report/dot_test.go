package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// dotStatement matches the statements Dot writes, one per line: a node,
// an edge, a subgraph's opening or its attributes, a closing brace.
var (
	dotQuoted = `"(?:[^"\\]|\\.)*"`
	dotNode   = regexp.MustCompile(`^\s*(` + dotQuoted + `) \[(.*)\];$`)
	dotEdge   = regexp.MustCompile(`^\s*(` + dotQuoted + `) -> (` + dotQuoted + `) \[(.*)\];$`)
	dotOther  = regexp.MustCompile(`^\s*(digraph meshdoctor \{|subgraph ` + dotQuoted + ` \{|\}|(graph|node|edge) \[.*\];|label=` + dotQuoted + `; style=dashed;.*)$`)
)

// parseDot checks the structure of Dot's output without Graphviz: every
// line one statement, every edge between declared nodes, braces balanced.
// It returns the declared node IDs and the edges (from → to).
func parseDot(t *testing.T, out string) (nodes map[string]string, edges [][2]string) {
	t.Helper()
	nodes = map[string]string{}
	depth := 0
	for i, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		switch {
		case dotEdge.MatchString(l):
			m := dotEdge.FindStringSubmatch(l)
			edges = append(edges, [2]string{m[1], m[2]})
		case dotNode.MatchString(l):
			m := dotNode.FindStringSubmatch(l)
			nodes[m[1]] = m[2]
		case dotOther.MatchString(l):
			depth += strings.Count(l, "{") - strings.Count(l, "}")
		default:
			t.Fatalf("line %d is no statement Dot writes: %q", i+1, l)
		}
	}
	if depth != 0 {
		t.Fatalf("braces unbalanced (%d)", depth)
	}
	for _, e := range edges {
		for _, n := range e {
			if _, ok := nodes[n]; !ok {
				t.Errorf("edge %s -> %s: node %s not declared", e[0], e[1], n)
			}
		}
	}
	return nodes, edges
}

func TestDotDemo(t *testing.T) {
	d := demo(t)
	var buf bytes.Buffer
	if err := Dot(&buf, d.meta, d.rs, d.m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	nodes, edges := parseDot(t, out)
	for _, id := range []string{`"cluster/central"`, `"cluster/east"`, `"cluster/west"`, `"external/legacy"`,
		`"gateway/east/istio-system/istio-eastwestgateway"`, `"gateway/west/istio-system/istio-eastwestgateway"`} {
		if _, ok := nodes[id]; !ok {
			t.Errorf("no node %s", id)
		}
	}
	if a := nodes[`"gateway/west/istio-system/istio-eastwestgateway"`]; !strings.Contains(a, `color="#c0392b"`) || !strings.Contains(a, `[fail: gateway.address]`) {
		t.Errorf("west's gateway is not drawn broken: %s", a)
	}
	if a := nodes[`"gateway/east/istio-system/istio-eastwestgateway"`]; strings.Contains(a, "color=") {
		t.Errorf("east's healthy gateway is drawn marked: %s", a)
	}
	var secretEdges int
	for _, e := range edges {
		if !strings.HasPrefix(e[1], `"gateway/`) {
			secretEdges++
		}
	}
	if secretEdges != len(d.m.Edges) {
		t.Errorf("%d remote-secret edges drawn, the map has %d", secretEdges, len(d.m.Edges))
	}
	if !regexp.MustCompile(`(?m)^  "cluster/east" -> "external/legacy" \[.*color="#c0392b"`).MatchString(out) {
		t.Errorf("the stale edge east → legacy is not drawn broken:\n%s", out)
	}
	if !strings.Contains(out, `subgraph "cluster_0"`) || !strings.Contains(out, `label="network network1"`) || !strings.Contains(out, `label="network network2"`) {
		t.Errorf("networks are not subgraph clusters:\n%s", out)
	}
	graphviz(t, out, "central", "east", "west", "legacy", "[fail: gateway.address]")
}

// graphviz renders the graph with the real dot when it is installed
// (apt-get install graphviz; .ci/run installs it) and checks the SVG holds
// the texts want.
func graphviz(t *testing.T, src string, want ...string) {
	t.Helper()
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Logf("dot not installed (apt-get install graphviz): only the structure was checked: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	svg, err := cmd.Output()
	if err != nil {
		t.Fatalf("dot -Tsvg: %v\n%s", err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "Error") || strings.Contains(s, "syntax") {
		t.Errorf("dot -Tsvg complained:\n%s", s)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Errorf("dot's SVG is not XML: %v", err)
	}
	for _, w := range want {
		if !bytes.Contains(svg, []byte(w)) {
			t.Errorf("dot's SVG lacks the text %q", w)
		}
	}
}

// TestDotHostileStrings: cluster data cannot end a DOT string, add
// attributes or statements, or form Graphviz escapes.
func TestDotHostileStrings(t *testing.T) {
	evil := "x\" ]; \"cluster/pwn\" [label=\"owned\\N\x1b[2J\nsecond"
	m := &meshmap.Map{Topology: "multi-primary", Networks: []meshmap.Network{{
		Element: meshmap.Element{ID: "network/" + evil, Kind: meshmap.KindNetwork},
		Name:    evil,
		Clusters: []meshmap.Cluster{
			{Element: meshmap.Element{ID: "cluster/" + evil, Status: checks.Fail, Problems: []string{"trust.root-match " + evil}}, Name: evil, Role: "primary",
				Gateways: []meshmap.Gateway{{Element: meshmap.Element{ID: "gateway/" + evil}, Name: evil, Addresses: []string{evil}, Port: 15443}}},
			{Element: meshmap.Element{ID: "cluster/east"}, Name: "east", Role: "primary"},
		},
	}}, Edges: []meshmap.Edge{{Element: meshmap.Element{ID: "edge/east/" + evil}, From: "east", ClusterID: evil, Secret: evil}}}
	var buf bytes.Buffer
	if err := Dot(&buf, Meta{Tool: "meshdoctor", Version: evil}, nil, m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	nodes, _ := parseDot(t, out)
	if _, ok := nodes[`"cluster/pwn"`]; ok {
		t.Errorf("cluster data declared a node:\n%s", out)
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, `\N`) && !strings.Contains(out, `\\N`) {
		t.Errorf("escape or Graphviz escape from cluster data passed:\n%s", out)
	}
	// Graphviz draws the text as text: the quote and the \N arrive.
	graphviz(t, out, "east", "owned\\N\\x1b[2J")
}
