// Package ztunnel parses ztunnel's admin config dump (localhost:15000
// /config_dump: workloads, services) into tables, and prints them as
// `istioctl ztunnel-config workload|service` does. It is pure: fetching
// the dump (a port-forward to ztunnel's admin port, as istioctl does) is
// the caller's.
//
// The types mirror the fields meshdoctor reads of
// istioctl/pkg/writer/ztunnel/configdump/api.go in the pinned Istio module
// (ZtunnelWorkload, ZtunnelService, ZtunnelEndpoint). They are copied, not
// imported: that package lives in istio.io/istio, which the product module
// does not require (its requirement graph is large; hack/istiod pins it for
// the integration tier only). TestGolden holds them to istioctl's own
// testdata.
package ztunnel

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// MaxDump bounds a config dump: ztunnel's is a few KiB per workload.
const MaxDump = 64 << 20

// Workload is one entry of the dump's workloads.
type Workload struct {
	UID            string   `json:"uid"`
	WorkloadIPs    []string `json:"workloadIps"`
	Waypoint       *Address `json:"waypoint,omitempty"`
	NetworkGateway *Address `json:"networkGateway,omitempty"`
	Protocol       string   `json:"protocol"`
	Name           string   `json:"name"`
	Namespace      string   `json:"namespace"`
	ServiceAccount string   `json:"serviceAccount"`
	WorkloadName   string   `json:"workloadName"`
	ClusterID      string   `json:"clusterId"`
	TrustDomain    string   `json:"trustDomain,omitempty"`
	Node           string   `json:"node"`
	Network        string   `json:"network,omitempty"`
	Status         string   `json:"status"`
	Hostname       string   `json:"hostname"`
	// Capacity is how many workloads a coalesced (split-horizon) workload
	// stands for.
	Capacity uint32 `json:"capacity,omitempty"`
}

// Address is a waypoint or network gateway reference:
// "<network>/<ip>" or "<namespace>/<hostname>".
type Address struct {
	Destination string `json:"destination"`
}

// Endpoint is one endpoint of a service.
type Endpoint struct {
	WorkloadUID string            `json:"workloadUid"`
	Service     string            `json:"service"`
	Address     string            `json:"address,omitempty"`
	Port        map[uint16]uint16 `json:"port"`
}

// Service is one entry of the dump's services.
type Service struct {
	Name      string               `json:"name"`
	Namespace string               `json:"namespace"`
	Hostname  string               `json:"hostname"`
	Addresses []string             `json:"vips"`
	Ports     map[string]int       `json:"ports"`
	Waypoint  *Address             `json:"waypoint,omitempty"`
	Endpoints map[string]*Endpoint `json:"endpoints"`
}

// Dump is what meshdoctor keeps of a config dump.
type Dump struct {
	Workloads []*Workload
	Services  []*Service
}

// Parse reads a config dump. Like istioctl (configdump.go Prime), it takes
// workloads and services as a list or as a map keyed by address (newer
// ztunnels), and ignores the sections it does not read. The input is
// hostile: bounded, and a bad shape is an error, never a panic.
func Parse(r io.Reader) (*Dump, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDump+1))
	if err != nil {
		return nil, fmt.Errorf("read ztunnel config dump: %w", err)
	}
	if len(b) > MaxDump {
		return nil, fmt.Errorf("ztunnel config dump is larger than %d bytes", MaxDump)
	}
	var raw struct {
		Workloads json.RawMessage `json:"workloads"`
		Services  json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("ztunnel config dump: %w", err)
	}
	d := &Dump{}
	if err := listOrMap(raw.Workloads, &d.Workloads); err != nil {
		return nil, fmt.Errorf("ztunnel config dump workloads: %w", err)
	}
	if err := listOrMap(raw.Services, &d.Services); err != nil {
		return nil, fmt.Errorf("ztunnel config dump services: %w", err)
	}
	d.Workloads = slices.DeleteFunc(d.Workloads, func(w *Workload) bool { return w == nil })
	d.Services = slices.DeleteFunc(d.Services, func(s *Service) bool { return s == nil })
	return d, nil
}

