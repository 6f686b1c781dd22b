// Package testenv runs the integration tier: one etcd and one real
// kube-apiserver per simulated cluster (own etcd prefix, own CA and serving
// certificate, own service-account signing key and issuer, RBAC, an audit
// log), with the Istio CRDs of the pinned Istio release installed, a
// kubeconfig with one context per cluster for meshdoctor's least-privilege
// identity (deploy/rbac.yaml) and one for an admin, and scenario objects
// applied from testdata/scenarios.
//
// Every server listens on 127.0.0.1 only. The kubeconfigs and the remote
// secrets name the clusters https://cluster-N.mesh.test:6443, as real
// clusters are named by non-loopback addresses, and reach them through a
// CONNECT proxy on 127.0.0.1 (kubeconfig proxy-url) that maps each name to
// its server's port.
//
// The binaries come from `make testbin` (hack/testbin.sh) into bin/; without
// them Start skips the test, naming what is missing.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configures an environment.
type Options struct {
	// Clusters is how many simulated clusters to start (default 2); they
	// are named cluster-1 … cluster-N.
	Clusters int
	// Names names the clusters instead (a scenario's file names, such as
	// central, east, west); it overrides Clusters.
	Names []string
	// Root is the repository root (bin/, deploy/); default: found by
	// walking up from the working directory to meshdoctor's go.mod.
	Root string
}

// Cluster is one simulated cluster.
type Cluster struct {
	// Name is the kubeconfig context name, cluster-N.
	Name string
	// Server is the URL that kubeconfigs and remote secrets use.
	Server string
	// Addr is where the API server really listens (127.0.0.1:port).
	Addr string
	// Admin is a system:masters client for setting up.
	Admin kubernetes.Interface
	// AdminConfig is its REST config (direct to Addr).
	AdminConfig *rest.Config

	host      string // cluster-N.mesh.test:6443
	ca        *ca
	proc      *proc
	auditPath string
	dyn       dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	token     string
	// gatewayAPI: the Gateway API CRDs are installed (ambient.go).
	gatewayAPI bool

	mu      sync.Mutex
	applied []objectRef // objects applied since the last Reset
}

// Env is a running environment.
type Env struct {
	// Dir holds the data, logs and kubeconfigs.
	Dir string
	// Kubeconfig has a context per cluster for meshdoctor's identity (user
	// "meshdoctor" in group "meshdoctor:readers", bound by deploy/rbac.yaml).
	Kubeconfig string
	// AdminKubeconfig has the same contexts for a system:masters identity.
	AdminKubeconfig string
	Clusters        []*Cluster

	root  string
	etcd  *proc
	proxy *proxy
	once  sync.Once

	mu       sync.Mutex
	kubelets []*Kubelet
}

// The identities and objects that the environment sets up.
const (
	// MeshdoctorUser is the user name of Kubeconfig's identity.
	MeshdoctorUser = "meshdoctor"
	// MeshdoctorGroup is the group that deploy/rbac.yaml binds.
	MeshdoctorGroup = "meshdoctor:readers"
	// ReaderServiceAccount is the account remote-secret tokens are minted
	// for, in istio-system, bound to IstioReaderRole.
	ReaderServiceAccount = "istio-reader-service-account"
	// IstioReaderRole is the ClusterRole with what istiod needs in a
	// remote cluster.
	IstioReaderRole = "istio-reader-clusterrole-istio-system"
)

// SkipVar, when set in the environment, makes the integration tests skip
// (make unit).
const SkipVar = "MESHDOCTOR_NO_TESTENV"

// SkipIfDisabled skips a test that needs real API servers when SkipVar is set.
func SkipIfDisabled(t testing.TB) {
	t.Helper()
	if os.Getenv(SkipVar) != "" {
		t.Skipf("%s is set: the integration tier is off (make unit)", SkipVar)
	}
}

