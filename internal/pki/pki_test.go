package pki

import (
	"strings"
	"testing"
	"time"
)

func TestKeyCheck(t *testing.T) {
	root, err := NewRoot("Istio", Options{})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := NewIntermediate(root, "cluster-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewIntermediate(root, "cluster-2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, key, cert, want string
	}{
		{"key of the certificate", inter.KeyPEM(), inter.CertPEM(), "match"},
		{"key of another certificate", other.KeyPEM(), inter.CertPEM(), "mismatch"},
		{"no key", "", inter.CertPEM(), "missing"},
		{"not PEM", "garbage", inter.CertPEM(), "invalid: no PEM block"},
		{"PEM that is no key", inter.CertPEM(), inter.CertPEM(), "invalid: not a PKCS#1, PKCS#8 or EC private key"},
		{"certificate that does not parse", inter.KeyPEM(), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "invalid: certificate: certificate 1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := KeyCheck([]byte(tc.key), tc.cert); !strings.HasPrefix(got, tc.want) {
				t.Errorf("KeyCheck = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMadeLikeIstiosMakefile(t *testing.T) {
	root, err := NewRoot("Istio", Options{NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := NewIntermediate(root, "east", Options{})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCerts(inter.ChainPEM())
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[1].Equal(root.Cert) {
		t.Fatalf("cert-chain.pem must be intermediate + root, got %d certificates", len(certs))
	}
	if err := certs[0].CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("intermediate not signed by the root: %v", err)
	}
	if !certs[0].IsCA || certs[0].Subject.CommonName != "Intermediate CA" || certs[0].Subject.Locality[0] != "east" {
		t.Errorf("intermediate subject %s, CA %v", certs[0].Subject, certs[0].IsCA)
	}
	if _, err := ParseCerts("no pem here"); err == nil {
		t.Error("text without PEM parsed")
	}
	if fp := Fingerprint(root.Cert); len(fp) != 64 || Short(fp) != fp[:16] {
		t.Errorf("fingerprint %q", fp)
	}
}
