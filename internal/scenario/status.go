package scenario

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// StatusOptions are the facts of one cluster that the cloud and the
// kubelets would decide.
type StatusOptions struct {
	Cluster string
	// PodCIDR is the third octet of the pod IPs: 10.214.<PodCIDR>.<n>.
	PodCIDR string
	// LBIP or LBHostname is the ingress the cloud gives the east-west
	// gateway (istio-eastwestgateway); neither leaves it pending, as a
	// cluster without a load-balancer controller does. Other LoadBalancer
	// Services get 10.215.<PodCIDR>.<n>.
	LBIP, LBHostname string
	// NodeIP is the ExternalIP of the cluster's node ("" = none).
	NodeIP string
	// Locality, "region/zone[/subzone]", is the node's topology labels as
	// a cloud sets them (topology.kubernetes.io/region and zone,
	// topology.istio.io/subzone): istiod's pod locality ("" = none).
	Locality string
}

// EastWestService is the Service gen-eastwest-gateway.sh installs.
const EastWestService = "istio-eastwestgateway"

// WriteStatus fills in what no kubelet, scheduler, controller manager or
// cloud writes in the test tiers, and nothing else: one ready pod per
// Deployment replica (Running, with an IP from the pod CIDR) as the
// ReplicaSet controller, scheduler and kubelet would make it, the
// Deployment's status, the LoadBalancer ingress of Services, one node with
// its addresses, node ports the API server would allocate for NodePort
// Services, and the EndpointSlices the endpointslice controller would make
// from the selected ready pods. It sets status (and unset allocated
// fields) on the given objects and returns the objects it made; it never
// changes a rendered spec.
func WriteStatus(objs []map[string]any, o StatusOptions) ([]map[string]any, error) {
	if o.PodCIDR == "" {
		o.PodCIDR = "100"
	}
	node := o.Cluster + "-node"
	nodeIP := "10.214." + o.PodCIDR + ".250"
	var made []runtime.Object
	var pods []*corev1.Pod
	ip := 10
	lb := 1
	nodePort := int32(30100)
	for _, m := range objs {
		switch kindOf(m) {
		case "Deployment":
			var d appsv1.Deployment
			if err := fromMap(m, &d); err != nil {
				return nil, err
			}
			n := int32(1)
			if d.Spec.Replicas != nil {
				n = *d.Spec.Replicas
			}
			hash := podTemplateHash(o.Cluster, d.Namespace, d.Name)
			for i := int32(0); i < n; i++ {
				p := podFor(&d, hash, i, fmt.Sprintf("10.214.%s.%d", o.PodCIDR, ip), nodeIP)
				ip++
				pods = append(pods, p)
				made = append(made, p)
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
				Conditions: []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."},
					{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", d.Name+"-"+hash)},
				}}
			if err := setStatus(m, d.Status); err != nil {
				return nil, err
			}
		case "Service":
			var s corev1.Service
			if err := fromMap(m, &s); err != nil {
				return nil, err
			}
			if s.Spec.Type == corev1.ServiceTypeNodePort {
				// The API server allocates node ports on create; the fake
				// clientset does not, and a real one accepts these.
				ports, _ := spec(m)["ports"].([]any)
				for _, p := range ports {
					if pm, ok := p.(map[string]any); ok && pm["nodePort"] == nil {
						pm["nodePort"] = int64(nodePort)
						nodePort++
					}
				}
			}
			if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
				continue
			}
			var ing corev1.LoadBalancerIngress
			switch {
			case s.Name == EastWestService && o.LBIP != "":
				ing.IP = o.LBIP
			case s.Name == EastWestService && o.LBHostname != "":
				ing.Hostname = o.LBHostname
			case s.Name == EastWestService:
				continue // pending
			default:
				ing.IP = fmt.Sprintf("10.215.%s.%d", o.PodCIDR, lb)
				lb++
			}
			if err := setStatus(m, corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{ing}}}); err != nil {
				return nil, err
			}
		}
	}
	for _, m := range objs {
		if kindOf(m) != "Service" {
			continue
		}
		var s corev1.Service
		if err := fromMap(m, &s); err != nil {
			return nil, err
		}
		if es := endpointSliceFor(&s, pods); es != nil {
			made = append(made, es)
		}
	}
	addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}, {Type: corev1.NodeHostName, Address: node}}
	if o.NodeIP != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: o.NodeIP})
	}
	nodeLabels := map[string]string{
		"kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
		// the label the NodePort rows' traffic.istio.io/nodeSelector asks for
		"topology.istio.io/eastwest": "true",
	}
	if o.Locality != "" {
		parts := strings.SplitN(o.Locality, "/", 3)
		for i, k := range []string{"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"} {
			if i < len(parts) && parts[i] != "" {
				nodeLabels[k] = parts[i]
			}
		}
	}
	made = append(made, &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: node, Labels: nodeLabels},
		Status:     corev1.NodeStatus{Addresses: addrs, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}},
	})
	var out []map[string]any
	for _, r := range made {
		m, err := toMap(r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// podTemplateHash stands in for the ReplicaSet's pod-template-hash: stable
// per cluster and Deployment, so that the fixtures do not change between
// loads.
func podTemplateHash(parts ...string) string {
	h := fnv.New32a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p + "/"))
	}
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// podFor is replica i of a Deployment, Running and Ready. It stays
// unbound (no nodeName): the integration tier binds it to its kubelet
// stand-in through pods/binding, as the scheduler would.
func podFor(d *appsv1.Deployment, hash string, i int32, ip, nodeIP string) *corev1.Pod {
	t := d.Spec.Template
	l := map[string]string{"pod-template-hash": hash}
	for k, v := range t.Labels {
		l[k] = v
	}
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%s-%s", d.Name, hash, podSuffix(i)), Namespace: d.Namespace,
			Labels: l, Annotations: t.Annotations,
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if p.Spec.ServiceAccountName == "" {
		// The API server's ServiceAccount admission plugin sets it (the
		// integration tier disables that plugin: no controller makes the
		// default account it would require).
		p.Spec.ServiceAccountName = "default"
	}
	ready := []corev1.PodCondition{}
	for _, c := range []corev1.PodConditionType{corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		ready = append(ready, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue})
	}
	var cs, ics []corev1.ContainerStatus
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	for _, c := range p.Spec.InitContainers {
		st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			st.State = running // a native sidecar
		}
		ics = append(ics, st)
	}
	for _, c := range p.Spec.Containers {
		cs = append(cs, corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true, State: running})
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready, HostIP: nodeIP, HostIPs: []corev1.HostIP{{IP: nodeIP}},
		PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, InitContainerStatuses: ics, ContainerStatuses: cs, QOSClass: corev1.PodQOSBurstable}
	return p
}

