package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RemoteAccessOptions tunes the remote-secret access probe.
type RemoteAccessOptions struct {
	// Timeout bounds each attempt (the whole probe of one kubeconfig).
	Timeout time.Duration
	// TrustedProxies are proxy URLs of the operator's own kubeconfig
	// (Client.ProxyURL). A remote secret's proxy-url equal to one of them is
	// used even on a loopback address: it is the operator's proxy, not one
	// the cluster chose. Any other proxy-url must pass the address filter,
	// like the server.
	TrustedProxies []string
	// MaxResponseSize caps each response body (0: DefaultMaxResponseSize).
	MaxResponseSize int64
}

// RemoteAccess returns a function that tries a remote secret's kubeconfig
// the way istiod uses it: reach the server and list endpointslices and
// services cluster-wide, then review per resource whether it may list and
// watch all of RemoteWatched (a FetchError with Verb VerbsWatched names the
// denied ones). Each attempt is bounded by opts.Timeout.
//
// The kubeconfig is data the cluster controls, so the client is built by
// hand from its inline data only (remoteRESTConfig): no exec plugin is ever
// run, no auth provider loaded and no local file named by it read, and no
// connection is made to a loopback, unspecified or link-local address
// (also after name resolution) except through the operator's own proxy.
// A kubeconfig that needs more is not tried: the error is a FetchError
// with ReasonNotTried.
func RemoteAccess(opts RemoteAccessOptions) func(ctx context.Context, cluster, secret string, rk RemoteKubeconfig) error {
	return func(ctx context.Context, _, _ string, rk RemoteKubeconfig) error {
		if rk.raw == nil {
			return errors.New("the kubeconfig itself is not available (inventory from a snapshot)")
		}
		cfg, err := remoteRESTConfig(rk.raw, opts.TrustedProxies)
		if err != nil {
			return err
		}
		cfg.Timeout = opts.Timeout
		cfg.UserAgent = "meshdoctor"
		cfg.Wrap(guardResponses(opts.MaxResponseSize))
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		defer hc.CloseIdleConnections()
		cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		one := metav1.ListOptions{Limit: 1}
		if _, err := cs.DiscoveryV1().EndpointSlices("").List(ctx, one); err != nil {
			return remoteErr(ResEndpointSlices, err)
		}
		if _, err := cs.CoreV1().Services("").List(ctx, one); err != nil {
			return remoteErr(ResServices, err)
		}
		// Then, per resource, everything istiod may watch there
		// (remote_rules.go); a server that answers no review says nothing
		// more than the lists above did.
		if denied, err := deniedWatches(ctx, cs); err == nil && len(denied) > 0 {
			return watchesErr(denied)
		}
		return nil
	}
}

func remoteErr(resource string, err error) *FetchError {
	var ae *AddressError
	if errors.As(err, &ae) {
		return notTried("%s", ae.Error())
	}
	return classify("list", resource, err)
}

// notTried is the outcome of a remote secret meshdoctor refuses to use from
// the operator's machine.
func notTried(format string, args ...any) *FetchError {
	return &FetchError{Verb: "use", Resource: "kubeconfig", Reason: ReasonNotTried,
		Message: "not tried from this machine: " + fmt.Sprintf(format, args...)}
}

