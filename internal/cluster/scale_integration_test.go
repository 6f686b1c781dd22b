package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestInventoryFootprintOnARealAPIServer loads a real kube-apiserver (the
// integration tier) with 2,000 and then 20,000 Services and one 5-endpoint
// EndpointSlice each (largeCluster's shapes; the server writes its own
// managedFields; the Services are headless, which spares the ClusterIP
// allocator) and logs what Collect and the check graph cost on it. It
// takes minutes, so it runs only with MESHDOCTOR_SCALE=1; with
// MESHDOCTOR_SCALE_BINS (comma-separated meshdoctor binaries, e.g. two
// builds to compare) it also runs each as a user would. It asserts only
// that the inventory is complete.
func TestInventoryFootprintOnARealAPIServer(t *testing.T) {
	if os.Getenv("MESHDOCTOR_SCALE") == "" {
		t.Skip("set MESHDOCTOR_SCALE=1: loads 40,000 objects into a kube-apiserver (minutes)")
	}
	e := testenv.Start(t, testenv.Options{Clusters: 1})
	c := e.Cluster("cluster-1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const total = 20000
	svcs, slices := cluster.LargeCluster(total, 5)
	for i := range 300 {
		if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%03d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	created := 0
	for _, n := range []int{2000, total} {
		start := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i := created; i < n; i++ {
			g.Go(func() error {
				s := svcs.Items[i].DeepCopy()
				s.UID, s.ResourceVersion, s.ManagedFields = "", "", nil
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, nil
				if _, err := c.Admin.CoreV1().Services(s.Namespace).Create(gctx, s, metav1.CreateOptions{}); err != nil {
					return err
				}
				es := slices.Items[i].DeepCopy()
				es.UID, es.ResourceVersion, es.ManagedFields, es.OwnerReferences, es.GenerateName = "", "", nil, nil, ""
				_, err := c.Admin.DiscoveryV1().EndpointSlices(es.Namespace).Create(gctx, es, metav1.CreateOptions{})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		t.Logf("created %d Services and EndpointSlices in %s", n-created, time.Since(start).Round(time.Second))
		created = n

		client, err := cluster.NewClient(c.Name, c.AdminConfig, cluster.LoadOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM; best effort
		rss0 := vmHWM()
		start = time.Now()
		inv := cluster.Collect(ctx, client, cluster.CollectOptions{})
		collected := time.Since(start)
		(&checks.Runner{Checks: checks.Catalogue()}).Run(ctx, &checks.Env{Mesh: mesh.Build([]*cluster.Inventory{inv}), Now: time.Now(), NoNetwork: true}, nil)
		all := time.Since(start)
		peak := vmHWM()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if inv.Unreachable != nil || inv.Errors[cluster.ResServices] != nil || inv.Errors[cluster.ResEndpointSlices] != nil ||
			len(inv.Services) != n+1 || len(inv.EndpointSlices) < n {
			t.Fatalf("inventory incomplete: %v %v, %d services, %d slices", inv.Unreachable, inv.Errors, len(inv.Services), len(inv.EndpointSlices))
		}
		t.Logf("kube-apiserver with %d Services + %d EndpointSlices (5 endpoints): Collect %s, with checks %s; inventory kept %.1f MiB of heap, %.1f MiB allocated; peak RSS %.1f MiB (%.1f MiB at start)",
			n, n, collected.Round(time.Millisecond), all.Round(time.Millisecond),
			float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20),
			float64(peak)/(1<<20), float64(rss0)/(1<<20))
		runtime.KeepAlive(inv)
		for _, bin := range strings.Split(os.Getenv("MESHDOCTOR_SCALE_BINS"), ",") {
			if bin != "" {
				runBinary(t, ctx, bin, e.AdminKubeconfig, n)
			}
		}
	}
}

// runBinary runs `meshdoctor check --no-network` on the cluster twice
// under GNU time and logs each run's wall time, CPU and peak RSS. (The
// kernel's maxrss of a child that Go starts directly is polluted by the
// parent's: Go's vfork shares the test's memory until exec, and exec
// records its high-water mark. GNU time forks, so its child's is its own.)
func runBinary(t *testing.T, ctx context.Context, bin, kubeconfig string, n int) {
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		t.Logf("no /usr/bin/time: not running %s", bin)
		return
	}
	stats := filepath.Join(t.TempDir(), "time")
	for range 2 {
		cmd := exec.CommandContext(ctx, gnuTime, "-f", "%e %U %S %M", "-o", stats,
			bin, "check", "--kubeconfig", kubeconfig, "--context", "cluster-1", "--no-network", "-o", "json")
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "KUBECONFIG=/dev/null")
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", bin, err)
		}
		if !bytes.Contains(out, []byte(`"check"`)) {
			t.Fatalf("%s wrote no report: %s", bin, out)
		}
		b, err := os.ReadFile(stats)
		if err != nil {
			t.Fatal(err)
		}
		var wall, user, sys float64
		var maxKB int64
		lines := strings.Split(strings.TrimSpace(string(b)), "\n") // "Command exited with non-zero status 1" first when checks fail
		if _, err := fmt.Sscanf(lines[len(lines)-1], "%f %f %f %d", &wall, &user, &sys, &maxKB); err != nil {
			t.Fatalf("GNU time wrote %q: %v", b, err)
		}
		t.Logf("%s check --no-network, %d Services + %d EndpointSlices: wall %.2fs, CPU %.2fs, peak RSS %.1f MiB", bin, n, n, wall, user+sys, float64(maxKB)/1024)
	}
}
