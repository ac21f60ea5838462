package linux

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// NftTable is the nftables table tether owns. Nothing else is touched: the
// file creates it (so the delete cannot fail), deletes it and recreates it
// with the full ruleset, which `nft -f` applies as one transaction.
const NftTable = "tether"

// nftChain is one base chain of the tether table.
type nftChain struct {
	name, typ, hook, prio, policy string
	rules                         []string
}

func (r *renderer) nftables() {
	s := r.s
	chains := map[string]*nftChain{}
	var order []string
	chain := func(key string) *nftChain {
		if c := chains[key]; c != nil {
			return c
		}
		var c *nftChain
		switch key {
		case "filter/input", "filter/forward", "filter/output":
			name := strings.TrimPrefix(key, "filter/")
			c = &nftChain{name: name, typ: "filter", hook: name, prio: "filter", policy: "accept"}
		case "nat/srcnat":
			c = &nftChain{name: "srcnat", typ: "nat", hook: "postrouting", prio: "srcnat", policy: "accept"}
		case "nat/dstnat":
			c = &nftChain{name: "dstnat", typ: "nat", hook: "prerouting", prio: "dstnat", policy: "accept"}
		default: // mangle/<hook>
			hook := strings.TrimPrefix(key, "mangle/")
			typ := "filter"
			if hook == "output" {
				// Only a route chain re-routes locally generated packets
				// whose mark changed.
				typ = "route"
			}
			c = &nftChain{name: "mangle_" + hook, typ: typ, hook: hook, prio: "mangle", policy: "accept"}
		}
		chains[key] = c
		order = append(order, key)
		return c
	}
	pol := func(v string) string {
		if v == "" {
			return "accept"
		}
		return v
	}
	// The filter chains exist whenever the site has a firewall at all, so a
	// declared policy applies even with no rules.
	if len(s.Firewall) > 0 || s.FirewallPolicy != (policy.FirewallPolicy{}) {
		chain("filter/input").policy = pol(s.FirewallPolicy.Input)
		chain("filter/forward").policy = pol(s.FirewallPolicy.Forward)
		chain("filter/output").policy = pol(s.FirewallPolicy.Output)
	}

	lists := r.addressLists()
	markWarned := false
	for _, i := range placeRules(r, s.Firewall) {
		fr := s.Firewall[i]
		table := fr.Table
		if table == "" {
			table = "filter"
		}
		c := chain(table + "/" + fr.Chain)
		if fr.Disabled {
			c.rules = append(c.rules, "# disabled: "+ruleLabel(fr, i))
			continue
		}
		if fr.Action == "mark-routing" && !markWarned {
			markWarned = true
			r.warnf("firewall: mark-routing sets the packet mark to the table id; the `ip rule fwmark` that uses it is not rendered on Linux")
		}
		c.rules = append(c.rules, r.nftRule(fr, i, lists)...)
	}

	var b buf
	b.WriteString(header("#", s.Name))
	b.line(0, "# Replaces only table inet %s, atomically: create, delete, recreate.", NftTable)
	b.line(0, "table inet %s {}", NftTable)
	b.line(0, "delete table inet %s", NftTable)
	b.line(0, "table inet %s {", NftTable)
	first := true
	for _, name := range sortedListNames(lists) {
		for _, fam := range []string{"4", "6"} {
			el := lists[name][fam]
			if len(el) == 0 {
				continue
			}
			if !first {
				b.line(0, "")
			}
			first = false
			typ := "ipv4_addr"
			if fam == "6" {
				typ = "ipv6_addr"
			}
			b.line(1, "set %s {", setName(name, fam))
			b.line(2, "type %s", typ)
			b.line(2, "flags interval")
			b.line(2, "elements = { %s }", strings.Join(el, ", "))
			b.line(1, "}")
		}
	}
	// Filter chains first, in hook order, then nat and mangle as declared.
	sort.SliceStable(order, func(i, j int) bool { return chainRank(order[i]) < chainRank(order[j]) })
	for _, key := range order {
		c := chains[key]
		if !first {
			b.line(0, "")
		}
		first = false
		b.line(1, "chain %s {", c.name)
		b.line(2, "type %s hook %s priority %s; policy %s;", c.typ, c.hook, c.prio, c.policy)
		for _, l := range c.rules {
			b.line(2, "%s", l)
		}
		b.line(1, "}")
	}
	b.line(0, "}")
	r.add(File{
		Path:     r.opt.NftPath,
		Mode:     0o644,
		Content:  b.Bytes(),
		Check:    []string{"nft", "-c", "-f", "{}"},
		Activate: Action{Kind: ActNftApply, Target: r.opt.NftPath},
	})
}

