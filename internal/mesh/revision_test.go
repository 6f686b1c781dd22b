package mesh_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// The objects below are hand-written and minimal: only the fields the
// revision model reads of what the istio-discovery chart renders
// (deployment.yaml, configmap.yaml, istiod-injector-configmap.yaml,
// mutatingwebhook.yaml, revision-tags-mwc.yaml).

func istiod(rev, clusterID, tag string) appsv1.Deployment {
	name, env := "istiod", []corev1.EnvVar{{Name: "CLUSTER_ID", Value: clusterID}}
	labelRev := "default"
	if rev != "" {
		name, labelRev = "istiod-"+rev, rev
		env = append(env, corev1.EnvVar{Name: "REVISION", Value: rev})
	}
	return appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: map[string]string{"app": "istiod", "istio.io/rev": labelRev}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "discovery", Image: "docker.io/istio/pilot:" + tag, Env: env}}}}},
	}
}

func configMap(name, key, value string) corev1.ConfigMap {
	return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"}, Data: map[string]string{key: value}}
}

func webhook(name, rev, tag string) cluster.WebhookConfig {
	l := map[string]string{"istio.io/rev": rev}
	if tag != "" {
		l["istio.io/tag"] = tag
	}
	return cluster.WebhookConfig{Name: name, Labels: l}
}

