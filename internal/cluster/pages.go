package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
	return listAllSized(ctx, resource, lo, func(ctx context.Context, o metav1.ListOptions) ([]T, string, *int64, error) {
		items, next, err := list(ctx, o)
		return items, next, nil, err
	}, reduce)
}

// listPageSized is a listPage that also returns the list's
// remainingItemCount (nil when the server does not say).
type listPageSized[T any] func(ctx context.Context, opts metav1.ListOptions) ([]T, string, *int64, error)

// maxPresized bounds the capacity listAllSized reserves on a server's word
// (remainingItemCount): a hostile count costs no more than this many
// objects' room; a longer list grows by append past it.
const maxPresized = 100_000

// listAllSized is listAll for the lists that grow with a cluster: when the
// first page says how many items remain (kube-apiserver sets
// remainingItemCount on a paged list without a label or field selector),
// the result is allocated once at its final size instead of grown by
// append, which holds up to 1.25× the structs and leaves every smaller
// copy as garbage (for 20,000 Services, about 14 MB of structs).
func listAllSized[T any](ctx context.Context, resource string, lo metav1.ListOptions, list listPageSized[T], reduce func(*T)) ([]T, error) {
	var out []T
	err := listPages(ctx, resource, lo, list, func(items []T, last bool, remaining *int64) {
		if reduce != nil {
			for i := range items {
				reduce(&items[i])
			}
		}
		switch {
		case out == nil && last:
			out = items // the common case, one page: no copy
		case out == nil && remaining != nil && *remaining > 0:
			out = make([]T, 0, len(items)+int(min(*remaining, maxPresized)))
			out = append(out, items...)
		case out == nil:
			out = items
		default:
			out = append(out, items...)
		}
	}, func() { out = nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listCompact is listAllSized for the lists kept as compact types: each
// object is converted by compact as its page arrives, so that the page of
// API objects is garbage once converted, and the result is allocated once
// at its final size when the server says it (remainingItemCount).
func listCompact[T, U any](ctx context.Context, resource string, lo metav1.ListOptions, list listPageSized[T], compact func(*T) U) ([]U, error) {
	var out []U
	err := listPages(ctx, resource, lo, list, func(items []T, last bool, remaining *int64) {
		if out == nil {
			n := len(items)
			if !last && remaining != nil && *remaining > 0 {
				n += int(min(*remaining, maxPresized))
			}
			out = make([]U, 0, n)
		}
		for i := range items {
			out = append(out, compact(&items[i]))
			var zero T
			items[i] = zero // garbage now, even while the page's array is live
		}
	}, func() { out = nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listPages lists a resource in pages of PageSize and hands each page to
// page (last: no page follows; remaining: the server's remainingItemCount),
// restarting once from the first page, after calling restart, when the
// continue token has expired (see listAll).
func listPages[T any](ctx context.Context, resource string, lo metav1.ListOptions, list listPageSized[T], page func(items []T, last bool, remaining *int64), restart func()) error {
	opts := lo
	opts.Limit = PageSize
	restarted := false
	for pages := 0; ; pages++ {
		if pages == maxPages {
			return fmt.Errorf("list %s: more than %d pages of %d", resource, maxPages, PageSize)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		items, next, remaining, err := list(ctx, opts)
		if err != nil {
			if opts.Continue != "" && !restarted && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
				slog.Debug("continue token expired; restarting the list once", "resource", resource, "err", err)
				restarted, opts.Continue = true, ""
				restart()
				continue
			}
			return err
		}
		page(items, next == "", remaining)
		if next == "" {
			return nil
		}
		opts.Continue = next
	}
}

// reduceMeta drops what no check reads of any object's metadata and what
// is the bulk of it: managedFields (who wrote which field), kubectl's
// last-applied copy of the whole object and every annotation outside
// Istio's domains (KeptAnnotation). The snapshot drops managedFields and
// last-applied too (internal/snapshot redact), so offline runs have always
// run without them. The namespace and the labels' keys and values are
// interned (see interner).
func reduceMeta(m *metav1.ObjectMeta, in interner) {
	m.ManagedFields = nil
	// No check reads a Service's, slice's or pod's identity beyond its
	// namespace and name (only kube-system's namespace UID is read).
	m.UID, m.ResourceVersion, m.GenerateName = "", "", ""
	m.Namespace = in.of(m.Namespace)
	in.internMap(m.Labels)
	for k := range m.Annotations {
		if !KeptAnnotation(k) {
			delete(m.Annotations, k)
		}
	}
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
	in.internMap(m.Annotations)
}

// KeptAnnotation reports whether reduceMeta keeps an annotation of a
// Service, EndpointSlice or pod: only those of Istio's own domains
// (istio.io and its subdomains: traffic.istio.io/nodeSelector,
// sidecar.istio.io/*, proxy.istio.io/config, ambient.istio.io/*,
// networking.istio.io/exportTo). Helm's release annotations, cloud load
// balancers' settings and kubectl's last-applied are read by no check;
// TestReadAnnotationsAreKept fails when code outside this package reads an
// annotation this drops.
func KeptAnnotation(k string) bool {
	domain, _, ok := strings.Cut(k, "/")
	return ok && (domain == "istio.io" || strings.HasSuffix(domain, ".istio.io"))
}

// interner holds one copy of each repeated string of one list. The
// protobuf decoder allocates every string of every object on its own: the
// same namespace, label key, port name or protocol is held once per object
// of a 20,000-object list; interned, once per list. One map lookup per
// string (unique.Make, process-wide, cost 2.5 times as much CPU per
// string). It stops taking new strings at maxInterned: the repeated ones
// (namespaces, keys, protocols) come early, and the unique ones (names)
// would only grow it.
type interner map[string]string

const maxInterned = 4096

func (in interner) of(s string) string {
	if s == "" || in == nil {
		return s
	}
	if v, ok := in[s]; ok {
		return v
	}
	if len(in) < maxInterned {
		in[s] = s
	}
	return s
}

// internMap interns m's keys and values in place (assigning to an existing
// key stores the given key: runtime mapassign updates string keys).
func (in interner) internMap(m map[string]string) {
	for k, v := range m {
		m[in.of(k)] = in.of(v)
	}
}

// reducePod keeps of a pod what the checks read: metadata without
// managedFields, last-applied and non-Istio annotations (labels and
// annotations, e.g. istio.io/rev, sidecar.istio.io/*, stay), spec and
// status.
func reducePod(p *corev1.Pod, in interner) { reduceMeta(&p.ObjectMeta, in) }

// ReducePods returns the reducer of one list of pods, with an interner of
// its own.
func ReducePods() func(*corev1.Pod) {
	in := interner{}
	return func(p *corev1.Pod) { reducePod(p, in) }
}
