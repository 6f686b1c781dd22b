package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Admiral (github.com/istio-ecosystem/admiral) names, read from its source
// at 6adfd2b (October 2025):
//   - admiral/pkg/controller/secret/secretcontroller.go: the remote-cluster
//     secrets carry the label admiral/sync=true (filterLabel) and live in
//     --secret_namespace (default "admiral", admiral/cmd/admiral/cmd/root.go);
//     each data key is a cluster ID holding a kubeconfig, as Istio's;
//   - admiral/pkg/apis/admiral/v1alpha1/type.go: Dependency and
//     GlobalTrafficPolicy in admiral.io/v1alpha1;
//   - --workload_identity_key (default "identity") is the pod label naming a
//     workload's identity, --env_key (default admiral.io/env) its environment;
//   - --sync_namespace (default "admiral-sync") is where Admiral writes the
//     ServiceEntries (<host>-se) and DestinationRules (<host>-default-dr,
//     <host>-dr for a GlobalTrafficPolicy dnsPrefix) it generates for
//     <env>.<identity>.<hostname_suffix> hosts (suffix default "global").
const (
	AdmiralGroup           = "admiral.io"
	AdmiralSecretNamespace = "admiral"
	AdmiralSyncLabel       = "admiral/sync"
	AdmiralSyncNamespace   = "admiral-sync"
	AdmiralIdentityLabel   = "identity"
	AdmiralEnvKey          = "admiral.io/env"
	AdmiralHostSuffix      = "global"
)

// Resource names of Admiral's objects in Inventory.Errors and Check.Needs.
const (
	ResAdmiralDependencies = "dependencies.admiral.io"
	ResAdmiralGTPs         = "globaltrafficpolicies.admiral.io"
	ResAdmiralSecrets      = "secrets (admiral/sync)"
	ResAdmiralIdentityPods = "pods (identity)"
)

var (
	admiralDependencies = schema.GroupVersionResource{Group: AdmiralGroup, Version: "v1alpha1", Resource: "dependencies"}
	admiralGTPs         = schema.GroupVersionResource{Group: AdmiralGroup, Version: "v1alpha1", Resource: "globaltrafficpolicies"}
)

// AdmiralGVRs are the Admiral resources meshdoctor lists, with their list
// kinds (for fake dynamic clients).
func AdmiralGVRs() map[schema.GroupVersionResource]string {
	return map[schema.GroupVersionResource]string{
		admiralDependencies: "DependencyList",
		admiralGTPs:         "GlobalTrafficPolicyList",
	}
}

// Admiral is what a cluster holds of Admiral, reduced to what the admiral
// checks read. Nil in an Inventory means it was not looked for (older
// snapshots, no dynamic client).
type Admiral struct {
	// Installed is false when the API server serves no admiral.io
	// Dependency or GlobalTrafficPolicy (the CRDs are absent).
	Installed    bool                `json:"installed"`
	Dependencies []AdmiralDependency `json:"dependencies,omitempty"`
	GTPs         []AdmiralGTP        `json:"globalTrafficPolicies,omitempty"`
	// Secrets are the admiral/sync=true secrets of the admiral namespace,
	// parsed and redacted like Istio's remote secrets (SecretsListed: the
	// list was taken).
	Secrets       []RemoteSecret `json:"secrets,omitempty"`
	SecretsListed bool           `json:"secretsListed,omitempty"`
	// SecretsError is why they could not be listed. It is kept here, not
	// in Inventory.Errors: Admiral's remote clusters have its CRDs but no
	// admiral namespace, and no Role there to read it; the check decides.
	SecretsError *FetchError `json:"secretsError,omitempty"`
	// Identities are the pods carrying Admiral's identity label, reduced.
	Identities       []AdmiralIdentityPod `json:"identities,omitempty"`
	IdentitiesListed bool                 `json:"identitiesListed,omitempty"`
	// Flags are the flags of Admiral's controller Deployment in this
	// cluster (From says which), or Admiral's defaults (From ""); nil in
	// an inventory of an older meshdoctor (the defaults then).
	Flags *AdmiralFlags `json:"flags,omitempty"`
}