func TestRevisions(t *testing.T) {
	type want struct {
		name, istiod, meshCM, injCM, meshID, td, id, version, webhook, tags string
	}
	cases := []struct {
		name string
		inv  cluster.Inventory
		revs []want
		rep  string
	}{
		{
			name: "revisioned install reads istio-<rev> and istio-sidecar-injector-<rev>",
			inv: cluster.Inventory{
				Deployments: []appsv1.Deployment{istiod("1-31", "cluster-2", "1.31.0")},
				ConfigMaps: []corev1.ConfigMap{
					configMap("istio-1-31", "mesh", "defaultConfig:\n  meshId: mesh1\ntrustDomain: td.example\n"),
					configMap("istio-sidecar-injector-1-31", "values", `{"global":{"meshID":"mesh1","network":"network2"},"revision":"1-31"}`),
					configMap("istio-ca-root-cert", "root-cert.pem", "x"),
					configMap("istio-leader", "x", "y"),
				},
				MutatingWebhooks: []cluster.WebhookConfig{webhook("istio-sidecar-injector-1-31", "1-31", ""), webhook("istio-revision-tag-prod", "1-31", "prod")},
			},
			revs: []want{{"1-31", "istiod-1-31", "istio-1-31", "istio-sidecar-injector-1-31", "mesh1", "td.example", "cluster-2", "1.31.0", "istio-sidecar-injector-1-31", "prod"}},
			rep:  "1-31",
		},
		{
			name: "canary: default and 1-31 side by side, the default revision speaks for the cluster",
			inv: cluster.Inventory{
				Deployments: []appsv1.Deployment{istiod("1-31", "c", "1.31.0"), istiod("", "c", "1.30.2")},
				ConfigMaps: []corev1.ConfigMap{
					configMap("istio", "mesh", "defaultConfig:\n  meshId: mesh1\n"),
					configMap("istio-sidecar-injector", "values", `{"global":{}}`),
					configMap("istio-1-31", "mesh", "defaultConfig:\n  meshId: mesh1\n"),
					configMap("istio-sidecar-injector-1-31", "values", `{"global":{}}`),
				},
			},
			revs: []want{
				{"default", "istiod", "istio", "istio-sidecar-injector", "mesh1", "cluster.local", "c", "1.30.2", "", ""},
				{"1-31", "istiod-1-31", "istio-1-31", "istio-sidecar-injector-1-31", "mesh1", "cluster.local", "c", "1.31.0", "", ""},
			},
			rep: "default",
		},
		{
			name: "the default tag moves the cluster to its revision",
			inv: cluster.Inventory{
				Deployments:      []appsv1.Deployment{istiod("1-31", "c", "1.31.0"), istiod("", "c", "1.30.2")},
				ConfigMaps:       []corev1.ConfigMap{configMap("istio", "mesh", ""), configMap("istio-1-31", "mesh", "")},
				MutatingWebhooks: []cluster.WebhookConfig{webhook("istio-revision-tag-default", "1-31", "default")},
			},
			revs: []want{
				{"default", "istiod", "istio", "istio-sidecar-injector", "cluster.local", "cluster.local", "c", "1.30.2", "", ""},
				{"1-31", "istiod-1-31", "istio-1-31", "istio-sidecar-injector-1-31", "cluster.local", "cluster.local", "c", "1.31.0", "", "default"},
			},
			rep: "1-31",
		},
		{
			name: "remote cluster: only the injector ConfigMap of the revision",
			inv: cluster.Inventory{
				ConfigMaps: []corev1.ConfigMap{
					configMap("istio-sidecar-injector-1-31", "values", `{"global":{"meshID":"mesh1","tag":"1.31.0","multiCluster":{"clusterName":"remote-1"},"remotePilotAddress":"10.0.0.1"}}`),
				},
			},
			revs: []want{{"1-31", "", "istio-1-31", "istio-sidecar-injector-1-31", "mesh1", "cluster.local", "remote-1", "1.31.0", "", ""}},
			rep:  "1-31",
		},
		{
			// istioctl manifest generate --set profile=remote renders no
			// istio or istio-sidecar-injector ConfigMap: the webhook's path
			// carries the cluster and network, the values ConfigMap the rest.
			name: "remote profile: webhook injection path and values ConfigMap",
			inv: cluster.Inventory{
				ConfigMaps: []corev1.ConfigMap{func() corev1.ConfigMap {
					cm := configMap("values", "merged-values", `{"global":{"meshID":"mesh1","tag":"1.31.0","remotePilotAddress":"10.0.0.1","multiCluster":{"clusterName":"remote-1"}}}`)
					cm.Labels = map[string]string{"istio.io/rev": "default"}
					return cm
				}()},
				MutatingWebhooks: []cluster.WebhookConfig{{Name: "istio-sidecar-injector", Labels: map[string]string{"istio.io/rev": "default"},
					Webhooks: []cluster.Webhook{{Name: "rev.namespace.sidecar-injector.istio.io",
						Service: &cluster.WebhookService{Namespace: "istio-system", Name: "istiod", Path: "/inject/cluster/remote-1/net/network1", Port: 443}}}}},
			},
			revs: []want{{"default", "", "istio", "istio-sidecar-injector", "mesh1", "cluster.local", "remote-1", "1.31.0", "istio-sidecar-injector", ""}},
			rep:  "default",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.inv.Context = "c"
			c := mesh.Build([]*cluster.Inventory{&tc.inv}).Clusters[0]
			if len(c.Revisions) != len(tc.revs) {
				t.Fatalf("%d revisions, want %d", len(c.Revisions), len(tc.revs))
			}
			for i, w := range tc.revs {
				r := c.Revisions[i]
				istiodName := ""
				if r.Istiod != nil {
					istiodName = r.Istiod.Name
				}
				got := want{r.Name, istiodName, r.MeshConfigMap, r.InjectorConfigMap, r.MeshID, r.TrustDomain, r.ID, r.Version, r.Webhook, strings.Join(r.Tags, ",")}
				if got != w {
					t.Errorf("revision %d:\n got %+v\nwant %+v", i, got, w)
				}
				if errs := r.ConfigErrors(); len(errs) > 0 {
					t.Errorf("revision %s: unexpected parse errors %v", r.Name, errs)
				}
			}
			if c.Rev == nil || c.Rev.Name != tc.rep {
				t.Errorf("representative revision %v, want %s", c.Rev, tc.rep)
			}
			if tc.name == "remote profile: webhook injection path and values ConfigMap" &&
				(c.Rev.Network != "network1" || c.ValuesString("global", "remotePilotAddress") != "10.0.0.1") {
				t.Errorf("network %q, remotePilotAddress %q", c.Rev.Network, c.ValuesString("global", "remotePilotAddress"))
			}
			if tc.name == "remote profile: webhook injection path and values ConfigMap" && !c.Rev.InjectedElsewhere() {
				t.Error("a remote-profile revision is not marked as injected by a primary")
			}
			if c.MeshID != c.Rev.MeshID || c.TrustDomain != c.Rev.TrustDomain || c.ID != c.Rev.ID || c.Version != c.Rev.Version {
				t.Errorf("cluster identity %s/%s/%s/%s is not its representative revision's", c.MeshID, c.TrustDomain, c.ID, c.Version)
			}
		})
	}
}

