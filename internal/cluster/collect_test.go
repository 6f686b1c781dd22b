package cluster

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestHungCredentialPluginCannotHoldTheRun(t *testing.T) {
	ok := apiServer(t, nil)
	plugin := hungPlugin(t)
	kc := writeKubeconfig(t, `apiVersion: v1
kind: Config
clusters:
- name: ok
  cluster: {server: "`+ok.URL+`", insecure-skip-tls-verify: true}
- name: hung
  cluster: {server: "`+ok.URL+`", insecure-skip-tls-verify: true}
contexts:
- name: ok
  context: {cluster: ok, user: token}
- name: hung
  context: {cluster: hung, user: plugin}
users:
- name: token
  user: {token: t}
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: `+plugin+`
      interactiveMode: Never
current-context: ok
`)
	// The deadline must outlast the healthy cluster's ten requests on a
	// busy machine; the hung one always takes all of it.
	clients, err := Load(LoadOptions{Kubeconfig: kc, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	invs := CollectAll(t.Context(), clients, CollectOptions{Deadline: 10 * time.Second})
	byName := map[string]*Inventory{}
	for _, inv := range invs {
		byName[inv.Context] = inv
	}
	hung := byName["hung"]
	if hung == nil || hung.Unreachable == nil {
		t.Fatalf("hung context inventory = %+v, want unreachable", hung)
	}
	if want := "credential plugin did not return within 10s"; !strings.Contains(hung.Unreachable.Message, want) || hung.Unreachable.Reason != ReasonTimeout {
		t.Errorf("hung context: %v, want reason %s and %q", hung.Unreachable, ReasonTimeout, want)
	}
	if inv := byName["ok"]; inv == nil || inv.Unreachable != nil || inv.Version != "v1.34.0" || len(inv.Errors) != 0 {
		t.Errorf("the other cluster's inventory is not intact: %+v", inv)
	}
}

func TestSlowClusterWithoutPluginIsNamedPlainly(t *testing.T) {
	release := make(chan struct{})
	slow := apiServer(t, func(_ http.ResponseWriter, r *http.Request) bool {
		<-release // answers nothing until the test ends
		return false
	})
	t.Cleanup(func() { close(release) }) // before the server's Close (cleanups run last first)
	c, err := NewClient("slow", &rest.Config{Host: slow.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, LoadOptions{Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	invs := CollectAll(t.Context(), []*Client{c}, CollectOptions{Deadline: time.Second})
	if fe := invs[0].Unreachable; fe == nil || fe.Message != "did not answer within 1s" {
		t.Errorf("unreachable = %v, want %q", fe, "did not answer within 1s")
	}
}
