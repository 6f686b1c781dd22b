// Command render writes testdata/installs: Istio installs rendered by the
// pinned module's own tooling (bin/istioctl, built by hack/testbin.sh from
// istio.io/istio@$(cat hack/istio.version)), one folder per row of the
// install matrix and one file per cluster, the way the istio.io
// multicluster guides install them:
//
//   - istioctl manifest generate -f <IstioOperator of the cluster>
//     (values.global.meshID, multiCluster.clusterName, network);
//   - samples/multicluster/gen-eastwest-gateway.sh --network N, its
//     IstioOperator piped into istioctl manifest generate -f -;
//   - samples/multicluster/expose-services.yaml (and expose-istiod.yaml on
//     the primary of a primary-remote mesh), applied in istio-system;
//   - samples/helloworld (one version per cluster) and samples/curl in the
//     sample namespace, with sidecars from istioctl kube-inject fed the
//     cluster's own rendered injector and mesh config
//     (--injectConfigFile, --valuesFile, --meshConfigFile);
//   - the namespaces the guides create with kubectl (istio-system labelled
//     with its network, sample labelled for injection).
//
// CRDs are dropped (the integration tier installs bin/istio-crds.yaml).
// What needs a running cluster or a cloud is not rendered here but made at
// load time by internal/scenario (install.go, status.go): cacerts from the
// tools/certs layout, remote secrets in create-remote-secret's form with the
// tier's real tokens, pods, endpoint slices and load-balancer status.
//
// The output is deterministic (objects sorted, keys sorted, no timestamps):
// running `make fixtures` twice gives no diff.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "testdata/installs", "output directory (one folder per row)")
	istioctl := flag.String("istioctl", "bin/istioctl", "istioctl built from the pinned module (make testbin)")
	only := flag.String("row", "", "render only this row")
	flag.Parse()

	ver, err := os.ReadFile("hack/istio.version")
	if err != nil {
		return fmt.Errorf("read the pinned Istio version: %w", err)
	}
	version := strings.TrimSpace(string(ver))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	src, err := istioSource(ctx)
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(*istioctl)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make testbin)", *istioctl, err)
	}
	tmp, err := os.MkdirTemp("", "meshdoctor-render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &renderer{istioctl: bin, src: src, version: version, tmp: tmp}
	for _, row := range rows() {
		if *only != "" && row.name != *only {
			continue
		}
		start := time.Now()
		dir := filepath.Join(*out, row.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		r.rendered = map[string][]map[string]any{}
		for _, c := range row.clusters {
			text, err := r.cluster(ctx, row, c)
			if err != nil {
				return fmt.Errorf("row %s cluster %s: %w", row.name, c.name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, c.name+".yaml"), text, 0o644); err != nil {
				return err
			}
		}
		slog.Info("rendered", "row", row.name, "clusters", len(row.clusters), "took", time.Since(start).Round(time.Millisecond))
	}
	return r.renderAmbient(ctx, *out, *only) // ambient.go
}

// istioSource is the pinned module's directory (samples, scripts), as
// hack/istiod's go.mod resolves it.
func istioSource(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio")
	cmd.Dir = "hack/istiod"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate istio.io/istio from hack/istiod: %w: %s", err, stderr.String())
	}
	dir := strings.TrimSpace(string(b))
	if _, err := os.Stat(filepath.Join(dir, "samples", "multicluster", "gen-eastwest-gateway.sh")); err != nil {
		return "", fmt.Errorf("istio.io/istio at %q has no samples: %w", dir, err)
	}
	return dir, nil
}

// row is one line of the install matrix.
type row struct {
	name, doc string
	clusters  []clusterSpec
}

// clusterSpec is what an operator following the guide decides for one
// cluster.
type clusterSpec struct {
	name     string // context, clusterName and file name
	network  string
	revision string
	remote   bool // profile remote (primary-remote), istiod elsewhere
	// externalIstiod: the primary of a primary-remote mesh
	// (pilot.env.EXTERNAL_ISTIOD) that exposes istiod through its gateway.
	externalIstiod bool
	meshConfig     map[string]any // spec.meshConfig additions (trust domains)
	eastwest       bool
	// pilotAddress: a remote's global.remotePilotAddress when it is not
	// the primary's east-west gateway IP (a load balancer hostname: the
	// chart then renders the istiod Service as ExternalName).
	pilotAddress string
	nodePort     bool // the east-west Service as NodePort with traffic.istio.io/nodeSelector
	// externalIP: the east-west Service as ClusterIP with spec.externalIPs
	// (bare metal: the network routes that address to the nodes).
	externalIP string
	// gatewayPort: the east-west Service's mTLS port moved from 15443 to
	// this, and labelled networking.istio.io/gatewayPort with it.
	gatewayPort int
	// helmGateway: the east-west gateway from the istio/gateway Helm chart
	// (manifests/charts/gateway), release helmGatewayName in namespace
	// helmGatewayNamespace, instead of gen-eastwest-gateway.sh.
	helmGateway bool
	// dualStack: installed as istio.io "Install Istio in Dual-Stack mode"
	// says (ISTIO_DUAL_STACK for istiod and proxies, RequireDualStack
	// Services), with samples/tcp-echo/tcp-echo-dual-stack.yaml.
	dualStack bool
	// revisionTags: values.revisionTags, the offline form of istioctl tag
	// set (the istiod chart's revision-tags-mwc.yaml and -svc.yaml); the
	// sample namespace is labelled with the first.
	revisionTags []string
	helloworld   string
}