func TestResolveRevision(t *testing.T) {
	inv := &cluster.Inventory{Context: "c",
		Deployments:      []appsv1.Deployment{istiod("1-31", "c", "1.31.0")},
		MutatingWebhooks: []cluster.WebhookConfig{webhook("istio-revision-tag-prod", "1-31", "prod"), webhook("istio-revision-tag-old", "1-30", "old")},
	}
	c := mesh.Build([]*cluster.Inventory{inv}).Clusters[0]
	for _, tc := range []struct{ value, rev, tag string }{
		{"1-31", "1-31", ""}, {"prod", "1-31", "prod"}, {"old", "", "old"}, {"canary", "", ""}, {"default", "", ""},
	} {
		r, tag := c.ResolveRevision(tc.value)
		name := ""
		if r != nil {
			name = r.Name
		}
		if name != tc.rev || tag != tc.tag {
			t.Errorf("ResolveRevision(%q) = %q, %q; want %q, %q", tc.value, name, tag, tc.rev, tc.tag)
		}
	}
}

// A ConfigMap that does not parse is an error naming the object and the
// parse error; the revision's identity is then not taken from a default.
func TestConfigParseErrorsNameTheObject(t *testing.T) {
	cases := []struct {
		name, cm, key, value, want string
	}{
		{"mesh is not YAML", "istio-1-31", "mesh", "defaultConfig: {meshId: mesh1", "ConfigMap istio-system/istio-1-31 key mesh is not YAML"},
		{"mesh is not a MeshConfig", "istio-1-31", "mesh", "trustDomain: [a, b]\n", "ConfigMap istio-system/istio-1-31 key mesh is not a MeshConfig"},
		{"values are truncated JSON", "istio-sidecar-injector-1-31", "values", `{"global": {`, "ConfigMap istio-system/istio-sidecar-injector-1-31 key values does not parse"},
		{"values are a list, not a map", "istio-sidecar-injector-1-31", "values", "- global\n", "ConfigMap istio-system/istio-sidecar-injector-1-31 key values does not parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := &cluster.Inventory{Context: "c",
				Deployments: []appsv1.Deployment{istiod("1-31", "c", "1.31.0")},
				ConfigMaps:  []corev1.ConfigMap{configMap(tc.cm, tc.key, tc.value)},
			}
			r := mesh.Build([]*cluster.Inventory{inv}).Clusters[0].Revision("1-31")
			errs := r.ConfigErrors()
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Fatalf("errors %v, want one starting %q", errs, tc.want)
			}
		})
	}
	t.Run("values in YAML parse, as istiod reads them", func(t *testing.T) {
		inv := &cluster.Inventory{Context: "c", Deployments: []appsv1.Deployment{istiod("", "c", "1.31.0")},
			ConfigMaps: []corev1.ConfigMap{configMap("istio-sidecar-injector", "values", "global:\n  meshID: mesh7\n")}}
		r := mesh.Build([]*cluster.Inventory{inv}).Clusters[0].Rev
		if len(r.ConfigErrors()) > 0 || r.MeshID != "mesh7" {
			t.Errorf("errors %v, meshID %q", r.ConfigErrors(), r.MeshID)
		}
	})
	t.Run("values that do not parse leave a remote's cluster ID unknown, not Kubernetes", func(t *testing.T) {
		inv := &cluster.Inventory{Context: "c", ConfigMaps: []corev1.ConfigMap{configMap("istio-sidecar-injector", "values", "{")},
			Services: []cluster.Service{{Name: "istiod", Namespace: "istio-system"}}}
		c := mesh.Build([]*cluster.Inventory{inv}).Clusters[0]
		if c.Role != mesh.Remote || c.ID != "" || !strings.Contains(c.IDSource, "does not parse") {
			t.Errorf("role %s, ID %q (%s)", c.Role, c.ID, c.IDSource)
		}
	})
}
