//go:build unix

package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Prefix starts the name of every namespace and temp dir a lab creates;
// Sweep recognises leftovers by it.
const Prefix = "tetherlab-"

// Timeouts. Every wait in the package is bounded; these are the bounds used
// when the caller's context has no deadline of its own.
const (
	// BuildTimeout bounds New, and Build when ctx has no deadline.
	BuildTimeout = 60 * time.Second
	// CloseTimeout bounds Close.
	CloseTimeout = 30 * time.Second
	// DefaultWait bounds WaitFor, Ping and friends when ctx has no deadline.
	DefaultWait = 15 * time.Second
)

// ErrClosed is returned by operations on a lab after Close.
var ErrClosed = errors.New("lab: closed")

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	tag    string // tetherlab-<pid>-<rand>
	dir    string // $TMPDIR/<tag>
	spec   Spec
	hosts  []*Host
	byName map[string]*Host

	mu       sync.Mutex
	closed   bool
	procs    []*Proc
	switches []string // netns names of segment switches
	seq      int      // for log file names

	closeOnce sync.Once
	closeErr  error
}

// New builds a lab for a test: it calls Require(t) (skip, or fail on CI),
// builds the lab within BuildTimeout, fails the test if that fails, and
// registers Close with t.Cleanup. When the test has failed by cleanup time,
// the logs of processes started with Start are written to the test log.
func New(t testing.TB, spec Spec) *Lab {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	l, err := Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.logProcs(t)
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	return l
}

