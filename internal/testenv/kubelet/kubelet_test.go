//go:build linux

package kubelet_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/meshdoctor/meshdoctor/internal/netns"
	"github.com/meshdoctor/meshdoctor/internal/testenv/kubelet"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// spdystream's Connection.Close leaves a goroutine that offers the
		// close error to a reader for up to a second: give those time to end.
		var err error
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			err = goleak.Find(
				// client-go's port-forwarder leaks these when creating a
				// stream times out on a busy machine ("Error creating
				// forwarding stream ... Timeout occurred"): its
				// handleConnection goroutine waits forever to send on an
				// unread error channel, and spdystream waits for a reply
				// that never comes. Not ours to end.
				goleak.IgnoreTopFunction("k8s.io/client-go/tools/portforward.(*PortForwarder).handleConnection.func1"),
				goleak.IgnoreAnyFunction("github.com/moby/spdystream.(*Stream).waitWriteReply"),
			)
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	nodeName = "node-a"
	podNS    = "istio-system"
	podName  = "gw"
	// ghostName is a pod the API server has, bound to the node, that the
	// kubelet does not run.
	ghostName = "ghost"
)

// TestStreamingThroughAPIServer execs into and port-forwards to a pod in a
// network namespace through a real kube-apiserver, with the clients kubectl
// uses (WebSocket first, SPDY on upgrade failure) and with each protocol
// alone.
func TestStreamingThroughAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	root := repoRoot(t)
	cl := startCluster(ctx, t, root)

	ns := newNS(t)
	podIP := ns.Addr.String()
	serveHTTP(ctx, t, ns, "127.0.0.1:15000", "envoy admin on localhost")
	serveHTTP(ctx, t, ns, net.JoinHostPort(podIP, "8080"), "app on the pod IP")

	pods := map[string]*kubelet.Pod{podNS + "/" + podName: {Namespace: podNS, Name: podName, NS: ns}}
	k, err := kubelet.Start(ctx, kubelet.Options{
		// Loopback: the API server does not refuse it for exec and
		// port-forward (the "node proxy refuses loopback" subtest shows where it does).
		Addr:        "127.0.0.1:0",
		ServingCert: cl.kubeletServing,
		ClientCAs:   cl.caPool(),
		Lookup: func(namespace, name string) (*kubelet.Pod, bool) {
			p, ok := pods[namespace+"/"+name]
			return p, ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Errorf("close kubelet: %v", err)
		}
	})
	registerNode(ctx, t, cl.client, "127.0.0.1", k.Port())
	createPod(ctx, t, cl.client, podName, podIP)
	createPod(ctx, t, cl.client, ghostName, "")

	t.Run("exec", func(t *testing.T) {
		for _, proto := range []string{"fallback", "websocket", "spdy"} {
			t.Run(proto+"/exit code", func(t *testing.T) {
				out, errOut, err := execIn(ctx, t, cl.config, proto, podName, nil, "sh", "-c", "echo hi; echo oops >&2; exit 3")
				if out != "hi\n" || errOut != "oops\n" {
					t.Errorf("stdout %q, stderr %q, want \"hi\\n\", \"oops\\n\"", out, errOut)
				}
				var ce utilexec.CodeExitError
				if !errors.As(err, &ce) || ce.Code != 3 {
					t.Errorf("err = %#v, want exec.CodeExitError with code 3", err)
				}
			})
		}
		t.Run("curl the pod IP from inside", func(t *testing.T) {
			curl, err := exec.LookPath("curl")
			if err != nil {
				t.Skipf("needs curl: %v", err)
			}
			out, errOut, err := execIn(ctx, t, cl.config, "fallback", podName, nil, curl, "-s", "-m", "5", "http://"+net.JoinHostPort(podIP, "8080")+"/")
			if err != nil || out != "app on the pod IP" {
				t.Errorf("curl: %q, stderr %q, err %v", out, errOut, err)
			}
		})
		t.Run("runs in the pod's network namespace", func(t *testing.T) {
			out, _, err := execIn(ctx, t, cl.config, "fallback", podName, nil, "ip", "-o", "-4", "addr", "show")
			if err != nil || !strings.Contains(out, podIP+"/") {
				t.Errorf("addresses seen by the command: %q, err %v; want %s", out, err, podIP)
			}
		})
		t.Run("stdin", func(t *testing.T) {
			for _, proto := range []string{"websocket", "spdy"} {
				out, _, err := execIn(ctx, t, cl.config, proto, podName, strings.NewReader("ping\n"), "cat")
				if err != nil || out != "ping\n" {
					t.Errorf("%s: cat: %q, err %v", proto, out, err)
				}
			}
		})
		t.Run("command not found", func(t *testing.T) {
			_, _, err := execIn(ctx, t, cl.config, "fallback", podName, nil, "no-such-command-md")
			var ce utilexec.CodeExitError
			if !errors.As(err, &ce) || ce.Code == 0 {
				t.Errorf("err = %v, want a non-zero exit code", err)
			}
		})
		t.Run("unknown pod", func(t *testing.T) {
			for _, proto := range []string{"fallback", "spdy"} {
				start := time.Now()
				_, _, err := execIn(ctx, t, cl.config, proto, ghostName, nil, "true")
				if err == nil || !strings.Contains(err.Error(), "does not exist") {
					t.Errorf("%s: err = %v, want the kubelet's 404", proto, err)
				}
				if d := time.Since(start); d > time.Minute {
					t.Errorf("%s: took %v", proto, d)
				}
			}
		})
	})

	t.Run("port-forward", func(t *testing.T) {
		for _, proto := range []string{"fallback", "websocket", "spdy"} {
			t.Run(proto+"/localhost in the pod", func(t *testing.T) {
				fw := forward(ctx, t, cl.config, proto, podName, 15000)
				for i := range 2 { // two connections over one forward
					body, err := get(ctx, fw)
					if err != nil || body != "envoy admin on localhost" {
						t.Errorf("GET %d through port-forward: %q, %v", i, body, err)
					}
				}
			})
		}
		t.Run("closed port", func(t *testing.T) {
			fw := forward(ctx, t, cl.config, "fallback", podName, 15001)
			start := time.Now()
			if body, err := get(ctx, fw); err == nil {
				t.Errorf("GET to a port nobody listens on: %q", body)
			}
			if d := time.Since(start); d > time.Minute {
				t.Errorf("took %v", d)
			}
		})
		t.Run("unknown pod", func(t *testing.T) {
			for _, proto := range []string{"fallback", "spdy"} {
				start := time.Now()
				err := forwardErr(ctx, t, cl.config, proto, ghostName, 15000)
				if err == nil {
					t.Errorf("%s: port-forward to a pod the kubelet does not run succeeded", proto)
				}
				if d := time.Since(start); d > time.Minute {
					t.Errorf("%s: took %v", proto, d)
				}
			}
		})
	})

	t.Run("node proxy refuses loopback", func(t *testing.T) {
		// Exec and port-forward above reached a kubelet on 127.0.0.1; the
		// nodes/proxy subresource is where the API server refuses it.
		// (DoRaw returns the Status body; the error's message is generic.)
		body, err := cl.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeName, "proxy", "healthz").DoRaw(ctx)
		if !apierrors.IsBadRequest(err) || !strings.Contains(string(body), "address not allowed") {
			t.Errorf("node proxy to a loopback kubelet: %v %s, want 400 address not allowed", err, body)
		}
	})
}