// The istio/gateway chart's release of the helm row: its own name and
// namespace, not gen-eastwest-gateway.sh's.
const (
	helmGatewayName      = "eastwest-gateway"
	helmGatewayNamespace = "istio-gateways"
)

const meshID = "mesh1"

// PilotHostname is the primary east-west gateway's load-balancer hostname
// in the primary-remote-hostname row (the scenarios give the primary's
// gateway this ingress hostname).
const PilotHostname = "eastwest-1.mesh.example"

func rows() []row {
	mp := func(name, network, hw string) clusterSpec {
		return clusterSpec{name: name, network: network, eastwest: true, helloworld: hw}
	}
	rev := func(c clusterSpec, r string) clusterSpec { c.revision = r; return c }
	np := func(c clusterSpec) clusterSpec { c.nodePort = true; return c }
	xip := func(c clusterSpec, ip string) clusterSpec { c.externalIP = ip; return c }
	gwp := func(c clusterSpec) clusterSpec { c.gatewayPort = 16443; return c }
	helm := func(c clusterSpec) clusterSpec { c.eastwest, c.helmGateway = false, true; return c }
	dual := func(c clusterSpec) clusterSpec { c.dualStack = true; return c }
	tags := func(c clusterSpec, t ...string) clusterSpec { c.revisionTags = t; return c }
	td := func(c clusterSpec, domain string, aliases ...string) clusterSpec {
		c.meshConfig = map[string]any{"trustDomain": domain, "trustDomainAliases": aliases}
		return c
	}
	return []row{
		{name: "multi-primary-multi-network", doc: "istio.io: Install Multi-Primary on different networks",
			clusters: []clusterSpec{mp("cluster-1", "network1", "v1"), mp("cluster-2", "network2", "v2")}},
		{name: "multi-primary-one-network", doc: "istio.io: Install Multi-Primary (one network, no east-west gateway)",
			clusters: []clusterSpec{{name: "cluster-1", network: "network1", helloworld: "v1"}, {name: "cluster-2", network: "network1", helloworld: "v2"}}},
		{name: "revisioned", doc: "multi-primary, multi-network, every cluster installed with --set revision=1-31 and namespaces on istio.io/rev",
			clusters: []clusterSpec{rev(mp("cluster-1", "network1", "v1"), "1-31"), rev(mp("cluster-2", "network2", "v2"), "1-31")}},
		{name: "mixed-revisions", doc: "multi-primary, multi-network: cluster-1 on the default revision, cluster-2 on revision 1-31",
			clusters: []clusterSpec{mp("cluster-1", "network1", "v1"), rev(mp("cluster-2", "network2", "v2"), "1-31")}},
		{name: "eastwest-nodeport", doc: "multi-primary, multi-network, east-west gateways as NodePort Services with traffic.istio.io/nodeSelector",
			clusters: []clusterSpec{np(mp("cluster-1", "network1", "v1")), np(mp("cluster-2", "network2", "v2"))}},
		{name: "eastwest-externalips", doc: "multi-primary, multi-network, east-west gateways as ClusterIP Services with spec.externalIPs (no load balancer)",
			clusters: []clusterSpec{xip(mp("cluster-1", "network1", "v1"), "198.51.100.21"), xip(mp("cluster-2", "network2", "v2"), "198.51.100.22")}},
		{name: "eastwest-gateway-port", doc: "multi-primary, multi-network, east-west gateways serving mTLS on 16443, labelled networking.istio.io/gatewayPort=16443",
			clusters: []clusterSpec{gwp(mp("cluster-1", "network1", "v1")), gwp(mp("cluster-2", "network2", "v2"))}},
		{name: "eastwest-helm-chart", doc: "multi-primary, multi-network, east-west gateways from the istio/gateway Helm chart, release " + helmGatewayName + " in namespace " + helmGatewayNamespace,
			clusters: []clusterSpec{helm(mp("cluster-1", "network1", "v1")), helm(mp("cluster-2", "network2", "v2"))}},
		{name: "dual-stack", doc: "multi-primary, multi-network on IPv4/IPv6 dual-stack clusters (istio.io: Install Istio in Dual-Stack mode), with samples/tcp-echo dual-stack",
			clusters: []clusterSpec{dual(mp("cluster-1", "network1", "v1")), dual(mp("cluster-2", "network2", "v2"))}},
		{name: "revision-tags", doc: "multi-primary, multi-network, revision 1-31 with revision tag prod (values.revisionTags, the offline istioctl tag set) and the sample namespace on istio.io/rev=prod",
			clusters: []clusterSpec{tags(rev(mp("cluster-1", "network1", "v1"), "1-31"), "prod"), tags(rev(mp("cluster-2", "network2", "v2"), "1-31"), "prod")}},
		{name: "primary-remote-multi-network", doc: "istio.io: Install Primary-Remote on different networks (istiod exposed through the east-west gateway)",
			clusters: []clusterSpec{{name: "cluster-1", network: "network1", eastwest: true, externalIstiod: true, helloworld: "v1"},
				{name: "cluster-2", network: "network2", eastwest: true, remote: true, helloworld: "v2"}}},
		{name: "primary-remote-hostname", doc: "istio.io: Install Primary-Remote on different networks, the remote's remotePilotAddress the primary east-west gateway's load-balancer hostname",
			clusters: []clusterSpec{{name: "cluster-1", network: "network1", eastwest: true, externalIstiod: true, helloworld: "v1"},
				{name: "cluster-2", network: "network2", eastwest: true, remote: true, pilotAddress: PilotHostname, helloworld: "v2"}}},
		{name: "primary-remote-revisioned", doc: "istio.io: Install Primary-Remote on different networks, both clusters with --set revision=1-31, istiod exposed with samples/multicluster/expose-istiod-rev.yaml.tmpl",
			clusters: []clusterSpec{rev(clusterSpec{name: "cluster-1", network: "network1", eastwest: true, externalIstiod: true, helloworld: "v1"}, "1-31"),
				rev(clusterSpec{name: "cluster-2", network: "network2", eastwest: true, remote: true, helloworld: "v2"}, "1-31")}},
		{name: "trust-domain-aliases", doc: "multi-primary, multi-network, in a trust domain migration: each cluster's trustDomainAliases name the other's domain",
			clusters: []clusterSpec{td(mp("cluster-1", "network1", "v1"), "cluster-1.example", "cluster-2.example"),
				td(mp("cluster-2", "network2", "v2"), "cluster-2.example", "cluster-1.example")}},
	}
}

