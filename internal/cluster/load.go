package cluster

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
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
	// Metadata lists objects as metadata only (nil: made from Config when
	// needed, see collectRemote).
	Metadata metadata.Interface
	// Dynamic reads the kinds no typed client covers: Gateway API Gateways
	// (inventory_ambient.go) and Admiral's CRDs (inventory_admiral.go); nil
	// skips them.
	Dynamic dynamic.Interface
	// Config is the REST config, for exec and port-forward.
	Config *rest.Config
	// BuildErr is set when no client could be made (NewClient callers);
	// the cluster is then reported unreachable. Load returns a ConfigError
	// instead.
	BuildErr error
	// ProxyURL is the kubeconfig's proxy-url for this context ("" for
	// none): the operator's proxy, trusted for remote secrets too.
	ProxyURL string
	// ExecPlugin: the context's user is an exec credential plugin (a hung
	// plugin is named as such).
	ExecPlugin bool
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
	// MaxResponseSize caps each response body (0: DefaultMaxResponseSize).
	MaxResponseSize int64
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
		kctx := raw.Contexts[name]
		if kctx == nil {
			return nil, &ConfigError{fmt.Errorf("context %s is empty", name)}
		}
		cl := raw.Clusters[kctx.Cluster]
		if cl == nil {
			return nil, &ConfigError{fmt.Errorf("context %s names cluster %q, which the kubeconfig does not have", name, kctx.Cluster)}
		}
		c.Server, c.ProxyURL = cl.Server, cl.ProxyURL
		if u := raw.AuthInfos[kctx.AuthInfo]; u != nil {
			c.ExecPlugin = u.Exec != nil
		}
		// The operator's kubeconfig is trusted: exec plugins and files it
		// names are used as kubectl would. A kubeconfig that cannot make a
		// client (a missing CA file, no server) is a configuration error.
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("context %s: %w", name, err)}
		}
		if err := c.setConfig(cfg, opts); err != nil {
			return nil, &ConfigError{err}
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
	cfg.Wrap(guardResponses(opts.MaxResponseSize))
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client for %s: %w", c.Context, err)
	}
	ist, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("istio client for %s: %w", c.Context, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client for %s: %w", c.Context, err)
	}
	c.Config, c.Kube, c.Istio, c.Dynamic = cfg, kube, ist, dyn
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
