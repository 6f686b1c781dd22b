package serve

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
	for _, want := range []string{"MeshdoctorCheckFailing", "MeshdoctorRemoteClusterNotSynced", "MeshdoctorGatewayUnreachable",
		"MeshdoctorRootMismatch", "MeshdoctorRemoteSecretTokenExpiring", "MeshdoctorRemoteSecretTokenExpired", "MeshdoctorNoSuccessfulRun"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	// Every check an expression names is in the catalogue.
	var ids []string
	for _, c := range checks.Catalogue() {
		ids = append(ids, c.ID)
	}
	checkName := regexp.MustCompile(`[a-z]+\.[a-z-]+`)
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			for _, sel := range regexp.MustCompile(`check=~?"([^"]*)"`).FindAllStringSubmatch(r.Expr, -1) {
				for _, id := range checkName.FindAllString(sel[1], -1) {
					if !slices.Contains(ids, id) {
						t.Errorf("%s: expr names check %s, which is not in the catalogue", r.Alert, id)
					}
				}
			}
		}
	}
}

// TestAlertingRulesWithPromtool runs Prometheus's own rule checker and the
// rule unit tests (deploy/prometheus/meshdoctor-rules.test.yaml: each alert
// fires for the series meshdoctor exports, after its `for`, and a flap or
// a warn does not) with promtool built from the Prometheus module.
func TestAlertingRulesWithPromtool(t *testing.T) {
	promtool, err := filepath.Abs("../../bin/promtool")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(promtool); err != nil {
		t.Skipf("bin/promtool is missing (make testbin, or hack/testbin.sh promtool): %v", err)
	}
	for _, args := range [][]string{
		{"check", "rules", "meshdoctor-rules.yaml"},
		{"test", "rules", "meshdoctor-rules.test.yaml"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, promtool, args...)
		cmd.Dir = "../../deploy/prometheus"
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else {
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		}
	}
}
