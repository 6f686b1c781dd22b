package checks_test

import (
	"slices"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// With istiod unready, the secrets checks that can explain it still run
// there, and istiod-ready names what they found as its cause.
func TestRefusedTokenIsTheCauseOfIstiodNotReady(t *testing.T) {
	_, res, _ := runScenario(t, "istiod-not-ready-remote-refused")
	var ready, expiry *checks.Result
	for i, r := range res {
		switch scenario.Key(r) {
		case "controlplane.istiod-ready@cluster-1":
			ready = &res[i]
		case "secrets.remote-token-expiry@cluster-1":
			expiry = &res[i]
		}
	}
	if ready == nil || expiry == nil || ready.Status != checks.Fail || expiry.Status != checks.Fail {
		t.Fatalf("istiod-ready %+v, token-expiry %+v: want both failed", ready, expiry)
	}
	if !slices.Contains(ready.CausedBy, expiry.Key()) {
		t.Errorf("istiod-ready caused by %v, want %s", ready.CausedBy, expiry.Key())
	}
	if slices.Contains(expiry.CausedBy, ready.Key()) {
		t.Errorf("the token is explained by istiod not being ready: %v", expiry.CausedBy)
	}
	if !slices.ContainsFunc(checks.Causes(res), func(r checks.Result) bool { return r.Key() == expiry.Key() }) {
		t.Errorf("the expired token is not among the causes")
	}
}
