package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/meshdoctor/meshdoctor/docs"
	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

//go:embed html.tmpl
var htmlTemplate string

// htmlPageTemplate is parsed once; html/template escapes every value by its
// context (text, attribute, SVG text), and the page has no script at all.
var htmlPageTemplate = template.Must(template.New("report").Parse(htmlTemplate))

// HTML writes one self-contained page (what people attach to an incident
// ticket): the run's summary, the mesh map as inline SVG, the causes each
// with its consequences under it (evidence, note, remediation), the
// remaining results, and the documentation page of every check a problem
// names, embedded so that the links work offline. The page loads nothing:
// no script, no external CSS, fonts or images, and a Content-Security-Policy
// of default-src 'none' says so to the browser. Everything from clusters is
// escaped by html/template, after termSafe.
func HTML(w io.Writer, meta Meta, rs []checks.Result, m *meshmap.Map) error {
	p := buildHTMLPage(meta, rs, m)
	if err := htmlPageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

type htmlPage struct {
	Tool, Version, Topology, Source, Generated, Hostname string
	Summary                                              Summary
	SummaryLine, Explained                               string
	Contexts                                             []ContextInfo
	Map                                                  *svgMap
	Elements                                             []htmlElement
	Groups                                               []htmlGroup
	All                                                  []htmlResult
	Docs                                                 []htmlDoc
}

// htmlGroup is a cause and the problems it explains.
type htmlGroup struct {
	Cause        htmlResult
	Consequences []htmlResult
	// Unexplained marks the group of problems whose causes are not in the
	// report (none, unless results were filtered).
	Unexplained bool
}

type htmlResult struct {
	Anchor, Key, Status, CheckID, Subject, Message string
	Evidence                                       []checks.Evidence
	Note, Remediation                              string
	CausedBy                                       []htmlLink
	Explains                                       int
	DocPath, DocAnchor                             string
}

type htmlLink struct{ Text, Anchor string }

type htmlElement struct {
	ID, Kind, Label, Status, Class string
	Problems                       []htmlLink
}

type htmlDoc struct {
	ID, Anchor, Path, Text string
}

func safe(s string) string { return termSafe(s, true) }

func buildHTMLPage(meta Meta, rs []checks.Result, m *meshmap.Map) htmlPage {
	sum := Summarize(rs)
	p := htmlPage{
		Tool: safe(nonEmpty(meta.Tool, "meshdoctor")), Version: safe(meta.Version), Topology: safe(meta.Topology),
		Source: safe(meta.Source), Hostname: safe(meta.Hostname),
		Summary: sum, SummaryLine: sum.String(), Explained: sum.Explained(),
	}
	if !meta.GeneratedAt.IsZero() {
		p.Generated = meta.GeneratedAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	for _, c := range meta.Contexts {
		p.Contexts = append(p.Contexts, ContextInfo{Name: safe(c.Name), Server: safe(c.Server), ClusterID: safe(c.ClusterID),
			Network: safe(c.Network), Role: safe(c.Role), Version: safe(c.Version)})
	}
	anchors := map[string]string{}
	for i, r := range rs {
		if _, dup := anchors[r.Key()]; !dup {
			anchors[r.Key()] = fmt.Sprintf("r%d", i+1)
		}
	}
	link := func(key string) htmlLink { return htmlLink{Text: safe(key), Anchor: anchors[key]} }
	docIDs := []string{}
	result := func(r checks.Result) htmlResult {
		h := htmlResult{Anchor: anchors[r.Key()], Key: safe(r.Key()), Status: r.Status.String(), CheckID: safe(r.CheckID),
			Subject: safe(r.Subject()), Message: safe(r.Message), Note: safe(r.Note), Remediation: safe(r.Remediation)}
		for _, e := range r.Evidence {
			h.Evidence = append(h.Evidence, checks.Evidence{Key: safe(e.Key), Value: safe(e.Value)})
		}
		for _, k := range r.CausedBy {
			h.CausedBy = append(h.CausedBy, link(k))
		}
		if d := docs.Path(r.CheckID); d != "" {
			h.DocPath, h.DocAnchor = d, "doc-"+r.CheckID
			if r.Problem() && !containsString(docIDs, r.CheckID) {
				docIDs = append(docIDs, r.CheckID)
			}
		}
		return h
	}
	for _, g := range causeGroups(rs) {
		hg := htmlGroup{Unexplained: g.unexplained}
		if !g.unexplained {
			hg.Cause = result(g.cause)
			hg.Cause.Explains = len(g.consequences)
		}
		for _, c := range g.consequences {
			hg.Consequences = append(hg.Consequences, result(c))
		}
		p.Groups = append(p.Groups, hg)
	}
	for _, r := range rs {
		if r.Status == checks.Pass || r.Status == checks.Skipped {
			p.All = append(p.All, result(r))
		}
	}
	if m != nil {
		sm := layoutMap(m)
		p.Map = &sm
		for _, e := range m.Elements() {
			he := htmlElement{ID: safe(e.ID), Kind: string(e.Kind), Label: safe(e.Label), Status: e.Status.String(), Class: elementClass(e)}
			for _, k := range e.Problems {
				he.Problems = append(he.Problems, link(k))
			}
			p.Elements = append(p.Elements, he)
		}
	}
	for _, id := range docIDs {
		page, _ := docs.Page(id)
		p.Docs = append(p.Docs, htmlDoc{ID: id, Anchor: "doc-" + id, Path: docs.Path(id), Text: string(page)})
	}
	return p
}

type causeGroup struct {
	cause        checks.Result
	consequences []checks.Result
	unexplained  bool
}

// causeGroups splits CausesFirst's order into its groups: each problem
// that no other explains with the problems listed under it, then (if any)
// one group of problems whose causes are not among rs.
func causeGroups(rs []checks.Result) []causeGroup {
	byKey := map[string]checks.Result{}
	for _, r := range rs {
		if _, dup := byKey[r.Key()]; !dup {
			byKey[r.Key()] = r
		}
	}
	// reaches reports whether cause is found from r through CausedBy.
	reaches := func(r checks.Result, cause string) bool {
		seen := map[string]bool{}
		queue := append([]string(nil), r.CausedBy...)
		for len(queue) > 0 {
			k := queue[0]
			queue = queue[1:]
			if k == cause {
				return true
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			if c, ok := byKey[k]; ok {
				queue = append(queue, c.CausedBy...)
			}
		}
		return false
	}
	var out []causeGroup
	var lost causeGroup
	lost.unexplained = true
	for _, o := range CausesFirst(rs) {
		switch {
		case !o.Problem():
		case !o.Consequence:
			out = append(out, causeGroup{cause: o.Result})
		case len(out) > 0 && reaches(o.Result, out[len(out)-1].cause.Key()):
			out[len(out)-1].consequences = append(out[len(out)-1].consequences, o.Result)
		default:
			lost.consequences = append(lost.consequences, o.Result)
		}
	}
	if len(lost.consequences) > 0 {
		out = append(out, lost)
	}
	return out
}
