package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
	"github.com/meshdoctor/meshdoctor/internal/meshmap"
	"github.com/meshdoctor/meshdoctor/internal/probe"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

// CheckOptions are the options of `meshdoctor check` (and of the TUI).
type CheckOptions struct {
	IO IO

	Kubeconfig string
	Contexts   []string
	Output     string
	JUnitFile  string
	// HTMLFile is where --html writes the self-contained HTML report.
	HTMLFile string
	// JUnitWarnAsFailure reports warnings as failures in the JUnit file.
	JUnitWarnAsFailure bool
	Timeout            time.Duration
	ProbeTimeout       time.Duration
	NoNetwork          bool
	Strict             bool
	// Quiet turns off the progress line and the --wait attempt lines.
	Quiet      bool
	Wait       time.Duration
	Only, Skip []string
	// GatewayAddrs overrides gateway addresses: context=address.
	GatewayAddrs  []string
	ProbeSelector string
	// From reads a snapshot instead of live clusters.
	From string
	// Targets and Requests drive the curl probes.
	Targets  []string
	Requests int
	// DeployProbes is the namespace to deploy probe pods into (the only
	// write meshdoctor ever makes, and only with this flag).
	DeployProbes  string
	ProbeImage    string
	DeployTimeout time.Duration
	// Proxy and Service focus the endpoint-table checks.
	Proxy, Service string
	// MaxResponseSize caps each API server response (--max-response-size).
	MaxResponseSize byteSize
	// MaxDumpSize caps one admin response (Envoy dumps, istiod debug).
	MaxDumpSize string

	overrides    map[string]string
	catalogue    []checks.Check
	maxDumpBytes int64
}