// Build creates the lab described by spec. The caller must Close it. It
// first sweeps leftovers of dead test processes (errors there are ignored:
// they never block a new lab). On failure everything built so far is torn
// down.
func Build(ctx context.Context, spec Spec) (_ *Lab, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	spec, err = spec.normalize()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, BuildTimeout)
		defer cancel()
	}
	_ = Sweep()

	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), hex.EncodeToString(rnd[:]))
	l := &Lab{
		tag:    tag,
		dir:    filepath.Join(os.TempDir(), tag),
		spec:   spec,
		byName: map[string]*Host{},
	}
	if err := os.Mkdir(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// The owner file lets Sweep tell a live lab from the leftover of a dead
	// process whose pid has been reused.
	if err := os.WriteFile(filepath.Join(l.dir, "owner"), []byte(ownerID(os.Getpid())+"\n"), 0o600); err != nil {
		os.RemoveAll(l.dir)
		return nil, fmt.Errorf("lab: %w", err)
	}
	register(l)
	defer func() {
		if err != nil {
			if cerr := l.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()

	for _, hs := range spec.Hosts {
		h := &Host{lab: l, name: hs.Name, ns: tag + "-" + hs.Name, dir: filepath.Join(l.dir, hs.Name)}
		l.hosts = append(l.hosts, h)
		l.byName[hs.Name] = h
		if err := h.startHolder(ctx, hs.Forward); err != nil {
			return nil, err
		}
	}
	if err := l.wire(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// wire creates links and segments, then configures addresses and routes.
func (l *Lab) wire(ctx context.Context) error {
	for _, lk := range l.spec.Links {
		a, b := l.byName[lk.A.Host], l.byName[lk.B.Host]
		if err := ipCmd(ctx, nil, "-n", a.ns, "link", "add", lk.A.Iface, "type", "veth",
			"peer", "name", lk.B.Iface, "netns", b.ns); err != nil {
			return fmt.Errorf("lab: link %s:%s - %s:%s: %w", a.name, lk.A.Iface, b.name, lk.B.Iface, err)
		}
	}
	for _, sg := range l.spec.Segments {
		sw := l.tag + "-sw-" + sg.Name
		if err := ipCmd(ctx, nil, "netns", "add", sw); err != nil {
			return fmt.Errorf("lab: segment %s: %w", sg.Name, err)
		}
		l.mu.Lock()
		l.switches = append(l.switches, sw)
		l.mu.Unlock()
		// Snooping off: with no multicast querier on the segment, MLD/IGMP
		// snooping can starve VRRP and neighbour discovery. STP is off by
		// default, so ports forward at once.
		batch := []string{
			"link set lo up",
			"link add br0 type bridge mcast_snooping 0",
			"link set br0 up",
		}
		for i, m := range sg.Members {
			h := l.byName[m.Host]
			batch = append(batch,
				fmt.Sprintf("link add p%d type veth peer name %s netns %s", i, m.Iface, h.ns),
				fmt.Sprintf("link set p%d master br0 up", i))
		}
		if err := ipBatch(ctx, sw, batch); err != nil {
			return fmt.Errorf("lab: segment %s: %w", sg.Name, err)
		}
	}
	eps := map[string][]Endpoint{}
	for _, lk := range l.spec.Links {
		eps[lk.A.Host] = append(eps[lk.A.Host], lk.A)
		eps[lk.B.Host] = append(eps[lk.B.Host], lk.B)
	}
	for _, sg := range l.spec.Segments {
		for _, m := range sg.Members {
			eps[m.Host] = append(eps[m.Host], m)
		}
	}
	for _, hs := range l.spec.Hosts {
		h := l.byName[hs.Name]
		var batch []string
		for _, ep := range eps[hs.Name] {
			batch = append(batch, "link set "+ep.Iface+" up")
			for _, a := range ep.Addrs {
				p := netip.MustParsePrefix(a) // validated
				h.addrs = append(h.addrs, p)
				line := fmt.Sprintf("addr add %s dev %s", p, ep.Iface)
				if p.Addr().Is6() {
					// DAD is off by sysctl already; nodad makes sure an
					// address is never "tentative" and unusable for a second.
					line += " nodad"
				}
				batch = append(batch, line)
			}
		}
		for _, r := range hs.Routes {
			via := netip.MustParseAddr(r.Via)
			dst := r.Dst
			if dst == "default" {
				// Spelled out, because "default" alone means IPv4 to ip(8)
				// in batch mode where -6 can't be given per line.
				dst = "0.0.0.0/0"
				if via.Is6() {
					dst = "::/0"
				}
			}
			batch = append(batch, fmt.Sprintf("route add %s via %s", dst, via))
		}
		if len(batch) == 0 {
			continue
		}
		if err := ipBatch(ctx, h.ns, batch); err != nil {
			return fmt.Errorf("lab: host %s: %w", h.name, err)
		}
	}
	return nil
}

// Tag is the unique prefix of this lab's namespaces, e.g.
// "tetherlab-4242-a1b2c3".
func (l *Lab) Tag() string { return l.tag }

// Dir is the lab's temp directory; each host's Dir is inside it.
func (l *Lab) Dir() string { return l.dir }

// Host returns the named host, or nil if there is none.
func (l *Lab) Host(name string) *Host { return l.byName[name] }

// Hosts returns all hosts in Spec order.
func (l *Lab) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// Namespaces returns the names of all network namespaces of the lab
// (hosts, then segment switches).
func (l *Lab) Namespaces() []string {
	var out []string
	for _, h := range l.hosts {
		out = append(out, h.ns)
	}
	l.mu.Lock()
	out = append(out, l.switches...)
	l.mu.Unlock()
	return out
}

// Close tears the lab down: kills every process in its namespaces, deletes
// the namespaces (and with them all veths and bridges) and removes its
// directory. It is safe to call more than once and concurrently; later
// calls return the first call's result. It takes at most about
// CloseTimeout.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	defer unregister(l)

	l.mu.Lock()
	l.closed = true
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()

	var errs []error
	// Process groups first: cheap and catches the common case.
	for _, p := range procs {
		p.kill()
	}
	for _, h := range l.hosts {
		if h.holder != nil && h.holder.Process != nil {
			_ = syscall.Kill(-h.holder.Process.Pid, syscall.SIGKILL)
		}
	}
	// Then whatever else lives in our namespaces: daemons that left the
	// process group, processes someone nsenter'ed by hand.
	inodes := map[uint64]bool{}
	names := l.Namespaces()
	for _, ns := range names {
		if ino, err := netnsInode(ns); err == nil {
			inodes[ino] = true
		}
	}
	if err := killInNetns(ctx, inodes); err != nil {
		errs = append(errs, err)
	}
	// Reap our own children so they don't linger as zombies.
	for _, p := range procs {
		select {
		case <-p.done:
		case <-ctx.Done():
		}
	}
	for _, h := range l.hosts {
		if h.holderDone != nil {
			select {
			case <-h.holderDone:
			case <-ctx.Done():
			}
		}
	}
	for _, ns := range names {
		if err := delNetns(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("lab: remove %s: %w", l.dir, err))
	}
	return errors.Join(errs...)
}

// logProcs writes the tail of each started process's log to t.
func (l *Lab) logProcs(t testing.TB) {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		out := p.Log()
		if len(out) > 4000 {
			out = "…" + out[len(out)-4000:]
		}
		t.Logf("lab: %s: %s (pid %d) log:\n%s", p.host.name, p.name, p.PID(), out)
	}
}

// ipCmd runs ip(8) in the machine's namespace (or, with -n, in a named one).
func ipCmd(ctx context.Context, stdin []byte, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ipBatch runs several ip(8) commands in one namespace with one exec.
func ipBatch(ctx context.Context, ns string, lines []string) error {
	return ipCmd(ctx, []byte(strings.Join(lines, "\n")+"\n"), "-n", ns, "-batch", "-")
}

func delNetns(ctx context.Context, ns string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return ipCmd(ctx, nil, "netns", "delete", ns)
}

// Signal handling: while any lab is open, SIGINT/SIGTERM/SIGHUP (those not
// ignored by the process) first close every open lab, then the signal is
// re-raised with our handler removed so the process dies the way it would
// have. This is what makes Ctrl-C on a `go test` run leave no namespaces
// behind.
var registry struct {
	sync.Mutex
	labs map[*Lab]bool
	ch   chan os.Signal
}

func register(l *Lab) {
	registry.Lock()
	defer registry.Unlock()
	if registry.labs == nil {
		registry.labs = map[*Lab]bool{}
	}
	registry.labs[l] = true
	if registry.ch == nil {
		// A signal the process ignores (e.g. SIGINT for a background job of
		// a non-interactive shell) must stay a no-op: catching it would
		// close the labs under a test that carries on running.
		var sigs []os.Signal
		for _, s := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
			if !signal.Ignored(s) {
				sigs = append(sigs, s)
			}
		}
		if len(sigs) == 0 {
			return
		}
		ch := make(chan os.Signal, 1)
		registry.ch = ch
		signal.Notify(ch, sigs...)
		go onSignal(ch)
	}
}

func unregister(l *Lab) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.labs, l)
	if len(registry.labs) == 0 && registry.ch != nil {
		signal.Stop(registry.ch)
		close(registry.ch)
		registry.ch = nil
	}
}

func onSignal(ch chan os.Signal) {
	sig, ok := <-ch
	if !ok {
		return
	}
	registry.Lock()
	var labs []*Lab
	for l := range registry.labs {
		labs = append(labs, l)
	}
	registry.Unlock()
	sort.Slice(labs, func(i, j int) bool { return labs[i].tag < labs[j].tag })
	var wg sync.WaitGroup
	for _, l := range labs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.Close() }()
	}
	wg.Wait()
	signal.Stop(ch)
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
	}
	// If the signal didn't kill us (someone else is also handling it), the
	// labs are closed and the program carries on.
}
