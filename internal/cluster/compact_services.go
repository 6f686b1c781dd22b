package cluster

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Service is a core/v1 Service compacted at the edge to what the checks,
// internal/mesh, internal/snapshot and the expected Envoy tables read of
// it: namespace, name, labels, the annotations of Istio's domains
// (KeptAnnotation), and of its spec and status the fields below, named as
// in the API. UIDs, timestamps, managedFields, session affinity, the
// traffic policies, health-check node ports and load balancer settings are
// read by no check.
//
// It marshals to and from the API type's JSON (snapshots), through
// corev1.Service. Its ports and IP families are shared by the Services of
// one list that have the same: read a Service, never write through it;
// change a DeepCopy.
type Service struct {
	Namespace   string
	Name        string
	Labels      Labels
	Annotations map[string]string
	Spec        ServiceSpec
	Status      ServiceStatus
}

// ServiceSpec is what Service keeps of corev1.ServiceSpec.
type ServiceSpec struct {
	Type         corev1.ServiceType
	ClusterIP    string
	ClusterIPs   []string
	ExternalName string
	ExternalIPs  []string
	Selector     Labels
	Ports        []corev1.ServicePort
	IPFamilies   []corev1.IPFamily
}

// ServiceStatus is what Service keeps of corev1.ServiceStatus.
type ServiceStatus struct {
	LoadBalancer corev1.LoadBalancerStatus
}

// CompactService compacts one Service (tests, snapshots): metadata reduced
// as reduceMeta does; a list is compacted by CompactServices' function,
// which shares the repeated strings, ports and families across the list.
func CompactService(s corev1.Service) Service {
	s.Labels, s.Annotations, s.Spec.Selector = maps.Clone(s.Labels), maps.Clone(s.Annotations), maps.Clone(s.Spec.Selector)
	s.Spec.Ports, s.Spec.ClusterIPs = slices.Clone(s.Spec.Ports), slices.Clone(s.Spec.ClusterIPs)
	return compactService(&s, nil, serviceInterner{}, true)
}

// CompactServices returns the compactor of one list, with an interner of
// its own. Unreduced (CollectOptions.Unreduced), it keeps every
// annotation.
func CompactServices(unreduced bool) func(*corev1.Service) Service {
	in, shared := interner{}, serviceInterner{ports: map[string][]corev1.ServicePort{}, families: map[string][]corev1.IPFamily{}}
	return func(s *corev1.Service) Service { return compactService(s, in, shared, !unreduced) }
}

// serviceInterner holds one copy of each list of ports and of IP families
// of one list of Services, bounded like interner (nil: copies each).
type serviceInterner struct {
	ports    map[string][]corev1.ServicePort
	families map[string][]corev1.IPFamily
}

// compactService compacts s, changing it in place (its page is garbage
// next).
func compactService(s *corev1.Service, in interner, shared serviceInterner, reduce bool) Service {
	if reduce {
		reduceMeta(&s.ObjectMeta, in)
	}
	sp := &s.Spec
	in.internMap(sp.Selector)
	out := Service{
		Namespace: s.Namespace, Name: s.Name, Annotations: s.Annotations,
		Spec: ServiceSpec{
			Type:         corev1.ServiceType(in.of(string(sp.Type))),
			ClusterIP:    sp.ClusterIP,
			ClusterIPs:   sp.ClusterIPs,
			ExternalName: sp.ExternalName,
			ExternalIPs:  sp.ExternalIPs,
			Ports:        shared.portsOf(sp.Ports, in),
			IPFamilies:   shared.familiesOf(sp.IPFamilies, in),
		},
		Status: ServiceStatus{LoadBalancer: s.Status.LoadBalancer},
	}
	// The name and the cluster IP are one string, which the first cluster
	// IP and the label and selector values equal to the name share (the
	// decoder allocates each on its own; app=<name> is common).
	if s.Name != "" && sp.ClusterIP != "" {
		text := s.Name + sp.ClusterIP
		out.Name, out.Spec.ClusterIP = text[:len(s.Name)], text[len(s.Name):]
		if len(sp.ClusterIPs) > 0 && sp.ClusterIPs[0] == sp.ClusterIP {
			sp.ClusterIPs[0] = out.Spec.ClusterIP
		}
	}
	out.Labels, out.Spec.Selector = labelsOf(s.Labels, out.Name), labelsOf(sp.Selector, out.Name)
	return out
}

func (si serviceInterner) portsOf(ps []corev1.ServicePort, in interner) []corev1.ServicePort {
	if len(ps) == 0 {
		return ps
	}
	var key []byte
	if si.ports != nil {
		for _, p := range ps {
			key = strconv.AppendQuote(key, p.Name)
			key = strconv.AppendQuote(key, string(p.Protocol))
			if p.AppProtocol != nil {
				key = strconv.AppendQuote(append(key, '+'), *p.AppProtocol)
			}
			key = strconv.AppendInt(append(key, ' '), int64(p.Port), 10)
			key = strconv.AppendInt(append(key, ' '), int64(p.NodePort), 10)
			key = strconv.AppendInt(append(key, ' '), int64(p.TargetPort.Type), 10)
			key = strconv.AppendInt(append(key, ' '), int64(p.TargetPort.IntVal), 10)
			key = strconv.AppendQuote(key, p.TargetPort.StrVal)
			key = append(key, ';')
		}
		if v, ok := si.ports[string(key)]; ok {
			return v
		}
	}
	out := slices.Clip(ps)
	for i := range out {
		p := &out[i]
		p.Name, p.Protocol = in.of(p.Name), corev1.Protocol(in.of(string(p.Protocol)))
		if p.TargetPort.StrVal != "" {
			p.TargetPort.StrVal = in.of(p.TargetPort.StrVal)
		}
		if p.AppProtocol != nil {
			a := in.of(*p.AppProtocol)
			p.AppProtocol = &a
		}
	}
	if si.ports != nil && len(si.ports) < maxInterned {
		si.ports[string(key)] = out
	}
	return out
}

