package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// A revision's injector webhook enters the inventory with its name,
// labels, service, URL (credentials removed) and namespace selector; the
// CA bundle only as a fingerprint.
func TestCollectReducesMutatingWebhooks(t *testing.T) {
	path, port := "/inject", int32(443)
	url := "https://user:hunter2@istiod.example.com:15017/inject"
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIBcafebundle\n-----END CERTIFICATE-----\n")
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "istio.io/rev", Operator: metav1.LabelSelectorOpIn, Values: []string{"1-31"}},
	}}
	mwc := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-1-31", Labels: map[string]string{"istio.io/rev": "1-31"}},
		Webhooks: []admissionv1.MutatingWebhook{
			{Name: "rev.namespace.sidecar-injector.istio.io", NamespaceSelector: sel,
				ClientConfig: admissionv1.WebhookClientConfig{CABundle: ca,
					Service: &admissionv1.ServiceReference{Namespace: "istio-system", Name: "istiod-1-31", Path: &path, Port: &port}}},
			{Name: "remote.sidecar-injector.istio.io", ClientConfig: admissionv1.WebhookClientConfig{URL: &url}},
		},
	}
	c := &Client{Context: "c1", Server: "https://c1:6443", Kube: kubefake.NewClientset(mwc), Istio: istiofake.NewSimpleClientset(),
		Config: &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca of c1")}}}
	inv := Collect(context.Background(), c, CollectOptions{})
	if fe := inv.Errors[ResMutatingWebhooks]; fe != nil {
		t.Fatalf("list webhooks: %v", fe)
	}
	if len(inv.MutatingWebhooks) != 1 {
		t.Fatalf("got %d webhook configurations, want 1", len(inv.MutatingWebhooks))
	}
	got := inv.MutatingWebhooks[0]
	if got.Name != mwc.Name || got.Labels["istio.io/rev"] != "1-31" || len(got.Webhooks) != 2 {
		t.Fatalf("reduced to %+v", got)
	}
	w := got.Webhooks[0]
	if w.Service == nil || *w.Service != (WebhookService{Namespace: "istio-system", Name: "istiod-1-31", Path: "/inject", Port: 443}) {
		t.Errorf("service %+v", w.Service)
	}
	if w.NamespaceSelector == nil || w.NamespaceSelector.MatchExpressions[0].Values[0] != "1-31" {
		t.Errorf("namespace selector %+v", w.NamespaceSelector)
	}
	if len(w.CABundleSHA256) != 64 {
		t.Errorf("CA bundle fingerprint %q", w.CABundleSHA256)
	}
	if u := got.Webhooks[1].URL; u != "https://istiod.example.com:15017/inject" {
		t.Errorf("URL %q, want it without user information", u)
	}
	if len(inv.CAFingerprint) != 64 {
		t.Errorf("context CA fingerprint %q", inv.CAFingerprint)
	}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"hunter2", "cafebundle", "ca of c1"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("inventory JSON holds %q", leak)
		}
	}
}
