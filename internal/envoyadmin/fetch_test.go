package envoyadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	streamhttp "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// fakeFetcher answers from a map of path -> body, or with err.
type fakeFetcher struct {
	bodies map[string][]byte
	err    error
	calls  atomic.Int32
}

func (f *fakeFetcher) Get(_ context.Context, _ PodRef, path string) ([]byte, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	b, ok := f.bodies[path]
	if !ok {
		return nil, fmt.Errorf("no fixture for %s", path)
	}
	return b, nil
}

func fixtureFetcher(t *testing.T) *fakeFetcher {
	return &fakeFetcher{bodies: map[string][]byte{
		PathConfigDumpWithEDS: readFixture(t, "config_dump.json"),
		PathClustersJSON:      readFixture(t, "clusters.json"),
	}}
}

var podsResource = schema.GroupResource{Resource: "pods"}

func TestFallbackFetcher(t *testing.T) {
	forbidden := apierrors.NewForbidden(podsResource, "sleep", errors.New(`cannot create resource "pods/portforward"`))
	tests := []struct {
		name          string
		primaryErr    error
		secondaryErr  error
		wantSecondary bool
		wantErr       bool
		wantForbidden bool
	}{
		{name: "port-forward forbidden: exec is tried", primaryErr: forbidden, wantSecondary: true},
		{name: "forbidden websocket/SPDY upgrade: exec is tried", primaryErr: fmt.Errorf("dial: %w",
			&streamhttp.UpgradeFailureError{Cause: forbidden}), wantSecondary: true},
		{name: "admin API on a Unix socket: exec is tried", primaryErr: fmt.Errorf("port-forward: %w", ErrAdminNotOnTCP), wantSecondary: true},
		{name: "pod not found: no fallback", primaryErr: apierrors.NewNotFound(podsResource, "sleep"), wantErr: true},
		{name: "upgrade failure that is not a 403: no fallback", primaryErr: &streamhttp.UpgradeFailureError{Cause: errors.New("bad handshake")}, wantErr: true},
		{name: "timeout: no fallback", primaryErr: context.DeadlineExceeded, wantErr: true},
		{name: "both forbidden: both errors reported", primaryErr: forbidden, secondaryErr: forbidden,
			wantSecondary: true, wantErr: true, wantForbidden: true},
		{name: "port-forward works: exec never called"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary := fixtureFetcher(t)
			primary.err = tt.primaryErr
			secondary := fixtureFetcher(t)
			secondary.err = tt.secondaryErr
			f := FallbackFetcher{Primary: primary, Secondary: secondary}
			body, err := f.Get(context.Background(), PodRef{Namespace: "sample", Name: "sleep"}, PathClustersJSON)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && len(body) == 0 {
				t.Error("empty body")
			}
			if got := secondary.calls.Load() > 0; got != tt.wantSecondary {
				t.Errorf("secondary called = %v, want %v", got, tt.wantSecondary)
			}
			if tt.wantForbidden && !IsForbidden(err) {
				t.Errorf("IsForbidden(%v) = false", err)
			}
		})
	}
}

func TestFetchTable(t *testing.T) {
	f := fixtureFetcher(t)
	got, err := FetchTable(context.Background(), f, PodRef{Context: "c1", Namespace: "sample", Name: "sleep"})
	if err != nil {
		t.Fatal(err)
	}
	if renderTable(got) != renderTable(fixtureTable(t)) {
		t.Errorf("FetchTable differs from parse+merge of the fixtures:\n%s", renderTable(got))
	}

	f.bodies[PathClustersJSON] = []byte(`{"cluster_statuses":`)
	if _, err := FetchTable(context.Background(), f, PodRef{Context: "c1", Namespace: "sample", Name: "sleep"}); err == nil ||
		!strings.Contains(err.Error(), "clusters of sample/sleep:15000 in c1") {
		t.Errorf("truncated /clusters: err = %v, want one naming the pod", err)
	}
}

