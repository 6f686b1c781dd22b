package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
)

// MaxDirKubeconfigSize caps each file LoadDir reads (a kubeconfig with a
// token and a CA is a few KiB).
const MaxDirKubeconfigSize = 1 << 20

// contextName is what a file of a kubeconfig directory may be called: the
// key of a Secret, used as the context (cluster) name.
var contextName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// LoadDir builds one Client per file of dir, named after the file: the way
// `meshdoctor serve` in a pod reads its remote clusters, from a Secret
// mounted as a directory (one key per cluster, each a kubeconfig, as an
// Istio remote secret holds one per cluster ID). Names starting with a dot
// (a Secret volume's ..data links) are skipped. The files are read once:
// a changed Secret takes effect when the process restarts.
//
// The kubeconfigs are held to the rules of remote secrets: inline data
// only (server, CA data, token, client certificate data, proxy-url), no
// exec plugin, auth provider, tokenFile or file path, and a server that is
// not a loopback or link-local address. A file that breaks them is a
// ConfigError naming the file and what it needs, never its content.
func LoadDir(dir string, opts LoadOptions) ([]*Client, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("kubeconfig directory: %w", err)}
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var clients []*Client
	for _, name := range names {
		c, err := loadDirFile(filepath.Join(dir, name), name, opts)
		if err != nil {
			return nil, &ConfigError{err}
		}
		if c != nil {
			clients = append(clients, c)
		}
	}
	// An empty directory is no error: an optional Secret not created yet
	// (the caller decides whether no cluster at all is one).
	return clients, nil
}

// loadDirFile is one file of LoadDir (nil, nil for a directory).
func loadDirFile(path, name string, opts LoadOptions) (*Client, error) {
	fi, err := os.Stat(path) // follows a Secret volume's symlinks
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", name, err)
	}
	if fi.IsDir() {
		return nil, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("kubeconfig %s: not a regular file", name)
	}
	if !contextName.MatchString(name) {
		return nil, fmt.Errorf("kubeconfig %q: the file name is the context name: want letters, digits, '.', '_' or '-', at most 63", name)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", name, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxDirKubeconfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", name, err)
	}
	if len(raw) > MaxDirKubeconfigSize {
		return nil, fmt.Errorf("kubeconfig %s: larger than %d bytes", name, MaxDirKubeconfigSize)
	}
	cfg, err := remoteRESTConfig(raw, nil)
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			// "not tried: it needs an exec plugin": for a file the operator
			// mounted, that is a configuration error.
			return nil, fmt.Errorf("kubeconfig %s must hold inline credentials, as remote secrets do: %s", name, strings.TrimPrefix(fe.Message, "not tried from this machine: "))
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", name, err)
	}
	c := &Client{Context: name, Server: cfg.Host}
	if err := c.setConfig(cfg, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// InCluster is the Client of the cluster this process runs in, from its
// pod's service account (token and CA files that the kubelet mounts and
// rotates), named name.
func InCluster(name string, opts LoadOptions) (*Client, error) {
	if !contextName.MatchString(name) {
		return nil, &ConfigError{fmt.Errorf("in-cluster context name %q: want letters, digits, '.', '_' or '-', at most 63", name)}
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("in-cluster config: %w", err)}
	}
	c, err := NewClient(name, cfg, opts)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return c, nil
}
