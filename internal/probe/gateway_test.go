package probe

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// serve accepts on ln and runs handle for every connection until t ends;
// cleanup closes the listener and every open connection and joins all
// goroutines.
func serve(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// listen opens a loopback listener on an ephemeral port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// tlsServer presents cert and then reads until the client goes.
func tlsServer(cert tls.Certificate) func(net.Conn) {
	return tlsServerConfig(&tls.Config{Certificates: []tls.Certificate{cert}})
}

func tlsServerConfig(cfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, tc)
	}
}

// sniRouter is a 15443 listener as an Envoy gateway with AUTO_PASSTHROUGH
// has one: it reads the ClientHello, and presents the workload certificate
// of the service the SNI names; for an SNI it has no route for, it closes the
// connection without a word, as Envoy does when no filter chain matches.
func sniRouter(routes map[string]tls.Certificate) func(net.Conn) {
	return func(c net.Conn) {
		sni, replay, ok := peekSNI(c)
		if !ok {
			return
		}
		cert, ok := routes[sni]
		if !ok {
			return
		}
		tlsServerConfig(&tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"istio-peer-exchange", "istio"},
		})(replay)
	}
}

// peekSNI reads the ClientHello from c and returns its SNI and a connection
// that replays what was read.
func peekSNI(c net.Conn) (string, net.Conn, bool) {
	var (
		seen  bytes.Buffer
		sni   string
		found bool
	)
	errStop := errors.New("hello read")
	_ = tls.Server(readOnly{r: io.TeeReader(c, &seen)}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sni, found = h.ServerName, true
			return nil, errStop
		},
	}).Handshake()
	return sni, replayConn{Conn: c, r: io.MultiReader(&seen, c)}, found
}

// readOnly is a net.Conn that reads from r and writes nowhere.
type readOnly struct {
	net.Conn
	r io.Reader
}

func (c readOnly) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c readOnly) Write(p []byte) (int, error) { return 0, io.ErrClosedPipe }

// replayConn reads from r, then from the connection.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// plainText answers a TLS ClientHello the way a plain HTTP server does.
func plainText(c net.Conn) {
	buf := make([]byte, 1024)
	if _, err := c.Read(buf); err != nil {
		return
	}
	_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

// resetter reads the ClientHello and resets the connection.
func resetter(c net.Conn) {
	buf := make([]byte, 1024)
	if _, err := c.Read(buf); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// serveStatus runs the gateway's status endpoint answering code on ln.
func serveStatus(t *testing.T, ln net.Listener, code int) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz/ready", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}
