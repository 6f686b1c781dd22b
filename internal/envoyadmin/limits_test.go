package envoyadmin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// endless writes 64 KiB chunks to w until a write fails or total bytes
// are out, counting what it served.
func endless(w io.Writer, served *atomic.Int64, total int64) {
	chunk := []byte(strings.Repeat("x", 64<<10))
	for served.Load() < total {
		n, err := w.Write(chunk)
		served.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// waitDone waits for a server handler to end after the client gave up.
func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still serving 30s after the client stopped reading", what)
	}
}

// TestPortForwardStopsAtTheDumpCap: an admin endpoint that never stops
// sending is read up to MaxBytes, then the forwarding is closed: the error
// names the cap and --max-dump-size, and the server got to send little
// more than the cap (socket buffers), not its gigabyte.
func TestPortForwardStopsAtTheDumpCap(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const limit, total = 1 << 20, 1 << 30
	var served atomic.Int64
	done := make(chan struct{})
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		defer close(done)
		endless(w, &served, total)
	}))
	defer admin.Close()
	api := &apiServer{admin: admin.Listener.Addr().String()}
	srv := httptest.NewServer(api)
	defer func() { srv.CloseClientConnections(); srv.Close(); api.wg.Wait() }()
	kube := fake.NewClientset(pod("sleep", corev1.PodRunning, nil))
	f := PortForwardFetcher{
		Clients:  func(string) (Clients, error) { return Clients{Config: &rest.Config{Host: srv.URL}, Kube: kube}, nil },
		Timeout:  time.Minute,
		MaxBytes: limit,
	}
	_, err := f.Get(context.Background(), PodRef{Context: "c1", Namespace: "sample", Name: "sleep"}, PathConfigDumpWithEDS)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != limit {
		t.Fatalf("err = %v, want a *TooLargeError at %d bytes", err, limit)
	}
	for _, want := range []string{"1 MiB", "--max-dump-size", "/config_dump?include_eds"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	waitDone(t, done, "the admin endpoint")
	if n := served.Load(); n > 32<<20 {
		t.Errorf("the admin endpoint served %d MiB for a %d MiB cap: reading did not stop at the cap", n>>20, limit>>20)
	} else {
		t.Logf("served %d KiB for a %d KiB cap", n>>10, limit>>10)
	}
}

// endlessExec is a container whose command writes forever.
type endlessExec struct {
	served *atomic.Int64
	done   chan struct{}
}

func (x endlessExec) ExecInContainer(_ context.Context, _, _, _ string, _ []string, _ io.Reader, out, _ io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	defer close(x.done)
	endless(out, x.served, 1<<30)
	return fmt.Errorf("stdout closed after %d bytes", x.served.Load())
}

// TestExecStopsAtTheOutputCap: pods/exec output past the cap stops the
// stream (it is not drained to the end): the error names the cap and the
// hint, and the container got to write little more than the cap.
func TestExecStopsAtTheOutputCap(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const limit = 1 << 20
	var served atomic.Int64
	x := endlessExec{served: &served, done: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/exec") || r.Header.Get("Upgrade") == "websocket" {
			http.Error(w, "websocket exec not supported", http.StatusBadRequest) // client falls back to SPDY
			return
		}
		// The API server hands the kubelet output=1 for stdout=true.
		q := r.URL.Query()
		for k, kubelet := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
			if q.Get(k) == "true" {
				q.Set(kubelet, "1")
			}
		}
		r.URL.RawQuery = q.Encode()
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeExec(w, r, x, "sample/sleep", "", "istio-proxy", r.URL.Query()["command"], opts,
			time.Minute, 10*time.Second, remotecommand.SupportedStreamingProtocols)
	}))
	defer func() { srv.CloseClientConnections(); srv.Close() }()
	_, _, _, err := ExecLimited(context.Background(), &rest.Config{Host: srv.URL}, PodRef{Context: "c1", Namespace: "sample", Name: "sleep"},
		"istio-proxy", []string{"pilot-agent", "request", "GET", "config_dump"}, ExecLimits{Stdout: limit, Hint: maxDumpHint})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != limit {
		t.Fatalf("err = %v, want a *TooLargeError at %d bytes", err, limit)
	}
	for _, want := range []string{"output of pilot-agent", "1 MiB", "--max-dump-size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	srv.CloseClientConnections()
	waitDone(t, x.done, "the exec'd command")
	if n := served.Load(); n > 32<<20 {
		t.Errorf("the command wrote %d MiB for a %d MiB cap: the stream was drained, not stopped", n>>20, limit>>20)
	} else {
		t.Logf("served %d KiB for a %d KiB cap", n>>10, limit>>10)
	}
}

func TestTooLargeErrorSaysHowToRaiseTheCap(t *testing.T) {
	_, err := readCapped(strings.NewReader(strings.Repeat("x", 2048)), 1024, "response of GET /clusters?format=json")
	if err == nil || err.Error() != "response of GET /clusters?format=json is larger than the 1 KiB cap; stopped reading there (raise it with --max-dump-size)" {
		t.Fatalf("err = %v", err)
	}
	if b, err := readCapped(strings.NewReader("ok"), 1024, "x"); err != nil || string(b) != "ok" {
		t.Fatalf("under the cap: %q, %v", b, err)
	}
}

// TestReadCappedPeak: reading a ~100 MB dump holds it at most about twice
// (chunks, then the joined copy), once when its length is announced, and
// any cut or announcement within or past the cap reads the same bytes or
// fails with TooLargeError.
func TestReadCappedPeak(t *testing.T) {
	if testing.Short() {
		t.Skip("large dump")
	}
	dump := largeDump(t, 11000, 5, true)
	for _, tc := range []struct {
		name     string
		size     int64
		maxRatio float64
	}{{"unknown length", 0, 2.1}, {"announced length", int64(len(dump)), 1.1}} {
		var got []byte
		peak := peakHeap(func() {
			var err error
			if got, err = readCappedSized(bytes.NewReader(dump), DefaultMaxDumpBytes, "x", tc.size); err != nil {
				t.Fatal(err)
			}
		})
		if !bytes.Equal(got, dump) {
			t.Fatalf("%s: read %d bytes, want the %d of the dump", tc.name, len(got), len(dump))
		}
		ratio := float64(peak) / float64(len(dump))
		t.Logf("%s: %d MB dump, peak heap %.0f MB (%.2fx)", tc.name, len(dump)>>20, float64(peak)/(1<<20), ratio)
		if ratio > tc.maxRatio {
			t.Errorf("%s: reading held %.2fx the dump, want <= %.1fx", tc.name, ratio, tc.maxRatio)
		}
	}
	for _, size := range []int64{0, 1, 1000, 4095, 4096, 4097, 1 << 20} {
		doc := bytes.Repeat([]byte("x"), 4096)
		b, err := readCappedSized(bytes.NewReader(doc), 4096, "x", size)
		if err != nil || !bytes.Equal(b, doc) {
			t.Errorf("announced %d: %d bytes, %v", size, len(b), err)
		}
		var tooLarge *TooLargeError
		if _, err := readCappedSized(bytes.NewReader(append(doc, 'y')), 4096, "x", size); !errors.As(err, &tooLarge) {
			t.Errorf("announced %d, one byte past the cap: %v, want TooLargeError", size, err)
		}
	}
}
