package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
)

// largeCluster builds n Services and one EndpointSlice each (endpoints
// per slice), as a real API server returns them: labels from Helm, the
// managedFields of server-side apply, dual ports, zones, target refs.
func largeCluster(n, endpoints int) (*corev1.ServiceList, *discoveryv1.EndpointSliceList) {
	created := metav1.NewTime(time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC))
	fields := []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &created,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:annotations":{".":{},"f:meta.helm.sh/release-name":{},"f:meta.helm.sh/release-namespace":{}},"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/managed-by":{},"f:version":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\"port\":8080,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}`)}}
	svcs := &corev1.ServiceList{TypeMeta: metav1.TypeMeta{Kind: "ServiceList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "123456789"}}
	slices := &discoveryv1.EndpointSliceList{TypeMeta: metav1.TypeMeta{Kind: "EndpointSliceList", APIVersion: "discovery.k8s.io/v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "123456789"}}
	cluster, ipv4 := corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol
	local := corev1.ServiceInternalTrafficPolicyCluster
	tcp := corev1.ProtocolTCP
	yes := true
	for i := range n {
		ns := fmt.Sprintf("team-%03d", i%300)
		name := fmt.Sprintf("service-%05d-api", i)
		labels := map[string]string{"app": name, "version": "v1", "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": "shop"}
		svcs.Items = append(svcs.Items, corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: "3f6d2a8e-8c1b-4d5e-9f7a-0b1c2d3e4f50", ResourceVersion: "98765432",
				CreationTimestamp: created, Labels: labels, ManagedFields: fields,
				Annotations: map[string]string{"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": ns}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250),
				ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250)}, IPFamilies: []corev1.IPFamily{ipv4}, IPFamilyPolicy: &cluster,
				InternalTrafficPolicy: &local, SessionAffinity: corev1.ServiceAffinityNone, Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: tcp, TargetPort: intstr.FromInt32(8080)},
					{Name: "grpc", Port: 9090, Protocol: tcp, TargetPort: intstr.FromInt32(9090)}}},
		})
		es := discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-x7k2p", GenerateName: name + "-", Namespace: ns, UID: "7a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
				ResourceVersion: "98765433", CreationTimestamp: created, ManagedFields: fields,
				Labels:          map[string]string{"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io", "app": name},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: name, UID: "3f6d2a8e-8c1b-4d5e-9f7a-0b1c2d3e4f50", Controller: &yes, BlockOwnerDeletion: &yes}}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: &tcp}, {Name: ptr("grpc"), Port: ptr(int32(9090)), Protocol: &tcp}},
		}
		for e := range endpoints {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", 100+e%50, i/250%250, i%250)},
				Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: ptr(false)},
				NodeName:   ptr(fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal", e%16, i%200)),
				Zone:       ptr("eu-west-1a"),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", name, e), UID: "9b8a7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4"},
			})
		}
		slices.Items = append(slices.Items, es)
	}
	return svcs, slices
}

func ptr[T any](v T) *T { return &v }

