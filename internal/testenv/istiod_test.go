package testenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
)

// fakeADS is a gRPC ADS server over unencrypted HTTP/2 that answers a CDS
// request with two clusters (one EDS) and an EDS request with a
// ClusterLoadAssignment, recording the requests.
type fakeADS struct {
	reqs []fakeReq
}

type fakeReq struct {
	node                    string
	names                   []string
	typeURL, nonce, version string
}

func parseReq(b []byte) (fakeReq, error) {
	var r fakeReq
	for len(b) > 0 {
		num, _, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case 1:
			r.version = string(v)
		case 2:
			var node corev3.Node
			if err := proto.Unmarshal(v, &node); err != nil {
				return r, err
			}
			r.node = node.GetId() + " " + node.GetMetadata().GetFields()["NETWORK"].GetStringValue()
		case 3:
			r.names = append(r.names, string(v))
		case 4:
			r.typeURL = string(v)
		case 5:
			r.nonce = string(v)
		}
	}
	return r, nil
}

func response(t *testing.T, typeURL, version, nonce string, msgs ...proto.Message) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, version)
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, ab)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, typeURL)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, nonce)
	frame := make([]byte, 5)
	binary.BigEndian.PutUint32(frame[1:], uint32(len(b)))
	return append(frame, b...)
}

func (f *fakeADS) serve(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protos, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != adsPath || r.Header.Get("Content-Type") != "application/grpc" {
			http.Error(w, "not ADS", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		for {
			var hdr [5]byte
			if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
				w.Header().Set("Grpc-Status", "0")
				return
			}
			msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
			if _, err := io.ReadFull(r.Body, msg); err != nil {
				return
			}
			req, err := parseReq(msg)
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			f.reqs = append(f.reqs, req)
			var out []byte
			switch {
			case req.typeURL == typeCluster && req.nonce == "":
				out = response(t, typeCluster, "v1", "n1",
					&clusterv3.Cluster{Name: "outbound|5000||helloworld.sample.svc.cluster.local", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}},
					&clusterv3.Cluster{Name: "PassthroughCluster", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}})
			case req.typeURL == typeCLA && req.nonce == "":
				ep := func(addr string, port, weight uint32) *endpointv3.LbEndpoint {
					return &endpointv3.LbEndpoint{
						HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
							SocketAddress: &corev3.SocketAddress{Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}},
						LoadBalancingWeight: wrapperspb.UInt32(weight),
					}
				}
				out = response(t, typeCLA, "v1", "n2", &endpointv3.ClusterLoadAssignment{
					ClusterName: req.names[0],
					Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{ep("10.214.101.5", 5000, 1), ep("10.214.2.10", 15443, 1)}}},
				})
			default:
				continue // an ACK
			}
			if _, err := w.Write(out); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestEndpointsDump speaks the ADS client's protocol to a fake server and
// reads the dump it makes with envoyadmin.ParseConfigDump.
func TestEndpointsDump(t *testing.T) {
	f := &fakeADS{}
	ist := &Istiod{GRPCAddr: f.serve(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node := NodeMeta{IP: "10.214.101.9", Pod: "sleep-x", Namespace: "sample", ClusterID: "cluster-1", Network: "network1"}
	const name = "outbound|5000||helloworld.sample.svc.cluster.local"
	dump, err := ist.EndpointsDump(ctx, node, name)
	if err != nil {
		t.Fatal(err)
	}
	table, err := envoyadmin.ParseConfigDump(bytes.NewReader(dump))
	if err != nil {
		t.Fatalf("%v\n%s", err, dump)
	}
	eps := table[name]
	if len(eps) != 2 || eps[0].HostPort() != "10.214.101.5:5000" && eps[1].HostPort() != "10.214.101.5:5000" {
		t.Errorf("table %v", table)
	}
	if len(f.reqs) < 3 {
		t.Fatalf("requests %+v, want CDS, CDS ACK, EDS", f.reqs)
	}
	if f.reqs[0].typeURL != typeCluster || f.reqs[0].node != "sidecar~10.214.101.9~sleep-x.sample~sample.svc.cluster.local network1" {
		t.Errorf("first request %+v", f.reqs[0])
	}
	if r := f.reqs[1]; r.typeURL != typeCluster || r.nonce != "n1" || r.version != "v1" {
		t.Errorf("CDS ACK %+v", r)
	}
	if r := f.reqs[2]; r.typeURL != typeCLA || len(r.names) != 1 || r.names[0] != name {
		t.Errorf("EDS request %+v", r)
	}

	if _, err := ist.EndpointsDump(ctx, node, "outbound|9||nothing.sample.svc.cluster.local"); err == nil {
		t.Errorf("no error for a cluster istiod did not send")
	}
}

func TestStartIstiodMissingBinary(t *testing.T) {
	e := &Env{Dir: t.TempDir(), root: t.TempDir(), Clusters: []*Cluster{{Name: "cluster-1"}}}
	_, err := StartIstiod(context.Background(), e, "cluster-1", IstiodOptions{})
	if !errors.Is(err, ErrMissingBinary) {
		t.Errorf("err = %v, want ErrMissingBinary", err)
	}
}

// TestStartIstiodNamedDeploymentMissing: a Deployment asked for by name
// (a revisioned istiod) that the cluster lacks is an error before anything
// starts, not an istiod of revision "default" with the built-in mesh config.
func TestStartIstiodNamedDeploymentMissing(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, IstiodBinary), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &Env{Dir: t.TempDir(), root: root, Clusters: []*Cluster{{Name: "cluster-1", Admin: kubefake.NewClientset()}}}
	_, err := StartIstiod(context.Background(), e, "cluster-1", IstiodOptions{Deployment: "istiod-1-31", Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "no deployment istio-system/istiod-1-31") {
		t.Errorf("err = %v, want no deployment istio-system/istiod-1-31", err)
	}
}

// TestRecordedIstiodDumps: the dumps recorded from the real istiod
// (go test ./e2e -run TestIstiodOracle -update-istiod) parse, and each
// sidecar sees its own cluster's pod and the other network's gateway.
func TestRecordedIstiodDumps(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"cluster-1": {"10.214.101.5:5000", "10.214.2.10:15443"},
		"cluster-2": {"10.214.1.10:15443", "10.214.102.5:5000"},
	}
	for cluster, hosts := range want {
		b, err := os.ReadFile(filepath.Join(root, "testdata", "envoy", "istiod-"+cluster+"-config_dump.json"))
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("no recorded dump: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		table, err := envoyadmin.ParseConfigDump(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", cluster, err)
		}
		var got []string
		for _, e := range table["outbound|5000||helloworld.sample.svc.cluster.local"] {
			got = append(got, e.HostPort())
		}
		slices.Sort(got)
		if !slices.Equal(got, hosts) {
			t.Errorf("%s: endpoints %v, want %v", cluster, got, hosts)
		}
	}
}
