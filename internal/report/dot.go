package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// Dot writes the mesh map as a Graphviz digraph (`meshdoctor check -o dot |
// dot -Tsvg > mesh.svg`): one subgraph cluster per network, a box per
// cluster with its role and root, a node per east-west gateway joined to
// its cluster, and an arrow per remote secret from the cluster whose istiod
// reads it to the cluster it reads (a dashed node for a cluster ID not in
// the run). Elements a problem concerns are drawn red (failure, error) or
// orange (warning), their labels naming the checks. Node IDs are the map's
// element IDs. Every string from a cluster is escaped (dotQuote).
func Dot(w io.Writer, meta Meta, rs []checks.Result, m *meshmap.Map) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	sum := Summarize(rs)
	title := fmt.Sprintf("%s %s: %s mesh, %s", nonEmpty(meta.Tool, "meshdoctor"), meta.Version, orDash(m.Topology), sum.String())
	if sum.Causes > 0 {
		title += fmt.Sprintf("; %d causes", sum.Causes)
	}
	p("digraph meshdoctor {\n")
	p("  graph [rankdir=LR, compound=true, fontname=\"Helvetica\", labelloc=t, label=%s];\n", dotQuote(title+markLine(&m.Mesh)))
	p("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n")
	p("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for i := range m.Networks {
		n := &m.Networks[i]
		label := "network " + n.Name
		if n.Name == "" {
			label = "no network"
		}
		p("  subgraph %s {\n", dotQuote(fmt.Sprintf("cluster_%d", i)))
		p("    label=%s; style=dashed;%s\n", dotQuote(label+markLine(&n.Element)), dotColor(&n.Element))
		for j := range n.Clusters {
			c := &n.Clusters[j]
			lines := []string{c.Name}
			if c.Unreachable != "" {
				lines = append(lines, "unreachable")
			} else {
				lines = append(lines, strings.TrimSpace(c.Role+" "+c.Version), rootText(&c.Root)+markLine(&c.Root.Element))
			}
			e := c.Element
			if c.Root.Status.Weight() > e.Status.Weight() {
				e.Status = c.Root.Status
			}
			p("    %s [label=%s%s];\n", dotQuote(c.Element.ID), dotQuote(strings.Join(lines, "\n")+markLine(&c.Element)), dotColor(&e))
			for k := range c.Gateways {
				g := &c.Gateways[k]
				addr := "no address"
				if len(g.Addresses) > 0 {
					addr = strings.Join(g.Addresses, ", ")
				}
				glabel := fmt.Sprintf("%s\n%s\nport %d (%s)", g.Name, addr, g.Port, g.PortList())
				p("    %s [shape=cds, style=\"\", label=%s%s];\n", dotQuote(g.Element.ID), dotQuote(glabel+markLine(&g.Element)), dotColor(&g.Element))
				p("    %s -> %s [arrowhead=none, style=dotted];\n", dotQuote(c.Element.ID), dotQuote(g.Element.ID))
			}
		}
		p("  }\n")
	}
	external := map[string]bool{}
	for i := range m.Edges {
		e := &m.Edges[i]
		to := "cluster/" + e.To
		if e.To == "" {
			to = "external/" + e.ClusterID
			if !external[to] {
				external[to] = true
				p("  %s [style=dashed, label=%s];\n", dotQuote(to), dotQuote(e.ClusterID+"\nnot in this run"))
			}
		}
		label := e.Secret
		style := "solid"
		if e.Missing {
			label, style = "no remote secret", "dashed"
		}
		p("  %s -> %s [label=%s, style=%s%s];\n", dotQuote("cluster/"+e.From), dotQuote(to), dotQuote(label+markLine(&e.Element)), style, dotColor(&e.Element))
	}
	p("}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write dot report: %w", err)
	}
	return nil
}

// markLine is "\n[fail: check.id]" for a marked element, "" otherwise.
func markLine(e *meshmap.Element) string {
	if mk := mapMark(e); mk != "" {
		return "\n" + mk
	}
	return ""
}

// dotColor is the attribute list tail that colours a marked element.
func dotColor(e *meshmap.Element) string {
	switch {
	case e.Broken():
		return ` color="#c0392b", fontcolor="#c0392b", penwidth=2`
	case e.Marked():
		return ` color="#d68910", fontcolor="#d68910", penwidth=2`
	}
	return ""
}

// dotQuote makes s one DOT quoted string: control characters shown as
// \xNN (termSafe, newlines kept and drawn as line breaks), backslashes
// doubled so that cluster data cannot form Graphviz escapes (\N, \G, \l),
// and quotes escaped.
func dotQuote(s string) string {
	s = termSafe(s, true)
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}
