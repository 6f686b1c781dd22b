package cluster

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"istio.io/api/annotation"
	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiosec "istio.io/client-go/pkg/apis/security/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Resource names of the traffic configuration (Inventory.Errors keys,
// Check.Needs, TrafficConfig.NotInstalled).
const (
	ResDestinationRules      = "destinationrules.networking.istio.io"
	ResVirtualServices       = "virtualservices.networking.istio.io"
	ResPeerAuthentications   = "peerauthentications.security.istio.io"
	ResAuthorizationPolicies = "authorizationpolicies.security.istio.io"
	// ResWorkloadPods is the list of pods in every namespace, reduced to
	// WorkloadPod (labels, sidecar or not, node).
	ResWorkloadPods = "pods (workloads)"
)

// TrafficConfig is the configuration that decides where a cluster's
// traffic goes and who may send it: DestinationRules, VirtualServices,
// PeerAuthentications and AuthorizationPolicies of every namespace, and
// the workload pods their selectors and subsets select. Everything is
// reduced at the edge to the fields the traffic checks read (see each
// reduce function); the Istio specs keep the istio.io/api types.
type TrafficConfig struct {
	DestinationRules      []DestinationRule     `json:"destinationRules,omitempty"`
	VirtualServices       []VirtualService      `json:"virtualServices,omitempty"`
	PeerAuthentications   []PeerAuthentication  `json:"peerAuthentications,omitempty"`
	AuthorizationPolicies []AuthorizationPolicy `json:"authorizationPolicies,omitempty"`
	Workloads             []WorkloadPod         `json:"workloads,omitempty"`
	// Listed names the resources that were read (an empty list read is
	// still listed): a check reads "absent" only from a listed resource.
	Listed []string `json:"listed,omitempty"`
	// NotInstalled names the resources whose CRD the API server does not
	// serve (the list was answered 404): not an error, nothing to read.
	NotInstalled []string `json:"notInstalled,omitempty"`
}

// Has reports whether resource was listed (read, possibly empty).
func (t *TrafficConfig) Has(resource string) bool {
	return t != nil && slices.Contains(t.Listed, resource)
}

// Installed reports whether resource's CRD is served (false also when
// nothing is known about it).
func (t *TrafficConfig) Installed(resource string) bool {
	return t != nil && !slices.Contains(t.NotInstalled, resource)
}

// DestinationRule is a DestinationRule's identity and its spec reduced
// to host, exportTo, workloadSelector, subsets (name, labels, policy) and
// traffic policies (load balancer with its locality settings, outlier
// detection, TLS mode): connection pools, proxy protocol, tunnels, and all
// TLS fields but the mode (certificate paths, credential names, SANs) are
// dropped. Created is its creationTimestamp: istiod merges several rules
// for one host oldest first (pilot/pkg/model/push_context.go
// sortConfigBySelectorAndCreationTime).
type DestinationRule struct {
	Namespace string                        `json:"namespace"`
	Name      string                        `json:"name"`
	Created   time.Time                     `json:"created,omitzero"`
	Spec      *networkingv1.DestinationRule `json:"spec"`
}

// VirtualService is a VirtualService reduced to its hosts, exportTo,
// gateways and every route destination (http, tls and tcp routes, with
// mirrors): matches, rewrites, faults and retries are dropped.
type VirtualService struct {
	Namespace    string                      `json:"namespace"`
	Name         string                      `json:"name"`
	Hosts        []string                    `json:"hosts,omitempty"`
	ExportTo     []string                    `json:"exportTo,omitempty"`
	Gateways     []string                    `json:"gateways,omitempty"`
	Destinations []*networkingv1.Destination `json:"destinations,omitempty"`
	// TLS are its tls routes as a gateway builds filter chains from them
	// (pilot/pkg/networking/core/gateway.go,
	// buildGatewayNetworkFiltersFromTLSRoutes): each match's port, SNI
	// hosts and gateways, and whether the route has a destination.
	// TLSRead is false in an inventory read before TLS was kept (an older
	// snapshot): the routes are then not known, not absent.
	TLS     []TLSRoute `json:"tls,omitempty"`
	TLSRead bool       `json:"tlsRead,omitempty"`
}

// TLSRoute is one tls route of a VirtualService: its matches, and
// whether it routes anywhere (istiod builds no filter chain for a route
// without destinations).
type TLSRoute struct {
	Match  []TLSMatch `json:"match,omitempty"`
	Routes bool       `json:"routes,omitempty"`
}

// TLSMatch is one match of a tls route: the port (0: any), the SNI hosts
// and the gateways it is limited to (none: the VirtualService's).
type TLSMatch struct {
	Port     uint32   `json:"port,omitempty"`
	SNIHosts []string `json:"sniHosts,omitempty"`
	Gateways []string `json:"gateways,omitempty"`
}

