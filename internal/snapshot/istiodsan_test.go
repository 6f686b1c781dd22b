package snapshot

import (
	"context"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/probe"
)

// TestReplayKeepsIstiodSANProbesApart: probes.istiod-san dials the same
// gateway address as gateway.reachability, with the remote's host as SNI.
// A replay answers each probe with its own record, and none for a host or
// port that was not recorded.
func TestReplayKeepsIstiodSANProbesApart(t *testing.T) {
	gw := []probe.PortResult{{Port: probe.Port{Number: 15443, Kind: probe.KindTLSPassthrough}, Outcome: probe.OutcomeOK}}
	san := []probe.PortResult{{Port: probe.Port{Number: 15012, Kind: probe.KindTLSIstiod}, Outcome: probe.OutcomeBadSAN}}
	s := &Snapshot{Network: Network{Probes: []ProbeRecord{
		{Cluster: "cluster-2", Address: "10.214.1.10", Results: gw},
		{Cluster: "cluster-2", Address: "10.214.1.10", IstiodSANs: []string{"istiod-1-31.istio-system.svc"}, Results: san},
	}}}
	replay, _ := s.Replay()
	ctx := context.Background()
	if got := replay(ctx, probe.GatewayTarget{Cluster: "cluster-2", Address: "10.214.1.10"}); len(got) != 1 || got[0].Outcome != probe.OutcomeOK {
		t.Errorf("gateway probe replayed %+v", got)
	}
	t15012 := probe.GatewayTarget{Cluster: "cluster-2", Address: "10.214.1.10", IstiodSANs: []string{"istiod-1-31.istio-system.svc"},
		Ports: []probe.Port{{Number: 15012, Kind: probe.KindTLSIstiod}}}
	if got := replay(ctx, t15012); len(got) != 1 || got[0].Outcome != probe.OutcomeBadSAN {
		t.Errorf("istiod-san probe replayed %+v", got)
	}
	t15017 := t15012
	t15017.Ports = []probe.Port{{Number: 15017, Kind: probe.KindTLSWebhook}}
	other := t15012
	other.IstiodSANs = []string{"istiod.istio-system.svc"}
	for _, tg := range []probe.GatewayTarget{t15017, other} {
		if got := replay(ctx, tg); got != nil {
			t.Errorf("%v %v: replayed %+v, want nothing recorded", tg.IstiodSANs, tg.Ports, got)
		}
	}
}