type renderer struct {
	istioctl, src, version, tmp string
	rendered                    map[string][]map[string]any // this row's clusters so far
}

// iop is the IstioOperator the guide has the operator write for a cluster.
func (c clusterSpec) iop(primary string) map[string]any {
	global := map[string]any{"meshID": meshID, "multiCluster": map[string]any{"clusterName": c.name}, "network": c.network}
	spec := map[string]any{"values": map[string]any{"global": global}}
	if c.revision != "" {
		spec["revision"] = c.revision
	}
	if c.meshConfig != nil {
		spec["meshConfig"] = c.meshConfig
	}
	vals := spec["values"].(map[string]any)
	if c.externalIstiod {
		vals["pilot"] = map[string]any{"env": map[string]any{"EXTERNAL_ISTIOD": true}}
	}
	if c.dualStack {
		// istio.io "Install Istio in Dual-Stack mode": istioctl install
		// --set values.pilot.env.ISTIO_DUAL_STACK=true --set
		// values.pilot.ipFamilyPolicy=RequireDualStack --set
		// meshConfig.defaultConfig.proxyMetadata.ISTIO_DUAL_STACK="true".
		vals["pilot"] = map[string]any{"env": map[string]any{"ISTIO_DUAL_STACK": "true"}, "ipFamilyPolicy": "RequireDualStack"}
		spec["meshConfig"] = map[string]any{"defaultConfig": map[string]any{"proxyMetadata": map[string]any{"ISTIO_DUAL_STACK": "true"}}}
	}
	if len(c.revisionTags) > 0 {
		vals["revisionTags"] = c.revisionTags
	}
	if c.remote {
		// The guide's remote IstioOperator: profile remote, the injector
		// path naming this cluster and network, istiod at the primary's
		// east-west gateway (its address is the cloud's; the load-time
		// status writer gives the primary's gateway 10.214.1.10).
		if c.pilotAddress != "" {
			primary = c.pilotAddress
		}
		spec = map[string]any{"profile": "remote", "values": map[string]any{
			"istiodRemote": map[string]any{"injectionPath": "/inject/cluster/" + c.name + "/net/" + c.network},
			"global":       map[string]any{"remotePilotAddress": primary},
		}}
		if c.revision != "" {
			spec["revision"] = c.revision
		}
	}
	return map[string]any{"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": spec}
}

