package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/mesh"
)

// ambientInv is a minimal ambient primary: istiod (image tag version, env),
// istio-system on its network, an ambient namespace, ztunnel and
// istio-cni at agentTag, and the given Gateway API state.
func ambientInv(name, network, version, agentTag string, env map[string]string, gwAPI string, gws ...cluster.K8sGateway) *cluster.Inventory {
	var ev []corev1.EnvVar
	for k, v := range env {
		ev = append(ev, corev1.EnvVar{Name: k, Value: v})
	}
	ev = append(ev, corev1.EnvVar{Name: "CLUSTER_ID", Value: name})
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "istiod", Namespace: "istio-system", Labels: map[string]string{"app": "istiod"}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "discovery", Image: "docker.io/istio/pilot:" + version, Env: ev}}}}},
		Status: appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1}}
	return &cluster.Inventory{Context: name, Server: "https://" + name + ":6443", FetchedAt: time.Now(),
		Namespaces: []corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "istio-system", Labels: map[string]string{"topology.istio.io/network": network}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "sample", Labels: map[string]string{"istio.io/dataplane-mode": "ambient"}}},
		},
		Deployments: []appsv1.Deployment{d},
		Ambient: &cluster.Ambient{DaemonSetsListed: true, GatewayAPI: gwAPI, Gateways: gws, PodsListed: true,
			DaemonSets: []cluster.AgentDaemonSet{
				{Namespace: "istio-system", Name: "ztunnel", Agent: cluster.AgentZtunnel, Images: []string{"docker.io/istio/ztunnel:" + agentTag}, Desired: 1, Ready: 1},
				{Namespace: "istio-system", Name: "istio-cni-node", Agent: cluster.AgentCNI, Images: []string{"docker.io/istio/install-cni:" + agentTag}, Desired: 1, Ready: 1},
			}},
	}
}

func eastWest(network string, listener cluster.K8sListener, addr string) cluster.K8sGateway {
	g := cluster.K8sGateway{Namespace: "istio-system", Name: "istio-eastwestgateway", Class: mesh.EastWestGatewayClass,
		Labels: map[string]string{"topology.istio.io/network": network}, Listeners: []cluster.K8sListener{listener}}
	if addr != "" {
		g.Addresses = []cluster.K8sAddress{{Type: "IPAddress", Value: addr}}
	}
	return g
}

var hbone = cluster.K8sListener{Name: "mesh", Port: 15008, Protocol: "HBONE", TLSMode: "Terminate", TerminateMode: "ISTIO_MUTUAL"}

var multiNetworkEnv = map[string]string{"PILOT_ENABLE_AMBIENT": "true", "AMBIENT_ENABLE_MULTI_NETWORK": "true"}

func runAmbient(t *testing.T, invs ...*cluster.Inventory) map[string][]checks.Result {
	t.Helper()
	cat, err := checks.Select(checks.Catalogue(), []string{"ambient.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &checks.Runner{Checks: cat}
	got := map[string][]checks.Result{}
	for _, res := range r.Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: time.Now(), NoNetwork: true}, nil) {
		got[res.CheckID+"@"+res.Cluster] = append(got[res.CheckID+"@"+res.Cluster], res)
	}
	return got
}

func statusOf(rs []checks.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Status.String()+" "+r.Target+": "+r.Message)
	}
	return out
}

func wantStatus(t *testing.T, got map[string][]checks.Result, key string, want checks.Status, msg string) {
	t.Helper()
	rs := got[key]
	if len(rs) == 0 {
		t.Errorf("%s: no result", key)
		return
	}
	for _, r := range rs {
		if r.Status == want && strings.Contains(r.Message, msg) {
			return
		}
	}
	t.Errorf("%s: want %s containing %q, got %q", key, want, msg, statusOf(rs))
}

