package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// loadInventories takes a scenario's inventories from fake clientsets so
// that a test can change one object before the mesh is built.
func loadInventories(t *testing.T, name string) []*cluster.Inventory {
	t.Helper()
	_, invs, _, err := scenario.LoadFake(scenarioDir, name, time.Now())
	if err != nil {
		t.Fatalf("load scenario: %v", err)
	}
	return invs
}

func runOn(invs []*cluster.Inventory) []checks.Result {
	r := &checks.Runner{Checks: checks.Catalogue()}
	return r.Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: time.Now(), NoNetwork: true}, nil)
}

func find(rs []checks.Result, id, cl string) []checks.Result {
	var out []checks.Result
	for _, r := range rs {
		if r.CheckID == id && r.Cluster == cl {
			out = append(out, r)
		}
	}
	return out
}

func setData(t *testing.T, inv *cluster.Inventory, cm, key, value string) {
	t.Helper()
	c := inv.ConfigMap(cm)
	if c == nil {
		t.Fatalf("%s has no ConfigMap %s", inv.Context, cm)
	}
	c.Data[key] = value
}

// A meshID that differs in a revisioned cluster is reported with the
// ConfigMap that revision really reads (istio-1-31), not `istio`.
func TestMeshIDRemediationNamesTheRevisionsConfigMap(t *testing.T) {
	invs := loadInventories(t, "revisions-mixed")
	setData(t, invs[1], "istio-1-31", "mesh", "defaultConfig:\n  meshId: mesh2\n")
	rs := find(runOn(invs), "controlplane.mesh-id", "")
	if len(rs) != 1 || rs[0].Status != checks.Fail {
		t.Fatalf("mesh-id = %+v, want one failure", rs)
	}
	r := rs[0]
	if !strings.Contains(r.Message, `"mesh2" in cluster-2 revision 1-31`) {
		t.Errorf("message %q does not name the revision", r.Message)
	}
	if !strings.Contains(r.Remediation, "get cm istio-1-31 ") || strings.Contains(r.Remediation, "get cm istio ") && !strings.Contains(r.Remediation, "--context cluster-1 -n istio-system get cm istio ") {
		t.Errorf("remediation %q does not point at istio-1-31 for cluster-2", r.Remediation)
	}
}

// A canary: two revisions in one cluster, two minor versions apart. The
// skew between them is expected and does not fail version-skew (the
// clusters are compared by their default revisions, 1.28 both); both
// istiods are reported, each under its revision.
func TestCanaryRevisionsAreReportedEach(t *testing.T) {
	invs := loadInventories(t, "revisions-mixed")
	c2 := invs[1]
	// Add a default-revision istiod next to 1-31 (hand-written: a copy of
	// the rendered one with the default revision's names).
	d := *c2.Deployments[0].DeepCopy()
	d.Name, d.Labels["istio.io/rev"] = "istiod", "default"
	d.Spec.Template.Spec.Containers[0].Image = "docker.io/istio/pilot:1.28.0"
	d.Spec.Template.Spec.Containers[0].Env = d.Spec.Template.Spec.Containers[0].Env[1:] // drop REVISION
	c2.Deployments[0].Spec.Template.Spec.Containers[0].Image = "docker.io/istio/pilot:1.30.0"
	c2.Deployments = append(c2.Deployments, d)
	rs := runOn(invs)
	var targets []string
	for _, r := range find(rs, "controlplane.istiod-ready", "cluster-2") {
		targets = append(targets, r.Target+" "+r.Status.String())
	}
	if strings.Join(targets, ", ") != "revision 1-31 pass, revision default pass" {
		t.Errorf("istiod-ready for cluster-2: %v, want each revision to pass", targets)
	}
	skew := find(rs, "controlplane.version-skew", "")
	if len(skew) != 1 || skew[0].Status != checks.Pass {
		t.Errorf("version-skew = %+v, want a pass (1.28 and 1.30 are revisions of one cluster)", skew)
	}
}

// network.injector-network reads each revision's injector; without one it
// says so instead of passing.
func TestInjectorNetworkWithoutInjectorIsNoPass(t *testing.T) {
	invs := loadInventories(t, "revisions-mixed")
	c2 := invs[1]
	var kept []corev1.ConfigMap
	for _, cm := range c2.ConfigMaps {
		if cm.Name != "istio-sidecar-injector-1-31" {
			kept = append(kept, cm)
		}
	}
	c2.ConfigMaps = kept
	rs := find(runOn(invs), "network.injector-network", "cluster-2")
	if len(rs) != 1 || rs[0].Status != checks.Skipped || !strings.Contains(rs[0].Message, "istio-sidecar-injector-1-31") {
		t.Errorf("injector-network = %+v, want a skip naming istio-sidecar-injector-1-31", rs)
	}
}
