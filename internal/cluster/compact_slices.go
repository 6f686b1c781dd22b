package cluster

import (
	"encoding/json"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EndpointSlice is a discovery.k8s.io/v1 EndpointSlice compacted at the
// edge to what the checks, internal/mesh and the expected Envoy tables
// read of it: namespace, name, the kubernetes.io/service-name label (the
// only label read: internal/checks finds a Service's slices by it; no
// annotation and no ownerReference is read), the address type, the ports
// and, per endpoint, its addresses, conditions and the kind, namespace and
// name of its targetRef. Node names, zones, hints and the deprecated
// topology are read by no check. The API object is about 2.5 KiB on the
// heap for five endpoints; this, under 1 KiB (TestInventoryFootprintOfALargeCluster).
//
// It marshals to and from the API type's JSON (snapshots), through
// discoveryv1.EndpointSlice. Its parts are shared (Ports between slices of
// one list, one backing array per slice for the endpoints' addresses and
// targetRefs): read it, never write through it; build a changed copy with
// CompactEndpointSlice(es.API()).
type EndpointSlice struct {
	Namespace string
	Name      string
	// ServiceName is the kubernetes.io/service-name label ("" when absent).
	ServiceName string
	AddressType discoveryv1.AddressType
	// Ports are the API's, shared by the slices of one list that have the
	// same ports.
	Ports     []discoveryv1.EndpointPort
	Endpoints []Endpoint
}

// Endpoint is one endpoint of an EndpointSlice.
type Endpoint struct {
	Addresses  []string
	Conditions EndpointConditions
	// TargetRef is nil when the endpoint has none.
	TargetRef *ObjectRef
}

// ObjectRef is what the checks read of an endpoint's targetRef: its kind
// and namespace (ref.Kind, ref.Namespace, from a RefScope shared by the
// targetRefs of a list with the same, never nil) and its name.
type ObjectRef struct {
	*RefScope
	Name string
}

// RefScope is the kind and namespace of a targetRef.
type RefScope struct {
	Kind      string
	Namespace string
}

// NewObjectRef is a targetRef of its own scope (tests).
func NewObjectRef(kind, namespace, name string) ObjectRef {
	return ObjectRef{RefScope: &RefScope{Kind: kind, Namespace: namespace}, Name: name}
}

// EndpointConditions are an endpoint's conditions, each unset, false or
// true as in the API (where unset ready and serving mean true; see
// Condition).
type EndpointConditions struct {
	Ready       Condition
	Serving     Condition
	Terminating Condition
}

// Condition is the API's *bool condition as a tri-state: ConditionUnset
// (nil), ConditionFalse or ConditionTrue.
type Condition uint8

// The three states of a Condition.
const (
	ConditionUnset Condition = iota
	ConditionFalse
	ConditionTrue
)

func conditionOf(b *bool) Condition {
	switch {
	case b == nil:
		return ConditionUnset
	case *b:
		return ConditionTrue
	default:
		return ConditionFalse
	}
}

// Ptr is the condition as the API's *bool (nil when unset).
func (c Condition) Ptr() *bool {
	switch c {
	case ConditionTrue:
		t := true
		return &t
	case ConditionFalse:
		f := false
		return &f
	default:
		return nil
	}
}

// CompactEndpointSlice compacts one EndpointSlice (tests, snapshots); a
// list is compacted by CompactEndpointSlices' function, which shares the
// repeated strings and ports across the list.
func CompactEndpointSlice(es discoveryv1.EndpointSlice) EndpointSlice {
	return compactEndpointSlice(&es, nil, nil, nil)
}

// CompactEndpointSlices returns the compactor of one list, with an
// interner of its own.
func CompactEndpointSlices() func(*discoveryv1.EndpointSlice) EndpointSlice {
	in, ports, scopes := interner{}, portInterner{}, scopeInterner{}
	return func(es *discoveryv1.EndpointSlice) EndpointSlice { return compactEndpointSlice(es, in, ports, scopes) }
}

// scopeInterner holds one RefScope per kind and namespace of one list,
// bounded like interner; a nil one gives each targetRef its own.
type scopeInterner map[RefScope]*RefScope

func (si scopeInterner) of(kind, namespace string, in interner) *RefScope {
	k := RefScope{Kind: in.of(kind), Namespace: in.of(namespace)}
	if v, ok := si[k]; ok {
		return v
	}
	v := &k
	if si != nil && len(si) < maxInterned {
		si[k] = v
	}
	return v
}

// compactEndpointSlice copies what EndpointSlice keeps out of es, so that
// es is garbage once its page is. The slice's name (which the service name
// is a prefix of), the endpoints' addresses and targetRef names are copied
// into one string per slice and the addresses' and targetRefs' headers
// into one array each: three allocations instead of two per address, two
// per targetRef and two for the names.
func compactEndpointSlice(es *discoveryv1.EndpointSlice, in interner, ports portInterner, scopes scopeInterner) EndpointSlice {
	out := EndpointSlice{
		Namespace:   in.of(es.Namespace),
		ServiceName: in.of(es.Labels[discoveryv1.LabelServiceName]),
		AddressType: discoveryv1.AddressType(in.of(string(es.AddressType))),
		Ports:       ports.of(es.Ports, in),
	}
	size, naddr, nref := len(es.Name), 0, 0
	for i := range es.Endpoints {
		ep := &es.Endpoints[i]
		for _, a := range ep.Addresses {
			size += len(a)
		}
		naddr += len(ep.Addresses)
		if ep.TargetRef != nil {
			size += len(ep.TargetRef.Name)
			nref++
		}
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(es.Name)
	for i := range es.Endpoints {
		ep := &es.Endpoints[i]
		for _, a := range ep.Addresses {
			b.WriteString(a)
		}
		if ep.TargetRef != nil {
			b.WriteString(ep.TargetRef.Name)
		}
	}
	text, at := b.String(), 0
	next := func(n int) string {
		s := text[at : at+n]
		at += n
		return s
	}
	out.Name = next(len(es.Name))
	if strings.HasPrefix(out.Name, out.ServiceName) {
		out.ServiceName = out.Name[:len(out.ServiceName)] // <service>-<suffix>, the controller's generateName
	}
	if len(es.Endpoints) == 0 {
		return out
	}
	addrs := make([]string, 0, naddr)
	var refs []ObjectRef
	if nref > 0 {
		refs = make([]ObjectRef, 0, nref)
	}
	out.Endpoints = make([]Endpoint, len(es.Endpoints))
	for i := range es.Endpoints {
		ep := &es.Endpoints[i]
		from := len(addrs)
		for _, a := range ep.Addresses {
			addrs = append(addrs, next(len(a)))
		}
		e := &out.Endpoints[i]
		if ep.Addresses != nil {
			e.Addresses = addrs[from:len(addrs):len(addrs)]
		}
		e.Conditions = EndpointConditions{Ready: conditionOf(ep.Conditions.Ready), Serving: conditionOf(ep.Conditions.Serving), Terminating: conditionOf(ep.Conditions.Terminating)}
		if r := ep.TargetRef; r != nil {
			refs = append(refs, ObjectRef{RefScope: scopes.of(r.Kind, r.Namespace, in), Name: next(len(r.Name))})
			e.TargetRef = &refs[len(refs)-1]
		}
	}
	return out
}

// API is the slice as the API type, with the fields it keeps (its own
// copy: changing it changes nothing of es).
func (es *EndpointSlice) API() discoveryv1.EndpointSlice {
	out := discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: es.Namespace, Name: es.Name},
		AddressType: es.AddressType,
	}
	if es.ServiceName != "" {
		out.Labels = map[string]string{discoveryv1.LabelServiceName: es.ServiceName}
	}
	for _, p := range es.Ports {
		out.Ports = append(out.Ports, *p.DeepCopy())
	}
	if es.Endpoints != nil {
		out.Endpoints = make([]discoveryv1.Endpoint, len(es.Endpoints))
	}
	for i, ep := range es.Endpoints {
		e := &out.Endpoints[i]
		if ep.Addresses != nil {
			e.Addresses = append([]string{}, ep.Addresses...)
		}
		e.Conditions = discoveryv1.EndpointConditions{Ready: ep.Conditions.Ready.Ptr(), Serving: ep.Conditions.Serving.Ptr(), Terminating: ep.Conditions.Terminating.Ptr()}
		if r := ep.TargetRef; r != nil {
			e.TargetRef = &corev1.ObjectReference{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
		}
	}
	return out
}

// MarshalJSON writes the slice as the API type's JSON (what snapshots
// held before the inventory was compacted).
func (es EndpointSlice) MarshalJSON() ([]byte, error) {
	api := es.API()
	return json.Marshal(&api)
}

// UnmarshalJSON reads the API type's JSON (any snapshot's) and compacts
// it.
func (es *EndpointSlice) UnmarshalJSON(b []byte) error {
	var api discoveryv1.EndpointSlice
	if err := json.Unmarshal(b, &api); err != nil {
		return err
	}
	*es = CompactEndpointSlice(api)
	return nil
}

// portInterner holds one copy of each list of ports of one list of
// slices: the slices of Services of one shape have the same ports. Like
// interner, it stops taking new lists at maxInterned; a nil portInterner
// copies every list.
type portInterner map[string][]discoveryv1.EndpointPort

func (pi portInterner) of(ps []discoveryv1.EndpointPort, in interner) []discoveryv1.EndpointPort {
	if len(ps) == 0 {
		if ps == nil {
			return nil
		}
		return []discoveryv1.EndpointPort{}
	}
	var key []byte
	if pi != nil {
		key = portsKey(ps)
		if v, ok := pi[string(key)]; ok {
			return v
		}
	}
	out := make([]discoveryv1.EndpointPort, len(ps))
	for i, p := range ps {
		o := &out[i]
		if p.Name != nil {
			n := in.of(*p.Name)
			o.Name = &n
		}
		if p.Protocol != nil {
			pr := corev1.Protocol(in.of(string(*p.Protocol)))
			o.Protocol = &pr
		}
		if p.Port != nil {
			n := *p.Port
			o.Port = &n
		}
		if p.AppProtocol != nil {
			a := in.of(*p.AppProtocol)
			o.AppProtocol = &a
		}
	}
	if pi != nil && len(pi) < maxInterned {
		pi[string(key)] = out
	}
	return out
}

// portsKey writes each field of each port, nil distinct from empty, with
// lengths so that no two lists share a key.
func portsKey(ps []discoveryv1.EndpointPort) []byte {
	var k []byte
	str := func(s *string) {
		if s == nil {
			k = append(k, '-')
			return
		}
		k = strconv.AppendInt(append(k, '+'), int64(len(*s)), 10)
		k = append(append(k, ':'), *s...)
	}
	for _, p := range ps {
		str(p.Name)
		var proto *string
		if p.Protocol != nil {
			s := string(*p.Protocol)
			proto = &s
		}
		str(proto)
		str(p.AppProtocol)
		if p.Port == nil {
			k = append(k, '-')
		} else {
			k = strconv.AppendInt(append(k, '+'), int64(*p.Port), 10)
		}
		k = append(k, ';')
	}
	return k
}