func (si serviceInterner) familiesOf(fs []corev1.IPFamily, in interner) []corev1.IPFamily {
	if len(fs) == 0 {
		return fs
	}
	var key []byte
	if si.families != nil {
		for _, f := range fs {
			key = strconv.AppendQuote(key, string(f))
		}
		if v, ok := si.families[string(key)]; ok {
			return v
		}
	}
	out := slices.Clip(fs)
	for i := range out {
		out[i] = corev1.IPFamily(in.of(string(out[i])))
	}
	if si.families != nil && len(si.families) < maxInterned {
		si.families[string(key)] = out
	}
	return out
}

// DeepCopy is a copy of s that shares nothing with it.
func (s *Service) DeepCopy() *Service {
	c := *s
	c.Labels, c.Annotations, c.Spec.Selector = slices.Clone(s.Labels), maps.Clone(s.Annotations), slices.Clone(s.Spec.Selector)
	c.Spec.ClusterIPs, c.Spec.ExternalIPs, c.Spec.IPFamilies = slices.Clone(s.Spec.ClusterIPs), slices.Clone(s.Spec.ExternalIPs), slices.Clone(s.Spec.IPFamilies)
	if s.Spec.Ports != nil {
		c.Spec.Ports = make([]corev1.ServicePort, len(s.Spec.Ports))
		for i := range s.Spec.Ports {
			c.Spec.Ports[i] = *s.Spec.Ports[i].DeepCopy()
		}
	}
	c.Status.LoadBalancer = *s.Status.LoadBalancer.DeepCopy()
	return &c
}

// API is the Service as the API type, with the fields it keeps (a copy:
// changing it changes nothing of s).
func (s *Service) API() corev1.Service {
	c := s.DeepCopy()
	return corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name, Labels: c.Labels.Map(), Annotations: c.Annotations},
		Spec: corev1.ServiceSpec{Type: c.Spec.Type, ClusterIP: c.Spec.ClusterIP, ClusterIPs: c.Spec.ClusterIPs, ExternalName: c.Spec.ExternalName,
			ExternalIPs: c.Spec.ExternalIPs, Selector: c.Spec.Selector.Map(), Ports: c.Spec.Ports, IPFamilies: c.Spec.IPFamilies},
		Status: corev1.ServiceStatus{LoadBalancer: c.Status.LoadBalancer},
	}
}

// MarshalJSON writes the Service as the API type's JSON (what snapshots
// held before the inventory was compacted).
func (s Service) MarshalJSON() ([]byte, error) {
	api := s.API()
	return json.Marshal(&api)
}

// UnmarshalJSON reads the API type's JSON (any snapshot's) and compacts
// it.
func (s *Service) UnmarshalJSON(b []byte) error {
	var api corev1.Service
	if err := json.Unmarshal(b, &api); err != nil {
		return err
	}
	*s = CompactService(api)
	return nil
}

// Labels are a Service's labels or selector as key/value pairs sorted by
// key: a small Go map is a 48-byte header and a group of eight slots (336
// bytes) however few its entries; four labels here are 152. Read them with
// Get, Lookup and Len, or Map for a map of one's own.
type Labels []Label

// Label is one key and its value.
type Label struct {
	Key, Value string
}

// labelsOf is LabelsOf with the values equal to name sharing its text.
func labelsOf(m map[string]string, name string) Labels {
	l := LabelsOf(m)
	for i := range l {
		if l[i].Value == name {
			l[i].Value = name
		}
	}
	return l
}

// LabelsOf sorts m into Labels (nil when m is empty).
func LabelsOf(m map[string]string) Labels {
	if len(m) == 0 {
		return nil
	}
	out := make(Labels, 0, len(m))
	for k, v := range m {
		out = append(out, Label{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b Label) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Lookup is the value of key k and whether it is set.
func (l Labels) Lookup(k string) (string, bool) {
	for _, kv := range l {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return "", false
}

// Get is the value of key k ("" when unset), as indexing a map gives.
func (l Labels) Get(k string) string {
	v, _ := l.Lookup(k)
	return v
}

// Has reports whether key k is set (with Get, Labels is a
// k8s.io/apimachinery/pkg/labels.Labels, which selectors match without a
// map).
func (l Labels) Has(k string) bool {
	_, ok := l.Lookup(k)
	return ok
}

// Len is the number of labels.
func (l Labels) Len() int { return len(l) }

// Map is the labels as a new map (nil when there are none).
func (l Labels) Map() map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]string, len(l))
	for _, kv := range l {
		m[kv.Key] = kv.Value
	}
	return m
}

// SubsetOf reports whether m[key] is value for every label of l (a label
// of empty value matches a missing key, as indexing m gives).
func (l Labels) SubsetOf(m map[string]string) bool {
	for _, kv := range l {
		if m[kv.Key] != kv.Value {
			return false
		}
	}
	return true
}

// With is a copy of l with key k set to v.
func (l Labels) With(k, v string) Labels {
	m := l.Map()
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return LabelsOf(m)
}
