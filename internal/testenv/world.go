package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/netns"
	"github.com/meshdoctor/meshdoctor/internal/pki"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// World is a scenario on real API servers with everything meshdoctor's
// network checks touch simulated around it, the way Istio would behave with
// that configuration:
//
//   - every east-west gateway with an address and a plugged-in CA is a real
//     server in a network namespace (10.213.0.0/16) presenting istiod and
//     workload certificates from the cluster's own CA; GatewayAddresses are
//     the --gateway-address values that point meshdoctor at them;
//   - probe pods and istiod pods sit on kubelet stand-ins, so exec and
//     port-forward go through the API servers;
//   - a sidecar's Envoy endpoints are what istiod's EDS would hold: pod IPs
//     of its own network, the gateway of each other network that has one,
//     and pod IPs of networks without a gateway (what Istio does);
//   - a probe pod's requests reach the backends of its own cluster, of its
//     own network, and of other networks through a gateway, but only where
//     the two clusters trust the same root;
//   - istiod's /debug/clusterz lists each remote secret's cluster as synced
//     when that cluster exists, "timeout" otherwise, and /debug/networkz the
//     gateways with addresses.
type World struct {
	Env      *Env
	Scenario *scenario.Scenario
	// GatewayAddresses are context=address for --gateway-address.
	GatewayAddresses []string

	certs   *scenario.Certs
	closers []func()
}

// Secrets are every private key and token the scenario's fixtures hold
// (for tests that prove none of them leaks).
func (w *World) Secrets() []string { return w.certs.Secrets() }

// Close tears the world down, environment last.
func (w *World) Close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	if w.Env != nil {
		w.Env.Close()
	}
}

// NewWorld brings up scenario name of dir under tmp. It needs root (network
// namespaces) and the binaries of make testbin.
func NewWorld(ctx context.Context, tmp, dir, name string) (_ *World, err error) {
	if err := netns.Available(); err != nil {
		return nil, fmt.Errorf("a world needs network namespaces: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, name, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no scenario %q in %s", name, dir)
	}
	var names []string
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".yaml"); n != "scenario" {
			names = append(names, n)
		}
	}
	w := &World{}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.Env, err = New(ctx, tmp, Options{Names: names}); err != nil {
		return nil, err
	}
	certs := scenario.NewCerts(time.Now())
	w.certs = certs
	if w.Scenario, err = scenario.Load(dir, name, w.Env, certs); err != nil {
		return nil, err
	}
	if err := w.Env.Apply(ctx, w.Scenario); err != nil {
		return nil, err
	}
	clients, err := cluster.Load(cluster.LoadOptions{Kubeconfig: w.Env.AdminKubeconfig, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	m := mesh.Build(cluster.CollectAll(ctx, clients, cluster.CollectOptions{}))
	for _, c := range m.Clusters {
		if !c.Reachable() {
			return nil, fmt.Errorf("cluster %s: %v", c.Name, c.Inv.Unreachable)
		}
	}
	dp, err := NewDataPlane()
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func() { _ = dp.Close() })

	// Gateways on the network, and where each original address now is.
	moved := map[string]string{} // "addr:port" of the fixture -> "netns addr:port"
	for _, c := range m.Clusters {
		inter, ok := certs.Issued(c.Name)
		ew := firstGateway(c)
		if ew == nil || !ok {
			continue
		}
		opts, err := GatewayCerts(inter, c.TrustDomain)
		if err != nil {
			return nil, err
		}
		gw, err := NewGateway("md-w-"+c.Name, opts)
		if err != nil {
			return nil, err
		}
		w.closers = append(w.closers, func() { _ = gw.Close() })
		w.GatewayAddresses = append(w.GatewayAddresses, c.Name+"="+gw.Addr)
		for _, p := range ew.Service.Spec.Ports {
			moved[fmt.Sprintf("%s:%d", ew.Addresses[0], p.Port)] = fmt.Sprintf("%s:%d", gw.Addr, p.Port)
		}
	}

	trust := rootsOf(m)
	backends, err := startBackends(dp, m)
	if err != nil {
		return nil, err
	}
	for _, c := range m.Clusters {
		k, err := w.Env.AddNode(ctx, c.Name, "node-"+c.Name)
		if err != nil {
			return nil, err
		}
		k.SetExec(dp.Exec)
		for i := range c.Inv.Pods {
			p := &c.Inv.Pods[i]
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			if err := w.Env.Cluster(c.Name).BindPod(ctx, p.Namespace, p.Name, k.Node); err != nil {
				return nil, err
			}
			switch {
			case p.Namespace == cluster.IstioNamespace && p.Labels["app"] == "istiod":
				addr, stop, err := AdminServer(istiodDebug(m, c))
				if err != nil {
					return nil, err
				}
				w.closers = append(w.closers, stop)
				k.Forward(p.Namespace, p.Name, 15014, addr)
			case p.Namespace != cluster.IstioNamespace:
				if err := routeProbePod(dp, m, c, p, backends, trust, moved); err != nil {
					return nil, err
				}
				paths, err := sidecarAdmin(m, c)
				if err != nil {
					return nil, err
				}
				addr, stop, err := AdminServer(paths)
				if err != nil {
					return nil, err
				}
				w.closers = append(w.closers, stop)
				k.Forward(p.Namespace, p.Name, 15000, addr)
			}
		}
	}
	return w, nil
}

