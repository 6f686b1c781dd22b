package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// The large shape of the scale tier, per cluster (issue 18): 20,000
// Services with one 5-endpoint EndpointSlice each (100,000 endpoints) and
// 5,000 pods, in 100 namespaces. MESHDOCTOR_SCALE_SERVICES scales it down
// (pods are a quarter of the Services) for a quicker look; 0 runs the
// guide install alone. MESHDOCTOR_ISTIOCTL names an istioctl other than
// bin/istioctl, MESHDOCTOR_SCALE_BINS more meshdoctor binaries to compare,
// MESHDOCTOR_SCALE_RUNS the runs of each (3).
const (
	scaleServices   = 20000
	scaleEndpoints  = 5
	scaleNamespaces = 100
)

// TestScaleSideBySideWithIstioctl is the benchmark tier of issue 18. It
// starts three real kube-apiservers (the integration tier), applies the
// istio.io multi-primary, multi-network guide install (scenario
// install-mp-mn: cluster-1 and cluster-2) and times the built meshdoctor
// (`check --no-network`) and, when bin/istioctl exists, `istioctl analyze
// -A --remote-contexts` over the same clusters; then it loads every
// cluster with the large shape and does the same, and measures in process
// the list strategies meshdoctor chose between (JSON or protobuf, pages of
// 500 or one watch-cache read, metadata-only). Each tool runs as a child
// under GNU time: wall, CPU (user+sys) and peak RSS (ru_maxrss) are its
// own. The API servers' request count is read from their audit logs (each
// tool has its own user), and the change of their apiserver_response_sizes
// metric is logged (it records far less than the lists' size: read the
// in-process strategies' body bytes for sizes).
//
// Populating is the slow part: the Services are headless (clusterIP:
// None), which spares kube-apiserver's ClusterIP allocator (it scans every
// IPAddress on each create); the objects go in over protobuf, 16 at a time
// per cluster. It asserts only that each run completed; the figures are
// logged (README, Performance). It runs only with MESHDOCTOR_SCALE=1
// (`make bench SCALE=1`): it takes tens of minutes.
func TestScaleSideBySideWithIstioctl(t *testing.T) {
	if os.Getenv("MESHDOCTOR_SCALE") == "" {
		t.Skip("set MESHDOCTOR_SCALE=1 (make bench SCALE=1): loads 135,000 objects into three kube-apiservers (tens of minutes)")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv.SkipIfDisabled(t)
	services := scaleServices
	if v := os.Getenv("MESHDOCTOR_SCALE_SERVICES"); v != "" {
		if services, err = strconv.Atoi(v); err != nil || services < 0 {
			t.Fatalf("MESHDOCTOR_SCALE_SERVICES=%q: not a number ≥ 0", v)
		}
	}
	runs := 3
	if v := os.Getenv("MESHDOCTOR_SCALE_RUNS"); v != "" {
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("MESHDOCTOR_SCALE_RUNS=%q: not a positive number", v)
		}
	}
	bins := []string{meshdoctorBinary(t, root)}
	for _, b := range strings.Split(os.Getenv("MESHDOCTOR_SCALE_BINS"), ",") {
		if b != "" {
			bins = append(bins, b)
		}
	}
	istioctl := filepath.Join(root, "bin", "istioctl")
	if p := os.Getenv("MESHDOCTOR_ISTIOCTL"); p != "" {
		istioctl = p
	}

	e := testenv.Start(t, testenv.Options{Clusters: 3})
	names := []string{"cluster-1", "cluster-2", "cluster-3"}
	istioKubeconfig, err := e.UserKubeconfig(istioctlUser, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	bench := &scaleBench{t: t, e: e, bins: bins, istioctl: istioctl, meshKubeconfig: e.Kubeconfig, istioKubeconfig: istioKubeconfig, runs: runs}

	apply(t, e, filepath.Join(root, "testdata", "scenarios"), "install-mp-mn")
	bench.sideBySide("guide install (install-mp-mn: 2 clusters, the rendered istio.io multi-primary multi-network install)", names[:2])

	if services == 0 {
		return // the guide install alone
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range names {
		g.Go(func() error { return populate(gctx, e.Cluster(n), services, services/4) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("populated 3 clusters × (%d Services, %d EndpointSlices of %d endpoints, %d pods) in %s; load average %s",
		services, services, scaleEndpoints, services/4, time.Since(start).Round(time.Second), testenv.LoadAverage())

	bench.strategies(ctx, e.Cluster("cluster-1"))
	bench.sideBySide(fmt.Sprintf("large: 3 clusters × %d Services, %d EndpointSlices (%d endpoints), %d pods (cluster-1 and -2 with the guide install)",
		services, services, services*scaleEndpoints, services/4), names)
}

const istioctlUser = "bench-istioctl"

type scaleBench struct {
	t                               *testing.T
	e                               *testenv.Env
	bins                            []string
	istioctl                        string
	meshKubeconfig, istioKubeconfig string
	runs                            int
}

// usage is what one run of a tool cost.
type usage struct {
	wall, cpu, rssMiB float64
	exit              int
}

// sideBySide runs every meshdoctor binary and istioctl over the clusters,
// interleaved, b.runs times, and logs each run, the ranges and the
// ratios, and what the API servers answered.
func (b *scaleBench) sideBySide(shape string, clusters []string) {
	t := b.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	type tool struct {
		name string
		argv []string
		user string
		got  []usage
	}
	istioctl := b.istioctl
	if _, err := os.Stat(istioctl); err != nil { // looked up at each shape: it may be built meanwhile
		t.Logf("no %s (hack/testbin.sh istioctl builds it): meshdoctor alone", istioctl)
		istioctl = ""
	}
	var tools []*tool
	for _, bin := range b.bins {
		tools = append(tools, &tool{name: "meshdoctor " + bin, user: testenv.MeshdoctorUser,
			argv: []string{bin, "check", "--kubeconfig", b.meshKubeconfig, "--context", strings.Join(clusters, ","), "--no-network", "--timeout", "60s", "-o", "json"}})
	}
	if istioctl != "" {
		argv := []string{istioctl, "analyze", "-A", "--kubeconfig", b.istioKubeconfig, "--context", clusters[0]}
		for _, c := range clusters[1:] {
			argv = append(argv, "--remote-contexts", c)
		}
		tools = append(tools, &tool{name: "istioctl analyze", user: istioctlUser, argv: argv})
	}
	requests := map[string]int{}      // user -> audit events over all runs
	respBytes := map[string]float64{} // tool -> bytes over all runs, all clusters
	for _, tl := range tools {
		before := requestCounts(t, b.e, clusters)
		for range b.runs {
			m0 := responseBytes(ctx, t, b.e, clusters)
			u := timed(ctx, t, tl.argv)
			respBytes[tl.name] += responseBytes(ctx, t, b.e, clusters) - m0
			tl.got = append(tl.got, u)
			t.Logf("%s | %s: wall %.2fs, CPU %.2fs, peak RSS %.0f MiB, exit %d; load %s", shape, tl.name, u.wall, u.cpu, u.rssMiB, u.exit, testenv.LoadAverage())
		}
		after := requestCounts(t, b.e, clusters)
		for user, n := range after {
			if user == tl.user {
				requests[tl.name] = n - before[user]
			}
		}
	}
	for _, tl := range tools {
		t.Logf("%s | %s over %d runs: wall %s s, CPU %s s, peak RSS %s MiB; per run %.0f requests per cluster, %.1f MiB per cluster in the servers' apiserver_response_sizes_sum",
			shape, tl.name, len(tl.got), span(tl.got, func(u usage) float64 { return u.wall }), span(tl.got, func(u usage) float64 { return u.cpu }),
			span(tl.got, func(u usage) float64 { return u.rssMiB }),
			float64(requests[tl.name])/float64(b.runs*len(clusters)), respBytes[tl.name]/float64(b.runs*len(clusters))/(1<<20))
	}
	if istioctl == "" {
		return
	}
	ist := tools[len(tools)-1]
	for _, tl := range tools[:len(tools)-1] {
		// Runs alternate tool by tool within minutes; the ratio of medians
		// is the figure, the ratio of the ranges' ends its spread.
		t.Logf("%s | istioctl ÷ %s (median ratio; >1: meshdoctor ahead): wall %.1f×, CPU %.1f×, peak RSS %.1f×", shape, tl.name,
			median(ist.got, func(u usage) float64 { return u.wall })/median(tl.got, func(u usage) float64 { return u.wall }),
			median(ist.got, func(u usage) float64 { return u.cpu })/median(tl.got, func(u usage) float64 { return u.cpu }),
			median(ist.got, func(u usage) float64 { return u.rssMiB })/median(tl.got, func(u usage) float64 { return u.rssMiB }))
	}
}

// timed runs argv under GNU time. (The kernel's maxrss of a child that Go
// starts directly is polluted by the parent's: Go's vfork shares the
// test's memory until exec. GNU time forks, so its child's is its own.)
func timed(ctx context.Context, t *testing.T, argv []string) usage {
	t.Helper()
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		t.Skipf("no /usr/bin/time (GNU time measures each child's peak RSS): %v", err)
	}
	stats := filepath.Join(t.TempDir(), "time")
	cmd := exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%e %U %S %M", "-o", stats}, argv...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "KUBECONFIG=/dev/null")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	u := usage{}
	switch {
	case errors.As(err, &ee):
		u.exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", argv[0], err)
	}
	// meshdoctor exits 1 on failed checks, istioctl analyze 79 on
	// findings: both ran. Anything else did not.
	if strings.HasSuffix(argv[0], "istioctl") {
		if u.exit != 0 && u.exit != 79 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(argv, " "), u.exit, tail(stderr.String()))
		}
	} else if u.exit > 1 || !bytes.Contains(stdout.Bytes(), []byte(`"check"`)) {
		t.Fatalf("%s: exit %d, no report\n%s", strings.Join(argv, " "), u.exit, tail(stderr.String()))
	}
	raw, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n") // "Command exited with non-zero status 1" first
	var user, sys float64
	var maxKB int64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%f %f %f %d", &u.wall, &user, &sys, &maxKB); err != nil {
		t.Fatalf("GNU time wrote %q: %v", raw, err)
	}
	u.cpu, u.rssMiB = user+sys, float64(maxKB)/1024
	return u
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// requestCounts counts each user's completed requests in the clusters'
// audit logs.
func requestCounts(t *testing.T, e *testenv.Env, clusters []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, c := range clusters {
		f, err := os.Open(e.AuditLog(c))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
		for sc.Scan() {
			line := sc.Bytes()
			// Only the bench's own users are counted: skip the populating
			// admin's 135,000 creates without decoding them.
			if !bytes.Contains(line, []byte(`"username":"`+testenv.MeshdoctorUser+`"`)) && !bytes.Contains(line, []byte(`"username":"`+istioctlUser+`"`)) {
				continue
			}
			var ev testenv.AuditEvent
			if err := json.Unmarshal(line, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Stage == "ResponseComplete" || ev.Stage == "Panic" {
				out[ev.User.Username]++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// responseBytes sums apiserver_response_sizes_sum (bytes each API server
// serialised for reads, all users; the servers are otherwise idle) over the
// clusters.
func responseBytes(ctx context.Context, t *testing.T, e *testenv.Env, clusters []string) float64 {
	t.Helper()
	var sum float64
	for _, c := range clusters {
		raw, err := e.Cluster(c).Admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatalf("%s /metrics: %v", c, err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(line, "apiserver_response_sizes_sum{") {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}

// strategies measures in process, on one large cluster, what the list
// strategies cost to read Services, EndpointSlices and pods of all
// namespaces: wall, bytes allocated and bytes the server serialised.
func (b *scaleBench) strategies(ctx context.Context, c *testenv.Cluster) {
	t := b.t
	t.Helper()
	type strategy struct {
		name     string
		protobuf bool
		limit    int64
		rv       string
	}
	for _, s := range []strategy{
		{"JSON, pages of 500", false, 500, ""},
		{"protobuf, pages of 500 (meshdoctor)", true, 500, ""},
		{"JSON, one watch-cache read (resourceVersion=0)", false, 0, "0"},
		{"protobuf, one watch-cache read (resourceVersion=0)", true, 0, "0"},
	} {
		cfg := rest.CopyConfig(c.AdminConfig)
		cfg.QPS, cfg.Burst = 1000, 1000
		// client-go (v0.37) asks for protobuf for built-in types when
		// ContentType is unset (rest.Request UseProtobufAsDefault), which is
		// what meshdoctor does; JSON must be asked for.
		if s.protobuf {
			cfg.ContentType = kruntime.ContentTypeProtobuf
			cfg.AcceptContentTypes = kruntime.ContentTypeProtobuf + "," + kruntime.ContentTypeJSON
		} else {
			cfg.ContentType, cfg.AcceptContentTypes = kruntime.ContentTypeJSON, kruntime.ContentTypeJSON
		}
		var body countingBytes
		cfg.Wrap(body.wrap)
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for range b.runs {
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			body0 := body.n.Load()
			start := time.Now()
			requests := 0
			opts := metav1.ListOptions{Limit: s.limit, ResourceVersion: s.rv}
			var kept int
			for _, list := range []func(metav1.ListOptions) (int, string, error){
				func(o metav1.ListOptions) (int, string, error) {
					l, err := cs.CoreV1().Services("").List(ctx, o)
					if err != nil {
						return 0, "", err
					}
					return len(l.Items), l.Continue, nil
				},
				func(o metav1.ListOptions) (int, string, error) {
					l, err := cs.DiscoveryV1().EndpointSlices("").List(ctx, o)
					if err != nil {
						return 0, "", err
					}
					return len(l.Items), l.Continue, nil
				},
				func(o metav1.ListOptions) (int, string, error) {
					l, err := cs.CoreV1().Pods("").List(ctx, o)
					if err != nil {
						return 0, "", err
					}
					return len(l.Items), l.Continue, nil
				},
			} {
				o := opts
				for {
					n, next, err := list(o)
					requests++
					if err != nil {
						t.Fatalf("%s: %v", s.name, err)
					}
					kept += n
					if next == "" {
						break
					}
					o.Continue = next
				}
			}
			took := time.Since(start)
			runtime.ReadMemStats(&m1)
			t.Logf("strategy %s on %s: %d objects in %d requests, %s, %.0f MiB allocated, %.1f MiB of response bodies; load %s", s.name, c.Name, kept, requests,
				took.Round(time.Millisecond), float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), float64(body.n.Load()-body0)/(1<<20), testenv.LoadAverage())
		}
	}
	// Metadata only (PartialObjectMetadata) is the floor for a list whose
	// labels alone are read; no large list of the inventory is one
	// (Services: ports and selectors; slices: endpoints; pods: spec and
	// status), so it is measured as the bound, not chosen.
	mcfg := rest.CopyConfig(c.AdminConfig)
	mcfg.QPS, mcfg.Burst = 1000, 1000
	mc, err := metadata.NewForConfig(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	for range b.runs {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		kept := 0
		for _, r := range []schema.GroupVersionResource{{Version: "v1", Resource: "services"}, {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}, {Version: "v1", Resource: "pods"}} {
			o := metav1.ListOptions{Limit: 500}
			for {
				l, err := mc.Resource(r).List(ctx, o)
				if err != nil {
					t.Fatalf("metadata list %s: %v", r.Resource, err)
				}
				kept += len(l.Items)
				if l.Continue == "" {
					break
				}
				o.Continue = l.Continue
			}
		}
		runtime.ReadMemStats(&m1)
		t.Logf("strategy metadata only (PartialObjectMetadata, pages of 500; the bound, not usable) on %s: %d objects, %s, %.0f MiB allocated; load %s",
			c.Name, kept, time.Since(start).Round(time.Millisecond), float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), testenv.LoadAverage())
	}
}

// populate creates the large shape in one cluster: namespaces, headless
// Services, one EndpointSlice each with scaleEndpoints endpoints whose
// targetRefs name pods, and pods (unscheduled: no kubelet) with a
// Deployment's labels and a sidecar's annotations.
func populate(ctx context.Context, c *testenv.Cluster, services, pods int) error {
	cfg := rest.CopyConfig(c.AdminConfig)
	cfg.QPS, cfg.Burst = 5000, 5000
	cfg.ContentType = kruntime.ContentTypeProtobuf
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for i := range scaleNamespaces {
		// No istio-injection label: the guide install's injection webhook
		// (no istiod behind it) would refuse the pods, which are written
		// as injected already.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%03d", i)}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("%s: create namespace: %w", c.Name, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	yes, no, tcp := true, false, corev1.ProtocolTCP
	for i := range services {
		g.Go(func() error {
			ns, name := fmt.Sprintf("team-%03d", i%scaleNamespaces), fmt.Sprintf("service-%05d-api", i)
			labels := map[string]string{"app": name, "version": "v1", "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": "shop"}
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
					Annotations: map[string]string{"meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": ns}},
				Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": name},
					Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: tcp, TargetPort: intstr.FromInt32(8080)},
						{Name: "grpc", Port: 9090, Protocol: tcp, TargetPort: intstr.FromInt32(9090)}}},
			}
			if _, err := cs.CoreV1().Services(ns).Create(gctx, svc, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("%s: create service: %w", c.Name, err)
			}
			http, grpc, p8080, p9090 := "http", "grpc", int32(8080), int32(9090)
			es := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Name: name + "-x7k2p", Namespace: ns,
					Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io", "app": name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: &http, Port: &p8080, Protocol: &tcp}, {Name: &grpc, Port: &p9090, Protocol: &tcp}},
			}
			for e := range scaleEndpoints {
				node, zone := fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal", e%16, i%200), "eu-west-1a"
				es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
					Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", 100+e%50, i/250%250, i%250)},
					Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
					NodeName:   &node, Zone: &zone,
					TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", name, e)},
				})
			}
			if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(gctx, es, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("%s: create endpointslice: %w", c.Name, err)
			}
			if i >= pods {
				return nil
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-7d9f8c6b5-%05d", name, 0), Namespace: ns,
					Labels:      map[string]string{"app": name, "version": "v1", "pod-template-hash": "7d9f8c6b5", "security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": name},
					Annotations: map[string]string{"sidecar.istio.io/status": `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}`}},
				Spec: corev1.PodSpec{
					ServiceAccountName: "default", AutomountServiceAccountToken: &no,
					Containers: []corev1.Container{
						{Name: "app", Image: "registry.example/shop/" + name + ":1.4.2", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9090}},
							Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "OTEL_SERVICE_NAME", Value: name}}},
						{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.27.0", Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning"},
							Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090}}},
					},
				},
			}
			if _, err := cs.CoreV1().Pods(ns).Create(gctx, pod, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("%s: create pod: %w", c.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// countingBytes counts the response body bytes read through a transport
// (after Go's transparent gzip: what the decoder reads).
type countingBytes struct{ n atomic.Int64 }

func (c *countingBytes) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func span(us []usage, f func(usage) float64) string {
	vs := values(us, f)
	if len(vs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f", vs[0], vs[len(vs)-1])
}

func median(us []usage, f func(usage) float64) float64 {
	vs := values(us, f)
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)/2]
}

func values(us []usage, f func(usage) float64) []float64 {
	var vs []float64
	for _, u := range us {
		vs = append(vs, f(u))
	}
	slices.Sort(vs)
	return vs
}