func TestAmbientChecks(t *testing.T) {
	healthy := func() []*cluster.Inventory {
		return []*cluster.Inventory{
			ambientInv("cluster-1", "network1", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.1.10")),
			ambientInv("cluster-2", "network2", "1.30.0", "1.29.2", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", hbone, "10.214.2.10")),
		}
	}
	t.Run("healthy ambient multi-network passes", func(t *testing.T) {
		got := runAmbient(t, healthy()...)
		for k, rs := range got {
			for _, r := range rs {
				if r.Status == checks.Fail || r.Status == checks.Error || r.Status == checks.Warn {
					t.Errorf("%s: %s %s", k, r.Status, r.Message)
				}
			}
		}
		wantStatus(t, got, "ambient.eastwest-gateway@cluster-2", checks.Pass, "HBONE on 15008 at 10.214.2.10")
		wantStatus(t, got, "ambient.agent-skew@cluster-2", checks.Pass, "1.29.2 with istiod 1.30.0")
	})
	t.Run("AMBIENT_ENABLE_MULTI_NETWORK missing fails", func(t *testing.T) {
		invs := healthy()
		invs[1] = ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", map[string]string{"PILOT_ENABLE_AMBIENT": "true"}, cluster.GatewayAPIServed, eastWest("network2", hbone, "10.214.2.10"))
		got := runAmbient(t, invs...)
		wantStatus(t, got, "ambient.istiod-multi-network@cluster-2", checks.Fail, "AMBIENT_ENABLE_MULTI_NETWORK=true")
		if r := got["ambient.istiod-multi-network@cluster-2"][0]; !strings.Contains(r.Remediation, "set env 'deploy/istiod' AMBIENT_ENABLE_MULTI_NETWORK=true") && !strings.Contains(r.Remediation, "set env deploy/istiod AMBIENT_ENABLE_MULTI_NETWORK=true") {
			t.Errorf("remediation %q", r.Remediation)
		}
	})
	t.Run("a false value counts as unset", func(t *testing.T) {
		invs := healthy()
		invs[0] = ambientInv("cluster-1", "network1", "1.30.0", "1.30.0", map[string]string{"PILOT_ENABLE_AMBIENT": "true", "AMBIENT_ENABLE_MULTI_NETWORK": "no"}, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.1.10"))
		wantStatus(t, runAmbient(t, invs...), "ambient.istiod-multi-network@cluster-1", checks.Fail, "without AMBIENT_ENABLE_MULTI_NETWORK")
	})
	t.Run("Gateway API CRDs absent fails and skips the gateway check", func(t *testing.T) {
		invs := healthy()
		invs[0] = ambientInv("cluster-1", "network1", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIAbsent)
		got := runAmbient(t, invs...)
		wantStatus(t, got, "ambient.gateway-api@cluster-1", checks.Fail, "Gateway API CRDs are not installed")
		wantStatus(t, got, "ambient.eastwest-gateway@cluster-1", checks.Skipped, "")
	})
	t.Run("gateway without 15008 HBONE fails", func(t *testing.T) {
		invs := healthy()
		tls := cluster.K8sListener{Name: "tls", Port: 15443, Protocol: "TLS", TLSMode: "Passthrough"}
		invs[1] = ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", tls, "10.214.2.10"))
		wantStatus(t, runAmbient(t, invs...), "ambient.eastwest-gateway@cluster-2", checks.Fail, "no HBONE listener")
	})
	t.Run("HBONE on another port fails", func(t *testing.T) {
		invs := healthy()
		l := hbone
		l.Port = 15009
		invs[1] = ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", l, "10.214.2.10"))
		wantStatus(t, runAmbient(t, invs...), "ambient.eastwest-gateway@cluster-2", checks.Fail, "listens for HBONE on 15009")
	})
	t.Run("gateway without address fails", func(t *testing.T) {
		invs := healthy()
		invs[1] = ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", hbone, ""))
		wantStatus(t, runAmbient(t, invs...), "ambient.eastwest-gateway@cluster-2", checks.Fail, "no address in its status")
	})
	t.Run("no east-west gateway fails with the sample command", func(t *testing.T) {
		invs := healthy()
		invs[1] = ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed)
		got := runAmbient(t, invs...)
		wantStatus(t, got, "ambient.eastwest-gateway@cluster-2", checks.Fail, "no Gateway of class istio-east-west")
		if r := got["ambient.eastwest-gateway@cluster-2"][0]; !strings.Contains(r.Remediation, "gen-eastwest-gateway.sh --network network2 --ambient") {
			t.Errorf("remediation %q", r.Remediation)
		}
	})
	t.Run("ztunnel two minors older fails, newer fails", func(t *testing.T) {
		invs := healthy()
		invs[0] = ambientInv("cluster-1", "network1", "1.30.0", "1.28.1", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.1.10"))
		invs[1] = ambientInv("cluster-2", "network2", "1.30.0", "1.31.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", hbone, "10.214.2.10"))
		got := runAmbient(t, invs...)
		wantStatus(t, got, "ambient.agent-skew@cluster-1", checks.Fail, "2 minor versions older")
		wantStatus(t, got, "ambient.agent-skew@cluster-2", checks.Fail, "newer than istiod")
	})
	t.Run("unknown istiod version skips the skew", func(t *testing.T) {
		invs := healthy()
		invs[0] = ambientInv("cluster-1", "network1", "latest", "latest", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.1.10"))
		wantStatus(t, runAmbient(t, invs...), "ambient.agent-skew@cluster-1", checks.Skipped, "not known")
	})
	t.Run("ambient namespace without ztunnel fails", func(t *testing.T) {
		invs := healthy()
		invs[0].Ambient.DaemonSets = invs[0].Ambient.DaemonSets[1:]
		wantStatus(t, runAmbient(t, invs...), "ambient.dataplane@cluster-1", checks.Fail, "no ztunnel DaemonSet runs")
	})
	t.Run("one network for two ambient clusters warns", func(t *testing.T) {
		invs := healthy()
		invs[1] = ambientInv("cluster-2", "network1", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.2.10"))
		wantStatus(t, runAmbient(t, invs...), "ambient.topology@", checks.Warn, "untested")
	})
	t.Run("a sidecar mesh skips every ambient check", func(t *testing.T) {
		invs := healthy()
		for _, inv := range invs {
			inv.Ambient.DaemonSets = nil
			inv.Namespaces[1].Labels = map[string]string{"istio-injection": "enabled"}
		}
		for k, rs := range runAmbient(t, invs...) {
			for _, r := range rs {
				if strings.HasPrefix(k, "ambient.") && r.Status != checks.Skipped && !(k == "ambient.dataplane@"+r.Cluster && r.Status == checks.Pass) {
					t.Errorf("%s: %s %s", k, r.Status, r.Message)
				}
			}
		}
	})
}

func TestDataPlaneMode(t *testing.T) {
	inv := ambientInv("c", "n", "1.30.0", "1.30.0", nil, cluster.GatewayAPIServed)
	if got := mesh.Build([]*cluster.Inventory{inv}).Clusters[0].DataPlane().Mode; got != mesh.ModeAmbient {
		t.Errorf("ambient cluster: mode %s", got)
	}
	inv.Namespaces = append(inv.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Labels: map[string]string{"istio-injection": "enabled"}}})
	if got := mesh.Build([]*cluster.Inventory{inv}).Clusters[0].DataPlane().Mode; got != mesh.ModeMixed {
		t.Errorf("ambient and injected namespaces: mode %s", got)
	}
	inv.Ambient = nil
	inv.Namespaces = inv.Namespaces[2:]
	if got := mesh.Build([]*cluster.Inventory{inv}).Clusters[0].DataPlane().Mode; got != mesh.ModeSidecar {
		t.Errorf("older snapshot with injection: mode %s", got)
	}
}

// ambientMesh is the ambient profile's mesh config
// (manifests/helm-profiles/ambient.yaml): istio.io/global=true is GLOBAL.
const ambientMesh = `serviceScopeConfigs:
- servicesSelector:
    matchExpressions:
    - key: istio.io/global
      operator: In
      values: ["true"]
  scope: GLOBAL
`

func withService(inv *cluster.Inventory, labels map[string]string, waypoints ...string) *cluster.Inventory {
	inv.ConfigMaps = append(inv.ConfigMaps, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "istio-system"}, Data: map[string]string{"mesh": ambientMesh}})
	inv.Services = append(inv.Services, cluster.CompactService(corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "helloworld", Namespace: "sample", Labels: labels},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 5000}}}}))
	for _, w := range waypoints {
		inv.Ambient.Gateways = append(inv.Ambient.Gateways, cluster.K8sGateway{Namespace: "sample", Name: w, Class: mesh.WaypointGatewayClass})
	}
	return inv
}

