//go:build tools

// Package tools records the binary that `make testbin` builds from this module:
// istio.io/istio/pilot/cmd/pilot-discovery, istiod, run by the integration
// tests as the real oracle of the endpoints a sidecar receives
// (internal/testenv/istiod.go).
package tools

import _ "istio.io/istio/pilot/cmd/pilot-discovery"