// PeerAuthentication is a PeerAuthentication with its whole spec
// (selector, mtls mode, port-level modes: nothing else is in it).
type PeerAuthentication struct {
	Namespace string                         `json:"namespace"`
	Name      string                         `json:"name"`
	Spec      *securityv1.PeerAuthentication `json:"spec"`
}

// AuthorizationPolicy is an AuthorizationPolicy reduced to selector,
// targetRefs, action and, per rule, its sources (principals, namespaces
// and their negations) and the when conditions on source.principal and
// source.namespace: operations (to) and other conditions are dropped, and a
// reduced rule keeps its position (the rules list is never shortened).
type AuthorizationPolicy struct {
	Namespace string                          `json:"namespace"`
	Name      string                          `json:"name"`
	Spec      *securityv1.AuthorizationPolicy `json:"spec"`
}

// WorkloadPod is a pod of any namespace reduced to what subset selection,
// locality and the sidecar checks read.
type WorkloadPod struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Annotations keeps only sidecar.istio.io/*, proxy.istio.io/* and
	// ambient.istio.io/* keys.
	Annotations map[string]string `json:"annotations,omitempty"`
	NodeName    string            `json:"nodeName,omitempty"`
	Phase       corev1.PodPhase   `json:"phase,omitempty"`
	// IPs are status.podIPs.
	IPs []string `json:"ips,omitempty"`
	// Sidecar is set when the pod runs an istio-proxy container (in
	// containers, or as a native sidecar in initContainers).
	Sidecar bool `json:"sidecar,omitempty"`
}

// IstioProxyContainer is the container the injector adds
// (pkg/kube/inject: ProxyContainerName).
const IstioProxyContainer = "istio-proxy"

// keptPodAnnotation reports whether a pod annotation is one the traffic
// and injection checks read. sidecar.istio.io/status is not: it is the
// injector's record of what it added (containers, volumes, image pull
// secrets, revision; pkg/kube/inject), a JSON document on every injected
// pod that no check reads and that was the largest part of a kept
// workload pod.
func keptPodAnnotation(k string) bool {
	if k == annotation.SidecarStatus.Name {
		return false
	}
	return strings.HasPrefix(k, "sidecar.istio.io/") || strings.HasPrefix(k, "proxy.istio.io/") || strings.HasPrefix(k, "ambient.istio.io/")
}

// WorkloadPodOf reduces a pod to a WorkloadPod.
func WorkloadPodOf(p *corev1.Pod) WorkloadPod { return workloadPodOf(p, interner{}) }

// workloadPodOf reduces a pod to a WorkloadPod, holding the strings the
// pods of one list repeat (namespaces, node names, phases, label keys and
// values such as version and security.istio.io/tlsMode) once, through in.
func workloadPodOf(p *corev1.Pod, in interner) WorkloadPod {
	in.internMap(p.Labels)
	w := WorkloadPod{Namespace: in.of(p.Namespace), Name: p.Name, Labels: p.Labels, NodeName: in.of(p.Spec.NodeName), Phase: corev1.PodPhase(in.of(string(p.Status.Phase)))}
	for k, v := range p.Annotations {
		if keptPodAnnotation(k) {
			if w.Annotations == nil {
				w.Annotations = map[string]string{}
			}
			w.Annotations[k] = v
		}
	}
	for _, ip := range p.Status.PodIPs {
		w.IPs = append(w.IPs, ip.IP)
	}
	if len(w.IPs) == 0 && p.Status.PodIP != "" {
		w.IPs = []string{p.Status.PodIP}
	}
	for _, c := range p.Spec.Containers {
		w.Sidecar = w.Sidecar || c.Name == IstioProxyContainer
	}
	for _, c := range p.Spec.InitContainers {
		w.Sidecar = w.Sidecar || c.Name == IstioProxyContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	}
	return w
}

// ReduceDestinationRule keeps of a DestinationRule what DestinationRule
// documents.
func ReduceDestinationRule(dr *istionet.DestinationRule) DestinationRule {
	s := &dr.Spec
	out := &networkingv1.DestinationRule{
		Host:             s.GetHost(),
		ExportTo:         s.GetExportTo(),
		WorkloadSelector: s.GetWorkloadSelector(),
		TrafficPolicy:    reduceTrafficPolicy(s.GetTrafficPolicy()),
	}
	for _, ss := range s.GetSubsets() {
		if ss == nil {
			continue
		}
		out.Subsets = append(out.Subsets, &networkingv1.Subset{Name: ss.GetName(), Labels: ss.GetLabels(), TrafficPolicy: reduceTrafficPolicy(ss.GetTrafficPolicy())})
	}
	return DestinationRule{Namespace: dr.Namespace, Name: dr.Name, Created: dr.CreationTimestamp.Time, Spec: out}
}

func reduceTrafficPolicy(tp *networkingv1.TrafficPolicy) *networkingv1.TrafficPolicy {
	if tp == nil {
		return nil
	}
	out := &networkingv1.TrafficPolicy{
		LoadBalancer:     reduceLoadBalancer(tp.GetLoadBalancer()),
		OutlierDetection: tp.GetOutlierDetection(),
		Tls:              reduceTLS(tp.GetTls()),
	}
	for _, pl := range tp.GetPortLevelSettings() {
		if pl == nil {
			continue
		}
		out.PortLevelSettings = append(out.PortLevelSettings, &networkingv1.TrafficPolicy_PortTrafficPolicy{
			Port:             pl.GetPort(),
			LoadBalancer:     reduceLoadBalancer(pl.GetLoadBalancer()),
			OutlierDetection: pl.GetOutlierDetection(),
			Tls:              reduceTLS(pl.GetTls()),
		})
	}
	return out
}

// reduceLoadBalancer keeps the simple policy and the locality and
// zone-aware settings; a consistent hash is kept as an empty one (its
// presence matters, its keys do not).
func reduceLoadBalancer(lb *networkingv1.LoadBalancerSettings) *networkingv1.LoadBalancerSettings {
	if lb == nil {
		return nil
	}
	out := &networkingv1.LoadBalancerSettings{LocalityLbSetting: lb.GetLocalityLbSetting(), ZoneAwareLbSetting: lb.GetZoneAwareLbSetting()}
	switch p := lb.GetLbPolicy().(type) {
	case *networkingv1.LoadBalancerSettings_Simple:
		out.LbPolicy = &networkingv1.LoadBalancerSettings_Simple{Simple: p.Simple}
	case *networkingv1.LoadBalancerSettings_ConsistentHash:
		out.LbPolicy = &networkingv1.LoadBalancerSettings_ConsistentHash{ConsistentHash: &networkingv1.LoadBalancerSettings_ConsistentHashLB{}}
	}
	return out
}

func reduceTLS(t *networkingv1.ClientTLSSettings) *networkingv1.ClientTLSSettings {
	if t == nil {
		return nil
	}
	return &networkingv1.ClientTLSSettings{Mode: t.GetMode()}
}

// ReduceVirtualService keeps of a VirtualService what VirtualService
// documents.
func ReduceVirtualService(vs *istionet.VirtualService) VirtualService {
	s := &vs.Spec
	out := VirtualService{Namespace: vs.Namespace, Name: vs.Name, Hosts: s.GetHosts(), ExportTo: s.GetExportTo(), Gateways: s.GetGateways()}
	add := func(d *networkingv1.Destination) {
		if d != nil {
			out.Destinations = append(out.Destinations, &networkingv1.Destination{Host: d.GetHost(), Subset: d.GetSubset(), Port: d.GetPort()})
		}
	}
	for _, r := range s.GetHttp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
		}
		add(r.GetMirror())
		for _, m := range r.GetMirrors() {
			add(m.GetDestination())
		}
	}
	out.TLSRead = true
	for _, r := range s.GetTls() {
		tr := TLSRoute{}
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
			tr.Routes = tr.Routes || d.GetDestination() != nil
		}
		for _, m := range r.GetMatch() {
			tr.Match = append(tr.Match, TLSMatch{Port: m.GetPort(), SNIHosts: m.GetSniHosts(), Gateways: m.GetGateways()})
		}
		out.TLS = append(out.TLS, tr)
	}
	for _, r := range s.GetTcp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
		}
	}
	return out
}

// ReducePeerAuthentication keeps a PeerAuthentication's whole spec.
func ReducePeerAuthentication(pa *istiosec.PeerAuthentication) PeerAuthentication {
	s := &pa.Spec
	return PeerAuthentication{Namespace: pa.Namespace, Name: pa.Name, Spec: &securityv1.PeerAuthentication{
		Selector: s.GetSelector(), Mtls: s.GetMtls(), PortLevelMtls: s.GetPortLevelMtls(),
	}}
}

// principalKeys are the condition keys whose values are SPIFFE
// principals or namespaces (security/pkg/authz model).
var principalKeys = []string{"source.principal", "source.namespace"}

// ReduceAuthorizationPolicy keeps of an AuthorizationPolicy what
// AuthorizationPolicy documents.
func ReduceAuthorizationPolicy(ap *istiosec.AuthorizationPolicy) AuthorizationPolicy {
	s := &ap.Spec
	out := &securityv1.AuthorizationPolicy{Selector: s.GetSelector(), TargetRefs: s.GetTargetRefs(), TargetRef: s.GetTargetRef(), Action: s.GetAction()}
	for _, r := range s.GetRules() {
		rr := &securityv1.Rule{}
		for _, f := range r.GetFrom() {
			src := f.GetSource()
			if src == nil {
				continue
			}
			rr.From = append(rr.From, &securityv1.Rule_From{Source: &securityv1.Source{
				Principals: src.GetPrincipals(), NotPrincipals: src.GetNotPrincipals(),
				Namespaces: src.GetNamespaces(), NotNamespaces: src.GetNotNamespaces(),
			}})
		}
		for _, w := range r.GetWhen() {
			if slices.Contains(principalKeys, w.GetKey()) {
				rr.When = append(rr.When, &securityv1.Condition{Key: w.GetKey(), Values: w.GetValues(), NotValues: w.GetNotValues()})
			}
		}
		out.Rules = append(out.Rules, rr)
	}
	return AuthorizationPolicy{Namespace: ap.Namespace, Name: ap.Name, Spec: out}
}

// collectTraffic lists the traffic configuration, concurrently, each list
// paged and reduced as its pages arrive. A resource whose CRD is not
// served (404) is NotInstalled, not an error; other failures go to record.
func collectTraffic(ctx context.Context, c *Client, record func(string, error)) *TrafficConfig {
	t := &TrafficConfig{}
	var mu sync.Mutex
	done := func(resource string, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			t.Listed = append(t.Listed, resource)
			return true
		case apierrors.IsNotFound(err):
			t.NotInstalled = append(t.NotInstalled, resource)
			slog.Debug("not installed", "context", c.Context, "resource", resource)
		default:
			record(resource, err)
		}
		return false
	}
	lo := metav1.ListOptions{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		l, err := listAll(gctx, ResDestinationRules, lo, func(ctx context.Context, o metav1.ListOptions) ([]*istionet.DestinationRule, string, error) {
			l, err := c.Istio.NetworkingV1().DestinationRules("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, nil)
		if done(ResDestinationRules, err) {
			out := make([]DestinationRule, 0, len(l))
			for _, dr := range l {
				out = append(out, ReduceDestinationRule(dr))
			}
			t.DestinationRules = out
		}
		return nil
	})
	g.Go(func() error {
		l, err := listAll(gctx, ResVirtualServices, lo, func(ctx context.Context, o metav1.ListOptions) ([]*istionet.VirtualService, string, error) {
			l, err := c.Istio.NetworkingV1().VirtualServices("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, nil)
		if done(ResVirtualServices, err) {
			out := make([]VirtualService, 0, len(l))
			for _, vs := range l {
				out = append(out, ReduceVirtualService(vs))
			}
			t.VirtualServices = out
		}
		return nil
	})
	g.Go(func() error {
		l, err := listAll(gctx, ResPeerAuthentications, lo, func(ctx context.Context, o metav1.ListOptions) ([]*istiosec.PeerAuthentication, string, error) {
			l, err := c.Istio.SecurityV1().PeerAuthentications("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, nil)
		if done(ResPeerAuthentications, err) {
			out := make([]PeerAuthentication, 0, len(l))
			for _, pa := range l {
				out = append(out, ReducePeerAuthentication(pa))
			}
			t.PeerAuthentications = out
		}
		return nil
	})
	g.Go(func() error {
		l, err := listAll(gctx, ResAuthorizationPolicies, lo, func(ctx context.Context, o metav1.ListOptions) ([]*istiosec.AuthorizationPolicy, string, error) {
			l, err := c.Istio.SecurityV1().AuthorizationPolicies("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, nil)
		if done(ResAuthorizationPolicies, err) {
			out := make([]AuthorizationPolicy, 0, len(l))
			for _, ap := range l {
				out = append(out, ReduceAuthorizationPolicy(ap))
			}
			t.AuthorizationPolicies = out
		}
		return nil
	})
	g.Go(func() error {
		// Reduced page by page: a page of pods is dropped as soon as its
		// WorkloadPods are made.
		var out []WorkloadPod
		in := interner{}
		_, err := listAll(gctx, ResWorkloadPods, lo, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
			l, err := c.Kube.CoreV1().Pods("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			if o.Continue == "" {
				out = out[:0] // a restarted list (expired continue token) starts over
			}
			for i := range l.Items {
				out = append(out, workloadPodOf(&l.Items[i], in))
			}
			return nil, l.Continue, nil
		}, nil)
		if err != nil && apierrors.IsNotFound(err) {
			record(ResWorkloadPods, err) // pods are never "not installed"
			return nil
		}
		if done(ResWorkloadPods, err) {
			t.Workloads = out
		}
		return nil
	})
	_ = g.Wait() // the functions record their errors and return nil
	slices.Sort(t.Listed)
	slices.Sort(t.NotInstalled)
	return t
}
