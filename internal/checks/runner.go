package checks

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// Env is what checks read: the mesh model, the clock, and the interfaces
// through which the few network checks reach out.
type Env struct {
	Mesh *mesh.Mesh
	Now  time.Time
	// NoNetwork skips every check marked Network.
	NoNetwork bool
	// RemoteAccess tries a remote secret's credentials (nil: not available).
	RemoteAccess RemoteAccessFunc
	// Probe probes an east-west gateway from this host (nil: not available).
	Probe ProbeFunc
	// Admin reads Envoy and istiod admin endpoints through the API server
	// (nil: those checks are skipped).
	Admin envoyadmin.Fetcher
	// Probes configure the in-cluster (exec) probes.
	Probes ProbeSettings
	// RecordedAt is set when network results are replayed from a snapshot.
	RecordedAt time.Time
	// GatewayOverrides replaces a cluster's gateway address (NAT).
	GatewayOverrides map[string]string
	// Resolver resolves gateway hostnames that istiod's /debug/networkz does
	// not answer for (nil: not resolved from here; the endpoint checks then
	// warn instead of comparing addresses).
	Resolver Resolver

	// debug holds this run's istiod debug reads (fetchDebug): one read of
	// each path per istiod, shared by the checks that parse it.
	debug debugReads
}

// EventKind tells what happened in a run.
type EventKind int

const (
	// CheckStarted: a check began (Results empty).
	CheckStarted EventKind = iota
	// CheckFinished: a check ended with Results.
	CheckFinished
	// InventoryStarted: the clusters are being read (Contexts names them);
	// sent by the caller before a run, not by the runner.
	InventoryStarted
	// InventoryRead: the clusters were read (Mesh); sent by the caller.
	InventoryRead
	// ContextRead: one context's inventory came back (Contexts names it;
	// Unreachable says why it could not be read, if it could not), between
	// InventoryStarted and InventoryRead; sent by the caller.
	ContextRead
	// ProbesDeploying: probe pods are being deployed into Namespace in
	// Contexts (--deploy-probes), before InventoryStarted; sent by the caller.
	ProbesDeploying
)

// Event is what the runner (or, for the inventory, its caller) reports to
// an observer.
type Event struct {
	Kind    EventKind
	Check   *Check
	Results []Result
	// Contexts are the contexts being read (InventoryStarted).
	Contexts []string
	// Mesh is the mesh built from the inventories (InventoryRead).
	Mesh *mesh.Mesh
	// Unreachable is why a context could not be read (ContextRead).
	Unreachable string
	// Namespace is where probe pods are deployed (ProbesDeploying).
	Namespace string
}

// Observer consumes events; it is called from the runner's goroutines, one
// call at a time.
type Observer func(Event)

// Runner runs a catalogue as a dependency graph.
type Runner struct {
	Checks []Check
	// Parallel bounds how many checks run at once (default 8).
	Parallel int
	// Timeout bounds each check (default 30s).
	Timeout time.Duration
	// ClusterParallel bounds how many clusters one Network check (probes,
	// port-forwards, execs, remote-secret logins: waiting on round trips,
	// not the CPU) runs on at once (default 64; 1 runs them one after
	// another). Other checks run cluster after cluster.
	ClusterParallel int
}

// Validate reports unknown dependencies and cycles in the catalogue.
func Validate(cs []Check) error {
	ids := map[string]int{}
	for i, c := range cs {
		if _, dup := ids[c.ID]; dup {
			return fmt.Errorf("duplicate check ID %s", c.ID)
		}
		ids[c.ID] = i
		if (c.Scope == Mesh) != (c.Mesh != nil) || (c.Scope != Mesh) != (c.Cluster != nil) {
			return fmt.Errorf("check %s: scope %s does not match its run function", c.ID, c.Scope)
		}
	}
	for i, c := range cs {
		for _, d := range c.DependsOn {
			j, ok := ids[d]
			if !ok {
				return fmt.Errorf("check %s depends on unknown check %s", c.ID, d)
			}
			if j >= i {
				return fmt.Errorf("check %s depends on %s, which is declared later (declare prerequisites first)", c.ID, d)
			}
		}
	}
	pre := prerequisites(cs)
	for _, c := range cs {
		all := pre(c.ID, false)
		for _, d := range c.RunsDespite {
			if !all[d] {
				return fmt.Errorf("check %s runs despite %s, which is not one of its prerequisites", c.ID, d)
			}
		}
	}
	return nil
}

// prerequisites returns, for a check ID, the checks it depends on,
// transitively; with explaining set, the walk stops at the check's
// RunsDespite (their failures do not explain it, see Explain).
func prerequisites(cs []Check) func(id string, explaining bool) map[string]bool {
	deps := map[string][]string{}
	despite := map[string][]string{}
	for _, c := range cs {
		deps[c.ID] = c.DependsOn
		despite[c.ID] = c.RunsDespite
	}
	return func(id string, explaining bool) map[string]bool {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(at string) {
			for _, d := range deps[at] {
				if seen[d] || explaining && slices.Contains(despite[id], d) {
					continue
				}
				seen[d] = true
				walk(d)
			}
		}
		walk(id)
		return seen
	}
}

