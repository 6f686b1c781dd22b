package checks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// Each traffic scenario's finding says what istiod does with the rule.
func TestTrafficFindingsNameTheirCause(t *testing.T) {
	cases := []struct {
		scenario, id, cluster string
		status                checks.Status
		msg                   string
	}{
		{"locality-failover", "traffic.locality", "cluster-1", checks.Pass, "locality failover with outlier detection"},
		{"locality-failover-no-outlier", "traffic.locality", "cluster-1", checks.Fail, "no outlierDetection: istiod sets no locality priorities"},
		{"locality-distribute", "traffic.locality", "cluster-1", checks.Pass, "reaches 2 of 2 endpoints"},
		{"dr-tls-disable-multinetwork", "traffic.tls-remote-endpoints", "cluster-1", checks.Fail, "istiod drops the endpoints of the other networks"},
		{"dr-tls-disable-multinetwork", "traffic.tls-remote-endpoints", "cluster-2", checks.Pass, "none sets a TLS mode"},
		{"peer-auth-strict-vs-disable", "traffic.peer-authentication", "", checks.Fail, "cluster-2 requires mTLS (STRICT, istio-system/default) for 1 pods of sample/helloworld on port 5000, but the sidecars cluster-1 configures send them plaintext"},
		{"peer-auth-strict-vs-disable", "traffic.peer-authentication", "", checks.Fail, "cluster-1 accepts only plaintext (DISABLE, sample/default) on 1 pods of sample/helloworld"},
		{"install-mp-mn", "traffic.peer-authentication", "", checks.Pass, "every primary sends what the pod's own cluster accepts"},
		{"authz-unknown-trust-domain", "traffic.authz-trust-domain", "cluster-1", checks.Warn, "old-td/ns/sample/sa/curl"},
		{"authz-trust-domain-alias", "traffic.authz-trust-domain", "cluster-1", checks.Pass, "2 principals in 1 AuthorizationPolicies read"},
		{"subset-no-pods", "traffic.subset-pods", "cluster-1", checks.Fail, "subset v3 of DestinationRule sample/helloworld (version=v3) selects no pod"},
		{"subset-no-pods", "traffic.subset-pods", "cluster-2", checks.Fail, "routes to subset v2 of helloworld.sample.svc.cluster.local, which no DestinationRule of cluster-2 defines"},
		{"sidecar-missing", "traffic.sidecar-missing", "cluster-2", checks.Fail, "cannot be reached across networks"},
		{"sidecar-missing", "traffic.sidecar-missing", "cluster-2", checks.Fail, "run no sidecar"},
		{"install-mp-mn", "traffic.sidecar-missing", "cluster-1", checks.Pass, "run a sidecar"},
		{"dr-merge-locality-ignored", "traffic.locality", "cluster-1", checks.Fail, "keeps only the trafficPolicy of the oldest that has one, so the locality load balancing and outlier detection of sample/helloworld-failover"},
		{"dr-merge-locality-ignored", "traffic.locality", "cluster-2", checks.Pass, "locality failover with outlier detection"},
		{"dr-merge-tls-ignored", "traffic.tls-remote-endpoints", "cluster-1", checks.Pass, "ignored after merging the rules of one host: the trafficPolicy of sample/helloworld-plaintext"},
		{"dr-merge-tls-ignored", "traffic.subset-pods", "", checks.Pass, "every routed subset is defined"},
	}
	runs := map[string][]checks.Result{}
	for _, tc := range cases {
		t.Run(tc.scenario+"/"+tc.id, func(t *testing.T) {
			rs, ok := runs[tc.scenario]
			if !ok {
				_, rs, _ = runScenario(t, tc.scenario)
				runs[tc.scenario] = rs
			}
			var seen []string
			for _, r := range resultsOf(rs, tc.id, tc.cluster) {
				if r.Status == tc.status && strings.Contains(r.Message, tc.msg) {
					if r.Status != checks.Pass && (r.Remediation == "" || r.Note == "") {
						t.Errorf("%s without remediation or note: %+v", r.Status, r)
					}
					return
				}
				seen = append(seen, fmt.Sprintf("%s %q", r.Status, r.Message))
			}
			t.Errorf("no %s result containing %q; got %v", tc.status, tc.msg, seen)
		})
	}
}

// helloworldPods are the pods behind sample/helloworld per cluster.
func helloworldPods(invs []*cluster.Inventory) map[string]string {
	out := map[string]string{}
	for _, inv := range invs {
		for _, es := range inv.EndpointSlices {
			if es.Namespace == "sample" && es.ServiceName == "helloworld" {
				for _, ep := range es.Endpoints {
					if ep.TargetRef != nil {
						out[inv.Context] = ep.TargetRef.Name
					}
				}
			}
		}
	}
	return out
}

// splitExec answers a curl probe of n requests: the first local of them
// from the probe pod's own cluster, the rest from the other cluster.
type splitExec struct {
	pods  map[string]string
	local func(n int) int
}

