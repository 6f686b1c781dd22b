package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
)

// walk calls fn on every element node under n, in document order.
func walk(n *html.Node, fn func(*html.Node)) {
	if n.Type == html.ElementNode {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

// textOf is the text content of n.
func textOf(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

// checkReportDOM asserts what a reader of the demo's page must see, on a
// parsed document (Go's HTML5 parser, or the DOM Chromium rendered): the 3
// causes first, in order, each group holding its consequences; the map as
// SVG with the three clusters, west's gateway and the stale edge drawn
// broken; and nothing that loads or runs anything.
func checkReportDOM(t *testing.T, doc *html.Node) {
	t.Helper()
	var causes []string
	consequences := map[string][]string{}
	var firstResult string
	svgClusters := map[string]string{}
	var svgs int
	walk(doc, func(n *html.Node) {
		switch {
		case n.Data == "article" && hasClass(n, "result"):
			if firstResult == "" {
				firstResult = attr(n, "data-key")
			}
			if hasClass(n, "cause") {
				causes = append(causes, attr(n, "data-key"))
			}
			if hasClass(n, "consequence") && len(causes) > 0 {
				// A consequence's group is its enclosing section.
				for p := n.Parent; p != nil; p = p.Parent {
					if p.Data == "section" && hasClass(p, "group") {
						var cause string
						walk(p, func(c *html.Node) {
							if cause == "" && c.Data == "article" && hasClass(c, "cause") {
								cause = attr(c, "data-key")
							}
						})
						consequences[cause] = append(consequences[cause], attr(n, "data-key"))
						break
					}
				}
			}
		case n.Data == "svg":
			svgs++
			walk(n, func(g *html.Node) {
				if g.Data == "g" && attr(g, "data-id") != "" {
					cls := ""
					walk(g, func(r *html.Node) {
						if cls == "" && (r.Data == "rect" || r.Data == "path") {
							cls = attr(r, "class")
						}
					})
					svgClusters[attr(g, "data-id")] = cls
				}
			})
		case n.Data == "script" || n.Data == "img" || n.Data == "iframe" || n.Data == "object" || n.Data == "embed" || n.Data == "link" && attr(n, "rel") != "":
			t.Errorf("the page has a <%s> element: %v", n.Data, n.Attr)
		}
		for _, a := range n.Attr {
			switch {
			case strings.HasPrefix(a.Key, "on"):
				t.Errorf("<%s %s=%q>: an event handler", n.Data, a.Key, a.Val)
			case (a.Key == "href" || a.Key == "src" || a.Key == "xlink:href") && !strings.HasPrefix(a.Val, "#"):
				t.Errorf("<%s %s=%q>: a link out of the page", n.Data, a.Key, a.Val)
			case strings.Contains(a.Val, "url(") && !regexp.MustCompile(`^url\(#[a-z-]+\)$`).MatchString(a.Val):
				t.Errorf("<%s %s=%q>: a url() out of the page", n.Data, a.Key, a.Val)
			}
		}
	})
	var want []string
	for _, c := range demoCauses {
		want = append(want, c.cause)
	}
	if len(causes) < len(want) || !slices.Equal(causes[:len(want)], want) || firstResult != want[0] {
		t.Errorf("causes on the page %v (first result %q), want the demo's %d first: %v", causes, firstResult, len(want), want)
	}
	for _, c := range demoCauses {
		if got := consequences[c.cause]; !slices.Equal(got, c.consequences) {
			t.Errorf("consequences under %q: %v, want %v", c.cause, got, c.consequences)
		}
	}
	if svgs == 0 {
		t.Fatal("no <svg> on the page")
	}
	for id, cls := range map[string]string{
		"cluster/central": "broken", "cluster/east": "broken", "cluster/west": "broken",
		"gateway/west/istio-system/istio-eastwestgateway": "gw broken",
		"gateway/east/istio-system/istio-eastwestgateway": "gw ok",
		"edge/east/legacy": "edge broken", "edge/east/west": "edge ok", "external/legacy": "external",
	} {
		if got, ok := svgClusters[id]; !ok || got != cls {
			t.Errorf("map element %s: class %q (drawn: %v), want %q", id, got, ok, cls)
		}
	}
	var style string
	walk(doc, func(n *html.Node) {
		if n.Data == "style" {
			style += textOf(n)
		}
	})
	if regexp.MustCompile(`@import|url\(|@font-face`).MatchString(style) {
		t.Error("the stylesheet loads something")
	}
}

func TestHTMLDemoDOM(t *testing.T) {
	d := demo(t)
	var buf bytes.Buffer
	if err := HTML(&buf, d.meta, d.rs, d.m); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	checkReportDOM(t, doc)
	out := buf.String()
	for _, w := range []string{
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
		"4 causes explain 8 failures and errors",
		`<a href="#doc-trust.root-match">docs/checks/trust.root-match.md</a>`,
		`id="doc-gateway.address"`,
		"kubectl --context east -n istio-system delete secret istio-remote-secret-legacy",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
}

// hostile is what a cluster can put into names, messages, evidence and
// commands: markup, attribute breaks, a closing </title> or </style>, a
// javascript: URL, a terminal escape and a NUL.
const hostile = `</title></style><script>alert(1)</script>"><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>` + "\x1b[2J\x00"

func hostileRun() (Meta, []checks.Result, *meshmap.Map) {
	meta := Meta{Tool: "meshdoctor", Version: hostile, Topology: hostile, Source: hostile, GeneratedAt: fixedTime,
		Contexts: []ContextInfo{{Name: hostile, ClusterID: hostile, Network: hostile, Role: "primary", Server: hostile}}}
	rs := []checks.Result{
		{CheckID: "gateway.address", Status: checks.Fail, Cluster: hostile, Target: hostile, Message: hostile,
			Evidence: []checks.Evidence{{Key: hostile, Value: hostile}}, Remediation: "kubectl get svc " + hostile, Note: hostile},
		{CheckID: "endpoints.proxy-table", Status: checks.Fail, Cluster: hostile, Message: hostile, CausedBy: []string{"gateway.address " + hostile + " " + hostile}},
		{CheckID: hostile, Status: checks.Pass, Cluster: hostile, Message: hostile},
	}
	m := &meshmap.Map{Topology: hostile, Mesh: meshmap.Element{ID: "mesh", Label: hostile}, Networks: []meshmap.Network{{
		Element: meshmap.Element{ID: "network/" + hostile, Label: hostile, Problems: []string{hostile}, Status: checks.Fail}, Name: hostile,
		Clusters: []meshmap.Cluster{{Element: meshmap.Element{ID: "cluster/" + hostile, Label: hostile, Problems: []string{rs[0].Key()}, Status: checks.Fail},
			Name: hostile, ClusterID: hostile, Role: "primary", Version: hostile,
			Root:     meshmap.Root{Fingerprints: []string{hostile}, Source: hostile},
			Gateways: []meshmap.Gateway{{Element: meshmap.Element{ID: "gateway/" + hostile}, Name: hostile, Addresses: []string{hostile}, Ignored: hostile}}}},
	}}, Edges: []meshmap.Edge{{Element: meshmap.Element{ID: "edge/" + hostile}, From: hostile, ClusterID: hostile, Secret: hostile}}}
	return meta, rs, m
}

// checkHostileDOM: the hostile strings are text on the page, never markup.
func checkHostileDOM(t *testing.T, doc *html.Node) {
	t.Helper()
	var texts int
	walk(doc, func(n *html.Node) {
		switch n.Data {
		case "script", "img", "iframe", "object", "embed":
			t.Errorf("cluster data made a <%s> element", n.Data)
		case "a":
			if h := attr(n, "href"); !strings.HasPrefix(h, "#") {
				t.Errorf("cluster data made a link to %q", h)
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("cluster data made an attribute %s", a.Key)
			}
		}
		if n.Data == "p" && strings.Contains(textOf(n), "<script>alert(1)</script>") {
			texts++
		}
	})
	if texts == 0 {
		t.Error("the hostile message is not shown as text")
	}
}

func TestHTMLEscapesClusterData(t *testing.T) {
	meta, rs, m := hostileRun()
	var buf bytes.Buffer
	if err := HTML(&buf, meta, rs, m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"<script", "<img", "<a href=\"javascript", "\x1b", "\x00"} {
		if i := strings.Index(out, bad); i >= 0 {
			t.Errorf("raw %q from cluster data at %d: %q", bad, i, out[max(i-80, 0):min(i+80, len(out))])
		}
	}
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	checkHostileDOM(t, doc)
}

// chromium returns the browser's path, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("needs chromium for the real-browser test (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

// render opens page in headless Chromium, with a fresh profile and no
// background network use, and returns the DOM it built and a screenshot.
func render(t *testing.T, browser, page string, width, height int) (*html.Node, []byte) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	// A bound that only catches a hung browser (a cold start on a busy
	// machine takes seconds).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"--screenshot="+shot, "--dump-dom", "file://"+file)
	// Chromium forks helpers: on a hang, kill the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("parse the DOM chromium dumped: %v", err)
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, stderr.String())
	}
	return doc, png
}

// TestHTMLInChromium renders the demo's report in a real browser: the DOM
// it builds has the causes first with their consequences and the map's
// SVG; the screenshot has the window's size, is not blank, and shows the
// broken elements in red.
func TestHTMLInChromium(t *testing.T) {
	browser := chromium(t)
	d := demo(t)
	var buf bytes.Buffer
	if err := HTML(&buf, d.meta, d.rs, d.m); err != nil {
		t.Fatal(err)
	}
	const width, height = 1280, 1000
	doc, shot := render(t, browser, buf.String(), width, height)
	checkReportDOM(t, doc)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("screenshot %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
	// A blank or unstyled page compresses to a few KiB; this one has text,
	// boxes and arrows.
	if len(shot) < 40<<10 {
		t.Errorf("screenshot of %d bytes: a blank page?", len(shot))
	}
	var red, total int
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 2 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			total++
			if r>>8 > 150 && g>>8 < 90 && b>>8 < 90 {
				red++
			}
		}
	}
	if red < 200 {
		t.Errorf("%d of %d sampled pixels are the red of broken elements: the marks were not drawn", red, total)
	}
	t.Logf("chromium: screenshot %d bytes, %d red samples of %d", len(shot), red, total)
}

