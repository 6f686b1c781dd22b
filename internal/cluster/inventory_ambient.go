package cluster

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource names of the ambient inventory (Inventory.Errors, Check.Needs).
const (
	ResDaemonSets = "daemonsets"
	// ResK8sGateways are Gateway API Gateways (gateway.networking.k8s.io/v1):
	// ambient's east-west gateways and waypoints.
	ResK8sGateways = "gateways.gateway.networking.k8s.io"
	// ResDataplanePods are the pods labelled istio.io/dataplane-mode.
	ResDataplanePods = "pods (dataplane-mode)"
)

// GatewayAPIGateways is the resource of Gateway API Gateways, in the
// version istiod reads (pilot/pkg/serviceregistry/ambient/networks.go uses
// gatewayv1.Gateway).
var GatewayAPIGateways = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}

// DataplaneModeLabel is istio.io/dataplane-mode (istio.io/api label
// IoIstioDataplaneMode): "ambient" puts a namespace's or a pod's traffic
// through ztunnel, "none" keeps a pod out.
const DataplaneModeLabel = "istio.io/dataplane-mode"

// Gateway API presence, as the Gateway list found it.
const (
	GatewayAPIServed = "served"
	// GatewayAPIAbsent: the list was answered 404, the CRDs are not
	// installed.
	GatewayAPIAbsent = "absent"
)

// Ambient is what the ambient checks read of one cluster, reduced at the
// edge: the ztunnel and istio-cni DaemonSets, the Gateway API Gateways, the
// pods that choose a data-plane mode by label. Namespaces (and their
// istio.io/dataplane-mode labels) and Services (istio.io/global,
// istio.io/use-waypoint) are in Inventory already.
type Ambient struct {
	// DaemonSets are the ztunnel and istio-cni node agents found in any
	// namespace (IsAmbientAgent); DaemonSetsListed says the list was taken.
	DaemonSets       []AgentDaemonSet `json:"daemonSets,omitempty"`
	DaemonSetsListed bool             `json:"daemonSetsListed,omitempty"`
	// GatewayAPI is GatewayAPIServed or GatewayAPIAbsent ("" = not read:
	// an error in Errors, or a client without a dynamic interface).
	GatewayAPI string       `json:"gatewayAPI,omitempty"`
	Gateways   []K8sGateway `json:"gateways,omitempty"`
	// Pods are the pods labelled istio.io/dataplane-mode (any value);
	// PodsListed says the list was taken.
	Pods       []DataplanePod `json:"pods,omitempty"`
	PodsListed bool           `json:"podsListed,omitempty"`
}

// AgentDaemonSet is a ztunnel or istio-cni DaemonSet reduced to what the
// checks read: which agent, its images (the version is their tag) and how
// many nodes run it.
type AgentDaemonSet struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Agent is AgentZtunnel or AgentCNI.
	Agent   string   `json:"agent"`
	Images  []string `json:"images,omitempty"`
	Desired int32    `json:"desired"`
	Ready   int32    `json:"ready"`
}

// The node agents of ambient, by their charts' labels
// (manifests/charts/ztunnel: app: ztunnel; manifests/charts/istio-cni:
// k8s-app: istio-cni-node).
const (
	AgentZtunnel = "ztunnel"
	AgentCNI     = "istio-cni"
)

// K8sGateway is a Gateway API Gateway reduced to what istiod reads of it
// for network gateways and waypoints (networks.go
// remoteK8sGatewayToNetworkGateways): labels, class, listeners, status
// addresses, and the Programmed condition.
type K8sGateway struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	Class     string            `json:"gatewayClassName"`
	Listeners []K8sListener     `json:"listeners,omitempty"`
	// Addresses are status.addresses (type and value; type "" when unset).
	Addresses []K8sAddress `json:"addresses,omitempty"`
	// Programmed is the status of the Programmed condition with its reason
	// ("True", "False: AddressNotAssigned"; "" when absent).
	Programmed string `json:"programmed,omitempty"`
}

// K8sListener is one listener of a Gateway.
type K8sListener struct {
	Name     string `json:"name"`
	Port     int64  `json:"port"`
	Protocol string `json:"protocol"`
	// TLSMode is tls.mode ("Terminate", "Passthrough", "" without tls).
	TLSMode string `json:"tlsMode,omitempty"`
	// TerminateMode is the tls option gateway.istio.io/tls-terminate-mode
	// (ISTIO_MUTUAL on the east-west gateway of gen-eastwest-gateway.sh).
	TerminateMode string `json:"terminateMode,omitempty"`
}

// K8sAddress is one of a Gateway's status addresses.
type K8sAddress struct {
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
}

// DataplanePod is a pod that chose its data plane by label.
type DataplanePod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Mode      string `json:"mode"`
	// Sidecar says the pod has an istio-proxy container (or native
	// sidecar).
	Sidecar bool `json:"sidecar,omitempty"`
}

// IsAmbientAgent names the agent a DaemonSet runs ("" for none).
func IsAmbientAgent(ds *appsv1.DaemonSet) string {
	switch {
	case ds.Labels["app"] == "ztunnel" || ds.Name == "ztunnel":
		return AgentZtunnel
	case ds.Labels["k8s-app"] == "istio-cni-node" || ds.Name == "istio-cni-node":
		return AgentCNI
	}
	return ""
}