// AdmiralFlags are the flags of Admiral's controller that decide where its
// objects are (admiral/cmd/admiral/cmd/root.go GetRootCmd, with the
// defaults there).
type AdmiralFlags struct {
	// From is the namespace/name of the Deployment read ("" when none was
	// found: the defaults).
	From string `json:"from,omitempty"`
	// SecretNamespace: --secret_namespace (default admiral), where the
	// remote-cluster secrets are; SecretFilterTags: --secret_filter_tags
	// (default admiral/sync), their label.
	SecretNamespace  string `json:"secretNamespace"`
	SecretFilterTags string `json:"secretFilterTags"`
	// DependencyNamespace: --dependency_namespace (default admiral), the
	// only namespace whose Dependency objects Admiral watches.
	DependencyNamespace string `json:"dependencyNamespace"`
	// SyncNamespace: --sync_namespace (default admiral-sync), where it
	// writes the ServiceEntries and DestinationRules it generates.
	SyncNamespace string `json:"syncNamespace"`
	// HostnameSuffix: --hostname_suffix (default global), the last label
	// of the hosts it generates.
	HostnameSuffix string `json:"hostnameSuffix"`
	// WorkloadIdentityKey: --workload_identity_key (default identity);
	// EnvKey: --env_key (default admiral.io/env).
	WorkloadIdentityKey string `json:"workloadIdentityKey"`
	EnvKey              string `json:"envKey"`
	// Unread names flags whose value meshdoctor could not use (an
	// environment reference $(VAR), an empty value): their defaults apply
	// here, which may not be what Admiral runs with.
	Unread []string `json:"unread,omitempty"`
	// Error is why the Deployments could not be listed (the defaults
	// apply).
	Error string `json:"error,omitempty"`
}

// DefaultAdmiralFlags are Admiral's defaults.
func DefaultAdmiralFlags() AdmiralFlags {
	return AdmiralFlags{SecretNamespace: AdmiralSecretNamespace, SecretFilterTags: AdmiralSyncLabel, DependencyNamespace: AdmiralSecretNamespace,
		SyncNamespace: AdmiralSyncNamespace, HostnameSuffix: AdmiralHostSuffix, WorkloadIdentityKey: AdmiralIdentityLabel, EnvKey: AdmiralEnvKey}
}

// FlagsOrDefault is a's flags, or Admiral's defaults when they were not
// read.
func (a *Admiral) FlagsOrDefault() AdmiralFlags {
	if a == nil || a.Flags == nil {
		return DefaultAdmiralFlags()
	}
	return *a.Flags
}

// AdmiralDeploymentLabel selects Admiral's controller Deployment
// (install/admiral/base/deployments.yaml: app: admiral, in namespace admiral).
const AdmiralDeploymentLabel = "app=admiral"

// ParseAdmiralArgs reads the flags meshdoctor needs from the command line
// of Admiral's container, in pflag's syntax (--name value, --name=value,
// a single dash accepted as Go's flag package does); only the string
// flags it knows take the next word as their value, and a word starting
// with "-" is never a value. Everything else is ignored. Values are
// bounded; nothing is run or expanded.
func ParseAdmiralArgs(words []string) AdmiralFlags {
	f, def := DefaultAdmiralFlags(), DefaultAdmiralFlags()
	dst, defaults := f.byFlag(), def.byFlag()
	if len(words) > maxAdmiralItems {
		words = words[:maxAdmiralItems]
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			break
		}
		if !strings.HasPrefix(w, "-") {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		p, ok := dst[name]
		if !ok {
			continue
		}
		if !hasVal {
			if i+1 >= len(words) || strings.HasPrefix(words[i+1], "-") {
				f.Unread = append(f.Unread, "--"+name+" (no value)")
				continue
			}
			i++
			val = words[i]
		}
		val = strings.TrimSpace(bounded(val))
		if val == "" || strings.Contains(val, "$(") || !validAdmiralFlag(name, val) {
			*p = *defaults[name]
			f.Unread = append(f.Unread, "--"+name+"="+val)
			continue
		}
		*p = val
	}
	return f
}

// byFlag maps each flag ParseAdmiralArgs reads, by its name on Admiral's
// command line, to its field of f.
func (f *AdmiralFlags) byFlag() map[string]*string {
	return map[string]*string{
		"secret_namespace": &f.SecretNamespace, "secret_filter_tags": &f.SecretFilterTags, "dependency_namespace": &f.DependencyNamespace,
		"sync_namespace": &f.SyncNamespace, "hostname_suffix": &f.HostnameSuffix, "workload_identity_key": &f.WorkloadIdentityKey, "env_key": &f.EnvKey,
	}
}

