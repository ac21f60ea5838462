package linux

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// birdFamily names a BIRD channel family and the protocol-name suffix used
// for its kernel and static protocols.
type birdFamily struct {
	channel string // "ipv4" | "ipv6"
	suffix  string // "4" | "6"
	dflt    netip.Prefix
}

var (
	fam4 = birdFamily{"ipv4", "4", netip.MustParsePrefix("0.0.0.0/0")}
	fam6 = birdFamily{"ipv6", "6", netip.MustParsePrefix("::/0")}
)

func familyOf(p netip.Prefix) birdFamily {
	if p.Addr().Is4() {
		return fam4
	}
	return fam6
}

// BirdName turns a session or peer name into a BIRD identifier: letters,
// digits and '_' only, never starting with a digit. The health gate uses it
// to find the protocol ("bgp_" + BirdName(session)) in `birdc show protocols`.
func BirdName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}

// BGPProtocolNames returns, for each of the site's sessions in
// n.BGPSessions order, the name of its `protocol bgp` in bird.conf.
func BGPProtocolNames(n *policy.Network, site string) []string {
	used := map[string]bool{}
	var out []string
	for _, bs := range n.BGPSessions(site) {
		base := "bgp_" + BirdName(bs.Name)
		name := base
		for i := 2; used[name]; i++ {
			name = base + "_" + strconv.Itoa(i)
		}
		used[name] = true
		out = append(out, name)
	}
	return out
}

type staticRoute struct {
	dst  netip.Prefix
	line string
}

