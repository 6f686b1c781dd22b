// Package probe checks that the east-west gateways of a multi-cluster Istio
// mesh can be reached and present what the mesh expects: a TCP connect, a TLS
// handshake whose certificate is verified against the mesh roots with Istio's
// identity rules, and the gateway's readiness endpoint. Every port gets a
// typed Outcome with the evidence seen; a failed probe is a result, never a Go
// error. Only public facts of certificates are kept.
package probe

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Dialer is what probes dial through; *net.Dialer satisfies it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// PortKind says what a gateway port is for, and so how it is probed.
type PortKind string

const (
	// KindTLSPassthrough is 15443: mTLS to workloads, routed by SNI.
	KindTLSPassthrough PortKind = "tls-passthrough"
	// KindTLSIstiod is 15012: istiod's XDS and CA, TLS with istiod's DNS SAN.
	KindTLSIstiod PortKind = "tls-istiod"
	// KindTLSWebhook is 15017: istiod's injection and validation webhooks.
	KindTLSWebhook PortKind = "tls-webhook"
	// KindStatus is 15021: the gateway's plain HTTP readiness endpoint.
	KindStatus PortKind = "status"
	// KindHBONE is 15008 of an ambient east-west gateway (a Gateway API
	// Gateway of class istio-east-west): HBONE, mutual TLS 1.3 with ALPN h2
	// and the gateway's own workload certificate, no SNI match
	// (pilot/pkg/networking/core/listener_waypoint.go
	// buildConnectTerminateListener, buildCommonConnectTLSContext).
	KindHBONE PortKind = "hbone"
)

// HBONEPort is the port ztunnel and ambient gateways take HBONE on
// (pilot/pkg/model HBoneInboundListenPort).
const HBONEPort = 15008

// Port is one port of a gateway to probe.
type Port struct {
	Number int
	Kind   PortKind
}

// DefaultPorts are the four ports of Istio's east-west gateway.
func DefaultPorts() []Port {
	return []Port{
		{Number: 15443, Kind: KindTLSPassthrough},
		{Number: 15012, Kind: KindTLSIstiod},
		{Number: 15017, Kind: KindTLSWebhook},
		{Number: 15021, Kind: KindStatus},
	}
}

const (
	// DefaultTrustDomain is used when GatewayTarget.TrustDomain is empty.
	DefaultTrustDomain = "cluster.local"
	// DefaultIstiodSAN is used when GatewayTarget.IstiodSANs is empty; it is
	// also the SNI sent on the istiod and webhook ports.
	DefaultIstiodSAN = "istiod.istio-system.svc"
	// DefaultTimeout bounds each port's probe when ProbeGateway gets none.
	DefaultTimeout = 5 * time.Second
	// StatusPath is what the status port is asked for.
	StatusPath = "/healthz/ready"
)

// GatewayTarget is one east-west gateway and what it must present.
type GatewayTarget struct {
	Cluster, Network string
	// Address is the gateway's IP or DNS name.
	Address string
	// Ports to probe; DefaultPorts gives the east-west gateway's.
	Ports []Port
	// Roots are the mesh root(s). Nil: chains are not verified, and the
	// result says so (PortResult.Verified is false).
	Roots *x509.CertPool
	// TrustDomain is the SPIFFE trust domain expected on 15443
	// (DefaultTrustDomain if empty).
	TrustDomain string
	// TrustDomainAliases are accepted as well (MeshConfig
	// trustDomainAliases of the gateway's cluster).
	TrustDomainAliases []string
	// SNI for 15443: Istio's "outbound_.PORT_._.HOST" of a service behind
	// the gateway. Empty: TCP connect only, Outcome TCPOnly.
	SNI string
	// IstiodSANs are the DNS SANs accepted on 15012 (DefaultIstiodSAN if
	// empty); the first is the SNI sent on 15012 and 15017. When set, 15017
	// must present one of them too (the webhook's host, as the API server
	// verifies it); when empty, 15017's name is not judged.
	IstiodSANs []string
}

// Outcome is what a port probe found. The values are part of the JSON
// contract.
type Outcome string

const (
	OutcomeOK Outcome = "ok"
	// OutcomeTCPOnly: connected, but no TLS was tried (no SNI given); a
	// warning, not a pass.
	OutcomeTCPOnly Outcome = "tcp-only"
	// OutcomeDNS: the gateway name did not resolve.
	OutcomeDNS Outcome = "dns"
	// OutcomeRefused: nothing listens (RST to the SYN).
	OutcomeRefused Outcome = "refused"
	// OutcomeTimeout: no answer within the timeout (dropped or blackholed).
	OutcomeTimeout Outcome = "timeout"
	// OutcomeNoRoute: host or network unreachable.
	OutcomeNoRoute Outcome = "no-route"
	// OutcomeReset: the connection was reset after it was established.
	OutcomeReset Outcome = "reset"
	// OutcomeClosed: the peer closed the connection cleanly during the
	// exchange; an Envoy gateway does this when no filter chain matches
	// the SNI.
	OutcomeClosed Outcome = "closed"
	// OutcomeNotTLS: something answered, but not with TLS.
	OutcomeNotTLS Outcome = "not-tls"
	// OutcomeRootMismatch: the presented chain does not lead to the mesh
	// roots.
	OutcomeRootMismatch Outcome = "root-mismatch"
	// OutcomeBadSAN: the certificate is not for the expected identity.
	OutcomeBadSAN Outcome = "bad-san"
	// OutcomeExpired: a certificate of the chain is expired or not yet valid.
	OutcomeExpired Outcome = "expired"
	// OutcomeHTTPStatus: the status port answered other than 200.
	OutcomeHTTPStatus Outcome = "http-status"
	// OutcomeError: anything else; Detail says what.
	OutcomeError Outcome = "error"
)