// validAdmiralFlag checks a value before it is used in a request: a
// namespace must be a DNS label, a label key a qualified name, the suffix
// a DNS subdomain (a value read from a cluster is never trusted).
func validAdmiralFlag(name, val string) bool {
	switch name {
	case "secret_namespace", "dependency_namespace", "sync_namespace":
		return len(validation.IsDNS1123Label(val)) == 0
	case "hostname_suffix":
		return len(validation.IsDNS1123Subdomain(val)) == 0
	}
	return len(validation.IsQualifiedName(val)) == 0
}

// admiralFlagsOf is the flags of Admiral's container in the first
// Deployment (by namespace/name) labelled app=admiral that has one: the
// container named admiral, else the first whose image names admiral.
func admiralFlagsOf(deps []appsv1.Deployment) *AdmiralFlags {
	sort.Slice(deps, func(i, j int) bool {
		return deps[i].Namespace+"/"+deps[i].Name < deps[j].Namespace+"/"+deps[j].Name
	})
	for i := range deps {
		d := &deps[i]
		if d.Labels["app"] != "admiral" {
			continue
		}
		cs := d.Spec.Template.Spec.Containers
		idx := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == "admiral" })
		if idx < 0 {
			idx = slices.IndexFunc(cs, func(c corev1.Container) bool { return strings.Contains(c.Image, "admiral") })
		}
		if idx < 0 {
			continue
		}
		f := ParseAdmiralArgs(append(slices.Clone(cs[idx].Command), cs[idx].Args...))
		f.From = d.Namespace + "/" + d.Name
		return &f
	}
	return nil
}

// AdmiralDependency is a Dependency: which identities a source calls.
type AdmiralDependency struct {
	Namespace    string   `json:"namespace"`
	Name         string   `json:"name"`
	Source       string   `json:"source,omitempty"`
	Destinations []string `json:"destinations,omitempty"`
}

// AdmiralGTP is a GlobalTrafficPolicy: per generated host, how traffic is
// spread over regions.
type AdmiralGTP struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Identity is the GTP's identity label, Env its admiral.io/env
	// annotation (or label, or env label; "" when none).
	Identity string             `json:"identity,omitempty"`
	Env      string             `json:"env,omitempty"`
	Policies []AdmiralGTPPolicy `json:"policies,omitempty"`
	// Errors say which parts of the spec could not be read.
	Errors []string `json:"errors,omitempty"`
}

// AdmiralGTPPolicy is one spec.policy entry.
type AdmiralGTPPolicy struct {
	DNS       string `json:"dns,omitempty"`
	DNSPrefix string `json:"dnsPrefix,omitempty"`
	// LbType is "TOPOLOGY" (0) or "FAILOVER" (1).
	LbType  string             `json:"lbType"`
	Targets []AdmiralGTPTarget `json:"targets,omitempty"`
	// OutlierDetection says whether the policy sets outlier_detection.
	OutlierDetection bool `json:"outlierDetection,omitempty"`
}

// AdmiralGTPTarget is a region and its weight.
type AdmiralGTPTarget struct {
	Region string `json:"region"`
	Weight int64  `json:"weight"`
}

// AdmiralIdentityPod is a pod with Admiral's identity label.
type AdmiralIdentityPod struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Identity  string          `json:"identity"`
	Env       string          `json:"env,omitempty"`
	Phase     corev1.PodPhase `json:"phase,omitempty"`
}

// Bounds on what one Admiral object may contribute (the object is data
// the cluster controls).
const (
	maxAdmiralItems   = 256
	maxAdmiralStrLen  = 253
	maxAdmiralObjects = 10_000
)

