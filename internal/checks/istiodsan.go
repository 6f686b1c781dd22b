package checks

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/pki"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// istiodSANChecks probe, from this host, the path a remote cluster takes to
// a primary's istiod with the exact host the remote uses.
var istiodSANChecks = []Check{
	{ID: "probes.istiod-san", Title: "a remote cluster's istiod hosts (discovery address, injector webhook) are among the SANs of the certificate istiod presents there on 15012 and 15017", Scope: PerCluster, Network: true,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServices, cluster.ResEndpointSlices, cluster.ResMutatingWebhooks}, Cluster: istiodSAN},
}

// defaultDiscoveryAddress is what a proxy dials when nothing sets
// discoveryAddress (pkg/config/mesh DefaultProxyConfig).
const defaultDiscoveryAddress = "istiod.istio-system.svc:15012"

// maxProxyConfig bounds the PROXY_CONFIG env value decoded.
const maxProxyConfig = 64 << 10

// istiodUse is one host a remote uses to reach istiod, on one port.
type istiodUse struct {
	host   string
	port   int // the port the remote dials at host
	kind   probe.PortKind
	source string // where the host was read
}

// istiodHosts are the hosts and ports the remote's proxies and its API
// server dial for istiod: the proxies' discoveryAddress (the injector
// writes it into PROXY_CONFIG when it differs from Istio's default,
// pkg/kube/inject; pilot-agent otherwise dials the default) and each Istio
// injector webhook's clientConfig (url, or service as
// <name>.<namespace>.svc, the name the API server verifies).
func istiodHosts(env *Env, c *mesh.Cluster) []istiodUse {
	var out []istiodUse
	add := func(u istiodUse) {
		if !slices.ContainsFunc(out, func(o istiodUse) bool { return o.host == u.host && o.port == u.port && o.kind == u.kind }) {
			out = append(out, u)
		}
	}
	if addr, src := discoveryAddress(env, c); addr != "" {
		if h, p, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 && h != "" {
				add(istiodUse{host: strings.ToLower(h), port: n, kind: probe.KindTLSIstiod, source: src})
			}
		}
	}
	for _, wc := range c.Inv.MutatingWebhooks {
		if !strings.HasPrefix(wc.Name, "istio-sidecar-injector") && !strings.HasPrefix(wc.Name, "istio-revision-tag-") {
			continue
		}
		for _, w := range wc.Webhooks {
			src := "webhook " + wc.Name + "/" + w.Name
			switch {
			case w.URL != "":
				u, err := url.Parse(w.URL)
				if err != nil || u.Hostname() == "" {
					continue
				}
				port := 443
				if p := u.Port(); p != "" {
					if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 {
						port = n
					}
				}
				add(istiodUse{host: strings.ToLower(u.Hostname()), port: port, kind: probe.KindTLSWebhook, source: src + " url"})
			case w.Service != nil:
				port := 443
				if w.Service.Port != 0 {
					port = int(w.Service.Port)
				}
				add(istiodUse{host: w.Service.Name + "." + w.Service.Namespace + ".svc", port: port, kind: probe.KindTLSWebhook, source: src + " service"})
			}
		}
	}
	return out
}

// discoveryAddress is the discoveryAddress the remote's sidecars were
// given: PROXY_CONFIG of a sidecar pod read, else the primaries' mesh
// config when they agree (the injector of a primary renders it), else
// Istio's default.
func discoveryAddress(env *Env, c *mesh.Cluster) (addr, source string) {
	for i := range c.Inv.Pods {
		p := &c.Inv.Pods[i]
		for _, ct := range p.Spec.Containers {
			if ct.Name != "istio-proxy" {
				continue
			}
			for _, e := range ct.Env {
				if e.Name != "PROXY_CONFIG" || len(e.Value) > maxProxyConfig {
					continue
				}
				var pc struct {
					DiscoveryAddress string `json:"discoveryAddress"`
				}
				if json.Unmarshal([]byte(e.Value), &pc) == nil {
					if pc.DiscoveryAddress != "" {
						return pc.DiscoveryAddress, "PROXY_CONFIG of pod " + p.Namespace + "/" + p.Name
					}
					return defaultDiscoveryAddress, "pod " + p.Namespace + "/" + p.Name + " (PROXY_CONFIG sets none: Istio's default)"
				}
			}
		}
	}
	var seen []string
	for _, p := range env.Mesh.Primaries() {
		if p.MeshConfig != nil && p.MeshConfig.GetDefaultConfig().GetDiscoveryAddress() != "" {
			seen = append(seen, p.MeshConfig.GetDefaultConfig().GetDiscoveryAddress())
		}
	}
	slices.Sort(seen)
	if seen = slices.Compact(seen); len(seen) == 1 {
		return seen[0], "the primaries' mesh config (no sidecar pod of this cluster read)"
	}
	return defaultDiscoveryAddress, "Istio's default (no sidecar pod of this cluster read)"
}

