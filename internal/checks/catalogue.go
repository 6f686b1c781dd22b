package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Catalogue returns every check in declaration order; prerequisites come
// before the checks that depend on them.
func Catalogue() []Check {
	var all []Check
	for _, area := range [][]Check{contextChecks, controlPlaneChecks, trustChecks, networkChecks, gatewayChecks, secretChecks, configChecks} {
		all = append(all, area...)
	}
	return all
}

// RemoteAccessFunc tries a remote secret's kubeconfig against its server
// and returns nil when the credentials may do what istiod needs.
type RemoteAccessFunc func(ctx context.Context, kubeconfig []byte) error

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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