// Start starts an environment for a test and tears it down at its end (also
// on failure). It skips the test when bin/ lacks a binary.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	SkipIfDisabled(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e, err := New(ctx, t.TempDir(), opts)
	if errors.Is(err, ErrMissingBinary) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatalf("start test environment: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// New starts an environment in dir (which must exist). The caller must call
// Close; on error everything already started has been stopped.
func New(ctx context.Context, dir string, opts Options) (_ *Env, err error) {
	names := opts.Names
	if len(names) == 0 {
		if opts.Clusters <= 0 {
			opts.Clusters = 2
		}
		for i := 1; i <= opts.Clusters; i++ {
			names = append(names, fmt.Sprintf("cluster-%d", i))
		}
	}
	root := opts.Root
	if root == "" {
		if root, err = RepoRoot(); err != nil {
			return nil, err
		}
	}
	for _, b := range []string{"bin/etcd", "bin/kube-apiserver", "bin/istio-crds.yaml"} {
		if _, err := os.Stat(filepath.Join(root, b)); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrMissingBinary, filepath.Join(root, b))
		}
	}
	e := &Env{Dir: dir, root: root}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.proxy, err = newProxy(); err != nil {
		return nil, fmt.Errorf("start proxy: %w", err)
	}
	etcdURL, err := e.startEtcd(ctx)
	if err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	for i, name := range names {
		c, err := e.startAPIServer(i+1, name, etcdURL, policy)
		if c != nil {
			e.Clusters = append(e.Clusters, c) // stopped by Close even on error
		}
		if err != nil {
			return nil, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range e.Clusters {
		g.Go(func() error {
			if err := c.waitReady(gctx); err != nil {
				return err
			}
			return e.setUp(gctx, c)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if e.Kubeconfig, err = e.UserKubeconfig(MeshdoctorUser, MeshdoctorGroup); err != nil {
		return nil, err
	}
	if e.AdminKubeconfig, err = e.UserKubeconfig("admin", "system:masters"); err != nil {
		return nil, err
	}
	return e, nil
}

// RepoRoot finds the repository root by walking up from the working
// directory to meshdoctor's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/meshdoctor/meshdoctor\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (meshdoctor's go.mod) not found above the working directory")
		}
		dir = parent
	}
}

func (e *Env) startEtcd(ctx context.Context) (string, error) {
	client, err := freePort()
	if err != nil {
		return "", err
	}
	peer, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	e.etcd, err = startProc("etcd", filepath.Join(e.Dir, "etcd.log"), filepath.Join(e.root, "bin/etcd"),
		"--name=testenv", "--data-dir="+filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testenv="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return "", err
	}
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(clientURL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return clientURL, nil
			}
		}
		if e.etcd.exited() {
			return "", e.etcd.failure("did not start")
		}
		select {
		case <-ctx.Done():
			return "", e.etcd.failure("not healthy: " + ctx.Err().Error())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

func (e *Env) startAPIServer(i int, name, etcdURL, policy string) (*Cluster, error) {
	c := &Cluster{Name: name, host: name + ".mesh.test:6443"}
	c.Server = "https://" + c.host
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var err error
	if c.ca, err = newCA(name); err != nil {
		return nil, err
	}
	serving, err := c.ca.issue("kube-apiserver", nil, name+".mesh.test", "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	admin, err := c.ca.issue("admin", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	kubeletClient, err := c.ca.issue(kubeletClientUser, nil)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"ca.crt": c.ca.pem, "serving.crt": serving.cert, "serving.key": serving.key,
		"kubelet-client.crt": kubeletClient.cert, "kubelet-client.key": kubeletClient.key}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := writeServiceAccountKey(filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")); err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.Addr = "127.0.0.1:" + strconv.Itoa(port)
	c.auditPath = filepath.Join(dir, "audit.log")
	e.proxy.set(c.host, c.Addr)
	c.proc, err = startProc("kube-apiserver "+name, filepath.Join(dir, "kube-apiserver.log"), filepath.Join(e.root, "bin/kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--etcd-prefix=/"+name,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// No "kubernetes" Endpoints: the reconciler refuses a loopback address.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--client-ca-file="+filepath.Join(dir, "ca.crt"),
		"--service-account-issuer=https://"+name+".mesh.test",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--authorization-mode=RBAC",
		// Kubelet stand-ins (AddNode) serve on 127.0.0.1 with a certificate
		// of this cluster's CA and accept only this client certificate.
		"--kubelet-client-certificate="+filepath.Join(dir, "kubelet-client.crt"),
		"--kubelet-client-key="+filepath.Join(dir, "kubelet-client.key"),
		"--kubelet-certificate-authority="+filepath.Join(dir, "ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		// No controller manager runs: nothing would create the default
		// service account that the ServiceAccount plugin requires of pods.
		"--disable-admission-plugins=ServiceAccount",
		// Dual-stack, so that a RequireDualStack Service (the dual-stack
		// install row) is accepted; Services stay IPv4 SingleStack by
		// default.
		fmt.Sprintf("--service-cluster-ip-range=10.%d.0.0/16,fd00:10:%d::/108", 95+i, 95+i),
		"--audit-policy-file="+policy,
		"--audit-log-path="+c.auditPath,
		"--profiling=false",
		"--v=0",
	)
	if err != nil {
		return nil, err
	}
	return c, c.clients(admin)
}

func (c *Cluster) clients(admin keyPair) error {
	var err error
	c.AdminConfig = &rest.Config{
		Host:            "https://" + c.Addr,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.ca.pem, CertData: admin.cert, KeyData: admin.key},
		QPS:             200, Burst: 400, Timeout: 30 * time.Second,
	}
	if c.Admin, err = kubernetes.NewForConfig(c.AdminConfig); err != nil {
		return err
	}
	if c.dyn, err = dynamic.NewForConfig(c.AdminConfig); err != nil {
		return err
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Admin.Discovery()))
	return nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if c.proc.exited() {
			return c.proc.failure("did not start")
		}
		select {
		case <-ctx.Done():
			return c.proc.failure(fmt.Sprintf("not ready (%v): last /readyz: %v", ctx.Err(), err))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// UserKubeconfig writes a kubeconfig with a context per cluster for a user
// in groups, authenticated by a client certificate each cluster's CA signs,
// and returns its path. Which permissions the user has is up to RBAC.
func (e *Env) UserKubeconfig(user string, groups ...string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	for _, c := range e.Clusters {
		kp, err := c.ca.issue(user, groups)
		if err != nil {
			return "", err
		}
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.ca.pem, ProxyURL: e.proxy.url()}
		cfg.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.cert, ClientKeyData: kp.key}
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	}
	if len(e.Clusters) > 0 {
		cfg.CurrentContext = e.Clusters[0].Name
	}
	path := filepath.Join(e.Dir, "kubeconfig-"+user)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return path, nil
}

// Cluster returns the cluster of that name, or nil.
func (e *Env) Cluster(name string) *Cluster {
	for _, c := range e.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Server is the URL of a cluster's API server as kubeconfigs name it
// (scenario.Env); "" for a cluster the environment does not have.
func (e *Env) Server(name string) string {
	if c := e.Cluster(name); c != nil {
		return c.Server
	}
	return ""
}

// Token is a real token, minted by that cluster's API server with
// TokenRequest, for istio-system/istio-reader-service-account (scenario.Env).
// A cluster the environment does not have (one that left the mesh, named by
// a stale remote secret) gets the first cluster's token, standing in for the
// token its gone API server once minted.
func (e *Env) Token(name string) string {
	if c := e.Cluster(name); c != nil {
		return c.token
	}
	if len(e.Clusters) > 0 {
		return e.Clusters[0].token
	}
	return ""
}

// CAData is the CA of a cluster's serving certificate, for the remote
// secrets the scenarios write (scenario.ClusterAccess).
func (e *Env) CAData(name string) []byte {
	if c := e.Cluster(name); c != nil {
		return c.ca.pem
	}
	return nil
}

// ProxyURL is the proxy through which the cluster names resolve
// (scenario.ClusterAccess). Names of clusters the environment does not have
// go through it too, and it refuses them: a gone cluster is unreachable,
// and no name is ever looked up in DNS.
func (e *Env) ProxyURL(string) string {
	if e.proxy == nil {
		return ""
	}
	return e.proxy.url()
}

// AuditLog is the path of a cluster's audit log (JSON lines).
func (e *Env) AuditLog(name string) string {
	if c := e.Cluster(name); c != nil {
		return c.auditPath
	}
	return ""
}

// StopCluster kills a cluster's API server: its clients then get connection
// errors (the proxy answers 502).
func (e *Env) StopCluster(name string) error {
	c := e.Cluster(name)
	if c == nil {
		return fmt.Errorf("no cluster %s", name)
	}
	c.proc.stop(5 * time.Second)
	return nil
}

// PauseCluster freezes a cluster's API server (SIGSTOP): connections are
// accepted but nothing answers, so clients run into their timeouts. Stop or
// Close resumes it before ending it.
func (e *Env) PauseCluster(name string) error {
	c := e.Cluster(name)
	if c == nil {
		return fmt.Errorf("no cluster %s", name)
	}
	c.proc.signal(syscall.SIGSTOP)
	return nil
}

// Close stops everything and waits for the processes; safe to call twice.
func (e *Env) Close() {
	e.once.Do(func() {
		if e.proxy != nil {
			e.proxy.close()
		}
		e.mu.Lock()
		for _, k := range e.kubelets {
			k.close()
		}
		e.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range e.Clusters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.proc.stop(10 * time.Second)
			}()
		}
		wg.Wait()
		e.etcd.stop(10 * time.Second)
	})
}
