package report

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// writeMap prints the mesh map as an indented tree under the contexts
// table: networks, their clusters with the root they trust, each cluster's
// east-west gateways with address and ports, then the remote-secret edges.
// An element a problem concerns ends in "[fail: check.id, ...]" (its
// causes first). With a width, a line that does not fit is cut with an
// ellipsis and its mark moves, wrapped, to indented lines under it.
func writeMap(buf *bytes.Buffer, m *meshmap.Map, color bool, width int) {
	line := func(indent int, text string, e *meshmap.Element) {
		pad := strings.Repeat("  ", indent)
		text = termSafe(text, false)
		mark := mapMark(e)
		full := pad + text
		if mark != "" {
			full += "  " + mark
		}
		if width <= 0 || twwidth.Width(full) <= width {
			buf.WriteString(colorMark(full, mark, e, color) + "\n")
			return
		}
		buf.WriteString(ellipsize(pad+text, width) + "\n")
		if mark == "" {
			return
		}
		under := pad + messageIndent
		lines := strings.Split(wrap(mark, max(width-len(under), minMessageWidth/2)), "\n")
		for i, l := range lines {
			l = under + l
			if len(lines) == 1 {
				l = colorMark(l, mark, e, color)
			} else if color && e != nil {
				l = under + colorize(statusColor(e.Status), strings.TrimPrefix(l, under))
			}
			if i > 0 {
				l = under + " " + strings.TrimPrefix(l, under)
			}
			buf.WriteString(l + "\n")
		}
	}
	line(0, "Mesh map ("+orDash(m.Topology)+"):", &m.Mesh)
	for i := range m.Networks {
		n := &m.Networks[i]
		title := "network " + n.Name
		if n.Name == "" {
			title = "no network (unlabelled or unreachable)"
		}
		line(1, title, &n.Element)
		for j := range n.Clusters {
			c := &n.Clusters[j]
			line(2, clusterText(c), &c.Element)
			if c.Unreachable != "" {
				continue
			}
			line(3, rootText(&c.Root), &c.Root.Element)
			for k := range c.Gateways {
				line(3, gatewayText(&c.Gateways[k]), &c.Gateways[k].Element)
			}
		}
	}
	if len(m.Edges) > 0 {
		line(1, "remote secrets (whose istiod reads which API server):", nil)
		for i := range m.Edges {
			line(2, edgeText(&m.Edges[i]), &m.Edges[i].Element)
		}
	}
}

func clusterText(c *meshmap.Cluster) string {
	var b strings.Builder
	b.WriteString("cluster " + c.Name)
	if c.Unreachable != "" {
		b.WriteString(" unreachable: " + c.Unreachable)
		return b.String()
	}
	var facts []string
	if c.Role != "" {
		facts = append(facts, c.Role)
	}
	if c.ClusterID != "" && c.ClusterID != c.Name {
		facts = append(facts, "ID "+c.ClusterID)
	}
	if c.Version != "" {
		facts = append(facts, c.Version)
	}
	if len(c.Aliases) > 0 {
		facts = append(facts, "also "+strings.Join(c.Aliases, ", "))
	}
	if len(facts) > 0 {
		b.WriteString(" (" + strings.Join(facts, ", ") + ")")
	}
	return b.String()
}

func rootText(r *meshmap.Root) string {
	if len(r.Fingerprints) == 0 {
		return "root: none read"
	}
	short := make([]string, len(r.Fingerprints))
	for i, fp := range r.Fingerprints {
		short[i] = meshmap.Fingerprint16(fp)
	}
	return fmt.Sprintf("root sha256 %s (%s)", strings.Join(short, ","), r.Source)
}

// gatewayAddress is "10.0.0.1:15443,10.0.0.2:15443" (the addresses remote
// clusters dial, on the dialled port) or "no address".
func gatewayAddress(g *meshmap.Gateway) string {
	if len(g.Addresses) == 0 {
		return "no address"
	}
	as := make([]string, len(g.Addresses))
	for i, a := range g.Addresses {
		as[i] = a
		if g.Port > 0 {
			as[i] = net.JoinHostPort(a, strconv.Itoa(g.Port))
		}
	}
	return strings.Join(as, ",")
}

func gatewayText(g *meshmap.Gateway) string {
	s := fmt.Sprintf("gateway %s %s", g.Name, gatewayAddress(g))
	if len(g.Ports) > 0 {
		s += " (ports " + g.PortList() + ")"
	}
	if g.Ignored != "" {
		s += " ignored by istiod: " + g.Ignored
	}
	return s
}

func edgeText(e *meshmap.Edge) string {
	to := e.To
	switch {
	case to == "":
		to = e.ClusterID + " (not in this run)"
	case to != e.ClusterID:
		to += " (ID " + e.ClusterID + ")"
	}
	if e.Missing {
		return e.From + " → " + to + ": no remote secret"
	}
	return e.From + " → " + to + " via " + e.Secret
}

// mapMark is "[fail: a.b; consequences: c.d, e.f]": the element's worst
// status, the check IDs of the causes among its problems, then of the
// problems other problems explain; "" when no problem concerns it.
func mapMark(e *meshmap.Element) string {
	if e == nil || !e.Marked() {
		return ""
	}
	var causes, conseq []string
	add := func(list *[]string, key string) {
		id, _, _ := strings.Cut(key, " ")
		if !containsString(causes, id) && !containsString(conseq, id) {
			*list = append(*list, id)
		}
	}
	for _, k := range e.Causes {
		add(&causes, k)
	}
	for _, k := range e.Problems {
		add(&conseq, k)
	}
	var parts []string
	if len(causes) > 0 {
		parts = append(parts, strings.Join(causes, ", "))
	}
	if len(conseq) > 0 {
		word := "consequences"
		if len(conseq) == 1 {
			word = "consequence"
		}
		parts = append(parts, word+" "+strings.Join(conseq, ", "))
	}
	return "[" + e.Status.String() + ": " + termSafe(strings.Join(parts, "; "), false) + "]"
}

func colorMark(line, mark string, e *meshmap.Element, color bool) string {
	if !color || mark == "" || e == nil {
		return line
	}
	cut := strings.LastIndex(line, mark)
	if cut < 0 {
		return line
	}
	return line[:cut] + colorize(statusColor(e.Status), mark) + line[cut+len(mark):]
}