func (e splitExec) Exec(_ context.Context, pod probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	n := 0
	for _, a := range cmd {
		if strings.Contains(a, "-lt ") {
			_, _ = fmt.Sscanf(a[strings.Index(a, "-lt ")+len("-lt "):], "%d", &n)
		}
	}
	if n == 0 {
		return nil, nil, 1, fmt.Errorf("no request count in %q", cmd)
	}
	other := "cluster-2"
	if pod.Context == "cluster-2" {
		other = "cluster-1"
	}
	var b strings.Builder
	for i := range n {
		who := e.pods[pod.Context]
		if i >= e.local(n) {
			who = e.pods[other]
		}
		fmt.Fprintf(&b, "HTTP/1.1 200 OK\n\nHello version: v1, instance: %s\n%s 200 0.005 0\n", who, curlMarker)
	}
	return []byte(b.String()), nil, 0, nil
}

func probeRun(t *testing.T, name string, requests int, local func(int) int) []checks.Result {
	t.Helper()
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, name, now)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := checks.Select(checks.Catalogue(), []string{"probes.cross-cluster"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex := splitExec{pods: helloworldPods(invs), local: local}
	env := &checks.Env{Mesh: mesh.Build(invs), Now: now, Probes: checks.ProbeSettings{Exec: ex, Requests: requests, Timeout: time.Second}}
	return (&checks.Runner{Checks: cat}).Run(context.Background(), env, nil)
}

// The guide's "prefer local, fail over" design answers only locally: a
// pass that says why under the locality failover rule, and the failure it
// was before on the same install without the rule.
func TestAnsweredOnlyLocallyFollowsTheLocalityPolicy(t *testing.T) {
	all := func(n int) int { return n }
	for _, tc := range []struct {
		scenario string
		status   checks.Status
		msg      string
	}{
		{"locality-failover", checks.Pass, "answered only locally: all 10 answers came from cluster-1, as DestinationRule sample/helloworld prefers"},
		{"install-mp-mn", checks.Fail, "no cross-cluster traffic"},
		// without outlier detection istiod sets no priorities: only-local is
		// still a failure
		{"locality-failover-no-outlier", checks.Fail, "no cross-cluster traffic"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got := resultsOf(probeRun(t, tc.scenario, 10, all), "probes.cross-cluster", "cluster-1")
			if len(got) != 1 || got[0].Status != tc.status || !strings.Contains(got[0].Message, tc.msg) {
				t.Fatalf("probes.cross-cluster@cluster-1 = %+v, want %s containing %q", got, tc.status, tc.msg)
			}
		})
	}
}

// Under a distribute rule (80% region1/zone1 = cluster-1, 20% cluster-2)
// the observed split is compared with the weights, with a tolerance that
// depends on the number of requests.
func TestDistributeSplitIsComparedWithTheWeights(t *testing.T) {
	for _, tc := range []struct {
		name     string
		requests int
		local    func(int) int
		status   checks.Status
		msg      string
	}{
		{"80/20 of 100 is the split", 100, func(n int) int { return 80 }, checks.Pass, "within the split DestinationRule sample/helloworld distributes"},
		{"70/30 of 100 is within the bound", 100, func(n int) int { return 70 }, checks.Pass, "within the split"},
		{"50/50 of 100 is not", 100, func(n int) int { return 50 }, checks.Warn, "outside what DestinationRule sample/helloworld distributes"},
		{"all local of 100 is not", 100, func(n int) int { return n }, checks.Warn, "outside what"},
		{"all local of 10 cannot be told from 80/20", 10, func(n int) int { return n }, checks.Pass, "within the split"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resultsOf(probeRun(t, "locality-distribute", tc.requests, tc.local), "probes.cross-cluster", "cluster-1")
			if len(got) != 1 || got[0].Status != tc.status || !strings.Contains(got[0].Message, tc.msg) {
				t.Fatalf("probes.cross-cluster@cluster-1 = %+v, want %s containing %q", got, tc.status, tc.msg)
			}
			found := false
			for _, e := range got[0].Evidence {
				found = found || e.Key == "split test" && strings.Contains(e.Value, "exact two-sided binomial")
			}
			if !found {
				t.Errorf("no split test evidence: %+v", got[0].Evidence)
			}
		})
	}
}

