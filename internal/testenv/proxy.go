package testenv

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// proxy is an HTTP CONNECT proxy on 127.0.0.1 that maps each simulated
// cluster's name (https://cluster-1.mesh.test:6443) to its API server's
// loopback port. It lets the kubeconfig and the remote secrets name the
// clusters by non-loopback host names, as on real clusters, while every
// server listens on 127.0.0.1 only (kubeconfig proxy-url).
type proxy struct {
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	targets map[string]string // "cluster-1.mesh.test:6443" -> "127.0.0.1:port"
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

func newProxy() (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, targets: map[string]string{}, conns: map[net.Conn]bool{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) set(host, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets[host] = target
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	target, ok := p.targets[r.Host]
	p.mu.Unlock()
	if !ok {
		// A name no simulated cluster has: answer as a gateway that cannot
		// resolve it, the way a gone cluster looks from istiod.
		http.Error(w, "no such host "+r.Host, http.StatusBadGateway)
		return
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(up, down) {
		return
	}
	var tunnel sync.WaitGroup
	tunnel.Add(2)
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		defer tunnel.Done()
		if n := buf.Reader.Buffered(); n > 0 {
			_, _ = io.CopyN(up, buf, int64(n))
		}
		_, _ = io.Copy(up, down)
		closeWrite(up)
	}()
	go func() {
		defer p.wg.Done()
		defer tunnel.Done()
		_, _ = io.Copy(down, up)
		closeWrite(down)
	}()
	go func() {
		defer p.wg.Done()
		tunnel.Wait()
		p.untrack(up, down)
	}()
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		if p.conns != nil {
			delete(p.conns, c)
		}
	}
}

// track registers a tunnel's two ends for close; false when closing.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	c.Close()
}

// close stops the proxy and every tunnel, and waits for them.
func (p *proxy) close() {
	_ = p.srv.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
