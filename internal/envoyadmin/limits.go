package envoyadmin

import (
	"errors"
	"fmt"
	"io"
)

// DefaultMaxDumpBytes bounds one admin response (a config dump, /clusters,
// istiod's debug pages), read by port-forward or exec. Measured with the
// generator in gen_test.go: a sidecar's /config_dump?include_eds for 5,000
// services of 10 endpoints each is 63 MB (its /clusters?format=json 34 MB),
// so 128 MiB holds a mesh of ~10,000 services per sidecar; past that a
// Sidecar resource should scope the proxy, or --max-dump-size raises it.
const DefaultMaxDumpBytes = 128 << 20

// MaxDumpFlag is the flag that raises DefaultMaxDumpBytes, and the hint of
// the error that names it.
const (
	MaxDumpFlag = "--max-dump-size"
	maxDumpHint = "raise it with " + MaxDumpFlag
)

// TooLargeError is a response or an exec output cut at its cap: reading
// stopped there.
type TooLargeError struct {
	What  string // "response of GET /config_dump?include_eds", "output of sh"
	Limit int64
	Hint  string // how to raise or avoid the cap: "raise it with --max-dump-size"
}

func (e *TooLargeError) Error() string {
	msg := fmt.Sprintf("%s is larger than the %s cap; stopped reading there", e.What, sizeString(e.Limit))
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// errTooLarge fails a write past a cap, which stops an exec stream's copy.
var errTooLarge = errors.New("output cap reached")

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d-byte", n)
}

// readCapped reads r to its end, or fails with a *TooLargeError after limit
// bytes without reading further.
func readCapped(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{What: what, Limit: limit, Hint: maxDumpHint}
	}
	return data, nil
}
