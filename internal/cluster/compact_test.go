package cluster_test

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// An EndpointSlice as the API lists it (and as snapshots before the
// compact type held it) reads into the compact type with every field the
// checks read, and the compact type writes the API type's JSON of those
// fields: what it writes reads back the same.
func TestCompactEndpointSliceReadsAndWritesTheAPIsJSON(t *testing.T) {
	yes, no := true, false
	http, tcp, h2 := "http", corev1.ProtocolTCP, "kubernetes.io/h2c"
	port := int32(8080)
	api := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "helloworld-abcde", Namespace: "sample", UID: "u", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kcm"}},
			Labels:      map[string]string{discoveryv1.LabelServiceName: "helloworld", "app": "helloworld"},
			Annotations: map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "x"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &http, Protocol: &tcp, Port: &port, AppProtocol: &h2}, {}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1", "10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "sample", Name: "helloworld-v1-1", UID: "p"}, NodeName: &http, Zone: &http},
			{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: &no}},
			{},
		},
	}
	raw, err := json.Marshal(&api)
	if err != nil {
		t.Fatal(err)
	}
	var es cluster.EndpointSlice
	if err := json.Unmarshal(raw, &es); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(es, cluster.CompactEndpointSlice(api)) {
		t.Errorf("read from JSON %+v, compacted %+v", es, cluster.CompactEndpointSlice(api))
	}
	if es.Namespace != "sample" || es.Name != "helloworld-abcde" || es.ServiceName != "helloworld" || es.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("metadata: %+v", es)
	}
	if !reflect.DeepEqual(es.Ports, api.Ports) {
		t.Errorf("ports %+v, want %+v", es.Ports, api.Ports)
	}
	e := es.Endpoints
	if len(e) != 3 || !reflect.DeepEqual(e[0].Addresses, []string{"10.0.0.1", "10.0.0.2"}) || !reflect.DeepEqual(*e[0].TargetRef, cluster.NewObjectRef("Pod", "sample", "helloworld-v1-1")) ||
		e[0].Conditions != (cluster.EndpointConditions{Ready: cluster.ConditionTrue, Serving: cluster.ConditionTrue, Terminating: cluster.ConditionFalse}) {
		t.Errorf("endpoint 0: %+v", e)
	}
	if e[1].Conditions.Ready != cluster.ConditionFalse || e[1].Conditions.Serving != cluster.ConditionUnset || e[1].TargetRef != nil || e[2].Addresses != nil {
		t.Errorf("endpoints 1, 2: %+v", e[1:])
	}

	// Written, it is the API type's JSON of the kept fields.
	kept := api
	kept.ObjectMeta = metav1.ObjectMeta{Name: api.Name, Namespace: api.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: "helloworld"}}
	kept.Endpoints = []discoveryv1.Endpoint{
		{Addresses: api.Endpoints[0].Addresses, Conditions: api.Endpoints[0].Conditions, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "sample", Name: "helloworld-v1-1"}},
		api.Endpoints[1], {},
	}
	want, _ := json.Marshal(&kept)
	got, err := json.Marshal(es)
	if err != nil || string(got) != string(want) {
		t.Errorf("written %s (%v), want %s", got, err, want)
	}
	var again cluster.EndpointSlice
	if err := json.Unmarshal(got, &again); err != nil || !reflect.DeepEqual(again, es) {
		t.Errorf("read back %+v (%v), want %+v", again, err, es)
	}
	// API gives a copy: changing it changes nothing of the slice.
	c := es.API()
	c.Endpoints[0].Addresses[0], *c.Ports[0].Name = "x", "y"
	if es.Endpoints[0].Addresses[0] != "10.0.0.1" || *es.Ports[0].Name != "http" {
		t.Errorf("API() shares its parts with the slice")
	}
}

// Hostile JSON is an error, never a panic.
func TestCompactEndpointSliceRejectsMalformedJSON(t *testing.T) {
	for _, in := range []string{`[]`, `{"endpoints":{}}`, `{"ports":[{"port":"x"}]}`, `{"endpoints":[{"addresses":[1]}]}`, `{"endpoints":[null,{"targetRef":null}]}`, `null`} {
		var es cluster.EndpointSlice
		_ = json.Unmarshal([]byte(in), &es) // no panic
	}
}

