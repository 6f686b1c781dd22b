package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// Key names a result in expectations: "checkID@cluster", or the ID alone
// for a mesh-wide result.
func Key(r checks.Result) string {
	if r.Cluster == "" {
		return r.CheckID
	}
	return r.CheckID + "@" + r.Cluster
}

// ByStatus groups result keys by status, sorted and without repeats.
func ByStatus(rs []checks.Result) map[checks.Status][]string {
	got := map[checks.Status][]string{}
	for _, r := range rs {
		got[r.Status] = append(got[r.Status], Key(r))
	}
	for s := range got {
		got[s] = slices.Compact(slices.Sorted(slices.Values(got[s])))
	}
	return got
}

// Mismatches says how results depart from what the scenario expects:
// exactly the listed failures and errors, at least the listed warnings, a
// healthy scenario passing broadly, and every failure with a remediation
// and every skip with a reason. Empty means they match. Every tier (fake
// clientsets, the CLI, real API servers) applies the same rule.
func (e Expect) Mismatches(rs []checks.Result) []string {
	got := ByStatus(rs)
	var out []string
	for _, st := range []struct {
		status checks.Status
		want   []string
	}{{checks.Fail, e.Fail}, {checks.Error, e.Error}} {
		want := slices.Sorted(slices.Values(st.want))
		if !slices.Equal(got[st.status], want) && len(got[st.status])+len(want) > 0 {
			out = append(out, fmt.Sprintf("%s = %v, want exactly %v\n%s", st.status, got[st.status], want, dump(rs, st.status)))
		}
	}
	for _, w := range e.Warn {
		if !slices.Contains(got[checks.Warn], w) {
			out = append(out, fmt.Sprintf("want warning %s, warnings are %v", w, got[checks.Warn]))
		}
	}
	if e.Exit == 0 && len(got[checks.Pass]) < 20 {
		out = append(out, fmt.Sprintf("healthy scenario passed only %d results: %v", len(got[checks.Pass]), got[checks.Pass]))
	}
	for _, r := range rs {
		if r.Status == checks.Fail && r.Remediation == "" {
			out = append(out, Key(r)+" fails without a remediation")
		}
		if r.Status == checks.Skipped && r.Message == "" {
			out = append(out, Key(r)+" skipped without a reason")
		}
	}
	return out
}

func dump(rs []checks.Result, s checks.Status) string {
	var b strings.Builder
	for _, r := range rs {
		if r.Status == s {
			fmt.Fprintf(&b, "  %s %s: %s\n", r.Status, Key(r), r.Message)
		}
	}
	return b.String()
}
