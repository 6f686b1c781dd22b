package testenv

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// IstiodBinary is pilot-discovery (istiod), built by `make testbin` from
// hack/istiod at the Istio version of hack/istio.version.
const IstiodBinary = "bin/pilot-discovery"

// Type URLs of the xDS resources EndpointsDump asks for.
const (
	typeCluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeCLA     = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// IstiodOptions configures StartIstiod.
type IstiodOptions struct {
	// Deployment is the istio-system Deployment whose discovery container's
	// env istiod runs with (default "istiod"). A revisioned control plane's
	// is istiod-<revision> (the istio-discovery chart names it
	// istiod{{- if not (eq .Values.revision "") }}-{{ .Values.revision }}):
	// its REVISION env then makes istiod read the istio-<revision> mesh
	// ConfigMap (pilot/pkg/bootstrap/mesh.go getMeshConfigMapName) and
	// elect per revision, as in a pod.
	Deployment string
	// Env adds to (or overrides) the environment pilot-discovery runs with,
	// after the istiod Deployment's own env of the scenario.
	Env map[string]string
	// Synced are the remote cluster IDs that must be "synced" in
	// /debug/clusterz before StartIstiod returns. Default: every key of the
	// istio/multiCluster=true secrets in istio-system other than istiod's
	// own cluster ID. Set NoSyncWait to wait for readiness only.
	Synced     []string
	NoSyncWait bool
	// Timeout bounds start, readiness and sync (default 3 minutes).
	Timeout time.Duration
	// ResolvConf, when set, is a resolv.conf pilot-discovery sees as
	// /etc/resolv.conf, in a mount namespace of its own (unshare, root):
	// istiod resolves LoadBalancer hostnames of network gateways by DNS
	// queries to the nameservers there (pilot/pkg/model/network.go
	// newClient; not /etc/hosts, and NetworkGatewayTestDNSServers is a Go
	// variable of istiod's own tests). The host's file is not touched.
	ResolvConf string
}

// Istiod is a real istiod (pilot-discovery discovery) running on the host
// against one simulated cluster's API server, with that cluster's scenario
// objects: CLUSTER_ID and the rest of the env of the istio-system/istiod
// Deployment (IstiodOptions.Deployment), the mesh config of the istio
// ConfigMap, or istio-<REVISION> (istiod reads it from the API server, as
// in a pod), the plugged-in CA of the cacerts Secret
// (written to a directory, ROOT_CA_DIR, as its volume would be), and the
// remote secrets in istio-system, whose kubeconfigs reach the other
// simulated API servers through the environment's proxy-url.
//
// Every port listens on 127.0.0.1. Nothing of the host is touched but a
// directory under the environment's.
type Istiod struct {
	Cluster   string // context name
	ClusterID string // CLUSTER_ID
	// HTTPAddr serves /ready (8080 in a pod), GRPCAddr plaintext xDS
	// (15010), SecureGRPCAddr xDS over TLS (15012), MonitoringAddr the
	// metrics and /debug endpoints (15014), WebhookAddr the webhooks (15017).
	HTTPAddr, GRPCAddr, SecureGRPCAddr, MonitoringAddr, WebhookAddr string
	// Dir holds its kubeconfig, cacerts and log (istiod.log).
	Dir string

	proc *proc
}

// StartIstiod starts istiod for a cluster of e whose scenario is applied,
// waits for /ready and for the remote clusters to be synced, and returns it.
// The caller must Stop it; on error nothing is left running. Without
// bin/pilot-discovery the error wraps ErrMissingBinary.
func StartIstiod(ctx context.Context, e *Env, cluster string, opts IstiodOptions) (_ *Istiod, err error) {
	c := e.Cluster(cluster)
	if c == nil {
		return nil, fmt.Errorf("no cluster %s", cluster)
	}
	bin := filepath.Join(e.root, IstiodBinary)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMissingBinary, bin)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	if err := e.grantIstioReaderRest(ctx); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(e.Dir, "istiod-"+cluster+"-")
	if err != nil {
		return nil, err
	}
	ist := &Istiod{Cluster: cluster, ClusterID: cluster, Dir: dir}
	deploy := opts.Deployment
	if deploy == "" {
		deploy = "istiod"
	}
	env := map[string]string{}
	if d, err := c.Admin.AppsV1().Deployments("istio-system").Get(ctx, deploy, metav1.GetOptions{}); err == nil {
		for _, ctr := range d.Spec.Template.Spec.Containers {
			if ctr.Name != "discovery" {
				continue
			}
			for _, v := range ctr.Env {
				if v.ValueFrom == nil {
					env[v.Name] = v.Value
				}
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s: deployment istio-system/%s: %w", cluster, deploy, err)
	} else if opts.Deployment != "" {
		// Asked for by name: running with the defaults instead (revision
		// "default") would test another control plane than the caller's.
		return nil, fmt.Errorf("%s: no deployment istio-system/%s", cluster, deploy)
	}
	if id := env["CLUSTER_ID"]; id != "" {
		ist.ClusterID = id
	}

	// The plugged-in CA, as the cacerts volume mounts it. Without the
	// secret istiod makes (or reuses) istio-ca-secret itself.
	caDir := filepath.Join(dir, "cacerts")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return nil, err
	}
	if s, err := c.Admin.CoreV1().Secrets("istio-system").Get(ctx, "cacerts", metav1.GetOptions{}); err == nil {
		for k, v := range s.Data {
			if err := os.WriteFile(filepath.Join(caDir, k), v, 0o600); err != nil {
				return nil, err
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s: cacerts: %w", cluster, err)
	}

	// An admin kubeconfig whose current context is this cluster; it goes
	// through the proxy like every kubeconfig of the environment.
	cfg, err := clientcmd.LoadFromFile(e.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.CurrentContext = cluster
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		return nil, err
	}

	// Ports are picked free and then bound by istiod: another process may
	// take one in between (tests of other packages run at the same time).
	// Start again on fresh ports when that happens.
	logPath := filepath.Join(dir, "istiod.log")
	for attempt := 1; ; attempt++ {
		err = ist.start(ctx, dir, kubeconfig, caDir, bin, logPath, env, opts)
		if err == nil {
			break
		}
		if log, _ := os.ReadFile(logPath); attempt < 3 && strings.Contains(string(log), "address already in use") {
			continue
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			ist.Stop()
		}
	}()
	if opts.NoSyncWait {
		return ist, nil
	}
	want := opts.Synced
	if want == nil {
		secrets, err := c.Admin.CoreV1().Secrets("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "istio/multiCluster=true"})
		if err != nil {
			return nil, err
		}
		for _, s := range secrets.Items {
			for k := range s.Data {
				if k != ist.ClusterID && !slices.Contains(want, k) {
					want = append(want, k)
				}
			}
		}
	}
	if err := ist.WaitSynced(ctx, want...); err != nil {
		return nil, err
	}
	return ist, nil
}

// istioReaderRestRole holds the rules of Istio's istio-reader-clusterrole
// (manifests/charts/istio-control/istio-discovery/templates/
// reader-clusterrole.yaml) that IstioReaderRole lacks. Without the CRD
// rule a real istiod never syncs a remote cluster: it watches the CRDs to
// learn which Istio and Gateway API kinds exist.
const istioReaderRestRole = "testenv-istio-reader-rest"

// grantIstioReaderRest binds istioReaderRestRole to the remote secrets'
// service account in every cluster; idempotent.
func (e *Env) grantIstioReaderRest(ctx context.Context) error {
	read := []string{"get", "list", "watch"}
	for _, c := range e.Clusters {
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: istioReaderRestRole},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: read},
				{APIGroups: []string{"networking.x-k8s.io", "gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: read},
				{APIGroups: []string{"config.istio.io", "authentication.istio.io", "rbac.istio.io"}, Resources: []string{"*"}, Verbs: read},
				{APIGroups: []string{"multicluster.x-k8s.io"}, Resources: []string{"serviceexports"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
				{APIGroups: []string{"multicluster.x-k8s.io"}, Resources: []string{"serviceimports"}, Verbs: read},
			},
		}
		if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: istioReaderRestRole},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: istioReaderRestRole},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: ReaderServiceAccount, Namespace: "istio-system"}},
		}
		if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

// IstiodLogDirVar, when set, names a directory that Stop copies each
// istiod's log into (istiod-<cluster>-<time>.log), as the environment's
// directory goes away with the test.
const IstiodLogDirVar = "MESHDOCTOR_ISTIOD_LOGS"

// Stop ends istiod and waits for it; safe to call twice.
func (i *Istiod) Stop() {
	if i == nil || i.proc == nil {
		return
	}
	i.proc.stop(10 * time.Second)
	if d := os.Getenv(IstiodLogDirVar); d != "" {
		if b, err := os.ReadFile(i.proc.logPath); err == nil {
			_ = os.WriteFile(filepath.Join(d, fmt.Sprintf("istiod-%s-%s.log", i.Cluster, time.Now().Format("150405.000"))), b, 0o644)
		}
	}
}

// Log is the path of istiod's log.
func (i *Istiod) Log() string { return i.proc.logPath }

var localHTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

func (i *Istiod) waitReady(ctx context.Context) error {
	var last string
	for {
		resp, err := localHTTP.Get("http://" + i.HTTPAddr + "/ready")
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		if i.proc.exited() {
			return i.proc.failure("did not start")
		}
		select {
		case <-ctx.Done():
			return i.proc.failure(fmt.Sprintf("not ready (%v): last /ready: %s", ctx.Err(), last))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Debug gets one of istiod's debug paths (/debug/clusterz, ...) from its
// monitoring port, from loopback as a port-forward would.
func (i *Istiod) Debug(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+i.MonitoringAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := localHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("istiod %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// WaitSynced waits until /debug/clusterz lists each cluster ID as synced.
func (i *Istiod) WaitSynced(ctx context.Context, clusterIDs ...string) error {
	var last string
	for {
		b, err := i.Debug(ctx, "/debug/clusterz")
		if err == nil {
			var entries []struct{ ID, SyncStatus string }
			if err := json.Unmarshal(b, &entries); err == nil {
				synced := map[string]bool{}
				for _, e := range entries {
					synced[e.ID] = e.SyncStatus == "synced"
				}
				missing := 0
				for _, id := range clusterIDs {
					if !synced[id] {
						missing++
					}
				}
				if missing == 0 {
					return nil
				}
			}
			last = string(b)
		} else {
			last = err.Error()
		}
		if i.proc.exited() {
			return i.proc.failure("exited")
		}
		select {
		case <-ctx.Done():
			return i.proc.failure(fmt.Sprintf("clusters %v not synced (%v); last /debug/clusterz: %s", clusterIDs, ctx.Err(), last))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// NodeMeta is the sidecar an xDS client presents itself as.
type NodeMeta struct {
	IP string // the pod IP, as in the node ID and INSTANCE_IPS
	// MoreIPs are the pod's other IPs (a dual-stack pod's IPv6 one), after
	// IP in INSTANCE_IPS, as pilot-agent reports them.
	MoreIPs   []string
	Pod       string
	Namespace string
	ClusterID string // ISTIO_META_CLUSTER_ID
	Network   string // ISTIO_META_NETWORK ("" for none)
	// IstioVersion is ISTIO_VERSION (default: the pinned Istio's, 1.31.0).
	IstioVersion string
	MeshID       string            // ISTIO_META_MESH_ID
	Labels       map[string]string // the pod's labels
	// ServiceAccount is the pod's (default "default").
	ServiceAccount string
}

func (n NodeMeta) node() (*corev3.Node, error) {
	version := n.IstioVersion
	if version == "" {
		version = "1.31.0"
	}
	sa := n.ServiceAccount
	if sa == "" {
		sa = "default"
	}
	labels := map[string]any{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	md := map[string]any{
		"CLUSTER_ID":            n.ClusterID,
		"NAMESPACE":             n.Namespace,
		"NAME":                  n.Pod,
		"INSTANCE_IPS":          strings.Join(append([]string{n.IP}, n.MoreIPs...), ","),
		"ISTIO_VERSION":         version,
		"INTERCEPTION_MODE":     "REDIRECT",
		"SERVICE_ACCOUNT":       sa,
		"LABELS":                labels,
		"WORKLOAD_NAME":         n.Labels["app"],
		"POD_PORTS":             "[]",
		"ENVOY_STATUS_PORT":     float64(15021),
		"ENVOY_PROMETHEUS_PORT": float64(15090),
	}
	if n.Network != "" {
		md["NETWORK"] = n.Network
	}
	if n.MeshID != "" {
		md["MESH_ID"] = n.MeshID
	}
	s, err := structpb.NewStruct(md)
	if err != nil {
		return nil, err
	}
	return &corev3.Node{
		Id:       fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", n.IP, n.Pod, n.Namespace, n.Namespace),
		Cluster:  n.Labels["app"] + "." + n.Namespace,
		Metadata: s,
	}, nil
}

// EndpointsDump connects to istiod's plaintext xDS port as the sidecar
// node (ADS over gRPC: CDS, ACK, then EDS, as Envoy does) and renders what
// istiod pushed as Envoy's /config_dump?include_eds: an admin/v3
// EndpointsConfigDump with one ClusterLoadAssignment per EDS cluster. With
// clusters given only those are requested (each must be an EDS cluster of
// the CDS istiod sent); otherwise every EDS cluster.
//
// The gRPC client is a minimal one (HTTP/2 without TLS, gRPC framing, the
// DiscoveryRequest/Response envelope encoded with protowire): the product
// module does not require google.golang.org/grpc, and this is all ADS needs.
// The resources themselves are go-control-plane types.
func (i *Istiod) EndpointsDump(ctx context.Context, n NodeMeta, clusters ...string) ([]byte, error) {
	node, err := n.node()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := openADS(ctx, i.GRPCAddr)
	if err != nil {
		return nil, err
	}
	defer s.close()

	if err := s.send(discoveryRequest{node: node, typeURL: typeCluster}); err != nil {
		return nil, err
	}
	cds, err := s.recv(typeCluster)
	if err != nil {
		return nil, fmt.Errorf("CDS: %w", err)
	}
	var eds []string
	for _, r := range cds.resources {
		var c clusterv3.Cluster
		if err := proto.Unmarshal(r.GetValue(), &c); err != nil {
			return nil, fmt.Errorf("CDS: cluster: %w", err)
		}
		if c.GetType() == clusterv3.Cluster_EDS {
			eds = append(eds, c.GetName())
		}
	}
	if err := s.send(discoveryRequest{typeURL: typeCluster, version: cds.version, nonce: cds.nonce}); err != nil {
		return nil, err
	}
	want := eds
	if len(clusters) > 0 {
		for _, c := range clusters {
			if !slices.Contains(eds, c) {
				return nil, fmt.Errorf("istiod sent no EDS cluster %s to %s (it sent %d EDS clusters: %s)", c, node.GetId(), len(eds), strings.Join(eds, ", "))
			}
		}
		want = clusters
	}
	slices.Sort(want)
	if err := s.send(discoveryRequest{typeURL: typeCLA, names: want}); err != nil {
		return nil, err
	}
	got := map[string]*anypb.Any{}
	var version string
	for len(got) < len(want) {
		resp, err := s.recv(typeCLA)
		if err != nil {
			return nil, fmt.Errorf("EDS: %w (have %d of %d clusters)", err, len(got), len(want))
		}
		version = resp.version
		for _, r := range resp.resources {
			var cla endpointv3.ClusterLoadAssignment
			if err := proto.Unmarshal(r.GetValue(), &cla); err != nil {
				return nil, fmt.Errorf("EDS: %w", err)
			}
			got[cla.GetClusterName()] = r
		}
		if err := s.send(discoveryRequest{typeURL: typeCLA, names: want, version: resp.version, nonce: resp.nonce}); err != nil {
			return nil, err
		}
	}
	now := timestamppb.Now()
	dump := &adminv3.EndpointsConfigDump{}
	for _, name := range want {
		dump.DynamicEndpointConfigs = append(dump.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
			VersionInfo: version, EndpointConfig: got[name], LastUpdated: now})
	}
	a, err := anypb.New(dump)
	if err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{Indent: "  "}.Marshal(&adminv3.ConfigDump{Configs: []*anypb.Any{a}})
}

// discoveryRequest is envoy.service.discovery.v3.DiscoveryRequest.
type discoveryRequest struct {
	version string       // 1
	node    *corev3.Node // 2
	names   []string     // 3
	typeURL string       // 4
	nonce   string       // 5
}

func (r discoveryRequest) marshal() ([]byte, error) {
	var b []byte
	str := func(num protowire.Number, s string) {
		if s != "" {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	str(1, r.version)
	if r.node != nil {
		nb, err := proto.Marshal(r.node)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, nb)
	}
	for _, n := range r.names {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	str(4, r.typeURL)
	str(5, r.nonce)
	return b, nil
}

// discoveryResponse is envoy.service.discovery.v3.DiscoveryResponse.
type discoveryResponse struct {
	version   string       // 1
	resources []*anypb.Any // 2
	typeURL   string       // 4
	nonce     string       // 5
}

func parseDiscoveryResponse(b []byte) (discoveryResponse, error) {
	var r discoveryResponse
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case 1:
			r.version = string(v)
		case 2:
			a := &anypb.Any{}
			if err := proto.Unmarshal(v, a); err != nil {
				return r, err
			}
			r.resources = append(r.resources, a)
		case 4:
			r.typeURL = string(v)
		case 5:
			r.nonce = string(v)
		}
	}
	return r, nil
}

// adsStream is one StreamAggregatedResources call: gRPC over HTTP/2
// without TLS (prior knowledge), as Envoy talks to istiod's port 15010.
type adsStream struct {
	w      *io.PipeWriter
	resp   *http.Response
	r      *bufio.Reader
	respCh chan adsResult
	cancel context.CancelFunc
}

type adsResult struct {
	resp *http.Response
	err  error
}

const adsPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

func openADS(ctx context.Context, addr string) (*adsStream, error) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos, Proxy: nil}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+adsPath, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.ContentLength = -1
	s := &adsStream{w: pw, cancel: func() { cancel(); tr.CloseIdleConnections() }}
	// The server answers with headers only once it has something to send,
	// so the caller's first request must go out while RoundTrip waits:
	// send writes into the pipe, and recv waits for the response.
	s.respCh = make(chan adsResult, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		s.respCh <- adsResult{resp, err}
	}()
	return s, nil
}

func (s *adsStream) send(r discoveryRequest) error {
	b, err := r.marshal()
	if err != nil {
		return err
	}
	frame := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(b)))
	if _, err := s.w.Write(append(frame, b...)); err != nil {
		return fmt.Errorf("ADS send: %w", err)
	}
	return nil
}

// recv returns the next response of typeURL, skipping others.
func (s *adsStream) recv(typeURL string) (discoveryResponse, error) {
	if s.resp == nil {
		res := <-s.respCh
		if res.err != nil {
			return discoveryResponse{}, fmt.Errorf("ADS: %w", res.err)
		}
		s.resp, s.r = res.resp, bufio.NewReader(res.resp.Body)
		if s.resp.StatusCode != http.StatusOK {
			return discoveryResponse{}, fmt.Errorf("ADS: HTTP %s", s.resp.Status)
		}
	}
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
			return discoveryResponse{}, s.streamError(err)
		}
		if hdr[0] != 0 {
			return discoveryResponse{}, errors.New("ADS: compressed message (not requested)")
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(s.r, msg); err != nil {
			return discoveryResponse{}, s.streamError(err)
		}
		r, err := parseDiscoveryResponse(msg)
		if err != nil {
			return r, fmt.Errorf("ADS: decode response: %w", err)
		}
		if r.typeURL == typeURL {
			return r, nil
		}
	}
}

// streamError explains an ended stream with its gRPC status.
func (s *adsStream) streamError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		st := s.resp.Trailer.Get("Grpc-Status")
		if st == "" {
			st = s.resp.Header.Get("Grpc-Status")
		}
		msg := s.resp.Trailer.Get("Grpc-Message")
		if msg == "" {
			msg = s.resp.Header.Get("Grpc-Message")
		}
		return fmt.Errorf("ADS stream ended: grpc-status %s %s", st, msg)
	}
	return fmt.Errorf("ADS: %w", err)
}

func (s *adsStream) close() {
	s.w.Close()
	if s.resp != nil {
		s.resp.Body.Close()
	}
	s.cancel()
}

// start runs pilot-discovery on fresh ports and waits until it is ready.
func (ist *Istiod) start(ctx context.Context, dir, kubeconfig, caDir, bin, logPath string, env map[string]string, opts IstiodOptions) error {
	ports := make([]int, 6)
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	ist.HTTPAddr, ist.GRPCAddr, ist.SecureGRPCAddr, ist.MonitoringAddr, ist.WebhookAddr =
		addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3]), addr(ports[4])

	// What the pod would have; then the scenario's env; then the caller's.
	base := map[string]string{
		"POD_NAMESPACE": "istio-system",
		"POD_NAME":      "istiod-" + ist.Cluster,
		"REVISION":      "default",
		"ROOT_CA_DIR":   caDir,
		// No webhooks: nothing is installed that would call them, and the
		// scenarios' istio-sidecar-injector ConfigMap has values but no
		// template ("config"), which istiod refuses to start with.
		"INJECT_ENABLED":                 "false",
		"INJECTION_WEBHOOK_CONFIG_NAME":  "",
		"VALIDATION_WEBHOOK_CONFIG_NAME": "",
		"PILOT_ENABLE_ANALYSIS":          "false",
		"KUBECONFIG":                     kubeconfig,
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range opts.Env {
		base[k] = v
	}
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for _, k := range slices.Sorted(maps.Keys(base)) {
		environ = append(environ, k+"="+base[k])
	}
	args := []string{"discovery",
		"--kubeconfig=" + kubeconfig,
		"--clusterID=" + ist.ClusterID,
		"--namespace=istio-system",
		// Files that do not exist: the mesh config comes from the istio
		// ConfigMap, as in a cluster.
		"--meshConfig=" + filepath.Join(dir, "no-mesh-file"),
		"--networksConfig=" + filepath.Join(dir, "no-mesh-networks-file"),
		"--httpAddr=" + ist.HTTPAddr,
		"--httpsAddr=" + ist.WebhookAddr,
		"--grpcAddr=" + ist.GRPCAddr,
		"--secureGRPCAddr=" + ist.SecureGRPCAddr,
		"--monitoringAddr=" + ist.MonitoringAddr,
		"--shutdownDuration=1s",
		"--ctrlz_address=127.0.0.1",
		"--ctrlz_port=" + strconv.Itoa(ports[5]),
		"--profile=false",
		"--log_output_level=default:info",
	}
	if opts.ResolvConf != "" {
		// unshare execs (no fork) into sh, which bind-mounts the file in
		// the new, private mount namespace and execs pilot-discovery: one
		// pid throughout, so stopping it works as without.
		args = append([]string{"--mount", "--propagation", "private", "--", "sh", "-c",
			`mount --bind "$0" /etc/resolv.conf && exec "$@"`, opts.ResolvConf, bin}, args...)
		bin = "unshare"
	}
	proc, err := startProcIn("istiod "+ist.Cluster, logPath, dir, environ, bin, args...)
	if err != nil {
		return err
	}
	ist.proc = proc
	if err := ist.waitReady(ctx); err != nil {
		ist.Stop()
		return err
	}
	return nil
}
