package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// InstallsDir is where `make fixtures` writes the installs rendered by
// Istio's own tooling (hack/render), next to the scenarios folder.
func InstallsDir(scenarioDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(scenarioDir)), "installs")
}

// maxInstallFile bounds what one rendered install may weigh.
const maxInstallFile = 4 << 20

// installArgs are the parameters of the install template function, given
// as a dict:
//
//	as        the rendered cluster file to use (default: this cluster)
//	podCIDR   third octet of the pod IPs, 10.214.<podCIDR>.x (default 100)
//	lbIP      the east-west gateway's LoadBalancer ingress IP
//	lbHostname  its ingress hostname instead (an AWS ELB)
//	nodeIP    the ExternalIP of the cluster's node (NodePort gateways)
//	locality  "region/zone": the node's topology labels (locality scenarios)
//	root      root CA name of the cluster's cacerts (default mesh)
//	cacerts   a cacerts variant (see Certs.cacertsData), or none
//	primary   for a remote cluster: the primary whose istiod serves it
//	remotes   list of "key=cluster[:variant]" remote secrets
//	delete    list of "Kind/namespace/name" to delete (namespace empty for
//	          cluster-scoped kinds), as kubectl delete would
//	unlabel   list of "Kind/namespace/name key", as kubectl label ... key-
//	unannotate  the same for annotations (kubectl annotate ... key-)
type installArgs struct {
	as, podCIDR, lbIP, lbHostname, nodeIP, root, cacerts, primary, locality string
	remotes, deletes, unlabels, unannotates                                 []string
}

func parseInstallArgs(cl string, kv []map[string]any) (installArgs, error) {
	a := installArgs{as: cl, podCIDR: "100", root: "mesh"}
	if len(kv) > 1 {
		return a, errors.New("install takes ROW and at most one dict")
	}
	if len(kv) == 0 {
		return a, nil
	}
	strs := map[string]*string{"as": &a.as, "podCIDR": &a.podCIDR, "lbIP": &a.lbIP, "lbHostname": &a.lbHostname,
		"nodeIP": &a.nodeIP, "locality": &a.locality, "root": &a.root, "cacerts": &a.cacerts, "primary": &a.primary}
	lists := map[string]*[]string{"remotes": &a.remotes, "delete": &a.deletes, "unlabel": &a.unlabels, "unannotate": &a.unannotates}
	for k, v := range kv[0] {
		if p, ok := strs[k]; ok {
			s, ok := v.(string)
			if !ok {
				return a, fmt.Errorf("install: %s must be a string, not %T", k, v)
			}
			*p = s
			continue
		}
		if p, ok := lists[k]; ok {
			l, ok := v.([]any)
			if !ok {
				return a, fmt.Errorf("install: %s must be a list, not %T", k, v)
			}
			for _, x := range l {
				*p = append(*p, fmt.Sprint(x))
			}
			continue
		}
		return a, fmt.Errorf("install: unknown parameter %q", k)
	}
	return a, nil
}