func chainRank(key string) int {
	switch key {
	case "filter/input":
		return 0
	case "filter/forward":
		return 1
	case "filter/output":
		return 2
	case "nat/dstnat":
		return 3
	case "nat/srcnat":
		return 4
	}
	return 5
}

func ruleLabel(fr policy.FirewallRule, i int) string {
	if fr.Comment != "" {
		return fmt.Sprintf("firewall[%d] %s", i, fr.Comment)
	}
	return fmt.Sprintf("firewall[%d]", i)
}

// placeRules returns rule indices in final order: declaration order, with a
// rule that names another rule's comment in place_before moved right before
// it. tether owns the whole table, so that is the only ordering there is.
func placeRules(r *renderer, rules []policy.FirewallRule) []int {
	order := make([]int, len(rules))
	for i := range rules {
		order[i] = i
	}
	for i, fr := range rules {
		if fr.PlaceBefore == "" {
			continue
		}
		pos := -1
		for k, j := range order {
			if j == i {
				pos = k
				break
			}
		}
		order = append(order[:pos], order[pos+1:]...)
		target := -1
		for k, j := range order {
			o := rules[j]
			if o.Comment == fr.PlaceBefore && o.Table == fr.Table && o.Chain == fr.Chain {
				target = k
				break
			}
		}
		if target < 0 {
			r.warnf("firewall[%d]: place_before %q names no rule of chain %s here; appended in order", i, fr.PlaceBefore, fr.Chain)
			order = append(order[:pos], append([]int{i}, order[pos:]...)...)
			continue
		}
		order = append(order[:target], append([]int{i}, order[target:]...)...)
	}
	return order
}

// addressLists maps list name → family ("4"/"6") → elements.
func (r *renderer) addressLists() map[string]map[string][]string {
	out := map[string]map[string][]string{}
	for _, a := range r.s.AddressLists {
		if !a.Address.IsValid() {
			continue
		}
		fam := "6"
		if a.Address.Addr().Is4() {
			fam = "4"
		}
		if out[a.List] == nil {
			out[a.List] = map[string][]string{}
		}
		out[a.List][fam] = append(out[a.List][fam], a.Address.String())
	}
	return out
}

