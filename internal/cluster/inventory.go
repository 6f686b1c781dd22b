// Package cluster loads kubeconfig contexts, builds one client per context
// and fetches each cluster's inventory once. Secrets are redacted here, at
// the edge: key material and tokens never enter an Inventory.
package cluster

import (
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Resource names used in Inventory.Errors and Check.Needs.
const (
	ResNamespaces     = "namespaces"
	ResDeployments    = "deployments"
	ResConfigMaps     = "configmaps"
	ResSecrets        = "secrets"
	ResServices       = "services"
	ResPods           = "pods"
	ResEndpointSlices = "endpointslices"
	ResGateways       = "gateways.networking.istio.io"
	ResServiceEntries = "serviceentries.networking.istio.io"
	ResNodes          = "nodes"
	// ResGatewayPods is the list of gateway pods in all namespaces (pods
	// labelled istio, GatewayPodSelector).
	ResGatewayPods = "pods (gateways)"
	// ResMutatingWebhooks is cluster-scoped (admissionregistration.k8s.io).
	ResMutatingWebhooks = "mutatingwebhookconfigurations"
)

// GatewayPodSelector selects the pods of Istio's gateways in every
// namespace: istioctl's IstioOperator gateways (manifests/charts/gateways)
// and the istio/gateway Helm chart (manifests/charts/gateway, its
// gateway.selectorLabels) both label their pods istio=<name>. The
// topology.istio.io/network label is no use here: the injector puts it on
// every sidecar pod of a multi-network mesh (pkg/kube/inject/webhook.go
// applyMetadata).
const GatewayPodSelector = "istio"

// IstioNamespace is where istiod, its secrets and the east-west gateway live.
const IstioNamespace = "istio-system"

// Inventory is everything the checks read about one cluster, fetched once.
type Inventory struct {
	Context string `json:"context"`
	Server  string `json:"server"`
	// Version is the API server's gitVersion.
	Version string `json:"version,omitempty"`
	// Unreachable is set when the cluster could not be reached at all.
	Unreachable *FetchError `json:"unreachable,omitempty"`
	// Errors holds, per resource, why it could not be listed.
	Errors map[string]*FetchError `json:"errors,omitempty"`
	// FetchedAt is when the inventory was taken.
	FetchedAt time.Time `json:"fetchedAt"`

	Namespaces     []corev1.Namespace       `json:"namespaces,omitempty"`
	Deployments    []appsv1.Deployment      `json:"deployments,omitempty"`    // istio-system
	ConfigMaps     []corev1.ConfigMap       `json:"configMaps,omitempty"`     // istio-system
	Services       []Service                `json:"services,omitempty"`       // all namespaces, compacted (compact_services.go)
	Pods           []corev1.Pod             `json:"pods,omitempty"`           // istio-system and probe clients
	EndpointSlices []EndpointSlice          `json:"endpointSlices,omitempty"` // compacted (compact_slices.go)
	Gateways       []*istionet.Gateway      `json:"gateways,omitempty"`
	ServiceEntries []*istionet.ServiceEntry `json:"serviceEntries,omitempty"`
	CACerts        *CABundle                `json:"caCerts,omitempty"`
	IstioCASecret  *CABundle                `json:"istioCASecret,omitempty"`
	RemoteSecrets  []RemoteSecret           `json:"remoteSecrets,omitempty"`
	// MutatingWebhooks are the cluster's MutatingWebhookConfigurations,
	// reduced (injectors of every revision, revision tags).
	MutatingWebhooks []WebhookConfig `json:"mutatingWebhooks,omitempty"`
	// CAFingerprint identifies the CA this context trusts (see
	// caFingerprint); with Server it tells two contexts of one API server.
	CAFingerprint string `json:"caFingerprint,omitempty"`

	// ProbeSelector is the label selector the probe clients were listed
	// with (empty in snapshots of older versions, which used app=sleep).
	ProbeSelector string `json:"probeSelector,omitempty"`
	// Nodes, reduced to what istiod reads of them; NodesListed says the
	// list was taken (false in older snapshots and when it failed).
	Nodes       []Node `json:"nodes,omitempty"`
	NodesListed bool   `json:"nodesListed,omitempty"`
	// GatewayPods are the pods matching GatewayPodSelector in every
	// namespace, reduced to what the network checks read;
	// GatewayPodsSelector is the selector used (empty: not listed).
	GatewayPods         []GatewayPod `json:"gatewayPods,omitempty"`
	GatewayPodsSelector string       `json:"gatewayPodsSelector,omitempty"`
	// Traffic is the traffic configuration (DestinationRules,
	// VirtualServices, PeerAuthentications, AuthorizationPolicies) and the
	// workload pods (inventory_traffic.go); nil in older snapshots.
	Traffic *TrafficConfig `json:"traffic,omitempty"`
	// Remote is what the primary-remote checks read (inventory_remote.go).
	Remote *RemoteInventory `json:"remote,omitempty"`
	// Ambient is the ambient data plane's inventory (inventory_ambient.go);
	// nil in snapshots of older versions.
	Ambient *Ambient `json:"ambient,omitempty"`
	// Admiral is what the cluster holds of Admiral (inventory_admiral.go);
	// nil when not looked for.
	Admiral *Admiral `json:"admiral,omitempty"`
}

// Node is what istiod's kube controller keeps of a node (onNodeEvent in
// pilot/pkg/serviceregistry/kube/controller/controller.go): its labels and
// addresses.
type Node struct {
	Name      string               `json:"name"`
	Labels    map[string]string    `json:"labels,omitempty"`
	Addresses []corev1.NodeAddress `json:"addresses,omitempty"`
}

// GatewayPod is a gateway pod reduced at the edge: no spec, no env but
// the network the proxy is given.
type GatewayPod struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	Phase     corev1.PodPhase   `json:"phase,omitempty"`
	// MetaNetwork is the ISTIO_META_NETWORK env value of its containers.
	MetaNetwork string `json:"metaNetwork,omitempty"`
}

