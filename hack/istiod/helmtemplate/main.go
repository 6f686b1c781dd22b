// Command helmtemplate renders one of the Helm charts of the pinned Istio
// module offline, with Istio's own Helm code (istio.io/istio/operator/pkg/helm,
// the renderer istioctl uses, over the charts compiled into the module:
// manifests/charts/<chart>), the way `helm template RELEASE istio/<chart>
// -n NAMESPACE -f values.yaml` does. hack/render runs it for the charts
// istioctl has no command for (the istio/gateway chart). Values are YAML
// on stdin; the manifests go to stdout.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"istio.io/istio/operator/pkg/helm"
	"istio.io/istio/operator/pkg/values"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "helmtemplate:", err)
		os.Exit(1)
	}
}

func run() error {
	chart := flag.String("chart", "gateway", "chart under manifests/charts")
	release := flag.String("release", "", "release name")
	namespace := flag.String("namespace", "", "release namespace")
	flag.Parse()
	if *release == "" || *namespace == "" {
		return fmt.Errorf("-release and -namespace are required")
	}
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return fmt.Errorf("read values: %w", err)
	}
	vals, err := values.MapFromYaml(in)
	if err != nil {
		return fmt.Errorf("values: %w", err)
	}
	if vals == nil {
		vals = values.Map{}
	}
	mfs, warnings, err := helm.Render(*release, *namespace, *chart, values.Map{"spec": map[string]any{"values": map[string]any(vals)}}, nil)
	if err != nil {
		return fmt.Errorf("render %s: %w", *chart, err)
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	for _, m := range mfs {
		fmt.Printf("---\n%s\n", m.Content)
	}
	return nil
}
