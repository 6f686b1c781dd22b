package report

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func TestTableGolden(t *testing.T) {
	tests := []struct {
		golden string
		opts   TableOptions
	}{
		{"report-table.txt", TableOptions{}},
		{"report-short.txt", TableOptions{Short: true}},
		{"report-wide.txt", TableOptions{Wide: true}},
		{"report-short-80.txt", TableOptions{Short: true, Width: 80}},
		{"report-table-120.txt", TableOptions{Width: 120}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, fixtureMeta(), fixtureResults(), tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, buf.Bytes())
		})
	}
}

// ourColors matches the SGR sequences Table writes.
var ourColors = regexp.MustCompile(`\x1b\[(?:32|33|1;31|90|35|0)m`)

func TestTableColor(t *testing.T) {
	rs := append(fixtureResults(), nastyResults()...)
	tests := []struct {
		name string
		opts TableOptions
	}{
		{"plain", TableOptions{}},
		{"short", TableOptions{Short: true}},
		{"wide", TableOptions{Wide: true}},
		{"color", TableOptions{Color: true}},
		{"color short", TableOptions{Color: true, Short: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, fixtureMeta(), rs, tt.opts); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			// ESC only ever starts our own colour codes: an escape
			// sequence inside a message (nastyResults) is shown as \x1b.
			if !strings.Contains(out, `\x1b`) {
				t.Errorf("the escape sequence in a message is not shown:\n%s", out)
			}
			if !tt.opts.Color {
				if strings.Contains(out, "\x1b") {
					t.Fatalf("ANSI escapes without Color:\n%q", out)
				}
				return
			}
			for _, want := range []string{"\x1b[1;31mfail\x1b[0m", "\x1b[33mwarn\x1b[0m", "\x1b[35merror\x1b[0m", "\x1b[1;31m2 failed\x1b[0m"} {
				if !strings.Contains(out, want) {
					t.Errorf("colour output lacks %q:\n%s", want, out)
				}
			}
			if !tt.opts.Short && !strings.Contains(out, "\x1b[32mpass\x1b[0m") {
				t.Errorf("colour output lacks a green pass:\n%s", out)
			}
			if rest := ourColors.ReplaceAllString(out, ""); strings.Contains(rest, "\x1b") {
				t.Errorf("ESC outside our colour codes:\n%q", rest)
			}
		})
	}
}

func TestTableShortListsOnlyProblems(t *testing.T) {
	var buf bytes.Buffer
	if err := Table(&buf, fixtureMeta(), fixtureResults(), TableOptions{Short: true}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, absent := range []string{"contexts.reachable", "trust.cacerts-valid", "endpoints.match"} {
		if strings.Contains(out, absent) {
			t.Errorf("short table lists %s, which needs no attention:\n%s", absent, out)
		}
	}
	for _, present := range []string{"controlplane.version-skew", "trust.root-match", "gateway.reachable"} {
		if !strings.Contains(out, present) {
			t.Errorf("short table lacks %s:\n%s", present, out)
		}
	}
	if l := lines(out); l[len(l)-1] != "4 passed, 1 failed, 1 warning, 1 skipped, 1 error" {
		t.Errorf("summary line %q does not count every result, only those shown", l[len(l)-1])
	}
}

func TestTableNothingToShow(t *testing.T) {
	tests := []struct {
		name string
		rs   []checks.Result
		opts TableOptions
		want string
	}{
		{"no results at all", nil, TableOptions{}, "No results."},
		{"short with only passes", fixtureResults()[:2], TableOptions{Short: true}, "No warnings, failures or errors."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, Meta{}, tt.rs, tt.opts); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tt.want+"\n") || strings.Contains(buf.String(), "STATUS") {
				t.Errorf("want %q and no table header, got:\n%s", tt.want, buf.String())
			}
		})
	}
}

