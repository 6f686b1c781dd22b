package cluster

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PageSize is how many objects the large lists (Services, EndpointSlices,
// pods) ask for per request: kubectl's and client-go's pager default
// (k8s.io/client-go/tools/pager defaultPageSize). A cluster smaller than a
// page costs one request per list, as before pagination.
const PageSize = 500

// maxPages bounds one list against a server that never stops handing out
// continue tokens: 2,000 pages of 500 are a million objects.
const maxPages = 2000

// lastApplied is kubectl's copy of the whole object as last applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// listPage is one page of a typed list: its items and its continue token.
type listPage[T any] func(ctx context.Context, opts metav1.ListOptions) ([]T, string, error)

// listAll lists a resource in pages of PageSize and reduces each object
// with reduce as its page arrives, so that no page is kept whole. ctx (the
// cluster's inventory deadline) bounds the whole list; each request also
// has the client's timeout.
//
// An expired continue token (410 Gone, reason Expired: the server
// compacted the resourceVersion the list started at) restarts the list
// once from the first page. client-go's pager (tools/pager ListPager.List)
// instead falls back to one unpaginated list at the original
// resourceVersion when FullListIfExpired is set; restarting in pages keeps
// the memory bound, at the cost of a list that may span two
// resourceVersions, which an inventory read once tolerates.
func listAll[T any](ctx context.Context, resource string, lo metav1.ListOptions, list listPage[T], reduce func(*T)) ([]T, error) {
	var out []T
	opts := lo
	opts.Limit = PageSize
	restarted := false
	for pages := 0; ; pages++ {
		if pages == maxPages {
			return nil, fmt.Errorf("list %s: more than %d pages of %d", resource, maxPages, PageSize)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		items, next, err := list(ctx, opts)
		if err != nil {
			if opts.Continue != "" && !restarted && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
				slog.Debug("continue token expired; restarting the list once", "resource", resource, "err", err)
				restarted, out, opts.Continue = true, nil, ""
				continue
			}
			return nil, err
		}
		if reduce != nil {
			for i := range items {
				reduce(&items[i])
			}
		}
		if out == nil {
			out = items // the common case, one page: no copy
		} else {
			out = append(out, items...)
		}
		if next == "" {
			return out, nil
		}
		opts.Continue = next
	}
}

// reduceMeta drops what no check reads of any object's metadata and what
// is the bulk of it: managedFields (who wrote which field) and kubectl's
// last-applied copy of the whole object. The snapshot drops the same
// (internal/snapshot redact), so offline runs have always run without them.
func reduceMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	// No check reads a Service's, slice's or pod's identity beyond its
	// namespace and name (only kube-system's namespace UID is read).
	m.UID, m.ResourceVersion, m.GenerateName = "", "", ""
	delete(m.Annotations, lastApplied)
}

// ReduceService keeps of a Service what the checks read: its metadata
// without managedFields and last-applied (labels and annotations such as
// traffic.istio.io/nodeSelector stay), spec and status.
func ReduceService(s *corev1.Service) { reduceMeta(&s.ObjectMeta) }

// ReducePod keeps of a pod what the checks read: metadata without
// managedFields and last-applied (labels and annotations, e.g.
// istio.io/rev, sidecar.istio.io/*, stay), spec and status.
func ReducePod(p *corev1.Pod) { reduceMeta(&p.ObjectMeta) }

// ReduceEndpointSlice keeps of an EndpointSlice what the checks read:
// namespace, name and the kubernetes.io/service-name label (the only label
// read: internal/checks endpoints.go and probes.go find a Service's slices
// by it; no annotation and no ownerReference is read),
// address type, ports, and per endpoint its addresses, conditions and the
// kind, namespace and name of its targetRef. Node names, zones, hints and
// the deprecated topology are read by no check (internal/checks,
// internal/mesh, internal/envoyadmin).
func ReduceEndpointSlice(es *discoveryv1.EndpointSlice) {
	reduceMeta(&es.ObjectMeta)
	es.OwnerReferences, es.Annotations = nil, nil
	if svc, ok := es.Labels[discoveryv1.LabelServiceName]; ok {
		es.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
	} else {
		es.Labels = nil
	}
	for i := range es.Endpoints {
		ep := &es.Endpoints[i]
		ep.NodeName, ep.Zone, ep.Hints, ep.DeprecatedTopology = nil, nil, nil, nil
		if ep.TargetRef != nil {
			ep.TargetRef = &corev1.ObjectReference{Kind: ep.TargetRef.Kind, Namespace: ep.TargetRef.Namespace, Name: ep.TargetRef.Name}
		}
	}
}
