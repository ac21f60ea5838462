package routeros

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// firewall renders filter, nat and mangle rules, IPv4 then IPv6 per table,
// each in declaration order; family "both" renders into both menus.
func (r *renderer) firewall() {
	for _, table := range []string{"filter", "nat", "mangle"} {
		for _, fam := range []string{"ip", "ipv6"} {
			for i := range r.s.Firewall {
				fr := &r.s.Firewall[i]
				t := fr.Table
				if t == "" {
					t = "filter"
				}
				if t != table || (fr.Family != fam && fr.Family != "both" && fr.Family != "") {
					continue
				}
				r.firewallRule(fam, table, fr)
			}
			if table == "filter" {
				r.finalDrops(fam)
			}
		}
	}
}

// finalDrops renders firewall_policy: a RouterOS chain ends in accept, so a
// "drop" policy is a drop rule tether keeps as the last rule of the chain,
// after defconf's rules and any rule added by hand (see Item.Last).
func (r *renderer) finalDrops(fam string) {
	for _, ch := range []struct{ chain, policy string }{{"input", r.s.FirewallPolicy.Input}, {"forward", r.s.FirewallPolicy.Forward}} {
		if ch.policy != "drop" {
			continue
		}
		var as attrs
		as.set("chain", ch.chain)
		as.set("action", "drop")
		as.set("comment", OwnedComment(policy.FinalDropComment(ch.chain)))
		r.add("/"+fam+"/firewall/filter", "", as)
		r.cfg.Items[len(r.cfg.Items)-1].Last = true
	}
}

// icmpTypes maps the model's (nftables) ICMP type names to RouterOS
// icmp-options type numbers per family.
var icmpTypes = map[string]map[string]int{
	"ip": {
		"echo-reply": 0, "destination-unreachable": 3, "echo-request": 8,
		"time-exceeded": 11, "parameter-problem": 12,
	},
	"ipv6": {
		"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
		"echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131,
		"nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135,
		"nd-neighbor-advert": 136, "mld2-listener-report": 143,
	},
}

// rejectWith maps the model's reject_with names (nftables style) to the
// values RouterOS accepts in each family (from the 7.22.3 deep inspect).
var rejectWith = map[string]map[string]string{
	"ip": {
		"icmp-network-unreachable": "icmp-network-unreachable", "icmp-host-unreachable": "icmp-host-unreachable",
		"icmp-port-unreachable": "icmp-port-unreachable", "icmp-admin-prohibited": "icmp-admin-prohibited",
		"tcp-reset":       "tcp-reset",
		"icmpv6-no-route": "icmp-network-unreachable", "icmpv6-admin-prohibited": "icmp-admin-prohibited",
		"icmpv6-address-unreachable": "icmp-host-unreachable", "icmpv6-port-unreachable": "icmp-port-unreachable",
		"icmpx-host-unreachable": "icmp-host-unreachable", "icmpx-port-unreachable": "icmp-port-unreachable",
		"icmpx-admin-prohibited": "icmp-admin-prohibited",
	},
	"ipv6": {
		"icmp-network-unreachable": "icmp-no-route", "icmp-host-unreachable": "icmp-address-unreachable",
		"icmp-port-unreachable": "icmp-port-unreachable", "icmp-admin-prohibited": "icmp-admin-prohibited",
		"tcp-reset":       "tcp-reset",
		"icmpv6-no-route": "icmp-no-route", "icmpv6-admin-prohibited": "icmp-admin-prohibited",
		"icmpv6-address-unreachable": "icmp-address-unreachable", "icmpv6-port-unreachable": "icmp-port-unreachable",
		"icmpx-host-unreachable": "icmp-address-unreachable", "icmpx-port-unreachable": "icmp-port-unreachable",
		"icmpx-admin-prohibited": "icmp-admin-prohibited",
	},
}

// defconfAnchors pairs the defconf rules that play the same role in the IPv4
// and IPv6 firewalls but carry different comments, so a family = "both"
// rule anchored to one lands at the same place in the other.
var defconfAnchors = []struct{ chain, ip, ipv6 string }{
	{"input", "defconf: drop all not coming from LAN", "defconf: drop everything else not coming from LAN"},
	{"input", "defconf: accept ICMP", "defconf: accept ICMPv6"},
	{"forward", "defconf: drop all from WAN not DSTNATed", "defconf: drop everything else not coming from LAN"},
	{"forward", "defconf: accept established,related, untracked", "defconf: accept established,related,untracked"},
}

func (r *renderer) anchorFor(fam, chain, anchor string) string {
	if anchor == "" {
		return ""
	}
	for _, d := range defconfAnchors {
		if d.chain != chain {
			continue
		}
		switch {
		case fam == "ip" && anchor == d.ipv6:
			return d.ip
		case fam == "ipv6" && anchor == d.ip:
			return d.ipv6
		}
	}
	return anchor
}

