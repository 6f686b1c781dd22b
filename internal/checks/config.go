package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

var configChecks = []Check{
	{ID: "config.service-sameness", Title: "a Service defined in several clusters has the same type and ports", Scope: Mesh,
		DependsOn: []string{ContextsReachable}, Needs: []string{cluster.ResServices}, Mesh: serviceSameness},
	{ID: "config.serviceentry-gateway", Title: "ServiceEntries on port 15443 point at a current east-west gateway address", Scope: Mesh,
		DependsOn: []string{"gateway.address"}, Needs: []string{cluster.ResServiceEntries}, Mesh: serviceEntryGateway},
}

// skipNamespaces hold per-cluster plumbing, not mesh services.
var skipNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", "istio-system"}

func serviceShape(s *corev1.Service) string {
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
	for _, c := range env.Mesh.Reachable() {
		if c.Inv.Err(cluster.ResServices) != nil {
			continue
		}
		for i := range c.Inv.Services {
			s := &c.Inv.Services[i]
			if slices.Contains(skipNamespaces, s.Namespace) || s.Namespace == "default" && s.Name == "kubernetes" {
				continue
			}
			key := s.Namespace + "/" + s.Name
			by[key] = append(by[key], seen{c.Name, serviceShape(s)})
		}
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
			r := failf(fmt.Sprintf("kubectl --context <each> -n %s get svc %s -o yaml: make type, clusterIP None-ness and ports identical", ns, name),
				"Service %s differs between clusters (namespace sameness broken): Istio merges them into one host", key)
			r.Target = key
			out = append(out, with(r, ev...))
		}
	}
	if len(out) == 0 {
		return []Result{pass(fmt.Sprintf("%d services shared across clusters, all consistent", shared))}
	}
	return out
}

func serviceEntryGateway(_ context.Context, env *Env) []Result {
	current := env.Mesh.GatewayAddresses()
	var known []string
	for a, c := range current {
		known = append(known, a+" ("+c.Name+")")
	}
	slices.Sort(known)
	var out []Result
	checked := 0
	for _, c := range env.Mesh.Reachable() {
		for _, se := range c.Inv.ServiceEntries {
			for _, we := range se.Spec.GetEndpoints() {
				uses15443 := false
				for _, p := range we.GetPorts() {
					uses15443 = uses15443 || p == 15443
				}
				if !uses15443 || we.GetAddress() == "" {
					continue
				}
				checked++
				addr := we.GetAddress()
				target := fmt.Sprintf("%s/%s %s", se.Namespace, se.Name, addr)
				if gc, ok := current[addr]; ok {
					r := pass(fmt.Sprintf("endpoint %s:15443 is %s's east-west gateway", addr, gc.Name))
					r.Cluster, r.Target = c.Name, target
					out = append(out, r)
					continue
				}
				r := failf(fmt.Sprintf("%s -n %s edit serviceentry %s: replace %s with the current gateway address (%s get svc -n istio-system istio-eastwestgateway)", kc(c.Name), se.Namespace, se.Name, addr, kc("<remote>")),
					"ServiceEntry %s/%s sends to %s:15443, which is no cluster's east-west gateway address (stale after a gateway change?)", se.Namespace, se.Name, addr)
				r.Cluster, r.Target = c.Name, target
				out = append(out, with(r, Ev("hosts", strings.Join(se.Spec.GetHosts(), ",")), Ev("current gateway addresses", strings.Join(known, ", "))))
			}
		}
	}
	if checked == 0 {
		return []Result{pass("no ServiceEntry endpoint uses port 15443")}
	}
	return out
}
