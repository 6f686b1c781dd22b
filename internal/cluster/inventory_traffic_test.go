package cluster_test

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istiosec "istio.io/client-go/pkg/apis/security/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

func trafficFake(t *testing.T, drs []*istionet.DestinationRule, vsErr, paErr error) *istiofake.Clientset {
	t.Helper()
	ic := istiofake.NewSimpleClientset()
	ic.PrependReactor("list", "destinationrules", func(k8stesting.Action) (bool, runtime.Object, error) {
		l := &istionet.DestinationRuleList{}
		for _, d := range drs {
			l.Items = append(l.Items, d.DeepCopy())
		}
		return true, l, nil
	})
	ic.PrependReactor("list", "virtualservices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if vsErr != nil {
			return true, nil, vsErr
		}
		return true, &istionet.VirtualServiceList{Items: []*istionet.VirtualService{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "hw"},
			Spec: networkingv1.VirtualService{Hosts: []string{"helloworld"}, Http: []*networkingv1.HTTPRoute{{
				Match: []*networkingv1.HTTPMatchRequest{{Uri: &networkingv1.StringMatch{MatchType: &networkingv1.StringMatch_Prefix{Prefix: "/x"}}}},
				Route: []*networkingv1.HTTPRouteDestination{{Destination: &networkingv1.Destination{Host: "helloworld", Subset: "v1"}, Weight: 90}},
			}}},
		}}}, nil
	})
	ic.PrependReactor("list", "peerauthentications", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, paErr
	})
	ic.PrependReactor("list", "authorizationpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &istiosec.AuthorizationPolicyList{Items: []*istiosec.AuthorizationPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "allow"},
			Spec: securityv1.AuthorizationPolicy{Rules: []*securityv1.Rule{{
				From: []*securityv1.Rule_From{{Source: &securityv1.Source{Principals: []string{"cluster.local/ns/sample/sa/curl"}, RequestPrincipals: []string{"iss/sub"}}}},
				To:   []*securityv1.Rule_To{{Operation: &securityv1.Operation{Paths: []string{"/"}}}},
				When: []*securityv1.Condition{{Key: "request.headers[x]", Values: []string{"y"}}, {Key: "source.principal", Values: []string{"other.example/ns/a/sa/b"}}},
			}}},
		}}}, nil
	})
	return ic
}

