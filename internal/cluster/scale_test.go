package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/rest"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// pagedAPIServer serves a large cluster's Services and EndpointSlices from
// memory, in pages when asked with limit (the continue token is the next
// item's index), whole otherwise, as kube-apiserver does; every other list
// is empty. It records each list request's path and query.
type pagedAPIServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	// expire, when set, answers the continue token of that resource with
	// 410 Gone once, as kube-apiserver does when the token has expired.
	expire map[string]bool
	// expireAlways answers every continue token of that resource with 410.
	expireAlways string
}

func newPagedAPIServer(t testing.TB, svcs *corev1.ServiceList, slices *discoveryv1.EndpointSliceList) *pagedAPIServer {
	s := &pagedAPIServer{expire: map[string]bool{}}
	items := map[string][]json.RawMessage{"services": raw(t, svcs.Items), "endpointslices": raw(t, slices.Items)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/version" {
			fmt.Fprint(w, `{"major":"1","minor":"34","gitVersion":"v1.34.2"}`)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		res := parts[len(parts)-1]
		q := r.URL.Query()
		s.mu.Lock()
		s.requests = append(s.requests, res+"?"+r.URL.RawQuery)
		expire := q.Get("continue") != "" && (s.expire[res] || s.expireAlways == res)
		if expire {
			delete(s.expire, res)
		}
		s.mu.Unlock()
		if expire {
			w.WriteHeader(http.StatusGone)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"The provided continue parameter is too old to display a consistent list result.","reason":"Expired","code":410}`)
			return
		}
		kind := map[string]string{"namespaces": "NamespaceList", "deployments": "DeploymentList", "configmaps": "ConfigMapList",
			"secrets": "SecretList", "services": "ServiceList", "pods": "PodList", "endpointslices": "EndpointSliceList",
			"gateways": "GatewayList", "serviceentries": "ServiceEntryList", "nodes": "NodeList",
			"mutatingwebhookconfigurations": "MutatingWebhookConfigurationList", "daemonsets": "DaemonSetList"}[res]
		if kind == "" {
			http.NotFound(w, r)
			return
		}
		apiVersion := "v1"
		if parts[0] == "apis" {
			apiVersion = parts[1] + "/" + parts[2]
		}
		all := items[res]
		from, _ := strconv.Atoi(q.Get("continue"))
		to := len(all)
		if limit, _ := strconv.Atoi(q.Get("limit")); limit > 0 && from+limit < to {
			to = from + limit
		}
		next := ""
		if to < len(all) {
			next = strconv.Itoa(to)
		}
		remaining := "" // kube-apiserver's remainingItemCount on a page that has a next one
		if next != "" {
			remaining = fmt.Sprintf(`,"remainingItemCount":%d`, len(all)-to)
		}
		fmt.Fprintf(w, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"123456789","continue":%q%s},"items":[`, kind, apiVersion, next, remaining)
		for i, it := range all[from:to] {
			if i > 0 {
				w.Write([]byte{','})
			}
			w.Write(it)
		}
		fmt.Fprint(w, "]}")
	}))
	t.Cleanup(s.Close)
	return s
}

func raw[T any](t testing.TB, items []T) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i := range items {
		b, err := json.Marshal(&items[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func (s *pagedAPIServer) lists(res string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		if strings.HasPrefix(r, res+"?") {
			out = append(out, r)
		}
	}
	return out
}

func pagedClient(t testing.TB, s *pagedAPIServer) *cluster.Client {
	c, err := cluster.NewClient("big", &rest.Config{Host: s.URL, QPS: -1}, cluster.LoadOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vmHWM reads the process's peak resident set (Linux; 0 elsewhere).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestInventoryFootprintOfALargeCluster logs what Collect and the check
// graph cost on a cluster of 2,000 and 20,000 Services with one
// 5-endpoint EndpointSlice each, served through real HTTP by an in-memory
// API server: the heap the inventory keeps, the bytes allocated, the
// process's peak RSS over the run (reset before it) and the wall time.
// It asserts only that the inventory is complete; the figures are logged.
func TestInventoryFootprintOfALargeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and serves 20,000 Services and EndpointSlices")
	}
	for _, n := range []int{2000, 20000} {
		svcs, slices := cluster.LargeCluster(n, 5)
		s := newPagedAPIServer(t, svcs, slices)
		svcs, slices = nil, nil
		c := pagedClient(t, s)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM; best effort
		rss0 := vmHWM()
		start := time.Now()
		inv := cluster.Collect(context.Background(), c, cluster.CollectOptions{})
		collected := time.Since(start)
		(&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mesh.Build([]*cluster.Inventory{inv}), Now: time.Now(), NoNetwork: true}, nil)
		total := time.Since(start)
		peak := vmHWM()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if inv.Unreachable != nil || len(inv.Errors) > 0 || len(inv.Services) != n || len(inv.EndpointSlices) != n {
			t.Fatalf("%d services: inventory incomplete: %v %v, %d services, %d slices", n, inv.Unreachable, inv.Errors, len(inv.Services), len(inv.EndpointSlices))
		}
		t.Logf("%d Services + %d EndpointSlices (5 endpoints): %d list requests for them; Collect %s, with checks %s; inventory kept %.1f MiB of heap, %.1f MiB allocated; peak RSS %.1f MiB (%.1f MiB at start, server's pages included)",
			n, n, len(s.lists("services"))+len(s.lists("endpointslices")), collected.Round(time.Millisecond), total.Round(time.Millisecond),
			float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20),
			float64(peak)/(1<<20), float64(rss0)/(1<<20))
		runtime.KeepAlive(inv)
		s.Close()
	}
}