// ReduceDaemonSet keeps of an agent DaemonSet what the ambient checks read.
func ReduceDaemonSet(ds *appsv1.DaemonSet, agent string) AgentDaemonSet {
	a := AgentDaemonSet{Namespace: ds.Namespace, Name: ds.Name, Agent: agent,
		Desired: ds.Status.DesiredNumberScheduled, Ready: ds.Status.NumberReady}
	for _, c := range ds.Spec.Template.Spec.Containers {
		a.Images = append(a.Images, c.Image)
	}
	return a
}

// ReduceK8sGateway reduces an unstructured Gateway API Gateway. Unexpected
// shapes (a hostile or newer server) leave fields empty, never panic.
func ReduceK8sGateway(u *unstructured.Unstructured) K8sGateway {
	g := K8sGateway{Namespace: u.GetNamespace(), Name: u.GetName(), Labels: u.GetLabels()}
	g.Class, _, _ = unstructured.NestedString(u.Object, "spec", "gatewayClassName")
	ls, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
	for _, x := range ls {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		l := K8sListener{}
		l.Name, _, _ = unstructured.NestedString(m, "name")
		l.Protocol, _, _ = unstructured.NestedString(m, "protocol")
		l.Port = jsonNumber(m["port"])
		l.TLSMode, _, _ = unstructured.NestedString(m, "tls", "mode")
		opts, _, _ := unstructured.NestedStringMap(m, "tls", "options")
		l.TerminateMode = opts["gateway.istio.io/tls-terminate-mode"]
		g.Listeners = append(g.Listeners, l)
	}
	as, _, _ := unstructured.NestedSlice(u.Object, "status", "addresses")
	for _, x := range as {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		a := K8sAddress{}
		a.Type, _, _ = unstructured.NestedString(m, "type")
		a.Value, _, _ = unstructured.NestedString(m, "value")
		if a.Value != "" {
			g.Addresses = append(g.Addresses, a)
		}
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		if t, _, _ := unstructured.NestedString(m, "type"); t != "Programmed" {
			continue
		}
		st, _, _ := unstructured.NestedString(m, "status")
		reason, _, _ := unstructured.NestedString(m, "reason")
		g.Programmed = st
		if st != "True" && reason != "" {
			g.Programmed += ": " + reason
		}
	}
	return g
}

// DataplanePodOf reduces a pod to its data-plane choice.
func DataplanePodOf(p *corev1.Pod) DataplanePod {
	d := DataplanePod{Namespace: p.Namespace, Name: p.Name, Mode: p.Labels[DataplaneModeLabel]}
	for _, c := range append(append([]corev1.Container{}, p.Spec.Containers...), p.Spec.InitContainers...) {
		if c.Name == "istio-proxy" {
			d.Sidecar = true
		}
	}
	return d
}

// collectAmbient adds the ambient lists to a cluster's inventory group:
// DaemonSets in every namespace (ztunnel and istio-cni may run outside
// istio-system, e.g. istio-cni in kube-system on GKE), Gateway API Gateways
// in every namespace (through the dynamic client; 404 means the CRDs are
// not installed, which is recorded as such, not as an error), and the pods
// labelled istio.io/dataplane-mode. All three are paged.
func collectAmbient(ctx context.Context, g *errgroup.Group, c *Client, inv *Inventory, record func(string, error)) {
	amb := &Ambient{}
	inv.Ambient = amb
	lo := metav1.ListOptions{}
	g.Go(func() error {
		l, err := listAll(ctx, ResDaemonSets, lo, func(ctx context.Context, o metav1.ListOptions) ([]appsv1.DaemonSet, string, error) {
			l, err := c.Kube.AppsV1().DaemonSets("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, nil)
		if err != nil {
			record(ResDaemonSets, err)
			return nil
		}
		for i := range l {
			if a := IsAmbientAgent(&l[i]); a != "" {
				amb.DaemonSets = append(amb.DaemonSets, ReduceDaemonSet(&l[i], a))
			}
		}
		amb.DaemonSetsListed = true
		return nil
	})
	g.Go(func() error {
		l, err := listAll(ctx, ResDataplanePods, metav1.ListOptions{LabelSelector: DataplaneModeLabel}, pods(c, ""), nil)
		if err != nil {
			record(ResDataplanePods, err)
			return nil
		}
		for i := range l {
			amb.Pods = append(amb.Pods, DataplanePodOf(&l[i]))
		}
		amb.PodsListed = true
		return nil
	})
	if c.Dynamic == nil {
		return
	}
	g.Go(func() error {
		l, err := listAll(ctx, ResK8sGateways, lo, func(ctx context.Context, o metav1.ListOptions) ([]unstructured.Unstructured, string, error) {
			l, err := c.Dynamic.Resource(GatewayAPIGateways).Namespace("").List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.GetContinue(), nil
		}, nil)
		switch {
		case apierrors.IsNotFound(err):
			amb.GatewayAPI = GatewayAPIAbsent
			return nil
		case err != nil:
			record(ResK8sGateways, err)
			return nil
		}
		amb.GatewayAPI = GatewayAPIServed
		for i := range l {
			amb.Gateways = append(amb.Gateways, ReduceK8sGateway(&l[i]))
		}
		return nil
	})
}

// ImageTag is the tag of a container image ("" for none or a digest
// only): docker.io/istio/ztunnel:1.28.1-distroless → 1.28.1-distroless.
func ImageTag(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[i+1:]
	}
	return ""
}

// String names a DaemonSet for messages.
func (a AgentDaemonSet) String() string { return fmt.Sprintf("%s/%s", a.Namespace, a.Name) }

// jsonNumber reads a JSON number however it was decoded: int64 from the API
// server's unstructured decoder, float64 from encoding/json, int from Go
// code; anything else is 0.
func jsonNumber(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return 0
}
