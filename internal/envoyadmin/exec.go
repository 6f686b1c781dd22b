package envoyadmin

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

// pilotAgentPort reports whether `pilot-agent request --debug-port` accepts
// the port.
func pilotAgentPort(port int) bool {
	switch port {
	case 15000, 15004, 15020, 15021:
		return true
	}
	return false
}

// ExecFetcher runs `pilot-agent request GET <path>` in the pod's istio-proxy
// container (pods/exec, websocket first with a SPDY fallback). It is the way
// in when RBAC forbids pods/portforward, and the only way when Envoy's admin
// API is on a Unix socket. It cannot reach istiod's port 15014.
type ExecFetcher struct {
	Clients   ClientsFunc
	Timeout   time.Duration // per Get; DefaultTimeout when zero
	Container string        // istio-proxy when empty
	MaxBytes  int64         // per response; DefaultMaxDumpBytes when zero
}

// Get implements Fetcher.
func (f ExecFetcher) Get(ctx context.Context, pod PodRef, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(f.Timeout, DefaultTimeout))
	defer cancel()
	port := pod.port()
	if !pilotAgentPort(port) {
		return nil, fmt.Errorf("exec in %s: pilot-agent cannot request port %d", pod, port)
	}
	c, err := f.Clients(pod.Context)
	if err != nil {
		return nil, fmt.Errorf("exec in %s: clients: %w", pod, err)
	}
	if err := checkPod(ctx, c.Kube, pod, false); err != nil {
		return nil, fmt.Errorf("exec in %s: %w", pod, err)
	}
	cmd := []string{"pilot-agent", "request", "GET", strings.TrimPrefix(path, "/")}
	if port != EnvoyAdminPort {
		cmd = append(cmd, "--debug-port", fmt.Sprint(port))
	}
	stdout, stderr, code, err := ExecLimited(ctx, c.Config, pod, cmp.Or(f.Container, proxyContainer), cmd,
		ExecLimits{Stdout: cmp.Or(f.MaxBytes, DefaultMaxDumpBytes), Hint: maxDumpHint})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("exec in %s: %s exited %d: %s", pod, strings.Join(cmd, " "), code, firstLine(stderr))
	}
	return stdout, nil
}

// ExecLimits bound what one exec may return: Stdout bytes of standard
// output (DefaultMaxDumpBytes when zero) and MaxStderrBytes of standard
// error. Hint says, in the error, how to raise or avoid the stdout cap.
type ExecLimits struct {
	Stdout int64
	Hint   string
}

// MaxStderrBytes bounds an exec's standard error: only its first line is
// ever shown.
const MaxStderrBytes = 64 << 10

// Exec runs cmd in a container of pod through the API server's pods/exec
// (websocket first, SPDY when the server does not speak it) and returns its
// output and exit code. A command that ran and exited non-zero is not an
// error; one that could not be run is. Output is capped at
// DefaultMaxDumpBytes (see ExecLimited).
func Exec(ctx context.Context, cfg *rest.Config, pod PodRef, container string, cmd []string) (stdout, stderr []byte, exitCode int, err error) {
	return ExecLimited(ctx, cfg, pod, container, cmd, ExecLimits{Stdout: DefaultMaxDumpBytes, Hint: maxDumpHint})
}

// ExecLimited is Exec with a cap on its output: past lim.Stdout bytes the
// stream is stopped (not drained) and the error, a *TooLargeError, names
// the cap and lim.Hint. Standard error past MaxStderrBytes is dropped.
func ExecLimited(ctx context.Context, cfg *rest.Config, pod PodRef, container string, cmd []string, lim ExecLimits) (stdout, stderr []byte, exitCode int, err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	u, err := subresourceURL(cfg, pod, "exec")
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, err)
	}
	params, err := scheme.ParameterCodec.EncodeParameters(&corev1.PodExecOptions{
		Container: container,
		Command:   cmd,
		Stdout:    true,
		Stderr:    true,
	}, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: encode options: %w", pod, err)
	}
	u.RawQuery = params.Encode()

	rc := withRequestContext(ctx, cfg)
	spdyTransport, upgrader, err := spdyRoundTripper(rc)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, err)
	}
	spdyExec, err := remotecommand.NewSPDYExecutorForTransports(spdyTransport, upgrader, http.MethodPost, u)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, err)
	}
	wsExec, err := remotecommand.NewWebSocketExecutor(rc, http.MethodGet, u.String())
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, err)
	}
	executor, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, shouldFallback)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, err)
	}
	out := &limitedBuffer{limit: cmp.Or(lim.Stdout, DefaultMaxDumpBytes), stop: stop}
	errOut := &limitedBuffer{limit: MaxStderrBytes, drop: true}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: out, Stderr: errOut})
	if out.overflow {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, &TooLargeError{What: "output of " + firstWord(cmd), Limit: out.limit, Hint: lim.Hint})
	}
	if err != nil {
		var exit exec.ExitError
		if errors.As(err, &exit) {
			return out.Bytes(), errOut.Bytes(), exit.ExitStatus(), nil
		}
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", pod, err)
	}
	return out.Bytes(), errOut.Bytes(), 0, nil
}

func firstWord(cmd []string) string {
	if len(cmd) == 0 {
		return "the command"
	}
	return cmd[0]
}

// limitedBuffer keeps at most limit bytes. Past it, it either drops the rest
// (drop: standard error) or records the overflow, stops the stream and
// fails the write, so that nothing more is read. It must not embed
// bytes.Buffer: io.Copy would find the promoted ReadFrom and never call
// Write, the cap with it.
type limitedBuffer struct {
	buf      bytes.Buffer
	limit    int64
	drop     bool
	stop     func()
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.limit - int64(b.buf.Len())
	if int64(len(p)) <= room {
		return b.buf.Write(p)
	}
	b.buf.Write(p[:max(room, 0)])
	if b.drop {
		return len(p), nil
	}
	b.overflow = true
	if b.stop != nil {
		b.stop()
	}
	return 0, errTooLarge
}

// Bytes returns what was kept.
func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }
