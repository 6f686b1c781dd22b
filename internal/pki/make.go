package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// CA is a certificate with its key, made for tests, the demo and the
// integration environment — never for production.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Chain is the issuing chain above Cert, nearest first (empty for a root).
	Chain []*x509.Certificate
}

// CertPEM is the certificate as PEM.
func (c *CA) CertPEM() string { return encode(c.Cert) }

// KeyPEM is the private key as PKCS#8 PEM.
func (c *CA) KeyPEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(fmt.Sprintf("marshal a fresh ECDSA key: %v", err)) // cannot happen for P-256
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// ChainPEM is Cert followed by its issuers, as Istio's cert-chain.pem.
func (c *CA) ChainPEM() string {
	s := encode(c.Cert)
	for _, x := range c.Chain {
		s += encode(x)
	}
	return s
}

func encode(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// Options shape a certificate; the zero value is a one-year validity from now.
type Options struct {
	NotBefore, NotAfter time.Time
	DNSNames            []string
	URIs                []string
	IPs                 []net.IP
	IsCA                bool
}

// NewRoot makes a self-signed root CA like root-cert.pem of
// Makefile.selfsigned.mk (O=Istio, CN=Root CA).
func NewRoot(org string, o Options) (*CA, error) {
	return issue(pkix.Name{Organization: []string{org}, CommonName: "Root CA"}, nil, withCA(o))
}

// NewIntermediate makes an intermediate CA for a cluster, signed by parent,
// like <cluster>/ca-cert.pem (O=Istio, CN=Intermediate CA, L=<cluster>).
func NewIntermediate(parent *CA, clusterName string, o Options) (*CA, error) {
	name := pkix.Name{Organization: parent.Cert.Subject.Organization, CommonName: "Intermediate CA", Locality: []string{clusterName}}
	return issue(name, parent, withCA(o))
}

// NewLeaf makes an end-entity certificate signed by parent.
func NewLeaf(parent *CA, cn string, o Options) (*CA, error) {
	o.IsCA = false
	return issue(pkix.Name{CommonName: cn}, parent, o)
}

func withCA(o Options) Options { o.IsCA = true; return o }

func issue(subject pkix.Name, parent *CA, o Options) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPs,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("uri SAN %q: %w", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if o.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	signer, signerCert := key, tmpl
	var chain []*x509.Certificate
	if parent != nil {
		signer, signerCert = parent.Key, parent.Cert
		chain = append([]*x509.Certificate{parent.Cert}, parent.Chain...)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", subject.CommonName, err)
	}
	return &CA{Cert: cert, Key: key, Chain: chain}, nil
}
