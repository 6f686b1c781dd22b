package scenario

import (
	"fmt"
	"slices"
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
	// As the API server's clients decode it: numbers are int64.
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	o, _, err := unstructured.UnstructuredJSONScheme.Decode(js, nil, nil)
	if err != nil {
		return nil, decodeErr
	}
	u, ok := o.(*unstructured.Unstructured)
	if !ok || u.GroupVersionKind().Group != gatewayAPIGroup {
		return nil, decodeErr
	}
	return u, nil
}

// gatewayConditionTime is when the status writer's Gateway conditions
// changed: fixed, so that rendered scenarios stay deterministic.
const gatewayConditionTime = "2026-01-01T00:00:00Z"

// IsGatewayAPI reports whether an object is a Gateway API one (served by
// the dynamic client).
func IsGatewayAPI(o runtime.Object) bool {
	return o.GetObjectKind().GroupVersionKind().Group == gatewayAPIGroup
}

// gatewayAPIFake serves a cluster's Gateway API objects, as an API server
// with the Gateway API CRDs installed does (the ambient guides install
// them first: the pinned module's copy is
// tests/integration/pilot/testdata/gateway-api-crd.yaml).
func gatewayAPIFake(objs []runtime.Object) (dynamic.Interface, error) {
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
	d := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s, lists)
	// Objects given to the constructor are filed where a list does not find
	// them (client-go 0.37's tracker guesses their resource from an
	// unregistered kind); creating them under their resource does.
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		gvr := schema.GroupVersionResource{Group: gatewayAPIGroup, Version: "v1", Resource: strings.ToLower(u.GetKind()) + "es"}
		if u.GetKind() != "GatewayClass" {
			gvr.Resource = strings.ToLower(u.GetKind()) + "s"
		}
		if err := d.Tracker().Create(gvr, u.DeepCopy(), u.GetNamespace()); err != nil {
			return nil, fmt.Errorf("serve %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return d, nil
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
//
// In a mixed cluster, where the classic east-west gateway Service
// (EastWestService) takes o.LBIP, the ambient one gets 10.215.<PodCIDR>.100.
func gatewayControllerObjects(objs []map[string]any, o StatusOptions) ([]map[string]any, error) {
	var made []map[string]any
	lbIP := o.LBIP
	for _, m := range objs {
		if kindOf(m) == "Service" && nameOf(m) == EastWestService && lbIP != "" {
			lbIP = "10.215." + o.PodCIDR + ".100"
		}
	}
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
			p, _ := l["port"].(float64) // decodeMaps: encoding/json numbers
			name, _, _ := unstructured.NestedString(l, "name")
			proto, _, _ := unstructured.NestedString(l, "protocol")
			ports = append(ports, map[string]any{"name": name, "port": int64(p), "protocol": "TCP", "appProtocol": strings.ToLower(proto)})
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
		case lbIP != "":
			svc["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": lbIP}}}}
			addr = map[string]any{"type": "IPAddress", "value": lbIP}
		}
		made = append(made, svc)
		// lastTransitionTime is required by the Gateway API CRD's schema.
		cond := map[string]any{"type": "Programmed", "status": "True", "reason": "Programmed", "lastTransitionTime": gatewayConditionTime,
			"message": "Resource programmed, assigned to service(s) " + u.GetName() + "." + u.GetNamespace() + ".svc.cluster.local:15008"}
		accepted := map[string]any{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Resource accepted", "lastTransitionTime": gatewayConditionTime}
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

// containerFaults applies the unenv and retag faults to the pod templates
// of Deployments and DaemonSets (kubectl set env NAME-, kubectl set
// image): how an operator drops a setting or leaves a component on an old
// version.
func containerFaults(objs []map[string]any, a installArgs) ([]map[string]any, error) {
	edit := func(what string, edits []string, f func(c map[string]any, arg string) bool) error {
		for _, e := range edits {
			ref, arg, ok := strings.Cut(e, " ")
			if !ok {
				return fmt.Errorf("%s %q is not \"Kind/namespace/name ARG\"", what, e)
			}
			var obj map[string]any
			for _, o := range objs {
				if refOf(o) == ref {
					obj = o
				}
			}
			if obj == nil {
				return fmt.Errorf("%s %s: no such object", what, ref)
			}
			cs, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "containers")
			changed := false
			for i := range cs {
				if c, ok := cs[i].(map[string]any); ok && f(c, arg) {
					changed = true
				}
			}
			if !changed {
				return fmt.Errorf("%s %s %s: nothing to change", what, ref, arg)
			}
			if err := unstructured.SetNestedSlice(obj, cs, "spec", "template", "spec", "containers"); err != nil {
				return fmt.Errorf("%s %s: %w", what, ref, err)
			}
		}
		return nil
	}
	if err := edit("unenv", a.unenvs, func(c map[string]any, name string) bool {
		env, _ := c["env"].([]any)
		n := len(env)
		env = slices.DeleteFunc(env, func(e any) bool { m, _ := e.(map[string]any); return m["name"] == name })
		c["env"] = env
		return len(env) < n
	}); err != nil {
		return nil, err
	}
	if err := edit("retag", a.retags, func(c map[string]any, tag string) bool {
		img, _ := c["image"].(string)
		if img == "" {
			return false
		}
		if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
			img = img[:i]
		}
		c["image"] = img + ":" + tag
		return true
	}); err != nil {
		return nil, err
	}
	return objs, nil
}
