package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const dirTestToken = "eyJhbGciOiJSUzI1NiJ9.dir-test-token.c2lnbmF0dXJl"

// testCA is a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dir-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func dirKubeconfig(t *testing.T, server string, user *clientcmdapi.AuthInfo) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: testCA(t)}
	cfg.AuthInfos["u"] = user
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "ctx"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secretVolume lays files out as the kubelet mounts a Secret: each key a
// symlink to ..data/key, ..data a symlink to a timestamped directory.
func secretVolume(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_12_02_06_00_00.000000001")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(ts, name), b, 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadDirReadsASecretVolume(t *testing.T) {
	dir := secretVolume(t, map[string][]byte{
		"west":    dirKubeconfig(t, "https://west.example.com:6443", &clientcmdapi.AuthInfo{Token: dirTestToken}),
		"central": dirKubeconfig(t, "https://10.1.2.3:6443", &clientcmdapi.AuthInfo{Username: "meshdoctor", Password: "not-a-real-password"}),
	})
	clients, err := LoadDir(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 2 || clients[0].Context != "central" || clients[1].Context != "west" {
		t.Fatalf("clients %v, want central and west (the keys, in order; ..data skipped)", names(clients))
	}
	if clients[1].Server != "https://west.example.com:6443" || clients[1].Config.BearerToken != dirTestToken {
		t.Errorf("west: server %s", clients[1].Server)
	}
	if clients[1].Config.UserAgent != "meshdoctor" || clients[1].Config.Dial == nil {
		t.Error("west: not a guarded meshdoctor client (user agent, dialer refusing local addresses)")
	}
}

func names(cs []*Client) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Context)
	}
	return out
}

// Each file is held to the remote-secret rules; the error names the file
// and what it needs, never a command, a path or the token.
func TestLoadDirRefusesWhatRemoteSecretsMayNotDo(t *testing.T) {
	exec := &clientcmdapi.AuthInfo{Token: dirTestToken, Exec: &clientcmdapi.ExecConfig{Command: "/usr/bin/steal-credentials", APIVersion: "client.authentication.k8s.io/v1"}}
	for _, tt := range []struct {
		name  string
		file  string
		data  []byte
		want  string
		never []string
	}{
		{"exec plugin", "east", dirKubeconfig(t, "https://east.example.com", exec), "an exec plugin", []string{"steal-credentials", dirTestToken}},
		{"token file", "east", dirKubeconfig(t, "https://east.example.com", &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/other/token"}), "a local file (tokenFile)", []string{"/var/run/secrets"}},
		{"client key file", "east", dirKubeconfig(t, "https://east.example.com", &clientcmdapi.AuthInfo{ClientCertificate: "/root/c.pem", ClientKey: "/root/k.pem"}), "a local file (client-key)", []string{"/root/"}},
		{"loopback server", "east", dirKubeconfig(t, "https://127.0.0.1:6443", &clientcmdapi.AuthInfo{Token: dirTestToken}), "loopback", []string{dirTestToken}},
		{"not a kubeconfig", "east", []byte("token: " + dirTestToken + "\n\x00garbage: ["), "kubeconfig east", []string{dirTestToken}},
		{"file name that is no context name", "east cluster", dirKubeconfig(t, "https://east.example.com", &clientcmdapi.AuthInfo{Token: dirTestToken}), "the file name is the context name", []string{dirTestToken}},
		{"oversized", "east", make([]byte, MaxDirKubeconfigSize+1), "larger than", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := secretVolume(t, map[string][]byte{tt.file: tt.data})
			_, err := LoadDir(dir, LoadOptions{})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err %v, want a ConfigError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %q does not say %q", err, tt.want)
			}
			for _, s := range tt.never {
				if strings.Contains(err.Error(), s) {
					t.Errorf("err %q echoes %q", err, s)
				}
			}
		})
	}
	if cs, err := LoadDir(t.TempDir(), LoadOptions{}); err != nil || len(cs) != 0 {
		t.Errorf("empty directory (an optional Secret not created yet): %v, %v; want no clients and no error", cs, err)
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "none"), LoadOptions{}); err == nil {
		t.Error("a missing directory is no error")
	}
}

func TestInClusterOutsideAPod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := InCluster("east", LoadOptions{})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "in-cluster config") {
		t.Errorf("InCluster outside a pod: %v, want a ConfigError", err)
	}
	if _, err := InCluster("east/west", LoadOptions{}); err == nil {
		t.Error("a context name with a slash was accepted")
	}
}