// TestRefusesClientsWithoutCertificate dials the kubelet directly, as
// something other than the API server would.
func TestRefusesClientsWithoutCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pki := newPKI(t)
	k, err := kubelet.Start(ctx, kubelet.Options{
		Addr: "127.0.0.1:0", ServingCert: pki.kubeletServing, ClientCAs: pki.caPool(),
		Lookup: func(string, string) (*kubelet.Pod, bool) { return nil, false },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.caPool()}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/exec/a/b/c?command=true&output=1", k.Port()))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("request without a client certificate answered %s", resp.Status)
	}
	// With the client certificate: the pod is unknown.
	hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.caPool(), Certificates: []tls.Certificate{pki.kubeletClient}}}
	resp, err = hc.Get(fmt.Sprintf("https://127.0.0.1:%d/exec/a/b/c?command=true&output=1", k.Port()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown pod: %s, want 404", resp.Status)
	}
}

// TestExecWebSocketDirect speaks the kubelet's own WebSocket exec protocol
// (v4.channel.k8s.io), which an API server that does not translate
// WebSocket to SPDY passes through unchanged.
func TestExecWebSocketDirect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	ns := newNS(t)
	cfg := directKubelet(ctx, t, &kubelet.Pod{Namespace: podNS, Name: podName, NS: ns})
	q := url.Values{"command": {"sh", "-c", "echo hi; exit 3"}, "output": {"1"}, "error": {"1"}}
	ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET",
		cfg.Host+"/exec/"+podNS+"/"+podName+"/c?"+q.Encode(), "v4.channel.k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: io.Discard})
	var ce utilexec.CodeExitError
	if out.String() != "hi\n" || !errors.As(err, &ce) || ce.Code != 3 {
		t.Errorf("stdout %q, err %v; want \"hi\\n\" and exit code 3", out.String(), err)
	}
}

