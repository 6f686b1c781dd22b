// Package netns creates Linux network namespaces joined to the host by a veth
// pair, so that tests and the integration environment can run gateways and
// pods at real, non-loopback addresses. It needs root and ip(8); callers check
// Available first and skip when it fails.
//
// Only addresses inside TestRange (10.213.0.0/16) are ever configured. Blocks
// are claimed under a host-wide lock, so concurrent test binaries do not
// collide.
package netns

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"
)

// ErrInUse says an address block or a name is already taken on this host.
var ErrInUse = errors.New("already in use")

// TestRange is the only range this package configures addresses in.
func TestRange() netip.Prefix { return netip.MustParsePrefix("10.213.0.0/16") }

// NS is a network namespace with one veth pair to the host namespace.
type NS struct {
	Name     string
	Prefix   netip.Prefix // the block of the veth pair
	HostAddr netip.Addr   // host end of the veth pair (first address of Prefix)
	Addr     netip.Addr   // namespace end of the veth pair (second address)
	HostLink string       // veth name in the host namespace
	Link     string       // veth name inside the namespace

	mu     sync.Mutex
	closed bool
	links  []*DelayLink
}

// DelayLink is a second, point-to-point path from the host into a namespace
// through two TUN devices joined in user space, where every packet leaving
// the namespace is held for Delay. It stands in for `tc qdisc ... netem delay`
// on kernels built without sch_netem: connecting from the host to Addr costs
// at least Delay.
type DelayLink struct {
	HostAddr netip.Addr // host end; the source of connections to Addr
	Addr     netip.Addr // namespace end; dial this from the host
	Delay    time.Duration
	HostLink string // TUN device in the host namespace
	Link     string // TUN device inside the namespace

	hostTun, nsTun *os.File
	stop           chan struct{}
	wg             sync.WaitGroup
	once           sync.Once
}
