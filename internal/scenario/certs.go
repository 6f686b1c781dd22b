package scenario

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshdoctor/meshdoctor/internal/pki"
)

// Certs makes, once per name, the CAs a scenario's templates ask for, and
// remembers every private key and token it hands out so that tests can
// prove none of them is ever printed.
type Certs struct {
	Now time.Time

	mu      sync.Mutex
	roots   map[string]*pki.CA
	inters  map[string]*pki.CA
	issued  map[string]*pki.CA // cluster -> the intermediate in its cacerts
	selfs   map[string]*pki.CA
	secrets []string
}

// NewCerts returns an empty factory whose clock is now.
func NewCerts(now time.Time) *Certs {
	return &Certs{Now: now, roots: map[string]*pki.CA{}, inters: map[string]*pki.CA{}, issued: map[string]*pki.CA{}, selfs: map[string]*pki.CA{}}
}

// Secrets returns every private key PEM and token handed out so far.
func (c *Certs) Secrets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.secrets...)
}

func (c *Certs) remember(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, s)
}

// Root returns (making it once) the root CA of that name.
func (c *Certs) Root(name string) (*pki.CA, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.roots[name]; ok {
		return r, nil
	}
	r, err := pki.NewRoot("Istio", pki.Options{NotBefore: c.Now.Add(-500 * 24 * time.Hour), NotAfter: c.Now.Add(10 * 365 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	c.roots[name] = r
	c.secrets = append(c.secrets, r.KeyPEM())
	return r, nil
}

func (c *Certs) intermediate(root, cluster string, notAfter time.Time) (*pki.CA, error) {
	key := root + "/" + cluster + "/" + notAfter.String()
	r, err := c.Root(root)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ca, ok := c.inters[key]; ok {
		return ca, nil
	}
	ca, err := pki.NewIntermediate(r, cluster, pki.Options{NotBefore: c.Now.Add(-400 * 24 * time.Hour), NotAfter: notAfter})
	if err != nil {
		return nil, err
	}
	c.inters[key] = ca
	c.secrets = append(c.secrets, ca.KeyPEM())
	return ca, nil
}

// Intermediate returns the intermediate CA that `cacerts ROOT CLUSTER`
// puts into a cluster, to issue that cluster's workload and istiod
// certificates from.
func (c *Certs) Intermediate(root, cluster string) (*pki.CA, error) {
	return c.intermediate(root, cluster, c.Now.Add(2*365*24*time.Hour))
}

// Issued returns the intermediate CA that a cluster's cacerts was made
// with, if the scenario gave it one.
func (c *Certs) Issued(cluster string) (*pki.CA, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, ok := c.issued[cluster]
	return ca, ok
}

// SelfSigned returns (once) the self-signed CA istiod would generate into
// istio-ca-secret in that cluster.
func (c *Certs) SelfSigned(cluster string) (*pki.CA, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ca, ok := c.selfs[cluster]; ok {
		return ca, nil
	}
	ca, err := pki.NewRoot("cluster.local", pki.Options{NotBefore: c.Now.Add(-time.Hour), NotAfter: c.Now.Add(10 * 365 * 24 * time.Hour)})
	if err != nil {
		return nil, err
	}
	c.selfs[cluster] = ca
	c.secrets = append(c.secrets, ca.KeyPEM())
	return ca, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

func jsonMap(m map[string]string) (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

// FakeJWT makes an unsigned JWT-shaped token with exp and sub, the shape of
// a service-account token; it is remembered as a secret.
func (c *Certs) FakeJWT(sub string, exp time.Time) string {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"scenario"}`))
	claims, _ := json.Marshal(map[string]any{"iss": "kubernetes/serviceaccount", "sub": sub, "exp": exp.Unix(), "iat": c.Now.Unix()})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	tok := hdr + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + hex.EncodeToString(sig)
	c.remember(tok)
	return tok
}

func (c *Certs) funcs(env Env) map[string]any {
	return map[string]any{
		// cacerts ROOT CLUSTER [variant]: the data map of a cacerts secret,
		// as Makefile.selfsigned.mk writes it (cert-chain = intermediate +
		// root). Variants: expired, expiring, wrong-key, incomplete, not-ca.
		"cacerts": func(root, cluster string, variants ...string) (string, error) {
			data, err := c.cacertsData(root, cluster, first(variants), "")
			if err != nil {
				return "", err
			}
			return jsonMap(data)
		},
		// rootPEM ROOT: the root certificate as a JSON string.
		"rootPEM": func(root string) (string, error) {
			r, err := c.Root(root)
			if err != nil {
				return "", err
			}
			return jsonString(r.CertPEM())
		},
		// selfSignedCA CLUSTER: istio-ca-secret's data map.
		"selfSignedCA": func(cluster string) (string, error) {
			ca, err := c.SelfSigned(cluster)
			if err != nil {
				return "", err
			}
			return jsonMap(map[string]string{"ca-cert.pem": b64(ca.CertPEM()), "ca-key.pem": b64(ca.KeyPEM()),
				"cert-chain.pem": "", "root-cert.pem": ""})
		},
		// selfSignedRootPEM CLUSTER: that CA as a JSON string.
		"selfSignedRootPEM": func(cluster string) (string, error) {
			ca, err := c.SelfSigned(cluster)
			if err != nil {
				return "", err
			}
			return jsonString(ca.CertPEM())
		},
		"server": env.Server,
		// remoteSecret KEY CLUSTER [variant]: a remote secret's data map
		// {KEY: kubeconfig for CLUSTER}, as istioctl create-remote-secret
		// writes it. Variants: expired-token, expiring-token, exec,
		// loopback, bad-yaml.
		"remoteSecret": func(key, cluster string, variants ...string) (string, error) {
			data, err := c.remoteSecretData(env, key, cluster, first(variants))
			if err != nil {
				return "", err
			}
			return jsonMap(data)
		},
	}
}

func first(vs []string) string {
	if len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// cacertsData is the data map (base64 values) of a cacerts secret, as
// Makefile.selfsigned.mk writes it (cert-chain = intermediate + root).
// Variants: expired, expiring, wrong-key, incomplete, not-ca.
//
// Form "tls" is the kubernetes.io/tls layout cert-manager writes for a
// Certificate with isCA: true issued by a CA ClusterIssuer holding the
// root (tls.crt the issued intermediate, tls.key its key, ca.crt the
// issuer's certificate), which istiod reads instead when tls.crt exists
// (pilot/pkg/bootstrap/istio_ca.go detectSigningCABundleAndCRL). There,
// incomplete is what `kubectl create secret tls cacerts --cert --key`
// makes: no ca.crt.
func (c *Certs) cacertsData(root, cluster, v, form string) (map[string]string, error) {
	notAfter := c.Now.Add(2 * 365 * 24 * time.Hour) // as Intermediate
	switch v {
	case "expired":
		notAfter = c.Now.Add(-48 * time.Hour)
	case "expiring":
		notAfter = c.Now.Add(10 * 24 * time.Hour)
	}
	ca, err := c.intermediate(root, cluster, notAfter)
	if err != nil {
		return nil, err
	}
	r, _ := c.Root(root)
	c.mu.Lock()
	c.issued[cluster] = ca
	c.mu.Unlock()
	key := ca.KeyPEM()
	caCert := ca.CertPEM()
	switch v {
	case "wrong-key":
		other, err := c.intermediate(root, cluster+"-other", notAfter)
		if err != nil {
			return nil, err
		}
		key = other.KeyPEM()
	case "not-ca":
		leaf, err := pki.NewLeaf(ca, "not-a-ca", pki.Options{NotBefore: c.Now.Add(-time.Hour), NotAfter: notAfter})
		if err != nil {
			return nil, err
		}
		caCert, key = leaf.CertPEM(), leaf.KeyPEM()
		c.remember(key)
	}
	data := map[string]string{
		"ca-cert.pem":    b64(caCert),
		"ca-key.pem":     b64(key),
		"cert-chain.pem": b64(ca.ChainPEM()),
		"root-cert.pem":  b64(r.CertPEM()),
	}
	if form == "tls" {
		data = map[string]string{"tls.crt": b64(caCert), "tls.key": b64(key), "ca.crt": b64(r.CertPEM())}
		if v == "incomplete" {
			delete(data, "ca.crt")
		}
		return data, nil
	}
	if v == "incomplete" {
		delete(data, "ca-key.pem")
	}
	return data, nil
}

// remoteSecretData is a remote secret's data map {KEY: kubeconfig for
// CLUSTER} (base64), as istioctl create-remote-secret writes it
// (istioctl/pkg/multicluster/remote_secret.go,
// createBearerTokenKubeconfig). Variants: expired-token, expiring-token,
// exec, loopback, bad-yaml.
func (c *Certs) remoteSecretData(env Env, key, cluster, v string) (map[string]string, error) {
	if v == "bad-yaml" {
		return map[string]string{key: b64("apiVersion: v1\nclusters: [\n")}, nil
	}
	server := env.Server(cluster)
	if server == "" {
		server = fmt.Sprintf("https://%s.mesh.test:6443", cluster)
	}
	user := &clientcmdapi.AuthInfo{Token: env.Token(cluster)}
	switch v {
	case "expired-token":
		user.Token = c.FakeJWT("system:serviceaccount:istio-system:istio-reader-service-account", c.Now.Add(-72*time.Hour))
	case "expiring-token":
		user.Token = c.FakeJWT("system:serviceaccount:istio-system:istio-reader-service-account", c.Now.Add(48*time.Hour))
	case "exec":
		user = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "aws", Args: []string{"eks", "get-token"}, APIVersion: "client.authentication.k8s.io/v1beta1"}}
	case "loopback":
		server = "https://127.0.0.1:6443"
	}
	cfg := clientcmdapi.NewConfig()
	cl := &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	if ca, ok := env.(ClusterAccess); ok {
		if data := ca.CAData(cluster); len(data) > 0 {
			cl.InsecureSkipTLSVerify = false
			cl.CertificateAuthorityData = data
		}
		cl.ProxyURL = ca.ProxyURL(cluster)
	}
	cfg.Clusters[key] = cl
	cfg.AuthInfos[key] = user
	cfg.Contexts[key] = &clientcmdapi.Context{Cluster: key, AuthInfo: key}
	cfg.CurrentContext = key
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	return map[string]string{key: b64(string(out))}, nil
}
