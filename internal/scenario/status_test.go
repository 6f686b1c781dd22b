package scenario

import (
	"fmt"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

const statusInput = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: helloworld-v1, namespace: sample}
spec:
  replicas: 2
  selector: {matchLabels: {app: helloworld, version: v1}}
  template:
    metadata: {labels: {app: helloworld, version: v1}}
    spec:
      containers:
      - name: helloworld
        image: registry.istio.io/release/examples-helloworld-v1:1.0
        ports: [{containerPort: 5000, name: http-hello}]
---
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: sample, labels: {app: helloworld}}
spec:
  selector: {app: helloworld}
  ports: [{name: http, port: 5000, targetPort: http-hello}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody, namespace: sample}
spec:
  selector: {app: nobody}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: istio-eastwestgateway, namespace: istio-system}
spec:
  type: LoadBalancer
  selector: {istio: eastwestgateway}
  ports: [{name: tls, port: 15443}]
---
apiVersion: v1
kind: Service
metadata: {name: np, namespace: istio-system}
spec:
  type: NodePort
  selector: {istio: np}
  ports: [{name: tls, port: 15443}, {name: status-port, port: 15021, nodePort: 30021}]
`

func TestWriteStatusFillsOnlyWhatTheClusterWrites(t *testing.T) {
	objs, err := decodeMaps([]byte(statusInput))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := decodeMaps([]byte(statusInput))
	made, err := WriteStatus(objs, StatusOptions{Cluster: "c1", PodCIDR: "7", LBHostname: "x.elb.amazonaws.com", NodeIP: "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	// No rendered spec changes, except the node port the API server would
	// allocate where none was given.
	for i := range objs {
		got, want := objs[i]["spec"], before[i]["spec"]
		if nameOf(objs[i]) == "np" {
			ports := got.(map[string]any)["ports"].([]any)
			if np := ports[0].(map[string]any)["nodePort"]; np != int64(30100) {
				t.Errorf("allocated node port = %v, want 30100", np)
			}
			if np := ports[1].(map[string]any)["nodePort"]; fmt.Sprint(np) != "30021" {
				t.Errorf("given node port changed to %v", np)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: spec changed", refOf(objs[i]))
		}
	}
	byRef := map[string]map[string]any{}
	for _, o := range append(append([]map[string]any{}, objs...), made...) {
		byRef[refOf(o)] = o
	}
	var pods []string
	for ref, o := range byRef {
		if kindOf(o) == "Pod" {
			pods = append(pods, ref)
			st := o["status"].(map[string]any)
			if st["phase"] != "Running" || st["podIP"] == nil {
				t.Errorf("%s: status %v", ref, st)
			}
		}
	}
	if len(pods) != 2 {
		t.Fatalf("pods = %v, want one per replica (2)", pods)
	}
	if ready := byRef["Deployment/sample/helloworld-v1"]["status"].(map[string]any)["readyReplicas"]; ready != int64(2) {
		t.Errorf("deployment readyReplicas = %v", ready)
	}
	gw := byRef["Service/istio-system/istio-eastwestgateway"]
	ing, _ := yaml.Marshal(gw["status"])
	if string(ing) != "loadBalancer:\n  ingress:\n  - hostname: x.elb.amazonaws.com\n" {
		t.Errorf("gateway status = %s", ing)
	}
	var hello, nobody map[string]any
	for _, o := range made {
		if kindOf(o) != "EndpointSlice" {
			continue
		}
		switch metaOf(o)["labels"].(map[string]any)["kubernetes.io/service-name"] {
		case "helloworld":
			hello = o
		case "nobody":
			nobody = o
		}
	}
	if hello == nil || nobody == nil {
		t.Fatalf("endpoint slices for helloworld and nobody: %v %v", hello, nobody)
	}
	if eps := hello["endpoints"].([]any); len(eps) != 2 {
		t.Errorf("helloworld endpoints = %v, want the 2 ready pods", eps)
	}
	if p := hello["ports"].([]any)[0].(map[string]any)["port"]; p != int64(5000) {
		t.Errorf("named target port resolved to %v, want 5000", p)
	}
	if eps, _ := nobody["endpoints"].([]any); len(eps) != 0 {
		t.Errorf("a Service selecting no pod has endpoints %v", eps)
	}
	node := byRef["Node//c1-node"]
	addrs, _ := yaml.Marshal(node["status"].(map[string]any)["addresses"])
	if want := "- address: 10.214.7.250\n  type: InternalIP\n- address: c1-node\n  type: Hostname\n- address: 198.51.100.7\n  type: ExternalIP\n"; string(addrs) != want {
		t.Errorf("node addresses:\n%s\nwant\n%s", addrs, want)
	}
}

// TestWriteStatusDualStack: in a dual-stack cluster every pod has an IP of
// each family (IPv4 first, the cluster's primary family), and a Service
// that asks for both families (samples/tcp-echo/tcp-echo-dual-stack.yaml:
// RequireDualStack, ipFamilies IPv6, IPv4) gets one EndpointSlice per
// family with the pod's address of that family, as the endpointslice
// controller makes them; a SingleStack Service keeps one IPv4 slice.
func TestWriteStatusDualStack(t *testing.T) {
	objs, err := decodeMaps([]byte(statusInput + `---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: sample}
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv6, IPv4]
  selector: {app: helloworld}
  ports: [{name: tcp, port: 9000}]
