// Package kubelet is a kubelet stand-in for the integration tier: a TLS
// server that implements the kubelet's two streaming endpoints, exec and
// port-forward, against simulated pods that are network namespaces. With a
// Node object pointing at it (status.addresses InternalIP and
// status.daemonEndpoints.kubeletEndpoint.Port) and pods bound to that node
// (spec.nodeName), `kubectl exec`, `kubectl port-forward` and client-go's
// remotecommand and portforward work through a real kube-apiserver exactly
// as on a real cluster.
//
// The protocols are the kubelet's own code, k8s.io/cri-streaming (the
// streaming server that container runtimes embed): SPDY/3.1 with the
// remotecommand subprotocols v1 to v4 (v4 reports exit codes as a
// metav1.Status on the error stream) and portforward.k8s.io, and their
// WebSocket variants. Clients that speak WebSocket v5 to the API server
// (kubectl's default) are translated to SPDY by the API server itself.
//
// The API server must be started with --kubelet-client-certificate and
// --kubelet-client-key (a client certificate that Options.ClientCAs
// verifies), --kubelet-certificate-authority (which verifies
// Options.ServingCert) and --kubelet-preferred-address-types=InternalIP. It
// does not refuse loopback node addresses for exec and port-forward (only
// the nodes/proxy subresource does), so the kubelet may listen on 127.0.0.1.
package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/meshdoctor/meshdoctor/internal/netns"
)

// Pod is a simulated pod: commands run, and port-forwards connect, in its
// network namespace.
type Pod struct {
	Namespace, Name string
	// NS is the pod's network namespace; nil means the host's (a
	// hostNetwork pod).
	NS *netns.NS
	// Exec, when set, runs the pod's commands instead of `ip netns exec`
	// (a test's simulated data plane).
	Exec func(ctx context.Context, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
	// Forward, when it has the port, is the address a port-forward to that
	// pod port dials instead of the namespace's loopback.
	Forward map[int32]string
}

// Options configures a kubelet stand-in.
type Options struct {
	// Addr is the listen address, host:port (the Node's InternalIP and
	// kubelet port); port 0 picks a free one (see Port).
	Addr string
	// ServingCert is presented to the API server, which verifies it with
	// its --kubelet-certificate-authority.
	ServingCert tls.Certificate
	// ClientCAs verifies the client certificate that every caller must
	// present (the API server's --kubelet-client-certificate).
	ClientCAs *x509.CertPool
	// Lookup finds a pod by namespace and name; pods it does not know are
	// answered 404, as the kubelet answers for pods it does not run.
	Lookup func(namespace, name string) (*Pod, bool)
}

// The kubelet's own defaults (streamingConnectionIdleTimeout and the
// streaming server's stream creation timeout).
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
	// dialTimeout bounds connecting to a port inside a pod.
	dialTimeout = 10 * time.Second
	// execWaitDelay is how long an exited command's output pipes may stay
	// open (held by its children) before they are closed.
	execWaitDelay = 5 * time.Second
)

// Kubelet is a running stand-in.
type Kubelet struct {
	opts   Options
	ln     net.Listener
	conns  *trackingListener
	srv    *http.Server
	served chan struct{}

	ctx    context.Context // cancelled by Close: ends commands and dials
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // handlers and the goroutines they leave behind
	once   sync.Once
}

// Start listens on opts.Addr and serves until Close. ctx bounds only the
// start-up.
func Start(ctx context.Context, opts Options) (*Kubelet, error) {
	switch {
	case len(opts.ServingCert.Certificate) == 0:
		return nil, errors.New("start kubelet: no serving certificate")
	case opts.ClientCAs == nil:
		return nil, errors.New("start kubelet: no client CAs (the API server's kubelet client certificate must be verified)")
	case opts.Lookup == nil:
		return nil, errors.New("start kubelet: no pod lookup")
	}
	var lc net.ListenConfig
	raw, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("start kubelet on %s: %w", opts.Addr, err)
	}
	k := &Kubelet{opts: opts, conns: &trackingListener{Listener: raw, conns: map[net.Conn]struct{}{}}, served: make(chan struct{})}
	k.ln = tls.NewListener(k.conns, &tls.Config{
		Certificates: []tls.Certificate{opts.ServingCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    opts.ClientCAs,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // SPDY and WebSocket upgrades need HTTP/1.1
	})
	k.ctx, k.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/portForward/{namespace}/{pod}", k.servePortForward)
	k.srv = &http.Server{
		Handler:           k.track(mux),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return k.ctx },
	}
	go func() {
		defer close(k.served)
		_ = k.srv.Serve(k.ln)
	}()
	return k, nil
}

// Port is the port the kubelet listens on (the Node's
// status.daemonEndpoints.kubeletEndpoint.Port).
func (k *Kubelet) Port() int { return k.ln.Addr().(*net.TCPAddr).Port }

