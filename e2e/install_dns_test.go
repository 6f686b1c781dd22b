package e2e

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is the DNS a cloud gives a cluster for its load balancers'
// hostnames (an AWS ELB's): A records for the names it knows, NXDOMAIN for
// the others, on 127.0.0.77:53 (udp). istiod resolves a network gateway's
// LoadBalancer hostname by querying the nameservers of /etc/resolv.conf
// (pilot/pkg/model/network.go), so the oracle runs pilot-discovery with a
// resolv.conf naming this server (testenv.IstiodOptions.ResolvConf).
type dnsServer struct {
	conn       net.PacketConn
	resolvConf string

	mu      sync.Mutex
	records map[string][]netip.Addr // fully qualified, lower case
	done    chan struct{}
}

const dnsAddr = "127.0.0.77"

// startDNS serves records (name → IPv4 addresses) until the test ends. It
// skips the test where it cannot: binding port 53 and the mount namespace
// pilot-discovery needs for its own resolv.conf both need root.
func startDNS(t *testing.T, records map[string][]string) *dnsServer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: DNS on port 53 and a mount namespace for istiod's resolv.conf")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skipf("needs unshare (util-linux) for istiod's own resolv.conf: %v", err)
	}
	conn, err := net.ListenPacket("udp", net.JoinHostPort(dnsAddr, "53"))
	if err != nil {
		t.Skipf("needs root to serve DNS on %s:53: %v", dnsAddr, err)
	}
	s := &dnsServer{conn: conn, records: map[string][]netip.Addr{}, done: make(chan struct{})}
	s.set(records)
	s.resolvConf = filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(s.resolvConf, []byte("nameserver "+dnsAddr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	go s.serve()
	t.Cleanup(func() { conn.Close(); <-s.done })
	return s
}

// set replaces the records (the cloud deleting or creating an ELB).
func (s *dnsServer) set(records map[string][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = map[string][]netip.Addr{}
	for name, ips := range records {
		for _, ip := range ips {
			s.records[strings.ToLower(strings.TrimSuffix(name, "."))+"."] = append(s.records[strings.ToLower(strings.TrimSuffix(name, "."))+"."], netip.MustParseAddr(ip))
		}
	}
}

func (s *dnsServer) serve() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if out, err := s.answer(buf[:n]); err == nil {
			_, _ = s.conn.WriteTo(out, from)
		}
	}
}

// answer builds the reply to one query: the A records of the name, none
// for AAAA of a known name (NOERROR), NXDOMAIN for an unknown one.
func (s *dnsServer) answer(req []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	addrs, known := s.records[strings.ToLower(q.Name.String())]
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: dnsmessage.RCodeSuccess}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if q.Type != dnsmessage.TypeA || !a.Is4() {
			continue
		}
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: a.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
