package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func newChecksCmd(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:   "checks",
		Short: "List the check catalogue: ID, scope, prerequisites, what it reads",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tDEPENDS ON\tNEEDS\tTITLE")
			for _, c := range checks.Catalogue() {
				needs := strings.Join(c.Needs, ",")
				if c.Network {
					needs = strings.TrimPrefix(needs+",network", ",")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Scope, dash(strings.Join(c.DependsOn, ",")), dash(needs), c.Title)
			}
			return tw.Flush()
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
