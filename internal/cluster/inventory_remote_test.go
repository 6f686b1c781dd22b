package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// The secrets of other namespaces are asked for as metadata only
// (PartialObjectMetadataList) and by istiod's label; what comes back keeps
// only namespace, name and create-remote-secret's annotation, bounded.
func TestOtherNamespaceSecretsAreReadAsMetadataOnly(t *testing.T) {
	var accept, selector string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept, selector = r.Header.Get("Accept"), r.URL.Query().Get("labelSelector")
		list := metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"},
			Items: []metav1.PartialObjectMetadata{
				{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}, ObjectMeta: metav1.ObjectMeta{
					Namespace: "istio-system", Name: "istio-remote-secret-a", Labels: map[string]string{MultiClusterLabel: "true"}}},
				{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}, ObjectMeta: metav1.ObjectMeta{
					Namespace: "default", Name: "istio-remote-secret-b", Labels: map[string]string{MultiClusterLabel: "true"},
					Annotations: map[string]string{ClusterAnnotation: "b", lastApplied: `{"data":{"b":"dG9rZW4="}}`, "x": strings.Repeat("y", 1000)}}},
			}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rem, err := collectRemote(ctx, &Client{Config: &rest.Config{Host: srv.URL}}, IstioNamespace, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(accept, "as=PartialObjectMetadataList") {
		t.Errorf("Accept %q does not ask for metadata only", accept)
	}
	if selector != MultiClusterLabel+"=true" {
		t.Errorf("label selector %q", selector)
	}
	want := []SecretMeta{{Namespace: "default", Name: "istio-remote-secret-b", Cluster: "b"}}
	if !rem.SecretsListed || len(rem.OtherNamespaceSecrets) != 1 || rem.OtherNamespaceSecrets[0] != want[0] {
		t.Errorf("got %+v, want %+v", rem, want)
	}
	if b, _ := json.Marshal(rem); strings.Contains(string(b), "dG9rZW4") {
		t.Errorf("the last-applied data leaked into the inventory: %s", b)
	}
}

func TestNoMetadataClientIsAnError(t *testing.T) {
	if _, err := collectRemote(context.Background(), &Client{}, IstioNamespace, metav1.ListOptions{}); err == nil {
		t.Error("no client, no error")
	}
}
