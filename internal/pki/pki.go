// Package pki parses and compares the PEM bundles Istio uses (cacerts,
// istio-ca-root-cert) with the standard library, and makes test CAs the way
// Istio's tools/certs/Makefile.selfsigned.mk does.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseCerts parses every CERTIFICATE block of a PEM text. It fails on
// text with no certificate and on a block that does not parse.
func ParseCerts(pemText string) ([]*x509.Certificate, error) {
	rest := []byte(pemText)
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 && len(certs) == 0 {
		return nil, errors.New("no PEM block found")
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certs, nil
}

// Fingerprint is the SHA-256 of the DER certificate, hex, as
// `openssl x509 -fingerprint -sha256` shows it without colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Short is the first 16 hex digits of a fingerprint, for messages.
func Short(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}

// KeyCheck compares a PEM private key with a certificate's public key and
// returns "match", "mismatch", "missing" or "invalid: <why>". It is called
// where the secret is read, so that only the verdict is kept.
func KeyCheck(keyPEM []byte, certPEM string) string {
	if len(bytes.TrimSpace(keyPEM)) == 0 {
		return "missing"
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return "invalid: no PEM block"
	}
	key, err := parseKey(block.Bytes)
	if err != nil {
		return "invalid: " + err.Error()
	}
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return "invalid: certificate: " + err.Error()
	}
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return "invalid: unsupported key type"
	}
	eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(certs[0].PublicKey) {
		return "mismatch"
	}
	return "match"
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS#1, PKCS#8 or EC private key")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, errors.New("unsupported private key type")
}

// Describe names a certificate for evidence: "CN=... (fp 1234abcd...)".
func Describe(c *x509.Certificate) string {
	name := c.Subject.String()
	if name == "" {
		name = "(empty subject)"
	}
	return fmt.Sprintf("%s (sha256 %s)", name, Short(Fingerprint(c)))
}

// FingerprintSet returns the sorted, comma-joined fingerprints of certs.
func FingerprintSet(certs []*x509.Certificate) []string {
	var fps []string
	for _, c := range certs {
		fps = append(fps, Fingerprint(c))
	}
	return fps
}

// JoinShort joins short fingerprints for messages.
func JoinShort(fps []string) string {
	s := make([]string, len(fps))
	for i, f := range fps {
		s[i] = Short(f)
	}
	return strings.Join(s, ",")
}
