package main

// The ambient rows of the install matrix, the way the istio.io guide
// "Install ambient multi-primary on different networks"
// (docs/ambient/install/multicluster/multi-primary_multi-network) installs
// them:
//
//   - istioctl manifest generate -f <IstioOperator>: profile ambient,
//     components.pilot.k8s.env AMBIENT_ENABLE_MULTI_NETWORK=true,
//     values.global meshID, multiCluster.clusterName and network (the
//     guide's cluster1.yaml; istiod, istio-cni and ztunnel);
//   - samples/multicluster/gen-eastwest-gateway.sh --network N --ambient
//     (a Gateway API Gateway of class istio-east-west, HBONE on 15008),
//     applied as printed;
//   - samples/helloworld (one version per cluster) and samples/curl in the
//     sample namespace, labelled istio.io/dataplane-mode=ambient (no
//     sidecars), and the guide's kubectl label svc helloworld
//     istio.io/global=true;
//   - a waypoint for the sample namespace from istioctl waypoint generate
//     --for service, and helloworld labelled istio.io/use-waypoint with its
//     name (docs/ambient/usage/waypoint);
//   - in a mixed row, a sidecar cluster rendered as the sidecar rows are
//     (rows in main.go), beside the ambient ones.
//
// The Gateway API CRDs are left out like the Istio CRDs; what istiod's
// gateway deployment controller and the cloud make for the east-west
// Gateway (its Service, its status address) is made at load time
// (internal/scenario ambient.go).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"log/slog"
)

// ambientCluster is what the ambient guide has an operator decide for one
// cluster.
type ambientCluster struct {
	name, network, helloworld string
	// waypoint names the sample namespace's waypoint ("" for none).
	waypoint string
	// sidecars: the cluster also runs sidecars (a mixed mesh): the classic
	// east-west gateway (gen-eastwest-gateway.sh without --ambient, through
	// istioctl manifest generate, and expose-services.yaml) and a namespace
	// sample-sidecar with injection on, holding samples/curl injected by
	// istioctl kube-inject with this install's own injector.
	sidecars bool
}

// ambientMixedGateway is the ambient east-west Gateway's name in a mixed
// cluster.
const ambientMixedGateway = "istio-ambient-eastwestgateway"

type ambientRow struct {
	name, doc string
	clusters  []ambientCluster
}

func ambientRows() []ambientRow {
	return []ambientRow{
		{name: "ambient-multi-network", doc: "istio.io: Install ambient multi-primary on different networks, with a waypoint for helloworld",
			clusters: []ambientCluster{{name: "cluster-1", network: "network1", helloworld: "v1", waypoint: "waypoint"},
				{name: "cluster-2", network: "network2", helloworld: "v2", waypoint: "waypoint"}}},
		{name: "ambient-waypoint-mismatch", doc: "the ambient multi-network row with cluster-2's waypoint generated under another name (helloworld-waypoint)",
			clusters: []ambientCluster{{name: "cluster-1", network: "network1", helloworld: "v1", waypoint: "waypoint"},
				{name: "cluster-2", network: "network2", helloworld: "v2", waypoint: "helloworld-waypoint"}}},
		{name: "ambient-mixed", doc: "the ambient multi-network row where each cluster also runs sidecars: both east-west gateway kinds, an injected namespace",
			clusters: []ambientCluster{{name: "cluster-1", network: "network1", helloworld: "v1", sidecars: true},
				{name: "cluster-2", network: "network2", helloworld: "v2", sidecars: true}}},
	}
}

// iop is the guide's cluster<N>.yaml.
func (c ambientCluster) iop() map[string]any {
	return map[string]any{"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": map[string]any{
		"profile": "ambient",
		"components": map[string]any{"pilot": map[string]any{"k8s": map[string]any{"env": []any{
			map[string]any{"name": "AMBIENT_ENABLE_MULTI_NETWORK", "value": "true"}}}}},
		"values": map[string]any{"global": map[string]any{"meshID": meshID, "multiCluster": map[string]any{"clusterName": c.name}, "network": c.network}},
	}}
}

