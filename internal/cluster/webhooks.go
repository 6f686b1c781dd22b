package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// WebhookConfig is a MutatingWebhookConfiguration reduced to what the
// revision model reads: Istio's injector webhooks are named
// istio-sidecar-injector[-<rev>] and labelled istio.io/rev; revision tags
// (istioctl tag set) are istio-revision-tag-<tag>, labelled istio.io/tag too.
type WebhookConfig struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Webhooks []Webhook         `json:"webhooks,omitempty"`
}

// Webhook is one webhook of a configuration: where the API server sends
// the request and which namespaces it applies to. The CA bundle is kept as
// a fingerprint only.
type Webhook struct {
	Name string `json:"name"`
	// Service is namespace/name[:port][path] of clientConfig.service.
	Service *WebhookService `json:"service,omitempty"`
	// URL is clientConfig.url without any user information.
	URL               string                `json:"url,omitempty"`
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// CABundleSHA256 is the hex SHA-256 of clientConfig.caBundle ("" when empty).
	CABundleSHA256 string `json:"caBundleSHA256,omitempty"`
}

// WebhookService is a webhook's clientConfig.service.
type WebhookService struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"`
	Port      int32  `json:"port,omitempty"`
}

// reduceWebhooks keeps only what WebhookConfig holds; everything else of a
// cluster's webhook configurations (rules, caBundle bytes, managed fields)
// is dropped at the edge.
func reduceWebhooks(items []admissionv1.MutatingWebhookConfiguration) []WebhookConfig {
	out := make([]WebhookConfig, 0, len(items))
	for _, mwc := range items {
		wc := WebhookConfig{Name: mwc.Name, Labels: mwc.Labels}
		for _, wh := range mwc.Webhooks {
			w := Webhook{Name: wh.Name, NamespaceSelector: wh.NamespaceSelector}
			if s := wh.ClientConfig.Service; s != nil {
				w.Service = &WebhookService{Namespace: s.Namespace, Name: s.Name}
				if s.Path != nil {
					w.Service.Path = *s.Path
				}
				if s.Port != nil {
					w.Service.Port = *s.Port
				}
			}
			if u := wh.ClientConfig.URL; u != nil {
				w.URL = withoutUserinfo(*u)
			}
			if len(wh.ClientConfig.CABundle) > 0 {
				sum := sha256.Sum256(wh.ClientConfig.CABundle)
				w.CABundleSHA256 = hex.EncodeToString(sum[:])
			}
			wc.Webhooks = append(wc.Webhooks, w)
		}
		out = append(out, wc)
	}
	return out
}

// withoutUserinfo drops credentials a webhook URL may carry; a URL that
// does not parse is reduced to its scheme and host-looking prefix.
func withoutUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexByte(raw, '@'); i >= 0 {
			return "(unparseable URL)"
		}
		return raw
	}
	u.User = nil
	return u.String()
}

// caFingerprint is the hex SHA-256 of the CA a context trusts: its
// certificate-authority-data, else its certificate-authority file name.
// Two contexts with the same server URL and fingerprint reach one API
// server (an alias).
func caFingerprint(cfg *rest.Config) string {
	if cfg == nil {
		return ""
	}
	var b []byte
	switch {
	case len(cfg.CAData) > 0:
		b = cfg.CAData
	case cfg.CAFile != "":
		b = []byte("file:" + cfg.CAFile)
	default:
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
