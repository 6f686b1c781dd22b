package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

func runWithStreams(t *testing.T, streams IO, args ...string) int {
	t.Helper()
	root := newRootCmd(streams)
	root.SetArgs(args)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	return exitCode(root.ExecuteContext(context.Background()), streams.ErrOut)
}

// On a terminal, check shows its progress on stderr and clears it; piped
// (or with --quiet) stderr stays empty, and stdout never holds progress.
func TestCheckProgressOnlyOnATerminal(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo", "mesh.tar.gz")
	tests := []struct {
		name     string
		errTTY   bool
		args     []string
		progress bool
	}{
		{"stderr is a terminal", true, nil, true},
		{"stderr is a terminal, --quiet", true, []string{"-q"}, false},
		{"stderr is piped", false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			streams := IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, ErrIsTTY: tt.errTTY}
			code := runWithStreams(t, streams, append([]string{"check", "--from", demo, "-o", "short"}, tt.args...)...)
			if code != exitFailed {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			got := errOut.String()
			if tt.progress {
				if !strings.Contains(got, "checks 1/") || !strings.HasSuffix(got, "\r\x1b[K") {
					t.Errorf("no progress, or not cleared at the end: %q", got)
				}
			} else if got != "" {
				t.Errorf("stderr %q, want nothing", got)
			}
			if strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "checks 1/") {
				t.Errorf("progress reached stdout")
			}
		})
	}
}

func TestWaitAttemptNamesTheCauses(t *testing.T) {
	var errOut bytes.Buffer
	p := newProgress(IO{ErrOut: &errOut}, false, nil)
	rs := checks.Explain(checks.Catalogue(), []checks.Result{
		{CheckID: "gateway.address", Status: checks.Fail, Cluster: "west"},
		{CheckID: "endpoints.proxy-table", Status: checks.Fail, Cluster: "east"},
		{CheckID: "controlplane.version-skew", Status: checks.Warn},
	})
	p.attempt(2, rs, 4*time.Minute+30*time.Second, 5*time.Second)
	want := "meshdoctor: attempt 2: 2 failing results, caused by gateway.address west; next attempt in 5s (4m30s left of --wait)\n"
	if errOut.String() != want {
		t.Errorf("got  %q\nwant %q", errOut.String(), want)
	}
	errOut.Reset()
	newProgress(IO{ErrOut: &errOut}, true, nil).attempt(2, rs, time.Minute, time.Second)
	if errOut.Len() != 0 {
		t.Errorf("--quiet still wrote %q", errOut.String())
	}
}

// --deploy-probes waits for pods before any cluster is read: the status
// line says so on a terminal, and nothing is written otherwise.
func TestProgressSaysProbesDeploy(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var errOut bytes.Buffer
		p := newProgress(IO{ErrOut: &errOut, ErrIsTTY: tty}, false, nil)
		p.deploying("probes", 3, 90*time.Second)
		want := "deploying probe pods into probes in 3 contexts (waiting up to 1m30s for them to run)…"
		if tty && errOut.String() != "\r\x1b[K"+want {
			t.Errorf("terminal: %q, want %q", errOut.String(), want)
		}
		if !tty && errOut.Len() != 0 {
			t.Errorf("piped: %q, want nothing", errOut.String())
		}
	}
}