func listOrMap[T any](in json.RawMessage, out *[]T) error {
	if len(in) == 0 || string(in) == "null" {
		return nil
	}
	if in[0] == '[' {
		return json.Unmarshal(in, out)
	}
	m := map[string]T{}
	if err := json.Unmarshal(in, &m); err != nil {
		return err
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		*out = append(*out, m[k])
	}
	return nil
}

// WorkloadFilter selects workloads as istioctl's does (workload.go
// WorkloadFilter.Verify): every set field must match, case-insensitively.
type WorkloadFilter struct {
	Address, Node, Namespace, Name string
}

func (f WorkloadFilter) match(w *Workload) bool {
	if f.Name != "" && !strings.EqualFold(w.Name, f.Name) || f.Namespace != "" && !strings.EqualFold(w.Namespace, f.Namespace) ||
		f.Node != "" && !strings.EqualFold(w.Node, f.Node) {
		return false
	}
	if f.Address != "" {
		return slices.ContainsFunc(w.WorkloadIPs, func(ip string) bool { return strings.EqualFold(ip, f.Address) })
	}
	return true
}

func tw(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 1, ' ', 0) }

// PrintWorkloads prints `istioctl ztunnel-config workload`'s listing.
func (d *Dump) PrintWorkloads(out io.Writer, f WorkloadFilter) error {
	var ws []*Workload
	for _, w := range d.Workloads {
		if f.match(w) {
			ws = append(ws, w)
		}
	}
	slices.SortStableFunc(ws, func(a, b *Workload) int {
		return cmp.Or(cmp.Compare(a.Namespace+"."+a.Name, b.Namespace+"."+b.Name), cmp.Compare(a.Node, b.Node))
	})
	w := tw(out)
	fmt.Fprintln(w, "NAMESPACE\tPOD NAME\tADDRESS\tNODE\tWAYPOINT\tPROTOCOL")
	for _, wl := range ws {
		addr := strings.Join(wl.WorkloadIPs, ",")
		if addr == "" {
			addr = wl.Hostname
		}
		fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\t%v\n", wl.Namespace, wl.Name, addr, wl.Node, d.waypointName(wl.Waypoint), wl.Protocol)
	}
	return w.Flush()
}

// PrintServices prints `istioctl ztunnel-config service`'s listing
// (services.go PrintServiceSummary): endpoints healthy/all, healthy being
// a known workload with status Healthy.
func (d *Dump) PrintServices(out io.Writer, namespace string) error {
	byUID := map[string]*Workload{}
	for _, w := range d.Workloads {
		byUID[w.UID] = w
	}
	var ss []*Service
	for _, s := range d.Services {
		if namespace == "" || strings.EqualFold(s.Namespace, namespace) {
			ss = append(ss, s)
		}
	}
	slices.SortStableFunc(ss, func(a, b *Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Hostname, b.Hostname))
	})
	w := tw(out)
	fmt.Fprintln(w, "NAMESPACE\tSERVICE NAME\tSERVICE VIP\tWAYPOINT\tENDPOINTS")
	for _, s := range ss {
		var ips []string
		for _, a := range s.Addresses {
			_, ip, _ := strings.Cut(a, "/")
			ips = append(ips, ip)
		}
		healthy := 0
		for _, ep := range s.Endpoints {
			if ep == nil {
				continue
			}
			if wl, ok := byUID[ep.WorkloadUID]; ok && wl.Status == "Healthy" {
				healthy++
			}
		}
		fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\n", s.Namespace, s.Name, strings.Join(ips, ","), d.waypointName(s.Waypoint), fmt.Sprintf("%d/%d", healthy, len(s.Endpoints)))
	}
	return w.Flush()
}

// waypointName resolves a waypoint reference to the name of the service it
// points at, as istioctl's waypointName does: "None" without one, "NA"
// when no service matches.
func (d *Dump) waypointName(a *Address) string {
	if a == nil {
		return "None"
	}
	for _, s := range d.Services {
		if s.Namespace+"/"+s.Hostname == a.Destination || slices.Contains(s.Addresses, a.Destination) {
			return s.Name
		}
	}
	return "NA"
}