func TestTrafficConfigIsListedAndReducedAtTheEdge(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	kube := kubefake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "hw-v1", Labels: map[string]string{"app": "helloworld", "version": "v1"},
			Annotations: map[string]string{"sidecar.istio.io/inject": "true", "sidecar.istio.io/status": "{}", "other": "dropped"}},
			Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "helloworld"}, {Name: "istio-proxy"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "native"},
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-proxy", RestartPolicy: &always}}, Containers: []corev1.Container{{Name: "app"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "plain"},
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-proxy"}}, Containers: []corev1.Container{{Name: "app"}}}},
	)
	created := metav1.NewTime(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	dr := &istionet.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "hw", CreationTimestamp: created}, Spec: networkingv1.DestinationRule{
		Host: "helloworld.sample.svc.cluster.local",
		TrafficPolicy: &networkingv1.TrafficPolicy{
			ConnectionPool: &networkingv1.ConnectionPoolSettings{Http: &networkingv1.ConnectionPoolSettings_HTTPSettings{Http1MaxPendingRequests: 1}},
			LoadBalancer: &networkingv1.LoadBalancerSettings{LocalityLbSetting: &networkingv1.LocalityLoadBalancerSetting{Enabled: wrapperspb.Bool(true),
				Failover: []*networkingv1.LocalityLoadBalancerSetting_Failover{{From: "region1", To: "region2"}}}},
			OutlierDetection: &networkingv1.OutlierDetection{Consecutive_5XxErrors: wrapperspb.UInt32(1)},
			Tls:              &networkingv1.ClientTLSSettings{Mode: networkingv1.ClientTLSSettings_SIMPLE, ClientCertificate: "/etc/certs/cert.pem", CredentialName: "creds"},
		},
		Subsets: []*networkingv1.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
	}}
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "security.istio.io", Resource: "peerauthentications"}, "")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}, "", nil)
	c := &cluster.Client{Context: "c1", Server: "https://c1", Kube: kube, Istio: trafficFake(t, []*istionet.DestinationRule{dr}, forbidden, notFound)}
	inv := cluster.Collect(t.Context(), c, cluster.CollectOptions{})
	tc := inv.Traffic
	if tc == nil {
		t.Fatal("no traffic config")
	}
	if !tc.Has(cluster.ResDestinationRules) || !tc.Has(cluster.ResAuthorizationPolicies) || !tc.Has(cluster.ResWorkloadPods) {
		t.Errorf("listed = %v", tc.Listed)
	}
	if tc.Installed(cluster.ResPeerAuthentications) || tc.Has(cluster.ResPeerAuthentications) || inv.Errors[cluster.ResPeerAuthentications] != nil {
		t.Errorf("a 404 must be NotInstalled and no error: notInstalled=%v errors=%v", tc.NotInstalled, inv.Errors)
	}
	if fe := inv.Errors[cluster.ResVirtualServices]; fe == nil || fe.Reason != cluster.ReasonForbidden || tc.Has(cluster.ResVirtualServices) || !tc.Installed(cluster.ResVirtualServices) {
		t.Errorf("a forbidden list must be an error: %v", fe)
	}
	if len(tc.DestinationRules) != 1 {
		t.Fatalf("destination rules = %v", tc.DestinationRules)
	}
	if !tc.DestinationRules[0].Created.Equal(created.Time) {
		t.Errorf("creationTimestamp %v, want %v (istiod merges rules oldest first)", tc.DestinationRules[0].Created, created)
	}
	tp := tc.DestinationRules[0].Spec.GetTrafficPolicy()
	if tp.GetConnectionPool() != nil || tp.GetTls().GetClientCertificate() != "" || tp.GetTls().GetCredentialName() != "" || tp.GetTls().GetMode() != networkingv1.ClientTLSSettings_SIMPLE {
		t.Errorf("traffic policy not reduced to what the checks read: %v", tp)
	}
	if tp.GetLoadBalancer().GetLocalityLbSetting().GetFailover()[0].GetTo() != "region2" || tp.GetOutlierDetection() == nil {
		t.Errorf("locality and outlier detection lost: %v", tp)
	}
	ap := tc.AuthorizationPolicies[0].Spec.GetRules()[0]
	if ap.GetTo() != nil || len(ap.GetWhen()) != 1 || ap.GetFrom()[0].GetSource().GetRequestPrincipals() != nil || ap.GetFrom()[0].GetSource().GetPrincipals()[0] != "cluster.local/ns/sample/sa/curl" {
		t.Errorf("authorization rule not reduced to sources and principal conditions: %v", ap)
	}
	byName := map[string]cluster.WorkloadPod{}
	for _, w := range tc.Workloads {
		byName[w.Name] = w
	}
	hw := byName["hw-v1"]
	if !hw.Sidecar || hw.NodeName != "node-1" || hw.Labels["version"] != "v1" || len(hw.Annotations) != 1 || hw.Annotations["sidecar.istio.io/inject"] != "true" || len(hw.IPs) != 1 {
		t.Errorf("hw-v1 = %+v", hw)
	}
	if !byName["native"].Sidecar || byName["plain"].Sidecar {
		t.Errorf("native sidecar %v, plain init container %v", byName["native"].Sidecar, byName["plain"].Sidecar)
	}
}

func TestTrafficConfigSurvivesJSON(t *testing.T) {
	// Snapshots store the inventory as JSON: the istio.io/api specs must
	// round-trip through their protojson marshallers.
	in := &cluster.Inventory{Traffic: &cluster.TrafficConfig{
		Listed: []string{cluster.ResDestinationRules},
		DestinationRules: []cluster.DestinationRule{cluster.ReduceDestinationRule(&istionet.DestinationRule{
			ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "hw"},
			Spec: networkingv1.DestinationRule{Host: "helloworld", TrafficPolicy: &networkingv1.TrafficPolicy{
				LoadBalancer: &networkingv1.LoadBalancerSettings{LocalityLbSetting: &networkingv1.LocalityLoadBalancerSetting{
					Distribute: []*networkingv1.LocalityLoadBalancerSetting_Distribute{{From: "region1/*", To: map[string]uint32{"region1/*": 80, "region2/*": 20}}}}},
				Tls: &networkingv1.ClientTLSSettings{Mode: networkingv1.ClientTLSSettings_DISABLE},
			}},
		})},
	}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out cluster.Inventory
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	tp := out.Traffic.DestinationRules[0].Spec.GetTrafficPolicy()
	if tp.GetTls().GetMode() != networkingv1.ClientTLSSettings_DISABLE || tp.GetLoadBalancer().GetLocalityLbSetting().GetDistribute()[0].GetTo()["region2/*"] != 20 {
		t.Errorf("round trip lost the spec: %s", b)
	}
}
