package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"unicode/utf8"

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
	// ReasonThrottled is a 429 (API priority and fairness, a proxy's limit).
	ReasonThrottled Reason = "throttled"
	// ReasonUnavailable is a 503 (API server starting or overloaded, an
	// aggregated API down).
	ReasonUnavailable Reason = "unavailable"
	// ReasonTooLarge is a response over the --max-response-size cap.
	ReasonTooLarge Reason = "too-large"
	// ReasonNotTried is a remote secret meshdoctor refuses to use from this
	// machine: it needs an exec plugin, a local file, or a local address.
	ReasonNotTried Reason = "not-tried"
	ReasonOther    Reason = "error"
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

// classify turns a client error into a FetchError. The message is bounded
// and scrubbed of anything token-like (a server's error body is hostile
// input too).
func classify(verb, resource string, err error) *FetchError {
	fe := &FetchError{Verb: verb, Resource: resource, Message: ScrubMessage(err.Error())}
	var netErr net.Error
	var opErr *net.OpError
	var busy *BusyError
	var tooLarge *ResponseTooLargeError
	switch {
	case errors.As(err, &busy):
		fe.Reason = ReasonUnavailable
		if busy.Code == 429 {
			fe.Reason = ReasonThrottled
		}
		fe.Message = busy.Error()
	case errors.As(err, &tooLarge):
		fe.Reason, fe.Message = ReasonTooLarge, tooLarge.Error()
	case apierrors.IsForbidden(err):
		fe.Reason = ReasonForbidden
	case apierrors.IsUnauthorized(err):
		fe.Reason = ReasonUnauthorized
	case apierrors.IsNotFound(err):
		fe.Reason = ReasonNotFound
	case apierrors.IsTooManyRequests(err):
		fe.Reason = ReasonThrottled
	case apierrors.IsServiceUnavailable(err):
		fe.Reason = ReasonUnavailable
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

// maxMessage bounds a FetchError message.
const maxMessage = 400

var tokenLike = []*regexp.Regexp{
	// JWTs (service account tokens, OIDC id tokens).
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`),
	// Authorization values.
	regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`),
	// key=value / "key": "value" for secret-sounding keys.
	regexp.MustCompile(`(?i)(token|password|secret|authorization|api[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',}]{4,}`),
}

// longRun is a run of base64 or hex characters long enough to be key
// material; it counts only when it mixes cases and digits (keyLike), so
// that API paths and resource names stay readable.
var longRun = regexp.MustCompile(`[A-Za-z0-9+_-]{32,}={0,2}`)

func keyLike(s string) bool {
	var upper, lower, digit bool
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		}
	}
	return digit && (upper && lower || !upper && !lower || !upper && strings.Trim(s, "0123456789abcdef") == "")
}

// ScrubMessage bounds a message from a server or a client library and
// replaces anything that looks like a credential with [redacted].
func ScrubMessage(msg string) string {
	msg = strings.ToValidUTF8(msg, "?")
	for i, re := range tokenLike {
		if i == 2 {
			msg = re.ReplaceAllString(msg, "$1$2[redacted]")
			continue
		}
		msg = re.ReplaceAllString(msg, "[redacted]")
	}
	msg = longRun.ReplaceAllStringFunc(msg, func(run string) string {
		if keyLike(run) {
			return "[redacted]"
		}
		return run
	})
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// statusMessage is the message of a Kubernetes Status body, or the body's
// text.
func statusMessage(body []byte) string {
	var st struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		return st.Message
	}
	return string(body)
}
