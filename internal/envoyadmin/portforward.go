package envoyadmin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

// Clients are the clients of one kube context.
type Clients struct {
	Config *rest.Config
	Kube   kubernetes.Interface
}

// ClientsFunc returns the clients of a kube context (internal/cluster builds
// them lazily, once per context).
type ClientsFunc func(kubeContext string) (Clients, error)

// PortForwardFetcher reaches a pod port the way kubectl port-forward does:
// through the API server's pods/portforward, over a websocket tunnel with a
// SPDY fallback, to a local listener on 127.0.0.1 with an ephemeral port. The
// forwarding lives for one Get.
type PortForwardFetcher struct {
	Clients  ClientsFunc
	Timeout  time.Duration // per Get; DefaultTimeout when zero
	MaxBytes int64         // per response; DefaultMaxDumpBytes when zero
}

// Get implements Fetcher.
func (f PortForwardFetcher) Get(ctx context.Context, pod PodRef, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(f.Timeout, DefaultTimeout))
	defer cancel()
	c, err := f.Clients(pod.Context)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: clients: %w", pod, err)
	}
	if err := checkPod(ctx, c.Kube, pod, pod.port() == EnvoyAdminPort); err != nil {
		return nil, fmt.Errorf("port-forward to %s: %w", pod, err)
	}
	body, err := portForwardGet(ctx, c.Config, pod, path, cmp.Or(f.MaxBytes, DefaultMaxDumpBytes))
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: GET %s: %w", pod, path, err)
	}
	return body, nil
}

// checkPod fails early, with the API server's own error, when the pod is
// missing or not running, and when its Envoy admin API is on a Unix socket.
func checkPod(ctx context.Context, kube kubernetes.Interface, pod PodRef, envoyAdmin bool) error {
	p, err := kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pod: %w", err)
	}
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("pod is %s, not Running", p.Status.Phase)
	}
	if envoyAdmin && strings.EqualFold(p.Annotations[adminTransportAnnotation], "UDS") {
		return ErrAdminNotOnTCP
	}
	return nil
}

