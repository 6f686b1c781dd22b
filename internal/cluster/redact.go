package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshdoctor/meshdoctor/internal/pki"
)

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
	// Which data key fills which field, as istiod reads them
	// (pilot/pkg/bootstrap/istio_ca.go): cert-manager's form wins when
	// tls.crt exists.
	caName, chainName, rootName, keyName := "ca-cert.pem", "cert-chain.pem", "root-cert.pem", "ca-key.pem"
	if _, ok := s.Data["tls.crt"]; ok {
		b.Form = "tls"
		caName, chainName, rootName, keyName = "tls.crt", "tls.crt", "ca.crt", "tls.key"
	}
	b.CACert, b.CertChain, b.Root = certsOnly(s.Data[caName]), certsOnly(s.Data[chainName]), certsOnly(s.Data[rootName])
	names := []string{caName, chainName, rootName}
	if chainName == caName {
		names = []string{caName, rootName}
	}
	for _, k := range names {
		b.Dropped = append(b.Dropped, otherBlocks(k, s.Data[k])...)
	}
	b.KeyCheck = pki.KeyCheck(s.Data[keyName], b.CACert)
	return b
}

// certsOnly re-encodes the CERTIFICATE blocks of a PEM text and nothing
// else: a private key someone concatenated into ca-cert.pem, PEM headers
// and any text between blocks stay in the cluster.
func certsOnly(data []byte) string {
	var out []byte
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})...)
		}
	}
	return string(out)
}

// otherBlocks describes, by type name only, what a certificate field held
// besides certificates, for the trust checks to warn about.
func otherBlocks(key string, data []byte) []string {
	var out []string
	seen := map[string]bool{}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" && !seen[block.Type] {
			seen[block.Type] = true
			out = append(out, fmt.Sprintf("%s also holds a %s block", key, pemTypeName(block.Type)))
		}
	}
	switch trailing := len(bytes.TrimSpace(rest)); {
	case trailing == 0:
	case trailing == len(bytes.TrimSpace(data)):
		out = append(out, key+" holds no PEM block")
	default:
		out = append(out, key+" also holds text that is not PEM")
	}
	return out
}

// pemTypeName keeps a PEM type word when it is an ordinary type name and
// says "non-standard" otherwise: the type line is cluster data too.
func pemTypeName(t string) string {
	if len(t) > 40 {
		return "non-standard"
	}
	for _, r := range t {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '-') {
			return "non-standard"
		}
	}
	return t
}

// keptAnnotations are the remote-secret annotations kept: the only one the
// checks may read (istioctl create-remote-secret sets it; istiod itself
// ignores it, pkg/kube/multicluster/secretcontroller.go). Everything else —
// kubectl's last-applied-configuration, which holds the whole secret with
// its token after a client-side `kubectl apply` — is dropped here.
var keptAnnotations = []string{"networking.istio.io/cluster"}

func remoteSecret(s *corev1.Secret) RemoteSecret {
	rs := RemoteSecret{Name: s.Name}
	for _, k := range keptAnnotations {
		if v, ok := s.Annotations[k]; ok {
			if rs.Annotations == nil {
				rs.Annotations = map[string]string{}
			}
			rs.Annotations[k] = v
		}
	}
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
	rk.Server, rk.Insecure = safeServer(cl.Server), cl.InsecureSkipTLSVerify
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
	// A service account's subject is system:serviceaccount:<ns>:<name>,
	// well under 320 characters; anything longer is not kept.
	if len(claims.Sub) > 320 {
		claims.Sub = ""
	}
	if claims.Exp == nil {
		return nil, claims.Sub
	}
	t := time.Unix(*claims.Exp, 0).UTC()
	return &t, claims.Sub
}

// safeServer is a kubeconfig's server URL without what may be a credential:
// user:password@, a query or a fragment. client-go reads a server without a
// scheme as https://, so that form is cleaned the same way.
func safeServer(server string) string {
	raw, bare := server, !strings.Contains(server, "://")
	if bare {
		raw = "https://" + server
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(server URL does not parse)"
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery {
		return server
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	out := u.String()
	if bare {
		out = strings.TrimPrefix(out, "https://")
	}
	if strings.Contains(out, "@") {
		return "(server URL holds credentials)"
	}
	return out
}

// scrub keeps an error message about a kubeconfig from echoing its content.
func scrub(msg string) string {
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return msg
}
