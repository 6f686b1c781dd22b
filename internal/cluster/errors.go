package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Reason classifies why a fetch failed.
type Reason string

const (
	ReasonForbidden    Reason = "forbidden"
	ReasonUnauthorized Reason = "unauthorized"
	ReasonTimeout      Reason = "timeout"
	ReasonUnreachable  Reason = "unreachable"
	ReasonNotFound     Reason = "not-found"
	ReasonOther        Reason = "error"
)

// FetchError is a classified failure to read something from a cluster.
type FetchError struct {
	Verb     string `json:"verb"`
	Resource string `json:"resource"`
	Reason   Reason `json:"reason"`
	Message  string `json:"message"`
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("%s: %s %s: %s", e.Reason, e.Verb, e.Resource, e.Message)
}

// classify turns a client error into a FetchError.
func classify(verb, resource string, err error) *FetchError {
	fe := &FetchError{Verb: verb, Resource: resource, Message: err.Error()}
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case apierrors.IsForbidden(err):
		fe.Reason = ReasonForbidden
	case apierrors.IsUnauthorized(err):
		fe.Reason = ReasonUnauthorized
	case apierrors.IsNotFound(err):
		fe.Reason = ReasonNotFound
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err),
		errors.As(err, &netErr) && netErr.Timeout():
		fe.Reason = ReasonTimeout
	case errors.As(err, &opErr):
		fe.Reason = ReasonUnreachable
	default:
		fe.Reason = ReasonOther
	}
	return fe
}
