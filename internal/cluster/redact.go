package cluster

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
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
