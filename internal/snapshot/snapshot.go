// Package snapshot writes and reads a mesh's recorded state: every
// cluster's inventory plus the network results (gateway probes, remote
// secret access) with their vantage point and time, so that the checks can
// run anywhere, offline. The format is a gzip'd tar:
//
//	manifest.json            {"format":"meshdoctor-snapshot/v1", "takenAt", "tool", "version", "contexts", "vantage"}
//	inventory/<context>.json cluster.Inventory (already free of keys and tokens)
//	network.json             {"probes":[...], "remoteAccess":[...]}
//
// Inventories carry no private key or token by construction (see package
// cluster); Write also blanks container env values other than Istio's own
// settings, drops managedFields and last-applied annotations, and scans
// every byte it is about to write (Scan), refusing to write anything when
// it finds a private key or a token. Read bounds what a hostile file can
// make it inflate and allocate (Limits).
package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// Format is the version this code writes and reads.
const Format = "meshdoctor-snapshot/v1"

// maxFiles bounds the entries of a snapshot, skipped ones included.
const maxFiles = 10_000

// Manifest describes a snapshot.
type Manifest struct {
	Format   string    `json:"format"`
	TakenAt  time.Time `json:"takenAt"`
	Tool     string    `json:"tool"`
	Version  string    `json:"version"`
	Contexts []string  `json:"contexts"`
	// Vantage is where the network results were measured from.
	Vantage string `json:"vantage"`
	// GatewayOverrides are the --gateway-address values the probes used
	// (context -> address); replays use them too.
	GatewayOverrides map[string]string `json:"gatewayOverrides,omitempty"`
}

// ProbeRecord is one recorded gateway probe.
type ProbeRecord struct {
	Cluster string `json:"cluster"`
	Address string `json:"address"`
	SNI     string `json:"sni,omitempty"`
	// IstiodSANs are the hosts probes.istiod-san sent as SNI (empty for
	// the gateway probes); part of the key a replay matches on.
	IstiodSANs []string           `json:"istiodSANs,omitempty"`
	Results    []probe.PortResult `json:"results"`
}

// AccessRecord is one recorded remote-secret access attempt.
type AccessRecord struct {
	Cluster string `json:"cluster"`
	Secret  string `json:"secret"`
	Key     string `json:"key"`
	// Error is empty when the credentials worked; FetchError keeps its
	// classification, so that a replay tells the same cause.
	Error      string              `json:"error,omitempty"`
	FetchError *cluster.FetchError `json:"fetchError,omitempty"`
}

// AdminRecord is one recorded admin read (Envoy config dump, istiod debug).
type AdminRecord struct {
	Pod   envoyadmin.PodRef `json:"pod"`
	Path  string            `json:"path"`
	Body  string            `json:"body,omitempty"`
	Error string            `json:"error,omitempty"`
}

// ExecRecord is one recorded command run in a probe pod (curl probes).
type ExecRecord struct {
	Pod      probe.PodRef `json:"pod"`
	Command  []string     `json:"command"`
	Stdout   string       `json:"stdout"`
	Stderr   string       `json:"stderr,omitempty"`
	ExitCode int          `json:"exitCode"`
	Error    string       `json:"error,omitempty"`
}

// Network holds the recorded network results.
type Network struct {
	Probes       []ProbeRecord  `json:"probes"`
	RemoteAccess []AccessRecord `json:"remoteAccess"`
	Admin        []AdminRecord  `json:"admin,omitempty"`
	Exec         []ExecRecord   `json:"exec,omitempty"`
}

// Snapshot is a loaded snapshot.
type Snapshot struct {
	Manifest    Manifest
	Inventories []*cluster.Inventory
	Network     Network
}

// Recorder wraps live network calls and keeps their results.
type Recorder struct {
	mu  sync.Mutex
	net Network
}

// Probe records the results of probe.
func (r *Recorder) Probe(fn func(context.Context, probe.GatewayTarget) []probe.PortResult) func(context.Context, probe.GatewayTarget) []probe.PortResult {
	return func(ctx context.Context, t probe.GatewayTarget) []probe.PortResult {
		res := fn(ctx, t)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.net.Probes = append(r.net.Probes, ProbeRecord{Cluster: t.Cluster, Address: t.Address, SNI: t.SNI, IstiodSANs: t.IstiodSANs, Results: res})
		return res
	}
}

