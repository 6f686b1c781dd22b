package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// registerCompletions completes --context from the kubeconfig (the one
// --kubeconfig names, when given before it) and --only / --skip from the
// check catalogue. `meshdoctor completion bash|zsh|fish|powershell`
// (cobra's) prints the script that uses them.
func registerCompletions(cmd *cobra.Command, o *CheckOptions) {
	_ = cmd.RegisterFlagCompletionFunc("context", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names, err := cluster.ContextNames(o.Kubeconfig)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return completeList(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	ids := func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var all []string
		for _, c := range checks.Catalogue() {
			all = append(all, c.ID+"\t"+c.Title)
		}
		return completeList(all, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	_ = cmd.RegisterFlagCompletionFunc("only", ids)
	_ = cmd.RegisterFlagCompletionFunc("skip", ids)
}

// registerOutputCompletion completes check's --output; call it after the
// flag is defined (cobra ignores a completion for a flag not defined yet,
// which is how -o completed nothing before).
func registerOutputCompletion(cmd *cobra.Command) {
	if err := cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"table", "short", "wide", "json", "yaml", "dot"}, cobra.ShellCompDirectiveNoFileComp
	}); err != nil {
		panic(err) // a programming error: the flag is not defined
	}
}

// completeList completes the last item of a comma-separated value: the
// items already typed are kept as the prefix of every candidate.
func completeList(candidates []string, toComplete string) []string {
	done, last := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	var out []string
	for _, c := range candidates {
		if strings.HasPrefix(c, last) {
			out = append(out, done+c)
		}
	}
	return out
}
