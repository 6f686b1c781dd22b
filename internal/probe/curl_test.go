package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/netns"
)

// hostExecer runs the probe command on this host: the same curl and shell
// a sleep pod has, against real local servers.
type hostExecer struct{}

func (hostExecer) Exec(ctx context.Context, _ PodRef, cmd []string) ([]byte, []byte, int, error) {
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	var out, errOut strings.Builder
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return []byte(out.String()), []byte(errOut.String()), ee.ExitCode(), nil
	}
	return []byte(out.String()), []byte(errOut.String()), 0, err
}

func runCurl(t *testing.T, url string, n int, timeout time.Duration) []CurlAttempt {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("curl not installed: %v", err)
	}
	cmd, err := CurlCommand(url, n, timeout)
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, err := hostExecer{}.Exec(context.Background(), PodRef{}, cmd)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ParseCurl(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != n {
		t.Fatalf("got %d attempts, want %d:\n%s", len(as), n, out)
	}
	return as
}

func TestCurlProbeSeesWhichInstanceAnswered(t *testing.T) {
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i++
		fmt.Fprintf(w, "Hello version: v1, instance: helloworld-v1-%d\n", i%2)
	}))
	defer srv.Close()
	as := runCurl(t, srv.URL+"/hello", 4, 2*time.Second)
	seen := map[string]int{}
	for _, a := range as {
		if a.Exit != 0 || a.Status != 200 {
			t.Errorf("attempt %+v, want exit 0 status 200", a)
		}
		seen[a.Responder]++
	}
	if seen["helloworld-v1-0"] != 2 || seen["helloworld-v1-1"] != 2 {
		t.Errorf("responders %v, want two of each instance", seen)
	}
}

func TestCurlProbeClassifiesFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"hostname": "podinfo-abc"}`)
	}))
	defer broken.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	cases := []struct {
		name      string
		url       string
		exit      int
		status    int
		responder string
	}{
		{"refused", closed, 7, 0, ""},
		{"timeout", slow.URL, 28, 0, ""},
		{"503 from a podinfo", broken.URL, 0, 503, "podinfo-abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			as := runCurl(t, tc.url, 1, time.Second)
			a := as[0]
			if a.Exit != tc.exit || a.Status != tc.status || a.Responder != tc.responder {
				t.Errorf("got %+v, want exit %d status %d responder %q", a, tc.exit, tc.status, tc.responder)
			}
			if tc.exit != 0 && !strings.Contains(CurlExitMeaning(a.Exit), map[int]string{6: "resolve", 7: "refused", 28: "timed out"}[tc.exit]) {
				t.Errorf("meaning of %d = %q", a.Exit, CurlExitMeaning(a.Exit))
			}
		})
	}
}

func TestParseCurlRejectsGarbage(t *testing.T) {
	if _, err := ParseCurl([]byte("x " + marker + " 200 notanumber\n")); err == nil {
		t.Error("a malformed result line parsed")
	}
	as, err := ParseCurl([]byte("no marker at all\n"))
	if err != nil || len(as) != 0 {
		t.Errorf("output without results: %v %v", as, err)
	}
}

func TestPercentile(t *testing.T) {
	as := []CurlAttempt{{Time: 30 * time.Millisecond}, {Time: 10 * time.Millisecond}, {Time: 20 * time.Millisecond}, {Exit: 28, Time: time.Second}}
	if p := Percentile(as, 50); p != 20*time.Millisecond {
		t.Errorf("p50 = %s", p)
	}
	if p := Percentile(as, 95); p != 20*time.Millisecond {
		t.Errorf("p95 = %s (failed attempts must not count)", p)
	}
}

func TestConnectProbe(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("curl not installed: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // like a gateway refusing a handshake without SNI
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	for _, tc := range []struct {
		name      string
		port      int
		connected bool
		exit      int
	}{
		{"listening gateway", port, true, 35},
		{"nothing listening", deadPort, false, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, _, err := hostExecer{}.Exec(context.Background(), PodRef{}, ConnectCommand("127.0.0.1", tc.port, time.Second))
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseConnect(out)
			if err != nil {
				t.Fatal(err)
			}
			if r.Connected() != tc.connected || r.Exit != tc.exit {
				t.Errorf("got %+v connected=%v, want connected=%v exit %d", r, r.Connected(), tc.connected, tc.exit)
			}
		})
	}
}

// TestCurlProbeDNSFailure runs curl in a network namespace whose
// resolv.conf points at its own loopback, so that the failed lookup never
// leaves the machine.
func TestCurlProbeDNSFailure(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("curl not installed: %v", err)
	}
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	ns, err := netns.NewAuto("mdt-curl-dns")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Close() })
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, err := CurlCommand("http://helloworld.sample.svc.cluster.local:5000/hello", 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := ns.Exec(context.Background(), cmd[0], cmd[1:]...)
	as, err := ParseCurl(out)
	if err != nil || len(as) != 1 {
		t.Fatalf("attempts %v, err %v, output %q", as, err, out)
	}
	if as[0].Exit != 6 || !strings.Contains(CurlExitMeaning(6), "resolve") {
		t.Errorf("exit %d, want 6 (could not resolve host)", as[0].Exit)
	}
}

// TestCurlCommandRefusesTargetsCurlWouldReadAsOptions: whoever built the
// target, CurlCommand does not hand curl an option. The planted -K config
// would make curl fetch a URL of its choosing (here a local server that
// records the request) and read local files.
func TestCurlCommandRefusesTargetsCurlWouldReadAsOptions(t *testing.T) {
	var hit atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Add(1) }))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "curlrc")
	if err := os.WriteFile(cfg, []byte("url = \""+srv.URL+"/stolen\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"-K" + cfg, "--config=" + cfg, "-K" + cfg + "://x", " -K" + cfg, "a\tb", "x\x00y", "", "gopher://x", "http://user:pw@x/"} {
		cmd, err := CurlCommand(target, 1, time.Second)
		if err == nil {
			if _, lookErr := exec.LookPath("curl"); lookErr == nil {
				_, _, _, _ = hostExecer{}.Exec(context.Background(), PodRef{}, cmd)
			}
			t.Errorf("CurlCommand(%q) = %q, want an error", target, cmd)
		}
	}
	if n := hit.Load(); n > 0 {
		t.Errorf("curl read a target as its -K option and made %d request(s) the target chose", n)
	}
	for _, target := range []string{"helloworld.sample:5000/hello", "http://10.0.0.1:80/", "https://[fd00::1]:8443/x?y=1", "reviews"} {
		if _, err := CurlCommand(target, 1, time.Second); err != nil {
			t.Errorf("CurlCommand(%q): %v", target, err)
		}
	}
}
