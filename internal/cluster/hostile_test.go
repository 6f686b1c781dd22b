package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// listKinds maps the resources Collect lists to their list kinds.
var listKinds = map[string]string{
	"namespaces": "NamespaceList", "deployments": "DeploymentList", "configmaps": "ConfigMapList",
	"secrets": "SecretList", "services": "ServiceList", "pods": "PodList",
	"endpointslices": "EndpointSliceList", "gateways": "GatewayList", "serviceentries": "ServiceEntryList",
	"nodes": "NodeList", "mutatingwebhookconfigurations": "MutatingWebhookConfigurationList",
	"daemonsets": "DaemonSetList",
}

// apiServer is a TLS server (clientcmd applies a user's credentials only
// over TLS) that answers /version and every list Collect makes with an
// empty list; override, when set, answers first (return false to fall
// through).
func apiServer(t *testing.T, override func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if override != nil && override(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/version" {
			io.WriteString(w, `{"major":"1","minor":"34","gitVersion":"v1.34.0"}`)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		kind, ok := listKinds[parts[len(parts)-1]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		apiVersion := "v1"
		if parts[0] == "apis" && len(parts) > 2 {
			apiVersion = parts[1] + "/" + parts[2]
		}
		fmt.Fprintf(w, `{"kind":%q,"apiVersion":%q,"metadata":{},"items":[]}`, kind, apiVersion)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeKubeconfig writes a kubeconfig file and returns its path.
func writeKubeconfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hungPlugin writes an exec credential plugin that never returns: it
// records its pid and sleeps. The test's cleanup kills it.
func hungPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := filepath.Join(dir, "hung-plugin.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 3600\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return // never started
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return script
}

// A server's remainingItemCount sizes a list's room only up to
// maxPresized: a hostile count of 2^40 costs no more than that, and the
// items that do arrive are all kept.
func TestRemainingItemCountIsBounded(t *testing.T) {
	huge := int64(1) << 40
	calls := 0
	out, err := listAllSized(context.Background(), "things", metav1.ListOptions{}, func(_ context.Context, o metav1.ListOptions) ([]int, string, *int64, error) {
		calls++
		if o.Continue == "" {
			return []int{1, 2}, "next", &huge, nil
		}
		return []int{3}, "", nil, nil
	}, nil)
	if err != nil || len(out) != 3 || calls != 2 {
		t.Fatalf("got %v, %v after %d calls", out, err, calls)
	}
	if cap(out) > maxPresized+2 {
		t.Errorf("room for %d items on the server's word", cap(out))
	}
}
