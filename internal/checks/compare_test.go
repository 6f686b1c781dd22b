package checks

import (
	"context"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// A mesh check that compares clusters passes only when it compared at
// least two things: with every cluster unreachable, nothing was read and
// no mesh check may pass.
func TestNoMeshCheckPassesWithoutClustersToCompare(t *testing.T) {
	down := func(name string) *cluster.Inventory {
		return &cluster.Inventory{Context: name, Unreachable: &cluster.FetchError{Verb: "get", Resource: "version",
			Reason: cluster.ReasonUnreachable, Message: "connection refused"}}
	}
	env := &Env{Mesh: mesh.Build([]*cluster.Inventory{down("east"), down("west")}), Now: time.Now(), NoNetwork: true}
	rs := (&Runner{Checks: Catalogue()}).Run(context.Background(), env, nil)
	if len(rs) == 0 {
		t.Fatal("no results")
	}
	for _, r := range rs {
		if r.Cluster == "" && r.Status == Pass {
			t.Errorf("%s passed with no cluster read: %s", r.CheckID, r.Message)
		}
	}
}

func TestTooFewToCompareIsASkip(t *testing.T) {
	r := tooFew("primaries", 1)
	if r.Status != Skipped || r.Message != "fewer than two primaries to compare (1 read)" {
		t.Errorf("tooFew = %+v", r)
	}
}