// directKubelet starts a kubelet that runs pod and returns a client
// configuration that reaches it directly, with the API server's kubelet
// client certificate.
func directKubelet(ctx context.Context, t *testing.T, pod *kubelet.Pod) *rest.Config {
	t.Helper()
	pki := newPKI(t)
	k, err := kubelet.Start(ctx, kubelet.Options{
		Addr: "127.0.0.1:0", ServingCert: pki.kubeletServing, ClientCAs: pki.caPool(),
		Lookup: func(namespace, name string) (*kubelet.Pod, bool) {
			return pod, namespace == pod.Namespace && name == pod.Name
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", k.Port()),
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM, CertData: pki.kubeletClientPEM, KeyData: pki.kubeletClientKey},
	}
}

// TestCloseEndsStreams closes the kubelet while a command runs and a
// port-forward connection is open: Close returns, the command is killed and
// the clients see their streams end.
func TestCloseEndsStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	pki := newPKI(t)
	ns := newNS(t)
	ln, err := ns.Listen(ctx, "tcp", "127.0.0.1:15000")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // held open, never answered
		}
		close(accepted)
	}()
	t.Cleanup(func() {
		ln.Close()
		if c, ok := <-accepted; ok { // not taken by the test
			c.Close()
		}
	})
	pod := &kubelet.Pod{Namespace: podNS, Name: podName, NS: ns}
	k, err := kubelet.Start(ctx, kubelet.Options{
		Addr: "127.0.0.1:0", ServingCert: pki.kubeletServing, ClientCAs: pki.caPool(),
		Lookup: func(string, string) (*kubelet.Pod, bool) { return pod, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	cfg := &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", k.Port()),
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM, CertData: pki.kubeletClientPEM, KeyData: pki.kubeletClientKey},
	}

	// A long command, straight to the kubelet over SPDY; it prints its pid.
	q := url.Values{"command": {"sh", "-c", "echo $$; exec sleep 600"}, "output": {"1"}, "error": {"1"}}
	u, _ := url.Parse(cfg.Host + "/exec/" + podNS + "/" + podName + "/c?" + q.Encode())
	ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	execDone := make(chan error, 1)
	go func() {
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: pw, Stderr: io.Discard})
		pw.CloseWithError(err)
		execDone <- err
	}()
	var pid int
	if _, err := fmt.Fscan(pr, &pid); err != nil {
		t.Fatalf("read the command's pid: %v", err)
	}
	go io.Copy(io.Discard, pr) // until the stream ends

	// A port-forward connection held open by the pod.
	pfURL, _ := url.Parse(cfg.Host + "/portForward/" + podNS + "/" + podName)
	fw := startForward(ctx, t, cfg, "spdy", pfURL, 15000)
	conn, err := net.Dial("tcp", fw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-ctx.Done():
		t.Fatal("the pod never saw the forwarded connection")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("command (pid %d) not running: %v", pid, err)
	}

	start := time.Now()
	if err := k.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	// Generous bounds: they catch a Close that hangs, not a slow machine.
	if d := time.Since(start); d > time.Minute {
		t.Errorf("Close took %v", d)
	}
	// Close waited for the command: it is gone (killed and reaped).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("command (pid %d) after Close: kill -0 = %v, want ESRCH", pid, err)
	}
	// The client sees the connection end. (client-go's v4 executor reports
	// a connection that ends without a status as success.)
	select {
	case <-execDone:
	case <-time.After(time.Minute):
		t.Error("exec client still running a minute after Close")
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Errorf("forwarded connection did not end after Close: %v", err)
	}
}

// execIn runs command in a pod through the API server with the executor
// kubectl builds ("fallback": WebSocket, then SPDY on upgrade failure) or
// with one protocol alone.
func execIn(ctx context.Context, t *testing.T, cfg *rest.Config, proto, pod string, stdin io.Reader, command ...string) (string, string, error) {
	t.Helper()
	req := kubernetes.NewForConfigOrDie(cfg).CoreV1().RESTClient().Post().
		Resource("pods").Namespace(podNS).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "istio-proxy", Command: command,
			Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	spdyExec, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		t.Fatal(err)
	}
	// WebSocket needs GET (RFC 6455 §4.1).
	wsExec, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		t.Fatal(err)
	}
	var ex remotecommand.Executor
	switch proto {
	case "spdy":
		ex = spdyExec
	case "websocket":
		ex = wsExec
	default:
		ex, err = remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}

