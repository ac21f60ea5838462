// Package routeros renders one RouterOS site of a tether network into the
// ordered list of RouterOS items the site should carry, plus a paste-ready
// .rsc view of the same items.
//
// It is pure: it reads a validated *policy.Network (policy.Load has applied
// defaults), does no I/O, takes no context, and returns warnings as data.
// The same input always gives the same bytes, so "nothing to do" is a digest
// comparison. It does not talk to routers, diff, apply or revert: the RouterOS
// device in agent/ does that, matching live items to rendered ones with
// Identity and touching only items whose comment carries the ownership marker
// (OwnedComment), plus the singleton settings tether declares.
//
// # Ownership
//
// Every non-singleton item carries comment="tether: <human text>" (or just
// "tether"), mirroring RouterOS's own "defconf: " convention, so a person
// reading /export sees who owns it. Items without the marker are never
// touched. Singletons (/ip/dns) carry no comment: tether owns only the
// attributes it declares there.
//
// # Identity
//
// An item's ID is computed by Identity from its menu path and attributes, the
// same way for rendered and live items, and is written like RouterOS
// arguments (`name=wg-vps`, `chain=input comment="tether: x"`). Prefixes and
// addresses are canonicalised (netip) so the router's spelling (e.g. an IPv4
// address-list host printed without /32) matches ours. Attributes that are not
// part of the ID can change with a single `set`.
//
//	menu                                    identity
//	/routing/table                          name
//	/interface/wireguard                    name
//	/interface/wireguard/peers              interface + name
//	/interface/list                         name
//	/interface/list/member                  list + interface
//	/ip/address, /ipv6/address              address + interface
//	/ip/firewall/address-list (and ipv6)    list + address
//	/routing/filter/rule                    chain (tether emits one rule per chain)
//	/routing/bgp/instance|template|connection  name
//	/ip/route, /ipv6/route                  dst-address + routing-table (+ blackhole)
//	/routing/rule                           src-address + dst-address + routing-mark + interface
//	/ip|ipv6/firewall/filter|nat|mangle     chain + comment (comments are unique per chain, lint TL015)
//	/ipv6/nd                                interface
//	raw items ([[raw.routeros]])            the raw name, carried in the comment as "tether: raw <name>"
//	any other menu                          comment
//	singletons (/ip/dns, raw singleton)     none: matched by Path (Item.Singleton), ID is ""
//
// Render refuses a site where two items of one menu would share an ID: the
// device could not tell them apart.
//
// # Order
//
// Config.Items is in dependency order for adds: routing tables, WireGuard
// interfaces, interface lists and their members, addresses, address lists,
// routing filter rules, the BGP instance (7.20+), templates, connections,
// WireGuard peers, routes, routing rules, firewall filter/nat/mangle (IPv4
// then IPv6 per table), /ipv6/nd, singletons, raw items. Removal is the
// reverse. In ordered menus (firewall, routing rules, raw items in them)
// Item.Anchor names the comment of an existing item to place the item
// before; "" means "right after tether's previous item of the same chain"
// (or at the end when there is none). The .rsc view spells that out by
// repeating the previous anchor.
//
// # Versions
//
// site.RouterOSVersion selects the BGP shape: 7.18 and 7.19 have no
// /routing/bgp/instance, so `as` and `router-id` go on the connection and the
// address families are `address-families=`; 7.20+ emit the instance, put
// `instance=` on the connection and use `afi=`. `add-path-out` (removed in
// 7.22) is never emitted.
package routeros
