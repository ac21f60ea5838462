package mikrotik

import "slices"

// knownMenus are the menus render/routeros can emit, in its dependency
// order. A plan reads those the site renders into and those the router's
// ownedMenus record names; a full scan reads all of them, so an owned item
// is removed when the site stops using its menu altogether, e.g. the last
// route. A menu the router's version lacks reads as empty.
var knownMenus = []string{
	"/routing/table",
	"/interface/wireguard",
	"/interface/list",
	"/interface/list/member",
	"/ip/address",
	"/ipv6/address",
	"/ip/firewall/address-list",
	"/ipv6/firewall/address-list",
	"/routing/filter/rule",
	"/routing/bgp/instance",
	"/routing/bgp/template",
	"/routing/bgp/connection",
	"/interface/wireguard/peers",
	"/ip/route",
	"/ipv6/route",
	"/routing/rule",
	"/ip/firewall/filter",
	"/ip/firewall/nat",
	"/ip/firewall/mangle",
	"/ipv6/firewall/filter",
	"/ipv6/firewall/nat",
	"/ipv6/firewall/mangle",
	"/ipv6/nd",
	"/system/logging",
}

// menuAttrs are the attributes tether reads in each menu beyond those the
// rendered items carry: identity attributes, and what the renderer may set,
// so a removed item can be re-created whole by the inverse plan.
var menuAttrs = map[string][]string{
	"/routing/table":              {"name", "fib"},
	"/interface/wireguard":        {"name", "listen-port", "mtu"},
	"/interface/list":             {"name"},
	"/interface/list/member":      {"list", "interface"},
	"/ip/address":                 {"address", "interface", "network"},
	"/ipv6/address":               {"address", "interface", "advertise"},
	"/ip/firewall/address-list":   {"list", "address"},
	"/ipv6/firewall/address-list": {"list", "address"},
	"/routing/filter/rule":        {"chain", "rule"},
	"/routing/bgp/instance":       {"name", "as", "router-id"},
	"/routing/bgp/template":       {"name", "as", "output.default-originate", "hold-time"},
	"/routing/bgp/connection": {"name", "instance", "as", "router-id", "remote.address", "remote.as", "local.address",
		"local.role", "templates", "afi", "address-families", "input.filter", "output.filter-chain", "output.network", "hold-time"},
	"/interface/wireguard/peers": {"interface", "name", "public-key", "allowed-address", "endpoint-address", "endpoint-port", "persistent-keepalive"},
	"/ip/route":                  {"dst-address", "gateway", "blackhole", "distance", "routing-table"},
	"/ipv6/route":                {"dst-address", "gateway", "blackhole", "distance", "routing-table"},
	"/routing/rule":              {"src-address", "dst-address", "routing-mark", "interface", "action", "table"},
	"/ipv6/nd":                   {"interface", "ra-interval", "ra-lifetime", "reachable-time", "advertise-dns", "dns"},
	"/system/logging":            {"topics", "action", "prefix"},
	"/ip/service":                {"name", "port", "address", "disabled"}, // port: the lock-out check compares it with the agent's
}

var firewallAttrs = []string{"chain", "action", "protocol", "src-address", "dst-address", "src-address-list", "dst-address-list",
	"src-port", "dst-port", "in-interface", "out-interface", "in-interface-list", "out-interface-list", "connection-state",
	"connection-nat-state", "icmp-options", "to-addresses", "to-ports", "new-routing-mark", "passthrough", "reject-with", "log", "log-prefix"}

func init() {
	for _, fam := range []string{"/ip", "/ipv6"} {
		for _, t := range []string{"filter", "nat", "mangle"} {
			menuAttrs[fam+"/firewall/"+t] = firewallAttrs
		}
	}
}

// statusAttrs are read for every menu: they say whether tether may touch
// an item (comment carries the marker; dynamic and default items are the
// router's) but are never written back when an item is re-created.
var statusAttrs = []string{".id", "comment", "disabled", "dynamic", "default", "builtin"}

// readOnly are status attributes excluded when re-creating an item.
var readOnly = map[string]bool{".id": true, "dynamic": true, "default": true, "builtin": true}

// orderedMenus are menus whose item order is semantic: tether places its
// items relative to an anchor and moves them back when they drift.
var orderedMenus = map[string]bool{
	"/ip/firewall/filter": true, "/ip/firewall/nat": true, "/ip/firewall/mangle": true, "/ip/firewall/raw": true,
	"/ipv6/firewall/filter": true, "/ipv6/firewall/nat": true, "/ipv6/firewall/mangle": true, "/ipv6/firewall/raw": true,
	"/routing/rule": true, "/routing/filter/rule": true,
}

// placeable are menus whose add takes place-before (RouterOS 7.18–7.24):
// the inverse plan re-creates a removed item at its old position there;
// elsewhere order carries no meaning and re-created items are appended.
var placeable = map[string]bool{
	"/interface/bridge/port": true, "/interface/wireguard/peers": true, "/ip/dns/static": true,
	"/ip/firewall/filter": true, "/ip/firewall/nat": true, "/ip/firewall/mangle": true, "/ip/firewall/raw": true,
	"/ipv6/firewall/filter": true, "/ipv6/firewall/nat": true, "/ipv6/firewall/mangle": true, "/ipv6/firewall/raw": true,
	"/routing/filter/rule": true, "/routing/rule": true,
}

// referenced are menus whose items other items name (interfaces, lists,
// tables, BGP objects): the dead-man never re-creates them to reset an
// attribute, because removing them would break what refers to them.
var referenced = map[string]bool{
	"/interface/wireguard": true, "/interface/list": true, "/routing/table": true,
	"/routing/bgp/instance": true, "/routing/bgp/template": true, "/routing/bgp/connection": true,
}

// locatorAttrs are tried, in order, to find an item by one attribute when
// its .id is not known yet (the dead-man script's [find where a="v"]).
var locatorAttrs = []string{"name", "comment"}

// secretAttrs are never printed in plan lines.
var secretAttrs = map[string]bool{"private-key": true, "preshared-key": true, "password": true, "secret": true, "auth-key": true}

func proplist(path string, rendered []string) []string {
	out := slices.Clone(statusAttrs)
	add := func(a string) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, a := range locatorAttrs {
		add(a)
	}
	for _, a := range menuAttrs[path] {
		add(a)
	}
	for _, a := range rendered {
		add(a)
	}
	return out
}
