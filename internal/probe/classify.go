package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// classify maps a dial, TLS or HTTP error to an Outcome, by type and errno.
func classify(err error) Outcome {
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return OutcomeDNS
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return OutcomeNotTLS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return OutcomeRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return OutcomeNoRoute
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return OutcomeReset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return OutcomeTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return OutcomeClosed
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return OutcomeTimeout
	}
	return OutcomeError
}

// describe is the one-line Detail for a failed phase.
func describe(phase string, err error) string {
	msg := phase + ": " + oneLine(err.Error())
	switch classify(err) {
	case OutcomeTimeout:
		msg += " (no answer: packets dropped, blackholed or filtered on the way)"
	case OutcomeClosed:
		msg += " (peer closed the connection; a gateway does this when no route matches the SNI)"
	case OutcomeNotTLS:
		msg += " (the port answered in plain text where TLS was expected)"
	case OutcomeDNS:
		if de, ok := errors.AsType[*net.DNSError](err); ok && de.IsNotFound {
			msg += " (name not found)"
		}
	}
	return msg
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// remoteAlert reports whether err is a TLS alert sent by the peer.
func remoteAlert(err error) bool {
	// crypto/tls reports received alerts as *net.OpError{Op: "remote error"}
	// wrapping an unexported alert type.
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "remote error"
}