`))
	if err != nil {
		t.Fatal(err)
	}
	made, err := WriteStatus(objs, StatusOptions{Cluster: "cluster-1", PodCIDR: "101", DualStack: true})
	if err != nil {
		t.Fatal(err)
	}
	slices := map[string][]string{} // service/addressType -> addresses
	var pods int
	for _, m := range made {
		switch kindOf(m) {
		case "Pod":
			pods++
			st, _ := m["status"].(map[string]any)
			ips, _ := st["podIPs"].([]any)
			if len(ips) != 2 {
				t.Errorf("pod %s has podIPs %v, want one of each family", nameOf(m), ips)
			}
		case "EndpointSlice":
			svc := str(metaOf(m)["labels"].(map[string]any), "kubernetes.io/service-name")
			eps, _ := m["endpoints"].([]any)
			for _, e := range eps {
				addrs, _ := e.(map[string]any)["addresses"].([]any)
				for _, a := range addrs {
					slices[svc+"/"+str(m, "addressType")] = append(slices[svc+"/"+str(m, "addressType")], fmt.Sprint(a))
				}
			}
		}
	}
	want := map[string][]string{
		"helloworld/IPv4": {"10.214.101.10", "10.214.101.11"},
		"tcp-echo/IPv6":   {"fd00:10:214:101::10", "fd00:10:214:101::11"},
		"tcp-echo/IPv4":   {"10.214.101.10", "10.214.101.11"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(slices[k], v) {
			t.Errorf("slice %s holds %v, want %v", k, slices[k], v)
		}
	}
	if _, ok := slices["helloworld/IPv6"]; ok {
		t.Error("a SingleStack Service got an IPv6 slice")
	}
	if pods != 2 {
		t.Errorf("%d pods, want 2", pods)
	}
}

// TestInjectEdits: the operator edits a scenario injects change exactly the
// named field and refuse paths that do not exist (a typo in a scenario
// must not pass as a no-op fault).
func TestInjectEdits(t *testing.T) {
	objs, err := decodeMaps([]byte(statusInput))
	if err != nil {
		t.Fatal(err)
	}
	a := installArgs{
		relabels: []string{"Service/sample/helloworld app=other"},
		sets:     []string{"Service/istio-system/np spec.ports.0.port=16443"},
		unsets:   []string{"Service/istio-system/np spec.selector"},
	}
	objs, err = inject(objs, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch refOf(o) {
		case "Service/sample/helloworld":
			if l := metaOf(o)["labels"].(map[string]any)["app"]; l != "other" {
				t.Errorf("relabel: app=%v", l)
			}
		case "Service/istio-system/np":
			sp := spec(o)
			if p := sp["ports"].([]any)[0].(map[string]any)["port"]; fmt.Sprint(p) != "16443" {
				t.Errorf("set: port %v (%T)", p, p)
			}
			if _, ok := sp["selector"]; ok {
				t.Error("unset left spec.selector")
			}
		}
	}
	for _, bad := range []installArgs{
		{sets: []string{"Service/istio-system/np spec.ports.9.port=1"}},
		{unsets: []string{"Service/istio-system/np spec.externalIPs"}},
		{relabels: []string{"Service/istio-system/none a=b"}},
	} {
		if _, err := inject(objs, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