// installFunc is the template function
//
//	{{ install "ROW" (dict ...) }}
//
// that puts a rendered install (testdata/installs/ROW/<cluster>.yaml) into
// a scenario's cluster file, with what a running cluster adds to it made at
// load time: the cacerts secret (tools/certs layout), remote secrets in the
// form istioctl create-remote-secret writes (with the tier's own tokens),
// what istiod writes (istio-ca-root-cert), and what the kubelet, the
// controllers and the cloud write (WriteStatus). Faults are injected after
// that, as an operator would break the install: objects deleted, labels
// removed.
//
// Remote secrets are made here rather than by running `istioctl
// create-remote-secret` at render time: that command reads the token of a
// service-account token Secret, which only kube-controller-manager's token
// controller fills in, and its output would embed a token of an API server
// that no longer exists when the tests run. The tiers already mint real
// tokens (TokenRequest in internal/testenv), so the secret is built in the
// same form (remote_secret.go: createRemoteServiceAccountSecret,
// createBearerTokenKubeconfig) from them.
func installFunc(installs, cl string, env Env, certs *Certs) func(string, ...map[string]any) (string, error) {
	return func(row string, kv ...map[string]any) (string, error) {
		a, err := parseInstallArgs(cl, kv)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(row+a.as, `/\`) || strings.HasPrefix(row, ".") || strings.HasPrefix(a.as, ".") {
			return "", fmt.Errorf("install %q %q: not a row and cluster name", row, a.as)
		}
		path := filepath.Join(installs, row, a.as+".yaml")
		b, err := readBounded(path, maxInstallFile)
		if err != nil {
			return "", fmt.Errorf("install %s: %w (run make fixtures)", row, err)
		}
		objs, err := decodeMaps(b)
		if err != nil {
			return "", fmt.Errorf("install %s: %w", path, err)
		}
		made, err := loadTimeObjects(cl, a, objs, env, certs)
		if err != nil {
			return "", fmt.Errorf("install %s: %w", row, err)
		}
		status, err := WriteStatus(objs, StatusOptions{Cluster: cl, PodCIDR: a.podCIDR, LBIP: a.lbIP, LBHostname: a.lbHostname, NodeIP: a.nodeIP, Locality: a.locality})
		if err != nil {
			return "", fmt.Errorf("install %s: %w", row, err)
		}
		// Webhook configurations go last: a real API server would call the
		// webhook (whose istiod does not run) for the pods and Istio
		// objects created after it.
		var hooks, rest []map[string]any
		for _, o := range objs {
			if k := kindOf(o); k == "MutatingWebhookConfiguration" || k == "ValidatingWebhookConfiguration" {
				hooks = append(hooks, o)
			} else {
				rest = append(rest, o)
			}
		}
		all := slices.Concat(rest, made, status, hooks)
		if all, err = inject(all, a); err != nil {
			return "", fmt.Errorf("install %s: %w", row, err)
		}
		return encodeMaps(all)
	}
}

// loadTimeObjects are what the install holds once running that no
// renderer can write ahead of time: cacerts, remote secrets and the root
// certificate istiod distributes.
func loadTimeObjects(cl string, a installArgs, objs []map[string]any, env Env, certs *Certs) ([]map[string]any, error) {
	var out []map[string]any
	secret := func(name string, labels, annotations map[string]string, data map[string]string) map[string]any {
		m := map[string]any{"name": name, "namespace": "istio-system"}
		if labels != nil {
			m["labels"] = toAny(labels)
		}
		if annotations != nil {
			m["annotations"] = toAny(annotations)
		}
		return map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": m, "type": "Opaque", "data": toAny(data)}
	}
	remote := a.primary != ""
	if !remote && a.cacerts != "none" {
		data, err := certs.cacertsData(a.root, cl, a.cacerts)
		if err != nil {
			return nil, err
		}
		out = append(out, secret("cacerts", nil, nil, data))
	}
	// istiod (the cluster's own, or the primary's for a remote) writes its
	// root into istio-ca-root-cert in every namespace.
	var rootPEM string
	switch {
	case a.cacerts == "none" && !remote:
		ca, err := certs.SelfSigned(cl)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "istio.io/ca-root",
			"metadata": map[string]any{"name": "istio-ca-secret", "namespace": "istio-system"},
			"data":     toAny(map[string]string{"ca-cert.pem": b64(ca.CertPEM()), "ca-key.pem": b64(ca.KeyPEM()), "cert-chain.pem": "", "root-cert.pem": ""})})
		rootPEM = ca.CertPEM()
	default:
		r, err := certs.Root(a.root)
		if err != nil {
			return nil, err
		}
		rootPEM = r.CertPEM()
	}
	for _, o := range objs {
		if kindOf(o) != "Namespace" {
			continue
		}
		out = append(out, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "istio-ca-root-cert", "namespace": nameOf(o)},
			"data":     map[string]any{"root-cert.pem": rootPEM}})
	}
	for _, r := range a.remotes {
		key, target, ok := strings.Cut(r, "=")
		if !ok {
			return nil, fmt.Errorf("remote %q is not key=cluster[:variant]", r)
		}
		target, variant, _ := strings.Cut(target, ":")
		data, err := certs.remoteSecretData(env, key, target, variant)
		if err != nil {
			return nil, err
		}
		out = append(out, secret("istio-remote-secret-"+key,
			map[string]string{"istio/multiCluster": "true"},
			map[string]string{"networking.istio.io/cluster": key}, data))
	}
	return out, nil
}

// inject applies the faults of a scenario to the loaded objects.
func inject(objs []map[string]any, a installArgs) ([]map[string]any, error) {
	for _, ref := range a.deletes {
		i := slices.IndexFunc(objs, func(o map[string]any) bool { return refOf(o) == ref })
		if i < 0 {
			return nil, fmt.Errorf("delete %s: no such object", ref)
		}
		objs = slices.Delete(objs, i, i+1)
	}
	for _, e := range []struct {
		field string
		edits []string
	}{{"labels", a.unlabels}, {"annotations", a.unannotates}} {
		for _, u := range e.edits {
			ref, key, ok := strings.Cut(u, " ")
			if !ok {
				return nil, fmt.Errorf("%q is not \"Kind/namespace/name key\"", u)
			}
			i := slices.IndexFunc(objs, func(o map[string]any) bool { return refOf(o) == ref })
			if i < 0 {
				return nil, fmt.Errorf("remove %s %s: no such object", e.field, ref)
			}
			m, _ := metaOf(objs[i])[e.field].(map[string]any)
			if _, ok := m[key]; !ok {
				return nil, fmt.Errorf("%s has no %s key %s", ref, e.field, key)
			}
			delete(m, key)
		}
	}
	return objs, nil
}

func refOf(o map[string]any) string {
	m := metaOf(o)
	return kindOf(o) + "/" + str(m, "namespace") + "/" + str(m, "name")
}

func metaOf(o map[string]any) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		o["metadata"] = m
	}
	return m
}

func kindOf(o map[string]any) string { return str(o, "kind") }
func nameOf(o map[string]any) string { return str(metaOf(o), "name") }

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func decodeMaps(b []byte) ([]map[string]any, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []map[string]any
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) > 0 {
			out = append(out, m)
		}
	}
}

func encodeMaps(objs []map[string]any) (string, error) {
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return "", fmt.Errorf("encode %s: %w", refOf(o), err)
		}
		b.WriteString("\n---\n")
		b.Write(y)
	}
	return b.String(), nil
}

// ObjectRef names a loaded object as the install faults do:
// "Kind/namespace/name" (namespace empty for cluster-scoped kinds).
func ObjectRef(o runtime.Object) string {
	kind := o.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		if gvks, _, err := Scheme().ObjectKinds(o); err == nil && len(gvks) > 0 {
			kind = gvks[0].Kind
		}
	}
	m, err := meta.Accessor(o)
	if err != nil {
		return kind
	}
	return kind + "/" + m.GetNamespace() + "/" + m.GetName()
}
