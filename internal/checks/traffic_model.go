package checks

import (
	"slices"
	"strings"

	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// The model the traffic checks share: which cluster's configuration a
// sidecar gets, which DestinationRule istiod applies to a host, the TLS mode
// and peer-authentication mode it computes for an endpoint, and the locality
// of a pod. Each helper names the istiod rule it mirrors.

// domainSuffix is istiod's default DOMAIN_SUFFIX.
const domainSuffix = "cluster.local"

// tlsModeLabel is the endpoint label istiod reads to know the pod takes
// Istio mTLS (the injector sets it: security.istio.io/tlsMode=istio;
// pilot/pkg/model TLSModeLabelName, IstioMutualTLSModeLabel).
const (
	tlsModeLabel = "security.istio.io/tlsMode"
	tlsModeIstio = "istio"
)

// configCluster is the cluster whose Istio configuration (DestinationRules,
// PeerAuthentications...) the sidecars of c get: c itself when it runs
// istiod, else a primary's (the istiod serving a remote reads the config
// of its own cluster), as istiodDualStack picks it.
func configCluster(m *mesh.Mesh, c *mesh.Cluster) *mesh.Cluster {
	if c.Istiod != nil {
		return c
	}
	for _, o := range m.Reachable() {
		if o.Role == mesh.Primary && o.Istiod != nil {
			return o
		}
	}
	return nil
}

// configClusters are the reachable clusters running istiod: each reads its
// own Istio configuration (multi-primary: one per cluster).
func configClusters(m *mesh.Mesh) []*mesh.Cluster {
	var out []*mesh.Cluster
	for _, c := range m.Reachable() {
		if c.Istiod != nil {
			out = append(out, c)
		}
	}
	return out
}

// trafficRead says why c's traffic configuration of resource cannot be
// read ("" when it can): an older snapshot, a list that failed, a CRD that
// is not installed.
func trafficRead(c *mesh.Cluster, resource string) string {
	t := c.Inv.Traffic
	switch {
	case t == nil:
		return "the inventory has no traffic configuration (a snapshot of an older meshdoctor)"
	case !t.Installed(resource):
		return resource + " not installed (no CRD)"
	case !t.Has(resource):
		if fe := c.Inv.Err(resource); fe != nil {
			return resource + " not read: " + fe.Error()
		}
		return resource + " not read"
	}
	return ""
}

// rootNamespace is the mesh config's rootNamespace (default istio-system).
func rootNamespace(c *mesh.Cluster) string {
	if c != nil && c.MeshConfig != nil && c.MeshConfig.GetRootNamespace() != "" {
		return c.MeshConfig.GetRootNamespace()
	}
	return cluster.IstioNamespace
}

// mcService is a Service present in several reachable clusters.
type mcService struct {
	ns, name string
	// in are the clusters that have the Service.
	in []*mesh.Cluster
}

func (s mcService) host() string { return s.name + "." + s.ns + ".svc." + domainSuffix }
func (s mcService) key() string  { return s.ns + "/" + s.name }

// multiClusterHosts are the Services (outside the plumbing namespaces)
// present in at least two reachable clusters, by host FQDN.
func multiClusterHosts(m *mesh.Mesh) map[string]*mcService {
	out := map[string]*mcService{}
	for _, c := range m.Reachable() {
		for i := range c.Inv.Services {
			s := &c.Inv.Services[i]
			if slices.Contains(skipNamespaces, s.Namespace) || s.Namespace == "default" && s.Name == "kubernetes" {
				continue
			}
			ms := &mcService{ns: s.Namespace, name: s.Name}
			if o := out[ms.host()]; o != nil {
				ms = o
			}
			ms.in = append(ms.in, c)
			out[ms.host()] = ms
		}
	}
	for h, s := range out {
		if len(s.in) < 2 {
			delete(out, h)
		}
	}
	return out
}

// drHost is a DestinationRule's host as istiod resolves it: a short name
// (no dot) is name.<rule namespace>.svc.cluster.local
// (pkg/config/host ResolveShortnameToFQDN), anything else as written.
func drHost(dr cluster.DestinationRule) string {
	h := dr.Spec.GetHost()
	if h != "" && !strings.Contains(h, ".") && h != "*" {
		return h + "." + dr.Namespace + ".svc." + domainSuffix
	}
	return h
}

// hostMatches reports whether a rule host (possibly a *. wildcard) covers
// the service host.
func hostMatches(rule, svc string) bool {
	switch {
	case rule == svc || rule == "*":
		return true
	case strings.HasPrefix(rule, "*."):
		return strings.HasSuffix(svc, rule[1:])
	}
	return false
}

// destinationRuleFor is the DestinationRule istiod applies to host for a
// sidecar in proxyNS configured by cc: the consolidated rule of every
// DestinationRule for the host, by istiod's precedence and merge
// (traffic_dr.go); nil when none applies or cc's rules were not read.
// proxyLabels nil (unknown) select no rule with a workloadSelector.
func destinationRuleFor(cc *mesh.Cluster, host, svcNS, proxyNS string, proxyLabels map[string]string) *mergedDR {
	return newDRIndex(cc).forProxy(host, svcNS, proxyNS, proxyLabels)
}

// ruleOf is the consolidated rule as a DestinationRule, or nil.
func (m *mergedDR) ruleOf() *cluster.DestinationRule {
	if m == nil {
		return nil
	}
	return &m.rule
}

func subsetOf(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// tlsModeFor is the TLS mode a DestinationRule sets for the Envoy cluster
// of subset ("" for the service's own) and port, or nil: istiod's
// tlsModeForDestinationRule (pilot/pkg/xds/endpoints/mtls_checker.go): the
// subset's policy (port level first) falls back to the rule's.
func tlsModeFor(dr *cluster.DestinationRule, subset string, port uint32) *networkingv1.ClientTLSSettings_TLSmode {
	if dr == nil {
		return nil
	}
	if subset == "" {
		return policyTLSMode(dr.Spec.GetTrafficPolicy(), port)
	}
	for _, ss := range dr.Spec.GetSubsets() {
		if ss.GetName() != subset {
			continue
		}
		if m := policyTLSMode(ss.GetTrafficPolicy(), port); m != nil {
			return m
		}
		return policyTLSMode(dr.Spec.GetTrafficPolicy(), port)
	}
	return nil
}

// policyTLSMode is trafficPolicyTLSModeForPort: the port-level TLS mode
// for port when there is one, else the policy's.
func policyTLSMode(tp *networkingv1.TrafficPolicy, port uint32) *networkingv1.ClientTLSSettings_TLSmode {
	if tp == nil {
		return nil
	}
	var mode *networkingv1.ClientTLSSettings_TLSmode
	if tp.GetTls() != nil {
		m := tp.GetTls().GetMode()
		mode = &m
	}
	for _, pl := range tp.GetPortLevelSettings() {
		if pl.GetPort().GetNumber() == port && pl.GetTls() != nil {
			m := pl.GetTls().GetMode()
			mode = &m
			break
		}
	}
	return mode
}

// paMode is a PeerAuthentication mode as istiod resolves it (UNSET
// inherits; the default is PERMISSIVE).
type paMode = securityv1.PeerAuthentication_MutualTLS_Mode

// peerAuthMode is the mTLS mode istiod's config (t, of a cluster whose root
// namespace is rootNS) gives a workload with labels in ns on port, and the
// PeerAuthentication that decides it ("" for the default): the mesh-wide
// policy (root namespace, no selector), overridden by the namespace's
// (no selector), overridden by a workload policy selecting the pod (its
// port-level mode for port first); UNSET inherits
// (pilot/pkg/security/authn/policy_applier.go, model/authentication.go:
// the oldest policy wins among several; here the first by name).
func peerAuthMode(t *cluster.TrafficConfig, rootNS, ns string, labels map[string]string, port uint32) (paMode, string) {
	mode, by := securityv1.PeerAuthentication_MutualTLS_PERMISSIVE, ""
	if t == nil {
		return mode, by
	}
	pas := slices.Clone(t.PeerAuthentications)
	slices.SortFunc(pas, func(a, b cluster.PeerAuthentication) int { return strings.Compare(a.Name, b.Name) })
	apply := func(pa cluster.PeerAuthentication, m paMode) {
		if m != securityv1.PeerAuthentication_MutualTLS_UNSET {
			mode, by = m, pa.Namespace+"/"+pa.Name
		}
	}
	find := func(ns string, workload bool) {
		for _, pa := range pas {
			sel := pa.Spec.GetSelector().GetMatchLabels()
			if pa.Namespace != ns || (len(sel) > 0) != workload || workload && !subsetOf(sel, labels) {
				continue
			}
			m := pa.Spec.GetMtls().GetMode()
			if workload {
				if pm, ok := pa.Spec.GetPortLevelMtls()[port]; ok && pm.GetMode() != securityv1.PeerAuthentication_MutualTLS_UNSET {
					m = pm.GetMode()
				}
			}
			apply(pa, m)
			return
		}
	}
	find(rootNS, false)
	if ns != rootNS {
		find(ns, false)
	}
	find(ns, true)
	return mode, by
}

// mtlsTo says whether a sidecar configured by config cluster cc sends Istio
// mTLS to a pod (labels in ns, port): istiod's checkMtlsEnabled
// (pilot/pkg/xds/endpoints/mtls_checker.go) — a DestinationRule TLS mode
// decides when there is one (only ISTIO_MUTUAL is Istio mTLS); else the
// pod must carry security.istio.io/tlsMode=istio (a sidecar) and the
// PeerAuthentication istiod computes for it must not be DISABLE. why
// names what decided.
func mtlsTo(cc *mesh.Cluster, dr *cluster.DestinationRule, subset string, svcPort uint32, ns string, labels map[string]string, podPort uint32) (bool, string) {
	if m := tlsModeFor(dr, subset, svcPort); m != nil {
		return *m == networkingv1.ClientTLSSettings_ISTIO_MUTUAL, "DestinationRule " + dr.Namespace + "/" + dr.Name + " tls.mode " + m.String()
	}
	if labels[tlsModeLabel] != tlsModeIstio {
		return false, "no sidecar (no " + tlsModeLabel + "=" + tlsModeIstio + " label)"
	}
	mode, by := peerAuthMode(cc.Inv.Traffic, rootNamespace(cc), ns, labels, podPort)
	if mode == securityv1.PeerAuthentication_MutualTLS_DISABLE {
		return false, "PeerAuthentication " + by + " mode DISABLE in " + cc.Name
	}
	return true, "auto mTLS: the pod has a sidecar and no PeerAuthentication of " + cc.Name + " disables mTLS for it"
}

// workloadIndex maps namespace/name to a cluster's reduced pods.
func workloadIndex(c *mesh.Cluster) map[string]*cluster.WorkloadPod {
	out := map[string]*cluster.WorkloadPod{}
	if c.Inv.Traffic == nil {
		return out
	}
	for i := range c.Inv.Traffic.Workloads {
		w := &c.Inv.Traffic.Workloads[i]
		out[w.Namespace+"/"+w.Name] = w
	}
	return out
}

// backingPods are the pods behind a Service in c, from its EndpointSlices'
// targetRefs (ready or not), joined with the reduced pods; pods the slices
// name but the pod list lacks are counted in missing.
func backingPods(c *mesh.Cluster, idx map[string]*cluster.WorkloadPod, ns, name string) (pods []*cluster.WorkloadPod, missing int) {
	seen := map[string]bool{}
	for _, es := range c.Inv.EndpointSlices {
		if es.Namespace != ns || es.ServiceName != name {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			pns := ep.TargetRef.Namespace
			if pns == "" {
				pns = es.Namespace
			}
			k := pns + "/" + ep.TargetRef.Name
			if seen[k] {
				continue
			}
			seen[k] = true
			if w := idx[k]; w != nil {
				pods = append(pods, w)
			} else {
				missing++
			}
		}
	}
	slices.SortFunc(pods, func(a, b *cluster.WorkloadPod) int { return strings.Compare(a.Name, b.Name) })
	return pods, missing
}

// selectedPods are the pods a Service's selector selects in c (what istiod
// turns into the service's endpoints), not finished.
func selectedPods(c *mesh.Cluster, svc *cluster.Service) []*cluster.WorkloadPod {
	if svc == nil || len(svc.Spec.Selector) == 0 || c.Inv.Traffic == nil {
		return nil
	}
	var out []*cluster.WorkloadPod
	for i := range c.Inv.Traffic.Workloads {
		w := &c.Inv.Traffic.Workloads[i]
		if w.Namespace == svc.Namespace && w.Phase != corev1.PodSucceeded && w.Phase != corev1.PodFailed && svc.Spec.Selector.SubsetOf(w.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// Locality labels istiod reads (pilot/pkg/serviceregistry/kube/controller
// getPodLocality; pkg/model GetLocalityLabel).
const (
	localityLabel  = "istio-locality"
	nodeRegion     = "topology.kubernetes.io/region"
	nodeZone       = "topology.kubernetes.io/zone"
	nodeSubzone    = "topology.istio.io/subzone"
	nodeRegionBeta = "failure-domain.beta.kubernetes.io/region"
	nodeZoneBeta   = "failure-domain.beta.kubernetes.io/zone"
)

// locality is region/zone/subzone.
type locality struct{ region, zone, subzone string }

func (l locality) String() string {
	if l == (locality{}) {
		return "(none)"
	}
	return l.region + "/" + l.zone + "/" + l.subzone
}

func parseLocality(s string) locality {
	// SanitizeLocalityLabel: the label uses "." where the locality has "/".
	parts := strings.SplitN(strings.ReplaceAll(s, ".", "/"), "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return locality{parts[0], parts[1], parts[2]}
}

func nodeLocality(n cluster.Node) locality {
	get := func(ga, beta string) string {
		if v := n.Labels[ga]; v != "" {
			return v
		}
		return n.Labels[beta]
	}
	return locality{get(nodeRegion, nodeRegionBeta), get(nodeZone, nodeZoneBeta), n.Labels[nodeSubzone]}
}

// podLocality is getPodLocality: the istio-locality label, else the
// region/zone/subzone labels of the pod's node. A pod not bound to a node
// (as the unit tier's are) takes its cluster's locality when every node of
// the cluster has the same one; source says which rule gave it.
func podLocality(c *mesh.Cluster, labels map[string]string, nodeName string) (loc locality, source string) {
	if v := labels[localityLabel]; v != "" {
		return parseLocality(v), "pod label " + localityLabel
	}
	for _, n := range c.Inv.Nodes {
		if n.Name == nodeName && nodeName != "" {
			return nodeLocality(n), "node " + n.Name
		}
	}
	if nodeName == "" && len(c.Inv.Nodes) > 0 {
		first := nodeLocality(c.Inv.Nodes[0])
		for _, n := range c.Inv.Nodes[1:] {
			if nodeLocality(n) != first {
				return locality{}, "unbound pod, nodes of several localities"
			}
		}
		return first, "the cluster's nodes (pod not bound to a node)"
	}
	return locality{}, "no locality labels"
}

// lbPriority is util.LbPriority: 0 when region, zone and subzone match,
// 1 region and zone, 2 region, 3 none.
func lbPriority(proxy, ep locality) int {
	switch {
	case proxy.region != ep.region:
		return 3
	case proxy.zone != ep.zone:
		return 2
	case proxy.subzone != ep.subzone:
		return 1
	}
	return 0
}

// localityMatch is util.LocalityMatch: a rule locality
// "region/zone/subzone" where "*" (or a missing part) matches anything.
func localityMatch(l locality, rule string) bool {
	parts := strings.Split(rule, "/")
	vals := []string{l.region, l.zone, l.subzone}
	for i, p := range parts {
		if i >= 3 {
			break
		}
		if p == "*" {
			return true
		}
		if p != vals[i] {
			return false
		}
	}
	return true
}

// injectedNamespace reports whether pods created in ns get a sidecar from
// the injector: istio-injection=enabled, or an istio.io/rev label without
// istio-injection=disabled (pkg/kube/inject namespace selectors).
func injectedNamespace(c *mesh.Cluster, ns string) (bool, string) {
	n := c.Inv.Namespace(ns)
	if n == nil {
		return false, ""
	}
	switch v := n.Labels["istio-injection"]; {
	case v == "enabled":
		return true, "istio-injection=enabled"
	case v == "disabled":
		return false, ""
	}
	if rev := n.Labels["istio.io/rev"]; rev != "" {
		return true, "istio.io/rev=" + rev
	}
	return false, ""
}

// mtlsView decides, for the expected endpoint table of one service port
// seen from a sidecar in c, which endpoints istiod would send no Istio
// mTLS to (envoyadmin.RemoteEndpoint.NoMTLS), with the configuration of
// c's config cluster: the DestinationRule for the host (the service's or
// the root namespace's; the proxy's own namespace and workload selectors
// are not known here) and, without a TLS mode there, the pod's
// security.istio.io/tlsMode label and PeerAuthentication. A pod that is
// not in the inventory's pod list (older snapshots, a list that failed)
// is never dropped: unknown is not "no mTLS".
type mtlsView struct {
	cc      *mesh.Cluster
	dr      *cluster.DestinationRule
	ns      string
	svcPort uint32
	idx     map[*mesh.Cluster]map[string]*cluster.WorkloadPod
}

func newMTLSView(m *mesh.Mesh, c *mesh.Cluster, drs *drIndex, host, ns string, port int32) *mtlsView {
	v := &mtlsView{cc: configCluster(m, c), ns: ns, svcPort: uint32(port), idx: map[*mesh.Cluster]map[string]*cluster.WorkloadPod{}}
	if drs == nil {
		drs = newDRIndex(v.cc)
	}
	v.dr = drs.forProxy(host, ns, "", nil).ruleOf()
	return v
}

// off reports whether istiod would send no Istio mTLS to endpoint ep of
// cluster o on target port.
func (v *mtlsView) off(o *mesh.Cluster, ep cluster.Endpoint, target int) bool {
	if v == nil || v.cc == nil {
		return false
	}
	if m := tlsModeFor(v.dr, "", v.svcPort); m != nil {
		return *m != networkingv1.ClientTLSSettings_ISTIO_MUTUAL
	}
	if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || !o.Inv.Traffic.Has(cluster.ResWorkloadPods) || !v.cc.Inv.Traffic.Has(cluster.ResPeerAuthentications) {
		return false
	}
	idx, ok := v.idx[o]
	if !ok {
		idx = workloadIndex(o)
		v.idx[o] = idx
	}
	pns := ep.TargetRef.Namespace
	if pns == "" {
		pns = v.ns
	}
	w := idx[pns+"/"+ep.TargetRef.Name]
	if w == nil {
		return false
	}
	on, _ := mtlsTo(v.cc, v.dr, "", v.svcPort, w.Namespace, w.Labels, uint32(target))
	return !on
}
