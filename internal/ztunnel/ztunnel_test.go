package ztunnel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var golden = filepath.Join("..", "..", "testdata", "ztunnel")

func load(t *testing.T) *Dump {
	t.Helper()
	f, err := os.Open(filepath.Join(golden, "dump.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section is one listing of istioctl's `ztunnel-config all` output (the
// listings are separated by blank lines, workloads first, services second).
func section(all string, i int) string {
	parts := strings.Split(strings.TrimLeft(all, "\n"), "\n\n")
	return parts[i] + "\n"
}

// TestGolden: the listings istioctl ztunnel-config prints from the pinned
// module's testdata (istioctl/pkg/writer/ztunnel/configdump/testdata) come
// out byte for byte.
func TestGolden(t *testing.T) {
	d := load(t)
	all := read(t, "allsummary.txt")
	for _, tt := range []struct {
		name string
		want string
		run  func(*bytes.Buffer) error
	}{
		{"workload", read(t, "workloadsummary.txt"), func(b *bytes.Buffer) error { return d.PrintWorkloads(b, WorkloadFilter{}) }},
		{"workload --namespace default", read(t, "workloadsummary_default.txt"), func(b *bytes.Buffer) error {
			return d.PrintWorkloads(b, WorkloadFilter{Namespace: "default"})
		}},
		{"workload productpage-v1-675fc69cf-jscn2 -n bookinfo", read(t, "workloadsummary_workload.txt"), func(b *bytes.Buffer) error {
			return d.PrintWorkloads(b, WorkloadFilter{Namespace: "bookinfo", Name: "productpage-v1-675fc69cf-jscn2"})
		}},
		{"all: workloads", section(all, 0), func(b *bytes.Buffer) error { return d.PrintWorkloads(b, WorkloadFilter{}) }},
		{"all: services", section(all, 1), func(b *bytes.Buffer) error { return d.PrintServices(b, "") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.run(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant (istioctl):\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestParseListOrMapAndHostileInput(t *testing.T) {
	d, err := Parse(strings.NewReader(`{"workloads":[{"uid":"a","name":"p","namespace":"n","status":"Healthy"}],"services":{"/10.0.0.1":{"name":"s","namespace":"n","endpoints":{"a":{"workloadUid":"a"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Workloads) != 1 || len(d.Services) != 1 {
		t.Fatalf("parsed %d workloads, %d services", len(d.Workloads), len(d.Services))
	}
	for _, bad := range []string{``, `[]`, `{"workloads":"x"}`, `{"services":{"a":5}}`} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) = nil error", bad)
		}
	}
	if d, err := Parse(strings.NewReader(`{"workloads":{"a":null},"services":[null]}`)); err != nil || len(d.Workloads)+len(d.Services) != 0 {
		t.Errorf("null entries: %v, %+v", err, d)
	}
	big := bytes.Repeat([]byte(" "), MaxDump+1)
	if _, err := Parse(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized dump: %v", err)
	}
}

// A ztunnel in cluster-1 (network1) for helloworld: a local pod, a pod of
// network2 behind network2's gateway.
const viewDump = `{"workloads":{
 "network1/10.214.101.12":{"uid":"cluster-1//Pod/sample/helloworld-v1","workloadIps":["10.214.101.12"],"name":"helloworld-v1","namespace":"sample","network":"network1","status":"Healthy","protocol":"HBONE"},
 "network2/10.214.102.12":{"uid":"cluster-2//Pod/sample/helloworld-v2","workloadIps":["10.214.102.12"],"name":"helloworld-v2","namespace":"sample","network":"network2","status":"Healthy","protocol":"HBONE","networkGateway":{"destination":"network2/10.214.2.10"}},
 "network1/10.214.101.99":{"uid":"cluster-1//Pod/sample/old","workloadIps":["10.214.101.99"],"name":"old","namespace":"sample","network":"network1","status":"Healthy"}},
"services":{"sample/helloworld.sample.svc.cluster.local":{"name":"helloworld","namespace":"sample","hostname":"helloworld.sample.svc.cluster.local","vips":["network1/10.96.0.20"],
 "endpoints":{"a":{"workloadUid":"cluster-1//Pod/sample/helloworld-v1"},"b":{"workloadUid":"cluster-2//Pod/sample/helloworld-v2"}}}}}`

// splitDump is what the pinned istiod sends a ztunnel of network1 with
// AMBIENT_ENABLE_MULTI_NETWORK: its own network's pod, and network2's
// endpoints coalesced into one workload through network2's gateway
// (multicluster.go createSplitHorizonWorkload), in the dump's shape of
// testdata/ztunnel/dump.json.
const splitDump = `{"workloads":{
 "network1/10.214.101.12":{"uid":"cluster-1//Pod/sample/helloworld-v1","workloadIps":["10.214.101.12"],"name":"helloworld-v1","namespace":"sample","network":"network1","status":"Healthy","protocol":"HBONE"},
 "network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/10.214.2.10/sample/helloworld.sample.svc.cluster.local":{"uid":"network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/10.214.2.10/sample/helloworld.sample.svc.cluster.local","workloadIps":[],"name":"network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/10.214.2.10/sample/helloworld.sample.svc.cluster.local","namespace":"sample","network":"network2","status":"Healthy","protocol":"HBONE","clusterId":"cluster-2","capacity":1,"networkGateway":{"destination":"network2/10.214.2.10"}}},
"services":{"sample/helloworld.sample.svc.cluster.local":{"name":"helloworld","namespace":"sample","hostname":"helloworld.sample.svc.cluster.local","vips":["network1/10.96.0.20"],
 "endpoints":{"a":{"workloadUid":"cluster-1//Pod/sample/helloworld-v1"},"b":{"workloadUid":"network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/10.214.2.10/sample/helloworld.sample.svc.cluster.local"}}}}}`

func TestDiff(t *testing.T) {
	host := "helloworld.sample.svc.cluster.local"
	want := []Want{{IP: "10.214.101.12", Network: "network1", Cluster: "cluster-1"}, {IP: "10.214.102.12", Network: "network2", Cluster: "cluster-2"}}
	gws := map[string][]string{"network1": {"10.214.1.10"}, "network2": {"10.214.2.10"}}
	for _, tt := range []struct {
		name string
		dump string
		want []Want
		gws  map[string][]string
		out  []string
	}{
		{"the expected view has no difference", viewDump, want, gws, nil},
		{"a gateway that moved is stale", viewDump, want, map[string][]string{"network2": {"10.214.2.11"}}, []string{"stale-gateway 10.214.102.12"}},
		{"a network without gateway is unreachable", viewDump, want, map[string][]string{}, []string{"unreachable-network -"}},
		{"a missing pod is missing", viewDump, append(want, Want{IP: "10.214.101.13", Network: "network1", Cluster: "cluster-1"}), gws, []string{"missing 10.214.101.13"}},
		{"a remote workload without gateway is a remote pod IP", strings.Replace(viewDump, `,"networkGateway":{"destination":"network2/10.214.2.10"}`, "", 1), want, gws, []string{"remote-pod-ip 10.214.102.12"}},
		{"an endpoint nobody expects is unexpected", viewDump, want[:1], gws, []string{"unexpected 10.214.102.12"}},
		{"split horizon: the remote network through its gateway has no difference", splitDump, want, gws, nil},
		{"split horizon: no workload for the remote network is a missing gateway endpoint",
			strings.Replace(splitDump, `,"b":{"workloadUid":"network2/SplitHorizonWorkload/istio-system/istio-eastwestgateway/10.214.2.10/sample/helloworld.sample.svc.cluster.local"}`, "", 1),
			want, gws, []string{"missing 10.214.2.10"}},
		{"split horizon: a gateway that moved is stale", splitDump, want, map[string][]string{"network2": {"10.214.2.11"}}, []string{"stale-gateway 10.214.2.10"}},
		{"split horizon: a capacity other than the remote endpoints is a weight difference", splitDump,
			append(want, Want{IP: "10.214.102.13", Network: "network2", Cluster: "cluster-2"}), gws, []string{"weight 10.214.2.10"}},
		{"split horizon: a gateway addressed by hostname is named by its namespace", strings.ReplaceAll(splitDump, `"destination":"network2/10.214.2.10"`, `"destination":"istio-system/ew.example.com"`),
			want, map[string][]string{"network1": {"10.214.1.10"}, "network2": {"ew.example.com"}}, nil},
		{"split horizon: a dual-stack pod is one workload of the capacity", splitDump,
			[]Want{want[0], {IP: "10.214.102.12", Network: "network2", Cluster: "cluster-2", Workload: "sample/helloworld-v2"},
				{IP: "fd00:10:214:102::12", Network: "network2", Cluster: "cluster-2", Workload: "sample/helloworld-v2"}}, gws, nil},
		{"split horizon: a remote network nobody expects is unexpected", splitDump, want[:1], gws, []string{"unexpected network2/10.214.2.10"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(strings.NewReader(tt.dump))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range d.Diff(host, "network1", tt.want, tt.gws) {
				got = append(got, string(x.Kind)+" "+orDash(x.IP))
			}
			if strings.Join(got, "; ") != strings.Join(tt.out, "; ") {
				t.Errorf("diff = %q, want %q", got, tt.out)
			}
		})
	}
}
