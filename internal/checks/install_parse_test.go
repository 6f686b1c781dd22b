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

// TestUnparseableConfigIsAnErrorNamingIt covers every ConfigMap and Secret
// meshdoctor parses, on rendered installs with one key broken the way a
// bad `kubectl edit` or a truncated paste breaks it: the result about it
// is an error that names the object, the key and the parse error, never a
// default and never a verdict about the mesh. Before, cacerts (both
// layouts), its key, istio-ca-root-cert and remote secrets failed instead,
// and a revision's ConfigMaps were only tested on the default revision.
func TestUnparseableConfigIsAnErrorNamingIt(t *testing.T) {
	half := func(s string) string { return s[:len(s)/2] }
	for _, tc := range []struct {
		name, scenario, cluster, kind, object, key string
		edit                                       func(string) string
		check, want                                string
	}{
		{"revision's mesh config", "install-rev", "cluster-2", "ConfigMap", "istio-1-31", "mesh",
			func(s string) string { return "defaultConfig: [\n" + s }, "controlplane.mesh-config", "ConfigMap istio-system/istio-1-31 key mesh"},
		{"revision's injector values", "install-rev", "cluster-2", "ConfigMap", "istio-sidecar-injector-1-31", "values",
			half, "controlplane.mesh-config", "ConfigMap istio-system/istio-sidecar-injector-1-31 key values"},
		{"remote cluster's values ConfigMap", "install-pr-mn", "cluster-2", "ConfigMap", "values", "merged-values",
			half, "controlplane.mesh-config", "ConfigMap istio-system/values key merged-values"},
		{"cacerts ca-cert.pem", "install-mp-mn", "cluster-2", "Secret", "cacerts", "ca-cert.pem",
			half, "trust.cacerts-valid", "secret istio-system/cacerts key ca-cert.pem"},
		{"cacerts ca-key.pem", "install-mp-mn", "cluster-2", "Secret", "cacerts", "ca-key.pem",
			half, "trust.cacerts-valid", "secret istio-system/cacerts key ca-key.pem"},
		{"cacerts tls.crt", "install-cacerts-tls", "cluster-2", "Secret", "cacerts", "tls.crt",
			half, "trust.cacerts-valid", "secret istio-system/cacerts key tls.crt"},
		{"cacerts ca.crt", "install-cacerts-tls", "cluster-2", "Secret", "cacerts", "ca.crt",
			half, "trust.cacerts-valid", "secret istio-system/cacerts key ca.crt"},
		{"istio-ca-root-cert", "install-mp-mn", "cluster-2", "ConfigMap", "istio-ca-root-cert", "root-cert.pem",
			half, "trust.istiod-uses-cacerts", "ConfigMap istio-system/istio-ca-root-cert key root-cert.pem"},
		{"remote secret", "install-mp-mn", "cluster-2", "Secret", "istio-remote-secret-cluster-1", "cluster-1",
			func(s string) string { return "\t" + s }, "secrets.remote-kubeconfig", "secret istio-system/istio-remote-secret-cluster-1 key cluster-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			certs := scenario.NewCerts(now)
			env := scenario.UnitEnv{Certs: certs}
			sc, err := scenario.Load(scenarioDir, tc.scenario, env, certs)
			if err != nil {
				t.Fatal(err)
			}
			edited := false
			for _, o := range sc.Objects[tc.cluster] {
				switch o := o.(type) {
				case *corev1.ConfigMap:
					if tc.kind == "ConfigMap" && o.Namespace == "istio-system" && o.Name == tc.object {
						v, ok := o.Data[tc.key]
						if !ok {
							t.Fatalf("%s has no key %s", tc.object, tc.key)
						}
						o.Data[tc.key], edited = tc.edit(v), true
					}
				case *corev1.Secret:
					if tc.kind == "Secret" && o.Namespace == "istio-system" && o.Name == tc.object {
						v, ok := o.Data[tc.key]
						if !ok {
							t.Fatalf("%s has no key %s", tc.object, tc.key)
						}
						o.Data[tc.key], edited = []byte(tc.edit(string(v))), true
					}
				}
			}
			if !edited {
				t.Fatalf("no %s istio-system/%s in %s of %s", tc.kind, tc.object, tc.cluster, tc.scenario)
			}
			clients, err := scenario.FakeClients(sc, env)
			if err != nil {
				t.Fatal(err)
			}
			invs := cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{})
			r := &checks.Runner{Checks: checks.Catalogue()}
			res := r.Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
			var found bool
			for _, r := range res {
				if r.CheckID != tc.check || r.Cluster != tc.cluster || !strings.Contains(r.Message, tc.want) {
					continue
				}
				found = true
				if r.Status != checks.Error {
					t.Errorf("%s is %s, want error: %s", scenario.Key(r), r.Status, r.Message)
				}
				if !strings.Contains(r.Message, "does not parse") && !strings.Contains(r.Message, "is not") {
					t.Errorf("%s does not give the parse error: %s", scenario.Key(r), r.Message)
				}
			}
			if !found {
				for _, r := range res {
					if r.Status != checks.Pass && r.Status != checks.Skipped {
						t.Logf("%s %s: %s", r.Status, scenario.Key(r), r.Message)
					}
				}
				t.Fatalf("no %s result for %s naming %q", tc.check, tc.cluster, tc.want)
			}
			for _, r := range res {
				if r.Status == checks.Fail {
					t.Errorf("a verdict on what could not be read: %s %s", scenario.Key(r), r.Message)
				}
			}
		})
	}
}
