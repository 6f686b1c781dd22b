package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/report"
	"github.com/meshdoctor/meshdoctor/internal/ui"
)

// attachRootRun makes `meshdoctor` with no subcommand open the TUI on a
// terminal, and print the table otherwise.
func attachRootRun(root *cobra.Command, streams IO) {
	o := &CheckOptions{IO: streams}
	addRunFlags(root, o)
	root.Flags().StringVar(&o.From, "from", "", "check a snapshot file (meshdoctor snapshot) instead of live clusters")
	root.Flags().BoolVar(&o.Strict, "strict", false, "exit 1 on warnings too")
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.Complete(); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if err := o.Validate(); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if !streams.OutIsTTY {
			return o.Run(cmd.Context())
		}
		return o.RunTUI(cmd.Context())
	}
}

// RunTUI runs the interactive UI; reruns take a fresh inventory.
func (o *CheckOptions) RunTUI(ctx context.Context) error {
	src, err := o.source(ctx)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer src.close()
	// The clusters are read inside the first run, so that the first frame
	// comes at once and says what is being read.
	header := ui.Header{Topology: "…", Source: src.name, Contexts: src.names}
	var mu sync.Mutex
	var last *mesh.Mesh
	opts := ui.Options{
		Catalogue: o.catalogue,
		Header:    header,
		NoColor:   os.Getenv("NO_COLOR") != "",
		Source: ui.ObserverSource(func(ctx context.Context, only []string, obs checks.Observer) {
			if src.deploy != nil && !src.deployed() {
				// The first run deploys the probe pods: say so in the
				// first frame rather than draw nothing while they start.
				obs(checks.Event{Kind: checks.ProbesDeploying, Contexts: src.names, Namespace: o.DeployProbes})
				src.deploy()
			}
			obs(checks.Event{Kind: checks.InventoryStarted, Contexts: src.names})
			// Every run reads the clusters again, each context's end
			// reported as it comes (the observer takes one call at a time).
			var m *mesh.Mesh
			if src.meshEach != nil {
				var omu sync.Mutex
				m = src.meshEach(ctx, func(inv *cluster.Inventory) {
					ev := checks.Event{Kind: checks.ContextRead, Contexts: []string{inv.Context}}
					if inv.Unreachable != nil {
						ev.Unreachable = inv.Unreachable.Error()
					}
					omu.Lock()
					defer omu.Unlock()
					obs(ev)
				})
			} else {
				m = src.mesh(ctx)
			}
			obs(checks.Event{Kind: checks.InventoryRead, Mesh: m})
			mu.Lock()
			last = m
			mu.Unlock()
			r := o.runner()
			if len(only) > 0 {
				sel, err := checks.Select(o.catalogue, only, nil)
				if err == nil {
					r.Checks = sel
				}
			}
			r.Run(ctx, src.env(m), obs)
		}),
		Export: func(format string, rs []checks.Result) (string, error) {
			stamp := time.Now().Format("20060102-150405")
			mu.Lock()
			meta := metaOf(last, src.name)
			mu.Unlock()
			switch format {
			case "json":
				path := "meshdoctor-" + stamp + ".json"
				return path, writeFile(path, func(f *os.File) error { return report.JSON(f, meta, rs) })
			case "junit":
				path := "meshdoctor-" + stamp + ".xml"
				return path, writeFile(path, func(f *os.File) error { return report.JUnit(f, meta, rs, report.JUnitOptions{}) })
			}
			return "", fmt.Errorf("unknown export format %q", format)
		},
	}
	results, err := ui.Run(ctx, opts, o.IO.In, o.IO.Out)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("tui: %w", err)}
	}
	mu.Lock()
	defer mu.Unlock()
	if last == nil {
		return &exitError{code: exitCouldNotRun, err: errors.New("quit before the clusters were read")}
	}
	return verdict(last, results, o.Strict)
}

// runSource is where inventories and probe results come from: live
// clusters or a snapshot.
type runSource struct {
	name string
	// contexts is how many clusters mesh reads (0: a snapshot, read at
	// once); names are the contexts, for the TUI's first frame.
	contexts int
	names    []string
	mesh     func(ctx context.Context) *mesh.Mesh
	// meshEach is mesh calling read as each context's inventory comes
	// back (from the context's goroutine); nil for a snapshot.
	meshEach func(ctx context.Context, read func(*cluster.Inventory)) *mesh.Mesh
	env      func(m *mesh.Mesh) *checks.Env
	// deploy deploys the probe pods (--deploy-probes) the first time it
	// is called, and waits for them; nil without --deploy-probes.
	// deployed reports whether it has run. env must not be called before
	// deploy.
	deploy   func()
	deployed func() bool
	// close undoes what the source did (deployed probe pods).
	close func()
}

func (o *CheckOptions) source(ctx context.Context) (*runSource, error) {
	if o.From != "" {
		return o.snapshotSource()
	}
	clients, err := cluster.Load(o.loadOptions())
	if err != nil {
		return nil, err
	}
	return o.liveSource(ctx, clients), nil
}

// liveSource reads clients' clusters anew at each run.
func (o *CheckOptions) liveSource(ctx context.Context, clients []*cluster.Client) *runSource {
	src := &runSource{
		name:     "live",
		contexts: len(clients),
		names:    contextNames(clients),
		mesh: func(ctx context.Context) *mesh.Mesh {
			return mesh.Build(cluster.CollectAll(ctx, clients, o.collectOptions()))
		},
		meshEach: func(ctx context.Context, read func(*cluster.Inventory)) *mesh.Mesh {
			invs := make([]*cluster.Inventory, len(clients))
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() {
					// CollectAll of one client: the same per-cluster deadline.
					invs[i] = cluster.CollectAll(ctx, []*cluster.Client{c}, o.collectOptions())[0]
					read(invs[i])
				})
			}
			wg.Wait()
			return mesh.Build(invs)
		},
		close: func() {},
	}
	var deployErrs map[string]error
	if o.DeployProbes != "" {
		// Deployed by the first run, not here, so that the TUI's first
		// frame and check's progress can say the pods are deploying.
		var d *cluster.Deployment
		var once sync.Once
		var dmu sync.Mutex
		src.deploy = func() {
			once.Do(func() {
				dd, errs := cluster.DeployProbes(ctx, clients, cluster.DeployOptions{Namespace: o.DeployProbes, Image: o.ProbeImage, Wait: o.DeployTimeout})
				dmu.Lock()
				d, deployErrs = dd, errs
				dmu.Unlock()
			})
		}
		src.deployed = func() bool {
			dmu.Lock()
			defer dmu.Unlock()
			return d != nil
		}
		src.close = func() {
			dmu.Lock()
			defer dmu.Unlock()
			if d == nil {
				return
			}
			if err := d.Remove(ctx, o.DeployProbes); err != nil {
				slog.Error("remove probe pods", "err", err)
			}
		}
	}
	src.env = func(m *mesh.Mesh) *checks.Env { return o.env(m, clients, deployErrs) }
	if src.deploy != nil {
		src.env = func(m *mesh.Mesh) *checks.Env {
			src.deploy() // a no-op once done; never leaves deployErrs unset
			return o.env(m, clients, deployErrs)
		}
	}
	return src
}

func contextNames(clients []*cluster.Client) []string {
	names := make([]string, len(clients))
	for i, c := range clients {
		names[i] = c.Context
	}
	return names
}
