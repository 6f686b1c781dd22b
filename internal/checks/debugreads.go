package checks

import (
	"context"
	"sync"

	"github.com/meshdoctor/meshdoctor/internal/envoyadmin"
)

// debugReads holds, for one run (one Env), what each istiod debug path
// answered: endpoints.istiod-sync and secrets.istiod-loaded both read
// /debug/clusterz of the same istiod, and the endpoint checks read
// /debug/networkz of each primary once per cluster they resolve gateways
// for. Without it each of them opened its own port-forward to the same pod
// for the same bytes, and a snapshot recorded them twice. The zero value is
// ready to use; concurrent callers of one path wait for the one read.
//
// A read that ended because the reading check's context ended (its
// deadline, not istiod's answer) is not kept: the next caller reads again.
// Callers must not change the body they get.
type debugReads struct {
	mu sync.Mutex
	m  map[debugKey]*debugRead
}

type debugKey struct {
	pod  envoyadmin.PodRef
	path string
}

type debugRead struct {
	done    chan struct{}
	body    []byte
	err     error
	dropped bool // the reader's context ended: not an answer, read again
}

// get returns what f answers for path of pod, reading it at most once per
// run while the answers are kept.
func (d *debugReads) get(ctx context.Context, f envoyadmin.Fetcher, pod envoyadmin.PodRef, path string) ([]byte, error) {
	k := debugKey{pod, path}
	for {
		d.mu.Lock()
		if d.m == nil {
			d.m = map[debugKey]*debugRead{}
		}
		r, ok := d.m[k]
		if !ok {
			r = &debugRead{done: make(chan struct{})}
			d.m[k] = r
			d.mu.Unlock()
			r.body, r.err = f.Get(ctx, pod, path)
			if r.err != nil && ctx.Err() != nil {
				d.mu.Lock()
				delete(d.m, k)
				r.dropped = true
				d.mu.Unlock()
			}
			close(r.done)
			return r.body, r.err
		}
		d.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !r.dropped {
			return r.body, r.err
		}
	}
}
