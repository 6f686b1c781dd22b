package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// RemoteAccess returns a function that tries a remote secret's kubeconfig
// the way istiod uses it: reach the server and list endpointslices and
// services cluster-wide. Each attempt is bounded by timeout.
func RemoteAccess(timeout time.Duration) func(ctx context.Context, cluster, secret string, rk RemoteKubeconfig) error {
	return func(ctx context.Context, _, _ string, rk RemoteKubeconfig) error {
		if rk.raw == nil {
			return errors.New("the kubeconfig itself is not available (inventory from a snapshot)")
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(rk.raw)
		if err != nil {
			return fmt.Errorf("kubeconfig: %w", err)
		}
		cfg.Timeout = timeout
		cfg.UserAgent = "meshdoctor"
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		one := metav1.ListOptions{Limit: 1}
		if _, err := cs.DiscoveryV1().EndpointSlices("").List(ctx, one); err != nil {
			return classify("list", ResEndpointSlices, err)
		}
		if _, err := cs.CoreV1().Services("").List(ctx, one); err != nil {
			return classify("list", ResServices, err)
		}
		return nil
	}
}
