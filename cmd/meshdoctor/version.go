package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Stamped by the Makefile: -ldflags "-X main.version=... -X main.commit=...
// -X main.date=...". A binary built otherwise (go install, go build) takes
// them from the build information Go embeds (module version, VCS revision
// and time).
var (
	version = ""
	commit  = ""
	date    = ""
)

// provenIstio is the istio.io/istio version meshdoctor's integration tier
// runs (its pilot-discovery is the endpoint oracle): hack/istio.version,
// kept equal by TestVersionNamesThePinnedIstio.
const provenIstio = "v0.0.0-20260827124520-eed52ebb66ad"

// builtWith are the modules whose versions `meshdoctor version` reports.
var builtWith = []string{"k8s.io/client-go", "istio.io/api", "istio.io/client-go", "github.com/envoyproxy/go-control-plane/envoy"}

// BuildInfo is what `meshdoctor version -o json` prints.
type BuildInfo struct {
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	Date      string            `json:"date,omitempty"`
	GoVersion string            `json:"goVersion"`
	Modules   map[string]string `json:"modules"`
	// ProvenOn lists the Istio versions the tests run meshdoctor against.
	ProvenOn []string `json:"provenOn"`
}

// buildInfo combines the stamped values with Go's build information.
func buildInfo() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, Date: date, Modules: map[string]string{},
		ProvenOn: []string{"istio.io/istio@" + provenIstio}}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		b.GoVersion = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version // go install module@version
		}
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && commit == "" && b.Commit != "" {
			b.Commit += "-dirty"
		}
		for _, d := range bi.Deps {
			for _, m := range builtWith {
				if d.Path == m {
					v := d.Version
					if d.Replace != nil {
						v = d.Replace.Version
					}
					b.Modules[m] = v
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// versionString is the version as reports carry it: "v0.5.0", or
// "dev+58d0c30" for a development build.
func versionString() string {
	b := buildInfo()
	if b.Version == "dev" && b.Commit != "" {
		return "dev+" + shortCommit(b.Commit)
	}
	return b.Version
}

// shortCommit keeps 12 hex digits of a revision, and its "-dirty" mark.
func shortCommit(c string) string {
	rev, dirty := strings.CutSuffix(c, "-dirty")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

func newVersionCmd(streams IO) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print meshdoctor's version, what it was built with and the Istio versions it is proven on",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := buildInfo()
			switch output {
			case "json":
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			case "", "text":
				fmt.Fprintf(streams.Out, "meshdoctor %s\n", versionString())
				if b.Commit != "" {
					fmt.Fprintf(streams.Out, "  commit     %s\n", b.Commit)
				}
				if b.Date != "" {
					fmt.Fprintf(streams.Out, "  built      %s\n", b.Date)
				}
				fmt.Fprintf(streams.Out, "  go         %s\n", b.GoVersion)
				for _, m := range builtWith {
					if v := b.Modules[m]; v != "" {
						fmt.Fprintf(streams.Out, "  %-10s %s %s\n", "built with", m, v)
					}
				}
				for _, p := range b.ProvenOn {
					fmt.Fprintf(streams.Out, "  proven on  %s\n", p)
				}
				return nil
			default:
				return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want text or json", output)}
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
