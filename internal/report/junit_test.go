package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// junitSchema is /work/shared/schemas/junit-10.xsd, seen from this package
// (the repository's ../shared/schemas).
const junitSchema = "../../../shared/schemas/junit-10.xsd"

func TestJUnitGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := JUnit(&buf, fixtureMeta(), fixtureResults(), JUnitOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "report-junit.xml", buf.Bytes())
}

func TestJUnitValidatesAgainstSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skipf("needs xmllint (apt-get install libxml2-utils): %v", err)
	}
	schema, err := filepath.Abs(junitSchema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(schema); err != nil {
		t.Skipf("needs the JUnit schema: %v", err)
	}
	tests := []struct {
		name string
		meta Meta
		rs   []checks.Result
	}{
		{"every status with XML-special, non-ASCII and control characters", fixtureMeta(), append(fixtureResults(), nastyResults()...)},
		{"no results", fixtureMeta(), nil},
		{"no meta", Meta{}, fixtureResults()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := JUnit(&buf, tt.meta, tt.rs, JUnitOptions{}); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "junit.xml")
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(xmllint, "--noout", "--schema", schema, file).CombinedOutput()
			if err != nil {
				t.Errorf("xmllint rejects the JUnit report: %v\n%s\n--- report ---\n%s", err, out, buf.Bytes())
			}
		})
	}
}

// The JUnit document as a CI server reads it: declared here, apart from the
// writer's types, so that the round trip checks the XML and not the structs.
type parsedSuites struct {
	Tests    int           `xml:"tests,attr"`
	Failures int           `xml:"failures,attr"`
	Errors   int           `xml:"errors,attr"`
	Time     string        `xml:"time,attr"`
	Suites   []parsedSuite `xml:"testsuite"`
}

type parsedSuite struct {
	Name      string       `xml:"name,attr"`
	Tests     int          `xml:"tests,attr"`
	Failures  int          `xml:"failures,attr"`
	Errors    int          `xml:"errors,attr"`
	Skipped   int          `xml:"skipped,attr"`
	Time      string       `xml:"time,attr"`
	Timestamp string       `xml:"timestamp,attr"`
	Hostname  string       `xml:"hostname,attr"`
	Cases     []parsedCase `xml:"testcase"`
}

type parsedCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Time      string `xml:"time,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	Error *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"error"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	SystemOut string `xml:"system-out"`
}

func parseJUnit(t *testing.T, m Meta, rs []checks.Result) (parsedSuites, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := JUnit(&buf, m, rs, JUnitOptions{}); err != nil {
		t.Fatal(err)
	}
	var doc parsedSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("parse our JUnit: %v\n%s", err, buf.Bytes())
	}
	return doc, buf.Bytes()
}

func TestJUnitRoundTrip(t *testing.T) {
	rs := append(fixtureResults(), nastyResults()...)
	doc, raw := parseJUnit(t, fixtureMeta(), rs)
	sum := Summarize(rs)

	var cases, failures, errs, skipped, warnings int
	for _, s := range doc.Suites {
		var f, e, sk int
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil:
				f++
			case c.Error != nil:
				e++
			case c.Skipped != nil:
				sk++
			case strings.HasPrefix(c.SystemOut, "WARNING: "):
				warnings++
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != f || s.Errors != e || s.Skipped != sk {
			t.Errorf("suite %s counts tests=%d failures=%d errors=%d skipped=%d, its cases %d/%d/%d/%d",
				s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), f, e, sk)
		}
		cases += len(s.Cases)
		failures += f
		errs += e
		skipped += sk
	}
	if cases != sum.Total || failures != sum.Fail || errs != sum.Error || skipped != sum.Skipped || warnings != sum.Warn {
		t.Errorf("cases %d failures %d errors %d skipped %d warnings %d, Summarize %+v", cases, failures, errs, skipped, warnings, sum)
	}
	if doc.Tests != sum.Total || doc.Failures != sum.Fail || doc.Errors != sum.Error {
		t.Errorf("testsuites tests=%d failures=%d errors=%d, Summarize %+v", doc.Tests, doc.Failures, doc.Errors, sum)
	}

	var names []string
	for _, s := range doc.Suites {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " "), "contexts controlplane trust gateway endpoints secrets config unknown"; got != want {
		t.Errorf("suites %q, want areas in first-seen order %q", got, want)
	}
	if !bytes.Contains(raw, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("no XML declaration:\n%s", raw)
	}
}

func TestJUnitCases(t *testing.T) {
	doc, _ := parseJUnit(t, fixtureMeta(), append(fixtureResults(), nastyResults()...))
	byName := map[string]parsedCase{}
	for _, s := range doc.Suites {
		if s.Timestamp != "2026-11-23T11:15:00" || s.Hostname != "ci-runner-7" {
			t.Errorf("suite %s timestamp %q hostname %q", s.Name, s.Timestamp, s.Hostname)
		}
		for _, c := range s.Cases {
			byName[c.Name] = c
		}
	}
	get := func(t *testing.T, name string) parsedCase {
		t.Helper()
		c, ok := byName[name]
		if !ok {
			t.Fatalf("no testcase %q among %v", name, byName)
		}
		return c
	}

	t.Run("a failure carries message, type, evidence and remediation", func(t *testing.T) {
		c := get(t, "trust.root-match mesh")
		if c.Classname != "meshdoctor.trust" || c.Time != "1.500" {
			t.Errorf("classname %q time %q", c.Classname, c.Time)
		}
		if c.Failure == nil || c.Failure.Type != "trust.root-match" || !strings.HasPrefix(c.Failure.Message, "clusters trust different root CAs") {
			t.Fatalf("failure = %+v", c.Failure)
		}
		for _, want := range []string{`cluster-2 root subject: O=Müller & Söhne <istio>, CN="Root CA"`, "note:\n  run it from the Istio release directory", "remediation:\n  make -f tools/certs/Makefile.selfsigned.mk root-ca\n  make -f"} {
			if !strings.Contains(c.Failure.Text, want) {
				t.Errorf("failure text lacks %q:\n%s", want, c.Failure.Text)
			}
		}
	})
	t.Run("a pair result is named by check and cluster; its text names peer and target", func(t *testing.T) {
		c := get(t, "gateway.reachable cluster-1")
		if c.Error == nil || c.Error.Type != "gateway.reachable" || c.Error.Message != "dial 172.18.255.2:15443: i/o timeout after 5s" {
			t.Errorf("error = %+v", c.Error)
		}
		if c.Error != nil && !strings.HasPrefix(c.Error.Text, "cluster-1 → cluster-2 15443: dial") {
			t.Errorf("error text %q does not start with the subject", c.Error.Text)
		}
	})
	t.Run("skipped gives the reason", func(t *testing.T) {
		c := get(t, "endpoints.match cluster-1")
		if c.Skipped == nil || c.Skipped.Message != "gateway.reachable failed for cluster-1 → cluster-2" {
			t.Errorf("skipped = %+v", c.Skipped)
		}
	})
	t.Run("a warning passes with WARNING in system-out", func(t *testing.T) {
		c := get(t, "controlplane.version-skew mesh")
		if c.Failure != nil || c.Error != nil || c.Skipped != nil {
			t.Errorf("a warning failed the test case: %+v", c)
		}
		if !strings.HasPrefix(c.SystemOut, "WARNING: Istio versions differ") || !strings.Contains(c.SystemOut, "note:\n  upgrade cluster-2 to 1.27 (istioctl x precheck, then istioctl upgrade)\nremediation:\n  istioctl --context kind-west version\n") {
			t.Errorf("system-out = %q", c.SystemOut)
		}
	})
	t.Run("characters XML forbids are dropped, the rest kept", func(t *testing.T) {
		c := get(t, "secrets.remote-parse cluster-2")
		if c.Failure == nil {
			t.Fatal("no failure")
		}
		if strings.ContainsAny(c.Failure.Message+c.Failure.Text, "\x00\x1b\x07\uFFFE") {
			t.Errorf("forbidden characters survived: %q %q", c.Failure.Message, c.Failure.Text)
		}
		if !strings.Contains(c.Failure.Text, "a\tb\r\nc  \uFFFD end & < > ' \"") {
			t.Errorf("allowed characters lost: %q", c.Failure.Text)
		}
	})
	t.Run("a result without a check ID lands in suite unknown", func(t *testing.T) {
		c := get(t, "cluster-1")
		if c.Classname != "meshdoctor.unknown" || c.Error == nil {
			t.Errorf("%+v", c)
		}
	})
	t.Run("suite time counts each check once", func(t *testing.T) {
		for _, s := range doc.Suites {
			if s.Name == "gateway" && s.Time != "5.002" {
				t.Errorf("gateway suite time %q, want 5.002 (two results of one check)", s.Time)
			}
		}
	})
}

func TestSeconds(t *testing.T) {
	// SUREFIRE_TIME from junit-10.xsd.
	surefire := regexp.MustCompile(`^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$`)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000"},
		{1500 * time.Millisecond, "1.500"},
		{1234 * time.Second, "1234.000"},
		{time.Microsecond, "0.000"},
		{-time.Second, "0.000"}, // a clock step must not produce "-1.000"
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.want), func(t *testing.T) {
			got := seconds(tt.d)
			if got != tt.want {
				t.Errorf("seconds(%v) = %q, want %q", tt.d, got, tt.want)
			}
			if !surefire.MatchString(got) {
				t.Errorf("%q does not match SUREFIRE_TIME", got)
			}
		})
	}
}

// junitNames returns the test case names of a JUnit document, in order.
func junitNames(t *testing.T, rs []checks.Result) []string {
	t.Helper()
	doc, _ := parseJUnit(t, fixtureMeta(), rs)
	var names []string
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			names = append(names, c.Name)
		}
	}
	return names
}

// CI servers keep a test's history by its name: a gateway that gets a new
// address, or a check that is skipped instead of run, must not rename tests.
func TestJUnitNamesAreStable(t *testing.T) {
	probed := func(addr string) []checks.Result {
		var rs []checks.Result
		for _, port := range []string{"15443", "15012", "15017"} {
			rs = append(rs, checks.Result{CheckID: "gateway.reachability", Status: checks.Pass, Cluster: "east", Peer: "west",
				Target: addr + " port " + port, Message: "TLS handshake completed"})
		}
		return append(rs, checks.Result{CheckID: "trust.root-match", Status: checks.Pass, Message: "one root"})
	}
	skipped := []checks.Result{
		{CheckID: "gateway.reachability", Status: checks.Skipped, Cluster: "east", Message: "prerequisite gateway.address fail for west"},
		{CheckID: "trust.root-match", Status: checks.Skipped, Message: "prerequisite trust.cacerts-valid fail for west"},
	}
	before := junitNames(t, probed("10.213.230.110"))
	for name, rs := range map[string][]checks.Result{
		"gateway got a new address": probed("10.213.9.9"),
		"checks were skipped":       skipped,
	} {
		if got := junitNames(t, rs); !slices.Equal(got, before) {
			t.Errorf("%s: test names %q, before %q", name, got, before)
		}
	}
	if want := []string{"gateway.reachability east", "trust.root-match mesh"}; !slices.Equal(before, want) {
		t.Errorf("names %q, want %q", before, want)
	}
}

func TestJUnitWorstResultDecidesTheCase(t *testing.T) {
	rs := []checks.Result{
		{CheckID: "gateway.reachability", Status: checks.Pass, Cluster: "east", Peer: "west", Target: "port 15443", Message: "handshake ok"},
		{CheckID: "gateway.reachability", Status: checks.Fail, Cluster: "east", Peer: "west", Target: "port 15012", Message: "connection refused",
			Remediation: "kubectl --context west -n istio-system get svc istio-eastwestgateway"},
		{CheckID: "gateway.reachability", Status: checks.Warn, Cluster: "east", Peer: "west", Target: "port 15017", Message: "slow"},
		{CheckID: "controlplane.version-skew", Status: checks.Warn, Message: "versions differ"},
	}
	doc, _ := parseJUnit(t, fixtureMeta(), rs)
	if doc.Tests != 2 || doc.Failures != 1 {
		t.Fatalf("tests=%d failures=%d, want 2 and 1", doc.Tests, doc.Failures)
	}
	c := doc.Suites[0].Cases[0]
	if c.Failure == nil || c.Failure.Message != "connection refused" || c.Failure.Type != "gateway.reachability" {
		t.Fatalf("failure = %+v", c.Failure)
	}
	for _, want := range []string{"fail east → west port 15012: connection refused", "warn east → west port 15017: slow", "pass east → west port 15443: handshake ok", "remediation:\n  kubectl --context west"} {
		if !strings.Contains(c.Failure.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, c.Failure.Text)
		}
	}
	if strings.Index(c.Failure.Text, "fail east") > strings.Index(c.Failure.Text, "pass east") {
		t.Errorf("the failing result is not listed first:\n%s", c.Failure.Text)
	}

	t.Run("warnings are counted per suite and can fail the case", func(t *testing.T) {
		var buf bytes.Buffer
		if err := JUnit(&buf, fixtureMeta(), rs, JUnitOptions{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), `<property name="warnings" value="1"></property>`) {
			t.Errorf("no warnings property of 1 in the controlplane suite:\n%s", buf.String())
		}
		doc, _ := parseJUnitWith(t, rs, JUnitOptions{WarnAsFailure: true})
		if doc.Failures != 2 {
			t.Errorf("with WarnAsFailure failures=%d, want 2", doc.Failures)
		}
		skew := doc.Suites[1].Cases[0]
		if skew.Failure == nil || skew.Failure.Message != "warning: versions differ" || skew.Failure.Type != "controlplane.version-skew" {
			t.Errorf("warning as failure = %+v", skew.Failure)
		}
	})
}

func parseJUnitWith(t *testing.T, rs []checks.Result, opts JUnitOptions) (parsedSuites, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := JUnit(&buf, fixtureMeta(), rs, opts); err != nil {
		t.Fatal(err)
	}
	var doc parsedSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("parse our JUnit: %v\n%s", err, buf.Bytes())
	}
	return doc, buf.Bytes()
}
