package probe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// tlsCheck says how one kind of TLS port is approached and what its
// certificate must be.
type tlsCheck struct {
	sni  string
	alpn []string
	// minVersion is the lowest TLS version offered (TLS 1.2 when zero).
	minVersion uint16
	roots      *x509.CertPool
	// identity checks the leaf's SANs once the chain is judged: it returns
	// what matched, or the problem that makes the result OutcomeBadSAN.
	// Nil: no identity is required.
	identity func(leaf *x509.Certificate) (matched, problem string)
}

func passthroughCheck(t GatewayTarget) tlsCheck {
	return tlsCheck{
		sni:      t.SNI,
		alpn:     []string{"istio-peer-exchange", "istio"},
		roots:    t.Roots,
		identity: workloadIdentity(t),
	}
}

// hboneCheck is the ClientHello ztunnel sends to a remote network's
// gateway on 15008: TLS 1.3 only, ALPN h2, no SNI (the listener has one
// filter chain and requires TLS 1.3: buildCommonConnectTLSContext). The
// gateway presents its own workload certificate, a SPIFFE identity of the
// mesh's trust domain.
func hboneCheck(t GatewayTarget) tlsCheck {
	return tlsCheck{
		alpn:       []string{"h2"},
		minVersion: tls.VersionTLS13,
		roots:      t.Roots,
		identity:   workloadIdentity(t),
	}
}

// workloadIdentity requires a SPIFFE workload identity of the target's trust
// domain or one of its aliases.
func workloadIdentity(t GatewayTarget) func(leaf *x509.Certificate) (string, string) {
	td := t.TrustDomain
	if td == "" {
		td = DefaultTrustDomain
	}
	// The trust domain and its aliases are one for Istio
	// (pkg/spiffe ExpandWithTrustDomains).
	accepted := append([]string{td}, t.TrustDomainAliases...)
	return func(leaf *x509.Certificate) (string, string) {
		for _, u := range leaf.URIs {
			for _, d := range accepted {
				if spiffeWorkload(u, d) {
					return "workload " + u.String(), ""
				}
			}
		}
		want := "spiffe://" + td + "/ns/<ns>/sa/<sa>"
		if len(accepted) > 1 {
			want += " (or the aliases " + strings.Join(t.TrustDomainAliases, ", ") + ")"
		}
		return "", fmt.Sprintf("workload certificate URI SANs %v carry no %s identity", uriStrings(leaf.URIs), want)
	}
}

func istiodCheck(t GatewayTarget) tlsCheck {
	sans := t.IstiodSANs
	if len(sans) == 0 {
		sans = []string{DefaultIstiodSAN}
	}
	return tlsCheck{sni: sans[0], roots: t.Roots, identity: istiodIdentity(sans)}
}

// istiodIdentity requires one of sans among the leaf's DNS SANs, as a
// proxy's pilot-agent (15012) and the API server's webhook client (15017)
// verify istiod's serving certificate against the host they dial.
func istiodIdentity(sans []string) func(leaf *x509.Certificate) (string, string) {
	return func(leaf *x509.Certificate) (string, string) {
		for _, s := range sans {
			if leaf.VerifyHostname(s) == nil {
				return "istiod " + s, ""
			}
		}
		return "", fmt.Sprintf("istiod certificate DNS SANs %v match none of %v", leaf.DNSNames, sans)
	}
}

// webhookCheck sends istiod's SNI on 15017. Without IstiodSANs (the
// gateway probes) the certificate's chain is judged but not its name;
// with them (probes.istiod-san) the name must match too.
func webhookCheck(t GatewayTarget) tlsCheck {
	sni := DefaultIstiodSAN
	if len(t.IstiodSANs) > 0 {
		sni = t.IstiodSANs[0]
	}
	c := tlsCheck{sni: sni, roots: t.Roots}
	if len(t.IstiodSANs) > 0 {
		c.identity = istiodIdentity(t.IstiodSANs)
	}
	return c
}

// spiffeWorkload reports whether u is spiffe://<td>/ns/<ns>/sa/<sa>.
func spiffeWorkload(u *url.URL, td string) bool {
	if u.Scheme != "spiffe" || !strings.EqualFold(u.Host, td) || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	parts := strings.Split(u.Path, "/")
	return len(parts) == 5 && parts[0] == "" && parts[1] == "ns" && parts[2] != "" &&
		parts[3] == "sa" && parts[4] != ""
}