// apiServer is a stand-in for the API server's pods/portforward (kubelet
// included): it refuses websocket upgrades like an API server before 1.30,
// serves SPDY port-forward streams by dialing admin, or answers every upgrade
// with 403 Forbidden.
type apiServer struct {
	admin    string // host:port the pod's port 15000 leads to
	forbid   bool
	ws, spdy atomic.Int32
	wg       sync.WaitGroup
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/portforward") {
		http.NotFound(w, r)
		return
	}
	if wsstream.IsWebSocketRequest(r) {
		s.ws.Add(1)
	} else {
		s.spdy.Add(1)
	}
	if s.forbid {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(apierrors.NewForbidden(podsResource, "sleep",
			errors.New(`User "viewer" cannot create resource "pods/portforward"`)).ErrStatus)
		return
	}
	if wsstream.IsWebSocketRequest(r) {
		http.Error(w, "websocket port-forward not supported", http.StatusBadRequest)
		return
	}
	if _, err := streamhttp.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
		return
	}
	streams := make(chan streamhttp.Stream, 8)
	conn := streamspdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st streamhttp.Stream, _ <-chan struct{}) error {
		streams <- st
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	errStreams := map[string]streamhttp.Stream{}
	for {
		select {
		case st := <-streams:
			id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
			switch st.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				errStreams[id] = st
			case corev1.StreamTypeData:
				errStream := errStreams[id]
				delete(errStreams, id)
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.pipe(st, errStream)
				}()
			}
		case <-conn.CloseChan():
			return
		}
	}
}

func (s *apiServer) pipe(data, errStream streamhttp.Stream) {
	defer data.Close()
	if errStream != nil {
		defer errStream.Close()
	}
	if port := data.Headers().Get(corev1.PortHeader); port != "15000" {
		fmt.Fprintf(errStream, "unexpected port %s", port)
		return
	}
	target, err := net.Dial("tcp", s.admin)
	if err != nil {
		fmt.Fprint(errStream, err)
		return
	}
	defer target.Close()
	go func() { _, _ = io.Copy(target, data) }()
	_, _ = io.Copy(data, target)
}

// envoyAdmin serves the fixtures like Envoy's admin listener.
func envoyAdmin(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	serve := func(path, query, fixture string) {
		body := readFixture(t, fixture)
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if !r.URL.Query().Has(query) {
				http.Error(w, "missing ?"+query, http.StatusBadRequest)
				return
			}
			_, _ = w.Write(body)
		})
	}
	serve("/config_dump", "include_eds", "config_dump.json")
	serve("/clusters", "format", "clusters.json")
	return httptest.NewServer(mux)
}