// dialer builds the port-forward dialer kubectl builds ("fallback":
// SPDY tunnelled over WebSocket, then plain SPDY on upgrade failure) or one
// of the two alone.
func dialer(t *testing.T, cfg *rest.Config, proto string, u *url.URL) httpstream.Dialer {
	t.Helper()
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: rt}, "POST", u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	switch proto {
	case "spdy":
		return spdyDialer
	case "websocket":
		return wsDialer
	}
	return portforward.NewFallbackDialerForStreaming(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

func portForwardURL(cfg *rest.Config, pod string) *url.URL {
	return kubernetes.NewForConfigOrDie(cfg).CoreV1().RESTClient().Post().
		Resource("pods").Namespace(podNS).Name(pod).SubResource("portforward").URL()
}

// forward port-forwards a local port to port of pod through the API server
// until the test ends, and returns the local address.
func forward(ctx context.Context, t *testing.T, cfg *rest.Config, proto, pod string, port int) string {
	t.Helper()
	return startForward(ctx, t, cfg, proto, portForwardURL(cfg, pod), port)
}

func startForward(ctx context.Context, t *testing.T, cfg *rest.Config, proto string, u *url.URL, port int) string {
	t.Helper()
	fw, _, err := newForwarder(ctx, t, cfg, proto, u, port)
	if err != nil {
		t.Fatalf("port-forward: %v", err)
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
}

// forwardErr starts a port-forward to pod and makes one connection through
// it; it returns the error that surfaced, if any.
func forwardErr(ctx context.Context, t *testing.T, cfg *rest.Config, proto, pod string, port int) error {
	t.Helper()
	fw, done, err := newForwarder(ctx, t, cfg, proto, portForwardURL(cfg, pod), port)
	if err != nil {
		return err
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		return nil
	}
}

// newForwarder starts a forwarder and waits until it is ready or has
// failed; t's cleanup stops it and waits for it.
func newForwarder(ctx context.Context, t *testing.T, cfg *rest.Config, proto string, u *url.URL, port int) (*portforward.PortForwarder, <-chan error, error) {
	t.Helper()
	fctx, stop := context.WithCancel(ctx)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreamingWithContext(fctx, dialer(t, cfg, proto, u),
		[]string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, ready, io.Discard, io.Discard)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- fw.ForwardPorts()
	}()
	t.Cleanup(func() {
		stop()
		<-finished
	})
	select {
	case <-ready:
		return fw, done, nil
	case err := <-done:
		return nil, nil, err
	case <-time.After(time.Minute):
		return nil, nil, errors.New("port-forward not ready after a minute")
	}
}

// get GETs / at addr with a deadline and returns the body.
func get(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// newNS makes a network namespace for t, deleted when t ends.
func newNS(t *testing.T) *netns.NS {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	ns, err := netns.NewAuto(fmt.Sprintf("mdt-kubelet-%d-%x", os.Getpid(), h.Sum32()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("close netns %s: %v", ns.Name, err)
		}
	})
	return ns
}

// serveHTTP serves body at addr inside ns until t ends.
func serveHTTP(ctx context.Context, t *testing.T, ns *netns.NS, addr, body string) {
	t.Helper()
	ln, err := ns.Listen(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
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

// registerNode creates the Node with the addresses the API server dials
// the kubelet at: InternalIP and the kubelet port.
func registerNode(ctx context.Context, t *testing.T, c kubernetes.Interface, ip string, port int) {
	t.Helper()
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	n.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: nodeName}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
	}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createPod creates a running pod bound to the node, with podIP if given.
func createPod(ctx context.Context, t *testing.T, c kubernetes.Interface, name, podIP string) {
	t.Helper()
	p, err := c.CoreV1().Pods(podNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: podNS},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{
			{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.28.1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning}
	if podIP != "" {
		p.Status.PodIP = podIP
		p.Status.PodIPs = []corev1.PodIP{{IP: podIP}}
	}
	if _, err := c.CoreV1().Pods(podNS).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// cluster is one etcd and one kube-apiserver from bin/, set up to reach
// kubelets with a client certificate of its CA.
type cluster struct {
	*pki
	config *rest.Config // system:masters
	client kubernetes.Interface
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/meshdoctor/meshdoctor\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found above the working directory")
		}
		dir = parent
	}
}

// startCluster starts etcd and kube-apiserver from root/bin (skipping the
// test when either is missing) and stops both when t ends.
func startCluster(ctx context.Context, t *testing.T, root string) *cluster {
	t.Helper()
	if os.Getenv("MESHDOCTOR_NO_TESTENV") != "" {
		t.Skip("MESHDOCTOR_NO_TESTENV is set: the integration tier is off (make unit)")
	}
	for _, b := range []string{"bin/etcd", "bin/kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(root, b)); err != nil {
			t.Skipf("needs %s (make testbin): %v", b, err)
		}
	}
	dir := t.TempDir()
	cl := &cluster{pki: newPKI(t)}

	clientPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	startProc(t, filepath.Join(dir, "etcd.log"), filepath.Join(root, "bin/etcd"),
		"--name=kubelet-test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubelet-test="+peerURL, "--unsafe-no-fsync", "--log-level=warn")

	files := map[string][]byte{
		"ca.crt": cl.caPEM, "serving.crt": cl.apiServingPEM, "serving.key": cl.apiServingKey,
		"kubelet-client.crt": cl.kubeletClientPEM, "kubelet-client.key": cl.kubeletClientKey,
		"sa.key": cl.saKey, "sa.pub": cl.saPub,
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	f := func(name string) string { return filepath.Join(dir, name) }
	logPath := f("kube-apiserver.log")
	startProc(t, logPath, filepath.Join(root, "bin/kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--endpoint-reconciler-type=none", // it refuses a loopback address for the kubernetes Service
		"--tls-cert-file="+f("serving.crt"), "--tls-private-key-file="+f("serving.key"),
		"--client-ca-file="+f("ca.crt"),
		"--service-account-issuer=https://kubelet-test.mesh.test",
		"--service-account-key-file="+f("sa.pub"), "--service-account-signing-key-file="+f("sa.key"),
		"--authorization-mode=RBAC",
		// How the API server reaches kubelets.
		"--kubelet-client-certificate="+f("kubelet-client.crt"),
		"--kubelet-client-key="+f("kubelet-client.key"),
		"--kubelet-certificate-authority="+f("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--disable-admission-plugins=ServiceAccount", // no controller manager makes the default account
		"--service-cluster-ip-range=10.94.0.0/16",
		"--profiling=false", "--v=0",
	)
	cl.config = &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", port),
		TLSClientConfig: rest.TLSClientConfig{CAData: cl.caPEM, CertData: cl.adminPEM, KeyData: cl.adminKey},
		Timeout:         30 * time.Second,
	}
	cl.client = kubernetes.NewForConfigOrDie(cl.config)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cl.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(logPath)
			t.Fatalf("kube-apiserver not ready: %v (last: %v); log:\n%s", ctx.Err(), err, tail(log))
		case <-time.After(200 * time.Millisecond):
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: podNS}}
	if _, err := cl.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cl
}

// startProc starts a child in its own process group, logging to logPath;
// t's cleanup ends the group (SIGTERM, SIGKILL after 10s) and waits.
func startProc(t *testing.T, logPath, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	// Below the ephemeral range, so that no outgoing connection takes the
	// port between this check and the server binding it.
	for range 100 {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

// pki is one CA and everything it signs for the test.
type pki struct {
	caPEM                              []byte
	pool                               *x509.CertPool
	apiServingPEM, apiServingKey       []byte
	adminPEM, adminKey                 []byte
	kubeletClientPEM, kubeletClientKey []byte
	kubeletClient, kubeletServing      tls.Certificate
	saKey, saPub                       []byte
}

func (p *pki) caPool() *x509.CertPool { return p.pool }

func newPKI(t *testing.T) *pki {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "kubelet-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn string, groups []string, ips ...string) ([]byte, []byte) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: groups},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if len(ips) > 0 {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			for _, ip := range ips {
				tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	pair := func(c, k []byte) tls.Certificate {
		kp, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	p := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.apiServingPEM, p.apiServingKey = issue("kube-apiserver", nil, "127.0.0.1")
	p.adminPEM, p.adminKey = issue("admin", []string{"system:masters"})
	p.kubeletClientPEM, p.kubeletClientKey = issue("kube-apiserver-kubelet-client", nil)
	p.kubeletClient = pair(p.kubeletClientPEM, p.kubeletClientKey)
	p.kubeletServing = pair(issue("kubelet-"+nodeName, nil, "127.0.0.1"))

	saKey := newKey(t)
	der, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p.saKey = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	p.saPub = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
