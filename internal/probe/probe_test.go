package probe

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// meshPKI is a two-cluster mesh's certificates plus a stranger's.
type meshPKI struct {
	root, cluster1 *testCA
	other          *testCA // an intermediate under a different root
	istiod         tls.Certificate
	workload       tls.Certificate
}

const helloworldSNI = "outbound_.5000_._.helloworld.sample.svc.cluster.local"

func newMeshPKI(t *testing.T) *meshPKI {
	t.Helper()
	root := newRootCA(t, "Root CA")
	c1 := root.intermediate(t, "cluster1")
	return &meshPKI{
		root:     root,
		cluster1: c1,
		other:    newRootCA(t, "Root CA").intermediate(t, "cluster1"),
		istiod:   c1.issue(t, istiodLeaf()),
		workload: c1.issue(t, workloadLeaf()),
	}
}

func portOf(t *testing.T, ln net.Listener) int {
	t.Helper()
	_, p, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln := listen(t)
	p := portOf(t, ln)
	ln.Close()
	return p
}

func TestProbeGatewayLoopback(t *testing.T) {
	pki := newMeshPKI(t)
	hourAgo := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		kind   PortKind
		serve  func(t *testing.T, ln net.Listener) // nil: nothing listens
		target func(*GatewayTarget)
		want   Outcome
		check  func(t *testing.T, r PortResult)
	}{
		{
			name:  "istiod certificate chained to the mesh root is ok",
			kind:  KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) { serve(t, ln, tlsServer(pki.istiod)) },
			want:  OutcomeOK,
			check: func(t *testing.T, r PortResult) {
				if !r.Verified || r.Peer == nil || len(r.Peer.DNSNames) != 1 || r.Peer.DNSNames[0] != DefaultIstiodSAN {
					t.Errorf("Verified %v, Peer %+v", r.Verified, r.Peer)
				}
				if len(r.Chain) != 3 || r.Chain[2].SHA256 != fingerprint(pki.root.cert) {
					t.Errorf("chain %+v, want leaf, intermediate, root", r.Chain)
				}
			},
		},
		{
			name: "istiod chain from another root is root-mismatch",
			kind: KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, tlsServer(pki.other.issue(t, istiodLeaf())))
			},
			want: OutcomeRootMismatch,
			check: func(t *testing.T, r PortResult) {
				if fp := fingerprint(pki.other.up[0]); !strings.Contains(r.Detail, fp) {
					t.Errorf("detail %q does not name the presented root %s", r.Detail, fp)
				}
			},
		},
		{
			name: "istiod certificate without the istiod SAN is bad-san",
			kind: KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, tlsServer(pki.cluster1.issue(t, leafSpec{dns: []string{"istiod.other-ns.svc"}})))
			},
			want: OutcomeBadSAN,
		},
		{
			name: "istiod certificate accepted through a configured SAN is ok",
			kind: KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, tlsServer(pki.cluster1.issue(t, leafSpec{dns: []string{"istiod-1-24.istio-system.svc"}})))
			},
			target: func(g *GatewayTarget) { g.IstiodSANs = []string{"istiod-1-24.istio-system.svc"} },
			want:   OutcomeOK,
		},
		{
			name: "istiod certificate past NotAfter is expired",
			kind: KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) {
				spec := istiodLeaf()
				spec.notBefore, spec.notAfter = hourAgo.Add(-time.Hour), hourAgo
				serve(t, ln, tlsServer(pki.cluster1.issue(t, spec)))
			},
			want: OutcomeExpired,
		},
		{
			name: "istiod certificate not yet valid is expired",
			kind: KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) {
				spec := istiodLeaf()
				spec.notBefore, spec.notAfter = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
				serve(t, ln, tlsServer(pki.cluster1.issue(t, spec)))
			},
			want: OutcomeExpired,
		},
		{
			name:  "plain TCP answer where TLS is expected is not-tls",
			kind:  KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) { serve(t, ln, plainText) },
			want:  OutcomeNotTLS,
		},
		{
			name: "listener absent is refused",
			kind: KindTLSIstiod,
			want: OutcomeRefused,
		},
		{
			name:  "connection reset during the handshake is reset",
			kind:  KindTLSIstiod,
			serve: func(t *testing.T, ln net.Listener) { serve(t, ln, resetter) },
			want:  OutcomeReset,
		},
		{
			name: "passthrough workload with the mesh SPIFFE identity is ok",
			kind: KindTLSPassthrough,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, sniRouter(map[string]tls.Certificate{helloworldSNI: pki.workload}))
			},
			target: func(g *GatewayTarget) { g.SNI = helloworldSNI },
			want:   OutcomeOK,
			check: func(t *testing.T, r PortResult) {
				if r.ALPN != "istio-peer-exchange" {
					t.Errorf("ALPN %q, want istio-peer-exchange", r.ALPN)
				}
				if r.Peer == nil || len(r.Peer.URIs) != 1 || r.Peer.URIs[0] != "spiffe://cluster.local/ns/sample/sa/helloworld" {
					t.Errorf("Peer %+v", r.Peer)
				}
			},
		},
		{
			name: "passthrough workload of another trust domain is bad-san",
			kind: KindTLSPassthrough,
			serve: func(t *testing.T, ln net.Listener) {
				cert := pki.cluster1.issue(t, leafSpec{uris: []string{"spiffe://other.local/ns/sample/sa/helloworld"}})
				serve(t, ln, sniRouter(map[string]tls.Certificate{helloworldSNI: cert}))
			},
			target: func(g *GatewayTarget) { g.SNI = helloworldSNI },
			want:   OutcomeBadSAN,
		},
		{
			name: "passthrough certificate with a DNS SAN and no SPIFFE identity is bad-san",
			kind: KindTLSPassthrough,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, sniRouter(map[string]tls.Certificate{helloworldSNI: pki.istiod}))
			},
			target: func(g *GatewayTarget) { g.SNI = helloworldSNI },
			want:   OutcomeBadSAN,
		},
		{
			name: "passthrough SNI the gateway has no route for is closed",
			kind: KindTLSPassthrough,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, sniRouter(map[string]tls.Certificate{helloworldSNI: pki.workload}))
			},
			target: func(g *GatewayTarget) { g.SNI = "outbound_.5000_._.nothere.sample.svc.cluster.local" },
			want:   OutcomeClosed,
		},
		{
			name: "passthrough workload demanding a client certificate is still judged ok",
			kind: KindTLSPassthrough,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, tlsServerConfig(&tls.Config{
					Certificates: []tls.Certificate{pki.workload},
					ClientAuth:   tls.RequireAndVerifyClientCert,
					ClientCAs:    pki.root.pool(),
					MaxVersion:   tls.VersionTLS12, // the refusal then ends the client's handshake
				}))
			},
			target: func(g *GatewayTarget) { g.SNI = helloworldSNI },
			want:   OutcomeOK,
		},
		{
			name: "passthrough without SNI is tcp-only, a warning",
			kind: KindTLSPassthrough,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, sniRouter(map[string]tls.Certificate{helloworldSNI: pki.workload}))
			},
			want: OutcomeTCPOnly,
			check: func(t *testing.T, r PortResult) {
				if !r.Outcome.Warning() || r.Outcome.OK() || r.Connect <= 0 {
					t.Errorf("Warning %v, OK %v, Connect %v", r.Outcome.Warning(), r.Outcome.OK(), r.Connect)
				}
			},
		},
		{
			name:  "webhook certificate chained to the mesh root is ok",
			kind:  KindTLSWebhook,
			serve: func(t *testing.T, ln net.Listener) { serve(t, ln, tlsServer(pki.istiod)) },
			want:  OutcomeOK,
		},
		{
			name:   "webhook without mesh roots is ok and says it is unverified",
			kind:   KindTLSWebhook,
			serve:  func(t *testing.T, ln net.Listener) { serve(t, ln, tlsServer(pki.istiod)) },
			target: func(g *GatewayTarget) { g.Roots = nil },
			want:   OutcomeOK,
			check: func(t *testing.T, r PortResult) {
				if r.Verified || !strings.Contains(r.Detail, "not verified") {
					t.Errorf("Verified %v, detail %q", r.Verified, r.Detail)
				}
			},
		},
		{
			name:   "webhook certificate without the webhook's host among its SANs is bad-san when IstiodSANs name it",
			kind:   KindTLSWebhook,
			serve:  func(t *testing.T, ln net.Listener) { serve(t, ln, tlsServer(pki.istiod)) },
			target: func(g *GatewayTarget) { g.IstiodSANs = []string{"istiod-1-31.istio-system.svc"} },
			want:   OutcomeBadSAN,
			check: func(t *testing.T, r PortResult) {
				if !strings.Contains(r.Detail, "istiod-1-31.istio-system.svc") || !strings.Contains(r.Detail, DefaultIstiodSAN) {
					t.Errorf("detail %q does not name the host and the SANs presented", r.Detail)
				}
			},
		},
		{
			name: "webhook certificate for the webhook's host is ok, and that host was the SNI",
			kind: KindTLSWebhook,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, sniRouter(map[string]tls.Certificate{"istiod.example.com": pki.cluster1.issue(t, leafSpec{dns: []string{"istiod.example.com"}})}))
			},
			target: func(g *GatewayTarget) { g.IstiodSANs = []string{"istiod.example.com"} },
			want:   OutcomeOK,
		},
		{
			name: "webhook chain from another root is root-mismatch",
			kind: KindTLSWebhook,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, tlsServer(pki.other.issue(t, istiodLeaf())))
			},
			want: OutcomeRootMismatch,
		},
		{
			name: "HBONE gateway presenting its mesh identity over TLS 1.3 and h2, client certificate required, is ok",
			kind: KindHBONE,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, hboneGateway(pki.cluster1.issue(t, eastWestLeaf())))
			},
			want: OutcomeOK,
			check: func(t *testing.T, r PortResult) {
				if r.TLSVersion != "TLS 1.3" || r.ALPN != "h2" || !r.Verified {
					t.Errorf("TLS %q, ALPN %q, Verified %v; want TLS 1.3, h2, verified", r.TLSVersion, r.ALPN, r.Verified)
				}
				if r.Peer == nil || len(r.Peer.URIs) != 1 || r.Peer.URIs[0] != eastWestLeaf().uris[0] {
					t.Errorf("Peer %+v", r.Peer)
				}
				if !strings.Contains(r.Detail, "no client certificate sent") {
					t.Errorf("detail %q does not say the tunnel itself was not tried", r.Detail)
				}
			},
		},
		{
			name: "HBONE gateway from another root is root-mismatch",
			kind: KindHBONE,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, hboneGateway(pki.other.issue(t, eastWestLeaf())))
			},
			want: OutcomeRootMismatch,
		},
		{
			name: "HBONE gateway of another trust domain is bad-san",
			kind: KindHBONE,
			serve: func(t *testing.T, ln net.Listener) {
				serve(t, ln, hboneGateway(pki.cluster1.issue(t, leafSpec{uris: []string{"spiffe://other.local/ns/istio-system/sa/istio-eastwest"}})))
			},
			want: OutcomeBadSAN,
		},
		{
			name:  "15008 answering plain TCP is not-tls",
			kind:  KindHBONE,
			serve: func(t *testing.T, ln net.Listener) { serve(t, ln, plainText) },
			want:  OutcomeNotTLS,
		},
		{
			name: "nothing on 15008 is refused",
			kind: KindHBONE,
			want: OutcomeRefused,
		},
		{
			name:  "status answering 200 is ok",
			kind:  KindStatus,
			serve: func(t *testing.T, ln net.Listener) { serveStatus(t, ln, 200) },
			want:  OutcomeOK,
		},
		{
			name:  "status answering 503 is http-status",
			kind:  KindStatus,
			serve: func(t *testing.T, ln net.Listener) { serveStatus(t, ln, 503) },
			want:  OutcomeHTTPStatus,
			check: func(t *testing.T, r PortResult) {
				if r.HTTPStatus != 503 {
					t.Errorf("HTTPStatus %d, want 503", r.HTTPStatus)
				}
			},
		},
		{
			name:   "gateway name that does not resolve is dns",
			kind:   KindTLSIstiod,
			target: func(g *GatewayTarget) { g.Address = "eastwest.meshdoctor.invalid" },
			want:   OutcomeDNS,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var port int
			if tt.serve != nil {
				ln := listen(t)
				port = portOf(t, ln)
				tt.serve(t, ln)
			} else {
				port = closedPort(t)
			}
			target := GatewayTarget{
				Cluster: "cluster2", Network: "network2",
				Address:     "127.0.0.1",
				Ports:       []Port{{Number: port, Kind: tt.kind}},
				Roots:       pki.root.pool(),
				TrustDomain: "cluster.local",
			}
			if tt.target != nil {
				tt.target(&target)
			}
			const timeout = 5 * time.Second
			start := time.Now()
			got := ProbeGateway(t.Context(), loopbackDNSDialer(), target, timeout)
			if elapsed := time.Since(start); elapsed > timeout+time.Second {
				t.Errorf("probe took %v, timeout %v", elapsed, timeout)
			}
			if len(got) != 1 {
				t.Fatalf("got %d results, want 1", len(got))
			}
			r := got[0]
			if r.Outcome != tt.want {
				t.Fatalf("Outcome %q, want %q; detail: %s", r.Outcome, tt.want, r.Detail)
			}
			if r.Detail == "" || strings.Contains(r.Detail, "\n") {
				t.Errorf("detail %q is not one line", r.Detail)
			}
			if r.Outcome.OK() && r.Connect <= 0 {
				t.Errorf("Connect %v on a connected probe", r.Connect)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			t.Logf("%s: %s", r.Outcome, r.Detail)
		})
	}
}

func TestProbeGatewayKeepsPortOrderWhileProbingConcurrently(t *testing.T) {
	pki := newMeshPKI(t)
	istiod, status := listen(t), listen(t)
	serve(t, istiod, tlsServer(pki.istiod))
	serveStatus(t, status, 503)
	ports := []Port{
		{Number: portOf(t, status), Kind: KindStatus},
		{Number: closedPort(t), Kind: KindTLSWebhook},
		{Number: portOf(t, istiod), Kind: KindTLSIstiod},
		{Number: portOf(t, istiod), Kind: KindTLSPassthrough},
	}
	want := []Outcome{OutcomeHTTPStatus, OutcomeRefused, OutcomeOK, OutcomeTCPOnly}
	got := ProbeGateway(t.Context(), nil, GatewayTarget{Address: "127.0.0.1", Ports: ports, Roots: pki.root.pool()}, time.Second)
	if len(got) != len(ports) {
		t.Fatalf("got %d results, want %d", len(got), len(ports))
	}
	for i, r := range got {
		if r.Port != ports[i] || r.Outcome != want[i] {
			t.Errorf("result %d: port %+v outcome %q, want port %+v outcome %q (%s)", i, r.Port, r.Outcome, ports[i], want[i], r.Detail)
		}
	}
}

func TestProbeGatewayRejectsBadTargetsWithoutDialling(t *testing.T) {
	tests := []struct {
		name   string
		target GatewayTarget
	}{
		{"target without address is error", GatewayTarget{Ports: []Port{{15012, KindTLSIstiod}}}},
		{"port number out of range is error", GatewayTarget{Address: "127.0.0.1", Ports: []Port{{70000, KindTLSIstiod}}}},
		{"unknown port kind is error", GatewayTarget{Address: "127.0.0.1", Ports: []Port{{15012, "grpc"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ProbeGateway(context.Background(), failDialer{t}, tt.target, time.Second)
			if len(got) != 1 || got[0].Outcome != OutcomeError {
				t.Errorf("got %+v, want one error result", got)
			}
		})
	}
}

type failDialer struct{ t *testing.T }

func (d failDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	d.t.Error("dialled")
	return nil, net.ErrClosed
}

// loopbackDNSDialer resolves names only through 127.0.0.1:1, where nothing
// answers: a name that is not in /etc/hosts fails to resolve without any
// query leaving this machine.
func loopbackDNSDialer() *net.Dialer {
	return &net.Dialer{Resolver: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", "127.0.0.1:1")
	}}}
}

// eastWestLeaf is the workload certificate of the ambient east-west
// gateway's pod (service account istio-eastwest, as gen-eastwest-gateway.sh
// --ambient names the Gateway, whose deployment gets that account).
func eastWestLeaf() leafSpec {
	return leafSpec{uris: []string{"spiffe://cluster.local/ns/istio-system/sa/istio-eastwest"}}
}

// hboneGateway is 15008 of an ambient east-west gateway as istiod configures
// it (listener_waypoint.go buildConnectTerminateListener): TLS 1.3 only,
// ALPN h2, a client certificate required. Go's TLS 1.3 client finishes its
// handshake before the server refuses the missing client certificate, as
// against Envoy.
func hboneGateway(cert tls.Certificate) func(net.Conn) {
	return tlsServerConfig(&tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequireAnyClientCert,
	})
}
