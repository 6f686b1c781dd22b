//go:build tools

// Package tools records the binary that `make testbin` builds from this module:
// go.etcd.io/etcd/server/v3 has package main at its root (etcdmain.Main).
package tools

import _ "go.etcd.io/etcd/server/v3"