func (r *renderer) bird() error {
	sessions := r.n.BGPSessions(r.s.Name)
	var routes []policy.Route
	for _, rt := range r.s.Routes {
		if rt.Table != "" && rt.Table != "main" {
			r.warnf("route %s: routes in table %q are not rendered on Linux; use a raw file", rt.Dst, rt.Table)
			continue
		}
		routes = append(routes, rt)
	}
	if len(sessions) == 0 && len(routes) == 0 {
		return nil
	}
	names := BGPProtocolNames(r.n, r.s.Name)

	// Static routes per family: declared routes first, then the session
	// networks not already declared, as blackholes so the aggregate exists
	// (like the RouterOS home router's distance-254 blackhole) and BGP can
	// announce it.
	static := map[string][]staticRoute{}
	seen := map[netip.Prefix]bool{}
	for _, rt := range routes {
		f := familyOf(rt.Dst.Prefix)
		var via string
		switch {
		case rt.Blackhole:
			via = "blackhole"
		default:
			if a, err := netip.ParseAddr(rt.Gateway); err == nil {
				if a.IsLinkLocalUnicast() {
					r.warnf("route %s: a link-local gateway needs an interface; write gateway = the interface name", rt.Dst)
					continue
				}
				via = "via " + a.String()
			} else {
				via = fmt.Sprintf("via %q", rt.Gateway)
			}
		}
		line := fmt.Sprintf("route %s %s", rt.Dst, via)
		if rt.Distance > 0 {
			// RouterOS distance and the kernel metric both prefer the lower
			// value; the metric is what ranks this route in the kernel.
			line += fmt.Sprintf(" { krt_metric = %d; }", rt.Distance)
		}
		line += ";"
		if rt.Comment != "" {
			line += " # " + rt.Comment
		}
		seen[rt.Dst.Prefix] = true
		static[f.suffix] = append(static[f.suffix], staticRoute{rt.Dst.Prefix, line})
	}
	origin := map[string]bool{}
	fams := map[string]bool{}
	for _, rt := range routes {
		fams[familyOf(rt.Dst.Prefix).suffix] = true
	}
	for _, bs := range sessions {
		for _, p := range bs.Networks {
			fams[familyOf(p).suffix] = true
			if !seen[p] {
				seen[p] = true
				f := familyOf(p)
				static[f.suffix] = append(static[f.suffix], staticRoute{p, fmt.Sprintf("route %s blackhole; # announced to %s", p, bs.Name)})
			}
		}
		for _, f := range sessionFamilies(bs) {
			fams[f.suffix] = true
			if bs.DefaultOriginate {
				origin[f.suffix] = true
			}
		}
	}

	// Router ID: BIRD has one per daemon.
	var rid netip.Addr
	for _, bs := range sessions {
		if !bs.RouterID.IsValid() {
			continue
		}
		if !rid.IsValid() {
			rid = bs.RouterID
		} else if rid != bs.RouterID {
			r.warnf("bgp: sessions ask for router IDs %s and %s; BIRD has one router id, using %s", rid, bs.RouterID, rid)
		}
	}
	if !rid.IsValid() && r.s.RouterID.IsValid() {
		rid = r.s.RouterID.Addr
	}

	var b buf
	b.WriteString(header("#", r.s.Name))
	b.line(0, "log syslog all;")
	if rid.IsValid() {
		b.line(0, "router id %s;", rid)
	} else {
		r.warnf("bgp: no router_id; BIRD picks the lowest IPv4 address and fails on an IPv6-only host")
	}
	b.line(0, "")
	b.line(0, "protocol device {")
	b.line(1, "scan time 10;")
	b.line(0, "}")

	order := []birdFamily{fam6, fam4}
	var wgIfaces []string
	for _, w := range r.s.WireGuard {
		wgIfaces = append(wgIfaces, strconv.Quote(w.Name))
	}
	if len(wgIfaces) > 0 {
		// Connected routes of tether's own interfaces only, so BIRD can
		// resolve next hops there without re-announcing the host's LAN/WAN.
		b.line(0, "")
		b.line(0, "protocol direct {")
		for _, f := range order {
			if fams[f.suffix] {
				b.line(1, "%s;", f.channel)
			}
		}
		b.line(1, "interface %s;", strings.Join(wgIfaces, ", "))
		b.line(0, "}")
	}

	for _, f := range order {
		if !fams[f.suffix] {
			continue
		}
		// The kernel gets what BGP learned and the declared statics, never
		// the default-originate route: a blackhole default in the kernel
		// would cut the host off its own upstream.
		b.line(0, "")
		b.line(0, "protocol kernel kernel%s {", f.suffix)
		b.line(1, "%s {", f.channel)
		b.line(2, "import none;")
		b.line(2, "export filter {")
		if len(static[f.suffix]) > 0 {
			b.line(3, "if proto = \"static%s\" then accept;", f.suffix)
		}
		b.line(3, "if source = RTS_BGP then accept;")
		b.line(3, "reject;")
		b.line(2, "};")
		b.line(1, "};")
		// learn off: routes other tools put in the kernel are not BIRD's to
		// announce. persist off: a stopped BIRD withdraws what it installed,
		// so a revert leaves no stale routes.
		b.line(1, "learn off;")
		b.line(1, "persist off;")
		b.line(1, "merge paths off;")
		b.line(0, "}")
		if sr := static[f.suffix]; len(sr) > 0 {
			b.line(0, "")
			b.line(0, "protocol static static%s {", f.suffix)
			b.line(1, "%s;", f.channel)
			for _, x := range sr {
				b.line(1, "%s", x.line)
			}
			b.line(0, "}")
		}
		if origin[f.suffix] {
			b.line(0, "")
			b.line(0, "# BIRD has no default-originate: sessions with default_originate export")
			b.line(0, "# this route through their export filter; the kernel never gets it.")
			b.line(0, "protocol static originate%s {", f.suffix)
			b.line(1, "%s;", f.channel)
			b.line(1, "route %s blackhole;", f.dflt)
			b.line(0, "}")
		}
	}

	for i, bs := range sessions {
		name := names[i]
		id := strings.TrimPrefix(name, "bgp_")
		if !bs.LocalAddress.IsValid() || !bs.RemoteAddress.IsValid() {
			return fmt.Errorf("render linux: bgp session %s: the link needs transit addresses on both ends", bs.Name)
		}
		families := sessionFamilies(bs)
		imp := bs.Import
		exp := append([]policy.PrefixMatch(nil), bs.Export...)
		if bs.DefaultOriginate {
			for _, f := range families {
				if !hasExact(exp, f.dflt) {
					exp = append(exp, policy.PrefixMatch{Prefix: f.dflt, Min: 0, Max: 0})
				}
			}
		}
		b.line(0, "")
		writeFilter(&b, "bgp_in_"+id, imp)
		b.line(0, "")
		writeFilter(&b, "bgp_out_"+id, exp)
		b.line(0, "")
		b.line(0, "protocol bgp %s {", name)
		desc := "link " + bs.Link.Name
		b.line(1, "description %q;", desc)
		b.line(1, "local %s as %d;", bs.LocalAddress, bs.LocalASN)
		b.line(1, "neighbor %s as %d;", bs.RemoteAddress, bs.RemoteASN)
		if bs.RemoteAddress.IsLinkLocalUnicast() || bs.LocalAddress.IsLinkLocalUnicast() {
			b.line(1, "interface %q;", bs.Interface)
		}
		if bs.Holdtime > 0 {
			b.line(1, "hold time %d;", int(bs.Holdtime.Seconds()))
		}
		for _, f := range families {
			b.line(1, "%s {", f.channel)
			if f == fam4 && bs.LocalAddress.Is6() {
				// IPv4 routes over an IPv6 session need RFC 8950 next hops.
				b.line(2, "extended next hop on;")
			}
			b.line(2, "import filter bgp_in_%s;", id)
			b.line(2, "export filter bgp_out_%s;", id)
			b.line(1, "};")
		}
		b.line(0, "}")
	}
	r.add(File{
		Path:     r.opt.BirdPath,
		Mode:     0o644,
		Content:  b.Bytes(),
		Check:    []string{"bird", "-p", "-c", "{}"},
		Activate: Action{Kind: ActBirdConfigure, Target: r.opt.BirdSocket},
	})
	return nil
}