// TestListSizesOfALargeCluster measures the two largest lists Collect
// makes (Services and EndpointSlices, all namespaces) for a 20,000-service
// cluster, in JSON (what meshdoctor asks for) and protobuf, and checks
// that the default cap leaves headroom over the largest.
func TestListSizesOfALargeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 20,000 objects")
	}
	const services = 20000
	var largest int
	for _, endpoints := range []int{3, 10} {
		svcs, slices := largeCluster(services, endpoints)
		for _, l := range []struct {
			name string
			obj  interface {
				Marshal() ([]byte, error)
			}
		}{{"services", svcs}, {fmt.Sprintf("endpointslices (%d endpoints each)", endpoints), slices}} {
			js, err := json.Marshal(l.obj)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := l.obj.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d %s: JSON %s (%d bytes), protobuf %s (%d bytes)", services, l.name, mib(len(js)), len(js), mib(len(pb)), len(pb))
			largest = max(largest, len(js))
		}
	}
	if DefaultMaxResponseSize < 2*int64(largest) {
		t.Errorf("default cap %s leaves less than 2x headroom over the largest list of a %d-service cluster (%s)",
			FormatBytes(DefaultMaxResponseSize), services, mib(largest))
	}
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func TestOversizedListStopsAtTheCap(t *testing.T) {
	const limit = 1 << 20
	const total = 64 << 20
	for _, withLength := range []bool{false, true} {
		t.Run("content-length="+strconv.FormatBool(withLength), func(t *testing.T) {
			var written atomic.Int64
			handled := make(chan struct{})
			srv := apiServer(t, func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/services") {
					return false
				}
				defer close(handled)
				head := `{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[`
				item := `{"metadata":{"name":"s","namespace":"n","labels":{"padding":"` + strings.Repeat("x", 900) + `"}}},`
				w.Header().Set("Content-Type", "application/json")
				if withLength {
					w.Header().Set("Content-Length", strconv.Itoa(total))
				}
				n, err := io.WriteString(w, head)
				written.Add(int64(n))
				for err == nil && written.Load() < total-int64(len(item)) {
					n, err = io.WriteString(w, item)
					written.Add(int64(n))
				}
				if err == nil {
					n, _ = io.WriteString(w, `{}]}`)
					written.Add(int64(n))
				}
				return true
			})
			c, err := NewClient("big", &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}},
				LoadOptions{Timeout: time.Minute, MaxResponseSize: limit})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Kube.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
			if err == nil {
				t.Fatalf("the whole list was read (%s written), no cap", mib(int(written.Load())))
			}
			fe := classify("list", ResServices, err)
			var tooLarge *ResponseTooLargeError
			if !errors.As(err, &tooLarge) || fe.Reason != ReasonTooLarge {
				t.Fatalf("err = %v (%s), want a ResponseTooLargeError", err, fe.Reason)
			}
			if !strings.Contains(fe.Message, "1 MiB") || !strings.Contains(fe.Message, MaxResponseSizeFlag) {
				t.Errorf("message %q does not name the cap and %s", fe.Message, MaxResponseSizeFlag)
			}
			srv.CloseClientConnections()
			<-handled // the server's writes fail once the connection is closed
			if w := written.Load(); w > 16<<20 {
				t.Errorf("the server wrote %s of a %s list before the read stopped (cap 1 MiB)", mib(int(w)), mib(total))
			}
		})
	}
}

func TestThrottledAndUnavailableAreNamed(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6aXN0aW8tc3lzdGVtOnJlYWRlciJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
	cases := []struct {
		name string
		// answers gives the status and Retry-After of each attempt; the
		// last one repeats.
		answers  [][2]string
		reason   Reason
		message  string
		requests int64
	}{
		{"429 with a short Retry-After is retried once", [][2]string{{"429", "1"}}, ReasonThrottled, "throttled (429), Retry-After 1s", 2},
		{"429 then success", [][2]string{{"429", "1"}, {"200", ""}}, "", "", 2},
		{"503 without Retry-After", [][2]string{{"503", ""}}, ReasonUnavailable, "unavailable (503)", 1},
		{"503 with a long Retry-After is not waited for", [][2]string{{"503", "30"}}, ReasonUnavailable, "unavailable (503), Retry-After 30s", 1},
		{"500 keeps its message, without the token", [][2]string{{"500", "1"}}, ReasonOther, "etcdserver: request timed out", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := apiServer(t, func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/services") {
					return false
				}
				i := int(n.Add(1)) - 1
				a := tc.answers[min(i, len(tc.answers)-1)]
				if a[0] == "200" {
					return false
				}
				if a[1] != "" {
					w.Header().Set("Retry-After", a[1])
				}
				code, _ := strconv.Atoi(a[0])
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(code)
				io.WriteString(w, "etcdserver: request timed out (while reading with Authorization: Bearer "+jwt+")")
				return true
			})
			c, err := NewClient("busy", &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, LoadOptions{Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Kube.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
			if got := n.Load(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("err = %v, want success after the retry", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			fe := classify("list", ResServices, err)
			if fe.Reason != tc.reason || !strings.Contains(fe.Message, tc.message) {
				t.Errorf("got %s %q, want %s %q", fe.Reason, fe.Message, tc.reason, tc.message)
			}
			if strings.Contains(fe.Message, "eyJhbGci") || strings.Contains(fe.Message, "c2lnbmF0dXJl") {
				t.Errorf("the message carries the token: %q", fe.Message)
			}
		})
	}
}

func TestScrubMessage(t *testing.T) {
	for in, want := range map[string]string{
		"list /api/v1/namespaces/istio-system/configmaps: forbidden":   "list /api/v1/namespaces/istio-system/configmaps: forbidden",
		"token=abcdefgh1234 failed":                                    "token=[redacted] failed",
		`{"password": "hunter2hunter2"}`:                               `{"password": "[redacted]"}`,
		"Authorization: Bearer abc.def.ghi-123456":                     "Authorization: [redacted]",
		"key MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 end": "key [redacted] end",
	} {
		if got := ScrubMessage(in); got != want {
			t.Errorf("ScrubMessage(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ScrubMessage(strings.Repeat("é", 1000)); len(got) > maxMessage+len("…") {
		t.Errorf("unbounded: %d bytes", len(got))
	}
}
