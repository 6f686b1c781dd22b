package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// PodRef names a pod's container in a cluster (kube context).
type PodRef struct {
	Context, Namespace, Name, Container string
}

func (p PodRef) String() string { return p.Context + "/" + p.Namespace + "/" + p.Name }

// Execer runs a command in a pod's container through the API server and
// returns its output; a command that ran and exited non-zero is not an
// error (exitCode says so), a command that could not be run is.
type Execer interface {
	Exec(ctx context.Context, pod PodRef, cmd []string) (stdout, stderr []byte, exitCode int, err error)
}

// CurlAttempt is one request of a curl probe.
type CurlAttempt struct {
	// Exit is curl's exit code (0: a response arrived).
	Exit int `json:"exit"`
	// Status is the HTTP status (0 when none).
	Status int `json:"status"`
	// Time is curl's time_total.
	Time time.Duration `json:"time"`
	// Responder is who answered: the instance/hostname in the body, else
	// the server header; empty when unknown.
	Responder string `json:"responder,omitempty"`
}

// marker separates the attempts in the combined output of one exec.
const marker = "@@meshdoctor@@"

// CurlCommand is the shell command that makes n requests to url from inside
// a pod with one exec (one round trip through the API server). The target is
// validated again here (ValidateTarget), whoever built it: a target that
// starts with "-" would reach curl as an option.
func CurlCommand(url string, n int, timeout time.Duration) ([]string, error) {
	if err := ValidateTarget(url); err != nil {
		return nil, err
	}
	secs := max(1, int(timeout.Round(time.Second)/time.Second))
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); curl -sS -m %d -D - -w '\n%s %%{http_code} %%{time_total} ' %s 2>/dev/null; echo "$?"; done`,
		n, secs, marker, shellQuote(url))
	return []string{"sh", "-c", script}, nil
}

// ValidateTarget accepts a curl probe target: host[:port][/path] or an
// http(s) URL. It rejects what curl would read as an option (a leading
// "-"), whitespace and control characters, other schemes (file://,
// dict://, ...) and a target without a host.
func ValidateTarget(target string) error {
	if target == "" {
		return errors.New("target is empty")
	}
	if strings.HasPrefix(target, "-") {
		return fmt.Errorf("target %q starts with \"-\": curl would read it as an option", target)
	}
	for _, r := range target {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("target %q holds whitespace or a control character", target)
		}
	}
	raw := target
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: want host[:port][/path] or an http(s) URL, not %s://", target, u.Scheme)
	}
	if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") {
		return fmt.Errorf("target %q has no host", target)
	}
	if u.User != nil {
		return fmt.Errorf("target %q holds credentials (user@): not sent from probe pods", target)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var (
	// helloworld: "Hello version: v1, instance: helloworld-v1-776f57d5f6-s7zfc"
	helloRe = regexp.MustCompile(`instance: ([A-Za-z0-9.\-]+)`)
	// podinfo and friends: "hostname": "podinfo-5d8b6c4b8-abcde"
	hostRe = regexp.MustCompile(`"hostname":\s*"([^"]+)"`)
)

// ParseCurl reads the output of CurlCommand.
func ParseCurl(out []byte) ([]CurlAttempt, error) {
	var attempts []CurlAttempt
	var block bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, marker)
		if i < 0 {
			block.WriteString(line + "\n")
			continue
		}
		block.WriteString(line[:i])
		f := strings.Fields(line[i+len(marker):])
		if len(f) != 3 {
			return nil, fmt.Errorf("curl probe: malformed result line %q", line)
		}
		a := CurlAttempt{}
		a.Status, _ = strconv.Atoi(f[0])
		if secs, err := strconv.ParseFloat(f[1], 64); err == nil {
			a.Time = time.Duration(secs * float64(time.Second))
		}
		var err error
		if a.Exit, err = strconv.Atoi(f[2]); err != nil {
			return nil, fmt.Errorf("curl probe: malformed exit code in %q", line)
		}
		a.Responder = responder(block.String())
		attempts = append(attempts, a)
		block.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("curl probe: read output: %w", err)
	}
	return attempts, nil
}

func responder(resp string) string {
	if m := helloRe.FindStringSubmatch(resp); m != nil {
		return m[1]
	}
	if m := hostRe.FindStringSubmatch(resp); m != nil {
		return m[1]
	}
	return ""
}

// CurlExitMeaning explains the curl exit codes a mesh probe meets.
func CurlExitMeaning(code int) string {
	switch code {
	case 0:
		return "ok"
	case 6:
		return "could not resolve host (DNS: is the service known in this cluster, is DNS capture on?)"
	case 7:
		return "connection refused"
	case 28:
		return "timed out"
	case 35:
		return "TLS handshake failed"
	case 52:
		return "empty reply from server"
	case 56:
		return "connection reset while receiving (often mTLS or a proxy dropping the stream)"
	}
	return fmt.Sprintf("curl exit %d", code)
}

// Percentile returns the p-th percentile (0..100) of the attempts' times.
func Percentile(as []CurlAttempt, p float64) time.Duration {
	var ts []time.Duration
	for _, a := range as {
		if a.Exit == 0 {
			ts = append(ts, a.Time)
		}
	}
	if len(ts) == 0 {
		return 0
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	idx := int(float64(len(ts)-1) * p / 100)
	return ts[idx]
}

// ConnectResult is the outcome of a TCP connect attempt made with curl.
type ConnectResult struct {
	Exit    int
	Connect time.Duration
}

// Connected reports whether the TCP connection was made: the TLS or HTTP
// exchange after it may fail (curl exits 35, 52, 56 there), which is not
// this probe's concern. Connect is zero when curl did not report it.
func (c ConnectResult) Connected() bool {
	switch c.Exit {
	case 3, 6, 7, 28:
		return false
	}
	return true
}

// ConnectCommand connects to addr:port from inside a pod and reports curl's
// time_connect and exit code.
func ConnectCommand(addr string, port int, timeout time.Duration) []string {
	secs := max(1, int(timeout.Round(time.Second)/time.Second))
	// curl leaves out -w on some failures; the shell prints the result line.
	script := fmt.Sprintf(`t=$(curl -sk -o /dev/null --connect-timeout %d -m %d -w '%%{time_connect}' %s </dev/null 2>/dev/null); e=$?; echo "%s ${t:-0} $e"`,
		secs, secs+1, shellQuote(fmt.Sprintf("https://%s:%d/", addr, port)), marker)
	return []string{"sh", "-c", script}
}

// ParseConnect reads the output of ConnectCommand.
func ParseConnect(out []byte) (ConnectResult, error) {
	s := string(out)
	i := strings.LastIndex(s, marker)
	if i < 0 {
		return ConnectResult{}, fmt.Errorf("connect probe: no result in %q", s)
	}
	f := strings.Fields(s[i+len(marker):])
	if len(f) != 2 {
		return ConnectResult{}, fmt.Errorf("connect probe: malformed result %q", s[i:])
	}
	var r ConnectResult
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return r, fmt.Errorf("connect probe: time %q: %w", f[0], err)
	}
	r.Connect = time.Duration(secs * float64(time.Second))
	if r.Exit, err = strconv.Atoi(f[1]); err != nil {
		return r, fmt.Errorf("connect probe: exit %q: %w", f[1], err)
	}
	return r, nil
}