// manifestGenerate renders a cluster's control plane as the guides do,
// `istioctl manifest generate -f <cluster>.iop.yaml`, and returns its
// objects and the inputs to record in the file's header.
func (r *renderer) manifestGenerate(ctx context.Context, row, cluster string, iopSpec any) ([]map[string]any, []string, error) {
	iop, err := yaml.Marshal(iopSpec)
	if err != nil {
		return nil, nil, err
	}
	iopFile := filepath.Join(r.tmp, row+"-"+cluster+".iop.yaml")
	if err := os.WriteFile(iopFile, iop, 0o600); err != nil {
		return nil, nil, err
	}
	inputs := []string{"istioctl manifest generate -f " + cluster + ".iop.yaml, where " + cluster + ".iop.yaml is:", string(iop)}
	control, err := r.istioctlRun(ctx, nil, "manifest", "generate", "-f", iopFile)
	if err != nil {
		return nil, nil, err
	}
	cp, err := decode(control)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest generate output: %w", err)
	}
	return cp, inputs, nil
}

// cluster renders one cluster of a row.
func (r *renderer) cluster(ctx context.Context, rw row, c clusterSpec) ([]byte, error) {
	var objs []map[string]any
	var inputs []string

	cp, in, err := r.manifestGenerate(ctx, rw.name, c.name, c.iop("10.214.1.10"))
	if err != nil {
		return nil, err
	}
	objs, inputs = append(objs, cp...), append(inputs, in...)

	if c.eastwest {
		args := []string{filepath.Join(r.src, "samples/multicluster/gen-eastwest-gateway.sh"), "--network", c.network}
		if c.revision != "" {
			args = append(args, "--revision", c.revision)
		}
		ew, err := r.exec(ctx, nil, "bash", args...)
		if err != nil {
			return nil, err
		}
		what := "samples/multicluster/gen-eastwest-gateway.sh " + strings.Join(args[1:], " ") + " | istioctl manifest generate -f -"
		if c.nodePort || c.externalIP != "" || c.gatewayPort != 0 || c.dualStack {
			var edits string
			if ew, edits, err = editGateway(ew, c); err != nil {
				return nil, err
			}
			what += "\n(the printed IstioOperator edited: " + edits + ")"
		}
		inputs = append(inputs, what)
		gw, err := r.istioctlRun(ctx, ew, "manifest", "generate", "-f", "-")
		if err != nil {
			return nil, err
		}
		g, err := decode(gw)
		if err != nil {
			return nil, fmt.Errorf("east-west gateway output: %w", err)
		}
		objs = append(objs, g...)
		samples := []string{"expose-services.yaml"}
		switch {
		case c.externalIstiod && c.revision != "":
			samples = append(samples, "expose-istiod-rev.yaml.tmpl")
		case c.externalIstiod:
			samples = append(samples, "expose-istiod.yaml")
		}
		for _, s := range samples {
			b, err := os.ReadFile(filepath.Join(r.src, "samples/multicluster", s))
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(s, ".tmpl") {
				// The template's one parameter, {{.Revision}}, filled
				// the way Istio's own tests evaluate it (text/template).
				if b, err = revisionTemplate(b, c.revision); err != nil {
					return nil, fmt.Errorf("%s: %w", s, err)
				}
				s += " (text/template, .Revision=" + c.revision + ")"
			}
			o, err := decode(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
			inNamespace(o, "istio-system")
			inputs = append(inputs, "kubectl apply -n istio-system -f samples/multicluster/"+s)
			objs = append(objs, o...)
		}
	}

	if c.helmGateway {
		r.rendered[c.name] = objs // the injector the chart's pods get
		g, what, err := r.helmGateway(ctx, rw, c)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, what...)
		objs = append(objs, g...)
	}

	// The namespaces the guide creates with kubectl.
	sys := namespace("istio-system", map[string]string{"topology.istio.io/network": c.network})
	if c.remote {
		// The guide: kubectl annotate namespace istio-system
		// topology.istio.io/controlPlaneClusters=<the primary>.
		for _, o := range rw.clusters {
			if o.externalIstiod {
				meta(sys)["annotations"] = map[string]any{"topology.istio.io/controlPlaneClusters": o.name}
				inputs = append(inputs, "kubectl annotate namespace istio-system topology.istio.io/controlPlaneClusters="+o.name)
			}
		}
	}
	objs = append(objs, sys)
	inject := map[string]string{"istio-injection": "enabled"}
	switch {
	case len(c.revisionTags) > 0:
		inject = map[string]string{"istio.io/rev": c.revisionTags[0]}
	case c.revision != "":
		inject = map[string]string{"istio.io/rev": c.revision}
	}
	objs = append(objs, namespace("sample", inject))
	inputs = append(inputs, "kubectl create namespace istio-system; kubectl label namespace istio-system topology.istio.io/network="+c.network,
		"kubectl create namespace sample; kubectl label namespace sample "+labelString(inject))

	r.rendered[c.name] = objs
	if c.helloworld != "" {
		files, what, err := r.injectFiles(rw, c)
		if err != nil {
			return nil, err
		}
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
		workloads := []struct {
			what string
			objs []map[string]any
		}{
			{"samples/helloworld/helloworld.yaml -l service=helloworld and -l version=" + c.helloworld, picked},
			{"samples/curl/curl.yaml", curl},
		}
		if c.dualStack {
			te, err := os.ReadFile(filepath.Join(r.src, "samples/tcp-echo/tcp-echo-dual-stack.yaml"))
			if err != nil {
				return nil, err
			}
			echo, err := decode(te)
			if err != nil {
				return nil, err
			}
			workloads = append(workloads, struct {
				what string
				objs []map[string]any
			}{"samples/tcp-echo/tcp-echo-dual-stack.yaml", echo})
		}
		for _, s := range workloads {
			inNamespace(s.objs, "sample")
			in, err := encode(s.objs)
			if err != nil {
				return nil, err
			}
			inFile := filepath.Join(r.tmp, rw.name+"-"+c.name+"-workload.yaml")
			if err := os.WriteFile(inFile, in, 0o600); err != nil {
				return nil, err
			}
			o, err := r.injectFile(ctx, c, inFile, files)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, "istioctl kube-inject --revision "+injectRevision(c)+" -f "+s.what+" --injectConfigFile --valuesFile --meshConfigFile "+
				"("+what+") | kubectl apply -n sample -f -")
			objs = append(objs, o...)
		}
	}

	return r.document(objs, rw.name, c.name, rw.doc, "hack/render", inputs,
		"# CRDs are left out (the integration tier installs bin/istio-crds.yaml); certificates, remote\n"+
			"# secrets, pods, endpoint slices and load-balancer status are made at load time (internal/scenario).\n")
}

