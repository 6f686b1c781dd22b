package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"
)

// The clipboard is the terminal's, reached with OSC 52. Inside a
// multiplexer the sequence needs the multiplexer's consent or a wrapping:
//
//   - tmux with set-clipboard on takes a plain OSC 52 from the program into
//     its own paste buffer (and hands it on to the terminal outside when that
//     terminal can take it). A passthrough sequence (DCS "tmux;" with every
//     ESC doubled) does not reach tmux's buffer: it goes straight to the
//     terminal outside, and only with allow-passthrough on (tmux 3.3 and
//     later; before 3.3 passthrough was always on). With neither, tmux drops
//     both. Measured on tmux 3.3a; TestTUICopiesIntoTmuxBuffer proves it.
//   - GNU screen does not know OSC 52 and passes DCS strings through to the
//     terminal outside: the sequence is cut into DCS chunks (go-osc52's
//     screen mode). screen's own paste buffer is not set.
//
// The multiplexer is found from TMUX (tmux sets it in every pane), else STY
// or a TERM starting with "screen" (screen sets both; tmux sets TERM=screen
// too, which is why TMUX is looked at first).

// clipEnv is what copying needs to know of its surroundings: the
// environment and, inside tmux, a way to read tmux's global options.
type clipEnv struct {
	getenv func(string) string
	// tmuxOption returns the value of a global tmux option (tmux
	// show-options -gv NAME).
	tmuxOption func(ctx context.Context, name string) (string, error)
}

// clipPlan is what to write and what to tell the user.
type clipPlan struct {
	seq   string
	where string // "copied to ..." for the status line
	err   error  // nothing will reach a clipboard, and why
}

// errNoTmuxClipboard: tmux would drop the sequence.
var errNoTmuxClipboard = errors.New("tmux drops OSC 52 here (set-clipboard is not on and allow-passthrough is off): run  tmux set -g set-clipboard on  and copy again")

func (e clipEnv) plan(ctx context.Context, text string) clipPlan {
	plain := osc52.New(text)
	switch {
	case e.getenv("TMUX") != "":
		clip, cerr := e.tmuxOption(ctx, "set-clipboard")
		pass, perr := e.tmuxOption(ctx, "allow-passthrough")
		if perr != nil && cerr == nil && strings.Contains(perr.Error(), "invalid option") {
			pass, perr = "on", nil // tmux before 3.3: no such option, passthrough always on
		}
		switch {
		case cerr == nil && clip == "on":
			return clipPlan{seq: plain.String(), where: "copied to tmux's paste buffer via OSC 52 (set-clipboard on)"}
		case perr == nil && (pass == "on" || pass == "all"):
			return clipPlan{seq: plain.Tmux().String(), where: "copied to the terminal outside tmux via OSC 52 passthrough (tmux's own buffer is set only with set-clipboard on)"}
		case cerr != nil || perr != nil:
			// tmux could not be asked: send both forms; one of them may pass.
			err := cerr
			if err == nil {
				err = perr
			}
			return clipPlan{seq: plain.String() + plain.Tmux().String(),
				where: fmt.Sprintf("sent OSC 52 to tmux plain and as passthrough (could not read tmux's options: %v)", err)}
		}
		return clipPlan{err: errNoTmuxClipboard}
	case e.getenv("STY") != "" || strings.HasPrefix(e.getenv("TERM"), "screen"):
		return clipPlan{seq: plain.Screen().String(), where: "copied to the terminal outside screen via OSC 52 passthrough (screen's own buffer is not set)"}
	}
	return clipPlan{seq: plain.String(), where: "copied to the terminal's clipboard via OSC 52"}
}

// execTmuxOption reads a global tmux option with the tmux client on PATH;
// inside a tmux pane it finds the server through TMUX.
func execTmuxOption(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", "show-options", "-gv", name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tmux show-options -gv %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// copyCmd plans the copy and writes the sequence to w.
func copyCmd(ctx context.Context, env clipEnv, w io.Writer, text string) func() copiedMsg {
	return func() copiedMsg {
		p := env.plan(ctx, text)
		if p.err != nil {
			return copiedMsg{err: p.err}
		}
		if _, err := io.WriteString(w, p.seq); err != nil {
			return copiedMsg{err: fmt.Errorf("write OSC 52: %w", err)}
		}
		return copiedMsg{where: p.where}
	}
}
