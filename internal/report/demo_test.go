package report

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// The demo's 5 causes (4 failures, 1 warning) and, under each, the problems it explains, in the
// order every output must show them (README, issue 17).
var demoCauses = []struct {
	cause        string
	consequences []string
}{
	{"trust.root-match mesh", []string{"probes.cross-cluster west http://helloworld.sample.svc.cluster.local:5000/hello"}},
	{"gateway.address west", []string{
		"endpoints.proxy-table central outbound|5000||helloworld.sample.svc.cluster.local",
		"endpoints.proxy-table east outbound|5000||helloworld.sample.svc.cluster.local"}},
	// central's hand-written istiod Service has no EndpointSlice, and no
	// primary leads central (a warning: its root is in place today).
	{"controlplane.remote-istiod-service central", nil},
	{"controlplane.remote-served central", nil},
	{"secrets.remote-stale east istio-remote-secret-legacy/legacy", []string{
		"secrets.remote-access east istio-remote-secret-legacy/legacy",
		"endpoints.istiod-sync east legacy"}},
}

// demoOrder is demoCauses flattened: cause, its consequences, next cause.
func demoOrder() []string {
	var out []string
	for _, c := range demoCauses {
		out = append(out, c.cause)
		out = append(out, c.consequences...)
	}
	return out
}

type demoRun struct {
	meta Meta
	rs   []checks.Result
	m    *meshmap.Map
}

var (
	demoOnce   sync.Once
	demoCached demoRun
	demoErr    error
)

// demo runs the catalogue on testdata/demo/mesh.tar.gz as `meshdoctor check
// --from` does, with the fixture's fixed version, time and host so that the
// goldens are stable.
func demo(t *testing.T) demoRun {
	t.Helper()
	demoOnce.Do(func() {
		const file = "testdata/demo/mesh.tar.gz"
		f, err := os.Open(filepath.Join("..", "..", file))
		if err != nil {
			demoErr = err
			return
		}
		defer f.Close()
		s, err := snapshot.Read(f)
		if err != nil {
			demoErr = err
			return
		}
		m := mesh.Build(s.Inventories)
		env := &checks.Env{Mesh: m, Probes: checks.ProbeSettings{Requests: 10, Timeout: 3 * time.Second}}
		s.ReplayInto(env)
		rs := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), env, nil)
		for i := range rs {
			rs[i].Duration = 0 // wall-clock: not part of a golden
		}
		meta := Meta{Tool: "meshdoctor", Version: "v0.4.0", GeneratedAt: fixedTime, Hostname: "ci-runner-7",
			Source:   "snapshot " + file + " taken " + s.Manifest.TakenAt.Format(time.RFC3339) + " from " + s.Manifest.Vantage,
			Topology: m.Topology()}
		for _, c := range m.Clusters {
			meta.Contexts = append(meta.Contexts, ContextInfo{Name: c.Name, Server: c.Inv.Server, ClusterID: c.ID, Network: c.Network, Role: string(c.Role), Version: c.Version})
		}
		demoCached = demoRun{meta: meta, rs: rs, m: meshmap.Build(m, rs)}
	})
	if demoErr != nil {
		t.Fatalf("run the demo: %v", demoErr)
	}
	return demoCached
}

