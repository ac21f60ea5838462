package importer

import (
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
)

var filterTerm = regexp.MustCompile(`if \(dst (==|in) ([0-9a-fA-F.:]+/\d+)(?: && dst-len in (\d+)-(\d+))?\) \{ accept \} `)

// parseFilter reads a routing filter rule tether writes (FilterRuleText)
// back into prefix matches; ok is false for any other rule, which the
// model cannot hold.
func parseFilter(rule string) ([]policy.PrefixMatch, bool) {
	var out []policy.PrefixMatch
	for _, m := range filterTerm.FindAllStringSubmatch(rule, -1) {
		p, err := netip.ParsePrefix(m[2])
		if err != nil {
			return nil, false
		}
		pm := policy.PrefixMatch{Prefix: p, Min: p.Bits(), Max: p.Bits()}
		if m[1] == "in" {
			pm.Min, _ = strconv.Atoi(m[3])
			pm.Max, _ = strconv.Atoi(m[4])
		}
		out = append(out, pm)
	}
	return out, ros.FilterRuleText(out) == strings.TrimSpace(rule)
}

// linkBGP turns the router's eBGP session to a new link's far end into the
// link's [bgp], when the session is laid out the way tether renders it
// (connection named like the peer, template tpl-<name>, filter chains
// bgp-in-<name> and bgp-out-<name>, networks list bgp-networks-<name>);
// otherwise the session stays the site's raw items.
func (im *importer) linkBGP(k *policy.Link, peerName string, remote netip.Addr) {
	var conn *item
	for _, c := range im.unused("/routing/bgp/connection") {
		if a, err := netip.ParseAddr(c.get("remote.address")); err == nil && a == remote {
			conn = c
		}
	}
	if conn == nil {
		return
	}
	name := conn.get("name")
	why := func(s string) {
		im.note("the BGP session %s to %s is not tether's layout (%s): it stays raw items; rename it to make it the link's [bgp]", name, remote, s)
	}
	if name != peerName {
		why(fmt.Sprintf("connection named %q, not %q", name, peerName))
		return
	}
	find := func(path, attr, v string) *item {
		for _, it := range im.unused(path) {
			if it.get(attr) == v {
				return it
			}
		}
		return nil
	}
	tpl := find("/routing/bgp/template", "name", "tpl-"+name)
	in := find("/routing/filter/rule", "chain", "bgp-in-"+name)
	out := find("/routing/filter/rule", "chain", "bgp-out-"+name)
	if tpl == nil || in == nil || out == nil || conn.get("templates") != "tpl-"+name ||
		conn.get("input.filter") != "bgp-in-"+name || conn.get("output.filter-chain") != "bgp-out-"+name {
		why("template tpl-" + name + ", filter chains bgp-in-" + name + " and bgp-out-" + name)
		return
	}
	imp, ok1 := parseFilter(in.get("rule"))
	exp, ok2 := parseFilter(out.get("rule"))
	if !ok1 || !ok2 {
		why("filter rules tether does not write")
		return
	}
	end := policy.BGPEnd{Import: imp, Export: exp, DefaultOriginate: tpl.get("output.default-originate") == "always"}
	if d, ok := parseDuration(tpl.get("hold-time")); ok && d > 0 {
		end.Holdtime = policy.DurationOf(d)
	}
	if asn := parseASN(tpl.get("as")); asn != im.site.ASN {
		end.ASN = asn
	}
	if a, err := netip.ParseAddr(conn.get("router-id")); err == nil {
		end.RouterID = policy.Addr{Addr: a} // before 7.20 the connection carries it
	}
	var networks []*item
	if nl := conn.get("output.network"); nl != "" {
		if nl != "bgp-networks-"+name {
			why("output.network " + nl)
			return
		}
		for _, path := range []string{"/ip/firewall/address-list", "/ipv6/firewall/address-list"} {
			for _, it := range im.unused(path) {
				if it.get("list") == nl {
					p, ok := parsePrefix(it.get("address"))
					if !ok {
						why("a network that is not a prefix")
						return
					}
					end.Networks = append(end.Networks, policy.Prefix{Prefix: p})
					networks = append(networks, it)
				}
			}
		}
	}
	// The far end's filters are its own; mirrored from this end's, they
	// accept what this end announces and announce what it accepts.
	b := &policy.BGP{A: end, B: policy.BGPEnd{ASN: parseASN(conn.get("remote.as")), Import: exp, Export: imp}}
	for _, f := range strings.Split(cmp.Or(conn.get("afi"), conn.get("address-families")), ",") {
		if f == "ip" || f == "ipv6" {
			b.AFI = append(b.AFI, f)
		}
	}
	k.BGP = b
	for _, it := range append([]*item{conn, tpl, in, out}, networks...) {
		it.used = true
	}
	im.res.linkNotes[k.Name] = append(im.res.linkNotes[k.Name],
		fmt.Sprintf("The eBGP session %s came from the router; bgp.b.import and bgp.b.export mirror this end's filters: review them for site %s.", name, k.B.Site))
}
