package cluster_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// The flags follow admiral/cmd/admiral/cmd/root.go: defaults when absent,
// both pflag spellings, unknown and boolean flags never eat a value, and
// values that cannot be used safely keep the default and are named.
func TestParseAdmiralArgs(t *testing.T) {
	def := cluster.DefaultAdmiralFlags()
	if def.SecretNamespace != "admiral" || def.SyncNamespace != "admiral-sync" || def.DependencyNamespace != "admiral" || def.HostnameSuffix != "global" || def.SecretFilterTags != "admiral/sync" {
		t.Fatalf("defaults %+v differ from root.go's", def)
	}
	// install/admiral/base/deployments.yaml's args, with non-default values.
	f := cluster.ParseAdmiralArgs([]string{"/bin/admiral", "--dependency_namespace", "deps", "--secret_namespace=admiral-secrets",
		"--enable_routing_policy=true", "--argo_rollouts", "--sync_namespace", "admiral-generated", "--sync_period", "20s",
		"-hostname_suffix", "mesh", "--exportto_identity_list", "*"})
	want := def
	want.DependencyNamespace, want.SecretNamespace, want.SyncNamespace, want.HostnameSuffix = "deps", "admiral-secrets", "admiral-generated", "mesh"
	if f.From != "" || !reflect.DeepEqual(f, want) {
		t.Errorf("parsed %+v, want %+v", f, want)
	}
	f = cluster.ParseAdmiralArgs([]string{"--sync_namespace", "--secret_namespace", "$(NS)", "--env_key=../x", "--hostname_suffix=Bad_Suffix"})
	if f.SyncNamespace != def.SyncNamespace || f.SecretNamespace != def.SecretNamespace || f.EnvKey != def.EnvKey || f.HostnameSuffix != def.HostnameSuffix {
		t.Errorf("unusable values must keep the defaults: %+v", f)
	}
	if len(f.Unread) != 4 || !slices.Contains(f.Unread, "--sync_namespace (no value)") {
		t.Errorf("unread %v, want the four unusable flags named", f.Unread)
	}
}
