package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
)

// ResRemoteSecretsAllNamespaces is the list of istio/multiCluster=true
// secrets in every namespace, metadata only (RemoteInventory).
const ResRemoteSecretsAllNamespaces = "secrets (istio/multiCluster, all namespaces, metadata only)"

// ClusterAnnotation is the annotation istioctl create-remote-secret puts on
// a remote secret: the name it was created for (istiod does not read it).
const ClusterAnnotation = "networking.istio.io/cluster"

// RemoteInventory is what the primary-remote checks read beyond the base
// inventory (Inventory.Remote).
type RemoteInventory struct {
	// OtherNamespaceSecrets are the secrets labelled istio/multiCluster=true
	// outside istio-system: istiod reads remote secrets only in its own
	// namespace (pkg/kube/multicluster/secretcontroller.go NewController,
	// Namespace: SystemNamespace), so these are ignored. Read as metadata
	// only (PartialObjectMetadata): their data never reaches meshdoctor.
	OtherNamespaceSecrets []SecretMeta `json:"otherNamespaceSecrets,omitempty"`
	// SecretsListed says the list above was taken (false: see SecretsError,
	// or a snapshot of an older version).
	SecretsListed bool `json:"secretsListed,omitempty"`
	// SecretsError is why the list could not be taken. It is kept here, not
	// in Inventory.Errors: the permission is optional (list on secrets in
	// every namespace, deploy/rbac.yaml's unbound meshdoctor-secret-metadata),
	// so its absence is no authorization failure of the cluster
	// (contexts.authorized) but a reason for secrets.remote-namespace to skip.
	SecretsError *FetchError `json:"secretsError,omitempty"`
}

// collectRemoteInventory reads the RemoteInventory; what cannot be read is
// recorded in it.
func collectRemoteInventory(ctx context.Context, c *Client, ns string, lo metav1.ListOptions) *RemoteInventory {
	rem, err := collectRemote(ctx, c, ns, lo)
	if err != nil {
		return &RemoteInventory{SecretsError: classify("list", ResRemoteSecretsAllNamespaces, err)}
	}
	return rem
}

// SecretMeta is a secret's identity, without its data.
type SecretMeta struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Cluster is its networking.istio.io/cluster annotation, if any.
	Cluster string `json:"cluster,omitempty"`
}

// maxMetaValue bounds what is kept of an annotation read from a cluster.
const maxMetaValue = 253

// errNoMetadataClient: the client has neither a metadata client nor a REST
// config to make one (a fake clientset without one).
var errNoMetadataClient = errors.New("no metadata client for this cluster")

// collectRemote lists the istio/multiCluster=true secrets of every
// namespace as metadata and keeps those outside ns.
func collectRemote(ctx context.Context, c *Client, ns string, lo metav1.ListOptions) (*RemoteInventory, error) {
	mc := c.Metadata
	if mc == nil {
		if c.Config == nil {
			return nil, errNoMetadataClient
		}
		var err error
		if mc, err = metadata.NewForConfig(c.Config); err != nil {
			return nil, fmt.Errorf("metadata client: %w", err)
		}
	}
	lo.LabelSelector = MultiClusterLabel + "=true"
	secrets := mc.Resource(corev1.SchemeGroupVersion.WithResource("secrets"))
	items, err := listAll(ctx, ResRemoteSecretsAllNamespaces, lo, func(ctx context.Context, o metav1.ListOptions) ([]metav1.PartialObjectMetadata, string, error) {
		l, err := secrets.List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	out := &RemoteInventory{SecretsListed: true}
	for _, m := range items {
		if m.Namespace == ns || m.Labels[MultiClusterLabel] != "true" {
			continue
		}
		out.OtherNamespaceSecrets = append(out.OtherNamespaceSecrets, SecretMeta{Namespace: bound(m.Namespace), Name: bound(m.Name),
			Cluster: bound(m.Annotations[ClusterAnnotation])})
	}
	return out, nil
}

func bound(s string) string {
	if len(s) > maxMetaValue {
		s = s[:maxMetaValue]
	}
	return strings.ToValidUTF8(s, "")
}