// TestHTMLHostileInChromium: what the browser builds from hostile cluster
// data has no element, handler or link the data asked for.
func TestHTMLHostileInChromium(t *testing.T) {
	browser := chromium(t)
	meta, rs, m := hostileRun()
	var buf bytes.Buffer
	if err := HTML(&buf, meta, rs, m); err != nil {
		t.Fatal(err)
	}
	doc, _ := render(t, browser, buf.String(), 800, 600)
	checkHostileDOM(t, doc)
}

// TestHTMLMapShowsMeshProblems: a mesh-scope problem that no element owns
// (controlplane.mesh-id) heads the SVG map.
func TestHTMLMapShowsMeshProblems(t *testing.T) {
	rs := []checks.Result{{CheckID: "controlplane.mesh-id", Status: checks.Fail, Message: "meshIDs differ"}}
	m := &meshmap.Map{Mesh: meshmap.Element{ID: "mesh", Keys: []string{rs[0].Key()}, Problems: []string{rs[0].Key()}, Causes: []string{rs[0].Key()}, Status: checks.Fail},
		Networks: []meshmap.Network{{Element: meshmap.Element{ID: "network/n1"}, Name: "n1",
			Clusters: []meshmap.Cluster{{Element: meshmap.Element{ID: "cluster/a"}, Name: "a", Role: "primary"}}}}}
	var buf bytes.Buffer
	if err := HTML(&buf, Meta{Tool: "meshdoctor"}, rs, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `<text class="broken" x="16" y="28">mesh [fail: controlplane.mesh-id]</text>`) {
		t.Errorf("the map does not head with the mesh's problem:\n%s", buf.String())
	}
}
