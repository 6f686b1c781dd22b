package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
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
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The fix comes once meshdoctor has said that it will try again, and
	// what still fails: the attempt line is the event to wait on.
	var stderr bytes.Buffer
	attempt := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		sent := false
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !sent && strings.HasPrefix(sc.Text(), "meshdoctor: attempt 1:") {
				attempt <- sc.Text()
				sent = true
			}
		}
		close(attempt)
	}()
	line, ok := <-attempt
	if !ok {
		_ = cmd.Wait()
		t.Fatalf("check --wait ended without saying it would try again\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(line, "caused by gateway.address cluster-2") {
		t.Errorf("attempt line %q does not name the cause", line)
	}
	c := e.Cluster("cluster-2")
	svc, err := c.Admin.CoreV1().Services("istio-system").Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.214.2.10"}}
	if _, err := c.Admin.CoreV1().Services("istio-system").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for range attempt { // drain until stderr closes
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("check --wait exited with %v, want 0 once the gateway got its address\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
}
