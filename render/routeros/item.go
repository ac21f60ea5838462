package routeros

import (
	"net/netip"
	"strings"
)

// Config is the rendered configuration of one RouterOS site.
type Config struct {
	Site     string   `json:"site"`
	Version  string   `json:"version"` // the RouterOS version rendered for
	Items    []Item   `json:"items"`
	Warnings []string `json:"warnings,omitempty"`
}

// Item is one RouterOS item tether owns.
type Item struct {
	Path      string `json:"path"`                // menu path, "/interface/wireguard/peers"
	ID        string `json:"id"`                  // identity among tether's items of Path (see Identity)
	Singleton bool   `json:"singleton,omitempty"` // settings menu such as /ip/dns: set only, never add/remove
	Attrs     []Attr `json:"attrs"`               // readable, stable order; comment last for non-singletons
	// Anchor, in ordered menus, is the comment of an existing item to place
	// this one before; "" appends after tether's previous item of the chain.
	Anchor string `json:"anchor,omitempty"`
	// Last, in ordered menus, keeps the item the last of its chain, after
	// every other item of the chain whoever owns it (firewall_policy's drop).
	Last bool `json:"last,omitempty"`
	// Fixed marks an entry the router always has and tether only sets,
	// never adds or removes (an /ip/service entry); it is found by identity
	// whoever owns it.
	Fixed bool `json:"fixed,omitempty"`
}

// Attr is one RouterOS attribute. An empty Value is a flag argument that
// takes no value (blackhole, fib): the API sends "=blackhole=", the .rsc view
// writes the bare word. No other attribute is ever emitted empty.
type Attr struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Get returns the value of the named attribute and whether it is present.
func (it *Item) Get(name string) (string, bool) {
	for _, a := range it.Attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Map returns the attributes as a map, the shape Identity takes.
func (it *Item) Map() map[string]string {
	m := make(map[string]string, len(it.Attrs))
	for _, a := range it.Attrs {
		m[a.Name] = a.Value
	}
	return m
}

// flagAttrs are RouterOS arguments that are flags: present means yes.
var flagAttrs = map[string]bool{"blackhole": true, "fib": true}

const (
	marker    = "tether"
	markerSep = "tether: "
	// rawPrefix starts the human text of a raw item's comment; the raw name
	// follows. It lets Identity recognise raw items in any menu.
	rawPrefix = "raw "
)

// OwnedComment returns the comment that marks an item as tether's, in the
// style of RouterOS's "defconf: " items: "tether: <human>", or "tether".
func OwnedComment(human string) string {
	human = strings.TrimSpace(human)
	if human == "" {
		return marker
	}
	return markerSep + human
}

// isOwned reports whether a comment carries tether's marker.
func isOwned(comment string) bool {
	return comment == marker || strings.HasPrefix(comment, markerSep)
}

// Identity computes the ID of an item from its menu path and attributes,
// the same way for items read from a router and for rendered ones, so the
// device can match them. owned reports whether the comment carries tether's
// marker; the device must never modify or remove an item that is not owned.
// Singleton menus have no identity (""): match them by path.
func Identity(path string, attrs map[string]string) (id string, owned bool) {
	return identity(path, func(k string) (string, bool) { v, ok := attrs[k]; return v, ok })
}

// identity is Identity over any attribute lookup, so rendering does not
// build a map per item.
func identity(path string, lookup func(string) (string, bool)) (string, bool) {
	get := func(k string) string { v, _ := lookup(k); return v }
	comment := get("comment")
	owned := isOwned(comment)
	if owned {
		if name, ok := strings.CutPrefix(strings.TrimPrefix(comment, markerSep), rawPrefix); ok && comment != marker {
			return "raw=" + quoteID(name), true
		}
	}
	pairs := func(kv ...string) string {
		var b strings.Builder
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(kv[i])
			b.WriteByte('=')
			b.WriteString(quoteID(kv[i+1]))
		}
		return b.String()
	}
	switch path {
	case "/routing/table", "/interface/wireguard", "/interface/list",
		"/routing/bgp/instance", "/routing/bgp/template", "/routing/bgp/connection":
		return pairs("name", get("name")), owned
	case "/interface/wireguard/peers":
		return pairs("interface", get("interface"), "name", get("name")), owned
	case "/interface/list/member":
		return pairs("list", get("list"), "interface", get("interface")), owned
	case "/ip/address", "/ipv6/address":
		return pairs("address", canonPrefix(get("address"), false), "interface", get("interface")), owned
	case "/ip/firewall/address-list", "/ipv6/firewall/address-list":
		return pairs("list", get("list"), "address", canonPrefix(get("address"), true)), owned
	case "/routing/filter/rule":
		return pairs("chain", get("chain")), owned
	case "/ip/route", "/ipv6/route":
		table := get("routing-table")
		if table == "" {
			table = "main"
		}
		bh := ""
		if v, present := lookup("blackhole"); present {
			switch strings.ToLower(v) {
			case "", "yes", "true":
				bh = "yes"
			}
		}
		return pairs("dst-address", canonPrefix(get("dst-address"), true), "routing-table", table, "blackhole", bh), owned
	case "/routing/rule":
		return pairs("src-address", canonPrefix(get("src-address"), true), "dst-address", canonPrefix(get("dst-address"), true),
			"routing-mark", get("routing-mark"), "interface", get("interface")), owned
	case "/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/mangle",
		"/ipv6/firewall/filter", "/ipv6/firewall/nat", "/ipv6/firewall/mangle":
		return pairs("chain", get("chain"), "comment", comment), owned
	case "/ipv6/nd":
		return pairs("interface", get("interface")), owned
	case "/ip/dns", "/ip/ssh":
		return "", owned
	case "/ip/service":
		return pairs("name", get("name")), owned
	case "/system/logging":
		// Owned rules are known by their comment (the topics they log);
		// the router's own rules have none and are never tether's.
		return pairs("comment", comment), owned
	}
	return pairs("comment", comment), owned
}

// canonPrefix prints an address or prefix the way Go's netip does, so live
// and rendered values compare equal. host turns a bare address into its
// host prefix (RouterOS prints an IPv4 /32 address-list entry bare). Values
// that do not parse are returned unchanged.
func canonPrefix(s string, host bool) string {
	if s == "" {
		return ""
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.String()
	}
	if a, err := netip.ParseAddr(s); err == nil && host {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return s
}

// quoteID quotes an ID value with the .rsc rules, so IDs are unambiguous.
func quoteID(v string) string { return quoteValue(v) }

// EffectiveAnchors returns, for each item, the comment of the rule it must
// sit right before: its own Anchor, or, for an item without one, the anchor
// of tether's previous item of the same menu and chain (it goes right after
// that item, which is "before the same anchor"). An item kept Last has none:
// it goes at the end of its chain. The .rsc script and the API planner both
// place items by it, so they cannot disagree.
func EffectiveAnchors(items []Item) []string {
	prev := map[string]string{}
	out := make([]string, len(items))
	for i, it := range items {
		chain, _ := it.Get("chain")
		key := it.Path + " " + chain
		a := it.Anchor
		switch {
		case it.Last:
			a = ""
		case a == "":
			a = prev[key]
		default:
			prev[key] = a
		}
		out[i] = a
	}
	return out
}