// Access records the results of access.
func (r *Recorder) Access(fn func(context.Context, string, string, cluster.RemoteKubeconfig) error) func(context.Context, string, string, cluster.RemoteKubeconfig) error {
	return func(ctx context.Context, cl, secret string, rk cluster.RemoteKubeconfig) error {
		err := fn(ctx, cl, secret, rk)
		rec := AccessRecord{Cluster: cl, Secret: secret, Key: rk.ClusterID}
		if err != nil {
			rec.Error = err.Error()
			var fe *cluster.FetchError
			if errors.As(err, &fe) {
				rec.FetchError = fe
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.net.RemoteAccess = append(r.net.RemoteAccess, rec)
		return err
	}
}

// Admin records what f reads.
func (r *Recorder) Admin(f envoyadmin.Fetcher) envoyadmin.Fetcher { return recordingFetcher{r, f} }

type recordingFetcher struct {
	r *Recorder
	f envoyadmin.Fetcher
}

func (rf recordingFetcher) Get(ctx context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	body, err := rf.f.Get(ctx, pod, path)
	rec := AdminRecord{Pod: pod, Path: path, Body: string(body)}
	if err != nil {
		rec.Error = err.Error()
	}
	rf.r.mu.Lock()
	defer rf.r.mu.Unlock()
	rf.r.net.Admin = append(rf.r.net.Admin, rec)
	return body, err
}

// Exec records what e runs.
func (r *Recorder) Exec(e probe.Execer) probe.Execer { return recordingExecer{r, e} }

type recordingExecer struct {
	r *Recorder
	e probe.Execer
}

func (re recordingExecer) Exec(ctx context.Context, pod probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	out, errOut, code, err := re.e.Exec(ctx, pod, cmd)
	rec := ExecRecord{Pod: pod, Command: cmd, Stdout: string(out), Stderr: string(errOut), ExitCode: code}
	if err != nil {
		rec.Error = err.Error()
	}
	re.r.mu.Lock()
	defer re.r.mu.Unlock()
	re.r.net.Exec = append(re.r.net.Exec, rec)
	return out, errOut, code, err
}

// Network returns what was recorded, in a stable order.
func (r *Recorder) Network() Network {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := Network{Probes: append([]ProbeRecord{}, r.net.Probes...), RemoteAccess: append([]AccessRecord{}, r.net.RemoteAccess...),
		Admin: append([]AdminRecord(nil), r.net.Admin...), Exec: append([]ExecRecord(nil), r.net.Exec...)}
	sort.SliceStable(n.Admin, func(i, j int) bool {
		return n.Admin[i].Pod.String()+n.Admin[i].Path < n.Admin[j].Pod.String()+n.Admin[j].Path
	})
	sort.SliceStable(n.Exec, func(i, j int) bool { return n.Exec[i].Pod.String() < n.Exec[j].Pod.String() })
	sort.Slice(n.Probes, func(i, j int) bool {
		return n.Probes[i].Cluster+n.Probes[i].Address < n.Probes[j].Cluster+n.Probes[j].Address
	})
	sort.Slice(n.RemoteAccess, func(i, j int) bool {
		a, b := n.RemoteAccess[i], n.RemoteAccess[j]
		return a.Cluster+"/"+a.Secret+"/"+a.Key < b.Cluster+"/"+b.Secret+"/"+b.Key
	})
	return n
}

// Replay returns probe and access functions that answer from the snapshot.
func (s *Snapshot) Replay() (func(context.Context, probe.GatewayTarget) []probe.PortResult, func(context.Context, string, string, cluster.RemoteKubeconfig) error) {
	probeFn := func(_ context.Context, t probe.GatewayTarget) []probe.PortResult {
		for _, p := range s.Network.Probes {
			if p.Cluster == t.Cluster && p.Address == t.Address && slices.Equal(p.IstiodSANs, t.IstiodSANs) && (len(t.IstiodSANs) == 0 || samePorts(p.Results, t.Ports)) {
				return p.Results
			}
		}
		return nil // the check says it has no recorded result
	}
	accessFn := func(_ context.Context, cl, secret string, rk cluster.RemoteKubeconfig) error {
		for _, a := range s.Network.RemoteAccess {
			if a.Cluster == cl && a.Secret == secret && a.Key == rk.ClusterID {
				switch {
				case a.FetchError != nil:
					return a.FetchError
				case a.Error != "":
					return errors.New(a.Error)
				}
				return nil
			}
		}
		return checks.ErrNotRecorded
	}
	return probeFn, accessFn
}

// ReplayInto makes env answer as the recorded run did: the snapshot's time
// as now, its probes, remote-access results, admin reads and curl runs
// replayed, and its gateway overrides where env has none of its own. The CLI's
// --from and the demo tests share it, so both run the checks on the same
// replayed world.
func (s *Snapshot) ReplayInto(env *checks.Env) {
	env.Now = s.Manifest.TakenAt
	env.RecordedAt = s.Manifest.TakenAt
	env.Probe, env.RemoteAccess = s.Replay()
	env.Admin = s.Fetcher()
	env.Probes.Exec = s.Execer()
	if len(env.GatewayOverrides) == 0 {
		env.GatewayOverrides = s.Manifest.GatewayOverrides
	}
}

// Fetcher answers admin reads from the snapshot.
func (s *Snapshot) Fetcher() envoyadmin.Fetcher { return replayFetcher{s} }

type replayFetcher struct{ s *Snapshot }

func (rf replayFetcher) Get(_ context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	for _, a := range rf.s.Network.Admin {
		if a.Pod == pod && a.Path == path {
			if a.Error != "" {
				return nil, errors.New(a.Error)
			}
			return []byte(a.Body), nil
		}
	}
	return nil, checks.ErrNotRecorded
}

// Execer answers probe commands from the snapshot.
func (s *Snapshot) Execer() probe.Execer { return replayExecer{s} }

type replayExecer struct{ s *Snapshot }

func (re replayExecer) Exec(_ context.Context, pod probe.PodRef, cmd []string) ([]byte, []byte, int, error) {
	for _, e := range re.s.Network.Exec {
		if e.Pod == pod && slices.Equal(e.Command, cmd) {
			if e.Error != "" {
				return nil, nil, 0, errors.New(e.Error)
			}
			return []byte(e.Stdout), []byte(e.Stderr), e.ExitCode, nil
		}
	}
	return nil, nil, 0, checks.ErrNotRecorded
}

// LeakError is Write refusing to write a snapshot because an entry holds
// something secret-shaped. It names the entry and the kind of secret, never
// the secret.
type LeakError struct {
	Entry    string
	Findings []Finding
}

func (e *LeakError) Error() string {
	what := make([]string, 0, len(e.Findings))
	for _, f := range e.Findings[:min(len(e.Findings), 3)] {
		what = append(what, f.String())
	}
	if len(e.Findings) > 3 {
		what = append(what, fmt.Sprintf("and %d more", len(e.Findings)-3))
	}
	return fmt.Sprintf("refusing to write the snapshot: %s holds %s; nothing was written (the cluster data carries a secret meshdoctor failed to redact: please report it)",
		e.Entry, strings.Join(what, ", "))
}

// Write writes a snapshot. Every entry is encoded and scanned (Scan) before
// the first byte is written: when a scan finds a private key or a token,
// Write writes nothing and returns a *LeakError.
func Write(w io.Writer, s *Snapshot) error {
	s.Manifest.Format = Format
	s.Manifest.Contexts = nil
	for _, inv := range s.Inventories {
		s.Manifest.Contexts = append(s.Manifest.Contexts, inv.Context)
	}
	type entry struct {
		name string
		body []byte
	}
	var entries []entry
	add := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		if f := Scan(b); len(f) > 0 {
			return &LeakError{Entry: name, Findings: f}
		}
		entries = append(entries, entry{name, b})
		return nil
	}
	if err := add("manifest.json", s.Manifest); err != nil {
		return err
	}
	for _, inv := range s.Inventories {
		if inv.Context == ".." || inv.Context == "." || inv.Context == "" {
			return fmt.Errorf("context name %q cannot be a file name", inv.Context)
		}
		// The file is named after the context, escaped: EKS contexts
		// (arn:aws:eks:REGION:ACCOUNT:cluster/NAME) hold a slash. Read
		// takes the context from the inventory, not from the file name.
		if err := add("inventory/"+url.PathEscape(inv.Context)+".json", redact(inv)); err != nil {
			return err
		}
	}
	if err := add("network.json", s.Network); err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), ModTime: s.Manifest.TakenAt, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return fmt.Errorf("write %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close tar: %w", err)
	}
	return zw.Close()
}