func newCheckCmd(streams IO, runF func(context.Context, *CheckOptions) error) *cobra.Command {
	o := &CheckOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run every check once and print a report (table, short, wide, json, yaml, dot; JUnit with --junit, HTML with --html)",
		Example: `  meshdoctor check                           # every context of $KUBECONFIG
  meshdoctor check --context east,west -o short
  meshdoctor check -o json > report.json
  meshdoctor check --junit meshdoctor.xml     # for CI; exit code 1 on failures
  meshdoctor check --html report.html         # one page to attach to an incident ticket
  meshdoctor check -o dot | dot -Tsvg > mesh.svg # the mesh map as a graph
  meshdoctor check --wait 5m                  # re-run until all pass (after an install)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if err := o.Validate(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return o.Run(cmd.Context())
		},
	}
	addRunFlags(cmd, o)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "table, short (warnings and failures only), wide, json, yaml or dot (the mesh map for Graphviz) (default table)")
	registerOutputCompletion(cmd)
	cmd.Flags().StringVar(&o.JUnitFile, "junit", "", "also write a JUnit XML report to this file")
	cmd.Flags().StringVar(&o.HTMLFile, "html", "", "also write a self-contained HTML report (summary, mesh map, causes, evidence, remediation) to this file")
	cmd.Flags().BoolVar(&o.JUnitWarnAsFailure, "junit-warn-as-failure", false, "in the JUnit file, report warnings as failures")
	cmd.Flags().BoolVar(&o.Strict, "strict", false, "exit 1 on warnings too")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "no progress on stderr (shown only when stderr is a terminal) and no --wait attempt lines")
	cmd.Flags().DurationVar(&o.Wait, "wait", 0, "re-run until no check fails or this time is up")
	cmd.Flags().StringVar(&o.From, "from", "", "check a snapshot file (meshdoctor snapshot) instead of live clusters")
	return cmd
}

// addRunFlags are the flags shared by check and the TUI.
func addRunFlags(cmd *cobra.Command, o *CheckOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, several files merged, or ~/.kube/config)")
	f.StringSliceVar(&o.Contexts, "context", nil, "contexts to check, comma-separated (default: all)")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "timeout of each request to an API server; each cluster's whole inventory must arrive within 3× this, even when a credential plugin hangs")
	o.MaxResponseSize = byteSize(cluster.DefaultMaxResponseSize)
	f.Var(&o.MaxResponseSize, strings.TrimPrefix(cluster.MaxResponseSizeFlag, "--"), "largest response body read from an API server (e.g. 512MiB); a larger list is an error naming this flag")
	f.DurationVar(&o.ProbeTimeout, "probe-timeout", 3*time.Second, "timeout of each network probe")
	f.BoolVar(&o.NoNetwork, "no-network", false, "skip the checks that probe the network (gateways, remote API servers)")
	f.StringSliceVar(&o.Only, "only", nil, "run only checks whose ID matches these globs (and their prerequisites)")
	f.StringSliceVar(&o.Skip, "skip", nil, "skip checks whose ID matches these globs")
	f.StringSliceVar(&o.GatewayAddrs, "gateway-address", nil, "context=address: probe this address for the context's east-west gateway (NAT)")
	f.StringVar(&o.ProbeSelector, "probe-selector", cluster.DefaultProbeSelector, "label selector of the probe client pods")
	f.StringArrayVar(&o.Targets, "target", nil, "host:port/path to curl from the probe pods (repeatable; default: every service present in several clusters)")
	f.IntVar(&o.Requests, "requests", 10, "requests per curl probe target")
	f.StringVar(&o.Proxy, "proxy", "", "namespace/pod: the sidecar whose Envoy endpoints are read in each cluster (default: the probe pod)")
	f.StringVar(&o.Service, "service", "", "host (name.namespace[.svc.cluster.local]): focus the endpoint-table checks on one service")
	f.StringVar(&o.DeployProbes, "deploy-probes", "", "NAMESPACE: create a sleep pod per cluster there for the curl probes and delete it afterwards, also on Ctrl-C (the only write meshdoctor makes)")
	f.StringVar(&o.ProbeImage, "probe-image", "curlimages/curl:8.10.1", "image of the pods --deploy-probes creates")
	f.DurationVar(&o.DeployTimeout, "deploy-timeout", 90*time.Second, "how long a deployed probe pod may take to run")
	f.StringVar(&o.MaxDumpSize, "max-dump-size", "128Mi", "largest Envoy config dump or istiod debug response read from one pod (a quantity: 256Mi, 1Gi)")
	registerCompletions(cmd, o)
}

// Complete fills defaults.
func (o *CheckOptions) Complete() error {
	if o.Output == "" {
		o.Output = "table"
	}
	o.overrides = map[string]string{}
	for _, kv := range o.GatewayAddrs {
		ctx, addr, ok := strings.Cut(kv, "=")
		if !ok || ctx == "" || addr == "" {
			return fmt.Errorf("--gateway-address %q: want context=address", kv)
		}
		o.overrides[ctx] = addr
	}
	o.maxDumpBytes = envoyadmin.DefaultMaxDumpBytes
	if o.MaxDumpSize != "" {
		q, err := resource.ParseQuantity(o.MaxDumpSize)
		if err != nil || q.Sign() <= 0 {
			return fmt.Errorf("--max-dump-size %q: want a positive quantity such as 256Mi", o.MaxDumpSize)
		}
		o.maxDumpBytes = q.Value()
	}
	cat, err := checks.Select(checks.Catalogue(), o.Only, o.Skip)
	if err != nil {
		return err
	}
	o.catalogue = cat
	return nil
}

// Validate rejects bad combinations.
func (o *CheckOptions) Validate() error {
	switch o.Output {
	case "table", "short", "wide", "json", "yaml", "dot":
	default:
		return fmt.Errorf("--output %q: want table, short, wide, json, yaml or dot", o.Output)
	}
	if o.Timeout <= 0 || o.ProbeTimeout <= 0 {
		return errors.New("--timeout and --probe-timeout must be positive")
	}
	if o.Wait < 0 {
		return errors.New("--wait must not be negative")
	}
	if o.Requests < 1 || o.Requests > 1000 {
		return errors.New("--requests must be between 1 and 1000")
	}
	for _, t := range o.Targets {
		if err := probe.ValidateTarget(t); err != nil {
			return fmt.Errorf("--target: %w", err)
		}
	}
	if o.Proxy != "" && !strings.Contains(o.Proxy, "/") {
		return fmt.Errorf("--proxy %q: want namespace/pod", o.Proxy)
	}
	if o.From != "" && o.DeployProbes != "" {
		return errors.New("--deploy-probes needs live clusters; it cannot be used with --from")
	}
	if o.From != "" && o.Wait > 0 {
		return errors.New("--wait re-reads live clusters; it cannot be used with --from")
	}
	return nil
}

// Run loads the contexts (or the snapshot), runs the checks (again while
// --wait allows) and writes the reports.
func (o *CheckOptions) Run(ctx context.Context) error {
	src, err := o.source(ctx)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer src.close()
	deadline := time.Now().Add(o.Wait)
	prog := newProgress(o.IO, o.Quiet, nil)
	var m *mesh.Mesh
	var results []checks.Result
	const pause = 5 * time.Second
	if src.deploy != nil {
		prog.deploying(o.DeployProbes, src.contexts, o.DeployTimeout)
		src.deploy()
	}
	for attempt := 1; ; attempt++ {
		if src.contexts > 0 {
			prog.reading(src.contexts, o.Timeout)
		}
		m = src.mesh(ctx)
		prog.read(m)
		r := o.runner()
		results = r.Run(ctx, src.env(m), prog.observer(len(r.Checks)))
		prog.clear()
		if o.Wait == 0 || !anyFailed(results) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		prog.attempt(attempt, results, time.Until(deadline), pause)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	if err := o.write(m, results, src.name); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return verdict(m, results, o.Strict)
}

func (o *CheckOptions) runner() *checks.Runner {
	return &checks.Runner{Checks: o.catalogue, Timeout: o.Timeout*3 + o.ProbeTimeout*2}
}

// env is the live environment of the checks: real dialer, real API
// servers for admin reads, exec and remote-secret credentials.
func (o *CheckOptions) env(m *mesh.Mesh, clients []*cluster.Client, deployErrs map[string]error) *checks.Env {
	dialer := &net.Dialer{}
	byContext := map[string]*cluster.Client{}
	var proxies []string
	for _, c := range clients {
		byContext[c.Context] = c
		proxies = append(proxies, c.ProxyURL)
	}
	clientsFn := func(ctx string) (envoyadmin.Clients, error) {
		c := byContext[ctx]
		if c == nil || c.Config == nil {
			return envoyadmin.Clients{}, fmt.Errorf("no client for context %s", ctx)
		}
		return envoyadmin.Clients{Config: c.Config, Kube: c.Kube}, nil
	}
	return &checks.Env{
		Mesh:             m,
		Now:              time.Now(),
		NoNetwork:        o.NoNetwork,
		RemoteAccess:     cluster.RemoteAccess(cluster.RemoteAccessOptions{Timeout: o.ProbeTimeout, TrustedProxies: proxies, MaxResponseSize: int64(o.MaxResponseSize)}),
		GatewayOverrides: o.overrides,
		Resolver:         checks.SystemResolver{Timeout: o.Timeout},
		Probe: func(ctx context.Context, t probe.GatewayTarget) []probe.PortResult {
			return probe.ProbeGateway(ctx, dialer, t, o.ProbeTimeout)
		},
		Admin: envoyadmin.FallbackFetcher{
			Primary:   envoyadmin.PortForwardFetcher{Clients: clientsFn, Timeout: o.Timeout, MaxBytes: o.maxDumpBytes},
			Secondary: envoyadmin.ExecFetcher{Clients: clientsFn, Timeout: o.Timeout, MaxBytes: o.maxDumpBytes},
			Fallbacks: &sync.Map{},
		},
		Probes: checks.ProbeSettings{
			DeployErrors: deployErrs,
			Exec:         podExecer{clientsFn},
			Targets:      o.Targets,
			Proxy:        o.Proxy,
			Service:      o.Service,
			Requests:     o.Requests,
			Timeout:      o.ProbeTimeout,
		},
	}
}

// podExecer runs probe commands through the API server's pods/exec.
type podExecer struct{ clients envoyadmin.ClientsFunc }

// maxProbeOutput caps the output of one probe command. curl prints each
// response's headers and body: helloworld's is ~350 bytes, so the most
// --requests allows (1,000) of 8 KiB responses fit.
const maxProbeOutput = 8 << 20

func (p podExecer) Exec(ctx context.Context, pod probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	c, err := p.clients(pod.Context)
	if err != nil {
		return nil, nil, 0, err
	}
	return envoyadmin.ExecLimited(ctx, c.Config, envoyadmin.PodRef{Context: pod.Context, Namespace: pod.Namespace, Name: pod.Name}, pod.Container, cmd,
		envoyadmin.ExecLimits{Stdout: maxProbeOutput, Hint: "lower --requests, or name a --target with a smaller response"})
}

// loadOptions and collectOptions are the shared client settings of every
// command that reads live clusters.
func (o *CheckOptions) loadOptions() cluster.LoadOptions {
	return cluster.LoadOptions{Kubeconfig: o.Kubeconfig, Contexts: o.Contexts, Timeout: o.Timeout, MaxResponseSize: int64(o.MaxResponseSize)}
}

func (o *CheckOptions) collectOptions() cluster.CollectOptions {
	return cluster.CollectOptions{ProbeSelector: o.ProbeSelector, Deadline: cluster.InventoryDeadline(o.Timeout)}
}

// byteSize is a flag value in bytes with binary units (256MiB).
type byteSize int64

func (b *byteSize) String() string { return cluster.FormatBytes(int64(*b)) }
func (b *byteSize) Type() string   { return "size" }
func (b *byteSize) Set(s string) error {
	n, err := cluster.ParseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func anyFailed(rs []checks.Result) bool {
	for _, r := range rs {
		if r.Status == checks.Fail || r.Status == checks.Error {
			return true
		}
	}
	return false
}

// verdict turns results into the exit code: 3 when no cluster could be
// read, 1 on a failure (or an error, or a warning with --strict).
func verdict(m *mesh.Mesh, rs []checks.Result, strict bool) error {
	if len(m.Reachable()) == 0 {
		return &exitError{code: exitCouldNotRun, err: errors.New("no cluster could be reached")}
	}
	s := report.Summarize(rs)
	if s.Fail > 0 || s.Error > 0 || strict && s.Warn > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}

func (o *CheckOptions) write(m *mesh.Mesh, rs []checks.Result, source string) error {
	meta := metaOf(m, source)
	mp := meshmap.Build(m, rs)
	if o.HTMLFile != "" {
		if err := writeFile(o.HTMLFile, func(f *os.File) error {
			return report.HTML(f, meta, rs, mp)
		}); err != nil {
			return fmt.Errorf("write HTML report: %w", err)
		}
	}
	if o.JUnitFile != "" {
		if err := writeFile(o.JUnitFile, func(f *os.File) error {
			return report.JUnit(f, meta, rs, report.JUnitOptions{WarnAsFailure: o.JUnitWarnAsFailure})
		}); err != nil {
			return fmt.Errorf("write JUnit report: %w", err)
		}
	}
	switch o.Output {
	case "json":
		return report.JSON(o.IO.Out, meta, rs)
	case "yaml":
		return report.YAML(o.IO.Out, meta, rs)
	case "dot":
		return report.Dot(o.IO.Out, meta, rs, mp)
	default:
		color := o.IO.OutIsTTY && os.Getenv("NO_COLOR") == ""
		return report.Table(o.IO.Out, meta, rs, report.TableOptions{Short: o.Output == "short", Wide: o.Output == "wide", Color: color, Width: o.IO.OutWidth, Map: mp})
	}
}

func writeFile(path string, fn func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func metaOf(m *mesh.Mesh, source string) report.Meta {
	host, _ := os.Hostname()
	meta := report.Meta{Tool: "meshdoctor", Version: versionString(), GeneratedAt: time.Now().UTC(), Topology: m.Topology(), Source: source, Hostname: host}
	for _, c := range m.Clusters {
		meta.Contexts = append(meta.Contexts, report.ContextInfo{Name: c.Name, Server: c.Inv.Server, ClusterID: c.ID,
			Network: c.Network, Role: string(c.Role), Version: c.Version, DataPlane: dataPlaneOf(c)})
	}
	return meta
}

// dataPlaneOf is the cluster's data plane for the report header ("" when
// the cluster could not be read).
func dataPlaneOf(c *mesh.Cluster) string {
	if !c.Reachable() {
		return ""
	}
	return string(c.DataPlane().Mode)
}