// revisionTemplate evaluates a sample template with its Revision.
func revisionTemplate(b []byte, revision string) ([]byte, error) {
	t, err := template.New("sample").Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, map[string]string{"Revision": revision}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// document is one rendered cluster file: objs without CRDs, cleaned and
// sorted, under a header that says it is generated, from what (madeWith,
// the commands in inputs) and what is left to load time (tail).
func (r *renderer) document(objs []map[string]any, row, cluster, doc, madeWith string, inputs []string, tail string) ([]byte, error) {
	objs = slices.DeleteFunc(objs, func(o map[string]any) bool { return o["kind"] == "CustomResourceDefinition" })
	for _, o := range objs {
		clean(o)
	}
	sortObjects(objs)
	body, err := encode(objs)
	if err != nil {
		return nil, err
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "# generated by make fixtures from istio.io/istio@%s; do not edit.\n", r.version)
	fmt.Fprintf(&head, "# Row %s, cluster %s: %s.\n# Made with (%s):\n", row, cluster, doc, madeWith)
	for _, in := range inputs {
		for _, l := range strings.Split(strings.TrimRight(in, "\n"), "\n") {
			fmt.Fprintf(&head, "#   %s\n", l)
		}
	}
	head.WriteString(tail)
	return append(head.Bytes(), body...), nil
}

// nodeSelector is the traffic.istio.io/nodeSelector of the NodePort rows:
// istiod (pilot/pkg/serviceregistry/kube/controller/network.go,
// updateServiceNodePortAddresses) uses the ExternalIP of the nodes whose
// labels hold it.
const nodeSelector = `{"topology.istio.io/eastwest":"true"}`

// editGateway edits the IstioOperator gen-eastwest-gateway.sh printed the
// way an operator does for their network, and says what it changed.
func editGateway(iop []byte, c clusterSpec) ([]byte, string, error) {
	var m map[string]any
	if err := yaml.Unmarshal(iop, &m); err != nil {
		return nil, "", fmt.Errorf("gen-eastwest-gateway.sh output: %w", err)
	}
	spec, _ := m["spec"].(map[string]any)
	comps, _ := spec["components"].(map[string]any)
	gws, _ := comps["ingressGateways"].([]any)
	if len(gws) != 1 {
		return nil, "", errors.New("gen-eastwest-gateway.sh printed no single ingress gateway")
	}
	gw, _ := gws[0].(map[string]any)
	k8s, _ := gw["k8s"].(map[string]any)
	svc, _ := k8s["service"].(map[string]any)
	if k8s == nil || svc == nil {
		return nil, "", errors.New("gen-eastwest-gateway.sh printed a gateway without k8s.service")
	}
	var edits []string
	if c.nodePort {
		// An operator without a load balancer.
		svc["type"] = "NodePort"
		k8s["serviceAnnotations"] = map[string]any{"traffic.istio.io/nodeSelector": nodeSelector}
		edits = append(edits, "k8s.service.type NodePort, serviceAnnotations traffic.istio.io/nodeSelector "+nodeSelector)
	}
	if c.externalIP != "" {
		// Bare metal: the network routes an address to the nodes.
		svc["type"] = "ClusterIP"
		svc["externalIPs"] = []any{c.externalIP}
		edits = append(edits, "k8s.service.type ClusterIP, k8s.service.externalIPs ["+c.externalIP+"]")
	}
	if c.gatewayPort != 0 {
		// 15443 taken by something else on the load balancer: the
		// Service's tls port moves (the pod still listens on 15443) and
		// the label tells istiod (network.go getGatewayDetails).
		ports, _ := svc["ports"].([]any)
		moved := false
		for _, p := range ports {
			if pm, ok := p.(map[string]any); ok && pm["name"] == "tls" {
				pm["port"] = c.gatewayPort
				moved = true
			}
		}
		if !moved {
			return nil, "", errors.New("gen-eastwest-gateway.sh printed no tls port")
		}
		labels, _ := gw["label"].(map[string]any)
		if labels == nil {
			return nil, "", errors.New("gen-eastwest-gateway.sh printed a gateway without labels")
		}
		labels["networking.istio.io/gatewayPort"] = strconv.Itoa(c.gatewayPort)
		edits = append(edits, fmt.Sprintf("k8s.service port tls %d (targetPort 15443), label networking.istio.io/gatewayPort=%d", c.gatewayPort, c.gatewayPort))
	}
	if c.dualStack {
		svc["ipFamilyPolicy"] = "RequireDualStack"
		edits = append(edits, "k8s.service.ipFamilyPolicy RequireDualStack")
	}
	out, err := yaml.Marshal(m)
	return out, strings.Join(edits, "; "), err
}

// helmGateway renders the east-west gateway of a cluster from the
// istio/gateway chart of the pinned module, as
//
//	helm install eastwest-gateway istio/gateway -n istio-gateways \
//	  --set networkGateway=NETWORK --set labels.istio=eastwestgateway
//
// with Istio's own Helm code (hack/istiod/helmtemplate), injects its pods
// the way the gateway injection template would (the chart's Deployment asks
// for it: image auto, inject.istio.io/templates gateway), and exposes the
// services through it (samples/multicluster/expose-services.yaml, applied
// in the gateway's namespace; labels.istio keeps its selector matching).
func (r *renderer) helmGateway(ctx context.Context, rw row, c clusterSpec) ([]map[string]any, []string, error) {
	vals, err := yaml.Marshal(map[string]any{"networkGateway": c.network, "labels": map[string]any{"istio": "eastwestgateway"}})
	if err != nil {
		return nil, nil, err
	}
	out, err := r.helmTemplate(ctx, vals, "gateway", helmGatewayName, helmGatewayNamespace)
	if err != nil {
		return nil, nil, err
	}
	chart, err := decode(out)
	if err != nil {
		return nil, nil, fmt.Errorf("istio/gateway chart output: %w", err)
	}
	what := []string{"helm template " + helmGatewayName + " manifests/charts/gateway -n " + helmGatewayNamespace +
		" --set networkGateway=" + c.network + " --set labels.istio=eastwestgateway (hack/istiod/helmtemplate: istio.io/istio/operator/pkg/helm)"}
	var deps, rest []map[string]any
	for _, o := range chart {
		if o["kind"] == "Deployment" {
			deps = append(deps, o)
		} else {
			rest = append(rest, o)
		}
	}
	injected, how, err := r.kubeInject(ctx, rw, c, deps, "the chart's Deployment")
	if err != nil {
		return nil, nil, err
	}
	what = append(what, how)
	b, err := os.ReadFile(filepath.Join(r.src, "samples/multicluster/expose-services.yaml"))
	if err != nil {
		return nil, nil, err
	}
	expose, err := decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("expose-services.yaml: %w", err)
	}
	inNamespace(expose, helmGatewayNamespace)
	what = append(what, "kubectl create namespace "+helmGatewayNamespace, "kubectl apply -n "+helmGatewayNamespace+" -f samples/multicluster/expose-services.yaml")
	objs := append(append(append([]map[string]any{namespace(helmGatewayNamespace, nil)}, rest...), injected...), expose...)
	return objs, what, nil
}