// probeTLS runs the handshake on conn and judges what was presented. The
// chain is verified here rather than by crypto/tls so that a failure can be
// told apart (root, SAN, expiry) and its evidence kept.
func probeTLS(ctx context.Context, conn net.Conn, r *PortResult, c tlsCheck) {
	var presented []*x509.Certificate
	cfg := &tls.Config{
		ServerName: c.sni,
		NextProtos: c.alpn,
		MinVersion: max(c.minVersion, tls.VersionTLS12),
		// Verified below against the mesh roots, with Istio's SAN rules.
		InsecureSkipVerify: true, //nolint:gosec // see above
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			for i, der := range raw {
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return fmt.Errorf("parse presented certificate %d: %w", i, err)
				}
				presented = append(presented, cert)
			}
			return nil
		},
	}
	tc := tls.Client(conn, cfg)
	start := time.Now()
	err := tc.HandshakeContext(ctx)
	var note string
	switch {
	case err == nil:
	case len(presented) > 0 && remoteAlert(err):
		// The server showed its certificate, then refused us: a sidecar
		// behind 15443 requiring a client certificate (TLS 1.2) does this.
		// The certificate is still judged.
		note = "; then the peer ended the handshake: " + oneLine(err.Error())
	default:
		*r = r.failErr("TLS handshake", err)
		if len(presented) > 0 {
			r.setChain(presented)
		}
		return
	}
	r.Handshake = time.Since(start)
	st := tc.ConnectionState()
	r.TLSVersion = tls.VersionName(st.Version)
	r.ALPN = st.NegotiatedProtocol
	if len(presented) == 0 {
		r.Outcome, r.Detail = OutcomeError, "TLS handshake completed without a server certificate"
		return
	}
	r.setChain(presented)
	r.Outcome, r.Detail = judge(presented, c, time.Now())
	r.Verified = c.roots != nil && (r.Outcome == OutcomeOK || r.Outcome == OutcomeBadSAN)
	r.Detail += note
}

// judge checks the chain against the roots, then the leaf's identity.
func judge(chain []*x509.Certificate, c tlsCheck, now time.Time) (Outcome, string) {
	leaf := chain[0]
	var verified string
	if c.roots == nil {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return OutcomeExpired, validity(leaf, now)
		}
		verified = "chain not verified: no mesh roots given"
	} else {
		inter := x509.NewCertPool()
		for _, cert := range chain[1:] {
			inter.AddCert(cert)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         c.roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if invalid, ok := errors.AsType[x509.CertificateInvalidError](err); ok && invalid.Reason == x509.Expired {
			return OutcomeExpired, validity(invalid.Cert, now)
		}
		if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
			top := chain[len(chain)-1]
			if bytes.Equal(top.RawIssuer, top.RawSubject) {
				return OutcomeRootMismatch, fmt.Sprintf("chain does not lead to the mesh roots: it ends at root %q (sha256 %s), not a mesh root",
					top.Subject, fingerprint(top))
			}
			return OutcomeRootMismatch, fmt.Sprintf("chain does not lead to the mesh roots: it ends at %q (sha256 %s), issued by %q which is not a mesh root",
				top.Subject, fingerprint(top), top.Issuer)
		}
		if err != nil {
			return OutcomeError, "verify chain: " + oneLine(err.Error())
		}
		verified = "chain verified against the mesh roots"
	}
	if c.identity == nil {
		return OutcomeOK, fmt.Sprintf("certificate %s, %s", name(leaf), verified)
	}
	matched, problem := c.identity(leaf)
	if problem != "" {
		return OutcomeBadSAN, problem
	}
	return OutcomeOK, matched + ", " + verified
}

func validity(c *x509.Certificate, now time.Time) string {
	if now.Before(c.NotBefore) {
		return fmt.Sprintf("certificate %s (sha256 %s) not valid before %s", name(c), fingerprint(c), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("certificate %s (sha256 %s) expired at %s", name(c), fingerprint(c), c.NotAfter.UTC().Format(time.RFC3339))
}

// name is how a certificate is called in a Detail: its subject, or for the
// subject-less certificates Istio issues, its first SAN.
func name(c *x509.Certificate) string {
	switch {
	case len(c.Subject.String()) > 0:
		return strconv.Quote(c.Subject.String())
	case len(c.DNSNames) > 0:
		return "for " + c.DNSNames[0]
	case len(c.URIs) > 0:
		return "for " + c.URIs[0].String()
	}
	return "without subject or SAN"
}

func (r *PortResult) setChain(certs []*x509.Certificate) {
	r.Chain = make([]CertSummary, len(certs))
	for i, c := range certs {
		r.Chain[i] = summarize(c)
	}
	r.Peer = &r.Chain[0]
}

func summarize(c *x509.Certificate) CertSummary {
	return CertSummary{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		DNSNames:  c.DNSNames,
		URIs:      uriStrings(c.URIs),
		SHA256:    fingerprint(c),
		NotBefore: c.NotBefore,
		NotAfter:  c.NotAfter,
		IsCA:      c.IsCA,
	}
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func uriStrings(us []*url.URL) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}
