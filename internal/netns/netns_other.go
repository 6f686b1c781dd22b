//go:build !linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"
)

func unsupported() error {
	return fmt.Errorf("network namespaces on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Available always fails: network namespaces are Linux only.
func Available() error { return unsupported() }

// New always fails: network namespaces are Linux only.
func New(string, netip.Prefix) (*NS, error) { return nil, unsupported() }

// NewAuto always fails: network namespaces are Linux only.
func NewAuto(string) (*NS, error) { return nil, unsupported() }

func (n *NS) Do(func() error) error { return unsupported() }
func (n *NS) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, unsupported()
}
func (n *NS) Listen(context.Context, string, string) (net.Listener, error) {
	return nil, unsupported()
}
func (n *NS) Exec(context.Context, string, ...string) ([]byte, error) { return nil, unsupported() }
func (n *NS) Netem(context.Context, time.Duration) error              { return unsupported() }
func (n *NS) AddDelayLink(time.Duration) (*DelayLink, error)          { return nil, unsupported() }
func (n *NS) Close() error                                            { return nil }
func (l *DelayLink) Close() error                                     { return nil }
