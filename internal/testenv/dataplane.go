package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	utilexec "k8s.io/utils/exec"
)

// DataPlane simulates what sidecars do for the curl probes: each probe pod
// has routes from a service host:port to a round-robin balancer over the
// backends it can reach, and backends answer like Istio's helloworld
// sample ("Hello version: v1, instance: <pod>"). Commands exec'd in a pod
// run on the host with a .curlrc whose connect-to lines are the pod's
// routes, so no name is ever looked up in DNS. Everything listens on
// 127.0.0.1.
type DataPlane struct {
	dir string

	mu      sync.Mutex
	servers []*http.Server
	routes  map[string][]string // "ns/pod" -> connect-to lines
	wg      sync.WaitGroup
}

// NewDataPlane makes an empty data plane; Close stops its servers.
func NewDataPlane() (*DataPlane, error) {
	dir, err := os.MkdirTemp("", "meshdoctor-dataplane-")
	if err != nil {
		return nil, err
	}
	return &DataPlane{dir: dir, routes: map[string][]string{}}, nil
}

func (d *DataPlane) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	d.mu.Lock()
	d.servers = append(d.servers, srv)
	d.mu.Unlock()
	d.wg.Go(func() { _ = srv.Serve(ln) })
	return ln.Addr().String(), nil
}

// Backend starts a helloworld-like backend for a pod and returns its address.
func (d *DataPlane) Backend(version, instance string) (string, error) {
	return d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello version: %s, instance: %s\n", version, instance)
	}))
}

// Route makes requests from a pod to host:port go round-robin to backends
// (none: the connection is refused, as when no endpoint is known).
func (d *DataPlane) Route(namespace, pod, hostPort string, backends ...string) error {
	target := "127.0.0.1:1" // refused
	if len(backends) > 0 {
		var next atomic.Uint64
		var proxies []*httputil.ReverseProxy
		for _, b := range backends {
			u, err := url.Parse("http://" + b)
			if err != nil {
				return err
			}
			proxies = append(proxies, httputil.NewSingleHostReverseProxy(u))
		}
		addr, err := d.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proxies[next.Add(1)%uint64(len(proxies))].ServeHTTP(w, r)
		}))
		if err != nil {
			return err
		}
		target = addr
	}
	return d.Connect(namespace, pod, hostPort, target)
}

// Connect makes every connection a pod's curl opens to hostPort go to
// target instead (any scheme): how a test keeps curl away from addresses
// that are not its own.
func (d *DataPlane) Connect(namespace, pod, hostPort, target string) error {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return err
	}
	th, tp, err := net.SplitHostPort(target)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := namespace + "/" + pod
	d.routes[key] = append(d.routes[key], fmt.Sprintf("connect-to = %s:%s:%s:%s", host, port, th, tp))
	return d.writeRC(namespace, pod)
}

// home is the directory whose .curlrc holds a pod's routes.
func (d *DataPlane) home(namespace, pod string) string {
	return filepath.Join(d.dir, namespace+"_"+pod)
}

// writeRC writes a pod's .curlrc when its routes change (d.mu held), by
// rename, so that a command running at the same time reads the old file or
// the new one, never a partial one without the routes (and so never dials
// an address that is not this machine's).
func (d *DataPlane) writeRC(namespace, pod string) error {
	home := d.home(namespace, pod)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(home, ".curlrc.tmp")
	rc := strings.Join(d.routes[namespace+"/"+pod], "\n") + "\n"
	if err := os.WriteFile(tmp, []byte(rc), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(home, ".curlrc"))
}

// Exec runs a command "in" a pod: on the host, with the pod's routes in
// curl's configuration. It fits Kubelet.SetExec.
func (d *DataPlane) Exec(ctx context.Context, namespace, pod, _ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	home := d.home(namespace, pod)
	if _, err := os.Stat(filepath.Join(home, ".curlrc")); err != nil {
		// No routes: refuse rather than let curl reach the real network.
		return fmt.Errorf("no simulated routes for %s/%s: %w", namespace, pod, err)
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), "HOME="+home, "CURL_HOME="+home)
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

// Close stops every server and removes the routes.
func (d *DataPlane) Close() error {
	d.mu.Lock()
	for _, s := range d.servers {
		s.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return os.RemoveAll(d.dir)
}
