package mesh_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

func kubeSystem(uid string) []corev1.Namespace {
	return []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID(uid)}}}
}

func TestFindAliases(t *testing.T) {
	cases := []struct {
		name string
		invs []*cluster.Inventory
		// alias context -> representative
		want map[string]string
	}{
		{"distinct servers are no aliases", []*cluster.Inventory{
			{Context: "a", Server: "https://a:6443", CAFingerprint: "1"},
			{Context: "b", Server: "https://b:6443", CAFingerprint: "1"},
		}, map[string]string{}},
		{"same URL but another CA is another server", []*cluster.Inventory{
			{Context: "a", Server: "https://127.0.0.1:6443", CAFingerprint: "1"},
			{Context: "b", Server: "https://127.0.0.1:6443", CAFingerprint: "2"},
		}, map[string]string{}},
		{"same URL and CA, trailing slash ignored", []*cluster.Inventory{
			{Context: "b", Server: "https://a:6443/", CAFingerprint: "1"},
			{Context: "a", Server: "https://a:6443", CAFingerprint: "1"},
		}, map[string]string{"b": "a"}},
		{"same kube-system UID across URLs, chained with a same-URL context", []*cluster.Inventory{
			{Context: "z-lb", Server: "https://lb:443", Namespaces: kubeSystem("u1")},
			{Context: "y-ip", Server: "https://10.0.0.1:6443", Namespaces: kubeSystem("u1")},
			{Context: "x-copy", Server: "https://10.0.0.1:6443"},
		}, map[string]string{"y-ip": "x-copy", "z-lb": "x-copy"}},
		{"an unreachable context does not represent its group", []*cluster.Inventory{
			{Context: "a", Server: "https://s:6443", Unreachable: &cluster.FetchError{Reason: cluster.ReasonUnauthorized}},
			{Context: "b", Server: "https://s:6443"},
		}, map[string]string{"a": "b"}},
		{"the context that can read more represents its group", []*cluster.Inventory{
			{Context: "a", Server: "https://s:6443", Errors: map[string]*cluster.FetchError{"secrets": {Reason: cluster.ReasonForbidden}}},
			{Context: "b", Server: "https://s:6443"},
		}, map[string]string{"a": "b"}},
		{"empty UIDs and empty servers match nothing", []*cluster.Inventory{
			{Context: "a", Namespaces: kubeSystem("")},
			{Context: "b", Namespaces: kubeSystem("")},
		}, map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mesh.Build(tc.invs)
			got := map[string]string{}
			for _, c := range m.Clusters {
				if c.IsAlias() {
					got[c.Name] = c.AliasOf
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("aliases %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("aliases %v, want %v", got, tc.want)
				}
			}
			for _, c := range m.Reachable() {
				if c.IsAlias() {
					t.Errorf("alias %s among the reachable clusters", c.Name)
				}
			}
		})
	}
}
