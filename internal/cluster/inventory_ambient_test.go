package cluster

import (
	"context"
	"testing"

	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestReduceK8sGateway(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "istio-eastwestgateway", "namespace": "istio-system", "labels": map[string]any{"topology.istio.io/network": "network1"}},
		"spec": map[string]any{"gatewayClassName": "istio-east-west", "listeners": []any{
			map[string]any{"name": "mesh", "port": int64(15008), "protocol": "HBONE",
				"tls": map[string]any{"mode": "Terminate", "options": map[string]any{"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"}}},
			"not a listener", // hostile shapes are skipped
		}},
		"status": map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": "10.0.0.1"}, map[string]any{"value": ""}},
			"conditions": []any{map[string]any{"type": "Programmed", "status": "False", "reason": "AddressNotAssigned"}}},
	}}
	g := ReduceK8sGateway(u)
	if g.Class != "istio-east-west" || len(g.Listeners) != 1 || g.Listeners[0].Port != 15008 || g.Listeners[0].TLSMode != "Terminate" ||
		g.Listeners[0].TerminateMode != "ISTIO_MUTUAL" || len(g.Addresses) != 1 || g.Programmed != "False: AddressNotAssigned" {
		t.Errorf("reduced %+v", g)
	}
	// encoding/json's float64 numbers read the same.
	ls, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
	ls[0].(map[string]any)["port"] = float64(15008)
	if g := ReduceK8sGateway(u); g.Listeners[0].Port != 15008 {
		t.Errorf("float64 port read as %d", g.Listeners[0].Port)
	}
	// A spec of the wrong types leaves fields empty, never panics.
	bad := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"gatewayClassName": 5, "listeners": "x"}, "status": 7}}
	if g := ReduceK8sGateway(bad); g.Class != "" || len(g.Listeners) != 0 {
		t.Errorf("hostile gateway reduced to %+v", g)
	}
}

func TestCollectAmbient(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "ztunnel", Namespace: "istio-system", Labels: map[string]string{"app": "ztunnel"}},
		Spec:   appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/ztunnel:1.30.0-distroless"}}}}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 2}}
	other := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "legacy", Labels: map[string]string{DataplaneModeLabel: "ambient"}}}
	gw := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "w", "namespace": "sample"}, "spec": map[string]any{"gatewayClassName": "istio-waypoint"}}}
	newDyn := func(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
		s := runtime.NewScheme()
		s.AddKnownTypeWithName(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}, &unstructured.Unstructured{})
		s.AddKnownTypeWithName(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayList"}, &unstructured.UnstructuredList{})
		lists := AdmiralGVRs() // the same dynamic client lists Admiral's kinds
		lists[GatewayAPIGateways] = "GatewayList"
		d := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s, lists)
		for _, o := range objs {
			u := o.(*unstructured.Unstructured)
			if err := d.Tracker().Create(GatewayAPIGateways, u, u.GetNamespace()); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	t.Run("served", func(t *testing.T) {
		c := &Client{Context: "c", Kube: kubefake.NewClientset(ds, other, pod), Istio: istiofake.NewSimpleClientset(), Dynamic: newDyn(gw)}
		inv := Collect(context.Background(), c, CollectOptions{})
		a := inv.Ambient
		if a == nil || len(a.DaemonSets) != 1 || a.DaemonSets[0].Agent != AgentZtunnel || a.DaemonSets[0].Ready != 2 || ImageTag(a.DaemonSets[0].Images[0]) != "1.30.0-distroless" {
			t.Fatalf("daemonsets %+v", a)
		}
		if a.GatewayAPI != GatewayAPIServed || len(a.Gateways) != 1 || a.Gateways[0].Class != "istio-waypoint" {
			t.Errorf("gateways %+v", a)
		}
		if !a.PodsListed || len(a.Pods) != 1 || a.Pods[0].Mode != "ambient" {
			t.Errorf("pods %+v", a.Pods)
		}
	})
	t.Run("CRDs absent is recorded as such, not as an error", func(t *testing.T) {
		d := newDyn()
		d.PrependReactor("list", "gateways", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewNotFound(GatewayAPIGateways.GroupResource(), "")
		})
		c := &Client{Context: "c", Kube: kubefake.NewClientset(), Istio: istiofake.NewSimpleClientset(), Dynamic: d}
		inv := Collect(context.Background(), c, CollectOptions{})
		if inv.Ambient.GatewayAPI != GatewayAPIAbsent || inv.Errors[ResK8sGateways] != nil {
			t.Errorf("gatewayAPI %q, errors %v", inv.Ambient.GatewayAPI, inv.Errors)
		}
	})
	t.Run("forbidden is an error", func(t *testing.T) {
		d := newDyn()
		d.PrependReactor("list", "gateways", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(GatewayAPIGateways.GroupResource(), "", nil)
		})
		c := &Client{Context: "c", Kube: kubefake.NewClientset(), Istio: istiofake.NewSimpleClientset(), Dynamic: d}
		inv := Collect(context.Background(), c, CollectOptions{})
		if fe := inv.Errors[ResK8sGateways]; fe == nil || fe.Reason != ReasonForbidden || inv.Ambient.GatewayAPI != "" {
			t.Errorf("errors %v, gatewayAPI %q", inv.Errors, inv.Ambient.GatewayAPI)
		}
	})
}