// Close stops serving: it kills running commands, closes every connection
// (upgraded streams too) and waits for everything it started to end. It is
// safe to call more than once.
func (k *Kubelet) Close() error {
	var err error
	k.once.Do(func() {
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		k.cancel()
		err = k.srv.Close()
		k.conns.closeAll() // hijacked (upgraded) connections are not the server's any more
		<-k.served
		k.wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}

// track counts handlers in k.wg so that Close can wait for them, and refuses
// requests once Close has begun.
func (k *Kubelet) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.start() {
			http.Error(w, "kubelet is shutting down", http.StatusServiceUnavailable)
			return
		}
		defer k.wg.Done()
		h.ServeHTTP(w, r)
	})
}

// start adds one to k.wg unless Close has begun.
func (k *Kubelet) start() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return false
	}
	k.wg.Add(1)
	return true
}

// pod looks up the request's pod, answering 404 as the kubelet does when it
// does not run it.
func (k *Kubelet) pod(w http.ResponseWriter, r *http.Request) (*Pod, bool) {
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	p, ok := k.opts.Lookup(ns, name)
	if !ok || p == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s does not exist on this node", ns, name), http.StatusNotFound)
		return nil, false
	}
	return p, true
}

func (k *Kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, ok := k.pod(w, r)
	if !ok {
		return
	}
	remotecommand.ServeExec(w, r, executor{p}, p.Namespace+"/"+p.Name, "", r.PathValue("container"), r.URL.Query()["command"],
		opts, streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// executor runs commands in a pod's network namespace.
type executor struct{ pod *Pod }

// ExecInContainer runs cmd with `ip netns exec` in the pod's namespace (on
// the host for a pod without one). A non-zero exit is returned as a
// utilexec.ExitError, which ServeExec reports as a NonZeroExitCode status;
// death by a signal counts as exit code 128+signal, as container runtimes
// report it.
func (x executor) ExecInContainer(ctx context.Context, _, _, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	if tty {
		return errors.New("a TTY is not supported by the kubelet stand-in")
	}
	if x.pod.Exec != nil {
		var stdin io.Reader
		if in != nil {
			stdin = in
		}
		return x.pod.Exec(ctx, container, cmd, stdin, out, errw)
	}
	argv := cmd
	if x.pod.NS != nil {
		argv = append([]string{"ip", "netns", "exec", x.pod.NS.Name}, cmd...)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if in != nil {
		c.Stdin = in
	}
	if out != nil {
		c.Stdout = out
	}
	if errw != nil {
		c.Stderr = errw
	}
	c.SysProcAttr = sysProcAttr()
	c.Cancel = func() error { return killGroup(c.Process) }
	c.WaitDelay = execWaitDelay
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return utilexec.CodeExitError{Err: fmt.Errorf("%s in %s/%s (container %s): %w", cmd[0], x.pod.Namespace, x.pod.Name, container, err), Code: code}
	}
	if err != nil {
		return fmt.Errorf("run %s in %s/%s (container %s): %w", cmd[0], x.pod.Namespace, x.pod.Name, container, err)
	}
	return nil
}

func (k *Kubelet) servePortForward(w http.ResponseWriter, r *http.Request) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, ok := k.pod(w, r)
	if !ok {
		return
	}
	portforward.ServePortForward(w, r, forwarder{k, p}, p.Namespace+"/"+p.Name, "", opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// forwarder connects port-forward streams to the pod's own loopback, where
// a container's localhost-only listeners (Envoy's admin on 15000) are.
type forwarder struct {
	k   *Kubelet
	pod *Pod
}

// PortForward dials port on the pod's loopback (127.0.0.1, then ::1, as
// container runtimes do) and copies both ways until the pod closes the
// connection. Errors reach the client on the port's error stream.
func (f forwarder) PortForward(_ context.Context, name, _ string, port int32, stream io.ReadWriteCloser) error {
	if !f.k.start() {
		return errors.New("kubelet is shutting down")
	}
	defer f.k.wg.Done()
	conn, err := f.dial(port)
	if err != nil {
		return fmt.Errorf("pod %s port %d: %w", name, port, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(f.k.ctx, func() { conn.Close() })
	defer stop()
	if f.k.start() {
		// Client to pod. It ends when the client half-closes (then the pod
		// sees EOF) or when its stream is reset after this function returns;
		// Close waits for it.
		go func() {
			defer f.k.wg.Done()
			_, err := io.Copy(conn, stream)
			if err == nil {
				if cw, ok := conn.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
					return
				}
			}
			conn.Close()
		}()
	}
	_, _ = io.Copy(stream, conn) // pod to client, until the pod is done
	return nil
}

func (f forwarder) dial(port int32) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(f.k.ctx, dialTimeout)
	defer cancel()
	dial := (&net.Dialer{}).DialContext
	if addr, ok := f.pod.Forward[port]; ok {
		return dial(ctx, "tcp", addr)
	}
	if f.pod.NS != nil {
		dial = f.pod.NS.DialContext
	}
	p := strconv.Itoa(int(port))
	conn, err := dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", p))
	if err == nil {
		return conn, nil
	}
	if conn6, err6 := dial(ctx, "tcp", net.JoinHostPort("::1", p)); err6 == nil {
		return conn6, nil
	}
	return nil, err
}

// trackingListener remembers the connections it accepted until they close,
// so that Close can end the upgraded ones that http.Server no longer owns.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.done = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
