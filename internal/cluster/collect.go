package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Istio's well-known names.
const (
	CACertsSecret        = "cacerts"
	IstioCASecretName    = "istio-ca-secret"
	MultiClusterLabel    = "istio/multiCluster"
	DefaultProbeSelector = "app in (curl,sleep)" // samples/curl (app=curl) replaced samples/sleep (app=sleep): both, in one list
)

// CollectOptions tunes what is fetched.
type CollectOptions struct {
	// ProbeSelector selects the probe client pods (curl sources).
	ProbeSelector string
	// Now is the clock (tests).
	Now func() time.Time
	// Deadline is the hard limit on one cluster's whole inventory (0: no
	// limit beyond ctx). The CLI sets InventoryDeadline(--timeout).
	Deadline time.Duration
	// Unreduced keeps every listed field (managedFields and all) of the
	// lists kept as API types, and every annotation of Services: only for
	// the test that the reduction at the edge changes no check's result.
	// Services and EndpointSlices are always compacted (Service and
	// EndpointSlice hold only what the checks read).
	Unreduced bool
}

// InventoryDeadline is the hard deadline of one cluster's inventory for a
// request timeout: the /version request, then the lists (concurrent), each
// within timeout, plus one honoured Retry-After each — 3×timeout.
func InventoryDeadline(timeout time.Duration) time.Duration { return 3 * timeout }

// CollectAll fetches the inventory of every client concurrently and
// returns them in the clients' order. It never fails: a cluster that cannot
// be read has its error recorded in its inventory.
//
// Each cluster gets opts.Deadline, enforced here and not by client-go:
// client-go does not stop an exec credential plugin when a request's
// context ends, so a plugin that never returns would hold Collect forever.
// On expiry (or when ctx ends) the cluster's inventory is Unreachable and
// the others are returned; the stuck Collect is abandoned (its goroutine
// ends when the plugin does; the CLI exits without waiting for it).
func CollectAll(ctx context.Context, clients []*Client, opts CollectOptions) []*Inventory {
	out := make([]*Inventory, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { out[i] = collectBounded(ctx, c, opts) })
	}
	wg.Wait()
	return out
}

