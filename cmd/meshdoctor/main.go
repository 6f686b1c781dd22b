// Command meshdoctor tells why traffic does not cross clusters in a
// multi-cluster Istio mesh. This package is wiring only: flags, options and
// exit codes; the work is in internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/klog/v2"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// Exit codes (part of the CLI contract, see README).
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitCouldNotRun = 3
	// exitInterrupted: a second interrupt stopped the run at once (128+SIGINT).
	exitInterrupted = 130
)

// exitError carries an exit code decided by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// IO is the streams a command uses.
type IO struct {
	In          io.Reader
	Out, ErrOut io.Writer
	// OutIsTTY: stdout is a terminal (TUI and colours allowed).
	OutIsTTY bool
	// ErrIsTTY: stderr is a terminal (progress lines allowed).
	ErrIsTTY bool
	// OutWidth is the width the table is fitted to: $COLUMNS when set, else
	// the terminal's width when stdout is one, else 0 (no limit: piped to a
	// file or a program, nothing is wrapped or cut).
	OutWidth int
}

// outWidth is IO.OutWidth for stdout.
func outWidth(f *os.File, tty bool) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 0
}

// defaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set (runtime/debug.SetMemoryLimit). Below it the collector runs
// as GOGC=100 says, so a small mesh costs no extra CPU; a large inventory
// (20,000 Services and their slices: about 24 MiB kept since the compact
// types, which GOGC alone lets grow to twice that before collecting the
// decoded pages' garbage) is collected more often instead of growing past
// it. The peak RSS of a run whose live heap stays below the limit is the
// limit plus ~40 MiB of binary and runtime: three clusters of 20,000
// Services (BenchmarkThreeLargeClustersBinary, same run) peaked at
// 203 MiB at 160 MiB, 193.5 MiB at 150 (CPU 3.8 s against 3.5-3.6 s),
// 188.7 MiB at 144 (4.2-4.4 s). It is soft: a live heap above it is not
// an error, only more collection (capped by the runtime at about half the
// CPU).
const defaultMemoryLimit = 150 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run())
}

func run() int {
	tty := isTerminal(os.Stdout)
	streams := IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, OutIsTTY: tty, ErrIsTTY: isTerminal(os.Stderr), OutWidth: outWidth(os.Stdout, tty)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	// Never signal.Stop: main exits right after run returns, and an
	// interrupt in between must not kill the process by the default action
	// (exit by signal instead of meshdoctor's exit code); it is dropped.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		handleSignals(sigs, done, cancel, streams.ErrOut, os.Exit)
	}()
	root := newRootCmd(streams)
	err := root.ExecuteContext(ctx)
	close(done)
	<-stopped
	return exitCode(err, streams.ErrOut)
}

// handleSignals cancels the run on the first interrupt (the run then ends
// as soon as what it waits for honours the context, and still reports) and
// exits at once on the second: something the run waits for does not stop
// (a credential plugin, a cluster past its deadline). It returns when done
// closes.
func handleSignals(sigs <-chan os.Signal, done <-chan struct{}, cancel context.CancelFunc, errOut io.Writer, exit func(int)) {
	select {
	case <-sigs:
		fmt.Fprintln(errOut, "meshdoctor: interrupted, stopping (interrupt again to exit at once)")
		cancel()
	case <-done:
		return
	}
	select {
	case s := <-sigs:
		fmt.Fprintln(errOut, "meshdoctor: interrupted again, exiting now")
		exit(interruptedCode(s))
	case <-done:
	}
}

// interruptedCode is the shell's convention for death by a signal: 128+n
// (130 for SIGINT, 143 for SIGTERM).
func interruptedCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return exitInterrupted
}

func exitCode(err error, errOut io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(errOut, "meshdoctor:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(errOut, "meshdoctor:", err)
	var ce *cluster.ConfigError
	if errors.As(err, &ce) {
		return exitUsage
	}
	return exitUsage
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newRootCmd(streams IO) *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:   "meshdoctor",
		Short: "Find why traffic does not cross clusters in a multi-cluster Istio mesh",
		Long: `meshdoctor loads every kubeconfig context (or the ones named), runs a graph of
checks over them (control plane, trust, network, gateways, remote secrets,
config), probes east-west gateways, and reports what is wrong, the evidence,
and the command that fixes or confirms it.

Without a subcommand on a terminal it opens the interactive TUI; otherwise it
behaves like "meshdoctor check".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(streams.ErrOut, &slog.HandlerOptions{Level: level})))
			// client-go logs through klog (e.g. "Unexpected error when
			// reading response body" for a capped list): only with -v; the
			// report carries the error.
			klogLevel := slog.Level(slog.LevelError + 1)
			if verbose {
				klogLevel = slog.LevelDebug
			}
			klog.SetSlogLogger(slog.New(slog.NewTextHandler(streams.ErrOut, &slog.HandlerOptions{Level: klogLevel})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log diagnostics to stderr")
	root.AddCommand(newCheckCmd(streams, nil), newChecksCmd(streams), newSnapshotCmd(streams), newVersionCmd(streams), newExplainCmd(streams), newServeCmd(streams))
	attachRootRun(root, streams)
	return root
}
