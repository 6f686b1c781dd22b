package checks

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/pki"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// Vantage names where network probes run from, for the results.
const Vantage = "meshdoctor host"

var reachChecks = []Check{
	{ID: "gateway.reachability", Title: "each east-west gateway answers on 15443, 15012, 15017 and 15021 (an ambient one on HBONE 15008 and 15021) with mesh certificates", Scope: PerCluster, Network: true,
		DependsOn: []string{"gateway.address"}, Cluster: gatewayReachability},
}

// ProbeFunc probes one gateway; checks call it so that tests and snapshots
// can put recorded or local results behind it.
type ProbeFunc func(ctx context.Context, t probe.GatewayTarget) []probe.PortResult

func gatewayReachability(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	gws := reachableGateways(c)
	if len(gws) == 0 {
		return []Result{skipf("no network gateway in this cluster that istiod uses")}
	}
	if env.Probe == nil {
		return []Result{skipf("no prober configured")}
	}
	roots, rootFPs := meshRootPool(env)
	var out []Result
	for _, g := range gws {
		addrs := g.Addresses
		if o, ok := env.GatewayOverrides[c.Name]; ok {
			addrs = []string{o}
		}
		if len(addrs) == 0 {
			out = append(out, forGateway(skipf("gateway %s has no address", g.Name()), g, len(gws) > 1, ""))
			continue
		}
		ports := probedPorts(c, g)
		if len(ports) == 0 {
			out = append(out, forGateway(skipf("gateway Service %s exposes none of the probed ports", g.Name()), g, len(gws) > 1, ""))
			continue
		}
		t := probe.GatewayTarget{Cluster: c.Name, Network: c.Network, Address: addrs[0], Ports: ports,
			Roots: roots, TrustDomain: c.TrustDomain, TrustDomainAliases: trustDomainAliases(c), SNI: sniFor(c)}
		results := env.Probe(ctx, t)
		if len(results) == 0 {
			out = append(out, forGateway(skipf("no recorded probe of %s in the snapshot", t.Address), g, len(gws) > 1, ""))
			continue
		}
		for _, pr := range results {
			out = append(out, portResult(c, g, t, pr, rootFPs, env.RecordedAt))
		}
	}
	return out
}

// reachableGateways are the gateways to probe: the network gateways istiod
// uses for sidecars (c.Gateways), then the Services istiod made for the
// ambient istio-east-west Gateways it uses (mesh.AmbientEastWestGateways,
// Ignored ""), at the Gateway's status addresses, which are what istiod
// sends remote ztunnels (pilot/pkg/serviceregistry/ambient/networks.go).
func reachableGateways(c *mesh.Cluster) []*mesh.Gateway {
	var out []*mesh.Gateway
	seen := map[string]bool{}
	for i := range c.Gateways {
		out = append(out, &c.Gateways[i])
		seen[c.Gateways[i].Name()] = true
	}
	for _, g := range c.EastWestGateways() {
		if seen[g.Name()] {
			continue
		}
		if a := c.AmbientEastWestGatewayFor(g.Service); a != nil && a.Ignored == "" {
			x := *g
			x.Addresses = a.Addresses
			out = append(out, &x)
			seen[g.Name()] = true
		}
	}
	return out
}

// probedPorts are the ports of g to probe, those its Service exposes: for
// a sidecar east-west gateway its gatewayPort (15443), 15012, 15017 and
// 15021; for the Service istiod made for an ambient istio-east-west
// Gateway (mesh.AmbientGatewayFor), the HBONE listener's port (15008),
// where remote ztunnels send (pilot/pkg/serviceregistry/ambient/
// multicluster.go: the split-horizon workload's networkGateway port), and
// 15021. It has no 15443 by design.
func probedPorts(c *mesh.Cluster, g *mesh.Gateway) []probe.Port {
	exposed := map[int]bool{}
	for _, p := range g.Service.Spec.Ports {
		exposed[int(p.Port)] = true
	}
	want := probe.DefaultPorts()
	if c.AmbientGatewayFor(g.Service) != nil {
		hbone := mesh.HBONEPort
		if a := c.AmbientEastWestGatewayFor(g.Service); a != nil {
			hbone = a.Port()
		}
		want = []probe.Port{{Number: hbone, Kind: probe.KindHBONE}, {Number: 15021, Kind: probe.KindStatus}}
	}
	var ports []probe.Port
	for _, p := range want {
		if p.Kind == probe.KindTLSPassthrough {
			p.Number = g.ServicePort
		}
		if exposed[p.Number] {
			p.Number = dialPort(g, p.Number)
			ports = append(ports, p)
		}
	}
	return ports
}

