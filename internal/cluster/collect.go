package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshdoctor/meshdoctor/internal/pki"
)

// Istio's well-known names.
const (
	CACertsSecret        = "cacerts"
	IstioCASecretName    = "istio-ca-secret"
	MultiClusterLabel    = "istio/multiCluster"
	DefaultProbeSelector = "app=sleep"
)

// CollectOptions tunes what is fetched.
type CollectOptions struct {
	// ProbeSelector selects the probe client pods (curl sources).
	ProbeSelector string
	// Now is the clock (tests).
	Now func() time.Time
}

// CollectAll fetches the inventory of every client concurrently and
// returns them in the clients' order. It never fails: a cluster that cannot
// be read has its error recorded in its inventory.
func CollectAll(ctx context.Context, clients []*Client, opts CollectOptions) []*Inventory {
	out := make([]*Inventory, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { out[i] = Collect(ctx, c, opts) })
	}
	wg.Wait()
	return out
}

// Collect fetches one cluster's inventory: one request per resource kind,
// concurrently, each bounded by the client's timeout and ctx.
func Collect(ctx context.Context, c *Client, opts CollectOptions) *Inventory {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if opts.ProbeSelector == "" {
		opts.ProbeSelector = DefaultProbeSelector
	}
	inv := &Inventory{Context: c.Context, Server: c.Server, FetchedAt: now().UTC(), Errors: map[string]*FetchError{}}
	if c.BuildErr != nil {
		inv.Unreachable = &FetchError{Verb: "connect", Resource: "cluster", Reason: ReasonUnreachable, Message: c.BuildErr.Error()}
		return inv
	}
	v, err := serverVersion(ctx, c)
	if err != nil {
		inv.Unreachable = classify("get", "version", err)
		return inv
	}
	inv.Version = v

	var mu sync.Mutex
	record := func(resource string, err error) {
		mu.Lock()
		defer mu.Unlock()
		inv.Errors[resource] = classify("list", resource, err)
		slog.Debug("list failed", "context", c.Context, "resource", resource, "err", err)
	}
	lo := metav1.ListOptions{}
	ns := IstioNamespace
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Namespaces().List(gctx, lo)
		if err != nil {
			record(ResNamespaces, err)
			return nil
		}
		inv.Namespaces = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.AppsV1().Deployments(ns).List(gctx, lo)
		if err != nil {
			record(ResDeployments, err)
			return nil
		}
		inv.Deployments = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().ConfigMaps(ns).List(gctx, lo)
		if err != nil {
			record(ResConfigMaps, err)
			return nil
		}
		inv.ConfigMaps = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Secrets(ns).List(gctx, lo)
		if err != nil {
			record(ResSecrets, err)
			return nil
		}
		inv.CACerts, inv.IstioCASecret, inv.RemoteSecrets = redactSecrets(l.Items)
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Services("").List(gctx, lo)
		if err != nil {
			record(ResServices, err)
			return nil
		}
		inv.Services = l.Items
		return nil
	})
	// istio-system pods and the probe clients are two lists, made at once.
	var systemPods, probePods []corev1.Pod
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Pods(ns).List(gctx, lo)
		if err != nil {
			record(ResPods, err)
			return nil
		}
		systemPods = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.CoreV1().Pods("").List(gctx, metav1.ListOptions{LabelSelector: opts.ProbeSelector})
		if err != nil {
			record(ResPods, err)
			return nil
		}
		probePods = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Kube.DiscoveryV1().EndpointSlices("").List(gctx, lo)
		if err != nil {
			record(ResEndpointSlices, err)
			return nil
		}
		inv.EndpointSlices = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Istio.NetworkingV1().Gateways("").List(gctx, lo)
		if err != nil {
			record(ResGateways, err)
			return nil
		}
		inv.Gateways = l.Items
		return nil
	})
	g.Go(func() error {
		l, err := c.Istio.NetworkingV1().ServiceEntries("").List(gctx, lo)
		if err != nil {
			record(ResServiceEntries, err)
			return nil
		}
		inv.ServiceEntries = l.Items
		return nil
	})
	_ = g.Wait() // the functions record their errors and return nil
	if inv.Errors[ResPods] == nil {
		inv.Pods = systemPods
		for _, p := range probePods {
			if p.Namespace != ns {
				inv.Pods = append(inv.Pods, p)
			}
		}
	}
	if len(inv.Errors) == 0 {
		inv.Errors = nil
	}
	return inv
}

