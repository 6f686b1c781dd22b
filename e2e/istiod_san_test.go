package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestIstiodServingSANs proves probes.istiod-san's SAN rule and
// secrets.istiod-loaded's metric against a real istiod (pilot-discovery of
// the pinned module) of cluster-1 of healthy-multi-primary: the
// certificate it presents on 15012 and 15017 carries exactly the names
// checks.IstiodDNSNames computes (pilot/pkg/bootstrap getDNSNames), with and
// without ISTIOD_CUSTOM_HOST, chained to the scenario's cacerts root; a
// revisioned host it does not carry is bad-san; and its /metrics exports
// istiod_remote_cluster_sync_status with cluster-2 synced.
func TestIstiodServingSANs(t *testing.T) {
	root, e, _ := oracleEnv(t)
	certs := scenario.NewCerts(time.Now())
	applyWith(t, e, filepath.Join(root, "testdata", "scenarios"), "healthy-multi-primary", certs)
	ca, ok := certs.Issued("cluster-1")
	if !ok || len(ca.Chain) == 0 {
		t.Fatal("cluster-1 has no cacerts intermediate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Chain[len(ca.Chain)-1])
	for _, tc := range []struct {
		name   string
		custom string
	}{
		{"default names", ""},
		{"ISTIOD_CUSTOM_HOST adds the load balancer's name", "istiod.mesh.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			opts := testenv.IstiodOptions{}
			if tc.custom != "" {
				opts.Env = map[string]string{"ISTIOD_CUSTOM_HOST": tc.custom}
			}
			ist, err := testenv.StartIstiod(ctx, e, "cluster-1", opts)
			if ist != nil {
				t.Cleanup(ist.Stop)
			}
			if err != nil {
				t.Fatal(err)
			}
			// healthy-multi-primary's mesh config sets no discoveryAddress.
			want := checks.IstiodDNSNames(tc.custom, "", "default", "istio-system")
			for _, port := range []struct {
				addr string
				kind probe.PortKind
			}{{ist.SecureGRPCAddr, probe.KindTLSIstiod}, {ist.WebhookAddr, probe.KindTLSWebhook}} {
				host, p, err := net.SplitHostPort(port.addr)
				if err != nil {
					t.Fatal(err)
				}
				n, _ := strconv.Atoi(p)
				for _, sni := range append(slices.Clone(want), "istiod-1-31.istio-system.svc") {
					res := probe.ProbeGateway(ctx, nil, probe.GatewayTarget{Address: host, Ports: []probe.Port{{Number: n, Kind: port.kind}},
						Roots: roots, IstiodSANs: []string{sni}}, 10*time.Second)
					r := res[0]
					wantOutcome := probe.OutcomeOK
					if !slices.Contains(want, sni) {
						wantOutcome = probe.OutcomeBadSAN
					}
					if r.Outcome != wantOutcome {
						t.Errorf("%s %s SNI %s: %s (%s), want %s", port.kind, port.addr, sni, r.Outcome, r.Detail, wantOutcome)
						continue
					}
					if got := slices.Sorted(slices.Values(r.Peer.DNSNames)); !slices.Equal(got, want) {
						t.Errorf("%s: istiod's certificate carries %v, IstiodDNSNames computes %v", port.kind, got, want)
					}
					if !r.Verified {
						t.Errorf("%s: chain not verified against the cacerts root: %s", port.kind, r.Detail)
					}
				}
			}
			metrics, err := ist.Debug(ctx, envoyadmin.PathMetrics)
			if err != nil {
				t.Fatal(err)
			}
			states, found, err := envoyadmin.ParseRemoteClusterSync(bytes.NewReader(metrics))
			if err != nil || !found || states["cluster-2"] != envoyadmin.SyncStatusSynced {
				var lines []string
				for _, l := range strings.Split(string(metrics), "\n") {
					if strings.Contains(l, "remote_cluster") {
						lines = append(lines, l)
					}
				}
				t.Errorf("metrics: states %v, found %v, err %v; remote_cluster lines:\n%s", states, found, err, strings.Join(lines, "\n"))
			}
			if *updateIstiod && tc.custom == "" {
				var keep []string
				for _, l := range strings.Split(string(metrics), "\n") {
					if strings.Contains(l, "remote_cluster") || strings.Contains(l, "istiod_managed_clusters") {
						keep = append(keep, l)
					}
				}
				recordIstiodFixture(t, root, "istiod-cluster-1-metrics.txt", []byte(strings.Join(keep, "\n")+"\n"))
			}
		})
	}
}
