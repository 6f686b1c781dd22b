package mesh

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"istio.io/api/label"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// DefaultRevision is the name of the revision of an install made without
// --set revision: its resources are labelled istio.io/rev=default and its
// istiod's REVISION env is "default" (istio-discovery chart).
const DefaultRevision = "default"

// DefaultTrustDomain is MeshConfig's trustDomain when none is set.
const DefaultTrustDomain = "cluster.local"

// Names of a revision's objects, as the istio-discovery chart renders them
// and as istiod looks them up (pilot/pkg/bootstrap/mesh.go
// getMeshConfigMapName, sidecarinjector.go getInjectorConfigMapName).
const (
	meshConfigMapPrefix     = "istio"
	injectorConfigMapPrefix = "istio-sidecar-injector"
	// valuesConfigMapPrefix is the chart's record of its Helm values
	// (configmap-values.yaml; "for debugging purposes and external
	// tooling"). The remote profile renders no injector ConfigMap, so it
	// is where a remote's clusterName and remotePilotAddress are written.
	valuesConfigMapPrefix = "values"
	istiodPrefix          = "istiod"
)

// revisioned is name for the default revision and name-<rev> otherwise.
func revisioned(name, rev string) string {
	if rev == "" || rev == DefaultRevision {
		return name
	}
	return name + "-" + rev
}

// MeshConfigMapName is the mesh ConfigMap istiod of revision rev reads.
func MeshConfigMapName(rev string) string { return revisioned(meshConfigMapPrefix, rev) }

// InjectorConfigMapName is the injector ConfigMap of revision rev.
func InjectorConfigMapName(rev string) string { return revisioned(injectorConfigMapPrefix, rev) }

// Revision is one control-plane revision installed in a cluster: its
// istiod (none on a remote cluster), its mesh ConfigMap and injector
// values, and the identity they give the proxies it injects.
type Revision struct {
	// Name is the revision ("default" for an install without one).
	Name string
	// Istiod is the revision's Deployment (nil: none in this cluster).
	Istiod *appsv1.Deployment
	// MeshConfigMap and InjectorConfigMap are the ConfigMap names this
	// revision uses; the Has* fields say whether they exist.
	MeshConfigMap, InjectorConfigMap       string
	HasMeshConfigMap, HasInjectorConfigMap bool
	// MeshConfig is the parsed `mesh` key (nil when absent or bad).
	MeshConfig    *meshv1alpha1.MeshConfig
	MeshConfigErr error
	// InjectorValues are the parsed `values` key (nil when absent or bad);
	// without an injector ConfigMap, the merged-values of the values
	// ConfigMap. ValuesConfigMap and ValuesKey say where they were read.
	InjectorValues             map[string]any
	InjectorErr                error
	ValuesConfigMap, ValuesKey string
	// InjectCluster and InjectNetwork are what the injector webhook's path
	// (/inject/cluster/<id>/net/<network>) sets as ISTIO_META_CLUSTER_ID
	// and ISTIO_META_NETWORK (pkg/kube/inject/webhook.go parseInjectEnvs).
	InjectCluster, InjectNetwork string
	// Webhook is the revision's injector MutatingWebhookConfiguration, ""
	// when none was seen; Tags are the revision tags pointing at it.
	Webhook string
	Tags    []string

	// Version is the Istio version from istiod's image tag, else the
	// injector's global.tag.
	Version string
	// ID is istiod's CLUSTER_ID (or the injector's clusterName without an
	// istiod); "" when it cannot be told (the values do not parse).
	ID, IDSource string
	// MeshID is what the injector gives proxies as ISTIO_META_MESH_ID.
	MeshID, MeshIDSource string
	TrustDomain          string
	TrustDomainAliases   []string
	// Network is the injector's global.network.
	Network string
}

// RevisionTarget names a revision in results: "" for the only, default
// revision of a cluster, else "revision <name>".
func (c *Cluster) RevisionTarget(r *Revision) string {
	if len(c.Revisions) == 1 && r.Name == DefaultRevision {
		return ""
	}
	return "revision " + r.Name
}

// ValuesFrom names the ConfigMap key the values were read from.
func (r *Revision) ValuesFrom() string { return r.ValuesConfigMap + " " + r.ValuesKey }

// ValuesString reads a dotted path of the revision's injector values.
func (r *Revision) ValuesString(path ...string) string {
	return valuesString(r.InjectorValues, path...)
}

// EnvValue returns a container env value of the revision's istiod.
func (r *Revision) EnvValue(name string) (string, bool) {
	if r.Istiod == nil {
		return "", false
	}
	return envValue(r.Istiod, name)
}

