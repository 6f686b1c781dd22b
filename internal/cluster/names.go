package cluster

import (
	"sort"

	"k8s.io/client-go/tools/clientcmd"
)

// ContextNames lists the contexts of the kubeconfig (an explicit path, or
// KUBECONFIG / ~/.kube/config as Load reads them), sorted; for shell
// completion, so it builds no client.
func ContextNames(kubeconfig string) ([]string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(raw.Contexts))
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
