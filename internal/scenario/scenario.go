// Package scenario loads the test scenarios under testdata/scenarios: one
// folder per scenario, one YAML file per cluster (a text/template that
// makes its certificates and kubeconfigs at load time, the way Istio's
// tools/certs makes them), and scenario.yaml with what meshdoctor must
// report. The unit tier loads them into fake clientsets, the integration
// tier applies the same objects to real API servers.
package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// Expect is what a scenario must produce.
type Expect struct {
	// Exit is meshdoctor check's exit code.
	Exit int `json:"exit"`
	// Fail lists "checkID" or "checkID@cluster" that must fail; nothing
	// else may fail.
	Fail []string `json:"fail,omitempty"`
	// Warn lists results that must warn (others may warn too).
	Warn []string `json:"warn,omitempty"`
	// Error lists results that must be errors; nothing else may be.
	Error []string `json:"error,omitempty"`
}

// Meta is scenario.yaml.
type Meta struct {
	Description string `json:"description"`
	Expect      Expect `json:"expect"`
	// Contexts, when given, are the kubeconfig's contexts instead of one per
	// cluster file named after it: context names that differ from the
	// clusters' clusterName (gke_..., arn:aws:eks:...), and several
	// contexts for one API server (an admin@ alias). meshdoctor is run on
	// all of them, in this order; results name the contexts.
	Contexts []ContextSpec `json:"contexts,omitempty"`
}

// ContextSpec is one kubeconfig context of a scenario: its name and the
// cluster file whose API server (and meshdoctor's identity there) it uses.
type ContextSpec struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
}

// ContextNames are the contexts meshdoctor is run on: Meta.Contexts, else
// one per cluster file.
func (sc *Scenario) ContextNames() []string {
	if len(sc.Meta.Contexts) == 0 {
		return sc.Clusters
	}
	var out []string
	for _, c := range sc.Meta.Contexts {
		out = append(out, c.Name)
	}
	return out
}

// Scenario is a loaded scenario.
type Scenario struct {
	Name     string
	Meta     Meta
	Clusters []string                    // file names without .yaml, sorted
	Objects  map[string][]runtime.Object // per cluster
}

// Env supplies what differs between the tiers: the API server URL of a
// cluster and a token for it.
type Env interface {
	Server(cluster string) string
	Token(cluster string) string
}

// ClusterAccess is implemented by an Env whose API servers need more than
// a URL to be reached (the integration tier): remote secrets then carry the
// CA and the proxy instead of skipping TLS verification.
type ClusterAccess interface {
	CAData(cluster string) []byte
	ProxyURL(cluster string) string
}

// Scheme knows the core and Istio kinds of the scenario files.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail
	}
	if err := istioscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// List returns the scenario names under dir.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list scenarios: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Load reads and renders one scenario.
func Load(dir, name string, env Env, certs *Certs) (*Scenario, error) {
	base := filepath.Join(dir, name)
	sc := &Scenario{Name: name, Objects: map[string][]runtime.Object{}}
	metaBytes, err := os.ReadFile(filepath.Join(base, "scenario.yaml"))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	if err := yaml.UnmarshalStrict(metaBytes, &sc.Meta); err != nil {
		return nil, fmt.Errorf("scenario %s/scenario.yaml: %w", name, err)
	}
	files, err := filepath.Glob(filepath.Join(base, "*.yaml"))
	if err != nil {
		return nil, err
	}
	partials, err := readPartials(filepath.Join(dir, "_partials"))
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(Scheme()).UniversalDeserializer()
	sort.Strings(files)
	for _, f := range files {
		cl := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if cl == "scenario" {
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rendered, err := render(string(text), cl, InstallsDir(dir), partials, env, certs)
		if err != nil {
			return nil, fmt.Errorf("scenario %s cluster %s: %w", name, cl, err)
		}
		objs, err := decodeAll(decoder, rendered)
		if err != nil {
			return nil, fmt.Errorf("scenario %s cluster %s: %w", name, cl, err)
		}
		sc.Clusters = append(sc.Clusters, cl)
		sc.Objects[cl] = objs
	}
	for _, c := range sc.Meta.Contexts {
		if _, ok := sc.Objects[c.Cluster]; !ok || c.Name == "" {
			return nil, fmt.Errorf("scenario %s: context %q names no cluster file (%q)", name, c.Name, c.Cluster)
		}
	}
	return sc, nil
}

func render(text, cl, installs string, partials []partial, env Env, certs *Certs) ([]byte, error) {
	funcs := certs.funcs(env)
	funcs["self"] = func() string { return cl }
	funcs["install"] = installFunc(installs, cl, env, certs)
	for k, v := range templateFuncs() {
		funcs[k] = v
	}
	t := template.New("_root").Funcs(funcs)
	for _, p := range partials {
		if _, err := t.New(p.name).Parse(p.text); err != nil {
			return nil, fmt.Errorf("parse %s: %w", p.name, err)
		}
	}
	main, err := t.New(cl).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var buf bytes.Buffer
	if err := main.Execute(&buf, nil); err != nil {
		return nil, fmt.Errorf("render template: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeAll(dec runtime.Decoder, data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			// Kinds outside the scheme (Admiral's admiral.io objects and
			// their CustomResourceDefinitions) stay unstructured: the
			// fake tier serves them from a dynamic client, the real API
			// servers take them as they are.
			u := &unstructured.Unstructured{}
			if jerr := yaml.Unmarshal(doc, &u.Object); jerr == nil && (u.GroupVersionKind().Group == cluster.AdmiralGroup ||
				u.GetKind() == "CustomResourceDefinition" && strings.HasSuffix(u.GetName(), "."+cluster.AdmiralGroup)) {
				obj, err = u, nil
			}
			if obj == nil {
				obj, err = gatewayAPIObject(doc, err) // ambient.go
			}
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, obj)
	}
}

func isComment(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

type partial struct{ name, text string }

func readPartials(dir string) ([]partial, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tmpl"))
	if err != nil {
		return nil, err
	}
	var out []partial
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read partial: %w", err)
		}
		out = append(out, partial{filepath.Base(f), string(b)})
	}
	return out, nil
}

// templateFuncs are the few helpers the scenario templates use.
func templateFuncs() map[string]any {
	return map[string]any{
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict needs key/value pairs")
			}
			m := map[string]any{}
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"list": func(items ...any) []any { return items },
		"default": func(def, v any) any {
			if v == nil || v == "" {
				return def
			}
			return v
		},
		"splitList": func(sep, s string) []string { return strings.Split(s, sep) },
		"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
		// quote makes a YAML double-quoted scalar (JSON string syntax).
		"quote": func(v any) string { b, _ := json.Marshal(fmt.Sprint(v)); return string(b) },
		"portName": func(p any) string {
			switch fmt.Sprint(p) {
			case "15021":
				return "status-port"
			case "15443":
				return "tls"
			case "15012":
				return "tls-istiod"
			case "15017":
				return "tls-webhook"
			}
			return fmt.Sprintf("tcp-%v", p)
		},
	}
}
