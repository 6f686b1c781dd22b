package cluster

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ConfigError is a problem with the kubeconfig or the chosen contexts; the
// CLI exits 2 on it.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Client is the clients of one kubeconfig context.
type Client struct {
	Context string
	Server  string
	Kube    kubernetes.Interface
	Istio   istioclient.Interface
	// Config is the REST config, for exec and port-forward.
	Config *rest.Config
	// BuildErr is set when the context exists but no client could be made
	// from it; the cluster is then reported unreachable.
	BuildErr error
}

// LoadOptions selects the kubeconfig and contexts.
type LoadOptions struct {
	// Kubeconfig is an explicit path; empty uses KUBECONFIG (several files
	// merged) or ~/.kube/config.
	Kubeconfig string
	// Contexts picks contexts by name; empty means all of them.
	Contexts []string
	// Timeout bounds every request to an API server.
	Timeout time.Duration
	// QPS and Burst for each client (0: client-go's defaults raised for
	// one-shot list traffic).
	QPS   float32
	Burst int
}

// Load reads the kubeconfig and builds one Client per selected context, in
// name order.
func Load(opts LoadOptions) ([]*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		rules.ExplicitPath = opts.Kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("load kubeconfig: %w", err)}
	}
	names := opts.Contexts
	if len(names) == 0 {
		for name := range raw.Contexts {
			names = append(names, name)
		}
		sort.Strings(names)
	} else {
		var unknown []string
		for _, n := range names {
			if _, ok := raw.Contexts[n]; !ok {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return nil, &ConfigError{fmt.Errorf("context(s) %v not in kubeconfig (have %v)", unknown, sortedKeys(raw.Contexts))}
		}
		names = slices.Compact(names)
	}
	if len(names) == 0 {
		return nil, &ConfigError{errors.New("kubeconfig has no contexts (set --kubeconfig or KUBECONFIG)")}
	}
	var clients []*Client
	for _, name := range names {
		c := &Client{Context: name}
		if ctx := raw.Contexts[name]; ctx != nil {
			if cl := raw.Clusters[ctx.Cluster]; cl != nil {
				c.Server = cl.Server
			}
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			c.BuildErr = fmt.Errorf("build client for context %s: %w", name, err)
			clients = append(clients, c)
			continue
		}
		if err := c.setConfig(cfg, opts); err != nil {
			c.BuildErr = err
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// NewClient builds a Client from a REST config (tests, remote secrets).
func NewClient(context string, cfg *rest.Config, opts LoadOptions) (*Client, error) {
	c := &Client{Context: context, Server: cfg.Host}
	if err := c.setConfig(cfg, opts); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) setConfig(cfg *rest.Config, opts LoadOptions) error {
	cfg = rest.CopyConfig(cfg)
	if opts.Timeout > 0 {
		cfg.Timeout = opts.Timeout
	}
	cfg.QPS, cfg.Burst = 50, 100
	if opts.QPS > 0 {
		cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	}
	cfg.UserAgent = "meshdoctor"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client for %s: %w", c.Context, err)
	}
	ist, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("istio client for %s: %w", c.Context, err)
	}
	c.Config, c.Kube, c.Istio = cfg, kube, ist
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
