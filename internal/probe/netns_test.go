package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/netns"
)

// newNS creates a network namespace for t in 10.213.0.0/16, named
// mdt-probe-<pid>-<hash of the test name>, deleted when t ends.
func newNS(t *testing.T) *netns.NS {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	n, err := netns.NewAuto(fmt.Sprintf("mdt-probe-%d-%x", os.Getpid(), h.Sum32()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("delete netns %s: %v", n.Name, err)
		}
	})
	return n
}

// gatewayNS runs an east-west gateway inside a fresh namespace on its real
// ports: 15443 routing helloworldSNI to the workload certificate, 15012 and
// 15017 presenting istiod's, 15021 answering 200.
func gatewayNS(t *testing.T, pki *meshPKI) *netns.NS {
	t.Helper()
	n := newNS(t)
	listenNS := func(port int) net.Listener {
		ln, err := n.Listen(t.Context(), "tcp", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	// Registered after newNS, so cleaned up (servers stopped) before the
	// namespace is deleted.
	serve(t, listenNS(15443), sniRouter(map[string]tls.Certificate{helloworldSNI: pki.workload}))
	serve(t, listenNS(15012), tlsServer(pki.istiod))
	serve(t, listenNS(15017), tlsServer(pki.istiod))
	serveStatus(t, listenNS(15021), 200)
	return n
}

func eastWest(addr string, pki *meshPKI) GatewayTarget {
	return GatewayTarget{
		Cluster: "cluster2", Network: "network2",
		Address:     addr,
		Ports:       DefaultPorts(),
		Roots:       pki.root.pool(),
		TrustDomain: "cluster.local",
		SNI:         helloworldSNI,
	}
}

func TestProbeGatewayInNamespaceOnRealPorts(t *testing.T) {
	pki := newMeshPKI(t)
	n := gatewayNS(t, pki)
	tests := []struct {
		name string
		sni  string
		want []Outcome // in DefaultPorts order
	}{
		{"east-west gateway with routed SNI passes on every port", helloworldSNI,
			[]Outcome{OutcomeOK, OutcomeOK, OutcomeOK, OutcomeOK}},
		{"SNI of a service the gateway does not route is closed on 15443", "outbound_.80_._.missing.sample.svc.cluster.local",
			[]Outcome{OutcomeClosed, OutcomeOK, OutcomeOK, OutcomeOK}},
		{"no SNI is tcp-only on 15443", "",
			[]Outcome{OutcomeTCPOnly, OutcomeOK, OutcomeOK, OutcomeOK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := eastWest(n.Addr.String(), pki)
			target.SNI = tt.sni
			got := ProbeGateway(t.Context(), &net.Dialer{}, target, 5*time.Second)
			for i, r := range got {
				if r.Outcome != tt.want[i] {
					t.Errorf("port %d: %q, want %q (%s)", r.Port.Number, r.Outcome, tt.want[i], r.Detail)
				}
				t.Logf("%s %s connect=%v handshake=%v: %s", r.Address, r.Outcome, r.Connect, r.Handshake, r.Detail)
			}
		})
	}
}

func TestProbeBlackholedGatewayTimesOutWithinTimeout(t *testing.T) {
	pki := newMeshPKI(t)
	n := gatewayNS(t, pki)
	// Inside the namespace only: replies to the host go nowhere, so SYNs
	// are silently unanswered.
	if out, err := n.Exec(t.Context(), "ip", "route", "add", "blackhole", n.HostAddr.String()+"/32"); err != nil {
		t.Fatalf("blackhole: %v: %s", err, out)
	}
	const timeout = time.Second
	const slack = time.Second
	tests := []struct {
		name     string
		cancelIn time.Duration // 0: the caller never cancels
		timeout  time.Duration
		want     Outcome
		bound    time.Duration
	}{
		{"blackholed gateway is timeout on every port within timeout", 0, timeout, OutcomeTimeout, timeout + slack},
		{"caller cancelling ends a blackholed probe before its timeout", 300 * time.Millisecond, time.Minute, OutcomeError, 300*time.Millisecond + slack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelIn > 0 {
				stop := time.AfterFunc(tt.cancelIn, cancel)
				defer stop.Stop()
			}
			start := time.Now()
			got := ProbeGateway(ctx, &net.Dialer{}, eastWest(n.Addr.String(), pki), tt.timeout)
			elapsed := time.Since(start)
			// Four ports probed one after another would take 4x: this
			// also proves they run concurrently.
			if elapsed > tt.bound {
				t.Errorf("ProbeGateway took %v, want at most %v", elapsed, tt.bound)
			}
			for _, r := range got {
				if r.Outcome != tt.want {
					t.Errorf("port %d: %q, want %q (%s)", r.Port.Number, r.Outcome, tt.want, r.Detail)
				}
				if r.Connect != 0 {
					t.Errorf("port %d: Connect %v on a connection never made", r.Port.Number, r.Connect)
				}
			}
			t.Logf("returned after %v: %s", elapsed, got[0].Detail)
		})
	}
}

func TestProbeWithoutRouteIsNoRoute(t *testing.T) {
	// The probe dials from inside a namespace, where routes may be changed
	// without touching the host.
	client := newNS(t)
	unreachable := "10.213.255.254"
	if out, err := client.Exec(t.Context(), "ip", "route", "add", "unreachable", unreachable+"/32"); err != nil {
		t.Fatalf("unreachable route: %v: %s", err, out)
	}
	tests := []struct {
		name    string
		address string
	}{
		{"gateway behind an unreachable route is no-route (EHOSTUNREACH)", unreachable},
		{"gateway on a network with no route at all is no-route (ENETUNREACH)", "10.213.255.250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := GatewayTarget{Address: tt.address, Ports: []Port{{15012, KindTLSIstiod}}}
			got := ProbeGateway(t.Context(), client, target, 2*time.Second)
			if got[0].Outcome != OutcomeNoRoute {
				t.Errorf("%q, want %q (%s)", got[0].Outcome, OutcomeNoRoute, got[0].Detail)
			}
			t.Logf("%s", got[0].Detail)
		})
	}
}

