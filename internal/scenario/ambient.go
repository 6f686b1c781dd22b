package scenario

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// gatewayAPIGroup is the Gateway API's group: its objects are no Go type of
// the scenario scheme and are kept unstructured (meshdoctor reads them
// through the dynamic client).
const gatewayAPIGroup = "gateway.networking.k8s.io"

// gatewayAPIObject decodes a Gateway API document the typed scheme does not
// know; any other unknown kind keeps the decoder's error.
func gatewayAPIObject(doc []byte, decodeErr error) (runtime.Object, error) {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GroupVersionKind().Group != gatewayAPIGroup {
		return nil, decodeErr
	}
	return u, nil
}

// IsGatewayAPI reports whether an object is a Gateway API one (served by
// the dynamic client).
func IsGatewayAPI(o runtime.Object) bool {
	return o.GetObjectKind().GroupVersionKind().Group == gatewayAPIGroup
}

// gatewayAPIFake serves a cluster's Gateway API objects, as an API server
// with the Gateway API CRDs installed does (the ambient guides install
// them first: the pinned module's copy is
// tests/integration/pilot/testdata/gateway-api-crd.yaml).
func gatewayAPIFake(objs []runtime.Object) dynamic.Interface {
	s := runtime.NewScheme()
	gvk := schema.GroupVersionKind{Group: gatewayAPIGroup, Version: "v1"}
	for _, k := range []string{"Gateway", "GatewayClass", "HTTPRoute"} {
		gvk.Kind = k
		s.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
		gvk.Kind = k + "List"
		s.AddKnownTypeWithName(gvk, &unstructured.UnstructuredList{})
	}
	lists := map[schema.GroupVersionResource]string{
		cluster.GatewayAPIGateways: "GatewayList",
		{Group: gatewayAPIGroup, Version: "v1", Resource: "gatewayclasses"}: "GatewayClassList",
		{Group: gatewayAPIGroup, Version: "v1", Resource: "httproutes"}:     "HTTPRouteList",
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s, lists, objs...)
}

// EastWestGatewayClass is ambient's east-west GatewayClass
// (pkg/config/constants EastWestGatewayClassName).
const EastWestGatewayClass = "istio-east-west"

// gatewayControllerObjects does what istiod's gateway deployment
// controller and the cloud would do for the ambient east-west Gateways of
// a rendered install (pilot/pkg/config/kube/gatewaycommon
// deploymentcontroller.go, ClassInfo of istio.io/eastwest-controller:
// DisableNameSuffix, DefaultServiceType LoadBalancer, template "waypoint"),
// and nothing else: the Service the waypoint template renders
// (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml: the
// Gateway's labels plus gateway-name and gateway-class-name, the ports of
// extractServicePorts — status-port 15021, then one per listener —,
// selected by gateway.networking.k8s.io/gateway-name), its LoadBalancer
// ingress (o.LBIP; none leaves it pending), and the Gateway's status as
// istiod writes it (conversion.go: status.addresses from the Service's
// ingress, Programmed True, or False with AddressNotAssigned). The
// Deployment and its pods are not made: no check reads them. Waypoints
// (class istio-waypoint) get their ClusterIP Service's address the same
// way, as a hostname.
func gatewayControllerObjects(objs []map[string]any, o StatusOptions) ([]map[string]any, error) {
	var made []map[string]any
	for _, m := range objs {
		if str(m, "apiVersion") != gatewayAPIGroup+"/v1" || kindOf(m) != "Gateway" {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		class, _, _ := unstructured.NestedString(m, "spec", "gatewayClassName")
		if class != EastWestGatewayClass && class != "istio-waypoint" {
			continue
		}
		labels := map[string]any{}
		for k, v := range u.GetLabels() {
			if !strings.HasPrefix(k, gatewayAPIGroup+"/") {
				labels[k] = v
			}
		}
		labels[gatewayAPIGroup+"/gateway-name"] = u.GetName()
		labels[gatewayAPIGroup+"/gateway-class-name"] = class
		tcp := "tcp"
		ports := []any{map[string]any{"name": "status-port", "port": int64(15021), "protocol": "TCP", "appProtocol": tcp}}
		ls, _, _ := unstructured.NestedSlice(m, "spec", "listeners")
		for _, x := range ls {
			l, _ := x.(map[string]any)
			p, _, _ := unstructured.NestedInt64(l, "port")
			name, _, _ := unstructured.NestedString(l, "name")
			proto, _, _ := unstructured.NestedString(l, "protocol")
			ports = append(ports, map[string]any{"name": name, "port": p, "protocol": "TCP", "appProtocol": strings.ToLower(proto)})
		}
		svcType := "LoadBalancer"
		if class != EastWestGatewayClass {
			svcType = "ClusterIP"
		}
		svc := map[string]any{"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": u.GetName(), "namespace": u.GetNamespace(), "labels": labels,
				"annotations": map[string]any{"networking.istio.io/traffic-distribution": "PreferClose"}},
			"spec": map[string]any{"ipFamilyPolicy": "PreferDualStack", "ports": ports, "type": svcType,
				"selector": map[string]any{gatewayAPIGroup + "/gateway-name": u.GetName()}}}
		var addr map[string]any
		switch {
		case class != EastWestGatewayClass:
			addr = map[string]any{"type": "Hostname", "value": fmt.Sprintf("%s.%s.svc.cluster.local", u.GetName(), u.GetNamespace())}
		case o.LBIP != "":
			svc["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": o.LBIP}}}}
			addr = map[string]any{"type": "IPAddress", "value": o.LBIP}
		}
		made = append(made, svc)
		cond := map[string]any{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "Resource programmed, assigned to service(s) " +
			u.GetName() + "." + u.GetNamespace() + ".svc.cluster.local:15008"}
		accepted := map[string]any{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Resource accepted"}
		status := map[string]any{"conditions": []any{accepted, cond}}
		if addr != nil {
			status["addresses"] = []any{addr}
		} else {
			cond["status"], cond["reason"], cond["message"] = "False", "AddressNotAssigned", "Assigned to service(s) "+u.GetName()+"."+u.GetNamespace()+".svc.cluster.local:15008, but failed to assign to all requested addresses: address pending for hostname "+u.GetName()+"."+u.GetNamespace()+".svc.cluster.local"
		}
		m["status"] = status
	}
	return made, nil
}

// daemonSetStatus is what the DaemonSet controller writes for a rendered
// node agent (ztunnel, istio-cni) on the cluster's one node.
func daemonSetStatus(m map[string]any) {
	m["status"] = map[string]any{"currentNumberScheduled": int64(1), "desiredNumberScheduled": int64(1), "numberAvailable": int64(1),
		"numberReady": int64(1), "updatedNumberScheduled": int64(1), "observedGeneration": int64(1), "numberMisscheduled": int64(0)}
}
