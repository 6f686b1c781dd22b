package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	istioapi "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

func seOf(ns, name string, spec *istioapi.ServiceEntry) *istionet.ServiceEntry {
	out := &istionet.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	spec.DeepCopyInto(&out.Spec)
	return out
}

func runEntryCheck(t *testing.T, id string, inv *cluster.Inventory) []checks.Result {
	t.Helper()
	m := mesh.Build([]*cluster.Inventory{inv})
	env := &checks.Env{Mesh: m, Now: time.Now()}
	for _, c := range checks.Catalogue() {
		if c.ID == id {
			return c.Cluster(context.Background(), env, m.Clusters[0])
		}
	}
	t.Fatalf("no check %s", id)
	return nil
}

func worst(rs []checks.Result) checks.Status {
	w := checks.Skipped
	for _, r := range rs {
		if r.Status.Weight() > w.Weight() {
			w = r.Status
		}
	}
	return w
}

func TestServiceEntryResolution(t *testing.T) {
	tcp := []*istioapi.ServicePort{{Number: 3306, Name: "tcp", Protocol: "TCP"}}
	for _, tc := range []struct {
		name string
		spec *istioapi.ServiceEntry
		want checks.Status
		msg  string
	}{
		{"DNS to an IP endpoint is accepted and works", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_DNS,
			Endpoints: []*istioapi.WorkloadEntry{{Address: "10.0.0.1"}}}, checks.Pass, "consistent"},
		{"STATIC to a host name fails", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_STATIC,
			Endpoints: []*istioapi.WorkloadEntry{{Address: "db.internal"}}}, checks.Fail, "not an IP"},
		{"STATIC to a unix socket is accepted", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_STATIC,
			Endpoints: []*istioapi.WorkloadEntry{{Address: "unix:///var/run/db.sock"}}}, checks.Pass, "consistent"},
		{"STATIC without endpoints warns", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_STATIC}, checks.Warn, "no endpoint at all"},
		{"STATIC with a workloadSelector is served by WorkloadEntries", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_STATIC,
			WorkloadSelector: &istioapi.WorkloadSelector{Labels: map[string]string{"app": "db"}}}, checks.Pass, "consistent"},
		{"NONE with endpoints fails", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_NONE,
			Endpoints: []*istioapi.WorkloadEntry{{Address: "10.0.0.1"}}}, checks.Fail, "resolution NONE with endpoints"},
		{"DNS_ROUND_ROBIN with two endpoints fails", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Resolution: istioapi.ServiceEntry_DNS_ROUND_ROBIN,
			Endpoints: []*istioapi.WorkloadEntry{{Address: "a.example.com"}, {Address: "b.example.com"}}}, checks.Fail, "0 or 1"},
		{"a CIDR with DNS fails", &istioapi.ServiceEntry{Hosts: []string{"db.example.com"}, Ports: tcp, Addresses: []string{"10.1.0.0/16"}, Resolution: istioapi.ServiceEntry_DNS}, checks.Fail, "CIDR"},
		{"DNS without endpoints for a .global host warns", &istioapi.ServiceEntry{Hosts: []string{"db.ns.global"}, Ports: tcp, Resolution: istioapi.ServiceEntry_DNS}, checks.Warn, "no DNS server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := &cluster.Inventory{Context: "c1", ServiceEntries: []*istionet.ServiceEntry{seOf("ns", "e", tc.spec)}}
			got := runEntryCheck(t, "config.serviceentry-resolution", inv)
			if worst(got) != tc.want || !strings.Contains(got[0].Message, tc.msg) {
				t.Errorf("got %s %q, want %s containing %q", worst(got), got[0].Message, tc.want, tc.msg)
			}
		})
	}
}

