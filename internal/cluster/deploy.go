package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProbeLabel marks the pods meshdoctor deployed itself (--deploy-probes):
// the only objects it ever writes.
const ProbeLabel = "meshdoctor.io/probe"

// DeployOptions shape the probe pods of --deploy-probes.
type DeployOptions struct {
	// Namespace must exist; with sidecar injection enabled the pod gets
	// its istio-proxy like any workload.
	Namespace string
	Image     string
	// Wait bounds how long a pod may take to run.
	Wait time.Duration
}

// Deployment is the probe pods of one run.
type Deployment struct {
	mu   sync.Mutex
	pods map[*Client]string
}

// DeployProbes creates one sleep pod per client and waits for each to run.
// It returns the deployment (call Remove, also on error and on Ctrl-C) and,
// per context, why a pod could not be deployed or did not start. The pods
// also end themselves after an hour (activeDeadlineSeconds) should Remove
// never run.
func DeployProbes(ctx context.Context, clients []*Client, o DeployOptions) (*Deployment, map[string]error) {
	d := &Deployment{pods: map[*Client]string{}}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range clients {
		if c.Kube == nil {
			continue
		}
		wg.Go(func() {
			if err := d.deploy(ctx, c, o); err != nil {
				mu.Lock()
				errs[c.Context] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return d, errs
}

func (d *Deployment) deploy(ctx context.Context, c *Client, o DeployOptions) error {
	deadline := int64(3600)
	grace := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "meshdoctor-probe-",
			Namespace:    o.Namespace,
			Labels:       map[string]string{"app": "sleep", ProbeLabel: "true"},
			Annotations:  map[string]string{"sidecar.istio.io/inject": "true"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "sleep", Image: o.Image, Command: []string{"sleep", "3600"},
			}},
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyNever,
		},
	}
	created, err := c.Kube.CoreV1().Pods(o.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create probe pod in %s/%s: %w", c.Context, o.Namespace, err)
	}
	d.mu.Lock()
	d.pods[c] = created.Name
	d.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	for {
		p, err := c.Kube.CoreV1().Pods(o.Namespace).Get(wctx, created.Name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return nil
		}
		select {
		case <-wctx.Done():
			phase := "unknown"
			if p != nil {
				phase = string(p.Status.Phase)
			}
			return fmt.Errorf("probe pod %s/%s in %s did not run within %s (phase %s)", o.Namespace, created.Name, c.Context, o.Wait, phase)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Remove deletes every pod the deployment created. It runs on its own
// deadline, so that it also works after the run's context was cancelled.
func (d *Deployment) Remove(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	grace := int64(0)
	for c, name := range d.pods {
		err := c.Kube.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete probe pod %s/%s in %s: %w", namespace, name, c.Context, err))
			continue
		}
		delete(d.pods, c)
	}
	return errors.Join(errs...)
}