// helmTemplate runs hack/istiod/helmtemplate (built into the tmp dir once
// per run; the Go build cache shares istioctl's packages).
func (r *renderer) helmTemplate(ctx context.Context, vals []byte, chart, release, ns string) ([]byte, error) {
	bin := filepath.Join(r.tmp, "helmtemplate")
	if _, err := os.Stat(bin); err != nil {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "go", "build", "-o", bin, "./helmtemplate")
		cmd.Dir = "hack/istiod"
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build hack/istiod/helmtemplate: %w: %s", err, stderr.String())
		}
	}
	return r.exec(ctx, vals, bin, "-chart", chart, "-release", release, "-namespace", ns)
}

// injectRevision is kube-inject's --revision: always given, without it
// kube-inject looks for the default revision in a cluster (and waits for
// one).
func injectRevision(c clusterSpec) string {
	if c.revision == "" {
		return "default"
	}
	return c.revision
}

// injectFile runs istioctl kube-inject on a file with the injector files
// of the cluster.
func (r *renderer) injectFile(ctx context.Context, c clusterSpec, inFile string, files []string) ([]map[string]any, error) {
	injected, err := r.istioctlRun(ctx, nil, append([]string{"kube-inject", "--revision", injectRevision(c), "-f", inFile}, files...)...)
	if err != nil {
		return nil, err
	}
	o, err := decode(injected)
	if err != nil {
		return nil, fmt.Errorf("kube-inject output: %w", err)
	}
	return o, nil
}

