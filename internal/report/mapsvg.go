package report

import (
	"fmt"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// svgMap is the mesh map laid out for inline SVG: one column per network
// (and one for cluster IDs the remote secrets name that are not in the
// run), clusters stacked in each column with their root and gateways inside
// their box, remote-secret edges as arrows between cluster boxes. Only
// numbers are computed here; the template writes every string, escaped.
type svgMap struct {
	Width, Height int
	// Header marks the mesh-scope problems no element owns
	// (controlplane.mesh-id, ...); empty when there are none.
	Header   svgText
	Networks []svgBox
	Clusters []svgBox
	Gateways []svgBox
	Edges    []svgEdge
}

// svgBox is a rectangle with lines of text; Title is the full text (an
// SVG <title>, the tooltip) when a line had to be shortened.
type svgBox struct {
	ID         string
	X, Y, W, H int
	Lines      []svgText
	Class      string // "ok", "warn", "broken", "external", "unreachable"
	Title      string
}

type svgText struct {
	X, Y  int
	Text  string
	Class string
}

type svgEdge struct {
	ID    string
	D     string // path data
	Class string
	Label svgText
	Title string
}

// Layout constants, in SVG user units (pixels at 100%).
const (
	svgMargin   = 16
	svgColW     = 380
	svgColGap   = 90
	svgNetHead  = 28
	svgLine     = 16
	svgPad      = 10
	svgGwH      = 3*svgLine + 8
	svgClGap    = 22
	svgMaxChars = 46
)

func elementClass(e *meshmap.Element) string {
	switch {
	case e.Broken():
		return "broken"
	case e.Marked():
		return "warn"
	}
	return "ok"
}

// svgCut shortens s to svgMaxChars columns for a box line.
func svgCut(s string, n int) string {
	s = termSafe(s, false)
	if twwidth.Width(s) <= n {
		return s
	}
	return ellipsize(s, n)
}

func layoutMap(m *meshmap.Map) svgMap {
	var out svgMap
	type place struct{ x, y, w, h int }
	boxes := map[string]place{} // cluster context or "external/<id>" → its box
	top := svgMargin
	if mk := mapMark(&m.Mesh); mk != "" {
		out.Header = svgText{X: svgMargin, Y: svgMargin + 12, Text: svgCut("mesh "+mk, 2*svgMaxChars), Class: elementClass(&m.Mesh)}
		top += svgLine + 8
	}
	maxH := top
	x := svgMargin
	addColumn := func(label, id, class, title string, items func(y int) int) {
		y := top + svgNetHead
		end := items(y)
		h := max(end-top+svgPad, svgNetHead+svgLine)
		out.Networks = append(out.Networks, svgBox{ID: termSafe(id, false), X: x, Y: top, W: svgColW, H: h, Class: class, Title: title,
			Lines: []svgText{{X: x + svgPad, Y: top + 18, Text: svgCut(label, svgMaxChars), Class: "net"}}})
		maxH = max(maxH, top+h)
		x += svgColW + svgColGap
	}
	for i := range m.Networks {
		n := &m.Networks[i]
		label := "network " + n.Name
		if n.Name == "" {
			label = "no network"
		}
		if mk := mapMark(&n.Element); mk != "" {
			label += " " + mk
		}
		addColumn(label, n.Element.ID, "net-"+elementClass(&n.Element), termSafe(label, false), func(y int) int {
			for j := range n.Clusters {
				c := &n.Clusters[j]
				bx, bw := x+svgPad, svgColW-2*svgPad
				lines := []string{c.Name}
				var classes []string
				classes = append(classes, "name")
				if c.Unreachable != "" {
					lines = append(lines, "unreachable")
					classes = append(classes, "broken")
				} else {
					lines = append(lines, strings.TrimSpace(c.Role+" "+c.Version), rootText(&c.Root))
					classes = append(classes, "", elementClass(&c.Root.Element))
					if mk := mapMark(&c.Root.Element); mk != "" {
						lines = append(lines, mk)
						classes = append(classes, elementClass(&c.Root.Element))
					}
				}
				if mk := mapMark(&c.Element); mk != "" {
					lines = append(lines, mk)
					classes = append(classes, elementClass(&c.Element))
				}
				h := svgPad + len(lines)*svgLine + svgPad/2
				gy := y + h
				h += len(c.Gateways) * (svgGwH + svgPad/2)
				box := svgBox{ID: termSafe(c.Element.ID, false), X: bx, Y: y, W: bw, H: h, Class: elementClass(&c.Element)}
				if c.Unreachable != "" {
					box.Class = "unreachable"
				}
				var full []string
				for k, l := range lines {
					full = append(full, termSafe(l, false))
					box.Lines = append(box.Lines, svgText{X: bx + svgPad, Y: y + svgPad + (k+1)*svgLine - 4, Text: svgCut(l, svgMaxChars), Class: classes[k]})
				}
				box.Title = strings.Join(full, "\n")
				out.Clusters = append(out.Clusters, box)
				boxes[c.Name] = place{bx, y, bw, h}
				for k := range c.Gateways {
					g := &c.Gateways[k]
					gx, gw := bx+svgPad, bw-2*svgPad
					gl := []string{"gateway " + g.Name, gatewayAddress(g) + " (ports " + g.PortList() + ")"}
					if mk := mapMark(&g.Element); mk != "" {
						gl = append(gl, mk)
					} else if g.Ignored != "" {
						gl = append(gl, "ignored by istiod: "+g.Ignored)
					}
					gb := svgBox{ID: termSafe(g.Element.ID, false), X: gx, Y: gy, W: gw, H: svgGwH, Class: elementClass(&g.Element)}
					var gfull []string
					for li, l := range gl {
						gfull = append(gfull, termSafe(l, false))
						gb.Lines = append(gb.Lines, svgText{X: gx + 8, Y: gy + (li+1)*svgLine, Text: svgCut(l, svgMaxChars-3), Class: gatewayLineClass(li, &g.Element)})
					}
					gb.Title = strings.Join(gfull, "\n")
					out.Gateways = append(out.Gateways, gb)
					gy += svgGwH + svgPad/2
				}
				y += h + svgClGap
			}
			return y
		})
	}
	// Cluster IDs the secrets name that no cluster of the run has.
	var external []string
	for _, e := range m.Edges {
		if e.To == "" && !containsString(external, e.ClusterID) {
			external = append(external, e.ClusterID)
		}
	}
	if len(external) > 0 {
		addColumn("not in this run", "external", "net-external", "cluster IDs named by remote secrets that no context of the run has", func(y int) int {
			for _, id := range external {
				bx, bw := x+svgPad, svgColW-2*svgPad
				h := svgPad + 2*svgLine + svgPad/2
				out.Clusters = append(out.Clusters, svgBox{ID: termSafe("external/"+id, false), X: bx, Y: y, W: bw, H: h, Class: "external", Title: termSafe(id, false),
					Lines: []svgText{{X: bx + svgPad, Y: y + svgPad + svgLine - 4, Text: svgCut(id, svgMaxChars), Class: "name"},
						{X: bx + svgPad, Y: y + svgPad + 2*svgLine - 4, Text: "cluster ID of a remote secret"}}})
				boxes["external/"+id] = place{bx, y, bw, h}
				y += h + svgClGap
			}
			return y
		})
	}
	// Edges: source box to target box; within one column, an arc on the
	// right; each edge of a pair gets its own offset so arrows do not
	// cover each other.
	column := func(p place) int { return (p.x - svgMargin) / (svgColW + svgColGap) }
	for i := range m.Edges {
		e := &m.Edges[i]
		from, ok := boxes[e.From]
		if !ok {
			continue
		}
		toKey := e.To
		if toKey == "" {
			toKey = "external/" + e.ClusterID
		}
		to, ok := boxes[toKey]
		if !ok {
			continue
		}
		off := (i%5)*6 - 12
		fy, ty := from.y+from.h/2+off, to.y+to.h/2+off
		var x1, c1, c2, x2 int
		switch fc, tc := column(from), column(to); {
		case fc < tc:
			x1, x2 = from.x+from.w, to.x
			c1, c2 = x1+40, x2-40
		case fc > tc:
			x1, x2 = from.x, to.x+to.w
			c1, c2 = x1-40, x2+40
		default:
			bulge := 30 + (i%4)*12
			x1, x2 = from.x+from.w, from.x+from.w
			c1, c2 = x1+bulge, x1+bulge
		}
		d := fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, fy, c1, fy, c2, ty, x2, ty)
		// The status badge sits near the target end (t = 0.8), in the gap
		// between columns rather than over a box.
		t := 0.8
		if x1 == x2 {
			t = 0.5
		}
		lx := bezier(t, x1, c1, c2, x2)
		ly := bezier(t, fy, fy, ty, ty) - 5
		label := ""
		if e.Marked() {
			label = e.Status.String()
		}
		if e.Missing {
			label = "no secret"
		}
		class := elementClass(&e.Element)
		if e.Missing {
			class += " missing"
		}
		title := edgeText(e)
		if mk := mapMark(&e.Element); mk != "" {
			title += " " + mk
		}
		out.Edges = append(out.Edges, svgEdge{ID: termSafe(e.Element.ID, false), D: d, Class: class, Title: termSafe(title, false),
			Label: svgText{X: lx, Y: ly, Text: label, Class: "badge " + elementClass(&e.Element)}})
	}
	out.Width = max(x-svgColGap+svgMargin, 2*svgMargin+svgColW)
	out.Height = maxH + svgMargin
	return out
}

// gatewayLineClass styles a gateway box's lines: its name bold, its mark
// (the third line) in the element's colour.
func gatewayLineClass(line int, e *meshmap.Element) string {
	switch {
	case line == 0:
		return "gwname"
	case line == 2 && e.Marked():
		return elementClass(e)
	}
	return ""
}

// bezier is one coordinate of a cubic Bézier curve at t, rounded.
func bezier(t float64, p0, p1, p2, p3 int) int {
	u := 1 - t
	v := u*u*u*float64(p0) + 3*u*u*t*float64(p1) + 3*u*t*t*float64(p2) + t*t*t*float64(p3)
	return int(v + 0.5)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
