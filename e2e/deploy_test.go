package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// deployer is an identity with meshdoctor's read-only rights plus
// create/delete of pods in sample: what --deploy-probes needs.
const deployer = "meshdoctor-deployer"

func grantDeploy(t *testing.T, e *testenv.Env) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{"cluster-1", "cluster-2"} {
		c := e.Cluster(name)
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "probe-deployer", Namespace: "sample"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "delete", "get"}}}}
		if _, err := c.Admin.RbacV1().Roles("sample").Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "probe-deployer", Namespace: "sample"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "probe-deployer"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: deployer}}}
		if _, err := c.Admin.RbacV1().RoleBindings("sample").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := e.UserKubeconfig(deployer, testenv.MeshdoctorGroup)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func probePods(t *testing.T, e *testenv.Env, name string) []corev1.Pod {
	t.Helper()
	l, err := e.Cluster(name).Admin.CoreV1().Pods("sample").List(context.Background(), metav1.ListOptions{LabelSelector: cluster.ProbeLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// testDeployProbes: --deploy-probes is the only write meshdoctor makes. Its
// pods are created, waited for, and deleted after the run, and also when
// the run is interrupted; the audit logs show that and nothing else.
func testDeployProbes(t *testing.T, e *testenv.Env, bin, dir string) {
	applyWith(t, e, dir, "healthy-multi-primary", nil)
	kc := grantDeploy(t, e)
	// Without the scenario's own sleep pods, the deployed ones are the only
	// probe clients.
	for _, name := range []string{"cluster-1", "cluster-2"} {
		if err := e.Cluster(name).Admin.CoreV1().Pods("sample").Delete(context.Background(), "sleep-5d8b6c4b8-"+name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("pods that never run are removed after the run", func(t *testing.T) {
		res := run(t, bin, kc, "--context", "cluster-1,cluster-2", "--only", "probes.cross-cluster",
			"--deploy-probes", "sample", "--deploy-timeout", "2s")
		seen := 0
		for _, r := range res.doc.Results {
			if r.CheckID != "probes.cross-cluster" {
				continue
			}
			seen++
			if r.Status != checks.Skipped || !strings.Contains(r.Message, "--deploy-probes: probe pod sample/meshdoctor-probe-") || !strings.Contains(r.Message, "did not run within 2s") {
				t.Errorf("%s: %s %q, want skipped saying the deployed pod did not run", r.Cluster, r.Status, r.Message)
			}
		}
		if seen != 2 {
			t.Errorf("%d probes.cross-cluster results, want 2", seen)
		}
		for _, c := range []string{"cluster-1", "cluster-2"} {
			if left := probePods(t, e, c); len(left) > 0 {
				t.Errorf("%s: %d probe pods left behind", c, len(left))
			}
		}
	})

	t.Run("Ctrl-C removes the pods", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "check", "--kubeconfig", kc, "--context", "cluster-1,cluster-2",
			"--only", "probes.cross-cluster", "--deploy-probes", "sample", "--deploy-timeout", "5m", "-o", "json")
		cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(probePods(t, e, "cluster-1"))+len(probePods(t, e, "cluster-2")) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("the probe pods were never created; stderr:\n%s", stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = cmd.Wait()
		if took := time.Since(start); took > 25*time.Second {
			t.Errorf("meshdoctor took %s to stop after Ctrl-C", took)
		}
		for _, c := range []string{"cluster-1", "cluster-2"} {
			if left := probePods(t, e, c); len(left) > 0 {
				t.Errorf("%s: %d probe pods left after Ctrl-C", c, len(left))
			}
		}
	})

	// The deployer wrote pods in sample, and nothing else.
	for _, name := range []string{"cluster-1", "cluster-2"} {
		c := e.Cluster(name)
		evs, err := e.AuditEvents(c.Name)
		if err != nil {
			t.Fatal(err)
		}
		var verbs []string
		for _, w := range testenv.Writes(evs, deployer) {
			if w.ObjectRef == nil || w.ObjectRef.Resource != "pods" || w.ObjectRef.Namespace != "sample" || w.ObjectRef.Subresource != "" {
				t.Errorf("%s: the deployer wrote %s %s", c.Name, w.Verb, w.RequestURI)
				continue
			}
			if w.Stage == "ResponseComplete" {
				verbs = append(verbs, w.Verb)
			}
		}
		slices.Sort(verbs)
		if want := []string{"create", "create", "delete", "delete"}; !slices.Equal(verbs, want) {
			t.Errorf("%s: the deployer's writes were %v, want %v", c.Name, verbs, want)
		}
	}
}
