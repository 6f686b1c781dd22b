// Package configdump_test holds the envoy dumps meshdoctor's generator writes
// (testdata/envoy) to istioctl's own parser, from the pinned Istio: what
// `istioctl proxy-config endpoints` lists of each dump is recorded as
// testdata/envoy/<dump>.istioctl-endpoints.txt, and meshdoctor's
// internal/envoyadmin TestTableMatchesIstioctl must list the same rows. So
// the generator cannot drift from what Envoy writes without istioctl seeing
// it, and meshdoctor's parser cannot read a dump differently from istioctl.
//
//	cd hack/istiod && go test ./configdump/ -update   # after make envoy-fixtures
package configdump_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/istioctl/pkg/writer/envoy/configdump"
)

var update = flag.Bool("update", false, "rewrite the .istioctl-endpoints.txt files")

const testdata = "../../../testdata/envoy"

func TestIstioctlListsTheDumps(t *testing.T) {
	for _, name := range []string{"config_dump.json", "ambient-config_dump.json"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testdata, name))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cw := &configdump.ConfigWriter{Stdout: &out}
			if err := cw.Prime(data); err != nil {
				t.Fatalf("istioctl cannot read the dump: %v", err)
			}
			if err := cw.PrintEndpointsSummary(configdump.EndpointFilter{}); err != nil {
				t.Fatal(err)
			}
			rows := columns(t, out.String())
			if len(rows) == 0 {
				t.Fatal("istioctl lists no endpoint")
			}
			got := strings.Join(rows, "\n") + "\n"
			golden := filepath.Join(testdata, strings.TrimSuffix(name, ".json")+".istioctl-endpoints.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./configdump/ -update)", err)
			}
			if string(want) != got {
				t.Errorf("istioctl lists %s differently from %s:\n%s", name, golden, got)
			}
		})
	}
}

// columns cuts tabwriter's aligned output at the header's column starts
// (a cell may be empty: the locality of a gateway endpoint) and returns the
// rows as tab-separated cells, sorted.
func columns(t *testing.T, out string) []string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	var starts []int
	for _, h := range []string{"NAME", "STATUS", "LOCALITY", "CLUSTER"} {
		i := strings.Index(header, h)
		if i < 0 {
			t.Fatalf("header %q has no %s", header, h)
		}
		starts = append(starts, i)
	}
	var rows []string
	for _, l := range lines[1:] {
		var cells []string
		for i, s := range starts {
			end := len(l)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(l))
			}
			if s > len(l) {
				cells = append(cells, "")
				continue
			}
			cells = append(cells, strings.TrimSpace(l[s:end]))
		}
		rows = append(rows, strings.Join(cells, "\t"))
	}
	slices.Sort(rows)
	return rows
}
