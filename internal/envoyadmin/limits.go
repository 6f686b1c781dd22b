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
	return readCappedSized(r, limit, what, 0)
}

// readCappedSized is readCapped for a body whose length is announced (an
// HTTP Content-Length; 0 if unknown): when it is within the cap, the body
// is read into one buffer of that size, else into chunks joined once at the
// end. io.ReadAll's growing appends held ~2.3x a 97 MB dump at their peak
// (measured with peakHeap); chunks hold it at most twice, one buffer once
// (TestReadCappedPeak).
// An announced length is only a first buffer size: a body that is longer
// goes on in chunks, and the cap holds either way.
func readCappedSized(r io.Reader, limit int64, what string, size int64) ([]byte, error) {
	const minChunk, maxChunk = 64 << 10, 4 << 20
	r = io.LimitReader(r, limit+1)
	next := int64(minChunk)
	if size > 0 && size <= limit {
		next = size + 1 // +1: the read that finds the end fits too
	}
	var chunks [][]byte
	var total int64
	for {
		buf := make([]byte, next)
		n, err := io.ReadFull(r, buf)
		total += int64(n)
		if total > limit {
			return nil, &TooLargeError{What: what, Limit: limit, Hint: maxDumpHint}
		}
		chunks = append(chunks, buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		next = min(max(2*next, minChunk), maxChunk)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for i, c := range chunks {
		out = append(out, c...)
		chunks[i] = nil
	}
	return out, nil
}
