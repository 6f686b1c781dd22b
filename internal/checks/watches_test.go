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

// A reader identity that may not watch some of what istiod watches is
// reported per resource, judged by istiod's features: the MCS kinds matter
// only with ENABLE_MCS_SERVICE_DISCOVERY.
func TestRemoteAccessReportsEachDeniedWatchByIstiodsFeatures(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", now)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := checks.Select(checks.Catalogue(), []string{"secrets.remote-access"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	denied := func(context.Context, string, string, cluster.RemoteKubeconfig) error {
		return &cluster.FetchError{Verb: cluster.VerbsWatched, Reason: cluster.ReasonForbidden,
			Resource: "serviceexports.multicluster.x-k8s.io,serviceimports.multicluster.x-k8s.io,gateways.gateway.networking.k8s.io"}
	}
	run := func(m *mesh.Mesh) map[string]checks.Result {
		out := map[string]checks.Result{}
		for _, r := range (&checks.Runner{Checks: sel}).Run(context.Background(), &checks.Env{Mesh: m, Now: now, RemoteAccess: denied}, nil) {
			if r.CheckID == "secrets.remote-access" && r.Cluster == "cluster-1" {
				out[r.Target] = r
			}
		}
		return out
	}
	got := run(mesh.Build(invs))
	gw := got["istio-remote-secret-cluster-2/cluster-2 gateways.gateway.networking.k8s.io"]
	if len(got) != 1 || gw.Status != checks.Warn || gw.Peer != "cluster-2" {
		t.Errorf("without MCS: %v, want only the Gateway API warning", got)
	}
	m := mesh.Build(invs)
	c := m.Cluster("cluster-1")
	ct := &c.Istiod.Spec.Template.Spec.Containers[0]
	ct.Env = append(ct.Env, corev1EnvVar("ENABLE_MCS_SERVICE_DISCOVERY", "true"))
	got = run(m)
	for _, res := range []string{"serviceexports.multicluster.x-k8s.io", "serviceimports.multicluster.x-k8s.io"} {
		r := got["istio-remote-secret-cluster-2/cluster-2 "+res]
		if r.Status != checks.Fail || !strings.Contains(r.Message, "ENABLE_MCS_SERVICE_DISCOVERY") || !strings.Contains(r.Remediation, "auth can-i list "+res) {
			t.Errorf("with MCS, %s: %s %q %q", res, r.Status, r.Message, r.Remediation)
		}
	}
}

func corev1EnvVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