// trustDomainAliases are the trust domains a workload behind the gateway
// may present besides the cluster's own: the other revisions' trust
// domains and every revision's trustDomainAliases.
func trustDomainAliases(c *mesh.Cluster) []string {
	var out []string
	for _, r := range c.Revisions {
		for _, d := range append([]string{r.TrustDomain}, r.TrustDomainAliases...) {
			if d != c.TrustDomain && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// dialPort is the port a client dials for a Service port of the gateway:
// its nodePort on a NodePort gateway (istiod's ClusterExternalPorts).
func dialPort(g *mesh.Gateway, port int) int {
	if !g.NodePort {
		return port
	}
	for _, p := range g.Service.Spec.Ports {
		if int(p.Port) == port && p.NodePort != 0 {
			return int(p.NodePort)
		}
	}
	return port
}

func portResult(c *mesh.Cluster, g *mesh.Gateway, t probe.GatewayTarget, pr probe.PortResult, rootFPs []string, recordedAt time.Time) Result {
	r := Result{Target: fmt.Sprintf("%s port %d", t.Address, pr.Port.Number)}
	r.Evidence = []Evidence{Ev("vantage", Vantage), Ev("address", pr.Address), Ev("kind", pr.Port.Kind), Ev("outcome", pr.Outcome),
		Ev("connect", pr.Connect.Round(time.Microsecond)), Ev("handshake", pr.Handshake.Round(time.Microsecond))}
	if pr.Peer != nil {
		r.Evidence = append(r.Evidence, Ev("peer subject", pr.Peer.Subject), Ev("peer issuer", pr.Peer.Issuer),
			Ev("peer sha256", pki.Short(pr.Peer.SHA256)))
		if len(pr.Peer.URIs) > 0 {
			r.Evidence = append(r.Evidence, Ev("peer URI SANs", strings.Join(pr.Peer.URIs, ",")))
		}
	}
	if !recordedAt.IsZero() {
		r.Evidence = append(r.Evidence, Ev("recorded", recordedAt.Format(time.RFC3339)))
	}
	if t.SNI != "" && pr.Port.Kind == probe.KindTLSPassthrough {
		r.Evidence = append(r.Evidence, Ev("sni", t.SNI))
	}
	svc := g.Service
	getSvc := fmt.Sprintf("%s -n %s get svc %s -o wide", kc(c.Name), shellQuote(svc.Namespace), shellQuote(svc.Name))
	timing := fmt.Sprintf("connect %s, handshake %s", pr.Connect.Round(10*time.Microsecond), pr.Handshake.Round(10*time.Microsecond))
	switch {
	case pr.Outcome.OK():
		r.Status, r.Message = Pass, fmt.Sprintf("%s answers (%s)", pr.Port.Kind, timing)
		if pr.Port.Kind == probe.KindHBONE {
			r.Note = "checked: " + pr.Detail
		}
	case pr.Outcome.Warning():
		r.Status, r.Message = Warn, "TCP open, but no service known behind the gateway to try a TLS handshake with"
		r.Remediation = kc(c.Name) + " get svc -A"
		r.Note = fmt.Sprintf("deploy a sample service in %s to let meshdoctor test 15443 end to end", c.Name)
	default:
		r.Status = Fail
		r.Message = fmt.Sprintf("%s: %s", pr.Outcome, pr.Detail)
		switch pr.Outcome {
		case probe.OutcomeTimeout:
			r.Remediation = getSvc
			r.Note = fmt.Sprintf("check the firewall and security-group rules for port %d from this host to the load balancer", pr.Port.Number)
		case probe.OutcomeRefused, probe.OutcomeReset, probe.OutcomeClosed:
			r.Remediation = getSvc + fmt.Sprintf("\n%s -n %s get pods -l %s\nistioctl --context %s proxy-config listeners %s -n %s --port %d",
				kc(c.Name), shellQuote(svc.Namespace), shellQuote(k8slabels.SelectorFromSet(svc.Spec.Selector.Map()).String()), shellQuote(c.Name), shellQuote("deploy/"+svc.Name), shellQuote(svc.Namespace), pr.Port.Number)
		case probe.OutcomeRootMismatch:
			r.Remediation = fmt.Sprintf("%s -n istio-system get cm istio-ca-root-cert -o jsonpath='{.data.root-cert\\.pem}' | openssl x509 -noout -fingerprint -sha256", kc(c.Name))
			r.Note = fmt.Sprintf("compare this cluster's root with the mesh roots %s", pki.JoinShort(rootFPs))
		case probe.OutcomeDNS:
			r.Remediation = "dig " + shellQuote(t.Address) + "\n" + getSvc
		default:
			if pr.Port.Kind == probe.KindHBONE {
				r.Remediation = getSvc + fmt.Sprintf("\nopenssl s_client -connect %s -alpn h2 -tls1_3 </dev/null", shellQuote(pr.Address))
				break
			}
			r.Remediation = getSvc + fmt.Sprintf("\nopenssl s_client -connect %s -servername %s </dev/null", shellQuote(pr.Address), shellQuote(orDefault(t.SNI, probe.DefaultIstiodSAN)))
		}
	}
	return r
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// meshRootPool is the pool of every primary's cacerts roots (nil when
// there is none) and their fingerprints.
func meshRootPool(env *Env) (*x509.CertPool, []string) {
	roots, fps := meshRoots(env)
	if len(roots) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return pool, fps
}

// sniFor picks a service that lives in the gateway's cluster to send
// Istio's SNI for: outbound_.PORT_._.HOST.
func sniFor(c *mesh.Cluster) string {
	for i := range c.Inv.Services {
		s := &c.Inv.Services[i]
		if slices.Contains(skipNamespaces, s.Namespace) || s.Namespace == "default" || len(s.Spec.Ports) == 0 {
			continue
		}
		return fmt.Sprintf("outbound_.%d_._.%s.%s.svc.cluster.local", s.Spec.Ports[0].Port, s.Name, s.Namespace)
	}
	return ""
}
