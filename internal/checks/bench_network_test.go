package checks_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/netns"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// BenchmarkNetworkChecksManyClusters is issue 18's many-cluster run with
// the network probes on: bigMesh's 50 clusters (100 services, 500
// endpoints in total), each east-west gateway a real TLS server
// (testenv.NewGateway: istiod's certificate on 15012 and 15017, a
// workload's on 15443, 200 on 15021, signed by the mesh's intermediate) in
// a network namespace this benchmark makes, 100 ms away (tc netem on its
// veth, or where the kernel has no netem a user-space delay link into it),
// probed through Env.Probe as `meshdoctor check` probes
// (probe.ProbeGateway; admin reads, execs and remote logins are not
// configured and skip). Its bound is measured in the same run: one
// gateway's probe alone (every port) plus the whole catalogue over the
// same data without the network. "concurrent" is the runner as it is (a
// Network check runs on up to 16 clusters at once), "sequential" the same
// run with ClusterParallel 1 (cluster after cluster, as every check ran
// before): x-bound is each one's wall time over the bound. Needs root, ip
// and tc netem; it tears every namespace down.
func BenchmarkNetworkChecksManyClusters(b *testing.B) {
	if err := netns.Available(); err != nil {
		b.Skipf("needs network namespaces (root, ip): %v", err)
	}
	const n = 50
	const rtt = 100 * time.Millisecond
	invs, certs := bigMeshCerts(b, n, 100, 500)
	inter, ok := certs.Issued("cluster-1")
	if !ok {
		b.Fatal("the scenario issued no intermediate for cluster-1")
	}
	opts, err := testenv.GatewayCerts(inter, "cluster.local")
	if err != nil {
		b.Fatal(err)
	}
	overrides := map[string]string{}
	for i, inv := range invs {
		g, err := testenv.NewGateway(fmt.Sprintf("mdbench%02d", i), opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := g.Close(); err != nil {
				b.Errorf("gateway %d: %v", i, err)
			}
		})
		addr := g.Addr
		if err := g.NS.Netem(context.Background(), rtt); errors.Is(err, errors.ErrUnsupported) {
			// No sch_netem in this kernel: a user-space delay link (TUN)
			// into the namespace holds its replies instead.
			l, err := g.NS.AddDelayLink(rtt)
			if err != nil {
				b.Skipf("needs tc netem or /dev/net/tun for a delayed gateway: %v", err)
			}
			addr = l.Addr.String()
		} else if err != nil {
			b.Fatal(err)
		}
		overrides[inv.Context] = addr
	}
	m := mesh.Build(invs)
	var mu sync.Mutex
	outcomes := map[probe.Outcome]int{}
	prober := func(ctx context.Context, t probe.GatewayTarget) []probe.PortResult {
		res := probe.ProbeGateway(ctx, &net.Dialer{}, t, 10*time.Second)
		mu.Lock()
		for _, r := range res {
			outcomes[r.Outcome]++
		}
		mu.Unlock()
		return res
	}
	env := func(noNetwork bool) *checks.Env {
		return &checks.Env{Mesh: m, Now: time.Now(), NoNetwork: noNetwork, Probe: prober, GatewayOverrides: overrides}
	}

	// The bound: one gateway probed alone, and the checks without network.
	var one []time.Duration
	for range 3 {
		start := time.Now()
		for _, c := range checks.Catalogue() {
			if c.ID == "gateway.reachability" {
				c.Cluster(context.Background(), env(false), m.Clusters[0])
			}
		}
		one = append(one, time.Since(start))
	}
	var offline []time.Duration
	for range 3 {
		start := time.Now()
		(&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), env(true), nil)
		offline = append(offline, time.Since(start))
	}
	bound := medianDuration(one) + medianDuration(offline)
	b.Logf("bound %v: one gateway's probe alone %v (4 ports, %v RTT), the catalogue without network %v", bound.Round(time.Millisecond),
		medianDuration(one).Round(time.Millisecond), rtt, medianDuration(offline).Round(time.Millisecond))

	for _, tc := range []struct {
		name     string
		parallel int
	}{{"concurrent", 0}, {"sequential", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			mu.Lock()
			clear(outcomes)
			mu.Unlock()
			var res []checks.Result
			start := time.Now()
			for b.Loop() {
				res = (&checks.Runner{Checks: checks.Catalogue(), ClusterParallel: tc.parallel, Timeout: 5 * time.Minute}).Run(context.Background(), env(false), nil)
			}
			per := time.Since(start) / time.Duration(b.N)
			probed := 0
			for _, r := range res {
				if r.CheckID == "gateway.reachability" && r.Status != checks.Skipped {
					probed++
				}
			}
			if probed < n {
				b.Fatalf("%d gateway.reachability results, want one per port of each of %d gateways", probed, n)
			}
			mu.Lock()
			var got []string
			for o, k := range outcomes {
				got = append(got, fmt.Sprintf("%s %d", o, k))
			}
			mu.Unlock()
			sort.Strings(got)
			b.ReportMetric(per.Seconds(), "wall-s/run")
			b.ReportMetric(float64(per)/float64(bound), "x-bound")
			b.Logf("%s: %v per run (%d gateway.reachability results; probe outcomes %s)", tc.name, per.Round(time.Millisecond), probed, strings.Join(got, ", "))
		})
	}
}

func medianDuration(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