// A Service as the API lists it (and as older snapshots held it) reads
// into the compact type with every field the checks read, and writes the
// API type's JSON of those fields, which reads back the same.
func TestCompactServiceReadsAndWritesTheAPIsJSON(t *testing.T) {
	h2 := "kubernetes.io/h2c"
	policy := corev1.ServiceInternalTrafficPolicyLocal
	api := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-eastwestgateway", Namespace: "istio-system", UID: "u", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "helm"}},
			Labels:      map[string]string{"app": "istio-eastwestgateway", "topology.istio.io/network": "network1"},
			Annotations: map[string]string{"meta.helm.sh/release-name": "gw", "traffic.istio.io/nodeSelector": `{"pool":"eastwest"}`}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10", "fd00::10"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, ExternalIPs: []string{"198.51.100.9"}, ExternalName: "",
			Selector: map[string]string{"app": "istio-eastwestgateway"}, InternalTrafficPolicy: &policy, SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "tls", Port: 15443, NodePort: 31443, Protocol: corev1.ProtocolTCP, AppProtocol: &h2, TargetPort: intstr.FromString("tls")}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "198.51.100.4"}, {Hostname: "a1.elb.example"}}}},
	}
	before := api.DeepCopy()
	raw, err := json.Marshal(&api)
	if err != nil {
		t.Fatal(err)
	}
	var s cluster.Service
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if c := cluster.CompactService(api); !reflect.DeepEqual(s, c) {
		t.Errorf("read from JSON %+v, compacted %+v", s, c)
	}
	if !reflect.DeepEqual(&api, before) {
		t.Errorf("CompactService changed its argument")
	}
	want := cluster.Service{Namespace: "istio-system", Name: "istio-eastwestgateway", Labels: cluster.Labels{{Key: "app", Value: "istio-eastwestgateway"}, {Key: "topology.istio.io/network", Value: "network1"}},
		Annotations: map[string]string{"traffic.istio.io/nodeSelector": `{"pool":"eastwest"}`},
		Spec: cluster.ServiceSpec{Type: api.Spec.Type, ClusterIP: "10.96.0.10", ClusterIPs: api.Spec.ClusterIPs, ExternalIPs: api.Spec.ExternalIPs,
			Selector: cluster.LabelsOf(api.Spec.Selector), Ports: api.Spec.Ports, IPFamilies: api.Spec.IPFamilies},
		Status: cluster.ServiceStatus{LoadBalancer: api.Status.LoadBalancer}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("compacted\n%+v, want\n%+v", s, want)
	}
	got, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var again cluster.Service
	if err := json.Unmarshal(got, &again); err != nil || !reflect.DeepEqual(again, s) {
		t.Errorf("read back %+v (%v), want %+v", again, err, s)
	}
	c := s.DeepCopy()
	c.Labels[0].Value, c.Spec.Ports[0].Port, c.Spec.ClusterIPs[0] = "x", 1, "x"
	if s.Labels.Get("app") != "istio-eastwestgateway" || s.Spec.Ports[0].Port != 15443 || s.Spec.ClusterIPs[0] != "10.96.0.10" {
		t.Errorf("DeepCopy shares its parts with the Service")
	}
	for _, in := range []string{`[]`, `{"spec":{"ports":{}}}`, `{"metadata":{"labels":[]}}`, `{"spec":{"clusterIPs":[1]}}`, `null`} {
		var s cluster.Service
		_ = json.Unmarshal([]byte(in), &s) // no panic
	}
}

// Labels read as the map they were made from: sorted by key, a missing key
// reads "" and is not set, and a selector matches them as it does the map.
func TestLabelsReadAsTheirMap(t *testing.T) {
	m := map[string]string{"version": "v1", "app": "helloworld", "empty": ""}
	l := cluster.LabelsOf(m)
	if l.Len() != 3 || l[0].Key != "app" || l[1].Key != "empty" || l[2].Key != "version" {
		t.Fatalf("not sorted by key: %v", l)
	}
	for k, v := range m {
		if got, ok := l.Lookup(k); !ok || got != v || l.Get(k) != v || !l.Has(k) {
			t.Errorf("%s: %q %v, want %q", k, got, ok, v)
		}
	}
	if _, ok := l.Lookup("missing"); ok || l.Get("missing") != "" || l.Has("missing") {
		t.Errorf("a missing key is set")
	}
	if !reflect.DeepEqual(l.Map(), m) || cluster.LabelsOf(nil) != nil || cluster.Labels(nil).Map() != nil {
		t.Errorf("Map: %v", l.Map())
	}
	if !cluster.LabelsOf(map[string]string{"app": "helloworld", "missing": ""}).SubsetOf(m) || cluster.LabelsOf(map[string]string{"app": "other"}).SubsetOf(m) {
		t.Errorf("SubsetOf differs from indexing the map")
	}
	sel, _ := labels.Parse("app=helloworld,version in (v1,v2),!canary")
	if !sel.Matches(l) || !sel.Matches(labels.Set(m)) {
		t.Errorf("a selector matching the map does not match the labels")
	}
	if w := l.With("app", "x").With("zone", "a"); w.Get("app") != "x" || w.Get("zone") != "a" || w[3].Key != "zone" || l.Get("app") != "helloworld" {
		t.Errorf("With: %v (from %v)", w, l)
	}
}
