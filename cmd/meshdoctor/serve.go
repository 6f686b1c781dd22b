package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
	"github.com/meshdoctor/meshdoctor/internal/serve"
)

// ServeOptions are the options of `meshdoctor serve`: those of check (the
// clusters, the checks, the timeouts) and the loop's.
type ServeOptions struct {
	CheckOptions
	Interval time.Duration
	Listen   string
	// KubeconfigDir holds one kubeconfig per cluster (a mounted Secret),
	// inline credentials only; InCluster names the cluster this pod runs
	// in, read with its service account. Either replaces --kubeconfig.
	KubeconfigDir string
	InCluster     string
}

func newServeCmd(streams IO) *cobra.Command {
	return newServeCmdFor(&ServeOptions{CheckOptions: CheckOptions{IO: streams}})
}

// newServeCmdFor is serve with its flags parsed into o (tests read them).
func newServeCmdFor(o *ServeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the checks continuously and expose Prometheus metrics, health and the last results over HTTP",
		Long: `serve runs every check every --interval (±10% jitter, never two runs at once),
reading the clusters anew each time as "meshdoctor check" does, and serves:

  /metrics                  Prometheus metrics (meshdoctor_check_status{check,cluster,peer,status}, ...)
  /healthz                  200 while the process is up
  /readyz                   200 once a first run has finished, 503 before
  /results, /api/v1/results the last run's report, as "meshdoctor check -o json" writes it

It listens on loopback by default: the results name clusters, gateways and
addresses of the mesh and the endpoints have no authentication, so exposing
them is a choice (--listen :9090 in a pod, behind a NetworkPolicy). Logs are
JSON on stderr: "listening" with the bound address, each run, and each
status change. SIGINT or SIGTERM stops it cleanly.`,
		Example: `  meshdoctor serve                                   # every context of $KUBECONFIG, every minute
  meshdoctor serve --interval 5m --listen :9090
  meshdoctor serve --from mesh.tar.gz                # a snapshot, for trying the metrics
  meshdoctor serve --listen :9090 --in-cluster east --kubeconfig-dir /etc/meshdoctor/clusters   # in a pod (deploy/serve)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if err := o.Validate(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return o.Run(cmd.Context())
		},
	}
	addRunFlags(cmd, &o.CheckOptions)
	cmd.Flags().StringVar(&o.From, "from", "", "check a snapshot file (meshdoctor snapshot) instead of live clusters")
	cmd.Flags().DurationVar(&o.Interval, "interval", time.Minute, "time between runs (each wait varies by ±10%)")
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:9090", "address to serve HTTP on (loopback by default: the endpoints have no authentication)")
	cmd.Flags().StringVar(&o.KubeconfigDir, "kubeconfig-dir", "", "directory of kubeconfigs, one file per cluster named as its context (a mounted Secret); inline credentials only, as in remote secrets")
	cmd.Flags().StringVar(&o.InCluster, "in-cluster", "", "NAME: also check the cluster this pod runs in, as context NAME, with the pod's service account")
	return cmd
}

// Validate rejects bad combinations.
func (o *ServeOptions) Validate() error {
	if err := o.CheckOptions.Validate(); err != nil {
		return err
	}
	if o.Interval < time.Second {
		return errors.New("--interval must be at least 1s")
	}
	if o.DeployProbes != "" {
		return errors.New("--deploy-probes creates pods for one run; serve needs probe pods that stay (label them with --probe-selector)")
	}
	if o.KubeconfigDir != "" || o.InCluster != "" {
		switch {
		case o.From != "":
			return errors.New("--kubeconfig-dir and --in-cluster read live clusters; they cannot be used with --from")
		case o.Kubeconfig != "":
			return errors.New("--kubeconfig-dir and --in-cluster replace --kubeconfig; use one or the other")
		case len(o.Contexts) > 0:
			return errors.New("--context selects from --kubeconfig; with --kubeconfig-dir every file is a cluster")
		}
	}
	return nil
}

// serveSource is the clusters serve reads: --kubeconfig-dir and
// --in-cluster in a pod, else what check reads.
func (o *ServeOptions) serveSource(ctx context.Context) (*runSource, error) {
	if o.KubeconfigDir == "" && o.InCluster == "" {
		return o.source(ctx)
	}
	var clients []*cluster.Client
	if o.InCluster != "" {
		c, err := cluster.InCluster(o.InCluster, o.loadOptions())
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
	}
	if o.KubeconfigDir != "" {
		cs, err := cluster.LoadDir(o.KubeconfigDir, o.loadOptions())
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.Context == o.InCluster {
				return nil, fmt.Errorf("--kubeconfig-dir has a file %s, the name given to --in-cluster", c.Context)
			}
		}
		clients = append(clients, cs...)
	}
	if len(clients) == 0 {
		return nil, fmt.Errorf("--kubeconfig-dir %s holds no kubeconfig and --in-cluster is not set: no cluster to check", o.KubeconfigDir)
	}
	return o.liveSource(ctx, clients), nil
}

// Run serves until ctx ends.
func (o *ServeOptions) Run(ctx context.Context) error {
	log := slog.New(slog.NewJSONHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	src, err := o.serveSource(ctx)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer src.close()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return &exitError{code: exitCouldNotRun, err: fmt.Errorf("--listen: %w", err)}
	}
	log.Info("listening", "addr", ln.Addr().String(), "interval", o.Interval.String(), "source", src.name)
	store := &serve.Store{}
	b := buildInfo()
	metrics := serve.NewMetrics(store, serve.BuildInfo{Version: b.Version, Commit: b.Commit, GoVersion: b.GoVersion})
	loop := &serve.Loop{
		Interval: o.Interval,
		Jitter:   0.1,
		Store:    store,
		Metrics:  metrics,
		Log:      log,
		Run: func(ctx context.Context) serve.Run {
			m := src.mesh(ctx)
			rs := o.runner().Run(ctx, src.env(m), nil)
			return serve.Run{Meta: metaOf(m, src.name), Results: rs, Clusters: healthOf(m), Map: meshmap.Build(m, rs)}
		},
	}
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		loop.Start(ctx)
	}()
	err = serve.Serve(ctx, serve.NewServer(serve.Handler(store, metrics)), ln, 5*time.Second)
	<-loopDone
	log.Info("stopped")
	if err != nil {
		return &exitError{code: exitCouldNotRun, err: err}
	}
	return nil
}

// healthOf is how well each cluster of m could be read.
func healthOf(m *mesh.Mesh) map[string]serve.ClusterHealth {
	out := map[string]serve.ClusterHealth{}
	for _, c := range m.Clusters {
		out[c.Name] = serve.ClusterHealth{Reachable: c.Reachable(), InventoryErrors: len(c.Inv.Errors)}
	}
	return out
}
