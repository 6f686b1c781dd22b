package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestRemoteServedAgreesWithIstiod runs the real istiod of the rendered
// primary-remote install's primary (cluster-1, its Deployment's env) with
// its remote secret for cluster-2, and reads istiod's own decision whether
// it leads cluster-2: multicluster.go logs "should join leader-election for
// cluster <id>: <bool>" once checkShouldLead has read the remote's
// istio-system. meshdoctor's controlplane.remote-served must pass exactly
// when istiod says true: the healthy row, without the controlPlaneClusters
// annotation, and without EXTERNAL_ISTIOD; and the same on the revisioned
// row (install-pr-rev, istiod-1-31), healthy and without EXTERNAL_ISTIOD.
func TestRemoteServedAgreesWithIstiod(t *testing.T) {
	root, e, bin := oracleEnv(t)
	dir := filepath.Join(root, "testdata", "scenarios")
	decision := regexp.MustCompile(`should join leader-election for cluster cluster-2: (true|false)`)
	for _, tc := range []struct {
		name string
		lead bool
		// deployment is the primary's istiod Deployment ("" for istiod):
		// the revisioned row runs istiod-1-31 with REVISION=1-31.
		deployment string
	}{
		{"install-pr-mn", true, ""},
		{"install-pr-mn-no-control-plane-clusters", false, ""},
		{"install-pr-mn-no-external-istiod", false, ""},
		{"install-pr-rev", true, "istiod-1-31"},
		{"install-pr-rev-no-external-istiod", false, "istiod-1-31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			applyWith(t, e, dir, tc.name, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			ist, err := testenv.StartIstiod(ctx, e, "cluster-1", testenv.IstiodOptions{Deployment: tc.deployment})
			if err != nil {
				t.Fatal(err)
			}
			defer ist.Stop()
			// Wait for istiod's decision in its log (the event), bounded by ctx.
			var said string
			for said == "" {
				b, err := os.ReadFile(ist.Log())
				if err != nil {
					t.Fatal(err)
				}
				if m := decision.FindSubmatch(b); m != nil {
					said = string(m[1])
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("istiod logged no leader-election decision for cluster-2 (%v); log %s", ctx.Err(), ist.Log())
				case <-time.After(200 * time.Millisecond):
				}
			}
			if tc.deployment != "" {
				// The revision took: istiod logs the mesh config it loaded
				// (pilot/pkg/bootstrap/mesh.go initMeshConfiguration), and
				// only the istio-1-31 ConfigMap's discoveryAddress names
				// istiod-1-31; without it istiod would run as revision
				// "default" with the built-in mesh config.
				b, err := os.ReadFile(ist.Log())
				if err != nil {
					t.Fatal(err)
				}
				if want := "discoveryAddress: " + tc.deployment + ".istio-system.svc:15012"; !strings.Contains(string(b), want) {
					t.Fatalf("istiod did not load the mesh config of its revision (no %q in its log %s)", want, ist.Log())
				}
			}
			if want := map[bool]string{true: "true", false: "false"}[tc.lead]; said != want {
				t.Fatalf("istiod says it leads cluster-2: %s, the scenario expects %s", said, want)
			}
			res := run(t, bin, e.Kubeconfig, "--context", "cluster-1,cluster-2", "--only", "controlplane.remote-served", "--no-network")
			var got *checks.Result
			for i, r := range res.doc.Results {
				if r.CheckID == "controlplane.remote-served" && r.Cluster == "cluster-2" {
					got = &res.doc.Results[i]
				}
			}
			if got == nil {
				t.Fatalf("no controlplane.remote-served result for cluster-2: %v", scenario.ByStatus(res.doc.Results))
			}
			t.Logf("istiod: leads cluster-2 = %s; meshdoctor: %s %s", said, got.Status, got.Message)
			if (got.Status == checks.Pass) != tc.lead {
				t.Errorf("meshdoctor says %s (%s), istiod says it leads cluster-2: %s", got.Status, got.Message, said)
			}
		})
	}
}
