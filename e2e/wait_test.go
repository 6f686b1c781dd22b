package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// testWait: `check --wait` re-runs while something fails, as in CI right
// after an install: a gateway whose load balancer gets its address a few
// seconds into the run turns the run green before the wait is over.
func testWait(t *testing.T, e *testenv.Env, bin, dir string) {
	applyWith(t, e, dir, "gateway-address-pending", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--kubeconfig", e.Kubeconfig, "--context", "cluster-1,cluster-2",
		"--no-network", "--wait", "60s", "-o", "short")
	cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	c := e.Cluster("cluster-2")
	svc, err := c.Admin.CoreV1().Services("istio-system").Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.214.2.10"}}
	if _, err := c.Admin.CoreV1().Services("istio-system").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("check --wait exited with %v after %s, want 0 once the gateway got its address\nstdout:\n%s\nstderr:\n%s", err, took, stdout.String(), stderr.String())
	}
	if took < 3*time.Second || took > 30*time.Second {
		t.Errorf("check --wait took %s: want it to wait for the fix (3 s) and stop soon after", took)
	}
}