// cascadeRoots are the checks whose own failure a blocking result stands
// for: the check itself when it failed or errored (or was skipped without
// a recorded root, as --no-network does), the roots of a cascade skip.
func cascadeRoots(r Result) []string {
	if r.Status == Skipped && r.cascade && len(r.cascadeFrom) > 0 {
		return r.cascadeFrom
	}
	return []string{r.CheckID}
}

// blockedBy adds the roots of a blocking result to roots, and reports
// whether c must not run because of it (some root is not in
// c.RunsDespite).
func blockedBy(c *Check, r Result, roots *[]string) bool {
	blocks := false
	for _, root := range cascadeRoots(r) {
		if !slices.Contains(*roots, root) {
			*roots = append(*roots, root)
		}
		if !slices.Contains(c.RunsDespite, root) {
			blocks = true
		}
	}
	return blocks
}

// Select keeps the checks whose ID matches one of only (all when empty) and
// none of skip (path.Match globs). Prerequisites of a selected check are
// kept too, so that dependencies keep their meaning.
func Select(cs []Check, only, skip []string) ([]Check, error) {
	for _, p := range append(append([]string{}, only...), skip...) {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad check pattern %q: %w", p, err)
		}
	}
	match := func(id string, pats []string) bool {
		for _, p := range pats {
			if ok, _ := path.Match(p, id); ok || p == id || strings.TrimSuffix(p, ".*") == Area(id) && strings.HasSuffix(p, ".*") {
				return true
			}
		}
		return false
	}
	keep := map[string]bool{}
	byID := map[string]Check{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	var add func(id string)
	add = func(id string) {
		if keep[id] {
			return
		}
		keep[id] = true
		for _, d := range byID[id].DependsOn {
			add(d)
		}
	}
	for _, c := range cs {
		if (len(only) == 0 || match(c.ID, only)) && !match(c.ID, skip) {
			add(c.ID)
		}
	}
	var out []Check
	for _, c := range cs {
		if keep[c.ID] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no check matches --only %v / --skip %v", only, skip)
	}
	return out, nil
}

// Run executes the checks in dependency order, independent ones in
// parallel, and returns all results in catalogue order (within a check:
// cluster, peer, target order). obs may be nil.
func (r *Runner) Run(ctx context.Context, env *Env, obs Observer) []Result {
	parallel := r.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var obsMu sync.Mutex
	emit := func(e Event) {
		if obs == nil {
			return
		}
		obsMu.Lock()
		defer obsMu.Unlock()
		obs(e)
	}

	n := len(r.Checks)
	results := make([][]Result, n)
	done := make([]chan struct{}, n)
	index := map[string]int{}
	for i, c := range r.Checks {
		done[i] = make(chan struct{})
		index[c.ID] = i
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range r.Checks {
		wg.Go(func() {
			defer close(done[i])
			c := &r.Checks[i]
			var deps [][]Result
			for _, d := range c.DependsOn {
				j, ok := index[d]
				if !ok {
					deps = append(deps, []Result{{CheckID: d, Status: Skipped, Message: "not selected", cascade: true}})
					continue
				}
				select {
				case <-done[j]:
				case <-ctx.Done():
				}
				deps = append(deps, results[j])
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = []Result{{CheckID: c.ID, Status: Error, Message: "run cancelled: " + ctx.Err().Error()}}
				return
			}
			emit(Event{Kind: CheckStarted, Check: c})
			start := time.Now()
			res := r.runOne(ctx, env, c, deps, timeout)
			took := time.Since(start)
			<-sem
			for k := range res {
				res[k].CheckID = c.ID
				res[k].Duration = took
			}
			sortResults(env.Mesh, res)
			results[i] = res
			emit(Event{Kind: CheckFinished, Check: c, Results: res})
		})
	}
	wg.Wait()
	var all []Result
	for _, rs := range results {
		all = append(all, rs...)
	}
	return Explain(r.Checks, all)
}

func (r *Runner) runOne(ctx context.Context, env *Env, c *Check, deps [][]Result, timeout time.Duration) []Result {
	if env.NoNetwork && c.Network {
		return scopeSkip(env, c, "network probes disabled (--no-network)")
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.Scope == Mesh {
		if why, roots := meshBlocked(env, c, deps); why != "" {
			return []Result{{Status: Skipped, Message: why, cascade: true, cascadeFrom: roots}}
		}
		return safeRun(c, "", func() []Result { return c.Mesh(cctx, env) })
	}
	perCluster := make([][]Result, len(env.Mesh.Clusters))
	width := 1
	if c.Network {
		width = r.ClusterParallel
		if width <= 0 {
			width = 64
		}
	}
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i, cl := range env.Mesh.Clusters {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			perCluster[i] = r.onCluster(cctx, env, c, cl, deps)
		})
	}
	wg.Wait()
	var out []Result
	for _, rs := range perCluster {
		out = append(out, rs...)
	}
	return out
}