func sortedListNames(m map[string]map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func setName(list, fam string) string { return "al" + fam + "_" + BirdName(list) }

// ifaceList expands an interface-list name: Linux has no interface lists,
// so the members are the interfaces that declare the list, plus for LAN and
// WAN those with that role.
func (r *renderer) ifaceList(name string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, i := range r.s.Interfaces {
		match := strings.EqualFold(name, i.Role) && i.Role != ""
		for _, l := range i.Lists {
			match = match || l == name
		}
		if match {
			add(i.Name)
		}
	}
	for _, w := range r.s.WireGuard {
		for _, l := range w.Lists {
			if l == name {
				add(w.Name)
			}
		}
	}
	return out
}

func quoteSet(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

func portExpr(p string) string {
	if strings.Contains(p, ",") {
		return "{ " + strings.ReplaceAll(p, ",", ", ") + " }"
	}
	return p
}

var icmp4Types = map[string]bool{"echo-request": true, "echo-reply": true, "destination-unreachable": true, "time-exceeded": true, "parameter-problem": true}

var l4Names = map[string]string{
	"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmpv6", "gre": "gre",
	"ipsec-esp": "esp", "ipsec-ah": "ah", "vrrp": "vrrp", "ospf": "ospf", "sctp": "sctp",
}

// rejectKinds maps reject_with to the reason; the ICMP type is picked per
// family so a both-family rule uses icmpx.
var rejectKinds = map[string]string{
	"icmp-network-unreachable": "net", "icmp-host-unreachable": "host", "icmp-port-unreachable": "port", "icmp-admin-prohibited": "admin",
	"icmpv6-no-route": "net", "icmpv6-admin-prohibited": "admin", "icmpv6-address-unreachable": "host", "icmpv6-port-unreachable": "port",
	"icmpx-host-unreachable": "host", "icmpx-port-unreachable": "port", "icmpx-admin-prohibited": "admin",
}

var rejectTypes = map[string]map[string]string{
	"ip":   {"net": "icmp type net-unreachable", "host": "icmp type host-unreachable", "port": "icmp type port-unreachable", "admin": "icmp type admin-prohibited"},
	"ipv6": {"net": "icmpv6 type no-route", "host": "icmpv6 type addr-unreachable", "port": "icmpv6 type port-unreachable", "admin": "icmpv6 type admin-prohibited"},
	"both": {"net": "icmpx type no-route", "host": "icmpx type host-unreachable", "port": "icmpx type port-unreachable", "admin": "icmpx type admin-prohibited"},
}

// nftRule renders one model rule as one or more nft rules (one per family
// when the rule matches an address list or translates addresses).
func (r *renderer) nftRule(fr policy.FirewallRule, idx int, lists map[string]map[string][]string) []string {
	fam := fr.Family
	if fam == "" {
		fam = "both"
	}
	variants := []string{fam}
	if to := toAddr(fr.ToAddresses); to.IsValid() {
		f := "ipv6"
		if to.Is4() {
			f = "ip"
		}
		if fam != "both" && fam != f {
			r.warnf("%s: to_addresses %s is not %s; skipped", ruleLabel(fr, idx), fr.ToAddresses, fam)
			return nil
		}
		variants = []string{f}
	} else if fam == "both" && (fr.SrcAddressList != "" || fr.DstAddressList != "" || fr.Action == "src-nat" || fr.Action == "dst-nat") {
		variants = []string{"ip", "ipv6"}
	}
	var out []string
	for _, v := range variants {
		line, ok := r.nftVariant(fr, idx, v, lists)
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func toAddr(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr()
	}
	return netip.Addr{}
}

func neg(s string) (string, string) {
	if strings.HasPrefix(s, "!") {
		return strings.TrimPrefix(s, "!"), "!= "
	}
	return s, ""
}

func (r *renderer) nftVariant(fr policy.FirewallRule, idx int, fam string, lists map[string]map[string][]string) (string, bool) {
	label := ruleLabel(fr, idx)
	var ex []string
	for _, x := range []struct{ key, iface, list string }{{"iifname", fr.InInterface, fr.InInterfaceList}, {"oifname", fr.OutInterface, fr.OutInterfaceList}} {
		if x.iface != "" {
			n, op := neg(x.iface)
			ex = append(ex, fmt.Sprintf("%s %s%s", x.key, op, strconv.Quote(n)))
		}
		if x.list != "" {
			n, op := neg(x.list)
			members := r.ifaceList(n)
			switch {
			case len(members) == 0 && op == "":
				r.warnf("%s: interface list %q has no interfaces on this Linux site; the rule can never match and is skipped", label, n)
				return "", false
			case len(members) > 0:
				ex = append(ex, fmt.Sprintf("%s %s%s", x.key, op, quoteSet(members)))
			}
		}
	}
	addrKw := map[string]string{"ip": "ip", "ipv6": "ip6"}[fam]
	familyImplied := false
	for _, x := range []struct {
		dir  string
		pfx  policy.Prefix
		list string
	}{{"saddr", fr.SrcAddress, fr.SrcAddressList}, {"daddr", fr.DstAddress, fr.DstAddressList}} {
		if x.pfx.IsValid() {
			kw := "ip6"
			if x.pfx.Addr().Is4() {
				kw = "ip"
			}
			ex = append(ex, fmt.Sprintf("%s %s %s", kw, x.dir, x.pfx))
			familyImplied = true
		}
		if x.list != "" {
			n, op := neg(x.list)
			f := map[string]string{"ip": "4", "ipv6": "6"}[fam]
			if len(lists[n][f]) == 0 {
				if op == "" {
					return "", false // no entries of this family: nothing can match
				}
				continue
			}
			ex = append(ex, fmt.Sprintf("%s %s %s@%s", addrKw, x.dir, op, setName(n, f)))
			familyImplied = true
		}
	}
	proto, pop := neg(fr.Protocol)
	if (proto == "icmp" && fam == "ip") || (proto == "icmpv6" && fam == "ipv6") {
		familyImplied = true
	}
	if fam != "both" && !familyImplied {
		ex = append([]string{"meta nfproto " + map[string]string{"ip": "ipv4", "ipv6": "ipv6"}[fam]}, ex...)
	}
	switch {
	case proto == "":
	case (proto == "tcp" || proto == "udp" || proto == "sctp") && pop == "" && (fr.SrcPort != "" || fr.DstPort != ""):
		if fr.SrcPort != "" {
			ex = append(ex, fmt.Sprintf("%s sport %s", proto, portExpr(fr.SrcPort)))
		}
		if fr.DstPort != "" {
			ex = append(ex, fmt.Sprintf("%s dport %s", proto, portExpr(fr.DstPort)))
		}
	case (proto == "icmp" || proto == "icmpv6") && pop == "" && len(fr.ICMPTypes) > 0:
		var types []string
		for _, t := range fr.ICMPTypes {
			if proto == "icmp" && !icmp4Types[t] {
				r.warnf("%s: %s is an ICMPv6 type; dropped from the IPv4 icmp match", label, t)
				continue
			}
			types = append(types, t)
		}
		if len(types) == 1 {
			ex = append(ex, fmt.Sprintf("%s type %s", proto, types[0]))
		} else if len(types) > 1 {
			ex = append(ex, fmt.Sprintf("%s type { %s }", proto, strings.Join(types, ", ")))
		} else {
			ex = append(ex, "meta l4proto "+proto)
		}
	default:
		ex = append(ex, fmt.Sprintf("meta l4proto %s%s", pop, l4Names[proto]))
	}
	var pos, negs []string
	for _, st := range fr.ConnectionState {
		if n, op := neg(st); op != "" {
			negs = append(negs, n)
		} else {
			pos = append(pos, n)
		}
	}
	if len(pos) > 0 {
		ex = append(ex, "ct state "+strings.Join(pos, ","))
	}
	for _, n := range negs {
		ex = append(ex, "ct state != "+n)
	}
	if fr.ConnectionNATState != "" {
		n, op := neg(fr.ConnectionNATState)
		ex = append(ex, fmt.Sprintf("ct status %s%s", op, map[string]string{"srcnat": "snat", "dstnat": "dnat"}[n]))
	}
	if fr.Log || fr.Action == "log" {
		if fr.LogPrefix != "" {
			ex = append(ex, "log prefix "+strconv.Quote(fr.LogPrefix))
		} else {
			ex = append(ex, "log")
		}
	}
	stmt, ok := r.nftAction(fr, label, fam, proto, &ex)
	if !ok {
		return "", false
	}
	if stmt != "" {
		ex = append(ex, stmt)
	}
	if fr.Comment != "" {
		ex = append(ex, "comment "+strconv.Quote(fr.Comment))
	}
	return strings.Join(ex, " "), true
}

// nftAction returns the statement ending the rule; it may add a match the
// statement needs (a transport protocol before a port mapping).
func (r *renderer) nftAction(fr policy.FirewallRule, label, fam, proto string, ex *[]string) (string, bool) {
	needL4 := func() {
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			*ex = append(*ex, "meta l4proto { tcp, udp }")
		}
	}
	toPorts := ""
	if fr.ToPorts != "" {
		toPorts = ":" + fr.ToPorts
	}
	switch fr.Action {
	case "accept", "drop", "return":
		return fr.Action, true
	case "log":
		return "", true
	case "passthrough":
		return "counter", true
	case "fasttrack-connection":
		r.warnf("%s: fasttrack-connection has no nftables equivalent here; rendered as accept", label)
		return "accept", true
	case "reject":
		if fr.RejectWith == "tcp-reset" {
			if proto != "tcp" {
				*ex = append(*ex, "meta l4proto tcp")
			}
			return "reject with tcp reset", true
		}
		if fr.RejectWith == "" {
			return "reject", true
		}
		return "reject with " + rejectTypes[fam][rejectKinds[fr.RejectWith]], true
	case "masquerade":
		if toPorts != "" {
			needL4()
			return "masquerade to " + toPorts, true
		}
		return "masquerade", true
	case "src-nat", "dst-nat":
		kw := map[string]string{"src-nat": "snat", "dst-nat": "dnat"}[fr.Action]
		a := toAddr(fr.ToAddresses)
		fkw, addr := "ip", a.String()
		if a.Is6() {
			fkw = "ip6"
			if toPorts != "" {
				addr = "[" + addr + "]"
			}
		}
		if p, err := netip.ParsePrefix(fr.ToAddresses); err == nil {
			addr = p.String()
		}
		if toPorts != "" {
			needL4()
		}
		return fmt.Sprintf("%s %s to %s%s", kw, fkw, addr, toPorts), true
	case "redirect":
		if toPorts != "" {
			needL4()
			return "redirect to " + toPorts, true
		}
		return "redirect", true
	case "mark-routing":
		id := -1
		for i, t := range r.s.RoutingTables {
			if t.Name == fr.NewRoutingMark {
				id = tableID(t, i)
			}
		}
		if fr.NewRoutingMark == "main" {
			id = 254
		}
		if id < 0 {
			r.warnf("%s: routing mark %q names no routing_table; skipped", label, fr.NewRoutingMark)
			return "", false
		}
		stmt := fmt.Sprintf("meta mark set %d", id)
		if fr.Passthrough != nil && !*fr.Passthrough {
			stmt += " accept"
		}
		return stmt, true
	case "change-mss":
		*ex = append(*ex, "tcp flags syn")
		return "tcp option maxseg size set rt mtu", true
	default:
		r.warnf("%s: action %s is not supported on Linux; skipped", label, fr.Action)
		return "", false
	}
}
