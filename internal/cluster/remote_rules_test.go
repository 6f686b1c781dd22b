package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Each resource istiod watches is reviewed as the secret's identity, list
// then watch; the denied ones come back by name, and a review the server
// cannot answer is an error, not a verdict.
func TestDeniedWatchesAreReviewedPerResource(t *testing.T) {
	deny := map[string]bool{"serviceexports": true, "nodes/watch": true}
	var reviewed []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
			http.NotFound(w, r)
			return
		}
		var ssar authzv1.SelfSubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&ssar); err != nil || ssar.Spec.ResourceAttributes == nil {
			t.Errorf("review body %s: %v", r.Header.Get("Content-Type"), err)
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		ra := ssar.Spec.ResourceAttributes
		if ra.Namespace != "" {
			t.Errorf("review of %s is namespaced (%s): istiod watches cluster-wide", ra.Resource, ra.Namespace)
		}
		reviewed = append(reviewed, ra.Verb+" "+ra.Resource+"."+ra.Group)
		ssar.APIVersion, ssar.Kind = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
		ssar.Status.Allowed = !deny[ra.Resource] && !deny[ra.Resource+"/"+ra.Verb]
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ssar)
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	denied, err := deniedWatches(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"nodes", "serviceexports.multicluster.x-k8s.io"}; !slices.Equal(denied, want) {
		t.Errorf("denied %v, want %v", denied, want)
	}
	if !slices.Contains(reviewed, "watch nodes.") || !slices.Contains(reviewed, "list endpointslices.discovery.k8s.io") {
		t.Errorf("reviewed %v", reviewed)
	}
	fe := watchesErr(denied)
	if fe.Verb != VerbsWatched || fe.Reason != ReasonForbidden || fe.Resource != "nodes,serviceexports.multicluster.x-k8s.io" {
		t.Errorf("watchesErr = %+v", fe)
	}

	srv.Close()
	if _, err := deniedWatches(ctx, cs); err == nil {
		t.Error("an unanswered review is no verdict, want an error")
	}
}
