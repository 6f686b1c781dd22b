package checks_test

import (
	"slices"
	"strings"
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

// A remote secret applied in the wrong namespace is found, as metadata
// only, and named as the cause of the missing coverage.
func TestRemoteSecretInAnotherNamespaceIsNamed(t *testing.T) {
	_, res, _ := runScenario(t, "remote-secret-other-namespace")
	var cov, ns *checks.Result
	for i, r := range res {
		switch scenario.Key(r) {
		case "secrets.remote-coverage@cluster-1":
			cov = &res[i]
		case "secrets.remote-namespace@cluster-1":
			ns = &res[i]
		}
	}
	if cov == nil || ns == nil {
		t.Fatalf("coverage %v, namespace %v: want both", cov, ns)
	}
	if !strings.Contains(cov.Message, "default/istio-remote-secret-cluster-2") || !strings.Contains(ns.Message, "namespace default") {
		t.Errorf("the misplaced secret is not named: %q / %q", cov.Message, ns.Message)
	}
	if ns.Target != "default/istio-remote-secret-cluster-2" || ns.Peer != "cluster-2" {
		t.Errorf("namespace result about %q peer %q", ns.Target, ns.Peer)
	}
	if !slices.Contains(cov.CausedBy, ns.Key()) {
		t.Errorf("coverage caused by %v, want %s", cov.CausedBy, ns.Key())
	}
	for _, r := range res {
		if r.CheckID == "secrets.remote-namespace" && r.Cluster == "cluster-2" && r.Status != checks.Pass {
			t.Errorf("cluster-2: %s %s", r.Status, r.Message)
		}
	}
}
