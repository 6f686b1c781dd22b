package scenario

import (
	"context"
	"fmt"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiosec "istio.io/client-go/pkg/apis/security/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// FakeKubernetesVersion is the version the fake API servers report.
const FakeKubernetesVersion = "v1.34.2"

// UnitEnv is the Env of the unit tier: made-up server URLs and tokens.
type UnitEnv struct{ Certs *Certs }

// Server is https://<cluster>.mesh.test:6443.
func (UnitEnv) Server(cl string) string { return fmt.Sprintf("https://%s.mesh.test:6443", cl) }

// Token is a JWT-shaped token valid for a year.
func (e UnitEnv) Token(cl string) string {
	return e.Certs.FakeJWT("system:serviceaccount:istio-system:istio-reader-service-account", e.Certs.Now.AddDate(1, 0, 0))
}

// FakeClients returns one client per scenario cluster, backed by fake
// clientsets holding the scenario's objects.
func FakeClients(sc *Scenario, env Env) ([]*cluster.Client, error) {
	var out []*cluster.Client
	for _, cl := range sc.Clusters {
		var kube, istio, gwapi, dyn []runtime.Object
		allocated := 0
		for _, o := range sc.Objects[cl] {
			if svc, ok := o.(*corev1.Service); ok {
				allocated += allocateDualStack(svc, allocated)
			}
			switch {
			case IsGatewayAPI(o):
				gwapi = append(gwapi, o)
			case isUnstructured(o):
				dyn = append(dyn, o)
			case IsIstio(o):
				istio = append(istio, o)
			default:
				kube = append(kube, o)
			}
		}
		k := kubefake.NewClientset(kube...)
		if fd, ok := k.Discovery().(*fakediscovery.FakeDiscovery); ok {
			fd.FakedServerVersion = &version.Info{GitVersion: FakeKubernetesVersion, Major: "1", Minor: "34"}
		}
		ic, err := istioFake(istio)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cl, err)
		}
		gw, err := gatewayAPIFake(gwapi)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cl, err)
		}
		out = append(out, &cluster.Client{Context: cl, Server: env.Server(cl), Kube: k, Istio: ic, Metadata: metadataFake(kube),
			Dynamic: byGroup{gatewayAPIGroup: gw, otherGroups: dynamicFake(dyn)}})
	}
	if len(sc.Meta.Contexts) == 0 {
		return out, nil
	}
	// The scenario's own contexts: each one a client of its cluster's fake
	// API server, as several kubeconfig contexts can name one server.
	byCluster := map[string]*cluster.Client{}
	for _, c := range out {
		byCluster[c.Context] = c
	}
	var named []*cluster.Client
	for _, cs := range sc.Meta.Contexts {
		c := *byCluster[cs.Cluster]
		c.Context = cs.Name
		named = append(named, &c)
	}
	return named, nil
}

// allocateDualStack does for a Service that asks for both IP families what
// the API server of a dual-stack cluster does on create and the fake
// clientset does not: it sets spec.ipFamilies (IPv4 first unless given)
// and allocates one ClusterIP of each (from 10.96.0.0/16 and
// fd00:10:96::/108; the integration tier's API servers allocate from their
// own dual-stack ranges). It returns how many Services it
// allocated for (0 or 1); n numbers them. Other Services are left as the
// fake leaves them (no ClusterIP): no check reads a single-stack one.
func allocateDualStack(svc *corev1.Service, n int) int {
	p := svc.Spec.IPFamilyPolicy
	if p == nil || *p == corev1.IPFamilyPolicySingleStack || len(svc.Spec.ClusterIPs) > 0 || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return 0
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			svc.Spec.ClusterIPs = append(svc.Spec.ClusterIPs, fmt.Sprintf("fd00:10:96::%x", n+10))
		} else {
			svc.Spec.ClusterIPs = append(svc.Spec.ClusterIPs, fmt.Sprintf("10.96.0.%d", n+10))
		}
	}
	svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	return 1
}

// byGroup is one dynamic client for a fake cluster: the Gateway API group's
// resources from its own fake (gatewayAPIFake), every other group's from
// other (dynamicFake).
type byGroup map[string]dynamic.Interface

const otherGroups = ""

func (b byGroup) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	if d, ok := b[gvr.Group]; ok {
		return d.Resource(gvr)
	}
	return b[otherGroups].Resource(gvr)
}

func isUnstructured(o runtime.Object) bool {
	_, ok := o.(*unstructured.Unstructured)
	return ok
}

// dynamicFake serves the scenario's CRD-backed objects (Admiral's). As on a
// real API server, a resource whose CustomResourceDefinition the scenario
// does not hold is not found.
func dynamicFake(objs []runtime.Object) *dynamicfake.FakeDynamicClient {
	crds := map[string]bool{}
	var served []runtime.Object
	for _, o := range objs {
		u := o.(*unstructured.Unstructured)
		if u.GetKind() == "CustomResourceDefinition" {
			crds[u.GetName()] = true
			continue
		}
		served = append(served, o)
	}
	dc := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), cluster.AdmiralGVRs(), served...)
	dc.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		gvr := a.GetResource()
		if crds[gvr.Resource+"."+gvr.Group] {
			return false, nil, nil
		}
		return true, nil, apierrors.NewNotFound(gvr.GroupResource(), "")
	})
	return dc
}

