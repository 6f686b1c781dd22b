package checks_test

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// bigMesh makes n clusters from the healthy scenario's cluster-1, on two
// alternating networks, each with a remote secret for every other cluster,
// and spreads services and endpoints over them: the scale of issue 7 is
// 2,000 services and 100,000 endpoints in total.
func bigMesh(tb testing.TB, n, services, endpoints int) []*cluster.Inventory {
	tb.Helper()
	invs, _ := bigMeshCerts(tb, n, services, endpoints)
	return invs
}

// bigMeshCerts is bigMesh and the scenario's certificates (every cluster
// holds cluster-1's cacerts: one root, cluster-1's intermediate).
func bigMeshCerts(tb testing.TB, n, services, endpoints int) ([]*cluster.Inventory, *scenario.Certs) {
	tb.Helper()
	_, invs, certs, err := scenario.LoadFake(scenarioDir, "healthy-multi-primary", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := invs[0]
	var out []*cluster.Inventory
	perSvc := endpoints / services
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("c%02d", i)
		network := fmt.Sprintf("network%d", i%2+1)
		inv := *tmpl
		inv.Context, inv.Server = name, "https://"+name+".mesh.test:6443"
		inv.Namespaces = append([]corev1.Namespace(nil), tmpl.Namespaces...)
		for j := range inv.Namespaces {
			if inv.Namespaces[j].Name == "istio-system" {
				ns := inv.Namespaces[j].DeepCopy()
				ns.Labels = map[string]string{"topology.istio.io/network": network}
				inv.Namespaces[j] = *ns
			}
		}
		inv.Deployments = nil
		for _, d := range tmpl.Deployments {
			d := d.DeepCopy()
			for k := range d.Spec.Template.Spec.Containers[0].Env {
				if d.Spec.Template.Spec.Containers[0].Env[k].Name == "CLUSTER_ID" {
					d.Spec.Template.Spec.Containers[0].Env[k].Value = name
				}
			}
			inv.Deployments = append(inv.Deployments, *d)
		}
		inv.ConfigMaps = nil
		for _, cm := range tmpl.ConfigMaps {
			cm := cm.DeepCopy()
			if cm.Name == "istio-sidecar-injector" {
				cm.Data["values"] = fmt.Sprintf(`{"global":{"meshID":"mesh1","network":%q,"multiCluster":{"clusterName":%q}}}`, network, name)
			}
			inv.ConfigMaps = append(inv.ConfigMaps, *cm)
		}
		inv.Services = nil
		for _, s := range tmpl.Services {
			s := s.DeepCopy()
			if s.Name == "istio-eastwestgateway" {
				s.Labels = s.Labels.With("topology.istio.io/network", network)
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("10.214.%d.10", i)}}
			}
			inv.Services = append(inv.Services, *s)
		}
		inv.Pods = nil
		for _, p := range tmpl.Pods {
			p := p.DeepCopy()
			if p.Labels["topology.istio.io/network"] != "" {
				p.Labels["topology.istio.io/network"] = network
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "ISTIO_META_NETWORK", Value: network}}
			}
			inv.Pods = append(inv.Pods, *p)
		}
		inv.GatewayPods = nil
		for _, p := range tmpl.GatewayPods {
			if p.Labels["topology.istio.io/network"] != "" {
				labels := map[string]string{}
				for k, v := range p.Labels {
					labels[k] = v
				}
				labels["topology.istio.io/network"] = network
				p.Labels, p.MetaNetwork = labels, network
			}
			inv.GatewayPods = append(inv.GatewayPods, p)
		}
		// Services present in every cluster (namespace sameness), with
		// their endpoints spread over the clusters.
		inv.EndpointSlices = nil
		for s := 0; s < services/n; s++ {
			svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%04d", s), Namespace: "apps"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}
			inv.Services = append(inv.Services, cluster.CompactService(svc))
			slice := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc.Name + "-x", Namespace: "apps",
				Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}}}
			for e := 0; e < perSvc; e++ {
				slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 100+i%100, e/250, e%250)}})
			}
			inv.EndpointSlices = append(inv.EndpointSlices, cluster.CompactEndpointSlice(slice))
		}
		inv.RemoteSecrets = nil
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			peer := fmt.Sprintf("c%02d", j)
			inv.RemoteSecrets = append(inv.RemoteSecrets, cluster.RemoteSecret{Name: "istio-remote-secret-" + peer,
				Kubeconfigs: []cluster.RemoteKubeconfig{{ClusterID: peer, Server: "https://" + peer + ".mesh.test:6443", Auth: "token"}}})
		}
		out = append(out, &inv)
	}
	return out, certs
}

// BenchmarkFullRun measures building the mesh model and running every
// check over data already in memory, from 5 to 50 clusters with 2,000
// services and 100,000 endpoints in total. peak-rss-MiB is the process's
// high-water mark (getrusage), so it includes the fixtures themselves.
func BenchmarkFullRun(b *testing.B) {
	for _, n := range []int{5, 10, 25, 50} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			invs := bigMesh(b, n, 2000, 100_000)
			runner := &checks.Runner{Checks: checks.Catalogue()}
			var results int
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m := mesh.Build(invs)
				rs := runner.Run(context.Background(), &checks.Env{Mesh: m, Now: time.Now(), NoNetwork: true}, nil)
				results = len(rs)
			}
			b.StopTimer()
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
				b.ReportMetric(float64(ru.Maxrss)/1024, "peak-rss-MiB")
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(results), "results")
		})
	}
}

func TestBigMeshIsHealthy(t *testing.T) {
	// The benchmark's synthetic mesh must be a healthy one, or it would
	// measure the failure paths only.
	invs := bigMesh(t, 5, 100, 1000)
	rs := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(),
		&checks.Env{Mesh: mesh.Build(invs), Now: time.Now(), NoNetwork: true}, nil)
	for _, r := range rs {
		if r.Status == checks.Fail || r.Status == checks.Error {
			t.Errorf("%s %s: %s", r.CheckID, r.Subject(), r.Message)
		}
	}
}
