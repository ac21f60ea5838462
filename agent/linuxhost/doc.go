// Package linuxhost is tether's Linux host device: it plans, applies,
// activates and reverts the files render/linux produces for one site
// (wg-quick, BIRD2, nftables, sysctl.d, ndppd, radvd, keepalived,
// systemd-networkd, raw files), and probes the site's health.
//
// # What it does
//
//   - Plan renders the site, reads the current files under Root, and
//     returns the per-file difference (content and mode) with the snapshot
//     of everything it would touch. A file whose bytes match is still
//     planned for activation when what runs differs from it (runtime.go:
//     the WireGuard interface, `wg show dump`, the nft table, BIRD and its
//     protocols, sysctls, daemons, addresses on the WAN), so a rebooted host
//     is restored by the next poll. Where systemd is PID 1 the plan also
//     enables the units that bring the site up at boot (persist.go).
//     Re-planning the running config on a healthy host yields an empty
//     plan.
//   - WANTraps reads the live WAN's connected routes and reports those
//     covering a prefix the site routes into a tunnel (wan.go); it changes
//     nothing.
//   - Apply validates every new file with its real tool on a temporary copy
//     (bird -p, nft -c -f, wg-quick strip, radvd --configtest,
//     keepalived -t) before anything changes, arms a dead-man on the host,
//     writes the files atomically (temp + fsync + rename) and activates each
//     changed file with the least disruptive action: `wg syncconf` when only
//     peers changed, `wg-quick down/up` when the [Interface] section changed
//     or the interface is new, `birdc configure`, `nft -f` (atomic),
//     `sysctl -p`, reload/restart of radvd, ndppd and keepalived through a
//     service manager, `networkctl reload`, `ip addr replace` for addresses
//     added beside the distribution's own WAN configuration.
//   - Settle(keep) disarms the dead-man; Settle(!keep) restores the previous
//     files, re-activates them (including the kernel's previous sysctl
//     values and the previous up/down and running state of interfaces and
//     daemons) and then disarms. Both work from the journaled plan alone.
//
// # Dead-man
//
// Before activating, Apply stores a transaction record in
// StateDir/linuxhost and arms a timer that runs `tether revert --txn ID`
// at the deadline. Where systemd is the init system (/run/systemd/system
// exists and PID 1 is systemd, as seen through the Runner) that is a
// transient timer, `systemd-run --on-active=N --unit tether-deadman-ID`;
// elsewhere (containers, the test lab) it is a detached process started
// through the Runner, so it lives in the host's namespaces:
// `setsid -f sh -c 'sleep N; exec tether revert …'`. The record, guarded by
// an flock, decides the race between the dead-man and Settle: whoever
// removes it first wins, and Settle(keep) reports ErrDeadmanFired when the
// timer already reverted.
//
// # What it does not do
//
// It does not generate keys (tether keygen does) and never reads one into
// memory except to hand it to `wg syncconf` inside a shell pipe: rendered
// files carry no keys, and a previous hand-written file holding a key is
// snapshotted to a 0600 file in the state dir, referenced from the plan by
// digest, so keys never reach the journal, a log or a note. It does not
// decide whether a change is healthy; the transaction loop does that with
// Prober.
//
// # Seams
//
// Every path the renderer produces is joined onto Root, and every command
// runs through Runner, so the same code drives a real host (Root "/",
// ExecRunner, Systemd) and a network-namespace lab host (Root = the host's
// directory, the lab Host as Runner, Direct services by pid file). KeyDir
// and StateDir are the agent's own directories and are used as given.
package linuxhost
