package e2e

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// testExecScoped: deploy/rbac.yaml grants pods/exec and pods/portforward in
// istio-system and, through the RoleBinding its comments tell users to
// create, in the probe namespaces (the environment creates it in every
// scenario namespace) — and nowhere else: meshdoctor's identity cannot exec
// into kube-system. An exec the API server authorizes reaches the pod lookup
// (NotFound for a pod that does not exist); one it does not is Forbidden.
func testExecScoped(t *testing.T, e *testenv.Env, dir string) {
	apply(t, e, dir, "healthy-multi-primary")
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: e.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "cluster-1"}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		namespace string
		forbidden bool
	}{
		{"kube-system", true},
		{"default", true},
		{"istio-system", false},
		{"sample", false},
	} {
		t.Run(tc.namespace, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pod := envoyadmin.PodRef{Context: "cluster-1", Namespace: tc.namespace, Name: "no-such-pod"}
			_, _, _, err := envoyadmin.Exec(ctx, cfg, pod, "istio-proxy", []string{"true"})
			if err == nil {
				t.Fatal("exec into a pod that does not exist succeeded")
			}
			if got := envoyadmin.IsForbidden(err); got != tc.forbidden {
				t.Errorf("exec in %s: forbidden = %v, want %v (err: %v)", tc.namespace, got, tc.forbidden, err)
			}
			t.Logf("exec in %s: %v", tc.namespace, err)
		})
	}
}
