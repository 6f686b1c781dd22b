package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/docs"
	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// The JUnit document, as the Surefire/Ant schema (junit-10.xsd) has it.
// Attributes the schema does not declare (such as skipped on testsuites)
// must not appear: strict validators reject them.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr,omitempty"`
	Hostname   string           `xml:"hostname,attr,omitempty"`
	Properties *junitProperties `xml:"properties"`
	Cases      []junitCase      `xml:"testcase"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitProblem `xml:"skipped"`
	SystemOut junitText     `xml:"system-out,omitempty"`
}

// junitProblem is a failure, error or skipped element.
type junitProblem struct {
	Message string
	Type    string // omitted when empty
	Text    string
}

// MarshalXML writes the text with its newlines as they are; encoding/xml
// would write a ",chardata" field's newlines as &#xA;.
func (p junitProblem) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "message"}, Value: p.Message})
	if p.Type != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "type"}, Value: p.Type})
	}
	return junitText(p.Text).MarshalXML(e, start)
}

// junitText is element content written with its newlines as they are.
type junitText string

// MarshalXML implements xml.Marshaler.
func (t junitText) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if t != "" {
		if err := e.EncodeToken(xml.CharData(t)); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// JUnitOptions tunes the JUnit document.
type JUnitOptions struct {
	// WarnAsFailure reports a warning as a <failure> (for teams whose CI
	// must stop on warnings too); by default a warning passes.
	WarnAsFailure bool
}

// JUnit writes rs as JUnit XML: one <testsuite> per area (the part of the
// check ID before the dot, in first-seen order) inside <testsuites>, and one
// <testcase> per check and cluster, named "<checkID> <cluster>" ("<checkID>
// mesh" for mesh scope) with classname "meshdoctor.<area>".
//
// Test names are built only from stable parts: CI servers keep a test's
// history by its name, so a name must not change when a gateway gets a new
// address or a check is skipped. The results of one check in one cluster
// (one per peer, port or secret key) are therefore one test case whose
// status is the worst of theirs (error, fail, warn, pass, skipped), and
// whose text lists each of them with its subject, evidence and remediation.
//
// fail becomes <failure>, error <error>, both with type = the check ID;
// skipped becomes <skipped message="reason">; a warning passes with
// "WARNING: message" and the inline property meshdoctor.status=warn in
// <system-out> (and counts in the suite's "warnings" property), or fails
// with opts.WarnAsFailure. The schema (junit-10.xsd)
// allows no properties on a test case, so warnings are counted per suite.
//
// Causes first, without moving or duplicating a test case (CI history and
// the counts stay as they are): a problem's message starts with "cause: " or
// "consequence of <cause key>: ", and every suite carries the property
// meshdoctor.causes, the causes in the table's order with what each explains.
//
// A testcase's time is its check's duration. All results of one check share
// that duration, so a suite's time counts each check once. Characters XML 1.0
// forbids (most control characters) are dropped.
func JUnit(w io.Writer, m Meta, rs []checks.Result, opts JUnitOptions) error {
	hostname := m.Hostname
	if hostname == "" {
		// Optional in the schema: leave it out when the OS cannot say.
		hostname, _ = os.Hostname()
	}
	timestamp := ""
	if !m.GeneratedAt.IsZero() {
		// ISO 8601 without a zone, as Surefire writes it; we write UTC.
		timestamp = m.GeneratedAt.UTC().Format("2006-01-02T15:04:05")
	}

	doc := junitSuites{Name: xmlSafe(nonEmpty(m.Tool, "meshdoctor"))}
	warnings := []int{}
	suiteTime := []time.Duration{}
	index := map[string]int{} // area → suite
	type check struct {
		suite int
		id    string
	}
	checkTime := map[check]time.Duration{}
	roles := causeRoles(rs)
	for _, g := range groupCases(rs) {
		r := g[0]
		a := area(r)
		i, ok := index[a]
		if !ok {
			i = len(doc.Suites)
			index[a] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: xmlSafe(a), Timestamp: timestamp, Hostname: xmlSafe(hostname)})
			warnings = append(warnings, 0)
			suiteTime = append(suiteTime, 0)
		}
		s := &doc.Suites[i]
		s.Tests++
		c := junitCase{Name: xmlSafe(caseName(r)), Classname: xmlSafe("meshdoctor." + a), Time: seconds(r.Duration)}
		worst := worstOf(g)
		msg, text := caseText(g, worst)
		msg = roles[worst.Key()] + msg
		typ := r.CheckID
		switch worst.Status {
		case checks.Pass:
			if len(g) > 1 {
				c.SystemOut = junitText(xmlSafe(text))
			}
		case checks.Warn:
			warnings[i]++
			if opts.WarnAsFailure {
				s.Failures++
				c.Failure = &junitProblem{Message: xmlSafe("warning: " + msg), Type: typ, Text: xmlSafe(text)}
			} else {
				out := "WARNING: " + msg + "\n" + text
				if len(g) == 1 {
					out = "WARNING: " + msg + problemText(r, false)
				}
				c.SystemOut = junitText(xmlSafe(out + warnProperty))
			}
		case checks.Fail:
			s.Failures++
			c.Failure = &junitProblem{Message: xmlSafe(msg), Type: typ, Text: xmlSafe(text)}
		case checks.Skipped:
			s.Skipped++
			c.Skipped = &junitProblem{Message: xmlSafe(msg)}
		default:
			s.Errors++
			c.Error = &junitProblem{Message: xmlSafe(msg), Type: nonEmpty(typ, "error"), Text: xmlSafe(text)}
		}
		s.Cases = append(s.Cases, c)

		k := check{i, r.CheckID}
		if _, seen := checkTime[k]; !seen {
			checkTime[k] = r.Duration
			suiteTime[i] += r.Duration
		}
	}
	var total time.Duration
	causes := causesProperty(rs)
	for i := range doc.Suites {
		s := &doc.Suites[i]
		s.Time = seconds(suiteTime[i])
		s.Properties = suiteProperties(m, warnings[i], causes)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		total += suiteTime[i]
	}
	doc.Time = seconds(total)

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	return nil
}

// warnProperty ends a warned case's system-out: the inline-property form
// ("[[PROPERTY|name=value]]") that JUnit consumers such as Jenkins' JUnit
// attachments plugin and test-results-parser read as the case's metadata,
// since junit-10.xsd allows no <properties> on a test case.
const warnProperty = "[[PROPERTY|meshdoctor.status=warn]]\n"

// caseName is a test case's stable name: the check ID and the cluster (or
// "mesh"); never a peer, an address or a status.
func caseName(r checks.Result) string {
	scope := r.Cluster
	if scope == "" && r.CheckID != "" {
		scope = "mesh"
	}
	return strings.TrimSpace(r.CheckID + " " + scope)
}

// groupCases splits rs into test cases: the results of one check in one
// cluster, in first-seen order. Results without a check ID (a crashed check)
// are cases of their own.
func groupCases(rs []checks.Result) [][]checks.Result {
	var out [][]checks.Result
	index := map[[2]string]int{}
	for _, r := range rs {
		if r.CheckID == "" {
			out = append(out, []checks.Result{r})
			continue
		}
		k := [2]string{r.CheckID, r.Cluster}
		if i, ok := index[k]; ok {
			out[i] = append(out[i], r)
			continue
		}
		index[k] = len(out)
		out = append(out, []checks.Result{r})
	}
	return out
}

// worstOf returns the first result of the worst status in g.
func worstOf(g []checks.Result) checks.Result {
	w := g[0]
	for _, r := range g[1:] {
		if r.Status.Weight() > w.Status.Weight() {
			w = r
		}
	}
	return w
}

// caseText is a test case's message and body. The message is the worst
// result's, with the number of others of that status; a case of one result
// has its subject, message, evidence and remediation as the body, a case of
// several lists each result, worst first, as "status subject: message".
func caseText(g []checks.Result, worst checks.Result) (string, string) {
	same := 0
	for _, r := range g {
		if r.Status == worst.Status {
			same++
		}
	}
	msg := worst.Message
	if same > 1 {
		msg = fmt.Sprintf("%s (and %d more %s)", msg, same-1, worst.Status)
	}
	if len(g) == 1 {
		return msg, problemText(worst, true)
	}
	sorted := slices.Clone(g)
	slices.SortStableFunc(sorted, func(a, b checks.Result) int { return b.Status.Weight() - a.Status.Weight() })
	var b strings.Builder
	for k, r := range sorted {
		if k > 0 {
			b.WriteString("\n")
		}
		b.WriteString(r.Status.String() + " " + problemText(r, true))
	}
	return msg, b.String()
}

// problemText is the body of a failure or error, or the tail of a warning's
// system-out: the subject and message (when full), then the evidence and
// the remediation.
func problemText(r checks.Result, full bool) string {
	var b strings.Builder
	if full {
		b.WriteString(r.Subject() + ": " + r.Message + "\n")
	} else if len(r.Evidence) > 0 || r.Remediation != "" || r.Note != "" {
		b.WriteString("\n")
	}
	if len(r.Evidence) > 0 {
		b.WriteString("evidence:\n")
		for _, e := range r.Evidence {
			b.WriteString("  " + e.Key + ": " + e.Value + "\n")
		}
	}
	if len(r.CausedBy) > 0 {
		b.WriteString("caused by:\n")
		for _, k := range r.CausedBy {
			b.WriteString("  " + k + "\n")
		}
	}
	if r.Note != "" {
		b.WriteString("note:\n")
		for _, line := range strings.Split(strings.TrimRight(r.Note, "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	if r.Remediation != "" {
		b.WriteString("remediation:\n")
		for _, line := range strings.Split(strings.TrimRight(r.Remediation, "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	if d := docs.Path(r.CheckID); d != "" {
		b.WriteString("doc: " + d + "\n")
	}
	return b.String()
}

// suiteProperties records what the run was about in every suite (CI tools
// show properties per suite) and how many of the suite's cases warned.
func suiteProperties(m Meta, warnings int, causes string) *junitProperties {
	var p junitProperties
	for _, kv := range [][2]string{
		{"tool", m.Tool}, {"version", m.Version}, {"source", m.Source}, {"topology", m.Topology},
		{"warnings", strconv.Itoa(warnings)}, {"meshdoctor.causes", causes},
	} {
		if kv[1] != "" {
			p.Property = append(p.Property, junitProperty{Name: kv[0], Value: xmlSafe(kv[1])})
		}
	}
	return &p
}

// causeRoles maps the key of every problem in rs to the prefix of its
// test case's message: "cause: " for a problem no other explains,
// "consequence of <cause key>: " for one listed under a cause (the cause
// CausesFirst lists it under, else its first causedBy). JUnit viewers
// (Jenkins' "Error Message", GitLab's and GitHub's test summaries) show
// the message of a failure and nothing of the suite's properties, so the
// message is where a reader tells a cause from a consequence. When no
// problem explains another there is nothing to tell apart, and no message
// is prefixed.
func causeRoles(rs []checks.Result) map[string]string {
	out := map[string]string{}
	if !slices.ContainsFunc(rs, func(r checks.Result) bool { return r.Problem() && len(r.CausedBy) > 0 }) {
		return out
	}
	for _, o := range CausesFirst(rs) {
		switch {
		case !o.Problem():
		case !o.Consequence:
			out[o.Key()] = "cause: "
		case o.Under != "":
			out[o.Key()] = "consequence of " + o.Under + ": "
		default:
			out[o.Key()] = "consequence of " + o.CausedBy[0] + ": "
		}
	}
	return out
}

// causesProperty is the meshdoctor.causes property: the causes in the
// order the table shows them, each with the problems it explains, as
// "cause key (explains key, key); next cause key"; "" when nothing is
// wrong. The JSON report's "causes" holds the same index as data.
func causesProperty(rs []checks.Result) string {
	var parts []string
	for _, c := range CauseIndex(rs) {
		p := c.Key
		if len(c.Consequences) > 0 {
			p += " (explains " + strings.Join(c.Consequences, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// seconds formats d for the time attributes: fixed-point seconds with
// millisecond precision, which the schema's SUREFIRE_TIME pattern accepts
// (no exponent, no sign).
func seconds(d time.Duration) string {
	return strconv.FormatFloat(max(d, 0).Seconds(), 'f', 3, 64)
}

// xmlSafe drops the characters XML 1.0 does not allow in a document (all
// control characters but tab, newline and carriage return, surrogates,
// U+FFFE and U+FFFF); encoding/xml escapes the rest. Invalid UTF-8 becomes
// U+FFFD.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return -1
	}, s)
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
