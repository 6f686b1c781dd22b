package checks_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// clientsOf loads a scenario into fake clientsets without collecting, so
// that a test can add contexts before the inventory is taken.
func clientsOf(t *testing.T, name string) []*cluster.Client {
	t.Helper()
	certs := scenario.NewCerts(time.Now())
	env := scenario.UnitEnv{Certs: certs}
	sc, err := scenario.Load(scenarioDir, name, env, certs)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := scenario.FakeClients(sc, env)
	if err != nil {
		t.Fatal(err)
	}
	return clients
}

// addKubeSystem gives a fake cluster the kube-system namespace a real API
// server has, with a UID (fake clientsets assign none).
func addKubeSystem(t *testing.T, c *cluster.Client, uid string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID(uid)}}
	if _, err := c.Kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func byKey(rs []checks.Result) map[checks.Status][]string {
	return scenario.ByStatus(rs)
}

// A kubeconfig with a second context for cluster-1's API server (an
// admin@ copy): the alias is reported once, as a warning, and nothing
// cascades — no "used by two contexts", every secrets.* check runs.
func TestContextAliasIsReportedOnceAndNeverCascades(t *testing.T) {
	cases := []struct {
		name  string
		alias func(t *testing.T, cs []*cluster.Client) *cluster.Client
		how   string
	}{
		{"same server URL and CA", func(t *testing.T, cs []*cluster.Client) *cluster.Client {
			a := *cs[0]
			a.Context = "admin@cluster-1"
			return &a
		}, "same server URL and CA"},
		{"same kube-system UID behind another URL", func(t *testing.T, cs []*cluster.Client) *cluster.Client {
			addKubeSystem(t, cs[0], "5f1d0c2e-0000-4000-8000-000000000001")
			addKubeSystem(t, cs[1], "5f1d0c2e-0000-4000-8000-000000000002")
			a := *cs[0]
			a.Context, a.Server = "a-cluster-1-by-ip", "https://10.214.0.1:6443"
			return &a
		}, "same kube-system namespace UID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := clientsOf(t, "healthy-multi-primary")
			alias := tc.alias(t, cs)
			cs = append(cs, alias)
			invs := cluster.CollectAll(context.Background(), cs, cluster.CollectOptions{})
			rs := runOn(invs)
			got := byKey(rs)
			if len(got[checks.Fail]) > 0 || len(got[checks.Error]) > 0 {
				t.Errorf("fail %v, error %v; want none", got[checks.Fail], got[checks.Error])
			}
			w := find(rs, "contexts.aliases", "")
			if len(w) != 1 || w[0].Status != checks.Warn || w[0].Target != "cluster-1" || !strings.Contains(w[0].Message, tc.how) || !strings.Contains(w[0].Message, alias.Context) {
				t.Fatalf("contexts.aliases = %+v, want one warning naming %s, represented by cluster-1, found by %s", w, alias.Context, tc.how)
			}
			for _, r := range rs {
				if strings.HasPrefix(r.CheckID, "secrets.") && r.Status == checks.Skipped && strings.Contains(r.Message, "prerequisite") {
					t.Errorf("%s@%s skipped by a cascade: %s", r.CheckID, r.Cluster, r.Message)
				}
				if r.Cluster == alias.Context && !strings.HasPrefix(r.CheckID, "contexts.") {
					t.Errorf("%s ran for the alias %s; its results are cluster-1's", r.CheckID, alias.Context)
				}
			}
			for _, cl := range []string{"cluster-1", "cluster-2"} {
				if rs := find(rs, "secrets.remote-coverage", cl); len(rs) == 0 || rs[0].Status != checks.Pass {
					t.Errorf("secrets.remote-coverage@%s = %+v, want a pass", cl, rs)
				}
			}
			if !slices.Contains(got[checks.Pass], "contexts.reachable@"+alias.Context) {
				t.Errorf("the alias's own reachability was not checked: passes %v", got[checks.Pass])
			}
		})
	}
}

// Context names need not be cluster names: kubeconfigs from clouds name
// contexts after the account and region, while istiod knows clusterName.
func TestContextNamesThatDifferFromClusterName(t *testing.T) {
	invs := loadInventories(t, "healthy-multi-primary")
	invs[0].Context, invs[1].Context = "arn:aws:eks:eu-west-1:111122223333:cluster/east", "gke_proj_europe-west1_west"
	rs := runOn(invs)
	got := byKey(rs)
	if len(got[checks.Fail]) > 0 || len(got[checks.Error]) > 0 {
		t.Errorf("fail %v, error %v; want none", got[checks.Fail], got[checks.Error])
	}
	cov := find(rs, "secrets.remote-coverage", "gke_proj_europe-west1_west")
	if len(cov) != 1 || cov[0].Status != checks.Pass || !strings.Contains(cov[0].Message, "clusterName cluster-1") {
		t.Errorf("remote-coverage of west = %+v, want it to find cluster-1's secret by clusterName", cov)
	}
	if w := find(rs, "contexts.aliases", ""); len(w) != 1 || w[0].Status != checks.Pass {
		t.Errorf("contexts.aliases = %+v, want a pass: two API servers", w)
	}
}
