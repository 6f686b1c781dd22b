package scenario

import (
	"context"
	"fmt"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiosec "istio.io/client-go/pkg/apis/security/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
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
		var kube, istio, dyn []runtime.Object
		for _, o := range sc.Objects[cl] {
			switch {
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
		out = append(out, &cluster.Client{Context: cl, Server: env.Server(cl), Kube: k, Istio: ic, Dynamic: dynamicFake(dyn)})
	}
	return out, nil
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
