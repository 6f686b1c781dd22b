package snapshot_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

func inventories(t testing.TB, name string, now time.Time) []*cluster.Inventory {
	t.Helper()
	_, invs, _, err := scenario.LoadFake(filepath.Join("..", "..", "testdata", "scenarios"), name, now)
	if err != nil {
		t.Fatal(err)
	}
	return invs
}

func statuses(rs []checks.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.CheckID+"|"+r.Subject()+"|"+r.Status.String()+"|"+r.Message)
	}
	return out
}

func TestSnapshotGivesTheSameResultsAsTheLiveRun(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	for _, name := range []string{"healthy-multi-primary", "demo-broken-mesh", "expired-token", "different-roots"} {
		t.Run(name, func(t *testing.T) {
			invs := inventories(t, name, now)
			run := func(m *mesh.Mesh, probeFn checks.ProbeFunc, access checks.RemoteAccessFunc) []checks.Result {
				env := &checks.Env{Mesh: m, Now: now, Probe: probeFn, RemoteAccess: access}
				return (&checks.Runner{Checks: checks.Catalogue()}).Run(context.Background(), env, nil)
			}
			// "Live": network answers come from local functions with
			// fixed outcomes; they are recorded as a snapshot would.
			rec := &snapshot.Recorder{}
			liveProbe := func(_ context.Context, tg probe.GatewayTarget) []probe.PortResult {
				var out []probe.PortResult
				for _, p := range tg.Ports {
					out = append(out, probe.PortResult{Port: p, Address: tg.Address, Outcome: probe.OutcomeRefused, Detail: "connection refused"})
				}
				return out
			}
			liveAccess := func(context.Context, string, string, cluster.RemoteKubeconfig) error { return nil }
			live := run(mesh.Build(invs), rec.Probe(liveProbe), rec.Access(liveAccess))

			var buf bytes.Buffer
			s := &snapshot.Snapshot{Manifest: snapshot.Manifest{TakenAt: now, Tool: "meshdoctor"}, Inventories: invs, Network: rec.Network()}
			if err := snapshot.Write(&buf, s); err != nil {
				t.Fatal(err)
			}
			back, err := snapshot.Read(&buf)
			if err != nil {
				t.Fatal(err)
			}
			p, a := back.Replay()
			offline := run(mesh.Build(back.Inventories), p, a)
			ls, os := statuses(live), statuses(offline)
			if strings.Join(ls, "\n") != strings.Join(os, "\n") {
				t.Fatalf("offline results differ from live:\nlive:\n%s\noffline:\n%s", strings.Join(ls, "\n"), strings.Join(os, "\n"))
			}
			if len(back.Network.Probes) == 0 && (name == "healthy-multi-primary" || name == "expired-token") {
				t.Error("no gateway probe was recorded")
			}
		})
	}
}

func tarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestReadRejectsBadSnapshots(t *testing.T) {
	manifest := func(format string, contexts ...string) string {
		b, _ := json.Marshal(snapshot.Manifest{Format: format, Contexts: contexts})
		return string(b)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("hello"), "gzip"},
		{"truncated gzip", tarGz(t, map[string]string{"manifest.json": manifest(snapshot.Format)})[:20], "read snapshot"},
		{"future version", tarGz(t, map[string]string{"manifest.json": manifest("meshdoctor-snapshot/v9"), "network.json": "{}"}), "not supported"},
		{"no manifest", tarGz(t, map[string]string{"network.json": "{}"}), "manifest.json missing"},
		{"missing inventory", tarGz(t, map[string]string{"manifest.json": manifest(snapshot.Format, "a"), "network.json": "{}"}), "lists 1 contexts, found 0"},
		{"bad inventory json", tarGz(t, map[string]string{"manifest.json": manifest(snapshot.Format, "a"), "network.json": "{}", "inventory/a.json": "{"}), "inventory/a.json"},
		{"inventory without name", tarGz(t, map[string]string{"manifest.json": manifest(snapshot.Format, "a"), "network.json": "{}", "inventory/a.json": "{}"}), "without a context"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := snapshot.Read(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestWriteRedactsEnvValues(t *testing.T) {
	invs := inventories(t, "healthy-multi-primary", time.Now())
	invs[0].Deployments[0].Spec.Template.Spec.Containers[0].Env = append(invs[0].Deployments[0].Spec.Template.Spec.Containers[0].Env,
		corev1EnvVar("AWS_SECRET_ACCESS_KEY", "hunter2-secret-value"))
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, &snapshot.Snapshot{Inventories: invs}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "hunter2-secret-value") {
		t.Error("an env value that is not an Istio setting was written to the snapshot")
	}
	if !strings.Contains(plain.String(), `"CLUSTER_ID"`) {
		t.Error("istiod's CLUSTER_ID, which the checks read, was dropped")
	}
}

// FuzzRead: any input gives a snapshot or an error, never a panic, and
// never more allocation than readBudget — a snapshot is hostile input.
func FuzzRead(f *testing.F) {
	invs := inventories(f, "healthy-multi-primary", time.Now())
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, &snapshot.Snapshot{Inventories: invs}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(tarGz(f, map[string]string{"manifest.json": `{"format":"meshdoctor-snapshot/v1","contexts":["a"]}`, "network.json": "{}", "inventory/a.json": `{"context":"a"}`}))
	f.Add(tarGz(f, map[string]string{"manifest.json": validManifest, "network.json": "{}", "inventory/a.json": bomb("pods", "{}", 30_000)}))
	f.Add(tarGz(f, map[string]string{"manifest.json": validManifest, "network.json": `{"exec":[` + strings.TrimSuffix(strings.Repeat(`{"command":["a","b"]},`, 9_000), ",") + `]}`, "inventory/a.json": `{"context":"a"}`}))
	f.Add([]byte{0x1f, 0x8b})
	// The default limits let one input inflate 1 GiB, seconds of work per
	// exec; the fuzzer runs the same code with limits a tenth as large, so
	// that it gets to try many inputs, and holds it to a budget that those
	// limits must keep (the seeds allocate a few MB).
	lim := snapshot.DefaultLimits()
	lim.Inflated, lim.File, lim.Objects, lim.Values = 64<<20, 16<<20, 100_000, 800_000
	const readBudget = 128 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		var s *snapshot.Snapshot
		var err error
		n := allocated(func() { s, err = snapshot.ReadWithLimits(bytes.NewReader(data), lim) })
		if err == nil && s == nil {
			t.Fatal("nil snapshot without error")
		}
		if n > readBudget {
			t.Fatalf("Read of %d bytes allocated %d MB (budget %d MB)", len(data), n>>20, readBudget>>20)
		}
	})
}
