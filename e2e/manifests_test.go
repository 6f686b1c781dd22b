package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// dryRunServeManifests sends deploy/serve to a real kube-apiserver as a
// server-side dry run (the namespace is created for real: admission refuses
// objects in a namespace that does not exist, dry run or not), so that the
// API server's own validation, defaulting and RBAC admission (a binding to
// roles deploy/rbac.yaml defines) accept them. The ServiceMonitor is left
// out: the simulated clusters have no Prometheus Operator CRDs.
func dryRunServeManifests(t *testing.T, c *testenv.Cluster, root string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dc, err := discovery.NewDiscoveryClientForConfig(c.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(c.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "deploy", "serve")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, e := range entries {
		if e.Name() == "kustomization.yaml" || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
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
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
	}
	// The namespace first, as kubectl apply -k orders it.
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].GetKind() == "Namespace" && objs[j].GetKind() != "Namespace" })
	accepted := 0
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		if gvk.Kind == "ServiceMonitor" {
			continue
		}
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk.Kind, u.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if ns := u.GetNamespace(); ns != "" {
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
		if gvk.Kind == "Namespace" {
			opts.DryRun = nil
		}
		if _, err := ri.Create(ctx, u, opts); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", gvk.Kind, u.GetNamespace(), u.GetName(), err)
			continue
		}
		accepted++
	}
	t.Logf("kube-apiserver accepted %d objects of deploy/serve (server-side dry run; the ServiceMonitor needs the Prometheus Operator's CRDs)", accepted)
}