// collectAdmiral lists Admiral's objects: the two CRD lists, the admiral/sync
// secrets and the identity pods at once, in the same round trip as the
// rest of the inventory. A NotFound on both CRD lists means Admiral is not
// installed: the other two lists are then dropped with their errors (a
// cluster without Admiral has no admiral namespace to grant access to). A
// secrets error is kept in Admiral.SecretsError (see there).
func collectAdmiral(ctx context.Context, c *Client, record func(string, error)) *Admiral {
	if c.Dynamic == nil {
		return nil
	}
	var (
		wg                     sync.WaitGroup
		deps, gtps             []unstructured.Unstructured
		depErr, gtpErr, secErr error
		podErr                 error
		secrets                *corev1.SecretList
		idPods                 []corev1.Pod
	)
	wg.Go(func() { deps, depErr = listUnstructured(ctx, c, admiralDependencies) })
	wg.Go(func() { gtps, gtpErr = listUnstructured(ctx, c, admiralGTPs) })
	// Admiral's Deployment, read in the same round trip: its flags say
	// where the secrets are and which label names an identity. The
	// secrets and identity pods are listed with the defaults at once, and
	// listed again (a second round trip) only where the flags differ.
	flags := DefaultAdmiralFlags()
	listSecrets := func(f AdmiralFlags) {
		secrets, secErr = c.Kube.CoreV1().Secrets(f.SecretNamespace).List(ctx, metav1.ListOptions{LabelSelector: f.SecretFilterTags + "=true"})
	}
	listIdentities := func(f AdmiralFlags) {
		idPods, podErr = listAll(ctx, ResAdmiralIdentityPods, metav1.ListOptions{LabelSelector: f.WorkloadIdentityKey}, pods(c, ""), nil)
	}
	wg.Go(func() {
		depl, err := c.Kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: AdmiralDeploymentLabel, Limit: 50})
		if err != nil {
			flags.Error = classify("list", "deployments ("+AdmiralDeploymentLabel+")", err).Error()
		} else if f := admiralFlagsOf(depl.Items); f != nil {
			flags = *f
		}
	})
	wg.Go(func() { listSecrets(DefaultAdmiralFlags()) })
	wg.Go(func() { listIdentities(DefaultAdmiralFlags()) })
	wg.Wait()
	def := DefaultAdmiralFlags()
	if flags.SecretNamespace != def.SecretNamespace || flags.SecretFilterTags != def.SecretFilterTags {
		wg.Go(func() { listSecrets(flags) })
	}
	if flags.WorkloadIdentityKey != def.WorkloadIdentityKey {
		wg.Go(func() { listIdentities(flags) })
	}
	wg.Wait()
	a := &Admiral{Flags: &flags}
	if apierrors.IsNotFound(depErr) && apierrors.IsNotFound(gtpErr) {
		return a
	}
	a.Installed = true
	if depErr != nil && !apierrors.IsNotFound(depErr) {
		record(ResAdmiralDependencies, depErr)
	}
	if gtpErr != nil && !apierrors.IsNotFound(gtpErr) {
		record(ResAdmiralGTPs, gtpErr)
	}
	for i := range deps {
		a.Dependencies = append(a.Dependencies, reduceDependency(&deps[i]))
	}
	for i := range gtps {
		a.GTPs = append(a.GTPs, reduceGTP(&gtps[i]))
	}
	if secErr != nil {
		a.SecretsError = classify("list", ResAdmiralSecrets, secErr)
	} else {
		a.SecretsListed = true
		for i := range secrets.Items {
			s := &secrets.Items[i]
			if s.Labels[flags.SecretFilterTags] == "true" {
				a.Secrets = append(a.Secrets, remoteSecret(s))
			}
		}
		sort.Slice(a.Secrets, func(i, j int) bool { return a.Secrets[i].Name < a.Secrets[j].Name })
	}
	if podErr != nil {
		record(ResAdmiralIdentityPods, podErr)
		return a
	}
	a.IdentitiesListed = true
	for i := range idPods {
		p := &idPods[i]
		id := p.Labels[flags.WorkloadIdentityKey]
		if id == "" || len(a.Identities) >= maxAdmiralObjects {
			continue
		}
		env := p.Annotations[flags.EnvKey]
		if env == "" {
			env = p.Labels[flags.EnvKey]
		}
		if env == "" {
			env = p.Labels["env"]
		}
		a.Identities = append(a.Identities, AdmiralIdentityPod{Namespace: p.Namespace, Name: p.Name,
			Identity: bounded(id), Env: bounded(env), Phase: p.Status.Phase})
	}
	return a
}