func sessionFamilies(bs policy.BGPSession) []birdFamily {
	var out []birdFamily
	has := map[string]bool{}
	for _, a := range bs.AFI {
		has[a] = true
	}
	if has["ipv6"] {
		out = append(out, fam6)
	}
	if has["ip"] || has["ipv4"] {
		out = append(out, fam4)
	}
	if len(out) == 0 {
		if bs.LocalAddress.Is4() {
			out = append(out, fam4)
		} else {
			out = append(out, fam6)
		}
	}
	return out
}

func hasExact(ms []policy.PrefixMatch, p netip.Prefix) bool {
	for _, m := range ms {
		if m.Prefix == p && m.Min == p.Bits() && m.Max == p.Bits() {
			return true
		}
	}
	return false
}

// birdMatch writes one prefix-set entry: exact, "+" or "{min,max}".
func birdMatch(m policy.PrefixMatch) string {
	bits, all := m.Prefix.Bits(), m.Prefix.Addr().BitLen()
	switch {
	case m.Min == bits && m.Max == bits:
		return m.Prefix.String()
	case m.Min == bits && m.Max == all:
		return m.Prefix.String() + "+"
	default:
		return fmt.Sprintf("%s{%d,%d}", m.Prefix, m.Min, m.Max)
	}
}

// writeFilter renders a named filter from a structured list: accept what
// matches, reject the rest. With both families in one list each set is
// guarded by net.type, because matching a prefix against a set of the
// other family is a run-time error in BIRD.
func writeFilter(b *buf, name string, ms []policy.PrefixMatch) {
	var v4, v6 []string
	for _, m := range ms {
		if m.Prefix.Addr().Is4() {
			v4 = append(v4, birdMatch(m))
		} else {
			v6 = append(v6, birdMatch(m))
		}
	}
	b.line(0, "filter %s {", name)
	both := len(v4) > 0 && len(v6) > 0
	for _, x := range []struct {
		set   []string
		ntype string
	}{{v6, "NET_IP6"}, {v4, "NET_IP4"}} {
		if len(x.set) == 0 {
			continue
		}
		if both {
			b.line(1, "if net.type = %s then {", x.ntype)
			b.line(2, "if net ~ [ %s ] then accept;", strings.Join(x.set, ", "))
			b.line(1, "}")
		} else {
			b.line(1, "if net ~ [ %s ] then accept;", strings.Join(x.set, ", "))
		}
	}
	b.line(1, "reject;")
	b.line(0, "}")
}
