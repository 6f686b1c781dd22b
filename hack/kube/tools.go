//go:build tools

// Package tools records the binaries that `make testbin` builds from this module.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
