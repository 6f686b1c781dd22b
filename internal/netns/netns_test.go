package netns

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newNS creates a namespace for t, named after the test and this process,
// and deletes it when t ends, whatever happened.
func newNS(t *testing.T) *NS {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	n, err := NewAuto(fmt.Sprintf("mdt-netns-%d-%x", os.Getpid(), h.Sum32()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close %s: %v", n.Name, err)
		}
	})
	return n
}

// serveOnce accepts one connection on ln, writes msg and closes; it is joined
// by t's cleanup.
func serveOnce(t *testing.T, ln net.Listener, msg string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, msg)
		c.Close()
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

func readAll(t *testing.T, ctx context.Context, d interface {
	DialContext(context.Context, string, string) (net.Conn, error)
}, addr string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	connect := time.Since(start)
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b), connect
}

func TestListenerInNamespaceIsReachableFromHostOverVeth(t *testing.T) {
	n := newNS(t)
	if !TestRange().Contains(n.Addr) || !TestRange().Contains(n.HostAddr) {
		t.Fatalf("addresses %s/%s outside %s", n.HostAddr, n.Addr, TestRange())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ln, err := n.Listen(ctx, "tcp", netip.AddrPortFrom(n.Addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	serveOnce(t, ln, "hello from the namespace")
	var d net.Dialer
	got, _ := readAll(t, ctx, &d, ln.Addr().String())
	if got != "hello from the namespace" {
		t.Errorf("read %q", got)
	}
}

func TestDoRestoresHostNamespace(t *testing.T) {
	n := newNS(t)
	hostNS, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := n.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == hostNS {
		t.Errorf("Do ran fn in the host namespace %s", hostNS)
	}
	// Many calls: no thread may come back switched.
	for range 20 {
		if err := n.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.Readlink("/proc/thread-self/ns/net"); got != hostNS {
			t.Fatalf("thread left in %s after Do, host is %s", got, hostNS)
		}
	}
	sentinel := errors.New("from fn")
	if err := n.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
}

func TestExecRunsInsideNamespace(t *testing.T) {
	n := newNS(t)
	out, err := n.Exec(t.Context(), "ip", "-o", "-4", "addr", "show", "dev", n.Link)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), n.Addr.String()) {
		t.Errorf("ip addr inside the namespace shows %q, want %s", out, n.Addr)
	}
}

func TestCloseRemovesNamespaceAndVethAndIsIdempotent(t *testing.T) {
	n := newNS(t)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat("/run/netns/" + n.Name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace file still there: %v", err)
	}
	if _, err := net.InterfaceByName(n.HostLink); err == nil {
		t.Errorf("host veth %s still there", n.HostLink)
	}
}

func TestNewRefusesBlockOutsideTestRangeOrInUse(t *testing.T) {
	n := newNS(t)
	tests := []struct {
		name   string
		prefix netip.Prefix
		inUse  bool
	}{
		{"block outside 10.213.0.0/16 is refused", netip.MustParsePrefix("192.168.7.0/30"), false},
		{"block wider than the test range is refused", netip.MustParsePrefix("10.0.0.0/8"), false},
		{"block of another namespace is refused as in use", n.Prefix, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(n.Name+"-x", tt.prefix)
			if err == nil {
				got.Close()
				t.Fatalf("New(%s) succeeded", tt.prefix)
			}
			if errors.Is(err, ErrInUse) != tt.inUse {
				t.Errorf("New(%s) = %v, ErrInUse want %v", tt.prefix, err, tt.inUse)
			}
		})
	}
}

func TestDelayLinkAddsDelayToConnect(t *testing.T) {
	n := newNS(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	const delay = 100 * time.Millisecond
	l, err := n.AddDelayLink(delay)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ln, err := n.Listen(ctx, "tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	serveOnce(t, ln, "slow hello")
	var d net.Dialer
	got, connect := readAll(t, ctx, &d, net.JoinHostPort(l.Addr.String(), port))
	if got != "slow hello" {
		t.Errorf("read %q", got)
	}
	if connect < delay-10*time.Millisecond {
		t.Errorf("connect over the delay link took %v, want at least %v", connect, delay)
	}
	t.Logf("connect over delay link: %v", connect)
}
