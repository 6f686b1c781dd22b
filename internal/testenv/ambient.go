package testenv

import (
	"os"
	"path/filepath"
)

// GatewayAPICRDs is where hack/testbin.sh writes the Gateway API CRDs of
// the pinned Istio module (relative to the repository root). The ambient
// scenarios (testdata/scenarios/install-amb*) hold Gateway API objects and
// need them.
const GatewayAPICRDs = "bin/gateway-api-crds.yaml"

// HasGatewayAPICRDs reports whether the Gateway API CRDs are there to
// install under root.
func HasGatewayAPICRDs(root string) bool { return fileExists(filepath.Join(root, GatewayAPICRDs)) }

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