// GatewayCerts are what an east-west gateway of a cluster whose istiod
// signs with inter presents: istiod's certificate (DNS SAN
// istiod.istio-system.svc) on 15012 and 15017, a workload's
// (spiffe://<trustDomain>/ns/sample/sa/helloworld) on 15443, and 200 on
// 15021.
func GatewayCerts(inter *pki.CA, trustDomain string) (GatewayOptions, error) {
	leaf := func(o pki.Options) (*tls.Certificate, error) {
		l, err := pki.NewLeaf(inter, "gateway", o)
		if err != nil {
			return nil, fmt.Errorf("gateway certificate: %w", err)
		}
		return &tls.Certificate{Certificate: [][]byte{l.Cert.Raw, inter.Cert.Raw}, PrivateKey: l.Key}, nil
	}
	istiod, err := leaf(pki.Options{DNSNames: []string{"istiod.istio-system.svc"}})
	if err != nil {
		return GatewayOptions{}, err
	}
	workload, err := leaf(pki.Options{URIs: []string{"spiffe://" + trustDomain + "/ns/sample/sa/helloworld"}})
	if err != nil {
		return GatewayOptions{}, err
	}
	return GatewayOptions{Istiod: istiod, Workload: workload, Status: 200}, nil
}

// rootsOf maps each cluster to the root fingerprints its workloads trust:
// the istio-ca-root-cert ConfigMap that istiod (its own, or a primary's for
// a remote) distributes.
func rootsOf(m *mesh.Mesh) map[string][]string {
	out := map[string][]string{}
	for _, c := range m.Clusters {
		cm := c.Inv.ConfigMap("istio-ca-root-cert")
		if cm == nil {
			continue
		}
		if certs, err := pki.ParseCerts(cm.Data["root-cert.pem"]); err == nil {
			out[c.Name] = pki.FingerprintSet(certs)
		}
	}
	return out
}

type backend struct {
	cluster *mesh.Cluster
	ip      string
	port    int
	pod     string
	addr    string // where the simulated pod listens
}

// service is "host:port" of a Service present in several clusters.
type service struct {
	host      string
	port      int32
	ns, name  string
	endpoints []backend
}

func multiClusterServices(m *mesh.Mesh) []*service {
	count := map[string]int{}
	for _, c := range m.Clusters {
		for _, s := range c.Inv.Services {
			if s.Namespace != cluster.IstioNamespace && s.Namespace != "default" && s.Namespace != "kube-system" && len(s.Spec.Ports) > 0 {
				count[s.Namespace+"/"+s.Name]++
			}
		}
	}
	var out []*service
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k, n := range count {
			if n > 1 && !yield(k) {
				return
			}
		}
	}) {
		ns, name, _ := strings.Cut(k, "/")
		svc := &service{ns: ns, name: name, host: name + "." + ns + ".svc.cluster.local"}
		for _, c := range m.Clusters {
			if s := c.Inv.Service(ns, name); s != nil {
				svc.port = s.Spec.Ports[0].Port
			}
			for _, es := range c.Inv.EndpointSlices {
				if es.Namespace != ns || es.ServiceName != name || len(es.Ports) == 0 || es.Ports[0].Port == nil {
					continue
				}
				for _, ep := range es.Endpoints {
					if ep.TargetRef == nil || len(ep.Addresses) == 0 {
						continue
					}
					svc.endpoints = append(svc.endpoints, backend{cluster: c, ip: ep.Addresses[0], port: int(*es.Ports[0].Port), pod: ep.TargetRef.Name})
				}
			}
		}
		out = append(out, svc)
	}
	return out
}

func startBackends(dp *DataPlane, m *mesh.Mesh) ([]*service, error) {
	svcs := multiClusterServices(m)
	for _, s := range svcs {
		for i := range s.endpoints {
			addr, err := dp.Backend("v1", s.endpoints[i].pod)
			if err != nil {
				return nil, err
			}
			s.endpoints[i].addr = addr
		}
	}
	return svcs, nil
}

// reaches says whether a sidecar in from sends traffic that arrives in to:
// own cluster, own network, or another network with a gateway address, and
// only between clusters that trust a common root.
func reaches(m *mesh.Mesh, from, to *mesh.Cluster, trust map[string][]string) bool {
	if from == to {
		return true
	}
	if !slices.ContainsFunc(trust[from.Name], func(fp string) bool { return slices.Contains(trust[to.Name], fp) }) {
		return false
	}
	if from.Network == to.Network {
		return true
	}
	for _, o := range m.Clusters {
		for _, g := range o.Gateways {
			if g.Network == to.Network && len(g.Addresses) > 0 {
				return true
			}
		}
	}
	return false
}

