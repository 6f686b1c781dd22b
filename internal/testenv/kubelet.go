package testenv

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
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// kubeletClientUser is the identity the API servers present to kubelets
// (--kubelet-client-certificate); the stand-ins accept no other.
const kubeletClientUser = "kube-apiserver-kubelet-client"

// Kubelet stands in for one node's kubelet: a Node object whose address and
// kubelet port point at a TLS server on 127.0.0.1 that implements the
// kubelet's streaming endpoints, exec and port-forward, with the kubelet's
// own protocol code (k8s.io/cri-streaming: SPDY, and WebSocket for exec), so
// that `kubectl exec` and `kubectl port-forward` go through the real API
// server as on real clusters.
//
// Limits: there is no container and no network namespace. Exec runs the
// command on the host (or Exec when set); port-forward connects to the
// address registered with Forward for that pod and port.
type Kubelet struct {
	Node string
	Addr string
	// Exec, when set, replaces running the command on the host.
	Exec func(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error

	srv    *http.Server
	ln     net.Listener
	served chan struct{}

	mu       sync.Mutex
	forwards map[string]string // "ns/pod:port" -> host:port
}

// AddNode starts a kubelet stand-in for a new node of a cluster and
// registers the Node. Pods placed on it (spec.nodeName) can be exec'd into
// and port-forwarded to. It stops with the environment.
func (e *Env) AddNode(ctx context.Context, cluster, node string) (*Kubelet, error) {
	c := e.Cluster(cluster)
	if c == nil {
		return nil, fmt.Errorf("no cluster %s", cluster)
	}
	serving, err := c.ca.issue("kubelet-"+node, nil, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(serving.cert, serving.key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // streaming upgrades need HTTP/1.1
	})
	if err != nil {
		return nil, err
	}
	k := &Kubelet{Node: node, Addr: ln.Addr().String(), ln: ln, forwards: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", k.serveExec)
	mux.HandleFunc("/portForward/{namespace}/{pod}", k.servePortForward)
	k.srv = &http.Server{Handler: onlyAPIServer(mux), ReadHeaderTimeout: 10 * time.Second}
	k.served = make(chan struct{})
	go func() {
		defer close(k.served)
		_ = k.srv.Serve(ln)
	}()
	e.mu.Lock()
	e.kubelets = append(e.kubelets, k)
	e.mu.Unlock()

	port, _ := strconv.Atoi(strings.TrimPrefix(k.Addr, "127.0.0.1:"))
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"kubernetes.io/hostname": node}}}
	created, err := c.Admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: register node %s: %w", cluster, node, err)
	}
	created.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: node}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if _, err := c.Admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("%s: node %s status: %w", cluster, node, err)
	}
	return k, nil
}

// Forward makes port-forwards to port of namespace/pod connect to addr.
func (k *Kubelet) Forward(namespace, pod string, port int32, addr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forwards[fmt.Sprintf("%s/%s:%d", namespace, pod, port)] = addr
}

func (k *Kubelet) close() {
	_ = k.srv.Close()
	<-k.served
}

// onlyAPIServer refuses clients other than the API servers' kubelet client.
func onlyAPIServer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != kubeletClientUser {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

const (
	streamIdleTimeout     = 5 * time.Minute
	streamCreationTimeout = 30 * time.Second
)

func (k *Kubelet) serveExec(w http.ResponseWriter, r *http.Request) {
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ns, pod := r.PathValue("namespace"), r.PathValue("pod")
	remotecommand.ServeExec(w, r, executor{k, ns, pod}, pod, "", r.PathValue("container"), r.URL.Query()["command"],
		opts, streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

type executor struct {
	k       *Kubelet
	ns, pod string
}

func (x executor) ExecInContainer(ctx context.Context, _, _, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	if x.k.Exec != nil {
		return x.k.Exec(ctx, x.ns, x.pod, container, cmd, in, out, errw)
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	if in != nil {
		c.Stdin = in
	}
	c.Stdout, c.Stderr = out, errw
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

func (k *Kubelet) servePortForward(w http.ResponseWriter, r *http.Request) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := r.PathValue("namespace") + "/" + r.PathValue("pod")
	portforward.ServePortForward(w, r, forwarder{k}, name, "", opts, streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

type forwarder struct{ k *Kubelet }

func (f forwarder) PortForward(ctx context.Context, name, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	f.k.mu.Lock()
	addr, ok := f.k.forwards[fmt.Sprintf("%s:%d", name, port)]
	f.k.mu.Unlock()
	if !ok {
		return fmt.Errorf("pod %s: nothing listens on port %d", name, port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("pod %s port %d: %w", name, port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); closeWrite(conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	<-done
	<-done
	return nil
}
