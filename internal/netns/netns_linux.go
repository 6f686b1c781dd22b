//go:build linux

package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	netnsDir = "/run/netns"
	// lockPath serialises claiming blocks and names across processes.
	lockPath = "/run/meshdoctor-netns.lock"
	// cmdTimeout bounds every ip/tc command this package runs itself.
	cmdTimeout = 10 * time.Second
)

// Available returns nil if this process can create namespaces: it runs as
// root and `ip netns` works. Otherwise the error says why.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root (euid %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("find ip(8): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "list"); err != nil {
		return err
	}
	return nil
}

// New creates namespace name joined to the host by a veth pair in prefix
// (an IPv4 block of at most /30 inside TestRange): the host end gets the first
// address, the namespace end the second; both links and the namespace's lo
// are up. It fails with ErrInUse if the name exists or any address of prefix
// is already configured on the host.
func New(name string, prefix netip.Prefix) (*NS, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	unlock, err := lockHost()
	if err != nil {
		return nil, err
	}
	defer unlock()
	used, err := hostPrefixesInUse()
	if err != nil {
		return nil, err
	}
	if overlapsAny(prefix.Masked(), used) {
		return nil, fmt.Errorf("create netns %s: block %s: %w", name, prefix, ErrInUse)
	}
	return create(name, prefix.Masked())
}

// NewAuto is New in the first free /30 of TestRange, searching from a
// block derived from name so that concurrent callers rarely meet.
func NewAuto(name string) (*NS, error) {
	unlock, err := lockHost()
	if err != nil {
		return nil, err
	}
	defer unlock()
	prefix, err := freeBlock(name)
	if err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	return create(name, prefix)
}

// create does the work of New; the caller holds the host lock.
func create(name string, prefix netip.Prefix) (*NS, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("create netns %q: invalid name", name)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		return nil, fmt.Errorf("create netns %s: %w", name, ErrInUse)
	}
	h := shortHash(name)
	n := &NS{
		Name:     name,
		Prefix:   prefix,
		HostAddr: prefix.Addr().Next(),
		Addr:     prefix.Addr().Next().Next(),
		HostLink: "md" + h + "vh",
		Link:     "md" + h + "vn",
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	bits := strconv.Itoa(prefix.Bits())
	steps := [][]string{
		{"ip", "netns", "add", name},
		{"ip", "link", "add", n.HostLink, "type", "veth", "peer", "name", n.Link, "netns", name},
		{"ip", "addr", "add", n.HostAddr.String() + "/" + bits, "dev", n.HostLink},
		{"ip", "link", "set", n.HostLink, "up"},
		{"ip", "-n", name, "addr", "add", n.Addr.String() + "/" + bits, "dev", n.Link},
		{"ip", "-n", name, "link", "set", n.Link, "up"},
		{"ip", "-n", name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return nil, errors.Join(fmt.Errorf("create netns %s: %w", name, err), n.Close())
		}
	}
	return n, nil
}

// Do runs fn on a locked OS thread switched into the namespace and switches
// the thread back afterwards (a thread that cannot be switched back is
// discarded). Sockets created inside fn stay in the namespace after Do
// returns; goroutines started by fn do not run in it. fn's error is returned
// unchanged.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- n.do(fn) }()
	return <-errc
}

