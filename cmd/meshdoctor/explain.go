package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/docs"
	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// ExplainOptions are the options of `meshdoctor explain [ID]`.
type ExplainOptions struct {
	IO IO
	// ID is the check to explain; empty lists the IDs.
	ID string
}

func newExplainCmd(streams IO) *cobra.Command {
	o := &ExplainOptions{IO: streams}
	return &cobra.Command{
		Use:   "explain [check-id]",
		Short: "Print a check's documentation: what it reads, why it breaks traffic, how to confirm and fix",
		Long: `explain prints the documentation page of a check (docs/checks/<id>.md in the
repository, embedded in the binary) as markdown. Without an ID it lists the
check IDs. Every result in the JSON and JUnit reports names its page.`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, c := range checks.Catalogue() {
				if strings.HasPrefix(c.ID, toComplete) {
					out = append(out, c.ID+"\t"+c.Title)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.ID = strings.TrimSpace(args[0])
			}
			return o.Run()
		},
	}
}

// Run prints the page, or the list of IDs.
func (o *ExplainOptions) Run() error {
	if o.ID == "" {
		tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTITLE")
		for _, c := range checks.Catalogue() {
			fmt.Fprintf(tw, "%s\t%s\n", c.ID, c.Title)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(o.IO.Out, "\nmeshdoctor explain <check-id> prints a check's page.")
		return nil
	}
	page, ok := docs.Page(o.ID)
	if !ok {
		msg := fmt.Sprintf("no check %q", o.ID)
		if near := closestIDs(o.ID, knownIDs(), 3); len(near) > 0 {
			msg += "; did you mean " + strings.Join(near, ", ") + "?"
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("%s (meshdoctor explain lists the IDs)", msg)}
	}
	_, err := o.IO.Out.Write(page)
	return err
}

// knownIDs are the catalogue's IDs and any page's, without duplicates.
func knownIDs() []string {
	ids := docs.IDs()
	for _, c := range checks.Catalogue() {
		if !slices.Contains(ids, c.ID) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// closestIDs returns the IDs nearest to what was typed: every ID of an area
// typed as a prefix ("trust", "trust.") first, then up to n others that
// contain it ("root-match") or are within an edit distance of half the ID's
// length, nearest first.
func closestIDs(typed string, ids []string, n int) []string {
	typed = strings.ToLower(typed)
	type cand struct {
		id   string
		rank int
	}
	var cs []cand
	prefixed := 0
	for _, id := range ids {
		switch d := editDistance(typed, id); {
		case strings.HasPrefix(id, typed) && typed != "":
			cs = append(cs, cand{id, -2})
			prefixed++
		case strings.Contains(id, typed) && typed != "":
			cs = append(cs, cand{id, -1})
		case d <= max(len(id)/2, 2):
			cs = append(cs, cand{id, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.id, b.id)
	})
	var out []string
	for _, c := range cs[:min(max(n, prefixed), len(cs))] {
		out = append(out, c.id)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes: IDs are
// ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
