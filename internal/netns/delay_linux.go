//go:build linux

package netns

import (
	"bytes"
	"errors"
	"os"
	"time"
)

// packet is one IP packet held until due.
type packet struct {
	b   []byte
	due time.Time
}

// start runs the two directions: host to namespace at once, namespace to
// host after Delay.
func (l *DelayLink) start() {
	l.wg.Go(func() { l.forward(l.hostTun, l.nsTun) })
	q := make(chan packet, 1024)
	l.wg.Go(func() { l.read(l.nsTun, q) })
	l.wg.Go(func() { l.release(q, l.hostTun) })
}

// forward copies packets from src to dst until src is closed.
func (l *DelayLink) forward(src, dst *os.File) {
	buf := make([]byte, 1<<16)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		_, _ = dst.Write(buf[:n]) // a dropped packet is what a wire does too
	}
}

// read queues packets from src, each stamped with its release time, until src
// is closed or the link stops.
func (l *DelayLink) read(src *os.File, q chan<- packet) {
	defer close(q)
	buf := make([]byte, 1<<16)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case q <- packet{b: bytes.Clone(buf[:n]), due: time.Now().Add(l.Delay)}:
		case <-l.stop:
			return
		}
	}
}

// release writes queued packets to dst when they are due, in order.
func (l *DelayLink) release(q <-chan packet, dst *os.File) {
	t := time.NewTimer(0)
	defer t.Stop()
	for p := range q {
		if d := time.Until(p.due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-l.stop:
				return
			}
		}
		_, _ = dst.Write(p.b)
	}
}

// Close stops the link and removes both TUN devices (they go away with their
// descriptors). It is idempotent.
func (l *DelayLink) Close() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		var errs []error
		for _, f := range []*os.File{l.hostTun, l.nsTun} {
			if f != nil {
				if cerr := f.Close(); cerr != nil {
					errs = append(errs, cerr)
				}
			}
		}
		l.wg.Wait()
		err = errors.Join(errs...)
	})
	return err
}
