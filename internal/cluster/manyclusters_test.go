package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// realisticBodies are list answers of a mesh cluster, as an API server
// writes them: services Services with one EndpointSlice of 3 endpoints each,
// a namespace per 10 services, and 10 pods for each pod list (meshdoctor
// lists pods by label: istio-system, probe clients, gateways), so that
// decoding costs what it costs on a real cluster (the latency benchmark used
// to answer with empty lists).
func realisticBodies(t testing.TB, services int) map[string][]byte {
	list := func(kind, apiVersion string, items []any) []byte {
		b, err := json.Marshal(map[string]any{"kind": kind, "apiVersion": apiVersion, "metadata": map[string]any{"resourceVersion": "1"}, "items": items})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	meta := func(ns, name string, labels map[string]string) map[string]any {
		return map[string]any{"namespace": ns, "name": name, "uid": fmt.Sprintf("%s-%s-uid", ns, name), "resourceVersion": "7",
			"creationTimestamp": "2026-01-01T00:00:00Z", "labels": labels,
			"annotations": map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"Service","metadata":{"name":"` + name + `"}}`}}
	}
	var nss, svcs, slices, pods []any
	for i := range services / 10 {
		nss = append(nss, map[string]any{"metadata": meta("", fmt.Sprintf("team-%d", i), map[string]string{"istio-injection": "enabled"})})
	}
	for i := range services {
		ns, name := fmt.Sprintf("team-%d", i/10), fmt.Sprintf("svc-%d", i)
		labels := map[string]string{"app": name, "version": "v1"}
		svcs = append(svcs, map[string]any{"metadata": meta(ns, name, labels), "spec": map[string]any{
			"type": "ClusterIP", "clusterIP": fmt.Sprintf("10.96.%d.%d", i/250, i%250), "selector": map[string]string{"app": name},
			"ports": []any{map[string]any{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}}}})
		var eps []any
		for j := range 3 {
			ip := fmt.Sprintf("10.%d.%d.%d", 20+i/250, i%250, j+1)
			eps = append(eps, map[string]any{"addresses": []string{ip}, "conditions": map[string]bool{"ready": true, "serving": true},
				"nodeName": "node-1", "zone": "us-east1-b", "targetRef": map[string]string{"kind": "Pod", "namespace": ns, "name": fmt.Sprintf("%s-%d", name, j)}})
			if len(pods) >= 10 {
				continue
			}
			pods = append(pods, map[string]any{"metadata": meta(ns, fmt.Sprintf("%s-%d", name, j), labels),
				"spec":   map[string]any{"nodeName": "node-1", "containers": []any{map[string]any{"name": "app", "image": "app:1"}, map[string]any{"name": "istio-proxy", "image": "proxyv2:1.31.1"}}},
				"status": map[string]any{"phase": "Running", "podIP": ip, "podIPs": []any{map[string]string{"ip": ip}}}})
		}
		m := meta(ns, name+"-abcde", map[string]string{"kubernetes.io/service-name": name})
		slices = append(slices, map[string]any{"metadata": m, "addressType": "IPv4", "endpoints": eps,
			"ports": []any{map[string]any{"name": "http", "port": 8080, "protocol": "TCP"}}})
	}
	return map[string][]byte{
		"namespaces":     list("NamespaceList", "v1", nss),
		"services":       list("ServiceList", "v1", svcs),
		"endpointslices": list("EndpointSliceList", "discovery.k8s.io/v1", slices),
		"pods":           list("PodList", "v1", pods),
	}
}

// protoBodies are realisticBodies' lists in protobuf, encoded by
// apimachinery's serializer as kube-apiserver encodes them.
func protoBodies(t testing.TB, bodies map[string][]byte) map[string][]byte {
	pb := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	out := map[string][]byte{}
	for res, list := range map[string]struct {
		obj kruntime.Object
		gv  schema.GroupVersion
	}{
		"namespaces":     {&corev1.NamespaceList{}, corev1.SchemeGroupVersion},
		"services":       {&corev1.ServiceList{}, corev1.SchemeGroupVersion},
		"endpointslices": {&discoveryv1.EndpointSliceList{}, discoveryv1.SchemeGroupVersion},
		"pods":           {&corev1.PodList{}, corev1.SchemeGroupVersion},
	} {
		if err := json.Unmarshal(bodies[res], list.obj); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		var buf bytes.Buffer
		if err := scheme.Codecs.EncoderForVersion(pb, list.gv).Encode(list.obj, &buf); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		out[res] = buf.Bytes()
	}
	return out
}

// BenchmarkManyClusters reads 50 clusters 100 ms away, each answering with
// the lists of a 100-Service cluster, the way `meshdoctor check` does (all
// at once), and the same reads one cluster after another: the sequential
// baseline is measured, not computed. The stand-ins speak TLS and HTTP/2 and
// answer in protobuf, as kube-apiserver does (over HTTP/1.1 client-go opened
// a connection per concurrent request, and decoding JSON cost 3 times the
// CPU). x-critical-path is the concurrent wall time over the bound two round
// trips make (the inventory's dependency graph is /version, then every list
// at once); the target is <= 1.3. On a 2-core machine the reads' CPU
// (cpu-s/op: client and stand-ins, one process) spread over the cores is the
// other bound: x-max-bound is the wall time over the larger of the two.
func BenchmarkManyClusters(b *testing.B) {
	const rtt = 100 * time.Millisecond
	const n = 50
	bodies := realisticBodies(b, 100)
	proto := protoBodies(b, bodies)
	var clients []*cluster.Client
	for i := range n {
		s := newSlowTLSAPIServer(b, rtt, bodies, proto)
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
		c, err := cluster.NewClient(fmt.Sprintf("cluster-%d", i+1), &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, cluster.LoadOptions{Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	check := func(invs []*cluster.Inventory) {
		for _, inv := range invs {
			if inv.Unreachable != nil || len(inv.Errors) > 0 {
				b.Fatalf("%s: %v %v", inv.Context, inv.Unreachable, inv.Errors)
			}
			if len(inv.Services) != 100 {
				b.Fatalf("%s: %d services, want 100", inv.Context, len(inv.Services))
			}
		}
	}
	check(cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{})) // warm connections
	bound := 2 * rtt
	b.Run("concurrent", func(b *testing.B) {
		cpu0 := processCPU()
		start := time.Now()
		for b.Loop() {
			check(cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{}))
		}
		per := time.Since(start) / time.Duration(b.N)
		cpu := (processCPU() - cpu0) / time.Duration(b.N)
		b.ReportMetric(float64(per)/float64(bound), "x-critical-path")
		// The other bound: the CPU the reads cost (client and the in-process
		// stand-ins together) spread over every core.
		floor := cpu / time.Duration(runtime.GOMAXPROCS(0))
		b.ReportMetric(cpu.Seconds(), "cpu-s/op")
		b.ReportMetric(float64(per)/float64(max(bound, floor)), "x-max-bound")
	})
	b.Run("sequential", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			for _, c := range clients {
				check(cluster.CollectAll(context.Background(), []*cluster.Client{c}, cluster.CollectOptions{}))
			}
		}
		per := time.Since(start) / time.Duration(b.N)
		b.ReportMetric(float64(per)/float64(bound), "x-critical-path")
	})
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
