package cluster

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// plantedToken is a credential that lives only in a local file: it must
// never leave the machine.
const plantedToken = "planted-local-token-3f9a1c"

// captureServer is a TLS API server on 127.0.0.1 that answers the lists
// the access probe makes and fails the test on any request carrying the
// planted token. It records the Authorization headers it saw.
type captureServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newCaptureServer(t *testing.T) *captureServer {
	t.Helper()
	cs := &captureServer{}
	cs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		cs.mu.Lock()
		cs.auths = append(cs.auths, auth)
		cs.mu.Unlock()
		if strings.Contains(auth, plantedToken) {
			t.Errorf("the planted local token reached a server named by cluster data: %s %s", r.Method, r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/endpointslices"):
			io.WriteString(w, `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[]}`)
		case strings.HasSuffix(r.URL.Path, "/services"):
			io.WriteString(w, `{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(cs.Close)
	return cs
}

func (cs *captureServer) port() string {
	_, port, _ := net.SplitHostPort(cs.Listener.Addr().String())
	return port
}

func (cs *captureServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.Certificate().Raw})
}

func (cs *captureServer) requests() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.auths...)
}

// remoteKubeconfig writes a one-context kubeconfig as a remote secret
// holds it.
func remoteKubeconfig(t *testing.T, cl *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["remote"] = cl
	cfg.AuthInfos["remote"] = u
	cfg.Contexts["remote"] = &clientcmdapi.Context{Cluster: "remote", AuthInfo: "remote"}
	cfg.CurrentContext = "remote"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tryRemote(t *testing.T, raw []byte, trusted ...string) error {
	t.Helper()
	rk := parseRemoteKubeconfig("remote", raw)
	if rk.ParseError != "" {
		t.Fatalf("fixture does not parse: %s", rk.ParseError)
	}
	access := RemoteAccess(RemoteAccessOptions{Timeout: 10 * time.Second, TrustedProxies: trusted})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return access(ctx, "local", "istio-remote-secret-remote", rk)
}

func wantNotTried(t *testing.T, err error, needs string) {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Reason != ReasonNotTried {
		t.Fatalf("err = %v, want a %s FetchError", err, ReasonNotTried)
	}
	if !strings.HasPrefix(fe.Message, "not tried from this machine: ") || !strings.Contains(fe.Message, needs) {
		t.Errorf("message %q does not say it was not tried because of %q", fe.Message, needs)
	}
}

func TestRemoteSecretNeverRunsCodeNorReadsLocalFiles(t *testing.T) {
	srv := newCaptureServer(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "plugin-ran")
	plugin := filepath.Join(dir, "plugin.sh")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\ntouch "+marker+"\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-plugin\"}}'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(plantedToken), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "client.key")
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, srv.caPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	loopback := "https://127.0.0.1:" + srv.port()
	cases := []struct {
		name  string
		cl    *clientcmdapi.Cluster
		user  *clientcmdapi.AuthInfo
		needs string
	}{
		{"exec plugin", &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443", CertificateAuthorityData: srv.caPEM()},
			&clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: plugin, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}},
			"it needs an exec plugin"},
		{"exec plugin, server on loopback", &clientcmdapi.Cluster{Server: loopback, CertificateAuthorityData: srv.caPEM()},
			&clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: plugin, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}},
			"it needs an exec plugin"},
		{"tokenFile, server on 0.0.0.0", &clientcmdapi.Cluster{Server: "https://0.0.0.0:" + srv.port(), InsecureSkipTLSVerify: true},
			&clientcmdapi.AuthInfo{TokenFile: tokenFile}, "a local file (tokenFile)"},
		{"tokenFile, server on loopback", &clientcmdapi.Cluster{Server: loopback, CertificateAuthorityData: srv.caPEM()},
			&clientcmdapi.AuthInfo{TokenFile: tokenFile}, "a local file (tokenFile)"},
		{"client-key file", &clientcmdapi.Cluster{Server: loopback, CertificateAuthorityData: srv.caPEM()},
			&clientcmdapi.AuthInfo{ClientKey: keyFile, ClientCertificateData: srv.caPEM()}, "a local file (client-key)"},
		{"certificate-authority file", &clientcmdapi.Cluster{Server: loopback, CertificateAuthority: caFile},
			&clientcmdapi.AuthInfo{Token: "inline-token"}, "a local file (certificate-authority)"},
		{"auth provider", &clientcmdapi.Cluster{Server: loopback, CertificateAuthorityData: srv.caPEM()},
			&clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "gcp"}}, "the gcp auth provider"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tryRemote(t, remoteKubeconfig(t, tc.cl, tc.user))
			wantNotTried(t, err, tc.needs)
			if strings.Contains(err.Error(), dir) {
				t.Errorf("the message echoes a local path: %v", err)
			}
		})
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the exec plugin named by a remote secret ran on this machine (marker %v)", err)
	}
	if got := srv.requests(); len(got) > 0 {
		t.Errorf("a server named by a refused remote secret was contacted %d times", len(got))
	}
}

func TestRemoteSecretLocalAddressesAreNotTried(t *testing.T) {
	srv := newCaptureServer(t)
	for _, server := range []string{
		"https://127.0.0.1:" + srv.port(), "https://0.0.0.0:" + srv.port(), "https://[::]:" + srv.port(),
		"https://localhost:" + srv.port(), "https://api.localhost:" + srv.port(), "https://[::1]:" + srv.port(),
		"https://169.254.169.254", "https://[fe80::1]:6443", "https://0.1.2.3:6443",
	} {
		t.Run(server, func(t *testing.T) {
			err := tryRemote(t, remoteKubeconfig(t, &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}, &clientcmdapi.AuthInfo{Token: "inline"}))
			wantNotTried(t, err, "address")
		})
	}
	if got := srv.requests(); len(got) > 0 {
		t.Errorf("a local address named by a remote secret was contacted %d times", len(got))
	}
}

func TestRemoteSecretHostnameResolvingToLoopbackIsNotDialled(t *testing.T) {
	srv := newCaptureServer(t)
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	addrs, err := net.DefaultResolver.LookupHost(t.Context(), host)
	if err != nil || len(addrs) == 0 || ipKind(net.ParseIP(addrs[0])) != "loopback" {
		t.Skipf("host name %s does not resolve to a loopback address here (%v %v): nothing to prove", host, addrs, err)
	}
	if LocalAddressKind(host) != "" {
		t.Fatalf("%s is caught by name; the test needs a name only resolution reveals", host)
	}
	err = tryRemote(t, remoteKubeconfig(t, &clientcmdapi.Cluster{Server: "https://" + net.JoinHostPort(host, srv.port()), InsecureSkipTLSVerify: true},
		&clientcmdapi.AuthInfo{Token: "inline"}))
	wantNotTried(t, err, "resolves to a loopback address")
	if got := srv.requests(); len(got) > 0 {
		t.Errorf("the server was contacted %d times", len(got))
	}
}

// connectProxy is an HTTP CONNECT proxy on 127.0.0.1 mapping host:port
// names to local addresses, as internal/testenv's is.
func connectProxy(t *testing.T, targets map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, ok := targets[r.Host]
		if r.Method != http.MethodConnect || !ok {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() {
			defer up.Close()
			if n := buf.Reader.Buffered(); n > 0 {
				_, _ = io.CopyN(up, buf, int64(n))
			}
			_, _ = io.Copy(up, down)
		}()
		_, _ = io.Copy(down, up)
		down.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRemoteSecretThroughTheOperatorsProxy(t *testing.T) {
	srv := newCaptureServer(t)
	proxy := connectProxy(t, map[string]string{"remote.mesh.test:6443": srv.Listener.Addr().String()})
	cl := &clientcmdapi.Cluster{Server: "https://remote.mesh.test:6443", CertificateAuthorityData: srv.caPEM(),
		TLSServerName: "example.com", ProxyURL: proxy}
	raw := remoteKubeconfig(t, cl, &clientcmdapi.AuthInfo{Token: "inline-remote-token"})

	t.Run("trusted: the operator's kubeconfig uses it", func(t *testing.T) {
		if err := tryRemote(t, raw, proxy); err != nil {
			t.Fatalf("access through the operator's proxy: %v", err)
		}
		got := srv.requests()
		// Two lists, then the first access review, which this server does
		// not answer (so no more are asked: remote_rules.go).
		if len(got) != 3 || slices.ContainsFunc(got, func(a string) bool { return a != "Bearer inline-remote-token" }) {
			t.Errorf("server saw %q, want two lists and one review with the secret's inline token", got)
		}
	})
	t.Run("untrusted: named only by the secret", func(t *testing.T) {
		before := len(srv.requests())
		wantNotTried(t, tryRemote(t, raw), "its proxy-url is a loopback address")
		if len(srv.requests()) != before {
			t.Error("the server was reached through a proxy the cluster chose on loopback")
		}
	})
}
