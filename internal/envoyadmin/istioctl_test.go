package envoyadmin

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTableMatchesIstioctl: meshdoctor reads each committed dump as the
// pinned istioctl's own parser does. The .istioctl-endpoints.txt files are
// what `istioctl proxy-config endpoints` lists of the dumps, written by
// hack/istiod/configdump's test with istioctl's code (make test runs it and
// fails when they drift); here the same rows must come out of Table.
func TestTableMatchesIstioctl(t *testing.T) {
	for _, name := range []string{"config_dump.json", "ambient-config_dump.json"} {
		t.Run(name, func(t *testing.T) {
			table, err := ParseConfigDump(bytes.NewReader(readFixture(t, name)))
			if err != nil {
				t.Fatal(err)
			}
			var rows []string
			for cluster, eps := range table {
				for _, e := range eps {
					addrs := append([]string{e.HostPort()}, e.AdditionalAddresses...)
					for i, a := range addrs {
						// istioctl joins address and port without brackets
						// (fd00::1:80); meshdoctor writes [fd00::1]:80.
						addrs[i] = strings.Replace(strings.Replace(a, "[", "", 1), "]", "", 1)
					}
					if e.Internal != "" {
						addrs[0] = e.Internal // istioctl shows the internal address, not its target
					}
					status := e.Health
					if status == "" {
						status = "UNKNOWN"
					}
					rows = append(rows, strings.Join([]string{strings.Join(addrs, ","), status, e.Locality, cluster}, "\t"))
				}
			}
			slices.Sort(rows)
			golden := filepath.Join(testdataDir, strings.TrimSuffix(name, ".json")+".istioctl-endpoints.txt")
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (cd hack/istiod && go test ./configdump/ -update)", err)
			}
			if got := strings.Join(rows, "\n") + "\n"; got != string(want) {
				t.Errorf("meshdoctor lists %s differently from istioctl (%s):\n got:\n%s\nwant:\n%s", name, golden, got, want)
			}
		})
	}
}
