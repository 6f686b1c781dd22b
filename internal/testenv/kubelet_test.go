package testenv_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"

	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestKubelet execs into and port-forwards to a pod on a kubelet stand-in,
// as meshdoctor's identity, through the kubeconfig and the real API server,
// over SPDY and over WebSocket, and checks that the audit log shows only the
// create on pods/exec and pods/portforward that RBAC authorizes.
func TestKubelet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := testenv.Start(t, testenv.Options{Clusters: 1})
	c := e.Cluster("cluster-1")
	k, err := e.AddNode(ctx, "cluster-1", "node-a")
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "istio-system"},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{
			{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.28.1"},
		}},
	}
	if _, err := c.Admin.CoreV1().Pods("istio-system").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	admin := httpServer(t, "server_info: LIVE")
	k.Forward("istio-system", "gw", 15000, admin)

	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: e.Kubeconfig}, &clientcmd.ConfigOverrides{CurrentContext: "cluster-1"}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc := kubernetes.NewForConfigOrDie(cfg)

	t.Run("exec", func(t *testing.T) {
		for _, proto := range []string{"spdy", "websocket"} {
			req := kc.CoreV1().RESTClient().Post().Resource("pods").Namespace("istio-system").Name("gw").SubResource("exec").
				VersionedParams(&corev1.PodExecOptions{Container: "istio-proxy", Command: []string{"sh", "-c", "echo hello; exit 3"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
			var ex remotecommand.Executor
			if proto == "spdy" {
				ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
			} else {
				ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
			}
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
			if out.String() != "hello\n" {
				t.Errorf("%s: stdout %q, stderr %q, err %v", proto, out.String(), errb.String(), err)
			}
			if err == nil || !strings.Contains(err.Error(), "exit code 3") {
				t.Errorf("%s: err = %v, want exit code 3", proto, err)
			}
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		u := kc.CoreV1().RESTClient().Post().Resource("pods").Namespace("istio-system").Name("gw").SubResource("portforward").URL()
		got := forwardGet(ctx, t, cfg, u)
		if got != "server_info: LIVE" {
			t.Errorf("through port-forward: %q", got)
		}
	})

	var creates []string // verb and subresource of meshdoctor's completed streaming requests
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		evs, err := e.AuditEvents("cluster-1")
		if err != nil {
			t.Fatal(err)
		}
		creates = creates[:0]
		for _, ev := range evs {
			if ev.User.Username == testenv.MeshdoctorUser && ev.Stage == "ResponseComplete" && ev.ObjectRef != nil && ev.ObjectRef.Subresource != "" {
				creates = append(creates, ev.Verb+" "+ev.ObjectRef.Resource+"/"+ev.ObjectRef.Subresource)
			}
		}
		if w := testenv.Writes(evs, testenv.MeshdoctorUser); len(w) > 0 {
			t.Errorf("writes by meshdoctor: %+v", w)
		}
		if len(creates) >= 3 {
			break
		}
	}
	if got, want := strings.Join(creates, ","), "create pods/exec,get pods/exec,create pods/portforward"; got != want {
		t.Errorf("meshdoctor's streaming requests = %s, want %s", got, want)
	}
}

func httpServer(t *testing.T, body string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// forwardGet port-forwards a local port to the pod's 15000 over SPDY and
// GETs / through it.
func forwardGet(ctx context.Context, t *testing.T, cfg *rest.Config, u *url.URL) string {
	t.Helper()
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
	stop, ready := make(chan struct{}), make(chan struct{})
	var errOut bytes.Buffer
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:15000"}, stop, ready, io.Discard, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward: %v %s", err, errOut.String())
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
	if err != nil {
		t.Fatalf("GET through port-forward: %v (%s)", err, errOut.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
