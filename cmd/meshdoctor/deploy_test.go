package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document of the files, strictly (an unknown or
// misspelt field is an error), into the typed objects of client-go's
// scheme; kinds the scheme does not know (ServiceMonitor) stay
// unstructured.
func manifests(t *testing.T, files ...string) []runtime.Object {
	t.Helper()
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var out []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, _, err := strict.Decode(doc, nil, nil)
			if runtime.IsNotRegisteredError(err) {
				u := &unstructured.Unstructured{}
				if err := yaml.UnmarshalStrict(doc, &u.Object); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				obj = u
			} else if err != nil {
				t.Fatalf("%s: %v\n%s", f, err, doc)
			}
			out = append(out, obj)
		}
	}
	return out
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// TestServeManifests: deploy/serve parses as the right kinds, binds only
// the roles deploy/rbac.yaml defines (no rule of its own), runs the image
// as its non-root user with arguments `meshdoctor serve` accepts, mounts
// the kubeconfig Secret where --kubeconfig-dir reads, and the Service,
// probes, scrape annotations and ServiceMonitor all name the port serve
// listens on.
func TestServeManifests(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "serve")
	var k struct {
		Resources []string `json:"resources"`
	}
	kb, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(kb, &k); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != "kustomization.yaml" && strings.HasSuffix(e.Name(), ".yaml") {
			files = append(files, e.Name())
		}
	}
	sorted := slices.Clone(k.Resources)
	sort.Strings(sorted)
	if !slices.Equal(sorted, files) {
		t.Errorf("kustomization resources %v, files %v: list every manifest once", k.Resources, files)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f))
	}
	objs := manifests(t, paths...)

	// The roles deploy/rbac.yaml defines.
	roles := map[string]bool{}
	for _, o := range manifests(t, filepath.Join("..", "..", "deploy", "rbac.yaml")) {
		switch r := o.(type) {
		case *rbacv1.ClusterRole:
			roles["ClusterRole/"+r.Name] = true
		case *rbacv1.Role:
			roles["Role/"+r.Namespace+"/"+r.Name] = true
		}
	}

	kinds := map[string]int{}
	var dep *appsv1.Deployment
	var svc *corev1.Service
	var sa *corev1.ServiceAccount
	var monitor *unstructured.Unstructured
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Namespace:
			kinds["Namespace"]++
		case *corev1.ServiceAccount:
			kinds["ServiceAccount"]++
			sa = v
		case *rbacv1.ClusterRoleBinding:
			kinds["ClusterRoleBinding"]++
			checkBinding(t, v.Name, v.RoleRef, "", v.Subjects, roles)
		case *rbacv1.RoleBinding:
			kinds["RoleBinding"]++
			checkBinding(t, v.Name, v.RoleRef, v.Namespace, v.Subjects, roles)
		case *rbacv1.Role, *rbacv1.ClusterRole:
			t.Errorf("deploy/serve defines a role (%T): its grants belong in deploy/rbac.yaml", v)
		case *appsv1.Deployment:
			kinds["Deployment"]++
			dep = v
		case *corev1.Service:
			kinds["Service"]++
			svc = v
		case *unstructured.Unstructured:
			kinds[v.GetKind()]++
			if v.GetKind() == "ServiceMonitor" && v.GetAPIVersion() == "monitoring.coreos.com/v1" {
				monitor = v
			}
		default:
			kinds[o.GetObjectKind().GroupVersionKind().Kind]++
		}
	}
	want := map[string]int{"Namespace": 1, "ServiceAccount": 1, "ClusterRoleBinding": 1, "RoleBinding": 2,
		"Deployment": 1, "Service": 1, "NetworkPolicy": 1, "ServiceMonitor": 1}
	for kind, n := range want {
		if kinds[kind] != n {
			t.Errorf("%d %s, want %d (all: %v)", kinds[kind], kind, n, kinds)
		}
	}
	if dep == nil || svc == nil || sa == nil || monitor == nil {
		t.Fatal("missing Deployment, Service, ServiceAccount or ServiceMonitor")
	}

	pod := dep.Spec.Template.Spec
	if pod.ServiceAccountName != sa.Name || dep.Namespace != sa.Namespace {
		t.Errorf("pod service account %s/%s, want %s/%s", dep.Namespace, pod.ServiceAccountName, sa.Namespace, sa.Name)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Error("the pod does not run as the image's non-root user 65532")
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Error("the container is not read-only, without privilege escalation and capabilities")
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %v: requests (cpu, memory) and a memory limit wanted", c.Resources)
	}

	// The arguments, with the environment substituted as the kubelet does,
	// are accepted by `meshdoctor serve`.
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	var args []string
	for _, a := range c.Args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		args = append(args, a)
	}
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("args %v: want serve ...", args)
	}
	o := &ServeOptions{CheckOptions: CheckOptions{IO: IO{Out: io.Discard, ErrOut: io.Discard}}}
	if err := newServeCmdFor(o).ParseFlags(args[1:]); err != nil {
		t.Fatalf("serve %v: %v", args[1:], err)
	}
	// Complete and Validate as RunE does, without running.
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("serve %v: %v", args[1:], err)
	}
	if o.InCluster == "" || o.KubeconfigDir == "" || !strings.HasSuffix(o.Listen, ":9090") || strings.HasPrefix(o.Listen, "127.") {
		t.Errorf("serve options: in-cluster %q, kubeconfig-dir %q, listen %q", o.InCluster, o.KubeconfigDir, o.Listen)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != o.KubeconfigDir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.Optional != nil && *v.Secret.Optional && m.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("no optional Secret mounted read-only at --kubeconfig-dir %s", o.KubeconfigDir)
	}

	// One port, http-metrics = 9090, named by everything that reaches it.
	if len(c.Ports) != 1 || c.Ports[0].Name != "http-metrics" || c.Ports[0].ContainerPort != 9090 {
		t.Errorf("container ports %v", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.String() != "http-metrics" {
			t.Errorf("probe %s: %+v", name, p)
		}
	}
	for what, ann := range map[string]map[string]string{"pod": dep.Spec.Template.Annotations, "service": svc.Annotations} {
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "9090" || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s scrape annotations %v", what, ann)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http-metrics" || svc.Spec.Ports[0].TargetPort.String() != "http-metrics" {
		t.Errorf("service ports %v", svc.Spec.Ports)
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("service selector %s=%s does not select the pods (%v)", k, v, dep.Spec.Template.Labels)
		}
	}
	eps, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	sel, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http-metrics" || eps[0].(map[string]any)["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %v", eps)
	}
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s does not select the Service (%v)", k, v, svc.Labels)
		}
	}
}

func checkBinding(t *testing.T, name string, ref rbacv1.RoleRef, ns string, subjects []rbacv1.Subject, roles map[string]bool) {
	t.Helper()
	key := ref.Kind + "/" + ref.Name
	if ref.Kind == "Role" {
		key = "Role/" + ns + "/" + ref.Name
	}
	if !roles[key] {
		t.Errorf("binding %s refers to %s, which deploy/rbac.yaml does not define", name, key)
	}
	if len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" || subjects[0].Name != "meshdoctor" || subjects[0].Namespace != "meshdoctor" {
		t.Errorf("binding %s subjects %v, want the service account meshdoctor/meshdoctor only", name, subjects)
	}
}