func (r *renderer) firewallRule(fam, table string, fr *policy.FirewallRule) {
	path := "/" + fam + "/firewall/" + table
	where := path + " " + strconv.Quote(fr.Comment)
	proto := fr.Protocol
	bare := strings.TrimPrefix(proto, "!")
	switch {
	case fam == "ipv6" && bare == "icmp":
		proto = strings.Replace(proto, "icmp", "icmpv6", 1)
	case fam == "ip" && bare == "icmpv6":
		r.warnf("firewall %s: protocol icmpv6 cannot match IPv4; the rule is rendered for IPv6 only", where)
		return
	}
	if a, err := netip.ParsePrefix(canonPrefix(fr.ToAddresses, true)); err == nil && family(a.Addr()) != fam {
		// policy infers a rule's family from its match addresses only; a
		// NAT target of the other family means the rule is not for fam.
		r.warnf("firewall %s: to_addresses %s is not %s; the rule is not rendered for %s", where, fr.ToAddresses, fam, fam)
		return
	}
	// RouterOS icmp-options takes one type per rule: a rule listing several
	// types becomes one rule per type, each with its own comment.
	type variant struct{ icmp, comment string }
	variants := []variant{{"", fr.Comment}}
	if len(fr.ICMPTypes) > 0 {
		variants = variants[:0]
		for _, t := range fr.ICMPTypes {
			n, ok := icmpTypes[fam][t]
			if !ok {
				r.warnf("firewall %s: ICMP type %s does not exist in %s; skipped for this family", where, t, fam)
				continue
			}
			c := fr.Comment
			if len(fr.ICMPTypes) > 1 {
				c += " (" + t + ")"
			}
			variants = append(variants, variant{strconv.Itoa(n) + ":0-255", c})
		}
		if len(variants) == 0 {
			return
		}
	}
	anchor := r.anchorFor(fam, fr.Chain, fr.PlaceBefore)
	if strings.HasPrefix(anchor, "defconf:") && !r.defconf() {
		r.warnf("firewall %s: place_before %q names a defconf rule, but the site has defconf = false", where, anchor)
	}
	for vi, v := range variants {
		as := make(attrs, 0, 12)
		as.set("chain", fr.Chain)
		as.set("action", fr.Action)
		as.set("protocol", proto)
		if fr.SrcAddress.IsValid() {
			as.set("src-address", fr.SrcAddress.String())
		}
		if fr.DstAddress.IsValid() {
			as.set("dst-address", fr.DstAddress.String())
		}
		as.set("src-address-list", fr.SrcAddressList)
		as.set("dst-address-list", fr.DstAddressList)
		as.set("src-port", fr.SrcPort)
		as.set("dst-port", fr.DstPort)
		as.set("in-interface", fr.InInterface)
		as.set("out-interface", fr.OutInterface)
		as.set("in-interface-list", fr.InInterfaceList)
		as.set("out-interface-list", fr.OutInterfaceList)
		if len(fr.ConnectionState) > 0 {
			// IPv4 NAT sees only a connection's first packet and RouterOS
			// has no connection-state there.
			if path == "/ip/firewall/nat" {
				if vi == 0 {
					r.warnf("firewall %s: /ip/firewall/nat has no connection-state; not rendered", where)
				}
			} else {
				as.set("connection-state", strings.Join(fr.ConnectionState, ","))
			}
		}
		if fr.ConnectionNATState != "" {
			if table == "nat" {
				if vi == 0 {
					r.warnf("firewall %s: %s has no connection-nat-state; not rendered", where, path)
				}
			} else {
				as.set("connection-nat-state", fr.ConnectionNATState)
			}
		}
		as.set("icmp-options", v.icmp)
		if fr.ToAddresses != "" {
			// The IPv6 NAT menu spells it to-address.
			name := "to-addresses"
			if fam == "ipv6" {
				name = "to-address"
			}
			as.set(name, canonPrefix(fr.ToAddresses, false))
		}
		as.set("to-ports", fr.ToPorts)
		as.set("new-routing-mark", fr.NewRoutingMark)
		if fr.Passthrough != nil && table == "mangle" {
			as.yesNo("passthrough", *fr.Passthrough)
		}
		if fr.RejectWith != "" {
			if rw, ok := rejectWith[fam][fr.RejectWith]; ok && table == "filter" {
				as.set("reject-with", rw)
			} else if vi == 0 {
				r.warnf("firewall %s: reject_with %s has no %s equivalent; RouterOS's default is used", where, fr.RejectWith, path)
			}
		}
		if fr.Log {
			as.yesNo("log", true)
		}
		as.set("log-prefix", fr.LogPrefix)
		if fr.Disabled {
			as.yesNo("disabled", true)
		}
		as.set("comment", OwnedComment(v.comment))
		// Only the first of a split rule carries the anchor; the others
		// follow it (Anchor "" = right after tether's previous item).
		a := anchor
		if vi > 0 {
			a = ""
		}
		r.add(path, a, as)
	}
}
