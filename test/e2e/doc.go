// Package e2e holds tether's end-to-end scenarios: a local bare Git repo is
// the remote, commits are pushed with the git CLI as an operator would, and
// real `tether run` agents (the binary, built once by TestMain) apply them —
// to in-process RouterOS API simulators (test/rossim; no root needed), or to
// Linux lab hosts (test/lab; root, wireguard-go, nftables, radvd,
// keepalived), each agent running inside its own host. The scenarios assert
// on what an operator sees: the devices' state, the traffic, and the notes
// in refs/notes/tether/<site> of the remote, parsed with agent/notes.
//
// The scenarios of issue 8, by file:
//
//   - linux_test.go: ula-mesh in a lab — bootstrap from empty, a bad commit
//     reverted where it breaks (the rollout halts behind it), the next good
//     commit applied and the bad one never retried (1-3).
//   - linux_bgp_test.go: a Linux relay and home with BIRD eBGP over
//     WireGuard; a filter mistake reverted (4).
//   - routeros_test.go: cgnat-chr-relay on two simulators — a BGP filter
//     mistake (4; its revert reaches home's [notify] webhook, a local
//     receiver in notify_test.go), the router-side dead-man after the agent is SIGKILLed
//     (5), the remote going away (6), an invalid commit (7).
//   - routeros_relay_test.go: vultr-ndp-relay — a RouterOS home behind a
//     real Linux relay; the simulator runs with a real dataplane
//     (test/rossim/linuxdp) in its lab host, so the tunnel, the pings and
//     the NDP proxy carry real packets; agent revert and router dead-man (5).
//   - ula_vrrp_test.go: ula-mesh site A's two edge routers and a LAN host on
//     one segment, with tether's rendered keepalived/radvd/nftables and the
//     real daemons: VRRP failover, router advertisements and SLAAC (issue
//     16). It runs the rendered files, not agents.
//
// And of issue 16 (every seed write-up end to end):
//
//   - multitunnel_test.go: multi-tunnel — the router (simulator with a real
//     dataplane) and the Linux exit node, the VPN provider and mesh server
//     as wg-quick far ends, client B on its rendered profile relayed to
//     client A; a key typo reverted, the next commit applied, history read.
//   - roadwarrior_test.go: road-warrior-s2s — two simulated sites with LAN
//     hosts and a laptop on its rendered profile; a commit refused for a
//     missing bridge-trunk, LAN-to-LAN and road-warrior pings, a key typo
//     reverted, the next commit applied, history read.
//   - multitunnel_exit_test.go: client B's exit-mode profile leaves through
//     client A (the far host sees client A's uplink address), and through the
//     router once a commit drops the exit.
//
// And of issue 17 (a simulator whose firewall and BGP are real):
//
//   - witness_bgp_test.go: the relay's export mistake keeps its own gate
//     green; home's witness reports ::/0 missing and the relay reverts (a).
//   - rosfw_test.go: a home firewall rule dropping WireGuard from the WAN is
//     caught by the gate with real packets and reverted (b); multi-tunnel's
//     masquerade and policy routing proved by the source address seen (c).
//
// Every scenario is bounded by a context deadline and removes what it
// created. It does not test units of the agent (their own packages do) and
// has no exported API: everything lives in the _test files.
package e2e