// Revision returns the named revision of the cluster, or nil.
func (c *Cluster) Revision(name string) *Revision {
	for _, r := range c.Revisions {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// ResolveRevision resolves an istio.io/rev value as the injector webhooks
// do: a revision's own name or a revision tag. It returns the revision (nil
// when the value resolves to none in this cluster) and the tag, if it was
// one.
func (c *Cluster) ResolveRevision(value string) (rev *Revision, tag string) {
	if r := c.Revision(value); r != nil {
		return r, ""
	}
	if target, ok := c.Tags[value]; ok {
		return c.Revision(target), value
	}
	return nil, ""
}

// revisionOfDeployment is the revision an istiod Deployment serves: its
// REVISION env (what istiod itself reads, pilot/pkg/bootstrap/options.go),
// else its istio.io/rev label, else its name's suffix.
func revisionOfDeployment(d *appsv1.Deployment) string {
	if v, ok := envValue(d, "REVISION"); ok && v != "" {
		return v
	}
	if v := d.Labels[label.IoIstioRev.Name]; v != "" {
		return v
	}
	if rest, ok := strings.CutPrefix(d.Name, istiodPrefix+"-"); ok && rest != "" {
		return rest
	}
	return DefaultRevision
}

// isIstiod: istiod Deployments are labelled app=istiod by the chart.
// (The name alone is not enough: istiod-remote is not one.)
func isIstiod(d *appsv1.Deployment) bool {
	return d.Labels["app"] == "istiod" || d.Name == istiodPrefix ||
		strings.HasPrefix(d.Name, istiodPrefix+"-") && d.Name != "istiod-remote"
}

// buildRevisions finds every revision of a cluster: each istiod Deployment
// and each injector ConfigMap (remote clusters have only the latter), with
// the webhooks and tags that point at them.
func buildRevisions(inv *cluster.Inventory) (revs []*Revision, tags map[string]string) {
	byName := map[string]*Revision{}
	get := func(name string) *Revision {
		if r, ok := byName[name]; ok {
			return r
		}
		r := &Revision{Name: name, MeshConfigMap: MeshConfigMapName(name), InjectorConfigMap: InjectorConfigMapName(name)}
		byName[name] = r
		return r
	}
	for i := range inv.Deployments {
		d := &inv.Deployments[i]
		if d.Namespace != "" && d.Namespace != cluster.IstioNamespace || !isIstiod(d) {
			continue
		}
		r := get(revisionOfDeployment(d))
		if r.Istiod == nil {
			r.Istiod = d
		}
	}
	for i := range inv.ConfigMaps {
		cm := &inv.ConfigMaps[i]
		rest, ok := strings.CutPrefix(cm.Name, injectorConfigMapPrefix)
		switch {
		case !ok:
			continue
		case rest == "":
			get(DefaultRevision)
		case strings.HasPrefix(rest, "-") && len(rest) > 1:
			get(rest[1:])
		}
	}
	tags = map[string]string{}
	for _, w := range inv.MutatingWebhooks {
		rev := w.Labels[label.IoIstioRev.Name]
		if rev == "" {
			continue
		}
		// istioctl/pkg/tag/util.go: a tag webhook carries istio.io/tag, a
		// revision's own webhook does not.
		if tag := w.Labels[label.IoIstioTag.Name]; tag != "" {
			tags[tag] = rev
			continue
		}
		// A revision's own webhook: on a remote cluster it is all there
		// is of the revision besides the values ConfigMap.
		if r := get(rev); r.Webhook == "" {
			r.Webhook = w.Name
			r.InjectCluster, r.InjectNetwork = injectEnvs(w)
		}
	}
	for tag, rev := range tags {
		if r, ok := byName[rev]; ok {
			r.Tags = append(r.Tags, tag)
		}
	}
	for _, r := range byName {
		sort.Strings(r.Tags)
		readConfig(inv, r)
		revs = append(revs, r)
	}
	// The default revision first, then by name.
	sort.Slice(revs, func(i, j int) bool {
		if (revs[i].Name == DefaultRevision) != (revs[j].Name == DefaultRevision) {
			return revs[i].Name == DefaultRevision
		}
		return revs[i].Name < revs[j].Name
	})
	return revs, tags
}

// readConfig parses a revision's ConfigMaps and derives its identity.
func readConfig(inv *cluster.Inventory, r *Revision) {
	if cm := inv.ConfigMap(r.MeshConfigMap); cm != nil {
		r.HasMeshConfigMap = true
		r.MeshConfig, r.MeshConfigErr = parseMeshConfig(cm.Name, cm.Data)
	}
	if cm := inv.ConfigMap(r.InjectorConfigMap); cm != nil {
		r.HasInjectorConfigMap = true
		r.ValuesConfigMap, r.ValuesKey = cm.Name, "values"
		r.InjectorValues, r.InjectorErr = parseInjectorValues(cm.Name, "values", cm.Data)
	} else if cm := inv.ConfigMap(revisioned(valuesConfigMapPrefix, r.Name)); cm != nil && cm.Labels[label.IoIstioRev.Name] != "" {
		r.ValuesConfigMap, r.ValuesKey = cm.Name, "merged-values"
		r.InjectorValues, r.InjectorErr = parseInjectorValues(cm.Name, "merged-values", cm.Data)
	}
	if r.Istiod != nil {
		r.Version = imageTag(r.Istiod)
		r.ID, r.IDSource = DefaultClusterID, "default (istiod has no CLUSTER_ID)"
		if v, ok := envValue(r.Istiod, "CLUSTER_ID"); ok && v != "" {
			r.ID, r.IDSource = v, "env CLUSTER_ID of deployment "+r.Istiod.Name
		}
	} else {
		switch id := r.ValuesString("global", "multiCluster", "clusterName"); {
		case r.InjectCluster != "":
			r.ID, r.IDSource = r.InjectCluster, "injection path of webhook "+r.Webhook
		case id != "":
			r.ID, r.IDSource = id, r.ValuesFrom()+" global.multiCluster.clusterName"
		case r.InjectorErr != nil:
			r.ID, r.IDSource = "", "unknown: "+r.InjectorErr.Error()
		default:
			r.ID, r.IDSource = DefaultClusterID, "default (no clusterName in the injector values or webhook path)"
		}
	}
	if r.Version == "" {
		r.Version = r.ValuesString("global", "tag")
	}
	r.TrustDomain = DefaultTrustDomain
	if td := r.MeshConfig.GetTrustDomain(); td != "" {
		r.TrustDomain = td
	}
	r.TrustDomainAliases = r.MeshConfig.GetTrustDomainAliases()
	r.Network = r.ValuesString("global", "network")
	if r.InjectNetwork != "" {
		r.Network = r.InjectNetwork
	}
	// The injection template sets ISTIO_META_MESH_ID from global.meshID,
	// else the trust domain (istio-discovery/files/injection-template.yaml);
	// the chart writes the same meshID into defaultConfig.meshId.
	switch {
	case r.MeshConfig.GetDefaultConfig().GetMeshId() != "":
		r.MeshID, r.MeshIDSource = r.MeshConfig.GetDefaultConfig().GetMeshId(), r.MeshConfigMap+" defaultConfig.meshId"
	case r.ValuesString("global", "meshID") != "":
		r.MeshID, r.MeshIDSource = r.ValuesString("global", "meshID"), r.ValuesFrom()+" global.meshID"
	default:
		r.MeshID, r.MeshIDSource = r.TrustDomain, "default (the trust domain)"
	}
}

// InjectedElsewhere reports a revision with no mesh or injector ConfigMap
// in its cluster (the remote profile): its sidecars are injected, and get
// their meshID and certificates, from a primary's istiod, so its own
// defaults say nothing about the mesh.
func (r *Revision) InjectedElsewhere() bool {
	return r.Istiod == nil && !r.HasMeshConfigMap && !r.HasInjectorConfigMap
}

// ConfigErrors are the parse errors of the revision's ConfigMaps.
func (r *Revision) ConfigErrors() []error {
	var out []error
	for _, err := range []error{r.MeshConfigErr, r.InjectorErr} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// maxConfigBytes bounds what is parsed of one ConfigMap key.
const maxConfigBytes = 1 << 20

// parseMeshConfig parses the `mesh` key of a mesh ConfigMap as istiod
// does (YAML → MeshConfig; unknown fields are tolerated, as newer istiods
// add some). A missing key means istiod's defaults.
func parseMeshConfig(name string, data map[string]string) (*meshv1alpha1.MeshConfig, error) {
	text, ok := data["mesh"]
	if !ok {
		return nil, nil
	}
	if len(text) > maxConfigBytes {
		return nil, fmt.Errorf("ConfigMap %s/%s key mesh is %d bytes, more than meshdoctor reads (%d)", cluster.IstioNamespace, name, len(text), maxConfigBytes)
	}
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key mesh is not YAML: %w", cluster.IstioNamespace, name, err)
	}
	if string(js) == "null" {
		return &meshv1alpha1.MeshConfig{}, nil
	}
	mc := &meshv1alpha1.MeshConfig{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(js, mc); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key mesh is not a MeshConfig: %w", cluster.IstioNamespace, name, err)
	}
	return mc, nil
}

// parseInjectorValues parses the `values` key of an injector ConfigMap as
// istiod does: YAML, of which the chart's JSON is a subset
// (pkg/kube/inject/webhook.go NewValuesConfig). A missing key is no error.
func parseInjectorValues(name, key string, data map[string]string) (map[string]any, error) {
	text, ok := data[key]
	if !ok {
		return nil, nil
	}
	if len(text) > maxConfigBytes {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s is %d bytes, more than meshdoctor reads (%d)", cluster.IstioNamespace, name, key, len(text), maxConfigBytes)
	}
	var v map[string]any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s does not parse: %w", cluster.IstioNamespace, name, key, err)
	}
	return v, nil
}

// injectEnvs reads cluster and network from an injector webhook's path,
// /inject/cluster/<id>/net/<network>, as istiod's injection handler does
// (pkg/kube/inject/webhook.go parseInjectEnvs: key/value pairs after
// /inject, "--slash--" standing for "/"; the deprecated :ENV: form is not
// read).
func injectEnvs(w cluster.WebhookConfig) (clusterID, network string) {
	for _, wh := range w.Webhooks {
		path := ""
		switch {
		case wh.Service != nil:
			path = wh.Service.Path
		case wh.URL != "":
			if u, err := url.Parse(wh.URL); err == nil {
				path = u.Path
			}
		}
		parts := strings.SplitN(strings.TrimSuffix(path, "/"), "/", 3)
		if len(parts) < 3 || strings.HasPrefix(parts[2], ":ENV:") {
			continue
		}
		kv := strings.Split(parts[2], "/")
		for i := 0; i+1 < len(kv); i += 2 {
			v := strings.ReplaceAll(kv[i+1], "--slash--", "/")
			switch kv[i] {
			case "cluster":
				clusterID = v
			case "net":
				network = v
			}
		}
		if clusterID != "" || network != "" {
			return clusterID, network
		}
	}
	return "", ""
}

// pickRevision chooses the revision that speaks for the cluster: the one
// the "default" tag points at (istioctl tag set default), else the
// default revision, else the first by name; on a cluster that runs istiod,
// only revisions with an istiod are candidates.
func pickRevision(revs []*Revision, tags map[string]string) *Revision {
	if len(revs) == 0 {
		return nil
	}
	cands := revs
	if slices.ContainsFunc(revs, func(r *Revision) bool { return r.Istiod != nil }) {
		cands = slices.DeleteFunc(slices.Clone(revs), func(r *Revision) bool { return r.Istiod == nil })
	}
	find := func(name string) *Revision {
		for _, r := range cands {
			if r.Name == name {
				return r
			}
		}
		return nil
	}
	if r := find(tags[DefaultRevision]); r != nil {
		return r
	}
	if r := find(DefaultRevision); r != nil {
		return r
	}
	return cands[0]
}

// identify fills the cluster's revisions, role and identity.
func (c *Cluster) identify(inv *cluster.Inventory) {
	c.Revisions, c.Tags = buildRevisions(inv)
	c.Rev = pickRevision(c.Revisions, c.Tags)
	switch {
	case slices.ContainsFunc(c.Revisions, func(r *Revision) bool { return r.Istiod != nil }):
		c.Role = Primary
	case isRemote(inv, c.Revisions):
		c.Role = Remote
	}
	r := c.Rev
	if r == nil {
		c.TrustDomain, c.MeshID = DefaultTrustDomain, DefaultTrustDomain
		return
	}
	c.Istiod = r.Istiod
	c.MeshConfig, c.MeshConfigErr, c.InjectorValues = r.MeshConfig, r.MeshConfigErr, r.InjectorValues
	c.Version, c.TrustDomain, c.MeshID = r.Version, r.TrustDomain, r.MeshID
	if c.Role != NoControlPlane || r.ValuesString("global", "multiCluster", "clusterName") != "" {
		c.ID, c.IDSource = r.ID, r.IDSource
	}
}

// isRemote: the istiod-remote chart leaves an injector ConfigMap and an
// istiod(-remote) Service without a local istiod.
func isRemote(inv *cluster.Inventory, revs []*Revision) bool {
	if inv.Service(cluster.IstioNamespace, "istiod-remote") != nil {
		return true
	}
	for _, r := range revs {
		if r.ValuesString("global", "remotePilotAddress") != "" {
			return true
		}
		if s := inv.Service(cluster.IstioNamespace, revisioned(istiodPrefix, r.Name)); s != nil && len(s.Spec.Selector) == 0 {
			return true
		}
	}
	if s := inv.Service(cluster.IstioNamespace, istiodPrefix); s != nil && len(s.Spec.Selector) == 0 {
		return true
	}
	return false
}
