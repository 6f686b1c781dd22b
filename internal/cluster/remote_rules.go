package cluster

import (
	"context"
	"fmt"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// VerbsWatched is the Verb of the FetchError RemoteAccess returns when the
// secret's identity may not list and watch some of what istiod watches in a
// remote cluster; its Resource is the comma-separated list of those
// resources (as in RemoteWatched).
const VerbsWatched = "list/watch"

// RemoteWatched is what istiod may list and watch in a remote cluster with
// a remote secret's credentials, as "resource" or "resource.group":
//   - pods, services, nodes, namespaces, endpointslices: every remote
//     cluster (pkg/kube/multicluster/cluster.go: the unfiltered namespace
//     watcher and buildClusterCollections; the kube registry controller);
//   - gateways.gateway.networking.k8s.io: a delayed informer there, read
//     once the Gateway API CRDs exist in that cluster;
//   - workloadentries.networking.istio.io: with
//     PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY (default true);
//   - serviceexports and serviceimports of multicluster.x-k8s.io: with
//     ENABLE_MCS_SERVICE_DISCOVERY (the group is MCS_API_GROUP's default).
//
// The pinned charts' istio-reader ClusterRole
// (istio-discovery/templates/reader-clusterrole.yaml) grants all of them.
var RemoteWatched = []string{"pods", "services", "nodes", "namespaces", "endpointslices.discovery.k8s.io",
	"gateways.gateway.networking.k8s.io", "workloadentries.networking.istio.io",
	"serviceexports.multicluster.x-k8s.io", "serviceimports.multicluster.x-k8s.io"}

// deniedWatches asks the remote API server, as the secret's identity
// (SelfSubjectAccessReview: nothing is stored), whether it may list and
// watch each of RemoteWatched cluster-wide, and returns those it may not.
// An API server that does not answer a review (no authorization API) is
// an error; the caller then cannot tell.
func deniedWatches(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	var denied []string
	for _, rg := range RemoteWatched {
		resource, group, _ := strings.Cut(rg, ".")
		for _, verb := range []string{"list", "watch"} {
			r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authzv1.SelfSubjectAccessReview{
				Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource}},
			}, metav1.CreateOptions{})
			if err != nil {
				return nil, fmt.Errorf("review %s %s: %w", verb, rg, err)
			}
			if !r.Status.Allowed {
				denied = append(denied, rg)
				break
			}
		}
	}
	return denied, nil
}

// watchesErr is the outcome of a review that denied some watches.
func watchesErr(denied []string) *FetchError {
	return &FetchError{Verb: VerbsWatched, Resource: strings.Join(denied, ","), Reason: ReasonForbidden,
		Message: "the secret's identity may not list and watch " + strings.Join(denied, ", ")}
}