// The expected endpoint table follows istiod's EDS: with tls.mode DISABLE
// in cluster-1's DestinationRule, a cluster-1 sidecar gets no gateway of
// network2; cluster-2's sidecars (its own configuration) keep cluster-1's.
func TestDisabledMTLSDropsRemoteNetworkEndpointsFromTheExpectedTable(t *testing.T) {
	table := func(name, cl string) string {
		_, invs, _, err := scenario.LoadFake(scenarioDir, name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := mesh.Build(invs)
		var parts []string
		for _, e := range checks.ExpectedTableForTest(m, m.Cluster(cl), "sample", "helloworld", 5000) {
			parts = append(parts, fmt.Sprintf("%s×%d", e.HostPort(), e.Weight))
		}
		return strings.Join(parts, " ")
	}
	if got := table("install-mp-mn", "cluster-1"); !strings.Contains(got, "10.214.2.10:15443") {
		t.Fatalf("healthy: cluster-1's table %q lacks cluster-2's gateway", got)
	}
	if got := table("dr-tls-disable-multinetwork", "cluster-1"); strings.Contains(got, "15443") || got == "" {
		t.Errorf("DISABLE: cluster-1's table %q, want only local endpoints", got)
	}
	if got := table("dr-tls-disable-multinetwork", "cluster-2"); !strings.Contains(got, "10.214.1.10:15443") {
		t.Errorf("DISABLE in cluster-1 only: cluster-2's table %q lacks cluster-1's gateway", got)
	}
	// A pod without a sidecar on another network is dropped as well: of
	// cluster-2's two pods only the injected one counts in the gateway's
	// weight.
	if got := table("sidecar-missing", "cluster-1"); !strings.Contains(got, "10.214.2.10:15443×1") {
		t.Errorf("one sidecar-less pod of two in cluster-2: cluster-1's table %q, want the gateway of network2 with weight 1", got)
	}
	if got := table("sidecar-missing", "cluster-2"); !strings.Contains(got, "10.214.102.90:5000") {
		t.Errorf("on its own network the sidecar-less pod stays: cluster-2's table %q", got)
	}
}

// A CRD that is not installed is said so, not an error.
func TestTrafficCRDsNotInstalledSkip(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "install-mp-mn", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range invs {
		inv.Traffic.Listed = []string{cluster.ResWorkloadPods}
		inv.Traffic.NotInstalled = []string{cluster.ResDestinationRules, cluster.ResVirtualServices, cluster.ResPeerAuthentications, cluster.ResAuthorizationPolicies}
	}
	rs := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
	for _, id := range []string{"traffic.locality", "traffic.tls-remote-endpoints", "traffic.authz-trust-domain", "traffic.peer-authentication", "traffic.subset-pods"} {
		for _, r := range resultsOf(rs, id, "") {
			if r.Status == checks.Error || r.Status == checks.Fail {
				t.Errorf("%s: %s %q with the CRDs not installed", id, r.Status, r.Message)
			}
			if id != "traffic.subset-pods" && (r.Status != checks.Skipped || !strings.Contains(r.Message, "not installed")) {
				t.Errorf("%s: %s %q, want a skip saying not installed", id, r.Status, r.Message)
			}
		}
	}
	for _, inv := range invs {
		inv.Traffic = nil // a snapshot of an older meshdoctor
	}
	rs = (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
	for _, r := range rs {
		if strings.HasPrefix(r.CheckID, "traffic.") && r.Status != checks.Skipped {
			t.Errorf("%s@%s without traffic inventory: %s %q, want skipped", r.CheckID, r.Cluster, r.Status, r.Message)
		}
	}
}

// Nothing is found in what istiod does not enforce or meshdoctor did not
// read: a pod without a sidecar has no peer-authentication mode to
// disagree on, and a Service without a selector has no pods to select.
func TestTrafficChecksStaySilentWhereNothingIsEnforced(t *testing.T) {
	run := func(name string, mutate func([]*cluster.Inventory)) []checks.Result {
		now := time.Now()
		_, invs, _, err := scenario.LoadFake(scenarioDir, name, now)
		if err != nil {
			t.Fatal(err)
		}
		mutate(invs)
		return (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, NoNetwork: true}, nil)
	}
	rs := run("peer-auth-strict-vs-disable", func(invs []*cluster.Inventory) {
		for _, inv := range invs {
			for i := range inv.Traffic.Workloads {
				w := &inv.Traffic.Workloads[i]
				if w.Labels["app"] == "helloworld" {
					w.Sidecar = false
					delete(w.Labels, "security.istio.io/tlsMode")
				}
			}
		}
	})
	for _, r := range resultsOf(rs, "traffic.peer-authentication", "") {
		if r.Target == "sample/helloworld" {
			t.Errorf("sidecar-less helloworld pods: %s %q", r.Status, r.Message)
		}
	}
	rs = run("subset-no-pods", func(invs []*cluster.Inventory) {
		for _, inv := range invs {
			for i := range inv.Services {
				if inv.Services[i].Name == "helloworld" {
					inv.Services[i].Spec.Selector = nil
				}
			}
		}
	})
	for _, r := range resultsOf(rs, "traffic.subset-pods", "cluster-1") {
		if r.Status != checks.Pass {
			t.Errorf("helloworld without a selector: %s %q, want no judgement of its subsets", r.Status, r.Message)
		}
	}
}