// OK reports whether the port passed.
func (o Outcome) OK() bool { return o == OutcomeOK }

// Warning reports whether the port neither passed nor failed: it connected
// but was not checked further.
func (o Outcome) Warning() bool { return o == OutcomeTCPOnly }

// CertSummary holds the public facts of a certificate.
type CertSummary struct {
	Subject   string
	Issuer    string
	DNSNames  []string
	URIs      []string
	SHA256    string // fingerprint of the DER, lower-case hex
	NotBefore time.Time
	NotAfter  time.Time
	IsCA      bool
}

// PortResult is the outcome of probing one port, with what was seen.
type PortResult struct {
	Port    Port
	Address string // host:port dialed
	Outcome Outcome
	Detail  string // one line, human: what was seen
	// Connect is the time to establish TCP (name resolution included);
	// Handshake the TLS handshake. Zero when not reached.
	Connect, Handshake time.Duration
	// Response is the time from the status request to its answer.
	Response time.Duration
	// Peer is the leaf the server presented, nil if none.
	Peer *CertSummary
	// Chain is every certificate presented, leaf first.
	Chain []CertSummary
	// Verified is true when the chain was verified against the target's roots.
	Verified bool
	// TLSVersion and ALPN are what the handshake negotiated.
	TLSVersion string
	ALPN       string
	HTTPStatus int // status port only
}

// ProbeGateway probes t's ports concurrently and returns one result per
// port, in t.Ports order. Each probe is bounded by timeout (DefaultTimeout if
// not positive) and by ctx. A nil d dials with a zero net.Dialer.
func ProbeGateway(ctx context.Context, d Dialer, t GatewayTarget, timeout time.Duration) []PortResult {
	if d == nil {
		d = &net.Dialer{}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	results := make([]PortResult, len(t.Ports))
	var wg sync.WaitGroup
	for i, p := range t.Ports {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			results[i] = probePort(pctx, d, t, p)
			cancel()
		})
	}
	wg.Wait()
	return results
}

func probePort(ctx context.Context, d Dialer, t GatewayTarget, p Port) PortResult {
	r := PortResult{Port: p, Address: net.JoinHostPort(t.Address, strconv.Itoa(p.Number))}
	switch {
	case t.Address == "":
		return r.fail(OutcomeError, "no gateway address")
	case p.Number <= 0 || p.Number > 65535:
		return r.fail(OutcomeError, fmt.Sprintf("invalid port number %d", p.Number))
	}
	switch p.Kind {
	case KindTLSPassthrough, KindTLSIstiod, KindTLSWebhook, KindStatus, KindHBONE:
	default:
		return r.fail(OutcomeError, fmt.Sprintf("unknown port kind %q", p.Kind))
	}

	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", r.Address)
	if err != nil {
		return r.failErr("connect", err)
	}
	r.Connect = time.Since(start)
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A deadline in the past interrupts blocked I/O when ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	switch p.Kind {
	case KindTLSPassthrough:
		if t.SNI == "" {
			r.Outcome = OutcomeTCPOnly
			r.Detail = fmt.Sprintf("TCP connect in %v; no SNI given, so the workload certificate behind the gateway was not checked", r.Connect.Round(time.Microsecond))
			return r
		}
		probeTLS(ctx, conn, &r, passthroughCheck(t))
	case KindTLSIstiod:
		probeTLS(ctx, conn, &r, istiodCheck(t))
	case KindTLSWebhook:
		probeTLS(ctx, conn, &r, webhookCheck(t))
	case KindHBONE:
		probeTLS(ctx, conn, &r, hboneCheck(t))
		if r.Outcome == OutcomeOK {
			r.Detail += "; no client certificate sent (meshdoctor holds no mesh identity), so the gateway's certificate was checked, not an HBONE tunnel"
		}
	case KindStatus:
		probeStatus(ctx, conn, &r)
	}
	return r
}

func (r PortResult) fail(o Outcome, detail string) PortResult {
	r.Outcome, r.Detail = o, detail
	return r
}

func (r PortResult) failErr(phase string, err error) PortResult {
	return r.fail(classify(err), describe(phase, err))
}
