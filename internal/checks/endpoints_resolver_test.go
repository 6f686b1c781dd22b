package checks_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// fakeResolver answers gateway hostnames from a map; no DNS query leaves
// the test.
type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host (fake resolver)")
}

func TestHostnameGatewayWithoutNetworkz(t *testing.T) {
	resolver := func(r checks.Resolver) func(*checks.Env) { return func(e *checks.Env) { e.Resolver = r } }
	for _, tc := range []endpointsCase{
		{
			name:   "resolved from here",
			edit:   hostnameGateway,
			eds:    []lbEndpoint{local1, remote},
			env:    resolver(fakeResolver{elb2: {gateway2}}),
			status: map[string]checks.Status{table1: checks.Pass},
		},
		{
			name:     "resolved from here to an IP the sidecar lacks",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1, remote},
			env:      resolver(fakeResolver{elb2: {"10.214.2.77"}}),
			status:   map[string]checks.Status{table1: checks.Fail},
			contains: map[string]string{table1: "missing 10.214.2.77:15443"},
		},
		{
			name:     "resolved nowhere: warn and accept the cluster's EDS gateway entry",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1, remote},
			env:      resolver(fakeResolver{}),
			status:   map[string]checks.Status{table1: checks.Warn},
			contains: map[string]string{table1: "gateway " + elb2 + " could not be resolved from here; istiod resolves it"},
		},
		{
			name:     "no resolver and no gateway entry of that cluster: the gateway is missing",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1},
			status:   map[string]checks.Status{table1: checks.Fail},
			contains: map[string]string{table1: "missing " + elb2 + ":15443"},
		},
		{
			// istiod drops a hostname gateway it cannot resolve
			// (resolveHostnameGateways); its networkz is what it uses.
			// This warned "istiod resolves it" before: the real istiod
			// (e2e hostname-not-resolving) has no such gateway.
			name:     "istiod-networks: networkz lacks the hostname gateway, which istiod could not resolve",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1, remote},
			networkz: `[{"Network":"network1","Cluster":"cluster-1","Addr":"10.214.1.10","Port":15443}]`,
			status:   map[string]checks.Status{networks1: checks.Fail},
			contains: map[string]string{networks1: elb2 + ":15443 (cluster-2; istiod lists no gateway of network \"network2\", cluster cluster-2, port 15443: it could not resolve the hostname)"},
		},
		{
			name:     "istiod-networks: networkz lacks what the hostname resolves to",
			edit:     hostnameGateway,
			eds:      []lbEndpoint{local1, remote},
			networkz: `[{"Network":"network1","Cluster":"cluster-1","Addr":"10.214.1.10","Port":15443}]`,
			env:      resolver(fakeResolver{elb2: {gateway2}}),
			status:   map[string]checks.Status{networks1: checks.Fail},
			contains: map[string]string{networks1: "resolves here to 10.214.2.10"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { runEndpoints(t, tc) })
	}
}

// TestSystemResolverIsBounded: the CLI's resolver gives up after its
// timeout. Its DNS server is a loopback socket that never answers, so no
// query leaves the machine.
func TestSystemResolverIsBounded(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("needs a loopback UDP socket: %v", err)
	}
	defer pc.Close()
	var dials atomic.Int32
	r := checks.SystemResolver{Timeout: 100 * time.Millisecond, Resolver: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "udp", pc.LocalAddr().String())
		}}}
	_, err = r.LookupHost(context.Background(), "eastwest.elb.meshdoctor.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsTimeout {
		t.Fatalf("LookupHost against a silent server: %v, want a DNS timeout", err)
	}
	if dials.Load() == 0 {
		t.Error("the resolver never asked the loopback server: the test did not exercise it")
	}
	if !strings.Contains(err.Error(), "eastwest.elb.meshdoctor.test") {
		t.Errorf("error %q does not name the hostname", err)
	}
}
