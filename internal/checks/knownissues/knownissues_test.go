package knownissues

import (
	"strings"
	"testing"
)

func TestEmbeddedCatalogueLoads(t *testing.T) {
	issues, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) < 10 {
		t.Fatalf("%d known issues, want at least 10", len(issues))
	}
	for _, is := range issues {
		if !strings.HasPrefix(is.Link, "https://github.com/istio/") {
			t.Errorf("%s: link %s is not an upstream Istio issue or pull request", is.ID, is.Link)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"1.28.1": "1.28.1", "v1.9.3": "1.9.3", "1.30.2-distroless": "1.30.2", "1.28.0-beta.1": "1.28.0",
		"latest": "", "1.28": "", "": "", "1.x.0": "", "eed52ebb66ad": "", "1.+2.3": "",
	} {
		v, ok := ParseVersion(in)
		if got := map[bool]string{true: v.String(), false: ""}[ok]; got != want {
			t.Errorf("ParseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRangesAndConditions(t *testing.T) {
	yes, hostname := "true", "hostname"
	is := Issue{ID: "x", Affected: []Range{{Fixed: "1.13.0"}, {From: "1.16.0", Fixed: "1.16.6"}, {From: "1.30.0"}},
		When: []Condition{{Fact: "mesh.multi-network", Equals: &yes}, {Fact: "mesh.gateway-address-kinds", Equals: &hostname}}}
	facts := Facts{"mesh.multi-network": {"true"}, "mesh.gateway-address-kinds": {"ip", "hostname"}}
	for v, want := range map[string]bool{
		"1.12.9": true, "1.13.0": false, "1.15.9": false, "1.16.0": true, "1.16.5": true, "1.16.6": false, "1.29.9": false, "1.30.0": true, "2.0.0": true,
	} {
		ver, _ := ParseVersion(v)
		if got := is.Applies(ver, facts); got != want {
			t.Errorf("Applies(%s) = %v, want %v", v, got, want)
		}
	}
	old, _ := ParseVersion("1.12.0")
	if is.Applies(old, Facts{"mesh.multi-network": {"true"}, "mesh.gateway-address-kinds": {"ip"}}) {
		t.Error("applies without a hostname gateway")
	}
	local, no := "cluster.local", false
	for _, c := range []struct {
		cond  Condition
		facts Facts
		want  bool
	}{
		{Condition{Fact: "trust-domain", NotEquals: &local}, Facts{"trust-domain": {"example.org"}}, true},
		{Condition{Fact: "trust-domain", NotEquals: &local}, Facts{"trust-domain": {"cluster.local"}}, false},
		{Condition{Fact: "trust-domain", NotEquals: &local}, Facts{}, false}, // unknown is not "different"
		{Condition{Fact: "role", In: []string{"primary", "remote"}}, Facts{"role": {"remote"}}, true},
		{Condition{Fact: "env.X", Exists: &no}, Facts{}, true},
		{Condition{Fact: "env.X", Exists: &no}, Facts{"env.X": {""}}, false},
	} {
		if got := c.cond.Holds(c.facts); got != c.want {
			t.Errorf("%s over %v = %v, want %v", c.cond, c.facts, got, c.want)
		}
	}
}

func TestValidateRejectsAmbiguousEntries(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":    "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: role, equals: primary}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n  run: rm -rf /\n",
		"unknown fact":     "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: kubeconfig, equals: x}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"two operators":    "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: role, equals: primary, in: [remote]}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"no operator":      "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: role}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"bad version":      "issues:\n- id: a\n  title: t\n  affected: [{fixed: latest}]\n  when: [{fact: role, equals: primary}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"empty range":      "issues:\n- id: a\n  title: t\n  affected: [{}]\n  when: [{fact: role, equals: primary}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"inverted range":   "issues:\n- id: a\n  title: t\n  affected: [{from: 1.3.0, fixed: 1.2.0}]\n  when: [{fact: role, equals: primary}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"no condition":     "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"http link":        "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: role, equals: primary}]\n  link: http://example.com\n  workaround: w\n",
		"no workaround":    "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: role, equals: primary}]\n  link: https://github.com/istio/istio/issues/1\n",
		"bad id":           "issues:\n- id: A_1\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: role, equals: primary}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"lowercase env":    "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: env.path, equals: x}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
		"duplicate id":     "issues:\n- {id: a, title: t, affected: [{fixed: 1.2.3}], when: [{fact: role, equals: primary}], link: 'https://github.com/istio/istio/issues/1', workaround: w}\n- {id: a, title: t, affected: [{fixed: 1.2.3}], when: [{fact: role, equals: primary}], link: 'https://github.com/istio/istio/issues/1', workaround: w}\n",
		"yaml not a list":  "issues: {a: b}\n",
		"env fact too big": "issues:\n- id: a\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: env.A" + strings.Repeat("B", 100) + ", equals: x}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := "issues:\n- id: a-b\n  title: t\n  affected: [{fixed: 1.2.3}]\n  when: [{fact: env.PILOT_X, equals: \"true\"}]\n  link: https://github.com/istio/istio/issues/1\n  workaround: w\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("a valid entry is rejected: %v", err)
	}
}
