package routeros

import (
	"net/netip"

	"github.com/tether-net/tether/policy"
)

// Exit through a peer (policy.Exit): the exit peer already accepts the
// default route (its allowed-address), so what the router adds is the
// policy routing that sends the clients there: a table per exit whose
// default route is the WireGuard interface — WireGuard then picks the peer
// by longest match, so mesh neighbours still reach each other directly —
// and a rule per client address that looks up only that table. Only-in-
// table keeps a client's traffic off the router's own uplink when the
// route is unusable, instead of silently exiting at the router.

func (r *renderer) exitTables(exits []policy.Exit) {
	for _, e := range exits {
		var as attrs
		as.set("name", e.Table)
		as.flag("fib", true)
		as.set("comment", OwnedComment("exit via "+e.Via))
		r.add("/routing/table", "", as)
	}
}

func (r *renderer) exitRoutes(exits []policy.Exit) {
	for _, e := range exits {
		for _, d := range e.Defaults {
			var as attrs
			as.set("dst-address", d.String())
			as.set("gateway", e.Interface)
			as.set("routing-table", e.Table)
			as.set("comment", OwnedComment("exit via "+e.Via))
			r.add("/"+family(d.Addr())+"/route", "", as)
		}
	}
}

func (r *renderer) exitRules(exits []policy.Exit) {
	for _, e := range exits {
		for _, c := range e.Clients {
			for _, a := range c.Addresses {
				if !a.IsValid() {
					continue
				}
				var as attrs
				as.set("src-address", netip.PrefixFrom(a.Addr(), a.Addr().BitLen()).String())
				as.set("action", "lookup-only-in-table")
				as.set("table", e.Table)
				as.set("comment", OwnedComment(c.Name+" exits via "+e.Via))
				r.add("/routing/rule", "", as)
			}
		}
	}
}