func listUnstructured(ctx context.Context, c *Client, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	return listAll(ctx, gvr.Resource+"."+gvr.Group, metav1.ListOptions{}, func(ctx context.Context, o metav1.ListOptions) ([]unstructured.Unstructured, string, error) {
		l, err := c.Dynamic.Resource(gvr).Namespace("").List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		if len(l.Items) > maxAdmiralObjects {
			l.Items = l.Items[:maxAdmiralObjects]
		}
		return l.Items, l.GetContinue(), nil
	}, nil)
}

func bounded(s string) string {
	if len(s) > maxAdmiralStrLen {
		return s[:maxAdmiralStrLen]
	}
	return s
}

func strList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok && len(out) < maxAdmiralItems {
			out = append(out, bounded(s))
		}
	}
	return out
}

func reduceDependency(u *unstructured.Unstructured) AdmiralDependency {
	spec, _ := u.Object["spec"].(map[string]any)
	src, _ := spec["source"].(string)
	return AdmiralDependency{Namespace: u.GetNamespace(), Name: u.GetName(), Source: bounded(src), Destinations: strList(spec["destinations"])}
}

// reduceGTP reads a GlobalTrafficPolicy (admiral/pkg/apis/admiral/model
// globalrouting.proto: policy[].dns, dnsPrefix, lbType (enum TOPOLOGY=0,
// FAILOVER=1; YAML holds the number or the name), target[].region and
// weight, outlier_detection).
func reduceGTP(u *unstructured.Unstructured) AdmiralGTP {
	g := AdmiralGTP{Namespace: u.GetNamespace(), Name: u.GetName(), Identity: bounded(u.GetLabels()[AdmiralIdentityLabel])}
	g.Env = u.GetAnnotations()[AdmiralEnvKey]
	if g.Env == "" {
		g.Env = u.GetLabels()[AdmiralEnvKey]
	}
	if g.Env == "" {
		g.Env = u.GetLabels()["env"]
	}
	g.Env = bounded(g.Env)
	spec, _ := u.Object["spec"].(map[string]any)
	pols, _ := spec["policy"].([]any)
	for i, p := range pols {
		if i >= maxAdmiralItems {
			break
		}
		pm, ok := p.(map[string]any)
		if !ok {
			g.Errors = append(g.Errors, fmt.Sprintf("policy %d is not an object", i))
			continue
		}
		var pol AdmiralGTPPolicy
		pol.DNS, _ = pm["dns"].(string)
		pol.DNSPrefix, _ = pm["dnsPrefix"].(string)
		pol.DNS, pol.DNSPrefix = bounded(pol.DNS), bounded(pol.DNSPrefix)
		lb, err := lbType(pm["lbType"])
		if err != nil {
			g.Errors = append(g.Errors, fmt.Sprintf("policy %d: %v", i, err))
		}
		pol.LbType = lb
		_, pol.OutlierDetection = pm["outlier_detection"]
		if !pol.OutlierDetection {
			_, pol.OutlierDetection = pm["outlierDetection"]
		}
		ts, _ := pm["target"].([]any)
		for j, t := range ts {
			if j >= maxAdmiralItems {
				break
			}
			tm, _ := t.(map[string]any)
			region, _ := tm["region"].(string)
			w, _ := number(tm["weight"])
			pol.Targets = append(pol.Targets, AdmiralGTPTarget{Region: bounded(region), Weight: w})
		}
		g.Policies = append(g.Policies, pol)
	}
	return g
}

func lbType(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "TOPOLOGY", nil
	case string:
		switch strings.ToUpper(x) {
		case "TOPOLOGY", "0", "":
			return "TOPOLOGY", nil
		case "FAILOVER", "1":
			return "FAILOVER", nil
		}
		return "", fmt.Errorf("lbType %q is neither TOPOLOGY nor FAILOVER", bounded(x))
	}
	n, ok := number(v)
	if !ok {
		return "", fmt.Errorf("lbType is not a number or a name")
	}
	switch n {
	case 0:
		return "TOPOLOGY", nil
	case 1:
		return "FAILOVER", nil
	}
	return "", fmt.Errorf("lbType %d is neither 0 (TOPOLOGY) nor 1 (FAILOVER)", n)
}

func number(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}