// remoteRESTConfig builds the client of a remote secret's kubeconfig from
// its inline data only: server, certificate-authority-data,
// insecure-skip-tls-verify, tls-server-name, proxy-url, token, basic auth,
// client-certificate-data/client-key-data and impersonation. Everything
// that would run code or read a file on this machine makes it a "not
// tried" FetchError.
//
// istiod refuses the same options unless
// PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS allows them
// (pkg/kube/util.go sanitizeKubeConfig: auth providers other than oidc,
// clientKey, clientCertificate, tokenFile, exec); istiod does read a
// certificate-authority file, in its own pod, which for meshdoctor would be
// a path on the operator's machine, so that is refused too.
func remoteRESTConfig(raw []byte, trustedProxies []string) (*rest.Config, error) {
	kc, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", scrub(err.Error()))
	}
	kctx := kc.Contexts[kc.CurrentContext]
	if kctx == nil {
		return nil, errors.New("kubeconfig: current-context not found")
	}
	cl := kc.Clusters[kctx.Cluster]
	if cl == nil {
		return nil, errors.New("kubeconfig: the current context's cluster not found")
	}
	u := kc.AuthInfos[kctx.AuthInfo]
	if u == nil {
		u = &clientcmdapi.AuthInfo{}
	}
	if needs := localNeeds(cl, u); len(needs) > 0 {
		return nil, notTried("it needs %s", strings.Join(needs, " and "))
	}
	su, err := url.Parse(cl.Server)
	if err != nil || su.Host == "" || (su.Scheme != "https" && su.Scheme != "http") {
		return nil, errors.New("kubeconfig: server is not an http(s) URL")
	}
	if kind := LocalAddressKind(su.Hostname()); kind != "" {
		return nil, notTried("its server is a %s address", kind)
	}
	cfg := &rest.Config{
		Host: cl.Server,
		TLSClientConfig: rest.TLSClientConfig{
			Insecure:   cl.InsecureSkipTLSVerify,
			ServerName: cl.TLSServerName,
			CAData:     cl.CertificateAuthorityData,
			CertData:   u.ClientCertificateData,
			KeyData:    u.ClientKeyData,
		},
		BearerToken: u.Token,
		Username:    u.Username,
		Password:    u.Password,
		Impersonate: rest.ImpersonationConfig{UserName: u.Impersonate, UID: u.ImpersonateUID,
			Groups: u.ImpersonateGroups, Extra: u.ImpersonateUserExtra},
	}
	trusted := map[string]bool{}
	var proxy *url.URL
	switch {
	case cl.ProxyURL != "":
		pu, err := url.Parse(cl.ProxyURL)
		if err != nil || pu.Host == "" {
			return nil, errors.New("kubeconfig: proxy-url is not a URL")
		}
		switch pu.Scheme {
		case "http", "https", "socks5":
		default:
			return nil, errors.New("kubeconfig: proxy-url scheme is not http, https or socks5")
		}
		proxy = pu
		if isTrustedProxy(cl.ProxyURL, trustedProxies) {
			trusted[hostPort(pu)] = true
		} else if kind := LocalAddressKind(pu.Hostname()); kind != "" {
			return nil, notTried("its proxy-url is a %s address", kind)
		}
	default:
		// The operator's environment (HTTPS_PROXY) is trusted, as for
		// kubectl.
		if pu, err := http.ProxyFromEnvironment(&http.Request{URL: su}); err == nil && pu != nil {
			proxy = pu
			trusted[hostPort(pu)] = true
		}
	}
	if proxy != nil {
		cfg.Proxy = http.ProxyURL(proxy)
	} else {
		cfg.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	}
	cfg.Dial = guardedDial(trusted)
	return cfg, nil
}

// localNeeds lists what a kubeconfig needs from this machine beyond its
// inline data, as kinds (never the paths or commands themselves).
func localNeeds(cl *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) []string {
	var needs []string
	if u.Exec != nil {
		needs = append(needs, "an exec plugin")
	}
	if u.AuthProvider != nil {
		name := "an auth provider"
		if providerName.MatchString(u.AuthProvider.Name) {
			name = "the " + u.AuthProvider.Name + " auth provider"
		}
		needs = append(needs, name)
	}
	if u.TokenFile != "" {
		needs = append(needs, "a local file (tokenFile)")
	}
	if u.ClientCertificate != "" {
		needs = append(needs, "a local file (client-certificate)")
	}
	if u.ClientKey != "" {
		needs = append(needs, "a local file (client-key)")
	}
	if cl.CertificateAuthority != "" && len(cl.CertificateAuthorityData) == 0 {
		needs = append(needs, "a local file (certificate-authority)")
	}
	return needs
}

var providerName = regexp.MustCompile(`^[a-z0-9-]{1,20}$`)

func isTrustedProxy(proxy string, trusted []string) bool {
	for _, t := range trusted {
		if t != "" && strings.TrimSuffix(t, "/") == strings.TrimSuffix(proxy, "/") {
			return true
		}
	}
	return false
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	switch u.Scheme {
	case "https":
		port = "443"
	case "socks5":
		port = "1080"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// AddressError is a connection meshdoctor refused to make because the
// address, after name resolution, is local to this machine.
type AddressError struct {
	Addr string
	Kind string // loopback, unspecified, link-local
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("its server resolves to a %s address (%s)", e.Kind, e.Addr)
}

// guardedDial dials like client-go's default, refusing local addresses
// (checked on the resolved address, at connect time) except for the
// trusted proxy addresses.
func guardedDial(trusted map[string]bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	plain := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	guarded := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return &AddressError{Addr: address, Kind: "unparsable"}
			}
			if kind := ipKind(net.ParseIP(host)); kind != "" {
				return &AddressError{Addr: address, Kind: kind}
			}
			return nil
		}}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if trusted[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// LocalAddressKind says whether a host (a name or an IP literal, as in a
// URL) names this machine or its link: "loopback" (127/8, ::1, localhost
// and *.localhost), "unspecified" (0.0.0.0/8, ::, which connect to this
// machine), "link-local" (169.254/16, fe80::/10, where cloud metadata
// services live), or "". Names are not resolved here; the dialer checks
// the resolved address again.
func LocalAddressKind(host string) string {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "loopback"
	}
	return ipKind(net.ParseIP(strings.Trim(h, "[]")))
}

func ipKind(ip net.IP) string {
	if ip == nil {
		return ""
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified(), ip.To4() != nil && ip.To4()[0] == 0:
		return "unspecified"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "link-local"
	}
	return ""
}
