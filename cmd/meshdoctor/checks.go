package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// checkInfo is one catalogue entry as `checks -o json` prints it.
type checkInfo struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Scope     string   `json:"scope"`
	DependsOn []string `json:"dependsOn"`
	Needs     []string `json:"needs"`
	Network   bool     `json:"network"`
}

func newChecksCmd(streams IO) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "checks",
		Short: "List the check catalogue: ID, scope, prerequisites, what it reads",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			switch output {
			case "json":
				infos := []checkInfo{}
				for _, c := range checks.Catalogue() {
					infos = append(infos, checkInfo{ID: c.ID, Title: c.Title, Scope: string(c.Scope),
						DependsOn: append([]string{}, c.DependsOn...), Needs: append([]string{}, c.Needs...), Network: c.Network})
				}
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			case "", "table":
			default:
				return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want table or json", output)}
			}
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
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
