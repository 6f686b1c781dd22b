package cluster_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// A list larger than a page is read in pages of PageSize, each asked with
// limit and the previous page's continue token, and the inventory holds
// every object once, reduced.
func TestLargeListsAreReadInPages(t *testing.T) {
	const n = 2*cluster.PageSize + 1 // three pages
	svcs, slices := cluster.LargeCluster(n, 2)
	svcs.Items[n-1].Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"apiVersion":"v1","kind":"Service"}`
	s := newPagedAPIServer(t, svcs, slices)
	inv := cluster.Collect(context.Background(), pagedClient(t, s), cluster.CollectOptions{})
	if inv.Unreachable != nil || len(inv.Errors) > 0 {
		t.Fatalf("inventory: %v %v", inv.Unreachable, inv.Errors)
	}
	for _, res := range []string{"services", "endpointslices"} {
		want := []string{"limit=500", "continue=500&limit=500", "continue=1000&limit=500"}
		got := s.lists(res)
		if len(got) != len(want) {
			t.Fatalf("%s: %d requests %v, want %d pages", res, len(got), got, len(want))
		}
		for i := range want {
			if got[i] != res+"?"+want[i] {
				t.Errorf("%s page %d: %q, want %q", res, i+1, got[i], res+"?"+want[i])
			}
		}
	}
	if len(inv.Services) != n || len(inv.EndpointSlices) != n {
		t.Fatalf("kept %d services and %d slices, want %d each", len(inv.Services), len(inv.EndpointSlices), n)
	}
	seen := map[string]bool{}
	for _, sv := range inv.Services {
		if seen[sv.Namespace+"/"+sv.Name] {
			t.Fatalf("service %s/%s kept twice", sv.Namespace, sv.Name)
		}
		seen[sv.Namespace+"/"+sv.Name] = true
		if sv.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" {
			t.Fatalf("service %s kept last-applied: %v", sv.Name, sv.Annotations)
		}
		if sv.Labels.Get("app") != sv.Name || sv.Spec.Selector.Get("app") != sv.Name || len(sv.Spec.Ports) != 2 {
			t.Fatalf("service %s lost labels, selector or ports: %v %v %v", sv.Name, sv.Labels, sv.Spec.Selector, sv.Spec.Ports)
		}
		if sv.Annotations != nil { // Helm's release annotations: read by no check (cluster.KeptAnnotation)
			t.Fatalf("service %s kept annotations outside Istio's domains: %v", sv.Name, sv.Annotations)
		}
	}
	// The server said how many items remained after the first page: each
	// list was allocated once at its size, not grown by append.
	if cap(inv.Services) != n || cap(inv.EndpointSlices) != n {
		t.Errorf("capacity %d services, %d slices for %d each: grown by append, not sized from remainingItemCount", cap(inv.Services), cap(inv.EndpointSlices), n)
	}
	if e := inv.EndpointSlices[0].Endpoints; cap(e) != len(e) {
		t.Errorf("a slice's endpoints kept room for %d, has %d", cap(e), len(e))
	}
	es := inv.EndpointSlices[n-1]
	if ref := es.Endpoints[0].TargetRef; ref == nil || ref.Kind != "Pod" || ref.Namespace != es.Namespace || !strings.HasPrefix(ref.Name, es.ServiceName) ||
		len(es.Endpoints[0].Addresses) != 1 || es.Endpoints[0].Conditions.Ready != cluster.ConditionTrue || es.Endpoints[0].Conditions.Terminating != cluster.ConditionFalse {
		t.Errorf("slice %s lost what the checks read: %+v", es.Name, es.Endpoints[0])
	}
	if len(es.Ports) != 2 || *es.Ports[0].Name != "http" || *es.Ports[1].Port != 9090 {
		t.Errorf("slice %s lost its ports: %+v", es.Name, es.Ports)
	}
	// Slices of the same ports share one copy of them.
	if &inv.EndpointSlices[0].Ports[0] != &es.Ports[0] {
		t.Errorf("slices of equal ports hold a copy each")
	}
}

// Unreduced keeps every field of the lists kept as API types and every
// annotation of Services (the reduction's equivalence test relies on it);
// Services and EndpointSlices are compact whatever the option.
func TestUnreducedKeepsEveryField(t *testing.T) {
	svcs, slices := cluster.LargeCluster(3, 1)
	inv := cluster.Collect(context.Background(), pagedClient(t, newPagedAPIServer(t, svcs, slices)), cluster.CollectOptions{Unreduced: true})
	if len(inv.Services) != 3 || inv.Services[0].Annotations["meta.helm.sh/release-name"] == "" || len(inv.EndpointSlices) != 3 {
		t.Errorf("unreduced inventory lost fields: %+v", inv.Services)
	}
}

// An expired continue token (410 Gone, reason Expired) restarts the list
// once from the first page; the objects of the abandoned pages are not
// kept twice. A second expiry is the list's error.
func TestExpiredContinueTokenRestartsTheListOnce(t *testing.T) {
	const n = cluster.PageSize + 1
	svcs, slices := cluster.LargeCluster(n, 1)
	s := newPagedAPIServer(t, svcs, slices)
	s.expire["services"] = true
	inv := cluster.Collect(context.Background(), pagedClient(t, s), cluster.CollectOptions{})
	if inv.Unreachable != nil || len(inv.Errors) > 0 {
		t.Fatalf("inventory: %v %v", inv.Unreachable, inv.Errors)
	}
	want := []string{"services?limit=500", "services?continue=500&limit=500", "services?limit=500", "services?continue=500&limit=500"}
	if got := s.lists("services"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests %v, want %v", got, want)
	}
	if len(inv.Services) != n {
		t.Errorf("kept %d services, want %d", len(inv.Services), n)
	}

	s2 := newPagedAPIServer(t, svcs, slices)
	s2.expireAlways = "endpointslices"
	inv = cluster.Collect(context.Background(), pagedClient(t, s2), cluster.CollectOptions{})
	if fe := inv.Errors[cluster.ResEndpointSlices]; fe == nil {
		t.Errorf("a token that expires again is no error: %v", inv.Errors)
	}
	if got := len(s2.lists("endpointslices")); got != 4 {
		t.Errorf("%d endpointslice requests, want 4 (page, expired, page again, expired again)", got)
	}
	if len(inv.Services) != n || inv.Errors[cluster.ResServices] != nil {
		t.Errorf("services: %d, %v", len(inv.Services), inv.Errors[cluster.ResServices])
	}
}
