// Command playground brings up the integration environment with one
// scenario for trying meshdoctor by hand (`make playground SCENARIO=...
// CLUSTERS=...`): it starts the API servers, applies the scenario, prints
// KUBECONFIG=<path> on a line of its own once every cluster is ready, and
// keeps running until interrupted, then tears everything down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "playground:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("scenario", "healthy-multi-primary", "scenario under testdata/scenarios ('' for none)")
	clusters := flag.Int("clusters", 0, "clusters to start (default: the scenario's, or 2)")
	flag.Parse()

	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "testdata", "scenarios")
	opts := testenv.Options{Clusters: *clusters}
	if *name != "" {
		files, err := filepath.Glob(filepath.Join(dir, *name, "*.yaml"))
		if err != nil || len(files) == 0 {
			all, _ := scenario.List(dir)
			return fmt.Errorf("no scenario %q (have %s)", *name, strings.Join(all, ", "))
		}
		var names []string
		for _, f := range files {
			if n := strings.TrimSuffix(filepath.Base(f), ".yaml"); n != "scenario" {
				names = append(names, n)
			}
		}
		// Name the clusters as the scenario does, plus cluster-N up to
		// CLUSTERS when more are asked for.
		for i := len(names) + 1; i <= *clusters; i++ {
			names = append(names, fmt.Sprintf("cluster-%d", i))
		}
		opts.Names = names
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "meshdoctor-playground-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintln(os.Stderr, "playground: starting etcd and the API servers in", tmp)
	startCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	e, err := testenv.New(startCtx, tmp, opts)
	if errors.Is(err, testenv.ErrMissingBinary) {
		return fmt.Errorf("%w (make testbin)", err)
	}
	if err != nil {
		return err
	}
	defer e.Close()
	if *name != "" {
		sc, err := scenario.Load(dir, *name, e, scenario.NewCerts(time.Now()))
		if err != nil {
			return err
		}
		if err := e.Apply(startCtx, sc); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "playground: %s applied (%s)\n", *name, sc.Meta.Description)
	}
	var contexts []string
	for _, c := range e.Clusters {
		contexts = append(contexts, c.Name)
	}
	fmt.Fprintf(os.Stderr, "playground: contexts %s; admin kubeconfig %s\n", strings.Join(contexts, ", "), e.AdminKubeconfig)
	fmt.Fprintf(os.Stderr, "playground: try  KUBECONFIG=%s go run ./cmd/meshdoctor check --no-network\n", e.Kubeconfig)
	fmt.Printf("KUBECONFIG=%s\n", e.Kubeconfig)
	fmt.Fprintln(os.Stderr, "playground: running; Ctrl-C tears it down")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "playground: tearing down")
	return nil
}