func TestProbeConnectShowsInjectedLatency(t *testing.T) {
	const delay = 100 * time.Millisecond
	pki := newMeshPKI(t)
	target := func(addr string) GatewayTarget {
		g := eastWest(addr, pki)
		g.Ports = []Port{{15012, KindTLSIstiod}}
		return g
	}
	tests := []struct {
		name string
		// inject adds delay to packets leaving n and returns the address to
		// probe.
		inject func(t *testing.T, n *netns.NS) string
	}{
		{"netem delay on the namespace veth shows in Connect", func(t *testing.T, n *netns.NS) string {
			err := n.Netem(t.Context(), delay)
			if errors.Is(err, errors.ErrUnsupported) {
				t.Skipf("needs tc netem: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			return n.Addr.String()
		}},
		{"user-space delay link into the namespace shows in Connect", func(t *testing.T, n *netns.NS) string {
			if _, err := os.Stat("/dev/net/tun"); err != nil {
				t.Skipf("needs /dev/net/tun: %v", err)
			}
			l, err := n.AddDelayLink(delay)
			if err != nil {
				t.Fatal(err)
			}
			return l.Addr.String()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := gatewayNS(t, pki)
			base := ProbeGateway(t.Context(), &net.Dialer{}, target(n.Addr.String()), 5*time.Second)[0]
			if base.Outcome != OutcomeOK {
				t.Fatalf("baseline: %q (%s)", base.Outcome, base.Detail)
			}
			addr := tt.inject(t, n)
			got := ProbeGateway(t.Context(), &net.Dialer{}, target(addr), 5*time.Second)[0]
			if got.Outcome != OutcomeOK {
				t.Fatalf("delayed: %q (%s)", got.Outcome, got.Detail)
			}
			if got.Connect < delay-10*time.Millisecond {
				t.Errorf("Connect %v with %v injected, want at least %v", got.Connect, delay, delay-10*time.Millisecond)
			}
			t.Logf("connect without delay %v, with %v injected %v (handshake %v)", base.Connect, delay, got.Connect, got.Handshake)
		})
	}
}