func portForwardGet(ctx context.Context, cfg *rest.Config, pod PodRef, path string, maxBytes int64) ([]byte, error) {
	u, err := subresourceURL(cfg, pod, "portforward")
	if err != nil {
		return nil, err
	}
	cfg = withRequestContext(ctx, cfg)
	dialer, err := newPortForwardDialer(cfg, u)
	if err != nil {
		return nil, err
	}
	rec := &recordingDialer{Dialer: dialer}

	fwCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	var errOut lockedBuffer
	pf, err := portforward.NewOnAddressesForStreamingWithContext(fwCtx, rec,
		[]string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(pod.port())}, ready, io.Discard, &errOut)
	if err != nil {
		return nil, fmt.Errorf("set up port-forward: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	// The forwarding is stopped and joined on every return. Dial and upgrade
	// honour ctx (withRequestContext); only an API server that accepts the
	// SPDY upgrade request and never answers could hold the goroutine past
	// ctx, and then the join gives up after joinGrace rather than hang the run.
	defer func() {
		stop()
		t := time.NewTimer(joinGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	}()

	select {
	case <-ready:
	case err := <-done:
		done <- err // for the deferred join
		if dialErr := rec.err(); dialErr != nil {
			return nil, dialErr // typed: a Forbidden survives
		}
		return nil, fmt.Errorf("port-forward: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		return nil, fmt.Errorf("port-forward has no local port: %w", err)
	}
	local := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
	body, err := httpGet(ctx, local+ensureSlash(path), maxBytes)
	if err != nil && errOut.String() != "" {
		return nil, fmt.Errorf("%w (port-forward: %s)", err, strings.TrimSpace(errOut.String()))
	}
	return body, err
}

// joinGrace bounds the wait for a stopped port-forward goroutine.
const joinGrace = 5 * time.Second

// withRequestContext returns a copy of cfg whose upgrade requests carry ctx:
// client-go's streaming dialers build their requests without a context, so
// without this a black-holed API server would hold a Get past its deadline.
func withRequestContext(ctx context.Context, cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	prev := c.WrapTransport
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return ctxRoundTripper{rt: rt, ctx: ctx}
	}
	return c
}

type ctxRoundTripper struct {
	rt  http.RoundTripper
	ctx context.Context
}

func (c ctxRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.rt.RoundTrip(req.WithContext(c.ctx))
}

// WrappedRoundTripper lets client-go find the TLS config underneath.
func (c ctxRoundTripper) WrappedRoundTripper() http.RoundTripper { return c.rt }

func httpGet(ctx context.Context, u string, maxBytes int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readCappedSized(resp.Body, maxBytes, "response of GET "+req.URL.RequestURI(), resp.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin returned %s: %s", resp.Status, firstLine(body))
	}
	return body, nil
}

// newPortForwardDialer builds what kubectl port-forward uses since 1.31: a
// SPDY-over-websocket tunnel, falling back to plain SPDY when the upgrade
// fails (an older API server, a proxy that does not pass websockets, or a 403
// on the websocket GET where RBAC grants only create on pods/portforward).
func newPortForwardDialer(cfg *rest.Config, u *url.URL) (streamhttp.Dialer, error) {
	transport, upgrader, err := spdyRoundTripper(cfg)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	tunnel, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
	if err != nil {
		return nil, fmt.Errorf("websocket dialer: %w", err)
	}
	return portforward.NewFallbackDialerForStreaming(tunnel, spdyDialer, shouldFallback), nil
}

func shouldFallback(err error) bool {
	return streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)
}

// spdyRoundTripper is spdy.RoundTripperFor with an upgrader that keeps the
// API server's status: client-go's SPDY upgrader flattens a refused upgrade
// into a string, which would hide a 403.
func spdyRoundTripper(cfg *rest.Config) (http.RoundTripper, spdy.Upgrader, error) {
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("tls config: %w", err)
	}
	proxy := http.ProxyFromEnvironment
	if cfg.Proxy != nil {
		proxy = cfg.Proxy
	}
	rt, err := streamspdy.NewRoundTripperWithConfig(streamspdy.RoundTripperConfig{
		TLS: tlsConfig, Proxier: proxy, PingPeriod: 5 * time.Second,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("spdy round tripper: %w", err)
	}
	wrapped, err := rest.HTTPWrappersForConfig(cfg, rt)
	if err != nil {
		return nil, nil, fmt.Errorf("spdy round tripper: %w", err)
	}
	return wrapped, spdy.NewUpgraderForStreaming(statusUpgrader{rt}), nil
}

type statusUpgrader struct{ streamhttp.UpgradeRoundTripper }

func (u statusUpgrader) NewConnection(resp *http.Response) (streamhttp.Connection, error) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &streamhttp.UpgradeFailureError{Cause: statusError(resp.StatusCode, body)}
	}
	return u.UpgradeRoundTripper.NewConnection(resp)
}

// statusError turns a refused upgrade into the API server's typed error.
func statusError(code int, body []byte) error {
	var status metav1.Status
	if err := json.Unmarshal(body, &status); err == nil && status.Kind == "Status" {
		if status.Code == 0 {
			status.Code = int32(code)
		}
		return &apierrors.StatusError{ErrStatus: status}
	}
	return apierrors.NewGenericServerResponse(code, "", corev1.Resource("pods"), "", firstLine(body), 0, false)
}

// recordingDialer keeps the dial error, which PortForwarder.ForwardPorts
// only returns formatted as a string.
type recordingDialer struct {
	streamhttp.Dialer
	mu      sync.Mutex
	dialErr error
}

func (d *recordingDialer) Dial(protocols ...string) (streamhttp.Connection, string, error) {
	conn, proto, err := d.Dialer.Dial(protocols...)
	d.mu.Lock()
	d.dialErr = err
	d.mu.Unlock()
	return conn, proto, err
}

func (d *recordingDialer) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dialErr
}

func subresourceURL(cfg *rest.Config, pod PodRef, sub string) (*url.URL, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("api server url: %w", err)
	}
	return base.JoinPath("api", "v1", "namespaces", pod.Namespace, "pods", pod.Name, sub), nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func ensureSlash(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