func TestAmbientGlobalServicesAndWaypoints(t *testing.T) {
	mk := func(l1, l2 map[string]string, w1, w2 string) []*cluster.Inventory {
		return []*cluster.Inventory{
			withService(ambientInv("cluster-1", "network1", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.1.10")), l1, w1),
			withService(ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", hbone, "10.214.2.10")), l2, w2),
		}
	}
	global := map[string]string{"istio.io/global": "true", "istio.io/use-waypoint": "waypoint"}
	t.Run("global in both with one waypoint name passes", func(t *testing.T) {
		got := runAmbient(t, mk(global, global, "waypoint", "waypoint")...)
		wantStatus(t, got, "ambient.global-services@", checks.Pass, "global in every cluster")
		wantStatus(t, got, "ambient.waypoint-names@", checks.Pass, "uses waypoint sample/waypoint in every cluster")
	})
	t.Run("global in one cluster only fails with the label command", func(t *testing.T) {
		got := runAmbient(t, mk(global, map[string]string{"istio.io/use-waypoint": "waypoint"}, "waypoint", "waypoint")...)
		wantStatus(t, got, "ambient.global-services@", checks.Fail, "global in cluster-1 but local in cluster-2")
		if r := got["ambient.global-services@"][0]; r.Remediation != "kubectl --context cluster-2 -n sample label svc helloworld istio.io/global=true --overwrite" {
			t.Errorf("remediation %q", r.Remediation)
		}
	})
	t.Run("waypoint name differing fails", func(t *testing.T) {
		other := map[string]string{"istio.io/global": "true", "istio.io/use-waypoint": "helloworld-waypoint"}
		got := runAmbient(t, mk(global, other, "waypoint", "helloworld-waypoint")...)
		wantStatus(t, got, "ambient.waypoint-names@", checks.Fail, "uses waypoint sample/")
	})
	t.Run("waypoint missing in one cluster fails", func(t *testing.T) {
		got := runAmbient(t, mk(global, global, "waypoint", "")...)
		wantStatus(t, got, "ambient.waypoint-names@", checks.Fail, "does not exist in cluster-2")
	})
	t.Run("local everywhere is not shared: skipped", func(t *testing.T) {
		got := runAmbient(t, mk(nil, nil, "", "")...)
		wantStatus(t, got, "ambient.global-services@", checks.Skipped, "no global service")
	})
}

// TestSidecarGatewayChecksLeaveOutAmbientGateways: the Service istiod makes
// for an istio-east-west Gateway (15008 and 15021 only) is no sidecar
// gateway missing 15443.
func TestSidecarGatewayChecksLeaveOutAmbientGateways(t *testing.T) {
	invs := []*cluster.Inventory{
		ambientInv("cluster-1", "network1", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network1", hbone, "10.214.1.10")),
		ambientInv("cluster-2", "network2", "1.30.0", "1.30.0", multiNetworkEnv, cluster.GatewayAPIServed, eastWest("network2", hbone, "10.214.2.10")),
	}
	for i, inv := range invs {
		inv.Services = append(inv.Services, cluster.CompactService(corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "istio-eastwestgateway", Namespace: "istio-system", Labels: map[string]string{
				"topology.istio.io/network": inv.Namespaces[0].Labels["topology.istio.io/network"],
				mesh.GatewayClassLabel:      mesh.EastWestGatewayClass, mesh.GatewayNameLabel: "istio-eastwestgateway"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Name: "status-port", Port: 15021}, {Name: "mesh", Port: 15008}},
				Selector: map[string]string{mesh.GatewayNameLabel: "istio-eastwestgateway"}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: []string{"10.214.1.10", "10.214.2.10"}[i]}}}},
		}))
	}
	cat, err := checks.Select(checks.Catalogue(), []string{"gateway.*", "network.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &checks.Runner{Checks: cat}
	for _, res := range r.Run(context.Background(), &checks.Env{Mesh: mesh.Build(invs), Now: time.Now(), NoNetwork: true}, nil) {
		if res.Status == checks.Fail || res.Status == checks.Error {
			t.Errorf("%s %s: %s %s", res.CheckID, res.Subject(), res.Status, res.Message)
		}
		if res.CheckID == "gateway.ports" && (res.Status != checks.Skipped || !strings.Contains(res.Message, "ambient east-west gateway")) {
			t.Errorf("gateway.ports %s: %s %s, want skipped naming the ambient gateway", res.Cluster, res.Status, res.Message)
		}
		if res.CheckID == "network.gateway-per-network" && res.Status != checks.Pass {
			t.Errorf("network.gateway-per-network %s: %s %s", res.Target, res.Status, res.Message)
		}
	}
}
