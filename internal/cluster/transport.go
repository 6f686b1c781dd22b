package cluster

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxResponseSize caps each API server response body. It is chosen
// from TestListSizesOfALargeCluster: a list of 20,000 realistic Services
// or EndpointSlices, as the API server serialises it, is well under half
// of it (see that test for the figures).
const DefaultMaxResponseSize int64 = 256 << 20

// MaxResponseSizeFlag is the CLI flag that raises the response cap.
const MaxResponseSizeFlag = "--max-response-size"

// MaxRetryAfter is the longest Retry-After meshdoctor waits for, once per
// request, and only within the request's remaining timeout.
const MaxRetryAfter = 2 * time.Second

// ResponseTooLargeError is a response body that exceeded the cap; the read
// stops there.
type ResponseTooLargeError struct {
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("response larger than %s: stopped reading (raise the cap with %s)", FormatBytes(e.Limit), MaxResponseSizeFlag)
}

// BusyError is a 429 or 503 answer, after the one Retry-After meshdoctor
// honours.
type BusyError struct {
	Code       int
	RetryAfter time.Duration // 0: none sent
	Message    string        // the server's, bounded and scrubbed
}

func (e *BusyError) Error() string {
	s := fmt.Sprintf("unavailable (%d)", e.Code)
	if e.Code == http.StatusTooManyRequests {
		s = fmt.Sprintf("throttled (%d)", e.Code)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", Retry-After %s", e.RetryAfter)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// guardResponses wraps a client's transport: each response body is capped
// at max bytes (0: DefaultMaxResponseSize); a 429 or 503 with a
// Retry-After of at most MaxRetryAfter that fits in the request's remaining
// time is retried once, and then becomes a BusyError (so that client-go
// does not retry it ten more times); other 5xx lose their Retry-After for
// the same reason. Protocol upgrades (exec, port-forward) pass untouched.
func guardResponses(max int64) func(http.RoundTripper) http.RoundTripper {
	if max <= 0 {
		max = DefaultMaxResponseSize
	}
	return func(rt http.RoundTripper) http.RoundTripper { return &guardTransport{rt: rt, max: max} }
}

type guardTransport struct {
	rt  http.RoundTripper
	max int64
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if busy(resp.StatusCode) {
		if wait, ok := retryAfter(resp.Header.Get("Retry-After")); ok && t.mayRetry(req, wait) {
			discard(resp)
			timer := time.NewTimer(wait)
			select {
			case <-req.Context().Done():
				timer.Stop()
				return nil, req.Context().Err()
			case <-timer.C:
			}
			if resp, err = t.rt.RoundTrip(req); err != nil {
				return nil, err
			}
		}
	}
	if busy(resp.StatusCode) {
		wait, _ := retryAfter(resp.Header.Get("Retry-After"))
		msg := readSome(resp, 2048)
		return nil, &BusyError{Code: resp.StatusCode, RetryAfter: wait, Message: ScrubMessage(msg)}
	}
	if resp.StatusCode >= 500 {
		resp.Header.Del("Retry-After")
	}
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil {
		return resp, nil
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, &ResponseTooLargeError{Limit: t.max}
	}
	resp.Body = &limitedBody{rc: resp.Body, max: t.max}
	return resp, nil
}

func busy(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// mayRetry: only requests without a body are replayed, and only when the
// wait ends before the request's deadline.
func (t *guardTransport) mayRetry(req *http.Request, wait time.Duration) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || wait > MaxRetryAfter {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	if dl, ok := req.Context().Deadline(); ok && time.Until(dl) <= wait {
		return false
	}
	return true
}

// retryAfter parses Retry-After: delay-seconds or an HTTP date.
func retryAfter(h string) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 || s > 86400 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := time.Until(t).Round(time.Second)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func readSome(resp *http.Response, n int64) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, n))
	return statusMessage(b)
}

// limitedBody fails the read once more than max bytes arrived.
type limitedBody struct {
	rc   io.ReadCloser
	max  int64
	read int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.read > b.max {
		return 0, &ResponseTooLargeError{Limit: b.max}
	}
	if rest := b.max - b.read + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.read > b.max {
		return n, &ResponseTooLargeError{Limit: b.max}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// FormatBytes prints a byte count in binary units (256 MiB).
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ParseBytes reads a size: a number of bytes with an optional binary unit
// (KiB, MiB, GiB; Ki, Mi, Gi and K, M, G mean the same).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix []string
		mult   int64
	}{{[]string{"GiB", "Gi", "G"}, 1 << 30}, {[]string{"MiB", "Mi", "M"}, 1 << 20}, {[]string{"KiB", "Ki", "K"}, 1 << 10}, {[]string{"B"}, 1}} {
		found := false
		for _, suf := range u.suffix {
			if strings.HasSuffix(t, suf) {
				t, mult, found = strings.TrimSpace(strings.TrimSuffix(t, suf)), u.mult, true
				break
			}
		}
		if found {
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

// WrappedRoundTripper lets client-go reach the transport underneath (to
// cancel requests, close idle connections).
func (t *guardTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }
