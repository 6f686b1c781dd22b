package checks

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

var configChecks = []Check{
	{ID: "config.service-sameness", Title: "a Service defined in several clusters has the same type and ports", Scope: Mesh,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServices}, Mesh: serviceSameness},
	{ID: "config.serviceentry-gateway", Title: "ServiceEntries on a gateway port point at a current east-west gateway address and port", Scope: Mesh,
		DependsOn: []string{"gateway.address"}, Needs: []string{cluster.ResServiceEntries}, Mesh: serviceEntryGateway},
}

// skipNamespaces hold per-cluster plumbing, not mesh services.
var skipNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "istio-system"}

func serviceShape(s *cluster.Service) string {
	kind := string(s.Spec.Type)
	if kind == "" {
		kind = string(corev1.ServiceTypeClusterIP)
	}
	if s.Spec.ClusterIP == corev1.ClusterIPNone {
		kind = "headless"
	}
	var ports []string
	for _, p := range s.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		ports = append(ports, fmt.Sprintf("%d/%s", p.Port, proto))
	}
	slices.Sort(ports)
	return kind + " " + strings.Join(ports, ",")
}

func serviceSameness(_ context.Context, env *Env) []Result {
	type seen struct{ cluster, shape string }
	by := map[string][]seen{}
	read := 0
	for _, c := range env.Mesh.Reachable() {
		if c.Inv.Err(cluster.ResServices) != nil {
			continue
		}
		read++
		for i := range c.Inv.Services {
			s := &c.Inv.Services[i]
			if slices.Contains(skipNamespaces, s.Namespace) || s.Namespace == "default" && s.Name == "kubernetes" {
				continue
			}
			key := s.Namespace + "/" + s.Name
			by[key] = append(by[key], seen{c.Name, serviceShape(s)})
		}
	}
	if read < 2 {
		return []Result{tooFew("clusters whose Services were read", read)}
	}
	var out []Result
	shared := 0
	for _, key := range sortedKeys(by) {
		ss := by[key]
		if len(ss) < 2 {
			continue
		}
		shared++
		differs := false
		var ev []Evidence
		for _, s := range ss {
			ev = append(ev, Ev(s.cluster, s.shape))
			differs = differs || s.shape != ss[0].shape
		}
		if differs {
			ns, name, _ := strings.Cut(key, "/")
			var cmds []string
			for _, s := range ss {
				cmds = append(cmds, fmt.Sprintf("%s -n %s get svc %s -o yaml", kc(s.cluster), shellQuote(ns), shellQuote(name)))
			}
			r := noted(failf(strings.Join(cmds, "\n"),
				"Service %s differs between clusters (namespace sameness broken): Istio merges them into one host", key),
				"make type, clusterIP None-ness and ports identical in every cluster that has the Service")
			r.Target = key
			out = append(out, with(r, ev...))
		}
	}
	if len(out) == 0 {
		return []Result{pass(fmt.Sprintf("%d services shared across clusters, all consistent", shared))}
	}
	return out
}

// serviceEntryGateway checks the ServiceEntry endpoints that send to a
// gateway port: 15443 or the port a client dials of any discovered gateway
// (a gatewayPort label, a NodePort gateway's nodePort).
func serviceEntryGateway(_ context.Context, env *Env) []Result {
	type gwAt struct {
		cluster *mesh.Cluster
		gw      *mesh.Gateway
	}
	byAddr := map[string][]gwAt{}
	ports := map[uint32]bool{mesh.DefaultGatewayPort: true}
	var known []string
	if len(env.Mesh.Reachable()) == 0 {
		return []Result{skipf("no cluster was read")}
	}
	for _, c := range env.Mesh.Reachable() {
		for i := range c.Gateways {
			g := &c.Gateways[i]
			ports[uint32(g.Port)] = true
			for _, a := range g.Addresses {
				byAddr[a] = append(byAddr[a], gwAt{c, g})
				known = append(known, fmt.Sprintf("%s:%d (%s)", a, g.Port, c.Name))
			}
		}
	}
	slices.Sort(known)
	portNames := slices.Sorted(maps.Keys(ports))
	var out []Result
	checked := 0
	for _, c := range env.Mesh.Reachable() {
		for _, se := range c.Inv.ServiceEntries {
			for _, we := range se.Spec.GetEndpoints() {
				var used []uint32
				for _, p := range we.GetPorts() {
					if ports[p] {
						used = append(used, p)
					}
				}
				if len(used) == 0 || we.GetAddress() == "" {
					continue
				}
				slices.Sort(used)
				checked++
				addr := we.GetAddress()
				target := fmt.Sprintf("%s/%s %s", se.Namespace, se.Name, addr)
				gws, ok := byAddr[addr]
				if !ok {
					r := noted(failf(fmt.Sprintf("%s -n %s edit serviceentry %s", kc(c.Name), shellQuote(se.Namespace), shellQuote(se.Name)),
						"ServiceEntry %s/%s sends to %s:%d, which is no cluster's east-west gateway address (stale after a gateway change?)", se.Namespace, se.Name, addr, used[0]),
						fmt.Sprintf("replace %s with a current gateway address (see the evidence \"current gateways\")", addr))
					r.Cluster, r.Target = c.Name, target
					out = append(out, with(r, Ev("hosts", strings.Join(se.Spec.GetHosts(), ",")), Ev("current gateways", strings.Join(known, ", "))))
					continue
				}
				var match *gwAt
				for i := range gws {
					if slices.Contains(used, uint32(gws[i].gw.Port)) {
						match = &gws[i]
					}
				}
				if match != nil {
					r := pass(fmt.Sprintf("endpoint %s:%d is %s's east-west gateway %s", addr, match.gw.Port, match.cluster.Name, match.gw.Name()))
					r.Cluster, r.Target = c.Name, target
					out = append(out, r)
					continue
				}
				g := gws[0]
				r := noted(failf(fmt.Sprintf("%s -n %s edit serviceentry %s", kc(c.Name), shellQuote(se.Namespace), shellQuote(se.Name)),
					"ServiceEntry %s/%s sends to %s:%d, but %s's gateway %s there is reached on port %d", se.Namespace, se.Name, addr, used[0], g.cluster.Name, g.gw.Name(), g.gw.Port),
					fmt.Sprintf("send the endpoint to %s:%d", addr, g.gw.Port))
				r.Cluster, r.Target = c.Name, target
				out = append(out, with(r, Ev("hosts", strings.Join(se.Spec.GetHosts(), ",")), Ev("current gateways", strings.Join(known, ", "))))
			}
		}
	}
	if checked == 0 {
		return []Result{pass(fmt.Sprintf("no ServiceEntry endpoint uses a gateway port (%v)", portNames))}
	}
	return out
}
