package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// slowAPIServer answers the requests meshdoctor makes with empty lists,
// after rtt: a real HTTP round trip through client-go with injected
// latency. It counts the requests it serves.
type slowAPIServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	paths    map[string]int
	// bodies, when set, answers a resource's list with this body instead
	// of an empty list (realistic sizes: see realisticBodies).
	bodies map[string][]byte
	// proto, when set, answers in protobuf (the same lists as bodies) a
	// request that accepts it, as kube-apiserver does for client-go's
	// built-in types.
	proto map[string][]byte
}

func newSlowAPIServer(t testing.TB, rtt time.Duration) *slowAPIServer {
	return newSlowAPIServerWith(t, rtt, nil)
}

func newSlowAPIServerWith(t testing.TB, rtt time.Duration, bodies map[string][]byte) *slowAPIServer {
	s := &slowAPIServer{paths: map[string]int{}, bodies: bodies}
	s.Server = httptest.NewServer(s.handler(rtt))
	t.Cleanup(s.Close)
	return s
}

// newSlowTLSAPIServer is newSlowAPIServerWith over TLS with HTTP/2, as
// kube-apiserver serves (client-go then multiplexes every request to one
// server on one connection), answering in protobuf where proto has the
// list.
func newSlowTLSAPIServer(t testing.TB, rtt time.Duration, bodies, proto map[string][]byte) *slowAPIServer {
	s := &slowAPIServer{paths: map[string]int{}, bodies: bodies, proto: proto}
	s.Server = httptest.NewUnstartedServer(s.handler(rtt))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *slowAPIServer) handler(rtt time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.paths[r.URL.Path]++
		s.mu.Unlock()
		select {
		case <-time.After(rtt):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/version" {
			fmt.Fprint(w, `{"major":"1","minor":"34","gitVersion":"v1.34.2"}`)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		res := parts[len(parts)-1]
		kind := map[string]string{"namespaces": "NamespaceList", "deployments": "DeploymentList", "configmaps": "ConfigMapList",
			"secrets": "SecretList", "services": "ServiceList", "pods": "PodList", "endpointslices": "EndpointSliceList",
			"gateways": "GatewayList", "serviceentries": "ServiceEntryList",
			"mutatingwebhookconfigurations": "MutatingWebhookConfigurationList", "nodes": "NodeList", "daemonsets": "DaemonSetList"}[res]
		if kind == "" {
			http.NotFound(w, r)
			return
		}
		if body, ok := s.proto[res]; ok && strings.Contains(r.Header.Get("Accept"), "application/vnd.kubernetes.protobuf") {
			w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
			_, _ = w.Write(body)
			return
		}
		if body, ok := s.bodies[res]; ok {
			_, _ = w.Write(body)
			return
		}
		apiVersion := "v1"
		if parts[0] == "apis" {
			apiVersion = parts[1] + "/" + parts[2]
		}
		fmt.Fprintf(w, `{"kind":%q,"apiVersion":%q,"metadata":{},"items":[]}`, kind, apiVersion)
	})
}

func slowClients(t testing.TB, n int, rtt time.Duration) ([]*cluster.Client, []*slowAPIServer) {
	var clients []*cluster.Client
	var servers []*slowAPIServer
	for i := 0; i < n; i++ {
		s := newSlowAPIServer(t, rtt)
		c, err := cluster.NewClient(fmt.Sprintf("cluster-%d", i+1), &rest.Config{Host: s.URL}, cluster.LoadOptions{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		servers = append(servers, s)
	}
	return clients, servers
}

// A full run (inventory and every check, no network probes) against 3 API
// servers 100 ms away. The inventory's dependency graph is two round trips deep: /version, then
// every list at once. Reading 3 clusters with 100 ms per round trip must
// take close to 2 RTT, not (clusters x requests) RTT.
func BenchmarkFullRunWithLatency(b *testing.B) {
	const rtt = 100 * time.Millisecond
	const n = 3
	clients, servers := slowClients(b, n, rtt)
	cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{}) // warm connections
	for _, s := range servers {
		s.requests.Store(0)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		invs := cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{})
		for _, inv := range invs {
			if inv.Unreachable != nil || len(inv.Errors) > 0 {
				b.Fatalf("%s: %v %v", inv.Context, inv.Unreachable, inv.Errors)
			}
		}
		// and the whole check graph on it, as `meshdoctor check --no-network` does
		(&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: time.Now(), NoNetwork: true}, nil)
	}
	per := time.Since(start) / time.Duration(b.N)
	var total int64
	for _, s := range servers {
		total += s.requests.Load()
	}
	perCluster := float64(total) / float64(b.N) / n
	bound := 2 * rtt
	sequential := time.Duration(perCluster*n) * rtt
	b.ReportMetric(perCluster, "requests/cluster")
	b.ReportMetric(float64(per)/float64(bound), "x-critical-path")
	b.ReportMetric(float64(sequential)/float64(per), "x-faster-than-sequential")
}

func TestCollectIsBoundByRoundTripsNotRequests(t *testing.T) {
	// Not a timing assertion: the count of requests per cluster is the
	// contract (list once, share the inventory across checks); a small
	// cluster's lists are one page each (TestLargeListsAreReadInPages
	// counts the pages of a big one).
	clients, servers := slowClients(t, 2, time.Millisecond)
	cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{})
	for _, s := range servers {
		// /version, 13 lists, the traffic config's 5 (inventory_traffic.go),
		// the metadata-only istio/multiCluster secrets of all namespaces,
		// the ambient inventory's 3 (DaemonSets, Gateway API Gateways, pods
		// labelled istio.io/dataplane-mode) and Admiral's 5 (its two CRDs,
		// its Deployment, the admiral/sync secrets, the identity pods), all
		// in the same round trip (the secrets and pods are listed again
		// only when Admiral's flags move them).
		if got := s.requests.Load(); got != 28 {
			t.Errorf("%s served %d requests, want 28: %v", s.URL, got, s.paths)
		}
	}
}
