package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshdoctor/meshdoctor/internal/scenario"
	"github.com/meshdoctor/meshdoctor/internal/testenv"
)

// contextsKubeconfig writes the kubeconfig a scenario's contexts describe
// (scenario.Meta.Contexts): each context a copy of the environment's
// context for its cluster (same server, CA, proxy and meshdoctor's client
// certificate) under the scenario's name, the way gcloud or aws eks
// update-kubeconfig name them and the way an admin@ copy of a context
// reaches the same API server.
func contextsKubeconfig(t *testing.T, e *testenv.Env, sc *scenario.Scenario) string {
	t.Helper()
	base, err := clientcmd.LoadFromFile(e.Kubeconfig)
	if err != nil {
		t.Fatalf("read the environment's kubeconfig: %v", err)
	}
	cfg := clientcmdapi.NewConfig()
	for _, c := range sc.Meta.Contexts {
		from := base.Contexts[c.Cluster]
		if from == nil {
			t.Fatalf("context %s: the environment has no cluster %s", c.Name, c.Cluster)
		}
		cfg.Clusters[c.Name] = base.Clusters[from.Cluster].DeepCopy()
		cfg.AuthInfos[c.Name] = base.AuthInfos[from.AuthInfo].DeepCopy()
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	}
	cfg.CurrentContext = sc.Meta.Contexts[0].Name
	name := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(sc.Name)
	path := filepath.Join(t.TempDir(), "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}