// kubeInject injects objs with the cluster's own injector (what the
// webhook would do to their pods) and says how.
func (r *renderer) kubeInject(ctx context.Context, rw row, c clusterSpec, objs []map[string]any, what string) ([]map[string]any, string, error) {
	files, how, err := r.injectFiles(rw, c)
	if err != nil {
		return nil, "", err
	}
	in, err := encode(objs)
	if err != nil {
		return nil, "", err
	}
	inFile := filepath.Join(r.tmp, rw.name+"-"+c.name+"-inject.yaml")
	if err := os.WriteFile(inFile, in, 0o600); err != nil {
		return nil, "", err
	}
	o, err := r.injectFile(ctx, c, inFile, files)
	if err != nil {
		return nil, "", err
	}
	return o, "istioctl kube-inject --revision " + injectRevision(c) + " -f (" + what + ") --injectConfigFile --valuesFile --meshConfigFile (" + how + ")", nil
}

func injectorName(c clusterSpec) string {
	if c.revision != "" {
		return "istio-sidecar-injector-" + c.revision
	}
	return "istio-sidecar-injector"
}

func meshConfigName(c clusterSpec) string {
	if c.revision != "" {
		return "istio-" + c.revision
	}
	return "istio"
}

// injectFiles writes the injector template, values and mesh config that
// the cluster's injector uses for kube-inject and returns its flags and
// what they are. A remote cluster has no injector of its own: the primary's
// istiod injects its pods through the webhook path
// /inject/cluster/<name>/net/<network> (istiodRemote.injectionPath), whose
// cluster and network override the primary's values
// (pkg/kube/inject/webhook.go parseInjectEnvs, inject.go
// updateClusterEnvs); kube-inject is given the primary's files with those
// two values set the same way.
func (r *renderer) injectFiles(rw row, c clusterSpec) ([]string, string, error) {
	from := c
	if c.remote {
		for _, o := range rw.clusters {
			if o.externalIstiod {
				from = o
			}
		}
	}
	objs := r.rendered[from.name]
	inj := find(objs, "ConfigMap", "istio-system", injectorName(from))
	mc := find(objs, "ConfigMap", "istio-system", meshConfigName(from))
	if inj == nil || mc == nil {
		return nil, "", fmt.Errorf("the rendered install of %s has no ConfigMap %s or %s", from.name, injectorName(from), meshConfigName(from))
	}
	what := "the rendered " + injectorName(from) + " and " + meshConfigName(from) + " ConfigMaps"
	if from.name != c.name {
		what += " of " + from.name + ", values global.multiCluster.clusterName=" + c.name + " and global.network=" + c.network +
			" as the injection path /inject/cluster/" + c.name + "/net/" + c.network + " sets them"
	}
	data := func(o map[string]any, k string) (string, error) {
		d, _ := o["data"].(map[string]any)
		s, ok := d[k].(string)
		if !ok {
			return "", fmt.Errorf("ConfigMap %v has no %s", o["metadata"].(map[string]any)["name"], k)
		}
		return s, nil
	}
	var flags []string
	for _, f := range []struct {
		flag, key string
		cm        map[string]any
	}{{"--injectConfigFile", "config", inj}, {"--valuesFile", "values", inj}, {"--meshConfigFile", "mesh", mc}} {
		s, err := data(f.cm, f.key)
		if err != nil {
			return nil, "", err
		}
		if f.key == "values" && from.name != c.name {
			if s, err = clusterValues(s, c); err != nil {
				return nil, "", err
			}
		}
		p := filepath.Join(r.tmp, rw.name+"-"+c.name+"-"+f.key)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			return nil, "", err
		}
		flags = append(flags, f.flag, p)
	}
	return flags, what, nil
}