func TestTableDetailsNumberedAndLinked(t *testing.T) {
	var buf bytes.Buffer
	if err := Table(&buf, fixtureMeta(), fixtureResults(), TableOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// warn, fail and error have evidence: three entries, each marked in
	// the table.
	for _, want := range []string{"[1]", "[2]", "[3]", "\n1. warn  controlplane.version-skew  mesh\n", "\n2. fail  trust.root-match  mesh\n", "\n3. error  gateway.reachable  cluster-1 → cluster-2 15443\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[4]") {
		t.Errorf("a result that needs no attention got a Details entry:\n%s", out)
	}
	for _, l := range lines(out) {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space in %q", l)
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		width int
		want  string
	}{
		{"short text stays on one line", "CA chain valid", 20, "CA chain valid"},
		{"words wrap at spaces", "root CAs differ between clusters", 15, "root CAs differ\nbetween\nclusters"},
		{"a word longer than the column is broken, not cut off", "fp 0123456789abcdef tail", 8, "fp\n01234567\n89abcdef\ntail"},
		{"width counts display columns, not bytes", "Müller → Söhne", 8, "Müller →\nSöhne"},
		{"a wide rune in a narrow column still makes progress", "東京", 1, "東\n京"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wrap(tt.in, tt.width); got != tt.want {
				t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}

// A table fitted to a terminal has no line wider than it: messages wrap or
// go under their row, subjects are cut, commands are continued.
func TestTableFitsWidth(t *testing.T) {
	rs := append(fixtureResults(), nastyResults()...)
	rs = append(rs, checks.Result{CheckID: "secrets.remote-stale", Status: checks.Fail, Cluster: "east", Target: "istio-system/istio-remote-secret-legacy-cluster-that-left",
		Message: "stale remote secret: cluster legacy is not in the mesh", Evidence: []checks.Evidence{{Key: "server", Value: "https://legacy.example.internal:6443 (unreachable from east since the cluster was deleted)"}},
		Remediation: "kubectl --context east -n istio-system delete secret istio-remote-secret-legacy-cluster-that-left --ignore-not-found --wait=false"})
	for _, width := range []int{60, 80, 100, 132, 200} {
		for _, opts := range []TableOptions{{Width: width}, {Width: width, Short: true}, {Width: width, Color: true}} {
			var buf bytes.Buffer
			if err := Table(&buf, fixtureMeta(), rs, opts); err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(buf.String(), "\n") {
				if w := twwidth.Width(ourColors.ReplaceAllString(line, "")); w > width {
					t.Errorf("%+v: line %d is %d columns wide:\n%s", opts, i+1, w, line)
				}
			}
		}
	}
	t.Run("no limit wraps and cuts nothing", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Table(&buf, fixtureMeta(), rs, TableOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[:len(rs)-1] {
			if r.CheckID != "" && r.Status != checks.Pass && !strings.Contains(buf.String(), termSafe(r.Message, false)) {
				t.Errorf("message %q not on one line:\n%s", r.Message, buf.String())
			}
		}
	})
}

func TestContinueCommand(t *testing.T) {
	cmd := `  kubectl --context 'kind east' -n istio-system delete secret istio-remote-secret-legacy --ignore-not-found --selector "a=b c"`
	got := continueCommand(cmd, 40)
	lines := strings.Split(got, "\n")
	if len(lines) < 3 {
		t.Fatalf("not broken at 40 columns:\n%s", got)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasSuffix(l, " \\") {
			t.Errorf("line %q does not continue", l)
		}
	}
	if !strings.Contains(got, "'kind east'") || !strings.Contains(got, `"a=b c"`) {
		t.Errorf("a quoted word was broken:\n%s", got)
	}
	joined := strings.Join(strings.Fields(strings.ReplaceAll(got, " \\\n", " ")), " ")
	if want := strings.Join(strings.Fields(cmd), " "); joined != want {
		t.Errorf("joined back:\n%s\nwant\n%s", joined, want)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", "-c", got).CombinedOutput(); err != nil {
			t.Errorf("bash -n rejects the continued command: %v\n%s\n%s", err, out, got)
		}
	}
}