// keepEnv are the env vars whose values the checks read.
func keepEnv(name string) bool {
	// AMBIENT_*: istiod's ambient feature flags (pilot/pkg/features/ambient.go), read by ambient.istiod-multi-network.
	// EXTERNAL_ISTIOD: whether istiod leads its remote clusters (pilot/pkg/features/pilot.go), read by controlplane.remote-served.
	return name == "CLUSTER_ID" || name == "REVISION" || name == "EXTERNAL_ISTIOD" || strings.HasPrefix(name, "ISTIO_META_") || strings.HasPrefix(name, "PILOT_") ||
		strings.HasPrefix(name, "AMBIENT_")
}

func redact(inv *cluster.Inventory) *cluster.Inventory {
	c := *inv
	scrubMeta := func(annotations map[string]string) map[string]string {
		if _, ok := annotations["kubectl.kubernetes.io/last-applied-configuration"]; !ok {
			return annotations
		}
		out := map[string]string{}
		for k, v := range annotations {
			if k != "kubectl.kubernetes.io/last-applied-configuration" {
				out[k] = v
			}
		}
		return out
	}
	scrubContainers := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, ct := range cs {
			ct = *ct.DeepCopy()
			for j := range ct.Env {
				if !keepEnv(ct.Env[j].Name) && ct.Env[j].Value != "" {
					ct.Env[j].Value = "(redacted)"
				}
			}
			out[i] = ct
		}
		return out
	}
	c.Deployments = nil
	for _, d := range inv.Deployments {
		d = *d.DeepCopy()
		d.ManagedFields = nil
		d.Annotations = scrubMeta(d.Annotations)
		d.Spec.Template.Spec.Containers = scrubContainers(d.Spec.Template.Spec.Containers)
		d.Spec.Template.Spec.InitContainers = scrubContainers(d.Spec.Template.Spec.InitContainers)
		c.Deployments = append(c.Deployments, d)
	}
	c.Pods = nil
	for _, p := range inv.Pods {
		p = *p.DeepCopy()
		p.ManagedFields = nil
		p.Annotations = scrubMeta(p.Annotations)
		p.Spec.Containers = scrubContainers(p.Spec.Containers)
		p.Spec.InitContainers = scrubContainers(p.Spec.InitContainers)
		c.Pods = append(c.Pods, p)
	}
	c.ConfigMaps = nil
	for _, cm := range inv.ConfigMaps {
		cm = *cm.DeepCopy()
		cm.ManagedFields = nil
		cm.Annotations = scrubMeta(cm.Annotations)
		c.ConfigMaps = append(c.ConfigMaps, cm)
	}
	// The other kinds hold no secret fields, but kubectl's
	// last-applied-configuration repeats a whole object and managedFields
	// only describe who wrote what: neither is needed offline.
	c.Namespaces = nil
	for _, ns := range inv.Namespaces {
		ns = *ns.DeepCopy()
		ns.ManagedFields, ns.Annotations = nil, scrubMeta(ns.Annotations)
		c.Namespaces = append(c.Namespaces, ns)
	}
	c.Services = nil
	for _, sv := range inv.Services {
		sv = *sv.DeepCopy() // compacted at the edge: no managedFields
		sv.Annotations = scrubMeta(sv.Annotations)
		c.Services = append(c.Services, sv)
	}
	// EndpointSlices are compacted at the edge: no managedFields and no
	// annotation to scrub (cluster.EndpointSlice), and never written to.
	c.EndpointSlices = slices.Clip(inv.EndpointSlices)
	c.Gateways = nil
	for _, g := range inv.Gateways {
		g = g.DeepCopy()
		g.ManagedFields, g.Annotations = nil, scrubMeta(g.Annotations)
		c.Gateways = append(c.Gateways, g)
	}
	c.ServiceEntries = nil
	for _, se := range inv.ServiceEntries {
		se = se.DeepCopy()
		se.ManagedFields, se.Annotations = nil, scrubMeta(se.Annotations)
		c.ServiceEntries = append(c.ServiceEntries, se)
	}
	return &c
}

