// Package linux renders one Linux site of a tether network into the files
// the host needs: wg-quick interfaces, BIRD2, nftables, sysctl.d, ndppd,
// radvd, keepalived, systemd-networkd units and the operator's raw files.
//
// It is pure: Render reads only the *policy.Network it is given and returns
// bytes plus, for every file, the command that validates it and the least
// disruptive action that activates it. Writing, validating, activating and
// reverting are the Linux device's job in agent/; nothing here touches the
// host, and the same input always yields the same bytes.
//
// # Activation
//
// Every File carries an Action. The renderer cannot know what the host runs
// now, so where the cheapest action depends on the previous content the
// device decides by comparing old and new bytes:
//
//   - wg-quick (/etc/wireguard/<iface>.conf): Action "wg-syncconf". Call
//     NeedsRestart(old, new); when it reports true use "wg-restart"
//     (wg-quick down + up) instead. A restart is needed when anything only
//     wg-quick applies changes — Address, MTU, Table, DNS, Pre/PostUp/Down —
//     because `wg syncconf` only talks to the WireGuard device; and also when
//     the AllowedIPs change while wg-quick owns the routes (Table is not
//     "off"), because routes for AllowedIPs are installed only at "up". With
//     Table = off (BGP owns the routes) peers are synced in place. ListenPort
//     and peers are device settings that `wg syncconf` changes live. A file
//     with no previous version needs "wg-restart" (it brings the interface up).
//   - `wg syncconf` replaces the whole device configuration: a stripped file
//     without PrivateKey CLEARS the interface's private key (verified with
//     wireguard-go). The device feeds it `wg-quick strip` output with the
//     key read from the key directory added, never a bare strip.
//   - bird.conf: "bird-configure" (`birdc -s <Target> configure`, which keeps
//     unchanged sessions up; `configure timeout` gives BIRD's own revert).
//   - nftables: "nft-apply" (`nft -f`, atomic; the file replaces only the
//     table tether owns).
//   - sysctl.d: "sysctl-apply" (`sysctl -p <file>`). Removing a key does not
//     restore the kernel's previous value; the device must record it.
//   - radvd, keepalived: "service-reload" (both re-read their configuration
//     on SIGHUP without dropping state); ndppd: "service-restart" (it has no
//     reload).
//   - systemd-networkd units: "networkd-reload" (`networkctl reload`).
//   - raw files: "service-reload" of their declared unit, or no action.
//
// # Keys
//
// No rendered file holds a private key. wg-quick files read the key from
// the agent's key directory with `PostUp = wg set %i private-key
// <KeyDir>/<iface>.key` (wg-quick accepts an [Interface] without PrivateKey;
// verified with wg-quick and wireguard-go). The files are still mode 0600
// because the interface's key is read into it at run time and wg-quick
// warns about world-readable files.
//
// # What the Linux renderer maps and how
//
//   - Forwarding sysctls go to /etc/sysctl.d/90-tether.conf, never to
//     PreUp/PostDown: a PostDown that turns forwarding off breaks every other
//     tunnel on the host.
//   - Static routes and BGP live in BIRD: whenever a site has BGP sessions
//     or [[route]]s, bird.conf holds them in `protocol static` and exports
//     them (and what BGP learned) into the kernel, so they are diffed and
//     reverted with the rest. BIRD has no default-originate: a session with
//     default_originate = true gets a `::/0 blackhole` (or 0.0.0.0/0) route in
//     a separate `protocol static originate6` that its export filter accepts
//     and the kernel protocol never exports (a kernel blackhole default would
//     cut the host off).
//   - Linux has no interface lists. A firewall interface-list match expands to
//     an `iifname { … }` set of the site's interfaces and WireGuard
//     interfaces that list the name in `lists`, plus, for LAN and WAN, the
//     interfaces with that role.
//   - Routing marks: mangle `mark-routing` becomes `meta mark set <table id>`
//     (the declared id, or 1000 + the table's position); the `ip rule
//     fwmark` that consumes it is not rendered (use raw files), and
//     routing_rule entries produce a warning. mark-connection/mark-packet
//     and netmap have no model parameters on Linux and are skipped with a
//     warning; fasttrack-connection becomes accept.
//   - keepalived refuses (keepalived -t exits 5) a vrrp_sync_group with a
//     single instance, so a sync group is rendered only with two or more
//     members. `nopreempt` is rendered with `state BACKUP`, which it needs.
package linux