func podSuffix(i int32) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	s := []byte("x0000")
	n := int(i) + 7
	for j := 4; j >= 1; j-- {
		s[j] = alphabet[n%len(alphabet)]
		n /= len(alphabet)
	}
	return string(s)
}

// endpointSliceFor is the slice the endpointslice controller makes for a
// Service with a selector (pkg/controller/endpointslice in Kubernetes): the
// Service's labels plus kubernetes.io/service-name and managed-by, one
// endpoint per selected pod that has an IP, ready when the pod is, ports
// with the target port resolved against the pod's container ports. A
// Service whose selector matches no pod gets an empty slice.
func endpointSliceFor(s *corev1.Service, pods []*corev1.Pod) *discoveryv1.EndpointSlice {
	if len(s.Spec.Selector) == 0 || s.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	l := map[string]string{}
	for k, v := range s.Labels {
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = s.Name
	l[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
	es := &discoveryv1.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Name: s.Name + "-" + podTemplateHash(s.Namespace, s.Name)[:5], Namespace: s.Namespace, Labels: l},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	var matched []*corev1.Pod
	for _, p := range pods {
		if p.Namespace == s.Namespace && sel.Matches(labels.Set(p.Labels)) && p.Status.PodIP != "" {
			matched = append(matched, p)
		}
	}
	slices.SortFunc(matched, func(a, b *corev1.Pod) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for _, sp := range s.Spec.Ports {
		port := targetPort(sp, matched)
		name, proto := sp.Name, sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port, AppProtocol: sp.AppProtocol})
	}
	t, f := true, false
	for _, p := range matched {
		node := p.Spec.NodeName
		ep := discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &t, Serving: &t, Terminating: &f},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}}
		if node != "" {
			ep.NodeName = &node
		}
		es.Endpoints = append(es.Endpoints, ep)
	}
	return es
}

// targetPort resolves a Service port's target as the controller does
// (podutil.FindPort): a number as is, a name by the first matching pod's
// container port of that name, unset as the port.
func targetPort(sp corev1.ServicePort, pods []*corev1.Pod) int32 {
	switch {
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, p := range pods {
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						return cp.ContainerPort
					}
				}
			}
		}
	}
	return sp.Port
}

func spec(m map[string]any) map[string]any { s, _ := m["spec"].(map[string]any); return s }

func fromMap(m map[string]any, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, into); err != nil {
		return fmt.Errorf("read %s: %w", refOf(m), err)
	}
	return nil
}

func setStatus[T any](m map[string]any, status T) error {
	s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return fmt.Errorf("status of %s: %w", refOf(m), err)
	}
	m["status"] = s
	return nil
}

func toMap(o runtime.Object) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	delete(meta, "creationTimestamp")
	return m, nil
}
