package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// SnapshotOptions are the options of `meshdoctor snapshot`.
type SnapshotOptions struct {
	CheckOptions
	OutFile string
}

func newSnapshotCmd(streams IO) *cobra.Command {
	o := &SnapshotOptions{CheckOptions: CheckOptions{IO: streams}}
	cmd := &cobra.Command{
		Use:   "snapshot -o FILE",
		Short: "Record everything the checks read (redacted: no keys, no tokens) to check it elsewhere with --from",
		Example: `  meshdoctor snapshot -o mesh.tar.gz
  meshdoctor check --from mesh.tar.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.OutFile == "" {
				return &exitError{code: exitUsage, err: errors.New("snapshot needs -o FILE")}
			}
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
	cmd.Flags().StringVarP(&o.OutFile, "output", "o", "", "snapshot file to write (.tar.gz)")
	return cmd
}

// Run takes the inventory, runs the graph once with the network calls
// recorded, and writes the snapshot.
func (o *SnapshotOptions) Run(ctx context.Context) error {
	clients, err := cluster.Load(o.loadOptions())
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	taken := time.Now().UTC()
	invs := cluster.CollectAll(ctx, clients, o.collectOptions())
	m := mesh.Build(invs)
	rec := &snapshot.Recorder{}
	env := o.env(m, clients, nil)
	env.Probe = rec.Probe(env.Probe)
	env.RemoteAccess = rec.Access(env.RemoteAccess)
	env.Admin = rec.Admin(env.Admin)
	env.Probes.Exec = rec.Exec(env.Probes.Exec)
	o.runner().Run(ctx, env, nil)
	host, _ := os.Hostname()
	s := &snapshot.Snapshot{
		Manifest: snapshot.Manifest{TakenAt: taken, Tool: "meshdoctor", Version: versionString(), Vantage: checks.Vantage + " " + host,
			GatewayOverrides: o.overrides},
		Inventories: invs,
		Network:     rec.Network(),
	}
	if err := writeFile(o.OutFile, func(f *os.File) error { return snapshot.Write(f, s) }); err != nil {
		// A refused or failed write leaves no partial file behind.
		_ = os.Remove(o.OutFile)
		return &exitError{code: exitUsage, err: fmt.Errorf("write snapshot: %w", err)}
	}
	fmt.Fprintf(o.IO.ErrOut, "wrote %s: %d contexts, %d gateway probes, %d remote-secret checks, %d admin reads, %d probe commands\n", o.OutFile, len(invs), len(s.Network.Probes), len(s.Network.RemoteAccess), len(s.Network.Admin), len(s.Network.Exec))
	return nil
}

// snapshotSource replays a snapshot: same checks, recorded network results.
func (o *CheckOptions) snapshotSource() (*runSource, error) {
	f, err := os.Open(o.From)
	if err != nil {
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	s, err := snapshot.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.From, err)
	}
	invs := s.Inventories
	if len(o.Contexts) > 0 {
		invs = nil
		for _, inv := range s.Inventories {
			for _, c := range o.Contexts {
				if inv.Context == c {
					invs = append(invs, inv)
				}
			}
		}
		if len(invs) == 0 {
			return nil, fmt.Errorf("snapshot has none of the contexts %v (has %v)", o.Contexts, s.Manifest.Contexts)
		}
	}
	var names []string
	for _, inv := range invs {
		names = append(names, inv.Context)
	}
	return &runSource{
		close: func() {},
		names: names,
		name:  fmt.Sprintf("snapshot %s taken %s from %s", o.From, s.Manifest.TakenAt.Format(time.RFC3339), s.Manifest.Vantage),
		mesh:  func(context.Context) *mesh.Mesh { return mesh.Build(invs) },
		env: func(m *mesh.Mesh) *checks.Env {
			env := o.env(m, nil, nil)
			s.ReplayInto(env)
			return env
		},
	}, nil
}
