// Package checks holds the check model, the dependency-graph runner and the
// checks themselves, one file per area. Checks read the inventory that was
// fetched once per cluster; where they must touch the network they call the
// small interfaces in Env. Nothing here formats output.
package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// Status is the outcome of one result. The names are part of the CLI
// contract: JSON fields, JUnit test cases and exit codes are built from them.
type Status int

const (
	Pass Status = iota
	Warn
	Fail
	Skipped
	// Error means the check could not run: forbidden, timeout, unreachable.
	Error
)

var statusNames = [...]string{"pass", "warn", "fail", "skipped", "error"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Weight orders statuses for "the worst result decides" (a JUnit test case
// of several results, a metric series of several targets): skipped <
// pass < warn < fail < error, and any unknown status weighs as an error.
func (s Status) Weight() int {
	switch s {
	case Skipped:
		return 0
	case Pass:
		return 1
	case Warn:
		return 2
	case Fail:
		return 3
	default:
		return 4
	}
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	st, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// ParseStatus turns a status name back into a Status.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("unknown status %q", name)
}

// Scope says what a check is about.
type Scope string

const (
	Mesh       Scope = "mesh"
	PerCluster Scope = "cluster"
	// Pair is a check run per source cluster whose results name a peer.
	Pair Scope = "pair"
)

// Evidence is one fact a check saw.
type Evidence struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Ev builds Evidence; a shorthand for the tables in the check files.
func Ev(key string, value any) Evidence { return Evidence{Key: key, Value: fmt.Sprint(value)} }

// Result is one finding of one check.
type Result struct {
	CheckID string `json:"check"`
	Status  Status `json:"status"`
	// Cluster is the context the result is about ("" for mesh scope).
	Cluster string `json:"cluster,omitempty"`
	// Peer is the other cluster of a pair result.
	Peer string `json:"peer,omitempty"`
	// Target names what inside the cluster: a secret key, a port, a service.
	Target   string     `json:"target,omitempty"`
	Message  string     `json:"message"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Remediation is shell only: one or a few lines that run as pasted,
	// every context, namespace and name filled in. Prose goes in Note.
	Remediation string `json:"remediation,omitempty"`
	// Note explains or conditions the fix (when to run it, what to look
	// for, why no command is safe); it is never pasted into a shell.
	Note string `json:"note,omitempty"`
	// CausedBy holds the keys (Key) of the problems that explain this one
	// (Explain); empty for a cause and for results that are not problems.
	CausedBy []string `json:"causedBy,omitempty"`
	// Duration is how long the check ran (all results of one run share it).
	Duration time.Duration `json:"-"`
	// cascade marks a skip that the runner made because a prerequisite did
	// not hold; unlike a check's own "not applicable" skip, it blocks the
	// checks that depend on this one.
	cascade bool
	// cascadeFrom names, for a cascade skip, the checks whose own failure
	// caused it (the roots of the cascade), so that a check that runs
	// despite them (Check.RunsDespite) is not stopped by the cascade either.
	cascadeFrom []string
}

// Blocks reports whether this result stops the checks that depend on it.
func (r Result) Blocks() bool {
	return r.Status == Fail || r.Status == Error || r.Status == Skipped && r.cascade
}

// Subject names the scope of the result: "mesh", "cluster-1",
// "cluster-1 → cluster-2", with the target appended.
func (r Result) Subject() string {
	var b strings.Builder
	switch {
	case r.Cluster == "":
		b.WriteString("mesh")
	case r.Peer != "":
		b.WriteString(r.Cluster + " → " + r.Peer)
	default:
		b.WriteString(r.Cluster)
	}
	if r.Target != "" {
		b.WriteString(" " + r.Target)
	}
	return b.String()
}

// Area is the part of the check ID before the first dot.
func (r Result) Area() string { return Area(r.CheckID) }

// Area is the part of a check ID before the first dot ("trust").
func Area(id string) string {
	if i := strings.IndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return id
}

// MarshalJSON adds the duration in milliseconds, so that the schema does
// not depend on Go's duration encoding.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMS int64 `json:"durationMs"`
	}{plain(r), r.Duration.Milliseconds()})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (r *Result) UnmarshalJSON(b []byte) error {
	type plain Result
	var v struct {
		plain
		DurationMS int64 `json:"durationMs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Result(v.plain)
	r.Duration = time.Duration(v.DurationMS) * time.Millisecond
	return nil
}

// Check is a declared check: data plus a function.
type Check struct {
	ID    string
	Title string
	Scope Scope
	// DependsOn lists check IDs that must not have failed.
	DependsOn []string
	// RunsDespite lists prerequisites (in DependsOn, directly or
	// transitively) whose failure does not stop this check, nor does any
	// skip cascading from it: this check's problems can explain that
	// failure (an unreachable remote API server keeps istiod unready), so
	// it must run to be seen. Such a failure then does not explain this
	// check's problems; this check's Fail or Error explains the
	// prerequisite's Fail or Error in the same cluster (Explain).
	RunsDespite []string
	// Needs lists inventory resources the check reads ("secrets", "services",
	// ...); a cluster whose inventory could not list one yields an error
	// result naming it instead of running the check there.
	Needs []string
	// Network marks checks that touch the network; --no-network skips them.
	Network bool
	// Cluster runs the check for one cluster (PerCluster and Pair scopes).
	Cluster func(ctx context.Context, env *Env, c *mesh.Cluster) []Result
	// Mesh runs the check once over all clusters (Mesh scope).
	Mesh func(ctx context.Context, env *Env) []Result
}

// Area is the part of the ID before the first dot.
func (c Check) Area() string { return Area(c.ID) }
