package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestServeDemoSnapshot runs the real `meshdoctor serve` on the demo
// snapshot with an ephemeral port, learns the port from its "listening"
// log line, reads /readyz, /metrics and /results once the first run has
// finished, and stops it with SIGTERM.
func TestServeDemoSnapshot(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--from", "../../testdata/demo/mesh.tar.gz", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "MESHDOCTOR_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				lines <- rec
			}
		}
	}()
	waitFor := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("stderr ended before %q", msg)
				}
				if rec["msg"] == msg {
					return rec
				}
			case <-timeout:
				t.Fatalf("no %q log line", msg)
			}
		}
	}
	addr, _ := waitFor("listening")["addr"].(string)
	if !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Fatalf("listening on %q", addr)
	}
	base := "http://" + addr
	run := waitFor("run finished")
	if run["fail"] != float64(8) {
		t.Errorf("first run: %v failures, want the demo's 8", run["fail"])
	}
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after the first run: %s", resp.Status)
	}

	resp, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	failing := 0
	for _, m := range fams["meshdoctor_check_status"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "status" && lp.GetValue() == "fail" && m.GetGauge().GetValue() == 1 {
				failing++
			}
		}
	}
	if failing == 0 {
		t.Error("no meshdoctor_check_status{status=\"fail\"} == 1 series for the demo's failures")
	}
	if fams["meshdoctor_build_info"] == nil || fams["meshdoctor_last_success_timestamp_seconds"] == nil {
		t.Error("build_info or last_success_timestamp missing")
	}

	resp, err = client.Get(base + "/results")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		Results []struct {
			Check  string `json:"check"`
			Status string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("/results is not the JSON report: %v\n%s", err, body)
	}
	fails := 0
	for _, r := range doc.Results {
		if r.Status == "fail" {
			fails++
		}
	}
	if fails != 8 {
		t.Errorf("/results has %d failures, want 8", fails)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("stopped")
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want exit 0", err)
	}
}
