package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// On a real kube-apiserver (the integration tier) a list of more than one
// page is read with the server's own continue tokens: every Service is
// kept once, and the audit log shows the pages. The Services are headless
// (clusterIP: None), which spares the ClusterIP allocator; the time to
// create them is logged.
func TestPagesOnARealAPIServer(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Clusters: 1})
	c := e.Cluster("cluster-1")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const ns, n = "team-a", 2*cluster.PageSize + 1
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			_, err := c.Admin.CoreV1().Services(ns).Create(gctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%04d", i), Labels: map[string]string{"app": "a"},
					Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Service"}`}},
				Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "a"},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
			}, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d headless Services in %s", n, time.Since(start).Round(time.Millisecond))

	client, err := cluster.NewClient(c.Name, c.AdminConfig, cluster.LoadOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	inv := cluster.Collect(ctx, client, cluster.CollectOptions{})
	if inv.Unreachable != nil || inv.Errors[cluster.ResServices] != nil {
		t.Fatalf("inventory: %v %v", inv.Unreachable, inv.Errors)
	}
	seen := map[string]bool{}
	for _, s := range inv.Services {
		if seen[s.Namespace+"/"+s.Name] {
			t.Fatalf("%s/%s kept twice", s.Namespace, s.Name)
		}
		seen[s.Namespace+"/"+s.Name] = true
		if s.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" {
			t.Fatalf("%s kept last-applied", s.Name)
		}
	}
	var mine int
	for k := range seen {
		if strings.HasPrefix(k, ns+"/") {
			mine++
		}
	}
	if mine != n || !seen["default/kubernetes"] {
		t.Errorf("kept %d of %d Services of %s (and default/kubernetes: %v)", mine, n, ns, seen["default/kubernetes"])
	}
	events, err := e.AuditEvents(c.Name)
	if err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, ev := range events {
		if ev.Stage == "ResponseComplete" && ev.Verb == "list" && strings.HasPrefix(ev.RequestURI, "/api/v1/services?") {
			pages = append(pages, ev.RequestURI)
		}
	}
	// n+1 Services (default/kubernetes too) in pages of 500: three pages.
	if len(pages) != 3 || !strings.Contains(pages[0], "limit=500") || !strings.Contains(pages[1], "continue=") || !strings.Contains(pages[2], "continue=") {
		t.Errorf("service list requests %v, want three pages of limit=500", pages)
	}
}
