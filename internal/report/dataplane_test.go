package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestTableHeaderNamesTheDataPlane: once any cluster runs ambient, the
// contexts table says each cluster's data plane; a sidecar-only mesh keeps
// the header it always had.
func TestTableHeaderNamesTheDataPlane(t *testing.T) {
	for _, tt := range []struct {
		name  string
		modes []string
		want  []string
	}{
		{"sidecar only", []string{"sidecar", "sidecar"}, nil},
		{"ambient beside sidecars", []string{"ambient", "sidecar+ambient"}, []string{"DATAPLANE", "ambient", "sidecar+ambient"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := Meta{Tool: "meshdoctor", Contexts: []ContextInfo{{Name: "cluster-1", DataPlane: tt.modes[0]}, {Name: "cluster-2", DataPlane: tt.modes[1]}}}
			var buf bytes.Buffer
			if err := Table(&buf, m, fixtureResults(), TableOptions{}); err != nil {
				t.Fatal(err)
			}
			head := buf.String()[:strings.Index(buf.String(), "STATUS")]
			if tt.want == nil && strings.Contains(head, "DATAPLANE") {
				t.Errorf("sidecar-only mesh shows a DATAPLANE column:\n%s", head)
			}
			for _, w := range tt.want {
				if !strings.Contains(head, w) {
					t.Errorf("header lacks %q:\n%s", w, head)
				}
			}
		})
	}
}
