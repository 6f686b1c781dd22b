//go:build tools

// Package tools records the binaries that hack/testbin.sh builds from this
// module: istio.io/istio/pilot/cmd/pilot-discovery, istiod, run by the
// integration tests as the real oracle of the endpoints a sidecar receives
// (internal/testenv/istiod.go), and istio.io/istio/istioctl/cmd/istioctl,
// which `make fixtures` runs to render testdata/installs (hack/render).
package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
