package testenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/netns"
)

// GatewayOptions say what a simulated east-west gateway serves. A nil
// certificate leaves its port closed (connections refused).
type GatewayOptions struct {
	// Istiod is presented on 15012 and 15017 (istiod's DNS SAN).
	Istiod *tls.Certificate
	// Webhook, when set, replaces Istiod on 15017.
	Webhook *tls.Certificate
	// Workload is presented on 15443 to an Istio SNI ("outbound_..."); any
	// other SNI is closed without a certificate, as Envoy does.
	Workload *tls.Certificate
	// Status is what 15021 /healthz/ready answers (0: port closed).
	Status int
}

// Gateway is a simulated east-west gateway: real listeners on the real
// ports inside a network namespace made for it (10.213.0.0/16).
type Gateway struct {
	NS   *netns.NS
	Addr string

	wg  sync.WaitGroup
	lns []net.Listener
}

// StartGateway starts a gateway in a new namespace; it is torn down with
// the test. Tests skip when network namespaces are not available.
func StartGateway(t testing.TB, name string, opts GatewayOptions) *Gateway {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns for a gateway on the network: %v", err)
	}
	g, err := NewGateway(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("gateway %s: %v", name, err)
		}
	})
	return g
}

// NewGateway starts a gateway in a new namespace (root needed); Close
// removes it.
func NewGateway(name string, opts GatewayOptions) (*Gateway, error) {
	ns, err := netns.NewAuto(name)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	}
	g := &Gateway{NS: ns, Addr: ns.Addr.String()}
	ctx := context.Background()
	listen := func(port int) (net.Listener, error) {
		// Every address of its namespace (the namespace is the gateway's
		// own): its veth address and any delay link added to it.
		ln, err := ns.Listen(ctx, "tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return nil, fmt.Errorf("gateway %s port %d: %w", name, port, err)
		}
		g.lns = append(g.lns, ln)
		return ln, nil
	}
	fail := func(err error) (*Gateway, error) {
		_ = g.Close()
		return nil, err
	}
	if opts.Istiod != nil {
		ln, err := listen(15012)
		if err != nil {
			return fail(err)
		}
		g.serveTLS(ln, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return opts.Istiod, nil })
		webhook := opts.Istiod
		if opts.Webhook != nil {
			webhook = opts.Webhook
		}
		if ln, err = listen(15017); err != nil {
			return fail(err)
		}
		g.serveTLS(ln, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return webhook, nil })
	}
	if opts.Workload != nil {
		ln, err := listen(15443)
		if err != nil {
			return fail(err)
		}
		g.serveTLS(ln, func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if !strings.HasPrefix(h.ServerName, "outbound_.") {
				return nil, errors.New("no route for SNI " + h.ServerName)
			}
			return opts.Workload, nil
		})
	}
	if opts.Status != 0 {
		ln, err := listen(15021)
		if err != nil {
			return fail(err)
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(opts.Status)
		})}
		g.wg.Go(func() { _ = srv.Serve(ln) })
	}
	return g, nil
}

// Close stops the listeners and removes the namespace.
func (g *Gateway) Close() error {
	g.close()
	return g.NS.Close()
}

func (g *Gateway) serveTLS(ln net.Listener, cert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	cfg := &tls.Config{GetCertificate: cert, MinVersion: tls.VersionTLS12}
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				// Answer a request after the handshake (curl from a pod
				// sends one) and then close; a prober that only shakes
				// hands closes first. Closing after reading part of a
				// request made the client see a reset or an empty reply
				// depending on timing.
				req, err := http.ReadRequest(bufio.NewReader(tc))
				if err != nil {
					return
				}
				req.Body.Close()
				_, _ = io.WriteString(tc, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			})
		}
	})
}

func (g *Gateway) close() {
	for _, ln := range g.lns {
		ln.Close()
	}
	g.wg.Wait()
}