func pod(name string, phase corev1.PodPhase, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "sample", Name: name, Annotations: annotations},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func TestPortForwardFetcher(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	admin := envoyAdmin(t)
	defer admin.Close()
	kube := fake.NewClientset(
		pod("sleep", corev1.PodRunning, nil),
		pod("sleep-uds", corev1.PodRunning, map[string]string{"sidecar.istio.io/adminTransport": "UDS"}),
		pod("sleep-pending", corev1.PodPending, nil),
	)
	newFetcher := func(api *apiServer) (PortForwardFetcher, func()) {
		srv := httptest.NewServer(api)
		return PortForwardFetcher{
				Clients: func(kubeContext string) (Clients, error) {
					if kubeContext != "c1" {
						return Clients{}, fmt.Errorf("no context %q", kubeContext)
					}
					return Clients{Config: &rest.Config{Host: srv.URL}, Kube: kube}, nil
				},
				Timeout: 10 * time.Second,
			}, func() {
				srv.CloseClientConnections()
				srv.Close()
				api.wg.Wait()
			}
	}
	ref := PodRef{Context: "c1", Namespace: "sample", Name: "sleep", Port: EnvoyAdminPort}

	t.Run("websocket refused: SPDY fallback reads the table", func(t *testing.T) {
		api := &apiServer{admin: admin.Listener.Addr().String()}
		f, stop := newFetcher(api)
		defer stop()
		start := time.Now()
		got, err := FetchTable(context.Background(), f, ref)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("FetchTable over port-forward: %v", time.Since(start))
		if renderTable(got) != renderTable(fixtureTable(t)) {
			t.Errorf("table over port-forward differs:\n%s", renderTable(got))
		}
		if api.ws.Load() != 2 || api.spdy.Load() != 2 {
			t.Errorf("upgrades: websocket %d, spdy %d; want 2 each (one forwarding per Get)", api.ws.Load(), api.spdy.Load())
		}
	})

	t.Run("forbidden upgrade is Forbidden and FallbackFetcher uses exec", func(t *testing.T) {
		api := &apiServer{admin: admin.Listener.Addr().String(), forbid: true}
		f, stop := newFetcher(api)
		defer stop()
		_, err := f.Get(context.Background(), ref, PathClustersJSON)
		if !IsForbidden(err) {
			t.Fatalf("IsForbidden(%v) = false", err)
		}
		if api.ws.Load() != 1 || api.spdy.Load() != 1 {
			t.Errorf("upgrades: websocket %d, spdy %d; want 1 each", api.ws.Load(), api.spdy.Load())
		}
		exec := fixtureFetcher(t)
		if _, err := FetchTable(context.Background(), FallbackFetcher{Primary: f, Secondary: exec}, ref); err != nil {
			t.Fatalf("with fallback: %v", err)
		}
		if exec.calls.Load() != 2 {
			t.Errorf("exec fetcher called %d times, want 2", exec.calls.Load())
		}
	})

	t.Run("admin API on a Unix socket: no port-forward attempted", func(t *testing.T) {
		api := &apiServer{admin: admin.Listener.Addr().String()}
		f, stop := newFetcher(api)
		defer stop()
		uds := ref
		uds.Name = "sleep-uds"
		if _, err := f.Get(context.Background(), uds, PathClustersJSON); !errors.Is(err, ErrAdminNotOnTCP) {
			t.Fatalf("err = %v, want ErrAdminNotOnTCP", err)
		}
		if n := api.ws.Load() + api.spdy.Load(); n != 0 {
			t.Errorf("%d upgrades attempted", n)
		}
	})

	t.Run("pod not running: clear error, not Forbidden", func(t *testing.T) {
		api := &apiServer{admin: admin.Listener.Addr().String()}
		f, stop := newFetcher(api)
		defer stop()
		pending := ref
		pending.Name = "sleep-pending"
		_, err := f.Get(context.Background(), pending, PathClustersJSON)
		if err == nil || !strings.Contains(err.Error(), "Pending") || IsForbidden(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestPortForwardBlackHole proves a Get returns by its deadline when the API
// server accepts connections and never answers.
func TestPortForwardBlackHole(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		<-acceptDone
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	kube := fake.NewClientset(pod("sleep", corev1.PodRunning, nil))
	f := PortForwardFetcher{
		Clients: func(string) (Clients, error) {
			return Clients{Config: &rest.Config{Host: "http://" + ln.Addr().String()}, Kube: kube}, nil
		},
		Timeout: 300 * time.Millisecond,
	}
	start := time.Now()
	_, err = f.Get(context.Background(), PodRef{Context: "c1", Namespace: "sample", Name: "sleep"}, PathClustersJSON)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("no error from a black-holed API server")
	}
	if elapsed > 2*time.Second {
		t.Errorf("Get took %v with a 300ms timeout", elapsed)
	}
}

func TestExecFetcherRejectsPortsPilotAgentCannotReach(t *testing.T) {
	f := ExecFetcher{Clients: func(string) (Clients, error) { t.Fatal("clients asked for"); return Clients{}, nil }}
	_, err := f.Get(context.Background(), PodRef{Context: "c1", Namespace: "istio-system", Name: "istiod-0", Port: IstiodMonitoringPort}, PathClusterz)
	if err == nil || !strings.Contains(err.Error(), "15014") {
		t.Fatalf("err = %v, want a refusal naming port 15014", err)
	}
}
