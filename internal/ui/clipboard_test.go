package ui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-osc52/v2"
)

func TestClipboardPlan(t *testing.T) {
	const text = "kubectl --context west -n istio-system get svc istio-eastwestgateway -o wide"
	plain := osc52.New(text).String()
	// tmux's passthrough: DCS "tmux;", the sequence with every ESC doubled,
	// ST. Written out here rather than taken from go-osc52, so that the
	// test says what tmux expects.
	passthrough := "\x1bPtmux;" + strings.ReplaceAll(plain, "\x1b", "\x1b\x1b") + "\x1b\\"
	tmuxOpts := func(opts map[string]string) func(context.Context, string) (string, error) {
		return func(_ context.Context, name string) (string, error) {
			v, ok := opts[name]
			if !ok {
				return "", errors.New("invalid option: " + name)
			}
			if v == "ERR" {
				return "", errors.New("no server running")
			}
			return v, nil
		}
	}
	for _, tc := range []struct {
		name      string
		env       map[string]string
		tmux      map[string]string
		seq       string
		where     string
		wantError bool
	}{
		{name: "plain terminal", env: map[string]string{"TERM": "xterm-256color"}, seq: plain, where: "terminal's clipboard"},
		{name: "tmux with set-clipboard on takes plain OSC 52 into its buffer",
			env:  map[string]string{"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "screen"},
			tmux: map[string]string{"set-clipboard": "on", "allow-passthrough": "off"}, seq: plain, where: "tmux's paste buffer"},
		{name: "tmux with passthrough only: wrapped for the outer terminal",
			env:  map[string]string{"TMUX": "x"},
			tmux: map[string]string{"set-clipboard": "external", "allow-passthrough": "on"}, seq: passthrough, where: "outside tmux via OSC 52 passthrough"},
		{name: "tmux before 3.3 has no allow-passthrough and always passes",
			env:  map[string]string{"TMUX": "x"},
			tmux: map[string]string{"set-clipboard": "external"}, seq: passthrough, where: "passthrough"},
		{name: "tmux that drops both says so and writes nothing",
			env:  map[string]string{"TMUX": "x"},
			tmux: map[string]string{"set-clipboard": "external", "allow-passthrough": "off"}, wantError: true},
		{name: "tmux that cannot be asked gets both forms",
			env:  map[string]string{"TMUX": "x"},
			tmux: map[string]string{"set-clipboard": "ERR", "allow-passthrough": "ERR"}, seq: plain + passthrough, where: "could not read tmux's options"},
		{name: "screen by STY", env: map[string]string{"STY": "1234.pts-0.host", "TERM": "xterm"}, seq: osc52.New(text).Screen().String(), where: "outside screen"},
		{name: "screen by TERM", env: map[string]string{"TERM": "screen.xterm-256color"}, seq: osc52.New(text).Screen().String(), where: "outside screen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := clipEnv{getenv: func(k string) string { return tc.env[k] }, tmuxOption: tmuxOpts(tc.tmux)}
			p := e.plan(context.Background(), text)
			if tc.wantError {
				if p.err == nil || p.seq != "" {
					t.Fatalf("plan %+v, want an error and nothing written", p)
				}
				return
			}
			if p.err != nil || p.seq != tc.seq || !strings.Contains(p.where, tc.where) {
				t.Errorf("plan seq %q where %q err %v, want seq %q where ~%q", p.seq, p.where, p.err, tc.seq, tc.where)
			}
		})
	}
}

func TestScreenChunksStayShort(t *testing.T) {
	// screen cuts DCS strings longer than its buffer: every chunk is short.
	seq := osc52.New(strings.Repeat("kubectl get pods -A; ", 40)).Screen().String()
	for _, chunk := range strings.Split(seq, "\x1bP") {
		if len(chunk) > 100 {
			t.Errorf("a DCS chunk of %d bytes", len(chunk))
		}
	}
}
