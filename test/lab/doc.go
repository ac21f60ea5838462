// Package lab builds throwaway multi-host networks on one Linux machine so
// integration tests can run tether's Linux device code, WireGuard
// (wireguard-go), BIRD and friends against something that behaves like a
// small fleet of routers.
//
// # What a lab is
//
// Every lab host is a named network namespace plus a private mount and UTS
// namespace, kept alive by a "holder" process (sleep infinity). Inside a
// host:
//
//   - /run (and /var/run, which is a symlink to it on Debian) is a bind mount
//     of <Dir>/run, so wireguard-go's UAPI sockets (/run/wireguard/*.sock),
//     BIRD's default control socket (/run/bird/bird.ctl) and every pid file
//     are per host. Two hosts can both run a wg0 and a BIRD with default
//     paths. Unix sockets are plain files, so the same socket is reachable
//     from the test process at Host.Path("run/...").
//   - /etc/wireguard and /etc/bird, when they exist on the machine, are bind
//     mounts of <Dir>/etc/wireguard and <Dir>/etc/bird, so code that uses
//     Dir as a root prefix and tools that use their default paths agree.
//   - the hostname is the host's name; loopback is up; IPv6 duplicate address
//     detection is off (addresses are usable at once, tests don't wait for
//     DAD); forwarding is on only where the Spec asks for it.
//
// Everything else (/etc, /usr, /tmp, /dev, /proc) is shared with the machine:
// pass explicit paths under Host.Dir rather than relying on defaults.
//
// Hosts are joined by veth pairs (Link) or by a Linux bridge that lives in a
// namespace of its own (Segment). Underlay addresses must come from the
// documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
// 2001:db8::/32); they exist only inside the lab's namespaces, and veths are
// created directly inside them, so nothing ever appears in the machine's own
// network namespace. Star builds the common "hosts behind one internet
// router" topology.
//
// Commands run inside a host through nsenter into the holder (Host.Run,
// Host.Start). Host satisfies Runner, the same shape as the command runner
// the Linux device accepts, so device code runs unchanged inside a host.
//
// # Use
//
//	func TestTunnel(t *testing.T) {
//		lab.Require(t, "wg-quick")            // skip (or fail on CI) with a reason
//		l := lab.New(t, lab.Star("inet", "relay", "edge-a"))
//		a := l.Host("edge-a")
//		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
//		defer cancel()
//		// device code under test, rooted at a.Dir(), running commands via a:
//		//   dev := linux.New(linux.Options{Root: a.Dir(), Runner: a})
//		if err := a.Ping(ctx, l.Host("relay").Addr6().String()); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// # Naming
//
// Namespaces are named tetherlab-<pid>-<rand>-<host> (switches:
// tetherlab-<pid>-<rand>-sw-<segment>), and a lab's files live in
// $TMPDIR/tetherlab-<pid>-<rand>. The pid is the test process that owns the
// lab; parallel labs and leftovers never collide.
//
// # Teardown and its limits
//
// Close kills every process in the lab's network namespaces — found by
// scanning /proc, so daemons that double-fork and setsid (bird without -f,
// radvd, wireguard-go started by wg-quick) are caught too — deletes the
// namespaces (which destroys their veths and bridges) and removes the files.
// It is idempotent and bounded in time. New registers it with t.Cleanup.
//
// While a lab is open, SIGINT, SIGTERM and SIGHUP close all open labs before
// the process dies of the signal as it otherwise would. What cannot be
// cleaned up in-process: SIGKILL, a `go test -timeout` panic, or a crash.
// Then the holder and every process started directly by Run/Start die with
// the test process (PR_SET_PDEATHSIG), but the named namespaces, processes
// that daemonized, and the temp dir stay until the next Sweep, which Build
// runs first: it removes every tetherlab-* namespace and directory whose
// owning process is gone.
//
// # What it is not
//
// Not a network emulator: no latency, loss or bandwidth shaping, no
// RouterOS. Not safe for untrusted input: it runs as root and executes
// what it is told. Linux only; Available reports why a lab can't run.
package lab