// istiodPath is where a host leads from the remote: the address and port
// dialled, and the primary that serves there (nil: none known).
type istiodPath struct {
	addr    string
	port    int
	primary *mesh.Cluster
	via     string
}

// resolveIstiod follows a host the way the remote's clients do: a
// <name>.<namespace>.svc[.cluster.local] name through the remote's Service
// (ExternalName, or the addresses of its EndpointSlices, at the Service
// port's endpoint port); any other name or IP as it is. It returns why not
// when the path cannot be followed from here.
func resolveIstiod(env *Env, c *mesh.Cluster, u istiodUse) (istiodPath, string) {
	h := strings.TrimSuffix(strings.TrimSuffix(u.host, "."), ".cluster.local")
	parts := strings.Split(h, ".")
	if len(parts) == 3 && parts[2] == "svc" {
		s := c.Inv.Service(parts[1], parts[0])
		if s == nil {
			return istiodPath{}, fmt.Sprintf("no Service %s/%s in this cluster for %s", parts[1], parts[0], u.host)
		}
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			p := istiodPath{addr: s.Spec.ExternalName, port: u.port, via: "ExternalName Service " + parts[1] + "/" + parts[0]}
			p.primary = primaryAt(env, p.addr)
			return p, ""
		}
		var sp *corev1.ServicePort
		for i := range s.Spec.Ports {
			if int(s.Spec.Ports[i].Port) == u.port {
				sp = &s.Spec.Ports[i]
			}
		}
		if sp == nil {
			return istiodPath{}, fmt.Sprintf("Service %s/%s has no port %d", s.Namespace, s.Name, u.port)
		}
		nSlices := 0
		for _, es := range c.Inv.EndpointSlices {
			if es.Namespace != s.Namespace || es.ServiceName != s.Name {
				continue
			}
			nSlices++
			port := 0
			for _, ep := range es.Ports {
				if ep.Port != nil && (ep.Name != nil && *ep.Name == sp.Name || ep.Name == nil && sp.Name == "") {
					port = int(*ep.Port)
				}
			}
			if port == 0 {
				continue
			}
			for _, e := range es.Endpoints {
				for _, a := range e.Addresses {
					if p := primaryAt(env, a); p != nil {
						return istiodPath{addr: a, port: port, primary: p, via: fmt.Sprintf("Service %s/%s port %d → %s:%d", s.Namespace, s.Name, u.port, a, port)}, ""
					}
				}
			}
		}
		if nSlices == 0 {
			return istiodPath{}, fmt.Sprintf("no EndpointSlice of Service %s/%s listed: where it leads is not known here", s.Namespace, s.Name)
		}
		return istiodPath{}, fmt.Sprintf("Service %s/%s port %d has no endpoint at a primary's east-west gateway or istiod load balancer (a local istiod, or endpoints this host cannot dial): cannot follow the remote's path from here", s.Namespace, s.Name, u.port)
	}
	return istiodPath{addr: u.host, port: u.port, primary: primaryAt(env, u.host), via: "the host itself"}, ""
}

// primaryAt is the primary whose east-west gateway or istiod load
// balancer has addr.
func primaryAt(env *Env, addr string) *mesh.Cluster {
	for _, p := range env.Mesh.Primaries() {
		if p.GatewayWithAddress(addr) != nil {
			return p
		}
		if s := p.Inv.Service(cluster.IstioNamespace, "istiod"); s != nil {
			for _, ing := range s.Status.LoadBalancer.Ingress {
				if ing.IP == addr || ing.Hostname == addr {
					return p
				}
			}
		}
	}
	return nil
}

// primaryRoots are the roots istiod of p signs with: its cacerts roots,
// else the istio-ca-root-cert it distributes; nil when neither parses.
func primaryRoots(p *mesh.Cluster) (*x509.CertPool, []string) {
	var roots []*x509.Certificate
	if p.Inv.CACerts != nil {
		bu, _ := parseBundle(p.Inv.CACerts)
		roots = bu.roots
	}
	if len(roots) == 0 {
		if cm := p.Inv.ConfigMap("istio-ca-root-cert"); cm != nil {
			roots, _ = pki.ParseCerts(cm.Data["root-cert.pem"])
		}
	}
	if len(roots) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return pool, pki.FingerprintSet(roots)
}

