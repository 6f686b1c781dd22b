package checks

import (
	"slices"
	"testing"
)

// The links between checks (DependsOn and explainedBy together) must name
// real checks and form no cycle, or a problem could explain itself and no
// output would find its cause.
func TestExplainedByIsAcyclic(t *testing.T) {
	ids := map[string]bool{}
	edges := map[string][]string{}
	for _, c := range Catalogue() {
		ids[c.ID] = true
		edges[c.ID] = append(edges[c.ID], c.DependsOn...)
	}
	for id, causes := range explainedBy {
		for _, c := range append([]string{id}, causes...) {
			if !ids[c] {
				t.Errorf("explainedBy names %q, which is not in the catalogue", c)
			}
		}
		edges[id] = append(edges[id], causes...)
	}
	for _, id := range explainedAnywhere {
		if !ids[id] {
			t.Errorf("explainedAnywhere names %q, which is not in the catalogue", id)
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string, path []string)
	visit = func(id string, path []string) {
		switch state[id] {
		case 1:
			t.Errorf("cycle: %v", append(path, id))
			return
		case 2:
			return
		}
		state[id] = 1
		for _, e := range edges[id] {
			visit(e, append(path, id))
		}
		state[id] = 2
	}
	for id := range edges {
		visit(id, nil)
	}
}

func TestExplain(t *testing.T) {
	gwWest := Result{CheckID: "gateway.address", Status: Fail, Cluster: "west"}
	tests := []struct {
		name string
		rs   []Result
		// want maps a result's key to the keys that explain it.
		want map[string][]string
	}{
		{
			name: "a gateway without address explains remote proxy tables and curl, not its own cluster's ports",
			rs: []Result{
				gwWest,
				{CheckID: "gateway.ports", Status: Fail, Cluster: "west"},
				{CheckID: "endpoints.proxy-table", Status: Fail, Cluster: "east", Target: "outbound|5000||helloworld"},
				{CheckID: "probes.cross-cluster", Status: Fail, Cluster: "east", Target: "helloworld"},
			},
			want: map[string][]string{
				"gateway.address west": nil,
				"gateway.ports west":   nil,
				"endpoints.proxy-table east outbound|5000||helloworld": {"gateway.address west", "gateway.ports west"},
				"probes.cross-cluster east helloworld":                 {"gateway.address west", "gateway.ports west", "endpoints.proxy-table east outbound|5000||helloworld"},
			},
		},
		{
			name: "an unreachable cluster explains what is said about it, its pairs and the topology, nothing else",
			rs: []Result{
				{CheckID: ContextsReachable, Status: Error, Cluster: "west"},
				{CheckID: "controlplane.topology", Status: Fail},
				{CheckID: "secrets.remote-access", Status: Fail, Cluster: "east", Peer: "west", Target: "istio-remote-secret-west/west"},
				{CheckID: "trust.cacerts-valid", Status: Fail, Cluster: "east"},
			},
			want: map[string][]string{
				"contexts.reachable west":    nil,
				"controlplane.topology mesh": {"contexts.reachable west"},
				"secrets.remote-access east → west istio-remote-secret-west/west": {"contexts.reachable west"},
				"trust.cacerts-valid east": nil,
			},
		},
		{
			name: "a warning does not explain a failure",
			rs: []Result{
				{CheckID: "gateway.address", Status: Warn, Cluster: "west"},
				{CheckID: "endpoints.proxy-table", Status: Fail, Cluster: "east"},
			},
			want: map[string][]string{"gateway.address west": nil, "endpoints.proxy-table east": nil},
		},
		{
			name: "a stale secret explains its own access failure and istiod's sync, not another cluster's traffic",
			rs: []Result{
				{CheckID: "secrets.remote-stale", Status: Fail, Cluster: "east", Target: "istio-remote-secret-legacy/legacy"},
				{CheckID: "secrets.remote-access", Status: Fail, Cluster: "east", Target: "istio-remote-secret-legacy/legacy"},
				{CheckID: "secrets.remote-access", Status: Fail, Cluster: "east", Peer: "west", Target: "istio-remote-secret-west/west"},
				{CheckID: "endpoints.istiod-sync", Status: Warn, Cluster: "east", Target: "legacy"},
				{CheckID: "probes.cross-cluster", Status: Fail, Cluster: "west", Target: "helloworld"},
			},
			want: map[string][]string{
				"secrets.remote-stale east istio-remote-secret-legacy/legacy":     nil,
				"secrets.remote-access east istio-remote-secret-legacy/legacy":    {"secrets.remote-stale east istio-remote-secret-legacy/legacy"},
				"secrets.remote-access east → west istio-remote-secret-west/west": nil,
				"endpoints.istiod-sync east legacy":                               {"secrets.remote-stale east istio-remote-secret-legacy/legacy", "secrets.remote-access east istio-remote-secret-legacy/legacy", "secrets.remote-access east → west istio-remote-secret-west/west"},
				"probes.cross-cluster west helloworld":                            nil,
			},
		},
		{
			name: "another cluster's ambient gateway without HBONE explains a ztunnel missing that network",
			rs: []Result{
				{CheckID: "ambient.eastwest-gateway", Status: Fail, Cluster: "cluster-2"},
				{CheckID: "endpoints.ztunnel-table", Status: Fail, Cluster: "cluster-1", Target: "helloworld.sample.svc.cluster.local"},
			},
			want: map[string][]string{
				"ambient.eastwest-gateway cluster-2":                                    nil,
				"endpoints.ztunnel-table cluster-1 helloworld.sample.svc.cluster.local": {"ambient.eastwest-gateway cluster-2"},
			},
		},
		{
			name: "passes and skips are never linked",
			rs: []Result{
				gwWest,
				{CheckID: "endpoints.proxy-table", Status: Pass, Cluster: "east"},
				{CheckID: "probes.cross-cluster", Status: Skipped, Cluster: "east"},
			},
			want: map[string][]string{"gateway.address west": nil, "endpoints.proxy-table east": nil, "probes.cross-cluster east": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Explain(Catalogue(), slices.Clone(tt.rs))
			for _, r := range got {
				want, ok := tt.want[r.Key()]
				if !ok {
					t.Fatalf("unexpected result %q", r.Key())
				}
				if !slices.Equal(r.CausedBy, want) {
					t.Errorf("%s: caused by %q, want %q", r.Key(), r.CausedBy, want)
				}
			}
		})
	}
}
