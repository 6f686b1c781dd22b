package checks

import (
	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// ExpectedTableForTest is the expected endpoint table of a service port for
// a sidecar in c on c's network, as endpoints.proxy-table computes it
// (gateways by IP only).
func ExpectedTableForTest(m *mesh.Mesh, c *mesh.Cluster, ns, name string, port int32) []envoyadmin.Endpoint {
	return envoyadmin.Expected(serviceInput(m, c, c.Network, nil, nil, ns, name, port))
}
