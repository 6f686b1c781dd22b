// Package report writes a run's results in every output format: a table for
// people, JSON for tools and JUnit XML for CI. All formats are built from the
// same []checks.Result and print what they are given; formatting of results
// happens here and in internal/ui only.
package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// Meta says what a run was about. It is printed in the table header and
// stored in the JSON document.
type Meta struct {
	Tool        string    `json:"tool"`
	Version     string    `json:"version"`
	GeneratedAt time.Time `json:"generatedAt"`
	// Hostname is where the run happened (JUnit's hostname attribute);
	// JUnit falls back to os.Hostname when it is empty.
	Hostname string `json:"hostname,omitempty"`
	// Source is "live" or "snapshot <file> taken <time>".
	Source string `json:"source"`
	// Topology is "multi-primary", "primary-remote", ...
	Topology string        `json:"topology"`
	Contexts []ContextInfo `json:"contexts"`
}

// ContextInfo describes one kubeconfig context of the run.
type ContextInfo struct {
	Name      string `json:"name"`
	Server    string `json:"server,omitempty"`
	ClusterID string `json:"clusterID,omitempty"`
	Network   string `json:"network,omitempty"`
	Role      string `json:"role,omitempty"`
	Version   string `json:"version,omitempty"`
	// DataPlane is sidecar, ambient or sidecar+ambient (mesh.Mode).
	DataPlane string `json:"dataPlane,omitempty"`
}

// Summary counts results by status.
type Summary struct {
	Pass    int `json:"pass"`
	Warn    int `json:"warn"`
	Fail    int `json:"fail"`
	Skipped int `json:"skipped"`
	Error   int `json:"error"`
	Total   int `json:"total"`
	// Causes counts the failures and errors that no other problem explains
	// (checks.Explain): "3 causes explain 7 failures".
	Causes int `json:"causes"`
}

// Summarize counts rs by status. A status outside the known five counts as
// an error: something produced a result the model does not know.
func Summarize(rs []checks.Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Status {
		case checks.Pass:
			s.Pass++
		case checks.Warn:
			s.Warn++
		case checks.Fail:
			s.Fail++
		case checks.Skipped:
			s.Skipped++
		default:
			s.Error++
		}
		if r.Status != checks.Pass && r.Status != checks.Warn && r.Status != checks.Skipped && len(r.CausedBy) == 0 {
			s.Causes++
		}
	}
	s.Total = len(rs)
	return s
}

// Explained is the line that says how many causes explain the failures
// and errors, or "" when each is its own cause.
func (s Summary) Explained() string {
	problems := s.Fail + s.Error
	if s.Causes == problems {
		return ""
	}
	if s.Causes == 1 {
		return fmt.Sprintf("1 cause explains %d failures and errors: it is listed first, its consequences under it.", problems)
	}
	return fmt.Sprintf("%d causes explain %d failures and errors: causes are listed first, their consequences under them.", s.Causes, problems)
}

// Ordered is a result in the order outputs show them: causes first, each
// followed by the problems it explains (Consequence), then the rest.
type Ordered struct {
	checks.Result
	// Consequence is set on a problem listed under its first cause.
	Consequence bool
	// Under is the key of the cause a consequence is listed under; "" for
	// a cause, and for a consequence whose causes are not in the results.
	Under string
}

// CausesFirst orders rs for people: every problem that no other explains,
// in rs's order, each followed by the problems whose first root cause it
// is; then the problems whose causes are not among rs (none, unless rs was
// filtered); then everything else in rs's order.
func CausesFirst(rs []checks.Result) []Ordered {
	index := map[string]int{}
	for i, r := range rs {
		if _, dup := index[r.Key()]; !dup {
			index[r.Key()] = i
		}
	}
	// root returns the first cause (a problem without CausedBy) reached
	// from rs[i] through CausedBy, or -1.
	root := func(i int) int {
		seen := map[int]bool{i: true}
		queue := []int{i}
		for len(queue) > 0 {
			j := queue[0]
			queue = queue[1:]
			if len(rs[j].CausedBy) == 0 && j != i {
				return j
			}
			for _, k := range rs[j].CausedBy {
				if n, ok := index[k]; ok && !seen[n] {
					seen[n] = true
					queue = append(queue, n)
				}
			}
		}
		return -1
	}
	under := map[int][]int{}
	var orphans []int
	for i, r := range rs {
		if !r.Problem() || len(r.CausedBy) == 0 {
			continue
		}
		if c := root(i); c >= 0 {
			under[c] = append(under[c], i)
		} else {
			orphans = append(orphans, i)
		}
	}
	out := make([]Ordered, 0, len(rs))
	for i, r := range rs {
		if r.Problem() && len(r.CausedBy) == 0 {
			out = append(out, Ordered{Result: r})
			for _, k := range under[i] {
				out = append(out, Ordered{Result: rs[k], Consequence: true, Under: r.Key()})
			}
		}
	}
	for _, k := range orphans {
		out = append(out, Ordered{Result: rs[k], Consequence: true})
	}
	for _, r := range rs {
		if !r.Problem() {
			out = append(out, Ordered{Result: r})
		}
	}
	return out
}

// String is the summary line of the table: "12 passed, 1 failed,
// 0 warnings, 3 skipped, 0 errors".
func (s Summary) String() string {
	parts := s.parts()
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return strings.Join(out, ", ")
}

// summaryPart is one count of the summary line.
type summaryPart struct {
	text   string
	n      int
	status checks.Status
}

func (s Summary) parts() []summaryPart {
	part := func(n int, one, many string, st checks.Status) summaryPart {
		if n == 1 {
			return summaryPart{"1 " + one, n, st}
		}
		return summaryPart{strconv.Itoa(n) + " " + many, n, st}
	}
	return []summaryPart{
		part(s.Pass, "passed", "passed", checks.Pass),
		part(s.Fail, "failed", "failed", checks.Fail),
		part(s.Warn, "warning", "warnings", checks.Warn),
		part(s.Skipped, "skipped", "skipped", checks.Skipped),
		part(s.Error, "error", "errors", checks.Error),
	}
}

// needsAttention reports whether a result is listed by the short table and
// gets a Details entry: warnings, failures and errors.
func needsAttention(s checks.Status) bool {
	return s == checks.Warn || s == checks.Fail || s == checks.Error
}

// area is the JUnit suite a result belongs to; results without a check ID
// (a crashed check) go to "unknown" rather than an unnamed suite.
func area(r checks.Result) string {
	if a := r.Area(); a != "" {
		return a
	}
	return "unknown"
}

// termSafe makes s safe to print on a terminal: control characters
// (escape sequences from cluster data, stray carriage returns) are shown as
// \xNN instead of being interpreted, and invalid UTF-8 as U+FFFD. Tabs
// become spaces; newlines too unless keepNewlines is set.
func termSafe(s string, keepNewlines bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && !(keepNewlines && r == '\n')) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s { // invalid UTF-8 arrives as U+FFFD
		switch {
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r): // C0 and C1 only, all below U+0100
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
