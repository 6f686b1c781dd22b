//go:build tools

// Package tools records the binaries that hack/testbin.sh builds from this
// module: GoReleaser, and cyclonedx-gomod, which writes the release's SBOMs
// (GoReleaser's default SBOM tool, syft, is a far larger build).
package tools

import (
	_ "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
	_ "github.com/goreleaser/goreleaser/v2"
)
