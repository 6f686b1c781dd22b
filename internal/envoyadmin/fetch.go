package envoyadmin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// Well-known ports and paths.
const (
	EnvoyAdminPort        = 15000 // Envoy admin, bound to localhost in the pod
	IstiodMonitoringPort  = 15014 // istiod's debug and metrics port
	PathConfigDumpWithEDS = "/config_dump?include_eds"
	PathClustersJSON      = "/clusters?format=json"

	// DefaultTimeout bounds one Get when the fetcher sets none.
	DefaultTimeout = 30 * time.Second

	proxyContainer = "istio-proxy"
	// adminTransportAnnotation set to "UDS" moves Envoy's admin API to a Unix
	// socket (istio pkg/envoy/admin): nothing listens on 15000 then.
	adminTransportAnnotation = "sidecar.istio.io/adminTransport"
)

// PodRef names a pod port reachable through a kube context's API server.
type PodRef struct {
	Context   string // kubeconfig context
	Namespace string
	Name      string
	Port      int // 15000 for Envoy admin, 15014 for istiod monitoring; 0 means 15000
}

func (p PodRef) String() string {
	return fmt.Sprintf("%s/%s:%d in %s", p.Namespace, p.Name, p.port(), p.Context)
}

func (p PodRef) port() int {
	if p.Port == 0 {
		return EnvoyAdminPort
	}
	return p.Port
}

// Fetcher gets admin paths from a proxy.
type Fetcher interface {
	Get(ctx context.Context, pod PodRef, path string) ([]byte, error)
}

// ErrAdminNotOnTCP means the pod serves Envoy's admin API on a Unix socket,
// which only an exec into the proxy container reaches.
var ErrAdminNotOnTCP = errors.New("envoy admin is not on TCP port 15000 (sidecar.istio.io/adminTransport: UDS)")

// IsForbidden reports whether err is the API server refusing the request: a
// Forbidden status, also when it comes back as the failed upgrade of a
// port-forward or exec stream.
func IsForbidden(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsForbidden(err) {
		return true
	}
	// UpgradeFailureError has no Unwrap: look at its cause explicitly.
	var upgrade *streamhttp.UpgradeFailureError
	return errors.As(err, &upgrade) && apierrors.IsForbidden(upgrade.Cause)
}

// FallbackFetcher tries Primary and, when the API server forbids it (or the
// admin API is not on TCP), Secondary: port-forward first, exec when RBAC only
// allows exec.
type FallbackFetcher struct {
	Primary, Secondary Fetcher
	// Fallbacks, when set, records per pod why the secondary was used
	// (PodRef -> error), so that results can say how they were read.
	Fallbacks *sync.Map
}

// Get implements Fetcher.
func (f FallbackFetcher) Get(ctx context.Context, pod PodRef, path string) ([]byte, error) {
	body, err := f.Primary.Get(ctx, pod, path)
	if err == nil || !(IsForbidden(err) || errors.Is(err, ErrAdminNotOnTCP)) || f.Secondary == nil {
		return body, err
	}
	if f.Fallbacks != nil {
		f.Fallbacks.Store(pod, err)
	}
	body, err2 := f.Secondary.Get(ctx, pod, path)
	if err2 != nil {
		return nil, errors.Join(err, fmt.Errorf("fallback: %w", err2))
	}
	return body, nil
}

// FellBack reports why the secondary fetcher was used for pod, if it was.
func (f FallbackFetcher) FellBack(pod PodRef) (string, bool) {
	if f.Fallbacks == nil {
		return "", false
	}
	v, ok := f.Fallbacks.Load(pod)
	if !ok {
		return "", false
	}
	if err, isErr := v.(error); isErr {
		return err.Error(), true
	}
	return "", true
}

// FetchTable reads a sidecar's endpoint table: the EDS section of
// /config_dump?include_eds with the live health of /clusters?format=json.
func FetchTable(ctx context.Context, f Fetcher, pod PodRef) (Table, error) {
	dump, err := f.Get(ctx, pod, PathConfigDumpWithEDS)
	if err != nil {
		return nil, fmt.Errorf("fetch config dump of %s: %w", pod, err)
	}
	if len(dump) > maxDocumentBytes {
		return nil, fmt.Errorf("config dump of %s: document larger than %d bytes", pod, maxDocumentBytes)
	}
	t, err := parseConfigDump(dump) // in place: the response is held once
	if err != nil {
		return nil, fmt.Errorf("config dump of %s: %w", pod, err)
	}
	clusters, err := f.Get(ctx, pod, PathClustersJSON)
	if err != nil {
		return nil, fmt.Errorf("fetch clusters of %s: %w", pod, err)
	}
	if len(clusters) > maxDocumentBytes {
		return nil, fmt.Errorf("clusters of %s: document larger than %d bytes", pod, maxDocumentBytes)
	}
	health, err := parseClusters(clusters)
	if err != nil {
		return nil, fmt.Errorf("clusters of %s: %w", pod, err)
	}
	t.MergeHealth(health)
	return t, nil
}
