// Package mikrotik is tether's RouterOS device: it reads a router's owned
// items over the RouterOS API (api-ssl by default), plans the difference to
// a rendered site (render/routeros), applies it behind a device-side
// dead-man (a /system/script holding the inverse plan and a one-shot
// /system/scheduler that runs it at the deadline), settles or reverts it,
// and probes health from the router (WireGuard handshakes, BGP sessions,
// routes, ping).
//
// It satisfies agent.Device and agent.Prober. It never modifies or removes
// an item whose comment lacks tether's ownership marker (defconf and
// hand-made items), and a reconcile with nothing to do writes nothing.
//
// It does not render (render/routeros does), gate on health or journal
// transactions (the agent loop does), and it keeps no state between calls
// beyond the API connection: Plan.Do and Plan.Undo carry everything Apply
// and Settle need, so a restarted agent can settle from its journal.
package mikrotik
