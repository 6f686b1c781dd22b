package checks_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/pki"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
)

// redirectDialer sends the primary's east-west gateway ports to loopback
// listeners: the probe speaks real TLS to a server presenting the chosen
// certificate, as it would to the gateway.
type redirectDialer map[string]string

func (d redirectDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if to, ok := d[addr]; ok {
		addr = to
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// istiodTLS serves cert on a loopback listener until t ends, handshaking
// each connection and then waiting for the client to go.
func istiodTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				var b [1]byte
				_, _ = c.Read(b[:])
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func leaf(t *testing.T, ca *pki.CA, dns []string) tls.Certificate {
	t.Helper()
	l, err := pki.NewLeaf(ca, "", pki.Options{DNSNames: dns})
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{l.Cert.Raw}
	for _, c := range l.Chain {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: l.Key}
}

// revisionedRemote makes cluster-2 of install-pr-mn dial istiod-<rev>: its
// sidecars get discoveryAddress istiod-<rev>.istio-system.svc:15012 (as the
// injector of a revisioned primary writes it into PROXY_CONFIG) and it has
// the istiod-<rev> Service and EndpointSlice the remote chart renders for
// that revision, at the primary's gateway.
func revisionedRemote(inv *cluster.Inventory, rev string) {
	name := "istiod-" + rev
	for i := range inv.Pods {
		for j := range inv.Pods[i].Spec.Containers {
			ct := &inv.Pods[i].Spec.Containers[j]
			for k := range ct.Env {
				if ct.Env[k].Name == "PROXY_CONFIG" {
					ct.Env[k].Value = `{"meshId":"mesh1","discoveryAddress":"` + name + `.istio-system.svc:15012"}`
				}
			}
		}
	}
	s := inv.Service(cluster.IstioNamespace, "istiod").DeepCopy()
	s.Name = name
	inv.Services = append(inv.Services, *s)
	for _, es := range inv.EndpointSlices {
		if es.Namespace == cluster.IstioNamespace && es.ServiceName == "istiod" {
			c := es
			c.Name, c.ServiceName = name, name
			inv.EndpointSlices = append(inv.EndpointSlices, c)
		}
	}
}

// TestIstiodSAN dials, with real TLS, the path cluster-2 (the remote of
// install-pr-mn, rendered by istioctl) takes to cluster-1's istiod: its
// discovery host and its injector webhook's host, through cluster-1's
// east-west gateway 10.214.1.10, with that host as SNI.
func TestIstiodSAN(t *testing.T) {
	// What the default-revision istiod of cluster-1 puts in its
	// certificate, by getDNSNames' rules.
	defaultSANs := checks.IstiodDNSNames("", "", "default", "istio-system")
	for _, tc := range []struct {
		name string
		// remote mutates cluster-2; cert is what istiod presents.
		remote func(*cluster.Inventory)
		cert   func(t *testing.T, ca, other *pki.CA) tls.Certificate
		closed bool // nothing listens
		want   map[string]checks.Status
		msg    string
		fix    string
	}{
		{name: "istiod's certificate carries the remote's hosts: pass",
			cert: func(t *testing.T, ca, _ *pki.CA) tls.Certificate { return leaf(t, ca, defaultSANs) },
			want: map[string]checks.Status{"istiod.istio-system.svc port 15012": checks.Pass, "istiod.istio-system.svc port 443": checks.Pass},
			msg:  "presents a certificate for istiod.istio-system.svc"},
		{name: "a remote dialling istiod-1-31 while the primary's istiod is the default revision fails",
			remote: func(inv *cluster.Inventory) { revisionedRemote(inv, "1-31") },
			cert:   func(t *testing.T, ca, _ *pki.CA) tls.Certificate { return leaf(t, ca, defaultSANs) },
			want:   map[string]checks.Status{"istiod-1-31.istio-system.svc port 15012": checks.Fail, "istiod.istio-system.svc port 443": checks.Pass},
			msg:    "does not carry istiod-1-31.istio-system.svc",
			fix:    "set env deploy/istiod ISTIOD_CUSTOM_HOST=istiod-1-31.istio-system.svc"},
		{name: "a certificate from another root fails",
			cert: func(t *testing.T, _, other *pki.CA) tls.Certificate { return leaf(t, other, defaultSANs) },
			want: map[string]checks.Status{"istiod.istio-system.svc port 15012": checks.Fail, "istiod.istio-system.svc port 443": checks.Fail},
			msg:  "chain does not lead to the mesh roots"},
		{name: "nothing answering from this host only warns",
			closed: true,
			want:   map[string]checks.Status{"istiod.istio-system.svc port 15012": checks.Warn, "istiod.istio-system.svc port 443": checks.Warn},
			msg:    "could not check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			_, invs, certs, err := scenario.LoadFake(scenarioDir, "install-pr-mn", now)
			if err != nil {
				t.Fatal(err)
			}
			for _, inv := range invs {
				if inv.Context == "cluster-2" && tc.remote != nil {
					tc.remote(inv)
				}
			}
			m := mesh.Build(invs)
			ca, ok := certs.Issued("cluster-1")
			if !ok {
				t.Fatal("cluster-1 has no cacerts intermediate")
			}
			otherRoot, err := pki.NewRoot("Istio", pki.Options{})
			if err != nil {
				t.Fatal(err)
			}
			other, err := pki.NewIntermediate(otherRoot, "cluster-1", pki.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := redirectDialer{}
			if tc.closed {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				d["10.214.1.10:15012"], d["10.214.1.10:15017"] = ln.Addr().String(), ln.Addr().String()
				ln.Close()
			} else {
				addr := istiodTLS(t, tc.cert(t, ca, other))
				d["10.214.1.10:15012"], d["10.214.1.10:15017"] = addr, addr
			}
			var asked []string
			env := &checks.Env{Mesh: m, Now: now, Probe: func(ctx context.Context, tg probe.GatewayTarget) []probe.PortResult {
				asked = append(asked, tg.Address+" "+strings.Join(tg.IstiodSANs, ","))
				return probe.ProbeGateway(ctx, d, tg, 5*time.Second)
			}}
			var got []checks.Result
			for _, c := range checks.Catalogue() {
				if c.ID == "probes.istiod-san" {
					got = c.Cluster(context.Background(), env, m.Cluster("cluster-2"))
					if p := c.Cluster(context.Background(), env, m.Cluster("cluster-1")); len(p) != 1 || p[0].Status != checks.Skipped {
						t.Errorf("primary: %+v, want one skip", p)
					}
				}
			}
			seen := map[string]bool{}
			for _, r := range got {
				want, ok := tc.want[r.Target]
				if !ok {
					t.Errorf("unexpected result %s %s %q", r.Target, r.Status, r.Message)
					continue
				}
				seen[r.Target] = true
				if r.Status != want {
					t.Errorf("%s: %s %q (%s), want %s", r.Target, r.Status, r.Message, r.Note, want)
				}
				if r.Status == want && want != checks.Pass && r.Remediation == "" {
					t.Errorf("%s: %s without a remediation", r.Target, r.Status)
				}
			}
			if len(seen) != len(tc.want) {
				t.Fatalf("results for %v, want %v (probed %v)", seen, tc.want, asked)
			}
			joined := ""
			for _, r := range got {
				joined += r.Message + "\n" + r.Remediation + "\n"
			}
			if !strings.Contains(joined, tc.msg) || !strings.Contains(joined, tc.fix) {
				t.Errorf("results %q do not say %q / %q", joined, tc.msg, tc.fix)
			}
		})
	}
}

// TestIstiodDNSNames follows pilot/pkg/bootstrap/server.go getDNSNames.
func TestIstiodDNSNames(t *testing.T) {
	for _, tc := range []struct {
		custom, discovery, rev string
		want                   string
	}{
		{"", "", "default", "istio-pilot.istio-system.svc,istiod-remote.istio-system.svc,istiod.istio-system.svc"},
		{"", "istiod-1-31.istio-system.svc:15012", "1-31", "istio-pilot.istio-system.svc,istiod-1-31.istio-system.svc,istiod-remote.istio-system.svc,istiod.istio-system.svc"},
		{"istiod.example.com,10.0.0.1", "", "", "10.0.0.1,istio-pilot.istio-system.svc,istiod-remote.istio-system.svc,istiod.example.com,istiod.istio-system.svc"},
	} {
		if got := strings.Join(checks.IstiodDNSNames(tc.custom, tc.discovery, tc.rev, "istio-system"), ","); got != tc.want {
			t.Errorf("IstiodDNSNames(%q, %q, %q) = %s, want %s", tc.custom, tc.discovery, tc.rev, got, tc.want)
		}
	}
}