func reduceNode(n *corev1.Node) Node {
	return Node{Name: n.Name, Labels: n.Labels, Addresses: n.Status.Addresses}
}

// GatewayPodOf reduces a pod to a GatewayPod.
func GatewayPodOf(p *corev1.Pod) GatewayPod {
	g := GatewayPod{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, Phase: p.Status.Phase}
	for _, ct := range p.Spec.Containers {
		for _, e := range ct.Env {
			if e.Name == "ISTIO_META_NETWORK" && g.MetaNetwork == "" {
				g.MetaNetwork = e.Value
			}
		}
	}
	return g
}

// Err returns the error recorded for a resource, or nil.
func (inv *Inventory) Err(resource string) *FetchError {
	if inv.Unreachable != nil {
		return inv.Unreachable
	}
	return inv.Errors[resource]
}

// Namespace returns the named namespace or nil.
func (inv *Inventory) Namespace(name string) *corev1.Namespace {
	for i := range inv.Namespaces {
		if inv.Namespaces[i].Name == name {
			return &inv.Namespaces[i]
		}
	}
	return nil
}

// ConfigMap returns the named istio-system ConfigMap or nil.
func (inv *Inventory) ConfigMap(name string) *corev1.ConfigMap {
	for i := range inv.ConfigMaps {
		if inv.ConfigMaps[i].Name == name {
			return &inv.ConfigMaps[i]
		}
	}
	return nil
}

// Service returns the named Service or nil.
func (inv *Inventory) Service(namespace, name string) *Service {
	for i := range inv.Services {
		s := &inv.Services[i]
		if s.Namespace == namespace && s.Name == name {
			return s
		}
	}
	return nil
}

// CABundle is the public part of a CA secret (cacerts or istio-ca-secret).
// The private key never leaves the cluster: KeyCheck records, at fetch
// time, whether it matches the CA certificate.
type CABundle struct {
	Secret string `json:"secret"`
	// Form is "istio" (ca-cert.pem ...) or "tls" (tls.crt, tls.key, ca.crt).
	Form string `json:"form"`
	// Keys lists the data keys present (names only).
	Keys []string `json:"keys"`
	// CACert, CertChain and Root are PEM text: the CERTIFICATE blocks of
	// the secret's fields, re-encoded, and nothing else.
	CACert    string `json:"caCert,omitempty"`
	CertChain string `json:"certChain,omitempty"`
	Root      string `json:"root,omitempty"`
	// KeyCheck is "match", "mismatch", "missing" or "invalid: <why>".
	KeyCheck string `json:"keyCheck"`
	// Dropped says, by PEM type name only, what the certificate fields held
	// besides certificates ("ca-cert.pem also holds a PRIVATE KEY block"):
	// only CERTIFICATE blocks are kept.
	Dropped []string `json:"dropped,omitempty"`
}

// RemoteSecret is an istio/multiCluster=true secret with its kubeconfigs
// parsed and their credentials removed.
type RemoteSecret struct {
	Name        string             `json:"name"`
	Annotations map[string]string  `json:"annotations,omitempty"`
	Kubeconfigs []RemoteKubeconfig `json:"kubeconfigs"`
}

// RemoteKubeconfig is one data key of a remote secret: the cluster ID it
// registers and what its kubeconfig says, without secrets.
type RemoteKubeconfig struct {
	ClusterID  string `json:"clusterID"`
	ParseError string `json:"parseError,omitempty"`
	Server     string `json:"server,omitempty"`
	// Auth is how the user authenticates: token, client-cert, exec,
	// auth-provider:<name>, token-file, client-cert-file, basic, none.
	Auth string `json:"auth,omitempty"`
	// TokenExpiry is the JWT exp of a bearer token, when it has one.
	TokenExpiry *time.Time `json:"tokenExpiry,omitempty"`
	// TokenSubject is the JWT sub (a service account name, not a secret).
	TokenSubject string `json:"tokenSubject,omitempty"`
	Insecure     bool   `json:"insecure,omitempty"`

	// raw is the kubeconfig itself, kept in memory only for the access
	// probe; it is never serialised.
	raw []byte
}

// Raw returns the kubeconfig bytes for the access probe (nil when the
// inventory came from a snapshot).
func (rk RemoteKubeconfig) Raw() []byte { return rk.raw }
