package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// A remote secret meshdoctor refuses to try (it needs an exec plugin or a
// local file) is a warning that says so, not a failure: meshdoctor cannot
// tell whether istiod can use it.
func TestRemoteAccessNotTriedIsAWarning(t *testing.T) {
	now := time.Now()
	_, invs, _, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", now)
	if err != nil {
		t.Fatal(err)
	}
	access := func(context.Context, string, string, cluster.RemoteKubeconfig) error {
		return &cluster.FetchError{Verb: "use", Resource: "kubeconfig", Reason: cluster.ReasonNotTried,
			Message: "not tried from this machine: it needs an exec plugin"}
	}
	sel, err := checks.Select(checks.Catalogue(), []string{"secrets.remote-access"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := (&checks.Runner{Checks: sel}).Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: now, RemoteAccess: access}, nil)
	n := 0
	for _, r := range res {
		if r.CheckID != "secrets.remote-access" {
			continue
		}
		n++
		if r.Status != checks.Warn || !strings.Contains(r.Message, "not tried from this machine: it needs an exec plugin") {
			t.Errorf("%s: %s %q, want a warning that it was not tried", r.Subject(), r.Status, r.Message)
		}
	}
	if n == 0 {
		t.Fatal("secrets.remote-access produced no result")
	}
}