func TestServiceEntryVIPOverlap(t *testing.T) {
	port := func(proto string) []*istioapi.ServicePort {
		return []*istioapi.ServicePort{{Number: 8080, Name: "p", Protocol: proto}}
	}
	for _, tc := range []struct {
		name   string
		a, b   *istionet.ServiceEntry
		want   checks.Status
		substr string
	}{
		{"TCP hosts on one VIP fail", seOf("ns", "a", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP")}),
			seOf("ns", "b", &istioapi.ServiceEntry{Hosts: []string{"b.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP")}), checks.Fail, "not HTTP"},
		{"HTTP hosts on one VIP warn", seOf("ns", "a", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("HTTP")}),
			seOf("ns", "b", &istioapi.ServiceEntry{Hosts: []string{"b.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("HTTP")}), checks.Warn, "HTTP port"},
		{"a CIDR covering another entry's VIP fails", seOf("ns", "a", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.0/24"}, Ports: port("TCP")}),
			seOf("ns", "b", &istioapi.ServiceEntry{Hosts: []string{"b.global"}, Addresses: []string{"240.0.0.7"}, Ports: port("TCP")}), checks.Fail, "share address"},
		{"different ports do not collide", seOf("ns", "a", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP")}),
			seOf("ns", "b", &istioapi.ServiceEntry{Hosts: []string{"b.global"}, Addresses: []string{"240.0.0.1"}, Ports: []*istioapi.ServicePort{{Number: 9090, Name: "p", Protocol: "TCP"}}}), checks.Pass, "none shared"},
		{"entries no namespace sees together do not collide", seOf("ns1", "a", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP"), ExportTo: []string{"."}}),
			seOf("ns2", "b", &istioapi.ServiceEntry{Hosts: []string{"b.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP"), ExportTo: []string{"."}}), checks.Pass, "none shared"},
		{"one host split over two entries is merged, not a collision", seOf("ns", "a", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP")}),
			seOf("ns", "b", &istioapi.ServiceEntry{Hosts: []string{"a.global"}, Addresses: []string{"240.0.0.1"}, Ports: port("TCP")}), checks.Pass, "none shared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := &cluster.Inventory{Context: "c1", ServiceEntries: []*istionet.ServiceEntry{tc.a, tc.b}}
			got := runEntryCheck(t, "config.serviceentry-vip-overlap", inv)
			if worst(got) != tc.want || !strings.Contains(got[0].Message, tc.substr) {
				t.Errorf("got %s %q, want %s containing %q", worst(got), got[0].Message, tc.want, tc.substr)
			}
		})
	}
}

func TestDNSCaptureSources(t *testing.T) {
	global := seOf("ns", "g", &istioapi.ServiceEntry{Hosts: []string{"stage.greeting.global"}, Addresses: []string{"240.0.0.10"},
		Ports: []*istioapi.ServicePort{{Number: 80, Name: "http", Protocol: "HTTP"}}, Resolution: istioapi.ServiceEntry_DNS})
	noAddr := seOf("ns", "n", &istioapi.ServiceEntry{Hosts: []string{"other.greeting.global"},
		Ports: []*istioapi.ServicePort{{Number: 80, Name: "http", Protocol: "HTTP"}}, Resolution: istioapi.ServiceEntry_DNS})
	pod := func(annot map[string]string, env ...corev1.EnvVar) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: "curl-1", Annotations: annot},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "curl"}, {Name: "istio-proxy", Env: env}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	for _, tc := range []struct {
		name    string
		entries []*istionet.ServiceEntry
		pod     corev1.Pod
		want    checks.Status
		msg     string
	}{
		{"no capture anywhere fails", []*istionet.ServiceEntry{global}, pod(nil), checks.Fail, "has no DNS capture"},
		{"the pod annotation turns it on", []*istionet.ServiceEntry{global},
			pod(map[string]string{"proxy.istio.io/config": "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n"}), checks.Pass, "pod annotation"},
		{"the istio-proxy env wins over the annotation", []*istionet.ServiceEntry{global},
			pod(map[string]string{"proxy.istio.io/config": "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n"}, corev1.EnvVar{Name: "ISTIO_META_DNS_CAPTURE", Value: "false"}), checks.Fail, "istio-proxy container's env"},
		{"capture without an address for a host warns", []*istionet.ServiceEntry{noAddr}, pod(nil, corev1.EnvVar{Name: "ISTIO_META_DNS_CAPTURE", Value: "true"}), checks.Warn, "no address"},
		{"auto-allocation answers hosts without an address", []*istionet.ServiceEntry{noAddr},
			pod(nil, corev1.EnvVar{Name: "ISTIO_META_DNS_CAPTURE", Value: "true"}, corev1.EnvVar{Name: "ISTIO_META_DNS_AUTO_ALLOCATE", Value: "true"}), checks.Pass, "captures DNS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := &cluster.Inventory{Context: "c1", ServiceEntries: tc.entries, Pods: []corev1.Pod{tc.pod}}
			got := runEntryCheck(t, "config.dns-capture", inv)
			if worst(got) != tc.want || !strings.Contains(got[0].Message, tc.msg) {
				t.Errorf("got %s %q, want %s containing %q", worst(got), got[0].Message, tc.want, tc.msg)
			}
		})
	}
}
