// Package rossim is a RouterOS v7 API simulator for tether's tests and
// demos: a TCP server speaking the real API wire protocol, backed by menus
// held as ordered tables and checked against the command tree of the
// simulated RouterOS version (test/rosschema).
//
// What it does:
//
//   - Protocol: the five word-length forms, sentences, post-6.43 /login
//     (a bad login is !trap "invalid user name or password (6)" + !done, the
//     connection stays open), !re, !done (=ret= on add, get and count-only),
//     !trap (=category= for non-zero categories and missing items, then
//     !done), !fatal with a bare reason then close ("not logged in",
//     "session terminated on request" on /quit), !empty before !done when a
//     print finds nothing (RouterOS 7.18+), .tag echoed on every reply,
//     /cancel [=tag=T] of a running command (a ping without count= runs
//     until cancelled, one reply per interval): !trap category=2
//     "interrupted" for T, /cancel's !done, then T's !done.
//   - Menus: print/getall with .proplist and query words (?name=x, ?=name=x,
//     ?name, ?-name, ?<name=x, ?>name=x, ?# with | & ! . and index.), add
//     with place-before (=ret=<.id>), set, unset (value-name), remove and
//     move with =numbers=/=.id= lists of ids or names, enable, disable,
//     comment, get, and singletons (/ip/dns, /ipv6/settings, /system/identity,
//     /system/resource, /system/clock) whose print has no .id. Ids are
//     per-table hex ("*1", "*A"), never reused; rows the router makes itself
//     have long ids (routes *80000001…, BGP sessions *2800001…). /interface and its typed
//     menus (wireguard, bridge, vlan, ethernet) share one table, ids and
//     name space, as on a router.
//   - Validation: unknown menu (two traps: "no such command or directory
//     (x)", then "no such command prefix"), command ("no such command") or
//     attribute ("unknown parameter X") per the version's tree;
//     values of the attributes tether uses (addresses, prefixes, ports,
//     booleans, durations, WireGuard keys, interface/list/table/instance
//     references, firewall actions), required attributes ("missing value(s)
//     of argument(s) X"), unique names. Values are stored as print shows
//     them: yes/no become true/false, "25" keep-alive becomes "25s", route
//     destinations are masked; defaults (disabled=false, dynamic=false, …)
//     are filled in. Flag attributes (route blackhole, table fib, session
//     ebgp) are printed bare (=blackhole=) when set and left out when not;
//     any value sets them, =!name= on set or unset clears them. A second
//     identical address on an interface is refused ("failure: already have
//     such address"), as is a second identical address-list entry
//     ("failure: already have such entry").
//   - Users (/user, /user/group, /user/active): the built-in groups read,
//     write and full with the policies RouterOS prints ("...,!ftp,!write"),
//     admin, and Config.User in Config.Group (a new group from
//     Config.GroupPolicy, e.g. docs/routeros.md's api,read,write,test).
//     Login needs the user, its password, its address= and the api policy.
//     Every command is checked against the caller's policies (read to print,
//     write to change, write+policy for /user, test to ping) and refused with
//     "not enough permissions (9)"; a script or scheduler gets its creator
//     as owner and at most the creator's policies; a scheduler runs with its
//     own policy and refuses a script that asks for more, unless the script
//     is dont-require-permissions.
//   - Start state: RouterOS 7 defconf (ether1-5, bridge, WAN/LAN lists,
//     192.168.88.1/24, the IPv4 and IPv6 defconf firewall with their exact
//     comments, masquerade, bad_ipv6), or Config.Bare for no defconf.
//   - World (World, FarEnd): WireGuard handshakes, rx/tx and current
//     endpoint when a peer's config matches its far end (key, endpoint or
//     listen port, far end knowing the router's key); BGP sessions when a
//     connection's remote address/AS match a far end reached over a live
//     tunnel; learned routes after the connection's input.filter chain;
//     /ping and /tool/ping answers; connected routes for addresses.
//   - Real dataplane (Config.Dataplane, package linuxdp): WireGuard
//     interfaces and peers, addresses and static routes of table main are
//     realised in a real stack (wireguard-go, ip) whenever the configuration
//     changes; peers' last-handshake, rx, tx and current endpoint and /ping
//     answers then come from it; BGP sessions stay modelled but need the
//     real handshake. The firewall (filter, nat, mangle mark-routing,
//     address and interface lists) is realised as an nftables table and
//     policy routing (fib tables, routing rules, routing marks) as Linux
//     tables and ip rules. Bridge ports and VLAN tagging are not realised.
//     A simulated router can so tunnel to real Linux hosts in a lab.
//   - Time: an injected Clock; Advance steps a *ManualClock one second at a
//     time and runs /system/scheduler jobs (one-shot start-date/start-time,
//     startup, interval) whose on-event names a /system/script or is inline.
//   - Faults (drop after N commands per connection or globally, trap on a
//     menu/command, latency), Stats counters, Dump, Save/LoadState, and a
//     TOML scenario file (LoadScenario) for the cmd/rossim binary.
//
// What it does not do: no TLS (api-ssl), no MD5 challenge login, no
// follow/listen prints, no `where`/`from` on print, no find command, no
// outbound BGP announcements, no firewall evaluation and no packet
// forwarding without a Dataplane;
// commands other than the ones above trap with "rossim: … not simulated".
// Trap messages follow RouterOS's where a public source records them;
// test/rossim/CONFORMANCE.md lists each behaviour with its source and test,
// and marks the rest unverified.
//
// # Script subset
//
// /system/script sources and inline scheduler on-event text are run by a
// deliberately small interpreter: the subset tether's dead-man emits.
// Anything else makes the whole script fail before any line runs; the run
// is recorded (ScriptRuns) with its error and logged through Config.Logf.
//
//	script   = { line "\n" }
//	line     = "" | "#" comment | command
//	command  = menu verb { word }
//	menu     = "/" seg { ("/" | " ") seg }      e.g. "/ip firewall filter", "/ip/firewall/filter"
//	verb     = "add" | "set" | "remove"
//	         | "run" name                        only as "/system script run NAME"
//	word     = attr "=" value                    e.g. comment="tether: wg"
//	         | "numbers=" id { "," id }          e.g. numbers=*A,*B
//	         | id                                e.g. *A
//	         | "[find " [ "where " ] attr "=" value "]"   one equality (.id=*1F too)
//	value    = bare | quoted
//	bare     = any bytes except space, tab, " $ [ ] { } ; \
//	quoted   = '"' { char | escape } '"'
//	escape   = \\ | \" | \$ | \? | \n | \r | \t | \HH (two upper-case hex digits)
//
// add takes no selector; set and remove need one ([find …], numbers= or an
// id), except set on singleton menus (/system identity set name=x), which
// takes none. A [find] matching nothing makes its line a no-op, as on a
// router; any other failure (an id that does not exist, a bad value) stops
// the script there, leaving earlier lines applied, as RouterOS does.
// ScriptQuote produces quoted values this grammar (and RouterOS) reads back
// verbatim.
package rossim