// TestDemoGoldens writes the demo in every format: the goldens are what a
// reader of the README sees, and they change only with -update.
func TestDemoGoldens(t *testing.T) {
	d := demo(t)
	tests := []struct {
		golden string
		write  func(*bytes.Buffer) error
	}{
		{"report-demo-table.txt", func(b *bytes.Buffer) error { return Table(b, d.meta, d.rs, TableOptions{Map: d.m}) }},
		{"report-demo-table-100.txt", func(b *bytes.Buffer) error { return Table(b, d.meta, d.rs, TableOptions{Map: d.m, Width: 100}) }},
		{"report-demo-short-80.txt", func(b *bytes.Buffer) error {
			return Table(b, d.meta, d.rs, TableOptions{Map: d.m, Width: 80, Short: true})
		}},
		{"report-demo.json", func(b *bytes.Buffer) error { return JSON(b, d.meta, d.rs) }},
		{"report-demo-junit.xml", func(b *bytes.Buffer) error { return JUnit(b, d.meta, d.rs, JUnitOptions{}) }},
		{"report-demo.html", func(b *bytes.Buffer) error { return HTML(b, d.meta, d.rs, d.m) }},
		{"report-demo.dot", func(b *bytes.Buffer) error { return Dot(b, d.meta, d.rs, d.m) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}

// tableKeys reads the result rows of a table (the lines after the STATUS
// header, up to the first blank line) back into result keys, in order.
func tableKeys(t *testing.T, out string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "\nSTATUS ")
	if !ok {
		t.Fatalf("no results table:\n%s", out)
	}
	rest, _, _ = strings.Cut(rest, "\n\n")
	row := regexp.MustCompile(`^(pass|warn|fail|skipped|error)\s+(└ )?(\S+)\s+(.*?)\s{3,}`)
	var keys []string
	for _, l := range strings.Split(rest, "\n")[1:] {
		if m := row.FindStringSubmatch(l); m != nil {
			keys = append(keys, m[3]+" "+m[4])
		}
	}
	return keys
}

// TestDemoTableCausesFirst: the table lists the 3 causes first, each
// followed by its consequences (marked └), before any other row; and the
// header's map marks the broken elements.
func TestDemoTableCausesFirst(t *testing.T) {
	d := demo(t)
	var buf bytes.Buffer
	if err := Table(&buf, d.meta, d.rs, TableOptions{Map: d.m}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	keys := tableKeys(t, out)
	want := demoOrder()
	if len(keys) < len(want) || !slices.Equal(keys[:len(want)], want) {
		t.Fatalf("first rows\n%s\nwant\n%s", strings.Join(keys[:min(len(keys), len(want))], "\n"), strings.Join(want, "\n"))
	}
	for _, c := range demoCauses {
		for _, k := range c.consequences {
			id, subject, _ := strings.Cut(k, " ")
			if !regexp.MustCompile(`(?m)^\S+\s+└ ` + regexp.QuoteMeta(id) + `\s+` + regexp.QuoteMeta(subject)).MatchString(out) {
				t.Errorf("consequence %q is not marked └", k)
			}
		}
	}
	for _, line := range []string{
		"      gateway istio-system/istio-eastwestgateway no address (ports 15021,15443,15012,15017)  [fail: gateway.address]",
		"      root sha256 42f3edb0d326bbed (cacerts)  [fail: trust.root-match]",
		"      root sha256 7452b5be09811051 (cacerts)  [fail: trust.root-match]",
		"    east → legacy (not in this run) via istio-system/istio-remote-secret-legacy  [fail: secrets.remote-stale; consequences secrets.remote-access, endpoints.istiod-sync]",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("the map lacks %q:\n%s", line, out)
		}
	}
}

// TestDemoMapFitsWidth: with a width, no line of the header (map included)
// is longer, a cut line ends in an ellipsis, and its mark is kept on the
// line under it.
func TestDemoMapFitsWidth(t *testing.T) {
	d := demo(t)
	for _, width := range []int{60, 80, 100, 120} {
		var buf bytes.Buffer
		if err := Table(&buf, d.meta, d.rs, TableOptions{Map: d.m, Width: width, Short: true}); err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(buf.String(), "\nSTATUS ")
		for _, l := range strings.Split(head, "\n") {
			if w := twwidth.Width(l); w > width {
				t.Errorf("width %d: header line of %d columns: %q", width, w, l)
			}
		}
		if !strings.Contains(head, "[fail: gateway.address]") || !strings.Contains(head, "[fail: trust.root-match]") {
			t.Errorf("width %d: marks lost:\n%s", width, head)
		}
		if width <= 80 && !strings.Contains(head, "…\n") {
			t.Errorf("width %d: nothing was cut, yet the legacy edge is longer:\n%s", width, head)
		}
	}
}

// TestDemoJSONLinksCausesToConsequences: the JSON keeps the runner's order
// (its schema says so) and shows causes by their links: the 3 causes have
// no causedBy, each consequence names its cause, and summary.causes is 3.
func TestDemoJSONLinksCausesToConsequences(t *testing.T) {
	d := demo(t)
	var buf bytes.Buffer
	if err := JSON(&buf, d.meta, d.rs); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary Summary `json:"summary"`
		Causes  []Cause `json:"causes"`
		Results []struct {
			checks.Result
		} `json:"results"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Causes != 4 || doc.Summary.Fail != 8 {
		t.Errorf("summary %+v, want 4 causes of 8 failures", doc.Summary)
	}
	// The causes-first index: the 3 causes in the table's order, each
	// with exactly its consequences in order.
	var got []string
	for _, c := range doc.Causes {
		got = append(got, c.Key)
		got = append(got, c.Consequences...)
		if (c.Status != checks.Fail && c.Status != checks.Warn) || !strings.HasPrefix(c.Key, c.Check+" ") {
			t.Errorf("cause %+v: want a failure or warning keyed by its check", c)
		}
	}
	if len(doc.Causes) != len(demoCauses) || !slices.Equal(got, demoOrder()) {
		t.Errorf("causes index %v,\nwant %v", got, demoOrder())
	}
	if c := doc.Causes[1]; c.Cluster != "west" || c.Check != "gateway.address" {
		t.Errorf("second cause %+v, want gateway.address in west", c)
	}
	byKey := map[string]checks.Result{}
	for _, r := range doc.Results {
		byKey[r.Key()] = r.Result
	}
	for _, c := range demoCauses {
		if r, ok := byKey[c.cause]; !ok || len(r.CausedBy) != 0 || !r.Problem() {
			t.Errorf("cause %q: %+v", c.cause, r)
		}
		for _, k := range c.consequences {
			if r := byKey[k]; !slices.Contains(r.CausedBy, c.cause) {
				t.Errorf("consequence %q: causedBy %v lacks %q", k, r.CausedBy, c.cause)
			}
		}
	}
}

// TestDemoJUnitLinksCausesToConsequences: JUnit keeps one suite per area
// (CI tools group by it); each consequence's failure text names its cause
// under "caused by:", a cause's text names none.
func TestDemoJUnitLinksCausesToConsequences(t *testing.T) {
	d := demo(t)
	var buf bytes.Buffer
	if err := JUnit(&buf, d.meta, d.rs, JUnitOptions{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Out string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	text := map[string]string{}
	message := map[string]string{}
	var want []string
	for _, c := range demoCauses {
		if len(c.consequences) == 0 {
			want = append(want, c.cause)
			continue
		}
		want = append(want, c.cause+" (explains "+strings.Join(c.consequences, ", ")+")")
	}
	for _, s := range doc.Suites {
		found := false
		for _, p := range s.Properties {
			if p.Name == "meshdoctor.causes" {
				found = true
				if p.Value != strings.Join(want, "; ") {
					t.Errorf("meshdoctor.causes = %q,\nwant %q", p.Value, strings.Join(want, "; "))
				}
			}
		}
		if !found {
			t.Errorf("a suite has no meshdoctor.causes property: %+v", s.Properties)
		}
		for _, c := range s.Cases {
			if c.Failure != nil {
				text[c.Name] += c.Failure.Text
				message[c.Name] = c.Failure.Message
			}
			text[c.Name] += c.Out
		}
	}
	// block returns the paragraph of the JUnit text about key's result:
	// cases group the results of one check in one cluster, one paragraph
	// each, starting with the status and subject.
	byKey := map[string]checks.Result{}
	for _, r := range d.rs {
		byKey[r.Key()] = r
	}
	block := func(key string) string {
		r, ok := byKey[key]
		if !ok {
			t.Fatalf("no result %q in the demo", key)
		}
		tx := text[caseName(r)]
		for _, p := range strings.Split(tx, "\n\n") {
			if strings.Contains(p, r.Subject()+": "+r.Message) {
				return p
			}
		}
		t.Errorf("JUnit case %q has no paragraph for %q:\n%s", caseName(r), key, tx)
		return ""
	}
	for _, c := range demoCauses {
		if byKey[c.cause].Status == checks.Warn {
			continue // a warning is no JUnit failure: no text nor message to read
		}
		if p := block(c.cause); strings.Contains(p, "caused by:") {
			t.Errorf("cause %q says caused by:\n%s", c.cause, p)
		}
		if m := message[caseName(byKey[c.cause])]; !strings.HasPrefix(m, "cause: ") {
			t.Errorf("cause %q: failure message %q lacks \"cause: \"", c.cause, m)
		}
		for _, k := range c.consequences {
			r := byKey[k]
			prefix := "consequence of " + c.cause + ": "
			if r.Status == checks.Warn {
				if !strings.Contains(text[caseName(r)], "WARNING: "+prefix+r.Message) {
					t.Errorf("warned consequence %q: system-out lacks %q", k, prefix)
				}
			} else if m := message[caseName(r)]; !strings.HasPrefix(m, prefix) {
				t.Errorf("consequence %q: failure message %q lacks %q", k, m, prefix)
			}
		}
		for _, k := range c.consequences {
			if p := block(k); !strings.Contains(p, "caused by:\n") || !strings.Contains(p, "  "+c.cause+"\n") {
				t.Errorf("consequence %q does not name its cause %q:\n%s", k, c.cause, p)
			}
		}
	}
}