// renderAmbient writes the ambient rows (only: one row's name, or all).
func (r *renderer) renderAmbient(ctx context.Context, out, only string) error {
	for _, row := range ambientRows() {
		if only != "" && row.name != only {
			continue
		}
		start := time.Now()
		dir := filepath.Join(out, row.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, c := range row.clusters {
			text, err := r.ambientCluster(ctx, row, c)
			if err != nil {
				return fmt.Errorf("row %s cluster %s: %w", row.name, c.name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, c.name+".yaml"), text, 0o644); err != nil {
				return err
			}
		}
		slog.Info("rendered", "row", row.name, "clusters", len(row.clusters), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (r *renderer) ambientCluster(ctx context.Context, rw ambientRow, c ambientCluster) ([]byte, error) {
	var objs []map[string]any
	var inputs []string
	cp, in, err := r.manifestGenerate(ctx, rw.name, c.name, c.iop())
	if err != nil {
		return nil, err
	}
	objs, inputs = append(objs, cp...), append(inputs, in...)

	ew, err := r.exec(ctx, nil, "bash", filepath.Join(r.src, "samples/multicluster/gen-eastwest-gateway.sh"), "--network", c.network, "--ambient")
	if err != nil {
		return nil, err
	}
	g, err := decode(ew)
	if err != nil {
		return nil, fmt.Errorf("gen-eastwest-gateway.sh --ambient output: %w", err)
	}
	what := "samples/multicluster/gen-eastwest-gateway.sh --network " + c.network + " --ambient | kubectl apply -f -"
	if c.sidecars {
		// Both gateways would be istio-system/istio-eastwestgateway (istiod
		// names the ambient Gateway's Service after it): the operator of a
		// mixed cluster renames one.
		for _, o := range g {
			meta(o)["name"] = ambientMixedGateway
		}
		what += "\n(the printed Gateway renamed " + ambientMixedGateway + ": the classic gateway's Service is istio-eastwestgateway)"
	}
	inputs = append(inputs, what)
	objs = append(objs, g...)

	if c.sidecars {
		gw, what, err := r.sidecarEastWest(ctx, c)
		if err != nil {
			return nil, err
		}
		objs = append(objs, gw...)
		inputs = append(inputs, what...)
	}

	objs = append(objs, namespace("istio-system", map[string]string{"topology.istio.io/network": c.network}),
		namespace("sample", map[string]string{"istio.io/dataplane-mode": "ambient"}))
	inputs = append(inputs, "kubectl create namespace istio-system; kubectl label namespace istio-system topology.istio.io/network="+c.network,
		"kubectl create namespace sample; kubectl label namespace sample istio.io/dataplane-mode=ambient")

	if c.helloworld != "" {
		hw, err := os.ReadFile(filepath.Join(r.src, "samples/helloworld/helloworld.yaml"))
		if err != nil {
			return nil, err
		}
		all, err := decode(hw)
		if err != nil {
			return nil, err
		}
		picked := withLabel(all, "service", "helloworld")
		picked = append(picked, withLabel(all, "version", c.helloworld)...)
		cu, err := os.ReadFile(filepath.Join(r.src, "samples/curl/curl.yaml"))
		if err != nil {
			return nil, err
		}
		curl, err := decode(cu)
		if err != nil {
			return nil, err
		}
		inNamespace(picked, "sample")
		inNamespace(curl, "sample")
		// The guide: kubectl label svc helloworld -n sample istio.io/global="true".
		svc := find(picked, "Service", "sample", "helloworld")
		if svc == nil {
			return nil, fmt.Errorf("samples/helloworld/helloworld.yaml has no Service helloworld")
		}
		labels, _ := meta(svc)["labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
			meta(svc)["labels"] = labels
		}
		labels["istio.io/global"] = "true"
		inputs = append(inputs, "kubectl apply -n sample -f samples/helloworld/helloworld.yaml -l service=helloworld and -l version="+c.helloworld,
			"kubectl apply -n sample -f samples/curl/curl.yaml",
			"kubectl label svc helloworld -n sample istio.io/global=true")
		if c.waypoint != "" {
			wp, err := r.istioctlRun(ctx, nil, "waypoint", "generate", "-n", "sample", "--name", c.waypoint, "--for", "service")
			if err != nil {
				return nil, err
			}
			w, err := decode(wp)
			if err != nil {
				return nil, fmt.Errorf("istioctl waypoint generate output: %w", err)
			}
			objs = append(objs, w...)
			labels["istio.io/use-waypoint"] = c.waypoint
			inputs = append(inputs, "istioctl waypoint generate -n sample --name "+c.waypoint+" --for service | kubectl apply -f -",
				"kubectl label svc helloworld -n sample istio.io/use-waypoint="+c.waypoint)
		}
		objs = append(objs, picked...)
		objs = append(objs, curl...)
	}
	if c.sidecars {
		injected, what, err := r.sidecarCurl(ctx, rw, c, objs)
		if err != nil {
			return nil, err
		}
		objs = append(objs, namespace("sample-sidecar", map[string]string{"istio-injection": "enabled"}))
		objs = append(objs, injected...)
		inputs = append(inputs, "kubectl create namespace sample-sidecar; kubectl label namespace sample-sidecar istio-injection=enabled", what)
	}

	return r.document(objs, rw.name, c.name, rw.doc, "hack/render/ambient.go", inputs,
		"# CRDs (Istio's and the Gateway API's) are left out; certificates, remote secrets, pods, endpoint\n"+
			"# slices, load-balancer status and what istiod makes for the east-west Gateway are made at load time\n"+
			"# (internal/scenario).\n")
}

// sidecarEastWest is the classic east-west gateway of a mixed cluster, as
// the sidecar guide installs it.
func (r *renderer) sidecarEastWest(ctx context.Context, c ambientCluster) ([]map[string]any, []string, error) {
	iop, err := r.exec(ctx, nil, "bash", filepath.Join(r.src, "samples/multicluster/gen-eastwest-gateway.sh"), "--network", c.network)
	if err != nil {
		return nil, nil, err
	}
	out, err := r.istioctlRun(ctx, iop, "manifest", "generate", "-f", "-")
	if err != nil {
		return nil, nil, err
	}
	objs, err := decode(out)
	if err != nil {
		return nil, nil, fmt.Errorf("east-west gateway output: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(r.src, "samples/multicluster/expose-services.yaml"))
	if err != nil {
		return nil, nil, err
	}
	ex, err := decode(b)
	if err != nil {
		return nil, nil, err
	}
	inNamespace(ex, "istio-system")
	return append(objs, ex...), []string{"samples/multicluster/gen-eastwest-gateway.sh --network " + c.network + " | istioctl manifest generate -f -",
		"kubectl apply -n istio-system -f samples/multicluster/expose-services.yaml"}, nil
}

// sidecarCurl is samples/curl in sample-sidecar, injected by istioctl
// kube-inject with the cluster's own rendered injector and mesh config.
func (r *renderer) sidecarCurl(ctx context.Context, rw ambientRow, c ambientCluster, objs []map[string]any) ([]map[string]any, string, error) {
	r.rendered = map[string][]map[string]any{c.name: objs}
	spec := clusterSpec{name: c.name, network: c.network}
	files, what, err := r.injectFiles(row{name: rw.name}, spec)
	if err != nil {
		return nil, "", err
	}
	cu, err := os.ReadFile(filepath.Join(r.src, "samples/curl/curl.yaml"))
	if err != nil {
		return nil, "", err
	}
	curl, err := decode(cu)
	if err != nil {
		return nil, "", err
	}
	inNamespace(curl, "sample-sidecar")
	in, err := encode(curl)
	if err != nil {
		return nil, "", err
	}
	inFile := filepath.Join(r.tmp, rw.name+"-"+c.name+"-sidecar-curl.yaml")
	if err := os.WriteFile(inFile, in, 0o600); err != nil {
		return nil, "", err
	}
	injected, err := r.istioctlRun(ctx, nil, append([]string{"kube-inject", "--revision", "default", "-f", inFile}, files...)...)
	if err != nil {
		return nil, "", err
	}
	o, err := decode(injected)
	if err != nil {
		return nil, "", fmt.Errorf("kube-inject output: %w", err)
	}
	return o, "istioctl kube-inject --revision default -f samples/curl/curl.yaml --injectConfigFile --valuesFile --meshConfigFile (" + what + ") | kubectl apply -n sample-sidecar -f -", nil
}
