package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/netns"
	"github.com/meshdoctor/meshdoctor/internal/report"
	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// TestSnapshotMatchesLiveRun brings up the demo scenario with everything
// the network checks touch (testenv.World), runs meshdoctor live, takes a
// snapshot, checks the snapshot offline, and compares: the same results,
// the network ones marked as recorded. The snapshot holds none of the
// fixtures' keys or tokens.
func TestSnapshotMatchesLiveRun(t *testing.T) {
	testenv.SkipIfDisabled(t)
	if err := netns.Available(); err != nil {
		t.Skipf("needs root and ip netns: %v", err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := meshdoctorBinary(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w, err := testenv.NewWorld(ctx, t.TempDir(), filepath.Join(root, "testdata", "scenarios"), "demo-broken-mesh")
	if err != nil {
		if errors.Is(err, testenv.ErrMissingBinary) {
			t.Skipf("integration binaries missing (make testbin): %v", err)
		}
		t.Fatal(err)
	}
	defer w.Close()
	var gw []string
	for _, g := range w.GatewayAddresses {
		gw = append(gw, "--gateway-address", g)
	}
	live := run(t, bin, w.Env.Kubeconfig, gw...)
	snap := filepath.Join(t.TempDir(), "mesh.tar.gz")
	cmd := exec.CommandContext(ctx, bin, append([]string{"snapshot", "-o", snap, "--kubeconfig", w.Env.Kubeconfig}, gw...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snapshot: %v\n%s", err, out)
	}
	offline := run(t, bin, "", "--from", snap)
	if live.exit != offline.exit {
		t.Errorf("exit live %d, offline %d", live.exit, offline.exit)
	}
	lr, or := results(live.doc), results(offline.doc)
	if len(lr) != len(or) {
		t.Errorf("live run has %d results, offline %d", len(lr), len(or))
	}
	for i := range min(len(lr), len(or)) {
		if lr[i] != or[i] {
			t.Errorf("result %d differs:\n live:    %s\n offline: %s", i, lr[i], or[i])
		}
	}
	recorded := 0
	for _, r := range offline.doc.Results {
		for _, ev := range r.Evidence {
			if ev.Key == "recorded" {
				recorded++
			}
		}
	}
	if recorded == 0 {
		t.Error("no replayed network result says it was recorded")
	}
	// The live run saw every kind of network result the demo is about.
	want := map[string]checks.Status{"gateway.reachability@east": checks.Pass, "probes.cross-cluster@west": checks.Fail,
		"endpoints.proxy-table@east": checks.Fail, "secrets.remote-access@east": checks.Fail}
	got := scenario.ByStatus(live.doc.Results)
	for k, s := range want {
		found := false
		for _, x := range got[s] {
			found = found || x == k
		}
		if !found {
			t.Errorf("live run: %s is not %s", k, s)
		}
	}
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	plain := gunzip(t, data)
	for _, leak := range scenario.Leaks(w.Secrets(), plain) {
		t.Errorf("the snapshot holds %s", leak)
	}
}

// results are the comparable lines of a report: ID, subject, status and
// message (durations and the recorded marks differ by design).
func results(d *report.Document) []string {
	var out []string
	for _, r := range d.Results {
		msg := r.Message
		if r.CheckID == "gateway.reachability" || r.CheckID == "probes.cross-cluster" {
			// timings differ between two runs; the outcome must not
			msg = strings.SplitN(msg, "(", 2)[0]
			msg = strings.SplitN(msg, ", p50", 2)[0]
		}
		out = append(out, r.CheckID+" | "+r.Subject()+" | "+r.Status.String()+" | "+msg)
	}
	return out
}

func gunzip(t *testing.T, gz []byte) string {
	t.Helper()
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = strings.NewReader(string(gz))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gunzip snapshot: %v", err)
	}
	return string(out)
}