// clusterValues sets global.multiCluster.clusterName and global.network in
// injector values (JSON).
func clusterValues(values string, c clusterSpec) (string, error) {
	var v map[string]any
	if err := json.Unmarshal([]byte(values), &v); err != nil {
		return "", fmt.Errorf("injector values: %w", err)
	}
	g, _ := v["global"].(map[string]any)
	if g == nil {
		return "", errors.New("injector values have no global")
	}
	mc, _ := g["multiCluster"].(map[string]any)
	if mc == nil {
		mc = map[string]any{}
		g["multiCluster"] = mc
	}
	mc["clusterName"] = c.name
	g["network"] = c.network
	b, err := json.Marshal(v)
	return string(b), err
}

func (r *renderer) istioctlRun(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return r.exec(ctx, stdin, r.istioctl, args...)
}

// exec runs a tool with a timeout and an environment that points at no
// cluster (rendering must not depend on one).
func (r *renderer) exec(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.tmp, "KUBECONFIG=" + filepath.Join(r.tmp, "no-kubeconfig")}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func decode(b []byte) ([]map[string]any, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []map[string]any
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		if items, ok := m["items"].([]any); ok && strings.HasSuffix(fmt.Sprint(m["kind"]), "List") {
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					out = append(out, im)
				}
			}
			continue
		}
		out = append(out, m)
	}
}

func encode(objs []map[string]any) ([]byte, error) {
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

func meta(o map[string]any) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		o["metadata"] = m
	}
	return m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func find(objs []map[string]any, kind, ns, name string) map[string]any {
	for _, o := range objs {
		m := meta(o)
		if o["kind"] == kind && str(m, "namespace") == ns && str(m, "name") == name {
			return o
		}
	}
	return nil
}

func withLabel(objs []map[string]any, k, v string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		l, _ := meta(o)["labels"].(map[string]any)
		if l[k] == v {
			out = append(out, o)
		}
	}
	return out
}

// inNamespace is kubectl apply -n NS for namespaced objects without one.
func inNamespace(objs []map[string]any, ns string) {
	for _, o := range objs {
		m := meta(o)
		if str(m, "namespace") == "" && !clusterScoped[fmt.Sprint(o["kind"])] {
			m["namespace"] = ns
		}
	}
}

var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true, "CustomResourceDefinition": true}

func namespace(name string, labels map[string]string) map[string]any {
	l := map[string]any{}
	for k, v := range labels {
		l[k] = v
	}
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": l}}
}

func labelString(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range l {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, " ")
}

// clean drops what a tool writes that is not spec: null timestamps and an
// empty status.
func clean(o map[string]any) {
	delete(meta(o), "creationTimestamp")
	if s, ok := o["status"].(map[string]any); ok && len(s) == 0 {
		delete(o, "status")
	}
	for _, path := range [][]string{{"spec", "template", "metadata"}} {
		cur := o
		for _, p := range path {
			cur, _ = cur[p].(map[string]any)
			if cur == nil {
				break
			}
		}
		if cur != nil {
			delete(cur, "creationTimestamp")
		}
	}
}

// kindRank orders objects as kubectl would need them applied: namespaces
// and identities first, webhooks last (a webhook whose istiod does not run
// would otherwise refuse the pods and Istio objects that follow it).
var kindRank = map[string]int{
	"Namespace": 0, "ServiceAccount": 1, "ClusterRole": 2, "ClusterRoleBinding": 3, "Role": 4, "RoleBinding": 5,
	"ConfigMap": 6, "Secret": 7, "Service": 8, "Deployment": 9, "PodDisruptionBudget": 10, "HorizontalPodAutoscaler": 11,
	"MutatingWebhookConfiguration": 100, "ValidatingWebhookConfiguration": 101,
}

func rank(o map[string]any) int {
	if r, ok := kindRank[fmt.Sprint(o["kind"])]; ok {
		return r
	}
	return 50
}

func sortObjects(objs []map[string]any) {
	key := func(o map[string]any) string {
		m := meta(o)
		return fmt.Sprintf("%03d/%s/%s/%s/%s", rank(o), o["kind"], o["apiVersion"], str(m, "namespace"), str(m, "name"))
	}
	slices.SortStableFunc(objs, func(a, b map[string]any) int { return strings.Compare(key(a), key(b)) })
}