func (n *NS) do(fn func() error) error {
	// Not unlocked on failure to restore: the goroutine then exits holding
	// the thread, and the runtime discards it.
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(filepath.Join(netnsDir, n.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open netns %s: %w", n.Name, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", n.Name, err)
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return errors.Join(fnErr, fmt.Errorf("leave netns %s: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// DialContext dials from inside the namespace, so *NS can stand in for a
// net.Dialer. Dial IP addresses: name resolution may run on threads outside
// the namespace.
func (n *NS) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() error {
		var lc net.ListenConfig
		var err error
		ln, err = lc.Listen(ctx, network, address)
		return err
	})
	return ln, err
}

// Exec runs a command inside the namespace with `ip netns exec` and returns
// its combined output.
func (n *NS) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Netem adds `tc qdisc replace dev <Link> root netem delay <delay>` on the
// namespace end of the veth pair, delaying every packet leaving the
// namespace. On a kernel without sch_netem the error wraps
// errors.ErrUnsupported; AddDelayLink is the fallback.
func (n *NS) Netem(ctx context.Context, delay time.Duration) error {
	ms := strconv.FormatFloat(float64(delay)/float64(time.Millisecond), 'f', -1, 64) + "ms"
	out, err := n.Exec(ctx, "tc", "qdisc", "replace", "dev", n.Link, "root", "netem", "delay", ms)
	if err != nil && bytes.Contains(out, []byte("qdisc kind is unknown")) {
		return fmt.Errorf("netem delay in netns %s: kernel has no sch_netem (CONFIG_NET_SCH_NETEM): %w", n.Name, errors.ErrUnsupported)
	}
	return err
}

// Close deletes the namespace, its veth pair and its delay links. It is
// idempotent; listeners opened inside should be closed first.
func (n *NS) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	for _, l := range n.links {
		errs = append(errs, l.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := os.Stat(filepath.Join(netnsDir, n.Name)); err == nil {
		if _, err := run(ctx, "ip", "netns", "del", n.Name); err != nil {
			errs = append(errs, err)
		}
	}
	// Deleting the namespace destroys the pair once the namespace is gone,
	// which may be later (open sockets keep it alive): remove it now.
	if _, err := net.InterfaceByName(n.HostLink); err == nil {
		if _, err := run(ctx, "ip", "link", "del", n.HostLink); err != nil {
			// The kernel may have destroyed the pair between the look-up and
			// the delete (the namespace finished going away): that is the
			// outcome we wanted.
			if _, still := net.InterfaceByName(n.HostLink); still == nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// AddDelayLink joins the host and the namespace by a second path, in a free
// /30 of TestRange, whose namespace-to-host direction holds every packet for
// delay. Connecting from the host to the link's Addr then takes at least
// delay. Close (or NS.Close) removes it.
func (n *NS) AddDelayLink(delay time.Duration) (*DelayLink, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("add delay link to netns %s: closed", n.Name)
	}
	unlock, err := lockHost()
	if err != nil {
		return nil, err
	}
	defer unlock()
	prefix, err := freeBlock(n.Name + "/delay" + strconv.Itoa(len(n.links)))
	if err != nil {
		return nil, fmt.Errorf("add delay link to netns %s: %w", n.Name, err)
	}
	h := shortHash(n.Name)
	l := &DelayLink{
		HostAddr: prefix.Addr().Next(),
		Addr:     prefix.Addr().Next().Next(),
		Delay:    delay,
		HostLink: fmt.Sprintf("md%st%dh", h, len(n.links)%10),
		Link:     fmt.Sprintf("md%st%dn", h, len(n.links)%10),
		stop:     make(chan struct{}),
	}
	if l.hostTun, err = openTUN(l.HostLink); err != nil {
		return nil, fmt.Errorf("add delay link to netns %s: %w", n.Name, err)
	}
	if err := n.Do(func() error {
		var err error
		l.nsTun, err = openTUN(l.Link)
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("add delay link to netns %s: %w", n.Name, err), l.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	steps := [][]string{
		{"ip", "addr", "add", l.HostAddr.String(), "peer", l.Addr.String(), "dev", l.HostLink},
		{"ip", "link", "set", l.HostLink, "up"},
		{"ip", "-n", n.Name, "addr", "add", l.Addr.String(), "peer", l.HostAddr.String(), "dev", l.Link},
		{"ip", "-n", n.Name, "link", "set", l.Link, "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return nil, errors.Join(fmt.Errorf("add delay link to netns %s: %w", n.Name, err), l.Close())
		}
	}
	l.start()
	n.links = append(n.links, l)
	return l, nil
}

// openTUN creates TUN device name (no packet information header) in the
// network namespace of the calling thread. The descriptor is non-blocking
// before os.NewFile sees it, so reads go through the poller and Close
// unblocks them.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tun %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// lockHost takes the host-wide lock that makes claiming a block and
// configuring it atomic across processes.
func lockHost() (unlock func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open netns lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// freeBlock finds a /30 of TestRange with no address configured on the host,
// starting at a block derived from seed. The caller holds the host lock.
func freeBlock(seed string) (netip.Prefix, error) {
	used, err := hostPrefixesInUse()
	if err != nil {
		return netip.Prefix{}, err
	}
	r := TestRange()
	const blocks = 1 << (30 - 16)
	base := r.Addr().As4()
	h := fnv.New32a()
	h.Write([]byte(seed))
	h.Write([]byte(strconv.Itoa(os.Getpid())))
	start := h.Sum32() % blocks
	for i := uint32(0); i < blocks; i++ {
		b := (start + i) % blocks
		if b == 0 || b == blocks-1 {
			continue // keep the range's first and last blocks unused
		}
		a := base
		a[2] = byte(b >> 6)
		a[3] = byte(b<<2) & 0xfc
		p := netip.PrefixFrom(netip.AddrFrom4(a), 30)
		if !overlapsAny(p, used) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /30 in %s: %w", r, ErrInUse)
}

// hostPrefixesInUse lists every IPv4 address block configured on an
// interface of the host namespace; single addresses (the host ends of delay
// links) count as their whole /30.
func hostPrefixesInUse() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		p, err := netip.ParsePrefix(ipn.String())
		if err != nil || !p.Addr().Is4() {
			continue
		}
		// A point-to-point address shows as a /32; widen it to the /30 we
		// claimed so the peer's block counts as used too.
		if p.Bits() > 30 {
			p = netip.PrefixFrom(p.Addr(), 30).Masked()
		}
		out = append(out, p)
	}
	return out, nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

func checkPrefix(p netip.Prefix) error {
	r := TestRange()
	switch {
	case !p.IsValid() || !p.Addr().Is4():
		return fmt.Errorf("netns block %s: not an IPv4 prefix", p)
	case p.Bits() > 30:
		return fmt.Errorf("netns block %s: smaller than /30, no room for two addresses", p)
	case p.Bits() < r.Bits() || !r.Contains(p.Addr()):
		return fmt.Errorf("netns block %s: outside the test range %s", p, r)
	}
	return nil
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

// run runs a command and wraps its failure with the command line and output.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}
