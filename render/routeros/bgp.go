package routeros

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// Chain and object names derived from a session's connection name, as in
// the write-ups: bgp-in-home, bgp-out-home, bgp-networks-home, tpl-home.
func inChain(name string) string      { return "bgp-in-" + name }
func outChain(name string) string     { return "bgp-out-" + name }
func networksList(name string) string { return "bgp-networks-" + name }
func templateName(name string) string { return "tpl-" + name }

// bgpNetworks renders the address lists output.network announces from.
func (r *renderer) bgpNetworks(sessions []policy.BGPSession) {
	for _, bs := range sessions {
		for _, p := range bs.Networks {
			r.addressList(networksList(bs.Name), p, "BGP networks to "+bs.Name)
			if !r.declaresDst(p) {
				r.warnf("bgp %s: RouterOS announces an output.network prefix only while a route for it is active; %s has no static route here (declare a blackhole route with a high distance)", bs.Name, p)
			}
		}
	}
}

// bgp renders every eBGP session of the site: the import/export filter
// rules, the instance (7.20+), one template per session and the
// connections.
func (r *renderer) bgp(sessions []policy.BGPSession) {
	if len(sessions) == 0 {
		return
	}
	for _, bs := range sessions {
		r.filterRule(inChain(bs.Name), bs.Import, "BGP import from "+bs.Name)
		r.filterRule(outChain(bs.Name), bs.Export, "BGP export to "+bs.Name)
	}

	instASN, instID := r.s.ASN, r.s.RouterID.Addr
	if instASN == 0 {
		instASN = sessions[0].LocalASN
	}
	if !instID.IsValid() {
		instID = sessions[0].RouterID
	}
	if r.v.bgpInstance() {
		var as attrs
		as.set("name", r.s.BGP.Instance)
		as.set("as", asn(instASN))
		if instID.IsValid() {
			as.set("router-id", instID.String())
		}
		as.set("comment", OwnedComment(""))
		r.add("/routing/bgp/instance", "", as)
		for _, bs := range sessions {
			if bs.RouterID.IsValid() && bs.RouterID != instID {
				r.warnf("bgp %s: router ID %s differs from the site's %s; on RouterOS 7.20+ the router ID belongs to instance %s, so %s is used", bs.Name, bs.RouterID, instID, r.s.BGP.Instance, instID)
			}
		}
	}
	for _, bs := range sessions {
		var as attrs
		as.set("name", templateName(bs.Name))
		as.set("as", asn(bs.LocalASN))
		if bs.DefaultOriginate {
			// The write-ups originate ::/0 from the template rather than
			// installing a synthetic default route.
			as.set("output.default-originate", "always")
		}
		if bs.Holdtime > 0 {
			as.set("hold-time", formatDuration(bs.Holdtime))
		}
		as.set("comment", OwnedComment("link "+bs.Link.Name))
		r.add("/routing/bgp/template", "", as)
	}
	for _, bs := range sessions {
		var as attrs
		as.set("name", bs.Name)
		if r.v.bgpInstance() {
			as.set("instance", r.s.BGP.Instance)
		} else {
			// Before 7.20 there is no instance: the connection carries the
			// local AS and the router ID itself.
			as.set("as", asn(bs.LocalASN))
			if bs.RouterID.IsValid() {
				as.set("router-id", bs.RouterID.String())
			}
		}
		as.set("remote.address", addrString(bs.RemoteAddress))
		as.set("remote.as", asn(bs.RemoteASN))
		as.set("local.address", addrString(bs.LocalAddress))
		as.set("local.role", "ebgp")
		as.set("templates", templateName(bs.Name))
		as.set(r.v.afiAttr(), strings.Join(bs.AFI, ","))
		as.set("input.filter", inChain(bs.Name))
		as.set("output.filter-chain", outChain(bs.Name))
		if len(bs.Networks) > 0 {
			as.set("output.network", networksList(bs.Name))
		}
		as.set("comment", OwnedComment("link "+bs.Link.Name))
		r.add("/routing/bgp/connection", "", as)
	}
}

func asn(a uint32) string {
	if a == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(a), 10)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// filterRule emits one /routing/filter/rule holding the whole policy of a
// chain, so the chain alone identifies it.
func (r *renderer) filterRule(chain string, ms []policy.PrefixMatch, comment string) {
	var as attrs
	as.set("chain", chain)
	as.set("rule", FilterRuleText(ms))
	as.set("comment", OwnedComment(comment))
	r.add("/routing/filter/rule", "", as)
}

// FilterRuleText writes a RouterOS routing filter rule that accepts exactly
// the given matches and rejects everything else, in the write-ups' style:
//
//	if (dst == 2001:db8:100::/48) { accept } reject
//	if (dst in 2001:db8::/32 && dst-len in 48-64) { accept } reject
//
// Every value in the text is a netip.Prefix or an integer printed by Go, so
// nothing from the repo can inject filter syntax. Invalid (zero) matches
// are skipped; an empty list rejects everything.
func FilterRuleText(ms []policy.PrefixMatch) string {
	var b strings.Builder
	type key struct {
		p      netip.Prefix
		lo, hi int
	}
	seen := make(map[key]bool, len(ms))
	for _, m := range ms {
		k := key{m.Prefix, m.Min, m.Max}
		if !m.Prefix.IsValid() || seen[k] {
			continue
		}
		seen[k] = true
		p := m.Prefix.Masked()
		b.WriteString("if (dst ")
		if m.Exact() {
			b.WriteString("== ")
			b.WriteString(p.String())
		} else {
			lo, hi := clamp(m.Min, p.Bits(), p.Addr().BitLen()), clamp(m.Max, p.Bits(), p.Addr().BitLen())
			if hi < lo {
				hi = lo
			}
			b.WriteString("in ")
			b.WriteString(p.String())
			b.WriteString(" && dst-len in ")
			b.WriteString(strconv.Itoa(lo))
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(hi))
		}
		b.WriteString(") { accept } ")
	}
	b.WriteString("reject")
	return b.String()
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