func routeProbePod(dp *DataPlane, m *mesh.Mesh, c *mesh.Cluster, p *corev1.Pod, svcs []*service, trust map[string][]string, moved map[string]string) error {
	for _, s := range svcs {
		var to []string
		for _, b := range s.endpoints {
			if reaches(m, c, b.cluster, trust) {
				to = append(to, b.addr)
			}
		}
		if err := dp.Route(p.Namespace, p.Name, fmt.Sprintf("%s:%d", s.host, s.port), to...); err != nil {
			return err
		}
	}
	// The fixtures' gateway addresses are not this machine's: every
	// connection a pod makes to one goes to the gateway's namespace, or is
	// refused when that gateway is not simulated.
	for _, o := range m.Clusters {
		ew := firstGateway(o)
		if ew == nil {
			continue
		}
		for _, port := range []int{ew.Port, 15012, 15017} {
			orig := fmt.Sprintf("%s:%d", ew.Addresses[0], port)
			target, ok := moved[orig]
			if !ok {
				target = "127.0.0.1:1"
			}
			if err := dp.Connect(p.Namespace, p.Name, orig, target); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstGateway is the cluster's first network gateway with an address: the
// one the world simulates.
func firstGateway(c *mesh.Cluster) *mesh.Gateway {
	for i := range c.Gateways {
		if len(c.Gateways[i].Addresses) > 0 {
			return &c.Gateways[i]
		}
	}
	return nil
}

// sidecarAdmin is what a sidecar in c would serve: EDS as istiod builds it.
func sidecarAdmin(m *mesh.Mesh, c *mesh.Cluster) (map[string]string, error) {
	eds := map[string][]EDSEndpoint{}
	for _, s := range multiClusterServices(m) {
		name := fmt.Sprintf("outbound|%d||%s", s.port, s.host)
		behind := map[string]int{} // gateway addr -> endpoints
		gwOf := map[string]mesh.Gateway{}
		var eps []EDSEndpoint
		for _, b := range s.endpoints {
			gw, ok := gatewayFor(m, b.cluster.Network)
			if b.cluster.Network == c.Network || !ok {
				eps = append(eps, EDSEndpoint{Addr: b.ip, Port: uint32(b.port), Weight: 1,
					Workload: fmt.Sprintf("%s;%s;%s;v1;%s", b.pod, s.ns, s.name, b.cluster.ID)})
				continue
			}
			behind[gw.Addresses[0]]++
			gwOf[gw.Addresses[0]] = gw
		}
		for _, a := range slices.Sorted(func(yield func(string) bool) {
			for a := range behind {
				if !yield(a) {
					return
				}
			}
		}) {
			eps = append(eps, EDSEndpoint{Addr: a, Port: uint32(gwOf[a].Port), Weight: uint32(behind[a]), Workload: ";;;;" + clusterIDOfService(m, gwOf[a])})
		}
		eds[name] = eps
	}
	dump, err := ConfigDump(eds)
	if err != nil {
		return nil, err
	}
	return map[string]string{"/config_dump": string(dump), "/clusters": `{"cluster_statuses":[]}`}, nil
}

func gatewayFor(m *mesh.Mesh, network string) (mesh.Gateway, bool) {
	for _, o := range m.Clusters {
		for _, g := range o.Gateways {
			if g.Network == network && len(g.Addresses) > 0 {
				return g, true
			}
		}
	}
	return mesh.Gateway{}, false
}

func clusterIDOfService(m *mesh.Mesh, g mesh.Gateway) string {
	for _, o := range m.Clusters {
		for _, og := range o.Gateways {
			if og.Service == g.Service {
				return o.ID
			}
		}
	}
	return ""
}

// istiodDebug is what c's istiod would answer on its debug port.
func istiodDebug(m *mesh.Mesh, c *mesh.Cluster) map[string]string {
	entries := []string{fmt.Sprintf(`{"id":%q,"secretName":"","syncStatus":"synced"}`, c.ID)}
	for _, rs := range c.Inv.RemoteSecrets {
		for _, rk := range rs.Kubeconfigs {
			status := "timeout"
			if len(m.ByID(rk.ClusterID)) > 0 {
				status = "synced"
			}
			entries = append(entries, fmt.Sprintf(`{"id":%q,"secretName":%q,"syncStatus":%q}`, rk.ClusterID, "istio-system/"+rs.Name, status))
		}
	}
	var gws []string
	for _, o := range m.Clusters {
		for _, g := range o.Gateways {
			for _, a := range g.Addresses {
				gws = append(gws, fmt.Sprintf(`{"Network":%q,"Cluster":%q,"Addr":%q,"Port":%s}`, g.Network, o.ID, a, strconv.Itoa(g.Port)))
			}
		}
	}
	return map[string]string{
		"/debug/clusterz": "[" + strings.Join(entries, ",") + "]",
		"/debug/networkz": "[" + strings.Join(gws, ",") + "]",
	}
}

// BindPod places a pod on a node the way the scheduler does (pods/binding).
func (c *Cluster) BindPod(ctx context.Context, namespace, pod, node string) error {
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: namespace}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := c.Admin.CoreV1().Pods(namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s: bind %s/%s to %s: %w", c.Name, namespace, pod, node, err)
	}
	return nil
}