// IstiodDNSNames are the DNS SANs istiod of revision rev puts in its
// serving certificate (pilot/pkg/bootstrap/server.go getDNSNames): the
// ISTIOD_CUSTOM_HOST values, the host of its own mesh config's
// discoveryAddress, istiod, istiod-remote and istio-pilot in its namespace,
// and istiod-<rev> for a revision other than default; sorted.
func IstiodDNSNames(customHost, discoveryAddress, rev, namespace string) []string {
	var out []string
	if customHost != "" {
		out = append(out, strings.Split(customHost, ",")...)
	}
	if discoveryAddress == "" {
		discoveryAddress = defaultDiscoveryAddress
	}
	if h, _, err := net.SplitHostPort(discoveryAddress); err == nil {
		out = append(out, h)
	}
	known := []string{"istiod", "istiod-remote", "istio-pilot"}
	if rev != "" && rev != mesh.DefaultRevision {
		known = append(known, "istiod-"+rev)
	}
	for _, k := range known {
		out = append(out, k+"."+namespace+".svc")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// revisionSANs is what each istiod revision of p computes, for the evidence.
func revisionSANs(p *mesh.Cluster) []Evidence {
	var ev []Evidence
	for _, r := range p.Revisions {
		if r.Istiod == nil {
			continue
		}
		custom, _ := envOf(r.Istiod.Spec.Template.Spec.Containers, "ISTIOD_CUSTOM_HOST")
		da := ""
		if r.MeshConfig != nil {
			da = r.MeshConfig.GetDefaultConfig().GetDiscoveryAddress()
		}
		ev = append(ev, Ev("SANs istiod "+r.Istiod.Name+" computes", strings.Join(IstiodDNSNames(custom, da, r.Name, cluster.IstioNamespace), ",")))
	}
	return ev
}

func envOf(cts []corev1.Container, name string) (string, bool) {
	for _, ct := range cts {
		for _, e := range ct.Env {
			if e.Name == name {
				return e.Value, true
			}
		}
	}
	return "", false
}

func istiodSAN(ctx context.Context, env *Env, c *mesh.Cluster) []Result {
	if c.Role != mesh.Remote {
		return []Result{skipf("not applicable: %s cluster (its proxies reach their own istiod)", c.Role)}
	}
	if env.Probe == nil {
		return []Result{skipf("no prober configured")}
	}
	uses := istiodHosts(env, c)
	if len(uses) == 0 {
		return []Result{skipf("no discovery address and no Istio injector webhook found in this cluster")}
	}
	var out []Result
	for _, u := range uses {
		target := fmt.Sprintf("%s port %d", u.host, u.port)
		ev := []Evidence{Ev("host", u.host), Ev("from", u.source)}
		path, why := resolveIstiod(env, c, u)
		if why != "" {
			r := with(skipf("cannot tell: %s", why), ev...)
			r.Target = target
			out = append(out, r)
			continue
		}
		addr := path.addr
		var roots *x509.CertPool
		var fps []string
		if path.primary != nil {
			if o, ok := env.GatewayOverrides[path.primary.Name]; ok && path.primary.GatewayWithAddress(addr) != nil {
				addr = o
			}
			roots, fps = primaryRoots(path.primary)
			ev = append(ev, Ev("primary", path.primary.Name))
			ev = append(ev, revisionSANs(path.primary)...)
		} else {
			roots, fps = meshRootPool(env)
		}
		ev = append(ev, Ev("path", path.via), Ev("vantage", Vantage))
		if len(fps) > 0 {
			ev = append(ev, Ev("roots sha256", pki.JoinShort(fps)))
		}
		t := probe.GatewayTarget{Cluster: c.Name, Network: c.Network, Address: addr, Ports: []probe.Port{{Number: path.port, Kind: u.kind}},
			Roots: roots, IstiodSANs: []string{u.host}}
		results := env.Probe(ctx, t)
		if len(results) != 1 {
			r := with(skipf("no recorded probe of %s for %s in the snapshot", addr, u.host), ev...)
			r.Target = target
			out = append(out, r)
			continue
		}
		r := istiodSANResult(env, c, path, u, results[0], roots != nil)
		r.Target = target
		r.Evidence = append(ev, r.Evidence...)
		out = append(out, r)
	}
	return out
}

func istiodSANResult(env *Env, c *mesh.Cluster, path istiodPath, u istiodUse, pr probe.PortResult, rootsKnown bool) Result {
	r := Result{Evidence: []Evidence{Ev("address", pr.Address), Ev("sni", u.host), Ev("outcome", pr.Outcome)}}
	if pr.Peer != nil {
		r.Evidence = append(r.Evidence, Ev("peer DNS SANs", orNone(strings.Join(pr.Peer.DNSNames, ","))), Ev("peer sha256", pki.Short(pr.Peer.SHA256)))
	}
	if !env.RecordedAt.IsZero() {
		r.Evidence = append(r.Evidence, Ev("recorded", env.RecordedAt.Format(time.RFC3339)))
	}
	who := "the remote's proxies"
	if u.kind == probe.KindTLSWebhook {
		who = "the remote's API server (sidecar injection)"
	}
	sclient := fmt.Sprintf("openssl s_client -connect %s -servername %s </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName", shellQuote(pr.Address), shellQuote(u.host))
	switch {
	case pr.Outcome.OK():
		r.Status, r.Message = Pass, fmt.Sprintf("istiod presents a certificate for %s on %s", u.host, pr.Address)
		if !rootsKnown {
			r.Note = "the chain was not verified: no root of the primary is known (no cacerts, no istio-ca-root-cert)"
		}
	case pr.Outcome == probe.OutcomeBadSAN:
		r.Status = Fail
		r.Message = fmt.Sprintf("istiod's certificate on %s does not carry %s, the host %s dial: they refuse it (%s)", pr.Address, u.host, who, pr.Detail)
		r.Remediation = sclient
		r.Note = "istiod adds the values of ISTIOD_CUSTOM_HOST to its certificate (getDNSNames); a revisioned istiod adds only its own istiod-<rev> name"
		if p := path.primary; p != nil {
			deploy := "istiod"
			if p.Istiod != nil {
				deploy = p.Istiod.Name
			}
			hosts := u.host
			if cur, ok := p.EnvValue("ISTIOD_CUSTOM_HOST"); ok && cur != "" {
				hosts = cur + "," + u.host
			}
			r.Remediation += fmt.Sprintf("\n%s -n istio-system set env deploy/%s ISTIOD_CUSTOM_HOST=%s", kc(p.Name), shellQuote(deploy), shellQuote(hosts))
			r.Note += fmt.Sprintf("; the second command adds %s to istiod %s in %s (keep it in the install too: values.pilot.env.ISTIOD_CUSTOM_HOST), or point the remote at a name istiod carries (see the evidence)", u.host, deploy, p.Name)
		}
	case pr.Outcome == probe.OutcomeRootMismatch || pr.Outcome == probe.OutcomeExpired:
		r.Status = Fail
		r.Message = fmt.Sprintf("istiod's certificate for %s on %s: %s", u.host, pr.Address, pr.Detail)
		r.Remediation = fmt.Sprintf("%s -n istio-system get cm istio-ca-root-cert -o jsonpath='{.data.root-cert\\.pem}' | openssl x509 -noout -fingerprint -sha256\n%s", kc(c.Name), sclient)
		r.Note = "the remote's proxies verify istiod against the istio-ca-root-cert of their namespace: it must be the primary's root"
	case pr.Outcome == probe.OutcomeClosed || pr.Outcome == probe.OutcomeReset || pr.Outcome == probe.OutcomeNotTLS:
		r.Status = Fail
		r.Message = fmt.Sprintf("%s with SNI %s: %s: %s cannot reach istiod there", pr.Address, u.host, pr.Outcome, who)
		r.Remediation = sclient
		if p := path.primary; p != nil {
			r.Remediation += fmt.Sprintf("\n%s get gateways.networking.istio.io,virtualservices.networking.istio.io -A", kc(p.Name))
			r.Note = "an east-west gateway closes a connection whose SNI no route matches: istiod must be exposed for this host (samples/multicluster/expose-istiod.yaml, or expose-istiod-rev.yaml.tmpl for a revision)"
		}
	default:
		// Unreachable from here says nothing of the remote's own path.
		r.Status = Warn
		r.Message = fmt.Sprintf("could not check %s from this host: %s: %s", pr.Address, pr.Outcome, pr.Detail)
		r.Remediation = sclient
		r.Note = fmt.Sprintf("meshdoctor dials from its own host; the remote may still reach %s (see gateway.reachability): run the command where the remote's traffic leaves", pr.Address)
	}
	return r
}
