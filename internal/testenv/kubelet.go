package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshdoctor/meshdoctor/internal/netns"
	"github.com/meshdoctor/meshdoctor/internal/testenv/kubelet"
)

// kubeletClientUser is the identity the API servers present to kubelets
// (--kubelet-client-certificate).
const kubeletClientUser = "kube-apiserver-kubelet-client"

// Kubelet is one simulated node of a cluster: a Node object whose address
// and kubelet port point at a kubelet stand-in (package kubelet: the
// kubelet's own streaming code), so that `kubectl exec` and `kubectl
// port-forward` reach the pods bound to it through the real API server.
//
// A pod placed in a network namespace (PlacePod) runs its commands and
// takes its port-forwards there, as on a real node. Other pods bound to the
// node run on the host network, unless the test routes them: SetExec for
// commands (a simulated data plane), Forward for ports.
type Kubelet struct {
	Node string

	kl *kubelet.Kubelet

	mu       sync.Mutex
	exec     func(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
	forwards map[string]map[int32]string
	spaces   map[string]*netns.NS
}

// AddNode starts a kubelet stand-in for a new node of a cluster and
// registers the Node. It stops with the environment.
func (e *Env) AddNode(ctx context.Context, cluster, node string) (*Kubelet, error) {
	c := e.Cluster(cluster)
	if c == nil {
		return nil, fmt.Errorf("no cluster %s", cluster)
	}
	serving, err := c.ca.issue("kubelet-"+node, nil, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(serving.cert, serving.key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	k := &Kubelet{Node: node, forwards: map[string]map[int32]string{}, spaces: map[string]*netns.NS{}}
	k.kl, err = kubelet.Start(ctx, kubelet.Options{Addr: "127.0.0.1:0", ServingCert: cert, ClientCAs: pool, Lookup: k.lookup})
	if err != nil {
		return nil, fmt.Errorf("%s: kubelet for %s: %w", cluster, node, err)
	}
	e.mu.Lock()
	e.kubelets = append(e.kubelets, k)
	e.mu.Unlock()

	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"kubernetes.io/hostname": node}}}
	created, err := c.Admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: register node %s: %w", cluster, node, err)
	}
	created.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: node}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.kl.Port())}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if _, err := c.Admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("%s: node %s status: %w", cluster, node, err)
	}
	return k, nil
}

// PlacePod runs the pod's commands and port-forwards in network namespace n.
func (k *Kubelet) PlacePod(namespace, pod string, n *netns.NS) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.spaces[namespace+"/"+pod] = n
}

// SetExec routes the commands of pods without a namespace of their own.
func (k *Kubelet) SetExec(fn func(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.exec = fn
}

// Forward makes port-forwards to port of namespace/pod connect to addr.
func (k *Kubelet) Forward(namespace, pod string, port int32, addr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := namespace + "/" + pod
	if k.forwards[key] == nil {
		k.forwards[key] = map[int32]string{}
	}
	k.forwards[key][port] = addr
}

// lookup serves every pod the API server sends here (it sends only pods
// bound to this node).
func (k *Kubelet) lookup(namespace, name string) (*kubelet.Pod, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := namespace + "/" + name
	p := &kubelet.Pod{Namespace: namespace, Name: name, NS: k.spaces[key], Forward: map[int32]string{}}
	for port, addr := range k.forwards[key] {
		p.Forward[port] = addr
	}
	if fn := k.exec; fn != nil && p.NS == nil {
		p.Exec = func(ctx context.Context, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
			return fn(ctx, namespace, name, container, cmd, stdin, stdout, stderr)
		}
	}
	return p, true
}

// close stops the stand-in; the environment is going away, so an error
// has no one to go to.
func (k *Kubelet) close() { _ = k.kl.Close() }