func serverVersion(ctx context.Context, c *Client) (string, error) {
	// Discovery's ServerVersion takes no context; use the REST client so
	// that ctx bounds the request. Fake clientsets have no REST client.
	rc := c.Kube.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		v, err := c.Kube.Discovery().ServerVersion()
		if err != nil {
			return "", err
		}
		return v.GitVersion, nil
	}
	body, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("decode /version: %w", err)
	}
	return v.GitVersion, nil
}

// redactSecrets keeps the public part of the CA secrets and the parsed,
// credential-free form of remote secrets.
func redactSecrets(secrets []corev1.Secret) (cacerts, istioCA *CABundle, remotes []RemoteSecret) {
	for i := range secrets {
		s := &secrets[i]
		switch {
		case s.Name == CACertsSecret:
			cacerts = caBundle(s)
		case s.Name == IstioCASecretName:
			istioCA = caBundle(s)
		case s.Labels[MultiClusterLabel] == "true":
			remotes = append(remotes, remoteSecret(s))
		}
	}
	sort.Slice(remotes, func(i, j int) bool { return remotes[i].Name < remotes[j].Name })
	return cacerts, istioCA, remotes
}

func caBundle(s *corev1.Secret) *CABundle {
	b := &CABundle{Secret: s.Name, Form: "istio"}
	for k := range s.Data {
		b.Keys = append(b.Keys, k)
	}
	sort.Strings(b.Keys)
	var key []byte
	if _, ok := s.Data["tls.crt"]; ok {
		// cert-manager's form wins when tls.crt exists, as in istiod.
		b.Form = "tls"
		b.CACert = string(s.Data["tls.crt"])
		b.Root = string(s.Data["ca.crt"])
		b.CertChain = string(s.Data["tls.crt"])
		key = s.Data["tls.key"]
	} else {
		b.CACert = string(s.Data["ca-cert.pem"])
		b.CertChain = string(s.Data["cert-chain.pem"])
		b.Root = string(s.Data["root-cert.pem"])
		key = s.Data["ca-key.pem"]
	}
	b.KeyCheck = pki.KeyCheck(key, b.CACert)
	return b
}

func remoteSecret(s *corev1.Secret) RemoteSecret {
	rs := RemoteSecret{Name: s.Name, Annotations: s.Annotations}
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rs.Kubeconfigs = append(rs.Kubeconfigs, parseRemoteKubeconfig(k, s.Data[k]))
	}
	return rs
}

func parseRemoteKubeconfig(clusterID string, data []byte) RemoteKubeconfig {
	rk := RemoteKubeconfig{ClusterID: clusterID}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		rk.ParseError = "kubeconfig does not parse: " + scrub(err.Error())
		return rk
	}
	ctxName := cfg.CurrentContext
	kctx := cfg.Contexts[ctxName]
	if kctx == nil {
		rk.ParseError = fmt.Sprintf("current-context %q not found", ctxName)
		return rk
	}
	cl := cfg.Clusters[kctx.Cluster]
	if cl == nil {
		rk.ParseError = fmt.Sprintf("cluster %q of context %q not found", kctx.Cluster, ctxName)
		return rk
	}
	rk.Server, rk.Insecure = cl.Server, cl.InsecureSkipTLSVerify
	u := cfg.AuthInfos[kctx.AuthInfo]
	switch {
	case u == nil:
		rk.Auth = "none"
	case u.Exec != nil:
		rk.Auth = "exec"
	case u.AuthProvider != nil:
		rk.Auth = "auth-provider:" + u.AuthProvider.Name
	case u.TokenFile != "":
		rk.Auth = "token-file"
	case u.ClientCertificate != "" || u.ClientKey != "":
		rk.Auth = "client-cert-file"
	case u.Token != "":
		rk.Auth = "token"
		rk.TokenExpiry, rk.TokenSubject = jwtClaims(u.Token)
	case len(u.ClientCertificateData) > 0:
		rk.Auth = "client-cert"
	case u.Username != "":
		rk.Auth = "basic"
	default:
		rk.Auth = "none"
	}
	rk.raw = data
	return rk
}

// jwtClaims reads exp and sub of a JWT without verifying it: only to warn
// about expiry. The token itself is dropped.
func jwtClaims(token string) (*time.Time, string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ""
	}
	var claims struct {
		Exp *int64 `json:"exp"`
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return nil, ""
	}
	if claims.Exp == nil {
		return nil, claims.Sub
	}
	t := time.Unix(*claims.Exp, 0).UTC()
	return &t, claims.Sub
}

// scrub keeps an error message about a kubeconfig from echoing its content.
func scrub(msg string) string {
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return msg
}