// onCluster runs a per-cluster check on one cluster, or says why it
// cannot run there.
func (r *Runner) onCluster(cctx context.Context, env *Env, c *Check, cl *mesh.Cluster, deps [][]Result) []Result {
	if cl.IsAlias() && c.Area() != Area(ContextsReachable) {
		// Another context of the same API server stands for this one
		// (contexts.aliases names it): checking it twice would compare
		// the cluster with itself.
		return nil
	}
	if !cl.Reachable() && c.ID != ContextsReachable {
		// The contexts check reports it; nothing else can run here.
		return []Result{{Status: Skipped, Cluster: cl.Name,
			Message: fmt.Sprintf("prerequisite %s failed for %s: cluster unreachable", ContextsReachable, cl.Name), cascade: true,
			cascadeFrom: []string{ContextsReachable}}}
	}
	if why, roots := clusterBlocked(c, cl.Name, deps); why != "" {
		return []Result{{Status: Skipped, Cluster: cl.Name, Message: why, cascade: true, cascadeFrom: roots}}
	}
	if fe := missingResource(c, cl); fe != "" {
		return []Result{{Status: Error, Cluster: cl.Name, Message: fe,
			Remediation: kc(cl.Name) + " auth can-i --list -n istio-system"}}
	}
	res := safeRun(c, cl.Name, func() []Result { return c.Cluster(cctx, env, cl) })
	for k := range res {
		if res[k].Cluster == "" {
			res[k].Cluster = cl.Name
		}
	}
	return res
}

// safeRun turns a panicking check into an error result: one broken check
// must not lose the others' results.
func safeRun(c *Check, cluster string, fn func() []Result) (res []Result) {
	defer func() {
		if p := recover(); p != nil {
			res = []Result{{Status: Error, Cluster: cluster, Message: fmt.Sprintf("check %s crashed: %v (a meshdoctor bug, please report it)", c.ID, p)}}
		}
	}()
	return fn()
}

func missingResource(c *Check, cl *mesh.Cluster) string {
	for _, need := range c.Needs {
		if fe := cl.Inv.Err(need); fe != nil {
			return fmt.Sprintf("cannot read %s: %s", need, fe.Error())
		}
	}
	return ""
}

// clusterBlocked returns why a per-cluster check cannot run on cluster: a
// prerequisite's result for that cluster (or at mesh scope) blocked, and
// it stands for a failure the check does not run despite. roots are the
// failed checks behind all the blocking results (the new skip's cascade
// roots).
func clusterBlocked(c *Check, cluster string, deps [][]Result) (why string, roots []string) {
	for k, rs := range deps {
		for _, r := range rs {
			if !r.Blocks() || r.Cluster != "" && r.Cluster != cluster {
				continue
			}
			if blockedBy(c, r, &roots) && why == "" {
				why = fmt.Sprintf("prerequisite %s %s%s", c.DependsOn[k], r.Status, forCluster(r.Cluster))
			}
		}
	}
	return why, roots
}

// meshBlocked returns why a mesh check cannot run: any prerequisite result
// on a reachable cluster blocked (unreachable clusters are left out of the
// mesh view, and the contexts check reports them), as for clusterBlocked.
func meshBlocked(env *Env, c *Check, deps [][]Result) (why string, roots []string) {
	for k, rs := range deps {
		for _, r := range rs {
			if !r.Blocks() {
				continue
			}
			if cl := env.Mesh.Cluster(r.Cluster); cl != nil && !cl.Reachable() {
				continue
			}
			if blockedBy(c, r, &roots) && why == "" {
				why = fmt.Sprintf("prerequisite %s %s%s", c.DependsOn[k], r.Status, forCluster(r.Cluster))
			}
		}
	}
	return why, roots
}

func forCluster(name string) string {
	if name == "" {
		return ""
	}
	return " for " + name
}

func scopeSkip(env *Env, c *Check, why string) []Result {
	if c.Scope == Mesh {
		return []Result{{Status: Skipped, Message: why, cascade: true}}
	}
	var out []Result
	for _, cl := range env.Mesh.Clusters {
		if cl.IsAlias() && c.Area() != Area(ContextsReachable) {
			continue
		}
		out = append(out, Result{Status: Skipped, Cluster: cl.Name, Message: why, cascade: true})
	}
	return out
}

func sortResults(m *mesh.Mesh, rs []Result) {
	order := map[string]int{}
	for i, c := range m.Clusters {
		order[c.Name] = i + 1
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if order[a.Cluster] != order[b.Cluster] {
			return order[a.Cluster] < order[b.Cluster]
		}
		if order[a.Peer] != order[b.Peer] {
			return order[a.Peer] < order[b.Peer]
		}
		return a.Target < b.Target
	})
}
