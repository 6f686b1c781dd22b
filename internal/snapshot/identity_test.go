package snapshot_test

import (
	"bytes"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
	"github.com/meshdoctor/meshdoctor/internal/snapshot"
)

// What tells two contexts of one API server apart (the kube-system UID, the
// CA fingerprint) and the injector webhooks survive a snapshot.
func TestSnapshotKeepsWhatIdentifiesAServer(t *testing.T) {
	inv := &cluster.Inventory{Context: "c1", Server: "https://c1:6443", CAFingerprint: "ab12",
		Namespaces:       []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: "5f1d0c2e-1"}}},
		MutatingWebhooks: []cluster.WebhookConfig{{Name: "istio-revision-tag-prod", Labels: map[string]string{"istio.io/tag": "prod", "istio.io/rev": "1-31"}}},
	}
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, &snapshot.Snapshot{Manifest: snapshot.Manifest{TakenAt: time.Now()}, Inventories: []*cluster.Inventory{inv}}); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Inventories[0]
	if got.CAFingerprint != "ab12" || got.Namespace("kube-system") == nil || got.Namespace("kube-system").UID != "5f1d0c2e-1" {
		t.Errorf("CA fingerprint %q, kube-system %+v", got.CAFingerprint, got.Namespace("kube-system"))
	}
	if len(got.MutatingWebhooks) != 1 || got.MutatingWebhooks[0].Labels["istio.io/tag"] != "prod" {
		t.Errorf("webhooks %+v", got.MutatingWebhooks)
	}
}
