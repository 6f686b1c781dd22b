package serve

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// TestAlertingRulesFileIsWellFormed validates the example rules by their
// YAML structure (the groups/rules fields Prometheus's rulefmt requires)
// and checks that every meshdoctor_ metric an expression names is one that
// meshdoctor exports. It does not parse PromQL: the parser lives in
// github.com/prometheus/prometheus, far heavier than the rest of the module.
func TestAlertingRulesFileIsWellFormed(t *testing.T) {
	b, err := os.ReadFile("../../deploy/prometheus/meshdoctor-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("rules file: %v", err)
	}
	// The names meshdoctor exports, from a registry that has seen a run.
	store := &Store{}
	store.put(&Run{Results: []checks.Result{{CheckID: "a.b", Status: checks.Fail}}, Clusters: healthy("c")}, time.Now())
	fams, err := NewMetrics(store, BuildInfo{}).Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range fams {
		exported = append(exported, f.GetName())
	}
	metricName := regexp.MustCompile(`meshdoctor_[a-z_]+`)
	var alerts []string
	for _, g := range file.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule %+v: alert and expr are required", r)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: wants a severity label and a summary", r.Alert)
			}
			names := metricName.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: expr names no meshdoctor metric: %s", r.Alert, r.Expr)
			}
			for _, n := range names {
				if !slices.Contains(exported, n) {
					t.Errorf("%s: expr names %s, which meshdoctor does not export (%v)", r.Alert, n, exported)
				}
			}
		}
	}
	for _, want := range []string{"MeshdoctorCheckFailing", "MeshdoctorRemoteClusterNotSynced", "MeshdoctorNoSuccessfulRun"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	// The check the sync alert names exists.
	found := false
	for _, c := range checks.Catalogue() {
		found = found || c.ID == "endpoints.istiod-sync"
	}
	if !found {
		t.Error("endpoints.istiod-sync is not in the catalogue")
	}
}