// IsIstio reports whether an object is one of Istio's kinds (served by the
// Istio clientset, not the Kubernetes one).
func IsIstio(o runtime.Object) bool {
	_, _, err := istioscheme.Scheme.ObjectKinds(o)
	return err == nil
}

// istioFake serves the Istio objects from list reactors: the generated
// fake's object tracker files kinds served in several versions (Gateway is
// in v1alpha3, v1beta1 and v1) under one version and then lists none under
// networking/v1, which is what meshdoctor reads.
func istioFake(objs []runtime.Object) (*istiofake.Clientset, error) {
	var gws []*istionet.Gateway
	var ses []*istionet.ServiceEntry
	var traffic trafficObjects
	for _, o := range objs {
		switch o := o.(type) {
		case *istionet.Gateway:
			gws = append(gws, o)
		case *istionet.ServiceEntry:
			ses = append(ses, o)
		default:
			if !traffic.add(o) {
				return nil, fmt.Errorf("unsupported Istio object %T in scenario (meshdoctor reads networking/v1 Gateway, ServiceEntry, DestinationRule, VirtualService and security/v1 PeerAuthentication, AuthorizationPolicy)", o)
			}
		}
	}
	ic := istiofake.NewSimpleClientset()
	traffic.serve(ic)
	ic.PrependReactor("list", "gateways", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := &istionet.GatewayList{}
		for _, g := range gws {
			if a.GetNamespace() == "" || a.GetNamespace() == g.Namespace {
				l.Items = append(l.Items, g.DeepCopy())
			}
		}
		return true, l, nil
	})
	ic.PrependReactor("list", "serviceentries", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := &istionet.ServiceEntryList{}
		for _, se := range ses {
			if a.GetNamespace() == "" || a.GetNamespace() == se.Namespace {
				l.Items = append(l.Items, se.DeepCopy())
			}
		}
		return true, l, nil
	})
	return ic, nil
}

// LoadFake loads a scenario into fake clientsets (the unit tier) and takes
// each cluster's inventory from them, as meshdoctor would from live ones.
func LoadFake(dir, name string, now time.Time) (*Scenario, []*cluster.Inventory, *Certs, error) {
	certs := NewCerts(now)
	env := UnitEnv{Certs: certs}
	sc, err := Load(dir, name, env, certs)
	if err != nil {
		return nil, nil, nil, err
	}
	clients, err := FakeClients(sc, env)
	if err != nil {
		return nil, nil, nil, err
	}
	return sc, cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{}), certs, nil
}

// trafficObjects are the traffic configuration kinds of a scenario
// (cluster.TrafficConfig), served like Gateways from list reactors.
type trafficObjects struct {
	drs []*istionet.DestinationRule
	vss []*istionet.VirtualService
	pas []*istiosec.PeerAuthentication
	aps []*istiosec.AuthorizationPolicy
}

func (t *trafficObjects) add(o runtime.Object) bool {
	switch o := o.(type) {
	case *istionet.DestinationRule:
		t.drs = append(t.drs, o)
	case *istionet.VirtualService:
		t.vss = append(t.vss, o)
	case *istiosec.PeerAuthentication:
		t.pas = append(t.pas, o)
	case *istiosec.AuthorizationPolicy:
		t.aps = append(t.aps, o)
	default:
		return false
	}
	return true
}

func (t *trafficObjects) serve(ic *istiofake.Clientset) {
	in := func(a k8stesting.Action, ns string) bool { return a.GetNamespace() == "" || a.GetNamespace() == ns }
	ic.PrependReactor("list", "destinationrules", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := &istionet.DestinationRuleList{}
		for _, o := range t.drs {
			if in(a, o.Namespace) {
				l.Items = append(l.Items, o.DeepCopy())
			}
		}
		return true, l, nil
	})
	ic.PrependReactor("list", "virtualservices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := &istionet.VirtualServiceList{}
		for _, o := range t.vss {
			if in(a, o.Namespace) {
				l.Items = append(l.Items, o.DeepCopy())
			}
		}
		return true, l, nil
	})
	ic.PrependReactor("list", "peerauthentications", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := &istiosec.PeerAuthenticationList{}
		for _, o := range t.pas {
			if in(a, o.Namespace) {
				l.Items = append(l.Items, o.DeepCopy())
			}
		}
		return true, l, nil
	})
	ic.PrependReactor("list", "authorizationpolicies", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := &istiosec.AuthorizationPolicyList{}
		for _, o := range t.aps {
			if in(a, o.Namespace) {
				l.Items = append(l.Items, o.DeepCopy())
			}
		}
		return true, l, nil
	})
}

// metadataFake serves the scenario's Secrets as metadata only, as the API
// server answers a PartialObjectMetadata list: the data stays behind.
func metadataFake(objs []runtime.Object) *metadatafake.FakeMetadataClient {
	scheme := metadatafake.NewTestScheme()
	metav1.AddMetaToScheme(scheme)
	var metas []runtime.Object
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			metas = append(metas, &metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: *s.ObjectMeta.DeepCopy(),
			})
		}
	}
	return metadatafake.NewSimpleMetadataClient(scheme, metas...)
}