// collectBounded runs Collect and waits for it at most opts.Deadline.
func collectBounded(ctx context.Context, c *Client, opts CollectOptions) *Inventory {
	if opts.Deadline <= 0 {
		return Collect(ctx, c, opts)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	started := now().UTC()
	// Collect's requests end when this returns, for those that honour
	// their context; a hung plugin does not, and is abandoned.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan *Inventory, 1) // buffered: an abandoned Collect never blocks
	go func() { done <- Collect(cctx, c, opts) }()
	timer := time.NewTimer(opts.Deadline)
	defer timer.Stop()
	var fe *FetchError
	select {
	case inv := <-done:
		return inv
	case <-timer.C:
		fe = &FetchError{Verb: "collect", Resource: "inventory", Reason: ReasonTimeout,
			Message: fmt.Sprintf("did not answer within %s", opts.Deadline)}
		if c.ExecPlugin {
			fe.Message = fmt.Sprintf("credential plugin did not return within %s", opts.Deadline)
		}
	case <-ctx.Done():
		fe = &FetchError{Verb: "collect", Resource: "inventory", Reason: ReasonTimeout,
			Message: fmt.Sprintf("stopped before the cluster answered: %v", ctx.Err())}
	}
	// Collect may still finish in the same instant: prefer its result.
	select {
	case inv := <-done:
		return inv
	default:
	}
	slog.Debug("inventory abandoned", "context", c.Context, "reason", fe.Message)
	return &Inventory{Context: c.Context, Server: c.Server, FetchedAt: started, Unreachable: fe}
}

// Collect fetches one cluster's inventory: one list per resource kind,
// concurrently, each request bounded by the client's timeout and ctx.
// Services, EndpointSlices and pods, the lists that grow with a cluster,
// are read in pages of PageSize and reduced as each page arrives (see
// listAll): a small cluster costs one request per list.
func Collect(ctx context.Context, c *Client, opts CollectOptions) *Inventory {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if opts.ProbeSelector == "" {
		opts.ProbeSelector = DefaultProbeSelector
	}
	inv := &Inventory{Context: c.Context, Server: c.Server, FetchedAt: now().UTC(), Errors: map[string]*FetchError{},
		CAFingerprint: caFingerprint(c.Config), ProbeSelector: opts.ProbeSelector}
	if c.BuildErr != nil {
		inv.Unreachable = &FetchError{Verb: "connect", Resource: "cluster", Reason: ReasonUnreachable, Message: c.BuildErr.Error()}
		return inv
	}
	v, err := serverVersion(ctx, c)
	if err != nil {
		inv.Unreachable = classify("get", "version", err)
		return inv
	}
	inv.Version = v

	var mu sync.Mutex
	record := func(resource string, err error) {
		mu.Lock()
		defer mu.Unlock()
		inv.Errors[resource] = classify("list", resource, err)
		slog.Debug("list failed", "context", c.Context, "resource", resource, "err", err)
	}
	lo := metav1.ListOptions{}
	ns := IstioNamespace
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Namespaces().List(gctx, lo)
		if err != nil {
			record(ResNamespaces, err)
			return nil
		}
		inv.Namespaces = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.AppsV1().Deployments(ns).List(gctx, lo)
		if err != nil {
			record(ResDeployments, err)
			return nil
		}
		inv.Deployments = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().ConfigMaps(ns).List(gctx, lo)
		if err != nil {
			record(ResConfigMaps, err)
			return nil
		}
		inv.ConfigMaps = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Secrets(ns).List(gctx, lo)
		if err != nil {
			record(ResSecrets, err)
			return nil
		}
		inv.CACerts, inv.IstioCASecret, inv.RemoteSecrets = redactSecrets(l.Items)
		return nil
	})
	g.Go(func() error { inv.Remote = collectRemoteInventory(gctx, c, ns, lo); return nil })
	g.Go(func() error {
		l, err := listCompact(gctx, ResServices, lo, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Service, string, *int64, error) {
			l, err := c.Kube.CoreV1().Services("").List(ctx, o)
			if err != nil {
				return nil, "", nil, err
			}
			return l.Items, l.Continue, l.RemainingItemCount, nil
		}, CompactServices(opts.Unreduced))
		if err != nil {
			record(ResServices, err)
			return nil
		}
		inv.Services = l
		return nil
	})
	// istio-system pods and the probe clients are two lists, made at once.
	var systemPods, probePods []corev1.Pod
	g.Go(func() error {
		l, err := listAll(gctx, ResPods, lo, pods(c, ns), reduce(opts, ReducePods()))
		if err != nil {
			record(ResPods, err)
			return nil
		}
		systemPods = l
		return nil
	})
	g.Go(func() error {
		l, err := listAll(gctx, ResPods, metav1.ListOptions{LabelSelector: opts.ProbeSelector}, pods(c, ""), reduce(opts, ReducePods()))
		if err != nil {
			record(ResPods, err)
			return nil
		}
		probePods = l
		return nil
	})
	g.Go(func() error {
		l, err := listCompact(gctx, ResEndpointSlices, lo, func(ctx context.Context, o metav1.ListOptions) ([]discoveryv1.EndpointSlice, string, *int64, error) {
			l, err := c.Kube.DiscoveryV1().EndpointSlices("").List(ctx, o)
			if err != nil {
				return nil, "", nil, err
			}
			return l.Items, l.Continue, l.RemainingItemCount, nil
		}, CompactEndpointSlices())
		if err != nil {
			record(ResEndpointSlices, err)
			return nil
		}
		inv.EndpointSlices = l
		return nil
	})
	g.Go(func() error {
		l, err := c.Istio.NetworkingV1().Gateways("").List(gctx, lo)
		if err != nil {
			record(ResGateways, err)
			return nil
		}
		inv.Gateways = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Istio.NetworkingV1().ServiceEntries("").List(gctx, lo)
		if err != nil {
			record(ResServiceEntries, err)
			return nil
		}
		inv.ServiceEntries = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(gctx, lo)
		if err != nil {
			record(ResMutatingWebhooks, err)
			return nil
		}
		inv.MutatingWebhooks = reduceWebhooks(l.Items)
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Nodes().List(gctx, lo)
		if err != nil {
			record(ResNodes, err)
			return nil
		}
		inv.Nodes = make([]Node, 0, len(l.Items))
		for i := range l.Items {
			inv.Nodes = append(inv.Nodes, reduceNode(&l.Items[i]))
		}
		inv.NodesListed = true
		return nil
	})
	g.Go(func() error {
		l, err := listAll(gctx, ResGatewayPods, metav1.ListOptions{LabelSelector: GatewayPodSelector}, pods(c, ""), nil)
		if err != nil {
			record(ResGatewayPods, err)
			return nil
		}
		for i := range l {
			inv.GatewayPods = append(inv.GatewayPods, GatewayPodOf(&l[i]))
		}
		inv.GatewayPodsSelector = GatewayPodSelector
		return nil
	})
	g.Go(func() error { inv.Traffic = collectTraffic(gctx, c, record); return nil })
	collectAmbient(gctx, g, c, inv, record)
	g.Go(func() error {
		inv.Admiral = collectAdmiral(gctx, c, record)
		return nil
	})
	_ = g.Wait() // the functions record their errors and return nil
	if inv.Errors[ResPods] == nil {
		inv.Pods = systemPods
		for _, p := range probePods {
			if p.Namespace != ns {
				inv.Pods = append(inv.Pods, p)
			}
		}
	}
	if len(inv.Errors) == 0 {
		inv.Errors = nil
	}
	return inv
}

// pods lists pods of namespace ns ("": all), one page at a time.
func pods(c *Client, ns string) listPage[corev1.Pod] {
	return func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
		l, err := c.Kube.CoreV1().Pods(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}
}

// reduce is f unless opts keep every field.
func reduce[T any](opts CollectOptions, f func(*T)) func(*T) {
	if opts.Unreduced {
		return nil
	}
	return f
}

func serverVersion(ctx context.Context, c *Client) (string, error) {
	// Discovery's ServerVersion takes no context; use the REST client so
	// that ctx bounds the request. Fake clientsets have no REST client.
	rc := c.Kube.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		v, err := c.Kube.Discovery().ServerVersion()
		if err != nil {
			return "", err
		}
		return v.GitVersion, nil
	}
	body, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("decode /version: %w", err)
	}
	return v.GitVersion, nil
}
