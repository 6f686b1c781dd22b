package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

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

// JUnit writes rs as JUnit XML: one <testsuite> per area (the part of the
// check ID before the dot, in first-seen order) inside <testsuites>, one
// <testcase> per result named "<checkID> <subject>" with classname
// "meshdoctor.<area>". fail becomes <failure type="fail">, error
// <error type="error">, both with the evidence and remediation as text;
// skipped becomes <skipped message="reason">; warn passes with
// "WARNING: message" in <system-out>.
//
// A testcase's time is its check's duration. All results of one check share
// that duration, so a suite's time counts each check once. Characters XML 1.0
// forbids (most control characters) are dropped.
func JUnit(w io.Writer, m Meta, rs []checks.Result) error {
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
	props := suiteProperties(m)

	doc := junitSuites{Name: xmlSafe(nonEmpty(m.Tool, "meshdoctor"))}
	index := map[string]int{} // area → suite
	type check struct {
		suite int
		id    string
	}
	checkTime := map[check]time.Duration{}
	for _, r := range rs {
		a := area(r)
		i, ok := index[a]
		if !ok {
			i = len(doc.Suites)
			index[a] = i
			doc.Suites = append(doc.Suites, junitSuite{
				Name:       xmlSafe(a),
				Timestamp:  timestamp,
				Hostname:   xmlSafe(hostname),
				Properties: props,
			})
		}
		s := &doc.Suites[i]
		s.Tests++
		c := junitCase{
			Name:      xmlSafe(strings.TrimSpace(r.CheckID + " " + r.Subject())),
			Classname: xmlSafe("meshdoctor." + a),
			Time:      seconds(r.Duration),
		}
		switch r.Status {
		case checks.Pass:
		case checks.Warn:
			c.SystemOut = junitText(xmlSafe("WARNING: " + r.Message + problemText(r, false)))
		case checks.Fail:
			s.Failures++
			c.Failure = &junitProblem{Message: xmlSafe(r.Message), Type: "fail", Text: xmlSafe(problemText(r, true))}
		case checks.Skipped:
			s.Skipped++
			c.Skipped = &junitProblem{Message: xmlSafe(r.Message)}
		default:
			s.Errors++
			c.Error = &junitProblem{Message: xmlSafe(r.Message), Type: "error", Text: xmlSafe(problemText(r, true))}
		}
		s.Cases = append(s.Cases, c)

		k := check{i, r.CheckID}
		checkTime[k] = max(checkTime[k], r.Duration)
	}
	suiteTime := make([]time.Duration, len(doc.Suites))
	var total time.Duration
	for k, d := range checkTime {
		suiteTime[k.suite] += d
		total += d
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		s.Time = seconds(suiteTime[i])
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
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

// problemText is the body of a failure or error, or the tail of a warning's
// system-out: the subject and message (when full), then the evidence and
// the remediation.
func problemText(r checks.Result, full bool) string {
	var b strings.Builder
	if full {
		b.WriteString(r.Subject() + ": " + r.Message + "\n")
	} else if len(r.Evidence) > 0 || r.Remediation != "" {
		b.WriteString("\n")
	}
	if len(r.Evidence) > 0 {
		b.WriteString("evidence:\n")
		for _, e := range r.Evidence {
			b.WriteString("  " + e.Key + ": " + e.Value + "\n")
		}
	}
	if r.Remediation != "" {
		b.WriteString("remediation:\n")
		for _, line := range strings.Split(strings.TrimRight(r.Remediation, "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String()
}

// suiteProperties records what the run was about in every suite (CI tools
// show properties per suite); nil when there is nothing to record.
func suiteProperties(m Meta) *junitProperties {
	var p junitProperties
	for _, kv := range [][2]string{
		{"tool", m.Tool}, {"version", m.Version}, {"source", m.Source}, {"topology", m.Topology},
	} {
		if kv[1] != "" {
			p.Property = append(p.Property, junitProperty{Name: kv[0], Value: xmlSafe(kv[1])})
		}
	}
	if len(p.Property) == 0 {
		return nil
	}
	return &p
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