// Read loads a snapshot; a malformed, truncated, oversized or
// future-version file gives an error, never a panic, and never more memory
// than its limits allow (see Limits).
func Read(r io.Reader) (*Snapshot, error) { return readWithLimits(r, DefaultLimits()) }

func readWithLimits(r io.Reader, lim Limits) (*Snapshot, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a meshdoctor snapshot (gzip): %w", err)
	}
	defer zr.Close()
	// Every inflated byte — tar headers, entries read, entries skipped —
	// counts against one budget.
	inflated := &budgetReader{r: zr, left: lim.Inflated}
	tr := tar.NewReader(inflated)
	s := &Snapshot{}
	var haveManifest, haveNetwork bool
	seen := map[string]bool{}
	shape := &shapeBudget{objects: lim.Objects, values: lim.Values, nested: lim.NestedItems}
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, errInflated) {
				return nil, fmt.Errorf("snapshot inflates to more than %d bytes", lim.Inflated)
			}
			return nil, fmt.Errorf("read snapshot: %w", err)
		}
		if n >= maxFiles {
			return nil, fmt.Errorf("snapshot has more than %d files", maxFiles)
		}
		name := path.Clean(hdr.Name)
		kind := entryKind(name)
		if hdr.Typeflag != tar.TypeReg || kind == "" {
			continue // discarded unread (the tar reader skips it within the budget)
		}
		if seen[name] {
			return nil, fmt.Errorf("snapshot has %s twice", name)
		}
		seen[name] = true
		if hdr.Size > lim.File {
			return nil, fmt.Errorf("snapshot file %s is too large (%d bytes; at most %d)", name, hdr.Size, lim.File)
		}
		// The header's size is a claim: grow past 4 MiB only as bytes arrive.
		buf := bytes.NewBuffer(make([]byte, 0, min(hdr.Size, 4<<20)))
		if _, err := io.Copy(buf, io.LimitReader(tr, lim.File+1)); err != nil {
			if errors.Is(err, errInflated) {
				return nil, fmt.Errorf("snapshot inflates to more than %d bytes", lim.Inflated)
			}
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		// Count before allocating: a few bytes of JSON ("{},") become a
		// struct of a kilobyte or more.
		if err := shape.check(buf.Bytes(), kind); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch kind {
		case "manifest":
			if err := json.Unmarshal(buf.Bytes(), &s.Manifest); err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			if s.Manifest.Format != Format {
				return nil, fmt.Errorf("snapshot format %q is not supported by this meshdoctor (reads %s); use a matching meshdoctor version", s.Manifest.Format, Format)
			}
			haveManifest = true
		case "network":
			if err := json.Unmarshal(buf.Bytes(), &s.Network); err != nil {
				return nil, fmt.Errorf("network.json: %w", err)
			}
			haveNetwork = true
		case "inventory":
			inv := &cluster.Inventory{}
			if err := json.Unmarshal(buf.Bytes(), inv); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if inv.Context == "" {
				return nil, fmt.Errorf("%s: inventory without a context name", name)
			}
			s.Inventories = append(s.Inventories, inv)
		}
	}
	if !haveManifest {
		return nil, errors.New("not a meshdoctor snapshot: manifest.json missing (truncated file?)")
	}
	if !haveNetwork {
		return nil, errors.New("snapshot incomplete: network.json missing (truncated file?)")
	}
	if len(s.Inventories) != len(s.Manifest.Contexts) {
		return nil, fmt.Errorf("snapshot incomplete: manifest lists %d contexts, found %d inventories", len(s.Manifest.Contexts), len(s.Inventories))
	}
	sort.Slice(s.Inventories, func(i, j int) bool { return s.Inventories[i].Context < s.Inventories[j].Context })
	return s, nil
}

// entryKind is what Read does with an entry: "manifest", "network",
// "inventory", or "" (unknown: skipped unread).
func entryKind(name string) string {
	switch {
	case name == "manifest.json":
		return "manifest"
	case name == "network.json":
		return "network"
	case strings.HasPrefix(name, "inventory/") && strings.HasSuffix(name, ".json") && strings.Count(name, "/") == 1:
		return "inventory"
	}
	return ""
}

// samePorts reports whether a recorded probe covered exactly ports.
func samePorts(rs []probe.PortResult, ports []probe.Port) bool {
	if len(rs) != len(ports) {
		return false
	}
	for i := range rs {
		if rs[i].Port != ports[i] {
			return false
		}
	}
	return true
}
