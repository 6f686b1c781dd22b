package checks

import (
	"context"
	"errors"
	"maps"

	"fmt"
	"slices"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// Catalogue returns every check in declaration order; prerequisites come
// before the checks that depend on them.
func Catalogue() []Check {
	var all []Check
	for _, area := range [][]Check{contextChecks, controlPlaneChecks, knownIssueChecks, trustChecks, networkChecks, gatewayChecks, remotePathChecks, secretChecks, remoteChecks,
		istiodLoadedChecks, configChecks, trafficChecks, entryChecks, reachChecks, probeChecks,
		istiodSANChecks, entryProbeChecks, endpointChecks, syncChecks, admiralChecks, ambientChecks, ztunnelChecks} {
		all = append(all, area...)
	}
	return all
}

// RemoteAccessFunc tries the kubeconfig under one key of a remote secret in
// a cluster against its server and returns nil when the credentials may do
// what istiod needs.
type RemoteAccessFunc func(ctx context.Context, cluster, secret string, rk cluster.RemoteKubeconfig) error

// ErrNotRecorded is what a replayed network call returns when the snapshot
// holds no result for it; the check is then skipped, not failed.
var ErrNotRecorded = errors.New("not recorded in the snapshot")

// kc is the kubectl prefix for a context, used in remediations.
func kc(context string) string { return "kubectl --context " + shellQuote(context) }

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '@' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// noted sets the Note of r: the prose that explains or conditions its
// Remediation, which stays shell only.
func noted(r Result, note string) Result {
	r.Note = note
	return r
}

func pass(msg string, ev ...Evidence) Result { return Result{Status: Pass, Message: msg, Evidence: ev} }

func failf(remedy, format string, a ...any) Result {
	return Result{Status: Fail, Message: fmt.Sprintf(format, a...), Remediation: remedy}
}

func warnf(remedy, format string, a ...any) Result {
	return Result{Status: Warn, Message: fmt.Sprintf(format, a...), Remediation: remedy}
}

func skipf(format string, a ...any) Result {
	return Result{Status: Skipped, Message: fmt.Sprintf(format, a...)}
}

func with(r Result, ev ...Evidence) Result { r.Evidence = append(r.Evidence, ev...); return r }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
