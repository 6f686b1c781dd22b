package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is a child process (etcd or a kube-apiserver) in its own process
// group, logging to a file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has been waited for
	err     error         // Wait's result, set before done closes
}

func startProc(name, logPath, bin string, args ...string) (*proc, error) {
	return startProcIn(name, logPath, "", nil, bin, args...)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after grace, and waits.
func (p *proc) stop(grace time.Duration) {
	if p == nil {
		return
	}
	p.signal(syscall.SIGCONT) // a paused process cannot act on SIGTERM
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

// logTail returns the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func (p *proc) failure(what string) error {
	msg := fmt.Sprintf("%s %s", p.name, what)
	if p.exited() {
		msg += fmt.Sprintf(" (exited: %v)", p.err)
	}
	return fmt.Errorf("%s; log %s ends:\n%s", msg, p.logPath, indent(p.logTail()))
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	// Below the kernel's ephemeral range (32768-60999 by default): a port
	// the kernel hands out at random (":0") can be given again at once as
	// the source port of an outgoing connection before the server that was
	// meant to bind it starts. Ports chosen here are never handed out so.
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("find a free port: 100 random ports in 20000-31999 were all taken")
}

// ErrMissingBinary is returned (wrapped) by New when bin/ lacks a binary.
var ErrMissingBinary = errors.New("missing binary (run make testbin)")

// startProcIn starts bin with its output in logPath, in dir with env (this
// process's working directory and environment when empty).
func startProcIn(name, logPath, dir string, env []string, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}
