//go:build tools

// Package tools records the binaries that `make testbin` builds from this
// module: kube-apiserver (the integration tier) and kubectl (the krew plugin
// test runs `kubectl meshdoctor` through kubectl's own plugin lookup).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
