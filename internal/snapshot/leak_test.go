package snapshot_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/report"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// leakyClusters is healthy-multi-primary with the secrets people really
// have in istio-system added to cluster-1: a remote secret applied with
// client-side `kubectl apply` (its last-applied-configuration holds the
// whole secret, token included), cacerts whose ca-cert.pem also holds the
// key, istio-ca-secret, and remote secrets whose users carry client-key-data,
// exec plugins and tokenFile paths. Every key and token is remembered in
// the secrets returned.
func leakyClusters(t *testing.T, now time.Time) ([]*cluster.Client, []string) {
	t.Helper()
	certs := scenario.NewCerts(now)
	env := scenario.UnitEnv{Certs: certs}
	sc, err := scenario.Load(filepath.Join("..", "..", "testdata", "scenarios"), "healthy-multi-primary", env, certs)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := scenario.FakeClients(sc, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secrets := clients[0].Kube.CoreV1().Secrets(cluster.IstioNamespace)

	// cacerts with the key concatenated into ca-cert.pem.
	cacerts, err := secrets.Get(ctx, cluster.CACertsSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := string(cacerts.Data["ca-key.pem"])
	if !strings.Contains(key, "PRIVATE KEY") {
		t.Fatalf("fixture cacerts has no key: %q", key)
	}
	cacerts.Data["ca-cert.pem"] = append(append([]byte{}, cacerts.Data["ca-cert.pem"]...), key...)
	if _, err := secrets.Update(ctx, cacerts, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// istio-ca-secret: istiod's self-signed CA, key included.
	self, err := certs.SelfSigned("cluster-1")
	if err != nil {
		t.Fatal(err)
	}
	create := func(s *corev1.Secret) {
		t.Helper()
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cluster.IstioCASecretName, Namespace: cluster.IstioNamespace},
		Data: map[string][]byte{"ca-cert.pem": []byte(self.CertPEM()), "ca-key.pem": []byte(self.KeyPEM())}})

	// Remote secrets as istioctl create-remote-secret writes them, applied
	// with client-side kubectl apply.
	user, err := certs.Root("leaky-client")
	if err != nil {
		t.Fatal(err)
	}
	password := "correct-horse-battery-staple-42"
	users := map[string]string{
		"token":       "    token: " + certs.FakeJWT("system:serviceaccount:istio-system:istio-reader-service-account", now.AddDate(1, 0, 0)),
		"client-key":  "    client-certificate-data: " + b64(user.CertPEM()) + "\n    client-key-data: " + b64(user.KeyPEM()),
		"exec":        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"cat ~/.kube/config\"]",
		"token-file":  "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token",
		"basic":       "    username: admin\n    password: " + password,
		"bearer-sent": "    token: " + certs.FakeJWT("system:serviceaccount:istio-system:other", now.AddDate(1, 0, 0)) + "\n    as: admin",
	}
	for name, u := range users {
		kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://leaky-%s.mesh.test:6443
  name: leaky-%s
contexts:
- context:
    cluster: leaky-%s
    user: leaky-%s
  name: leaky-%s
current-context: leaky-%s
users:
- name: leaky-%s
  user:
%s
`, b64(self.CertPEM()), name, name, name, name, name, name, name, u)
		s := &corev1.Secret{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "istio-remote-secret-leaky-" + name, Namespace: cluster.IstioNamespace,
				Labels:      map[string]string{cluster.MultiClusterLabel: "true"},
				Annotations: map[string]string{"networking.istio.io/cluster": "leaky-" + name}},
			Data: map[string][]byte{"leaky-" + name: []byte(kubeconfig)},
		}
		applied, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = string(applied) + "\n"
		create(s)
	}
	return clients, append(certs.Secrets(), password)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestNoSecretLeavesTheClusterInAnyOutput takes a snapshot of clusters that
// carry every realistic leak through the real path (Collect on fake
// clientsets, the checks, Write) and scans the written snapshot and every
// report format for the fixture's keys and tokens and for anything
// secret-shaped.
func TestNoSecretLeavesTheClusterInAnyOutput(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	clients, secrets := leakyClusters(t, now)
	invs := cluster.CollectAll(context.Background(), clients, cluster.CollectOptions{Now: func() time.Time { return now }})
	m := mesh.Build(invs)
	rec := &snapshot.Recorder{}
	env := &checks.Env{Mesh: m, Now: now, NoNetwork: true,
		RemoteAccess: rec.Access(func(context.Context, string, string, cluster.RemoteKubeconfig) error { return nil })}
	rs := (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), env, nil)

	var snap bytes.Buffer
	if err := snapshot.Write(&snap, &snapshot.Snapshot{Manifest: snapshot.Manifest{TakenAt: now, Tool: "meshdoctor"},
		Inventories: invs, Network: rec.Network()}); err != nil {
		t.Fatalf("Write refused the snapshot (redaction let a secret through to the scan): %v", err)
	}
	zr, err := gzip.NewReader(&snap)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	meta := report.Meta{Tool: "meshdoctor", Source: "live", GeneratedAt: now}
	var table, wide, js, junit bytes.Buffer
	if err := report.Table(&table, meta, rs, report.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := report.Table(&wide, meta, rs, report.TableOptions{Wide: true}); err != nil {
		t.Fatal(err)
	}
	if err := report.JSON(&js, meta, rs); err != nil {
		t.Fatal(err)
	}
	if err := report.JUnit(&junit, meta, rs, report.JUnitOptions{}); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"snapshot": plain.String(), "table": table.String(), "wide table": wide.String(),
		"json": js.String(), "junit": junit.String()}
	for name, text := range outputs {
		for _, leak := range scenario.Leaks(secrets, text) {
			t.Errorf("%s: %s", name, leak)
		}
	}
	// The redaction kept what the checks need.
	inv := invs[0]
	if inv.CACerts == nil || !strings.Contains(inv.CACerts.CACert, "BEGIN CERTIFICATE") {
		t.Fatalf("cacerts lost its certificate: %+v", inv.CACerts)
	}
	if got := strings.Join(inv.CACerts.Dropped, "; "); !strings.Contains(got, "ca-cert.pem also holds a") || !strings.Contains(got, "PRIVATE KEY block") {
		t.Errorf("cacerts evidence %q does not say ca-cert.pem holds a private key block", got)
	}
	auth := map[string]string{}
	for _, rs := range inv.RemoteSecrets {
		if _, ok := rs.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			t.Errorf("%s kept its last-applied-configuration", rs.Name)
		}
		for _, k := range rs.Kubeconfigs {
			auth[k.ClusterID] = k.Auth
		}
	}
	for id, want := range map[string]string{"leaky-token": "token", "leaky-client-key": "client-cert", "leaky-exec": "exec",
		"leaky-token-file": "token-file", "leaky-basic": "basic"} {
		if auth[id] != want {
			t.Errorf("%s: auth %q, want %q", id, auth[id], want)
		}
	}
	var warned bool
	for _, r := range rs {
		if r.CheckID == "trust.cacerts-valid" && r.Cluster == "cluster-1" {
			warned = r.Status == checks.Warn && strings.Contains(r.Message, "ca-cert.pem also holds a PRIVATE KEY block")
			if !warned {
				t.Errorf("trust.cacerts-valid on cluster-1: %s %q, want a warning about the key in ca-cert.pem", r.Status, r.Message)
			}
		}
	}
	if !warned {
		t.Error("no trust.cacerts-valid warning for cluster-1")
	}
	if !strings.Contains(js.String(), "cacerts") {
		t.Error("the JSON report does not mention cacerts: the scan above read nothing")
	}
}

// TestWriteRefusesASnapshotWithASecret: whatever slips past redaction, the
// scan over every byte about to be written stops it, and the error names
// the entry and the kind of secret, never the secret.
func TestWriteRefusesASnapshotWithASecret(t *testing.T) {
	now := time.Now()
	certs := scenario.NewCerts(now)
	ca, err := certs.Root("leak")
	if err != nil {
		t.Fatal(err)
	}
	tok := certs.FakeJWT("system:serviceaccount:default:x", now.AddDate(0, 0, 1))
	cases := []struct {
		name, entry string
		plant       func(*snapshot.Snapshot)
		want        string
	}{
		{"private key in a ConfigMap", "inventory/c1.json", func(s *snapshot.Snapshot) {
			s.Inventories[0].ConfigMaps = []corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Data: map[string]string{"k": ca.KeyPEM()}}}
		}, "PRIVATE KEY block"},
		{"base64 key in an annotation", "inventory/c1.json", func(s *snapshot.Snapshot) {
			s.Inventories[0].Services = []cluster.Service{{Name: "x", Annotations: map[string]string{"a": b64(ca.KeyPEM())}}}
		}, "(base64-encoded)"},
		{"JWT in curl output", "network.json", func(s *snapshot.Snapshot) {
			s.Network.Exec = []snapshot.ExecRecord{{Stdout: "authorization: " + tok}}
		}, "JWT-shaped token"},
		{"bearer in an admin body", "network.json", func(s *snapshot.Snapshot) {
			s.Network.Admin = []snapshot.AdminRecord{{Body: `{"headers":"Authorization: Bearer 0123456789abcdef0123"}`}}
		}, "bearer credential"},
		{"token value in a kubeconfig", "inventory/c1.json", func(s *snapshot.Snapshot) {
			s.Inventories[0].ConfigMaps = []corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Data: map[string]string{"kubeconfig": "users:\n- user:\n    token: abcdefghijklmnop0123"}}}
		}, "token value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &snapshot.Snapshot{Inventories: []*cluster.Inventory{{Context: "c1"}}}
			tc.plant(s)
			var out bytes.Buffer
			err := snapshot.Write(&out, s)
			var le *snapshot.LeakError
			if !errors.As(err, &le) {
				t.Fatalf("Write = %v, want a *LeakError", err)
			}
			if le.Entry != tc.entry || !strings.Contains(err.Error(), tc.entry) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want entry %s and %q", err, tc.entry, tc.want)
			}
			for _, leak := range scenario.Leaks(append(certs.Secrets(), "0123456789abcdef0123", "abcdefghijklmnop0123"), err.Error()) {
				t.Errorf("the error repeats the secret: %s", leak)
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes written before refusing", out.Len())
			}
		})
	}
}

func TestScanIgnoresWhatSnapshotsLegitimatelyHold(t *testing.T) {
	for _, text := range []string{
		`"tokenSubject": "system:serviceaccount:istio-system:istio-reader-service-account"`,
		`"tokenExpiry": "2027-01-01T00:00:00Z", "auth": "token"`,
		`"name": "istio-token", "path": "/var/run/secrets/tokens/istio-token"`,
		"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIRAKc=\n-----END CERTIFICATE-----",
		`"value": "(redacted)"`, `token: (redacted)`,
	} {
		if f := snapshot.Scan([]byte(text)); len(f) > 0 {
			t.Errorf("Scan(%q) = %v, want nothing", text, f)
		}
	}
}
