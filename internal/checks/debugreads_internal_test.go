package checks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
)

// countingFetcher counts each (pod, path) read; entered, when set, is
// signalled when a read starts and the read waits for release (or its
// context) before it answers.
type countingFetcher struct {
	mu      sync.Mutex
	reads   map[string]int
	entered chan struct{}
	release chan struct{}
	err     error
}

func (f *countingFetcher) Get(ctx context.Context, pod envoyadmin.PodRef, path string) ([]byte, error) {
	f.mu.Lock()
	if f.reads == nil {
		f.reads = map[string]int{}
	}
	f.reads[pod.String()+path]++
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, fmt.Errorf("port-forward: %w", ctx.Err())
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	return []byte("body of " + path), nil
}

func (f *countingFetcher) count(pod envoyadmin.PodRef, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[pod.String()+path]
}

var istiodRef = envoyadmin.PodRef{Context: "cluster-1", Namespace: "istio-system", Name: "istiod-abc", Port: envoyadmin.IstiodMonitoringPort}

// TestDebugReadsOncePerPath: concurrent and later readers of one path of
// one pod share a single read, its body and its error; another path or
// another pod is its own read.
func TestDebugReadsOncePerPath(t *testing.T) {
	f := &countingFetcher{entered: make(chan struct{}, 8), release: make(chan struct{})}
	var d debugReads
	ctx := context.Background()
	var wg sync.WaitGroup
	bodies := make([][]byte, 4)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := d.get(ctx, f, istiodRef, envoyadmin.PathClusterz)
			if err != nil {
				t.Error(err)
			}
			bodies[i] = b
		}()
	}
	<-f.entered // one reader is inside Get; the others find its entry and wait, or come after it
	close(f.release)
	wg.Wait()
	for i, b := range bodies {
		if string(b) != "body of "+envoyadmin.PathClusterz {
			t.Errorf("reader %d got %q", i, b)
		}
	}
	if n := f.count(istiodRef, envoyadmin.PathClusterz); n != 1 {
		t.Errorf("4 readers of clusterz made %d reads, want 1", n)
	}
	if _, err := d.get(ctx, f, istiodRef, envoyadmin.PathNetworkz); err != nil {
		t.Fatal(err)
	}
	other := istiodRef
	other.Context = "cluster-2"
	if _, err := d.get(ctx, f, other, envoyadmin.PathClusterz); err != nil {
		t.Fatal(err)
	}
	if a, b := f.count(istiodRef, envoyadmin.PathNetworkz), f.count(other, envoyadmin.PathClusterz); a != 1 || b != 1 {
		t.Errorf("networkz read %d times, the other pod's clusterz %d, want 1 and 1", a, b)
	}
}

// TestDebugReadsKeepsIstiodsErrorNotTheCallersDeadline: istiod's refusal
// is the run's answer (the second check does not wait out a second
// timeout against the same pod), but a read cut short by the reading
// check's own context is not: the next check reads again.
func TestDebugReadsKeepsIstiodsErrorNotTheCallersDeadline(t *testing.T) {
	refused := &countingFetcher{err: errors.New("connection refused")}
	var d debugReads
	for range 2 {
		if _, err := d.get(context.Background(), refused, istiodRef, envoyadmin.PathClusterz); err == nil || err.Error() != "connection refused" {
			t.Fatalf("got %v, want istiod's refusal", err)
		}
	}
	if n := refused.count(istiodRef, envoyadmin.PathClusterz); n != 1 {
		t.Errorf("refused twice by %d reads, want 1", n)
	}

	slow := &countingFetcher{entered: make(chan struct{}, 2), release: make(chan struct{})}
	var d2 debugReads
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := d2.get(ctx, slow, istiodRef, envoyadmin.PathClusterz)
		done <- err
	}()
	<-slow.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reader got %v", err)
	}
	close(slow.release)
	b, err := d2.get(context.Background(), slow, istiodRef, envoyadmin.PathClusterz)
	<-slow.entered
	if err != nil || string(b) != "body of "+envoyadmin.PathClusterz {
		t.Fatalf("after a cancelled read: %q, %v; want a fresh read", b, err)
	}
	if n := slow.count(istiodRef, envoyadmin.PathClusterz); n != 2 {
		t.Errorf("%d reads, want 2 (the cancelled one is not kept)", n)
	}
}
