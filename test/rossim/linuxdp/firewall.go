package linuxdp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-net/tether/test/rossim"
)

// NFTable is the nftables table (family inet) that holds the router's
// firewall. Apply replaces it whole, in one transaction, on every change,
// and deletes it when the router has no firewall rule left.
const NFTable = "rossim"

// firstTableID is the Linux number of the first routing table other than
// main; tables are numbered in name order from here, and a table's number
// is also the packet mark that mark-routing sets for it.
const firstTableID = 100

// Priorities of the ip rules Apply installs: RouterOS's /routing/rule rows
// in list order from rulePrioBase (two Linux rules each at most), then
// the lookup of a routing mark's own table, all before main (32766).
const (
	rulePrioBase = 1000
	rulePrioMark = 30000
)

// tableIDs numbers the routing tables (see firstTableID); main is 254.
func tableIDs(names []string) map[string]int {
	sorted := slices.Compact(slices.Sorted(slices.Values(names)))
	ids := map[string]int{"main": 254}
	for i, n := range sorted {
		if n != "main" {
			ids[n] = firstTableID + i
		}
	}
	return ids
}

// markOf is the packet mark for a routing mark: the table's number, 0 for
// main (an unmarked packet uses main).
func markOf(ids map[string]int, name string) (int, bool) {
	if name == "main" {
		return 0, true
	}
	id, ok := ids[name]
	return id, ok
}

// hookChains are RouterOS's builtin chains per firewall table and the
// nftables base chain each becomes: its type, hook and priority.
var hookChains = map[string][]struct{ chain, spec string }{
	"filter": {
		{"input", "type filter hook input priority filter"},
		{"forward", "type filter hook forward priority filter"},
		{"output", "type filter hook output priority filter"},
	},
	"nat": {
		{"dstnat", "type nat hook prerouting priority dstnat"},
		{"srcnat", "type nat hook postrouting priority srcnat"},
	},
	"mangle": {
		{"prerouting", "type filter hook prerouting priority mangle"},
		{"input", "type filter hook input priority mangle"},
		{"forward", "type filter hook forward priority mangle"},
		// type route: a routing mark set here re-routes the packet.
		{"output", "type route hook output priority mangle"},
		{"postrouting", "type filter hook postrouting priority mangle"},
	},
}

func isBuiltin(table, chain string) bool {
	return slices.ContainsFunc(hookChains[table], func(h struct{ chain, spec string }) bool { return h.chain == chain })
}

// ruleAttrs are the attributes translateRule understands; a rule with any
// other non-empty attribute is not realised (and reported).
var ruleAttrs = map[string]bool{
	"chain": true, "action": true, "comment": true, "log": true, "log-prefix": true, "hw-offload": true,
	"jump-target": true, "passthrough": true, "new-routing-mark": true, "to-addresses": true, "to-address": true,
	"to-ports": true, "reject-with": true,
	"src-address": true, "dst-address": true, "src-address-list": true, "dst-address-list": true,
	"protocol": true, "src-port": true, "dst-port": true, "in-interface": true, "out-interface": true,
	"in-interface-list": true, "out-interface-list": true, "connection-state": true, "connection-nat-state": true,
	"icmp-options": true, "ipsec-policy": true, "hop-limit": true, "ttl": true,
}

// protocols are RouterOS's protocol names and their numbers.
var protocols = map[string]int{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "ipsec-esp": 50, "ipsec-ah": 51,
	"icmpv6": 58, "ospf": 89, "vrrp": 112, "sctp": 132, "udp-lite": 136, "dccp": 33,
}

// rejectWith maps RouterOS reject-with values to nftables reject
// statements per family.
var rejectWith = map[int]map[string]string{
	4: {
		"icmp-network-unreachable":  "reject with icmp type net-unreachable",
		"icmp-host-unreachable":     "reject with icmp type host-unreachable",
		"icmp-port-unreachable":     "reject with icmp type port-unreachable",
		"icmp-protocol-unreachable": "reject with icmp type prot-unreachable",
		"icmp-net-prohibited":       "reject with icmp type net-prohibited",
		"icmp-host-prohibited":      "reject with icmp type host-prohibited",
		"icmp-admin-prohibited":     "reject with icmp type admin-prohibited",
	},
	6: {
		"icmp-no-route":            "reject with icmpv6 type no-route",
		"icmp-admin-prohibited":    "reject with icmpv6 type admin-prohibited",
		"icmp-address-unreachable": "reject with icmpv6 type addr-unreachable",
		"icmp-port-unreachable":    "reject with icmpv6 type port-unreachable",
	},
}

// defaultRejectWith is what RouterOS sends without reject-with.
var defaultRejectWith = map[int]string{4: "icmp-network-unreachable", 6: "icmp-no-route"}

type chainKey struct {
	fam          int
	table, chain string
}

// nftBuilder turns the router's firewall into one nftables table.
type nftBuilder struct {
	cfg    rossim.DataplaneConfig
	link   func(string) string
	marks  map[string]int
	sets   map[string]string // "4/list" -> set name
	chains map[chainKey][]string
	custom map[chainKey]string // user chains -> nft chain names
	warns  []string
}

func famKW(fam int) string {
	if fam == 6 {
		return "ip6"
	}
	return "ip"
}

func famName(fam int) string {
	if fam == 6 {
		return "ipv6"
	}
	return "ip"
}

// nftRuleset is the nftables program that realises cfg's firewall, and
// what it could not realise. It is "" when there is no firewall rule at all.
func nftRuleset(cfg rossim.DataplaneConfig, link func(string) string) (string, []string) {
	b := &nftBuilder{cfg: cfg, link: link, marks: tableIDs(cfg.RoutingTables), sets: map[string]string{},
		chains: map[chainKey][]string{}, custom: map[chainKey]string{}}
	anyRule := false
	for _, r := range cfg.Firewall {
		if r.Disabled {
			continue // RouterOS skips disabled rules
		}
		anyRule = true
		k := chainKey{r.Family, r.Table, r.Attrs["chain"]}
		where := fmt.Sprintf("/%s/firewall/%s chain=%s %q", famName(r.Family), r.Table, k.chain, r.Attrs["comment"])
		line, err := b.rule(r)
		if err != nil {
			b.warns = append(b.warns, fmt.Sprintf("%s: not realised: %v", where, err))
			continue
		}
		if !isBuiltin(r.Table, k.chain) {
			b.customName(k)
		}
		if line != "" {
			b.chains[k] = append(b.chains[k], line)
		}
	}
	if !anyRule {
		return "", b.warns
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "table inet %s {\n", NFTable)
	b.writeSets(&sb)
	for _, table := range []string{"filter", "nat", "mangle"} {
		for _, h := range hookChains[table] {
			var jumps []string
			for _, fam := range []int{4, 6} {
				if len(b.chains[chainKey{fam, table, h.chain}]) > 0 {
					jumps = append(jumps, fmt.Sprintf("meta nfproto ipv%d jump %s", fam, builtinName(fam, table, h.chain)))
				}
			}
			if len(jumps) == 0 {
				continue
			}
			fmt.Fprintf(&sb, "\tchain %s_%s {\n\t\t%s; policy accept;\n", table, h.chain, h.spec)
			for _, j := range jumps {
				fmt.Fprintf(&sb, "\t\t%s\n", j)
			}
			sb.WriteString("\t}\n")
			for _, fam := range []int{4, 6} {
				b.writeChain(&sb, builtinName(fam, table, h.chain), b.chains[chainKey{fam, table, h.chain}])
			}
		}
	}
	customs := make([]chainKey, 0, len(b.custom))
	for k := range b.custom {
		customs = append(customs, k)
	}
	slices.SortFunc(customs, func(x, y chainKey) int { return strings.Compare(b.custom[x], b.custom[y]) })
	for _, k := range customs {
		b.writeChain(&sb, b.custom[k], b.chains[k])
	}
	sb.WriteString("}\n")
	return sb.String(), b.warns
}

func builtinName(fam int, table, chain string) string {
	return famName(fam) + "_" + table + "_" + chain
}

// customName names a user chain: RouterOS allows any string, nftables
// identifiers do not, so they are numbered in order of appearance.
func (b *nftBuilder) customName(k chainKey) string {
	if n, ok := b.custom[k]; ok {
		return n
	}
	n := fmt.Sprintf("%s_%s_user%d", famName(k.fam), k.table, len(b.custom))
	b.custom[k] = n
	return n
}

func (b *nftBuilder) writeChain(sb *strings.Builder, name string, lines []string) {
	if len(lines) == 0 && !strings.Contains(name, "_user") {
		return
	}
	fmt.Fprintf(sb, "\tchain %s {\n", name)
	for _, l := range lines {
		fmt.Fprintf(sb, "\t\t%s\n", l)
	}
	sb.WriteString("\t}\n")
}

// setName is the nftables set of an address list in a family; every list
// a rule names gets one (empty when the list has no entries).
func (b *nftBuilder) setName(fam int, list string) string {
	key := strconv.Itoa(fam) + "/" + list
	if n, ok := b.sets[key]; ok {
		return n
	}
	n := fmt.Sprintf("%s_list%d", famName(fam), len(b.sets))
	b.sets[key] = n
	return n
}

func (b *nftBuilder) writeSets(sb *strings.Builder) {
	type set struct {
		fam        int
		list, name string
	}
	var sets []set
	for key, name := range b.sets {
		f, list, _ := strings.Cut(key, "/")
		fam, _ := strconv.Atoi(f)
		sets = append(sets, set{fam, list, name})
	}
	slices.SortFunc(sets, func(x, y set) int { return strings.Compare(x.name, y.name) })
	for _, s := range sets {
		var elems []string
		for _, e := range b.cfg.AddressLists {
			if e.Disabled || e.Family != s.fam || e.List != s.list {
				continue
			}
			x, err := addrExpr(s.fam, e.Address)
			if err != nil {
				b.warns = append(b.warns, fmt.Sprintf("/%s/firewall/address-list list=%s address=%s: not realised: %v", famName(s.fam), s.list, e.Address, err))
				continue
			}
			elems = append(elems, x)
		}
		typ := "ipv4_addr"
		if s.fam == 6 {
			typ = "ipv6_addr"
		}
		// auto-merge: RouterOS lists may hold overlapping entries.
		fmt.Fprintf(sb, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n\t\tauto-merge\n\t\tcomment %s\n", s.name, typ, nftString("address list "+s.list))
		if len(elems) > 0 {
			fmt.Fprintf(sb, "\t\telements = { %s }\n", strings.Join(elems, ", "))
		}
		sb.WriteString("\t}\n")
	}
}

// nftString quotes s for nftables, which has no escapes: double quotes
// are dropped and the text is cut to the 128-byte comment limit.
func nftString(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return -1
		}
		return r
	}, s)
	if len(s) > 120 {
		s = s[:120]
	}
	return `"` + s + `"`
}

// cutNot splits RouterOS's leading "!" (negation) off a value.
func cutNot(v string) (bool, string) {
	if rest, ok := strings.CutPrefix(v, "!"); ok {
		return true, rest
	}
	return false, v
}

func neq(neg bool) string {
	if neg {
		return "!= "
	}
	return ""
}

// addrExpr is an address, prefix or range of fam in nftables syntax.
func addrExpr(fam int, v string) (string, error) {
	ok := func(a netip.Addr) bool { return (fam == 4) == a.Unmap().Is4() && (fam == 4 || a.Is6()) }
	if lo, hi, isRange := strings.Cut(v, "-"); isRange {
		a, err1 := netip.ParseAddr(lo)
		z, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || !ok(a) || !ok(z) || z.Less(a) {
			return "", fmt.Errorf("address range %q is not an IPv%d range", v, fam)
		}
		return a.String() + "-" + z.String(), nil
	}
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil || (fam == 4) != p.Addr().Is4() {
			return "", fmt.Errorf("%q is not an IPv%d prefix", v, fam)
		}
		if p.Bits() == p.Addr().BitLen() {
			return p.Addr().String(), nil
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || (fam == 4) != a.Is4() {
		return "", fmt.Errorf("%q is not an IPv%d address (DNS names are not realised)", v, fam)
	}
	return a.String(), nil
}

// ifName quotes an interface name for nftables.
func ifName(n string) (string, error) {
	if n == "" || strings.ContainsAny(n, "\"\\\n") {
		return "", fmt.Errorf("interface name %q cannot be matched", n)
	}
	return `"` + n + `"`, nil
}

// ports is a RouterOS port list ("80", "500,4500", "33434-33534") in
// nftables syntax.
func ports(v string) (string, error) {
	parts := strings.Split(v, ",")
	port := func(n string) bool { x, err := strconv.Atoi(n); return err == nil && x >= 0 && x <= 65535 }
	for _, p := range parts {
		lo, hi, isRange := strings.Cut(p, "-")
		if !port(lo) || (isRange && !port(hi)) {
			return "", fmt.Errorf("ports %q", v)
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return "{ " + strings.Join(parts, ", ") + " }", nil
}

// rule translates one enabled rule to an nftables rule line; "" when it
// can never match.
func (b *nftBuilder) rule(r rossim.DataplaneFirewallRule) (string, error) {
	a := r.Attrs
	for k, v := range a {
		if v != "" && !ruleAttrs[k] {
			return "", fmt.Errorf("matcher %s=%s is not realised", k, v)
		}
	}
	var m []string
	add := func(s string) { m = append(m, s) }
	fam, ip := r.Family, famKW(r.Family)

	if v := a["protocol"]; v != "" {
		neg, name := cutNot(v)
		n, ok := protocols[name]
		if !ok {
			x, err := strconv.Atoi(name)
			if err != nil || x < 0 || x > 255 {
				return "", fmt.Errorf("protocol %q", v)
			}
			n = x
		}
		add(fmt.Sprintf("meta l4proto %s%d", neq(neg), n))
	}
	for _, f := range []struct{ attr, field string }{{"src-address", "saddr"}, {"dst-address", "daddr"}} {
		if v := a[f.attr]; v != "" {
			neg, val := cutNot(v)
			x, err := addrExpr(fam, val)
			if err != nil {
				return "", fmt.Errorf("%s: %w", f.attr, err)
			}
			add(fmt.Sprintf("%s %s %s%s", ip, f.field, neq(neg), x))
		}
	}
	for _, f := range []struct{ attr, field string }{{"src-address-list", "saddr"}, {"dst-address-list", "daddr"}} {
		if v := a[f.attr]; v != "" {
			neg, list := cutNot(v)
			add(fmt.Sprintf("%s %s %s@%s", ip, f.field, neq(neg), b.setName(fam, list)))
		}
	}
	for _, f := range []struct{ attr, field string }{{"src-port", "sport"}, {"dst-port", "dport"}} {
		if v := a[f.attr]; v != "" {
			switch strings.TrimPrefix(a["protocol"], "!") {
			case "tcp", "udp", "sctp", "udp-lite", "dccp", "6", "17", "132", "136", "33":
			default:
				return "", fmt.Errorf("%s without a protocol that has ports", f.attr)
			}
			neg, val := cutNot(v)
			x, err := ports(val)
			if err != nil {
				return "", err
			}
			add(fmt.Sprintf("th %s %s%s", f.field, neq(neg), x))
		}
	}
	for _, f := range []struct{ attr, field string }{{"in-interface", "iifname"}, {"out-interface", "oifname"}} {
		if v := a[f.attr]; v != "" {
			neg, name := cutNot(v)
			q, err := ifName(b.link(name))
			if err != nil {
				return "", err
			}
			add(fmt.Sprintf("%s %s%s", f.field, neq(neg), q))
		}
	}
	for _, f := range []struct{ attr, field string }{{"in-interface-list", "iifname"}, {"out-interface-list", "oifname"}} {
		v := a[f.attr]
		if v == "" {
			continue
		}
		neg, list := cutNot(v)
		if list == "all" { // every interface
			if neg {
				return "", nil
			}
			continue
		}
		members, known := b.cfg.InterfaceLists[list]
		if !known {
			return "", fmt.Errorf("%s: no interface list %q", f.attr, list)
		}
		if len(members) == 0 {
			if neg {
				continue // not in an empty list: any packet
			}
			return "", nil
		}
		var qs []string
		for _, mb := range members {
			q, err := ifName(b.link(mb))
			if err != nil {
				return "", err
			}
			qs = append(qs, q)
		}
		add(fmt.Sprintf("%s %s{ %s }", f.field, neq(neg), strings.Join(qs, ", ")))
	}
	if v := a["connection-state"]; v != "" {
		neg, val := cutNot(v)
		states := strings.Split(val, ",")
		for _, s := range states {
			switch s {
			case "established", "related", "new", "invalid", "untracked":
			default:
				return "", fmt.Errorf("connection-state %q", v)
			}
		}
		add(fmt.Sprintf("ct state %s{ %s }", neq(neg), strings.Join(states, ", ")))
	}
	if v := a["connection-nat-state"]; v != "" {
		neg, val := cutNot(v)
		bit := map[string]string{"srcnat": "snat", "dstnat": "dnat"}[val]
		if bit == "" {
			return "", fmt.Errorf("connection-nat-state %q: only srcnat or dstnat, optionally negated, is realised", v)
		}
		if neg {
			add(fmt.Sprintf("ct status & %s == 0", bit))
		} else {
			add(fmt.Sprintf("ct status & %s == %s", bit, bit))
		}
	}
	if v := a["icmp-options"]; v != "" {
		typ, code, hasCode := strings.Cut(v, ":")
		t, err := strconv.Atoi(typ)
		if err != nil || t < 0 || t > 255 {
			return "", fmt.Errorf("icmp-options %q", v)
		}
		kw := "icmp"
		if fam == 6 {
			kw = "icmpv6"
		}
		add(fmt.Sprintf("%s type %d", kw, t))
		if hasCode && code != "0-255" {
			lo, hi, isRange := strings.Cut(code, "-")
			c1, err1 := strconv.Atoi(lo)
			c2, err2 := c1, error(nil)
			if isRange {
				c2, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || c1 < 0 || c2 > 255 || c2 < c1 {
				return "", fmt.Errorf("icmp-options %q", v)
			}
			if c1 == c2 {
				add(fmt.Sprintf("%s code %d", kw, c1))
			} else {
				add(fmt.Sprintf("%s code %d-%d", kw, c1, c2))
			}
		}
	}
	if v := a["ipsec-policy"]; v != "" {
		x, ok := map[string]string{
			"in,ipsec": "meta ipsec exists", "in,none": "meta ipsec missing",
			"out,ipsec": "rt ipsec exists", "out,none": "rt ipsec missing",
		}[v]
		if !ok {
			return "", fmt.Errorf("ipsec-policy %q", v)
		}
		add(x)
	}
	for _, f := range []struct {
		attr, field string
		fam         int
	}{{"hop-limit", "ip6 hoplimit", 6}, {"ttl", "ip ttl", 4}} {
		v := a[f.attr]
		if v == "" {
			continue
		}
		if fam != f.fam {
			return "", fmt.Errorf("%s in an IPv%d rule", f.attr, fam)
		}
		op, n, _ := strings.Cut(v, ":")
		x, err := strconv.Atoi(n)
		sym, ok := map[string]string{"equal": "", "not-equal": "!= ", "greater-than": "> ", "less-than": "< "}[op]
		if err != nil || !ok || x < 0 || x > 255 {
			return "", fmt.Errorf("%s %q", f.attr, v)
		}
		add(fmt.Sprintf("%s %s%d", f.field, sym, x))
	}

	verdict, err := b.action(r)
	if err != nil {
		return "", err
	}
	if verdict == "" {
		return "", nil // a rule without effect on the packet (log, passthrough)
	}
	add(verdict)
	if c := a["comment"]; c != "" {
		add("comment " + nftString(c))
	}
	return strings.Join(m, " "), nil
}

// action is the nftables statement for the rule's action; "" for actions
// that only count or log and let the packet go on to the next rule.
func (b *nftBuilder) action(r rossim.DataplaneFirewallRule) (string, error) {
	a := r.Attrs
	act, chain := a["action"], a["chain"]
	if act == "" {
		act = "accept" // RouterOS's default action
	}
	switch act {
	case "accept", "drop", "return":
		if act == "drop" && r.Table == "nat" {
			return "", fmt.Errorf("action drop in nat")
		}
		return act, nil
	case "passthrough", "log":
		return "", nil
	case "jump":
		t := a["jump-target"]
		if t == "" || isBuiltin(r.Table, t) {
			return "", fmt.Errorf("jump-target %q", t)
		}
		return "jump " + b.customName(chainKey{r.Family, r.Table, t}), nil
	}
	switch r.Table {
	case "filter":
		switch act {
		case "fasttrack-connection":
			// Fasttracked packets skip the rest of the firewall: for the
			// packet at hand, the same as accept.
			return "accept", nil
		case "reject":
			rw := a["reject-with"]
			if rw == "" {
				rw = defaultRejectWith[r.Family]
			}
			if rw == "tcp-reset" {
				if a["protocol"] != "tcp" {
					return "", fmt.Errorf("reject-with=tcp-reset needs protocol=tcp")
				}
				return "reject with tcp reset", nil
			}
			if s, ok := rejectWith[r.Family][rw]; ok {
				return s, nil
			}
			return "", fmt.Errorf("reject-with %q", rw)
		}
	case "nat":
		to := a["to-addresses"]
		if r.Family == 6 {
			to = a["to-address"]
		}
		target := ""
		if to != "" {
			x, err := addrExpr(r.Family, to)
			if err != nil {
				return "", fmt.Errorf("to-address: %w", err)
			}
			if r.Family == 6 && a["to-ports"] != "" {
				x = "[" + x + "]"
			}
			target = x
		}
		if p := a["to-ports"]; p != "" {
			if _, err := ports(p); err != nil || strings.Contains(p, ",") {
				return "", fmt.Errorf("to-ports %q", p)
			}
			target += ":" + p
		}
		switch act {
		case "masquerade":
			if chain != "srcnat" {
				return "", fmt.Errorf("masquerade outside chain srcnat")
			}
			if p := a["to-ports"]; p != "" {
				return "masquerade to :" + p, nil
			}
			return "masquerade", nil
		case "src-nat", "dst-nat":
			want, stmt := "srcnat", "snat"
			if act == "dst-nat" {
				want, stmt = "dstnat", "dnat"
			}
			if chain != want {
				return "", fmt.Errorf("%s outside chain %s", act, want)
			}
			if to == "" {
				return "", fmt.Errorf("%s without to-addresses", act)
			}
			return fmt.Sprintf("%s %s to %s", stmt, famKW(r.Family), target), nil
		case "redirect":
			if chain != "dstnat" || a["to-ports"] == "" {
				return "", fmt.Errorf("redirect needs chain dstnat and to-ports")
			}
			return "redirect to :" + a["to-ports"], nil
		}
	case "mangle":
		if act == "mark-routing" {
			mark, ok := markOf(b.marks, a["new-routing-mark"])
			if !ok {
				return "", fmt.Errorf("new-routing-mark %q is not a routing table with fib", a["new-routing-mark"])
			}
			stmt := fmt.Sprintf("meta mark set %d", mark)
			// passthrough defaults to yes: later rules still see the packet.
			if a["passthrough"] == "no" || a["passthrough"] == "false" {
				stmt += " accept"
			}
			return stmt, nil
		}
	}
	return "", fmt.Errorf("action %s in %s is not realised", act, r.Table)
}

// ipRules are the `ip rule add` argument lists (after "ip") that realise
// the routing rules and the routing marks' tables, and what could not be
// realised.
func ipRules(cfg rossim.DataplaneConfig, link func(string) string) ([][]string, []string) {
	ids := tableIDs(cfg.RoutingTables)
	var out [][]string
	var warns []string
	proto := []string{"protocol", strconv.Itoa(RouteProto)}
	for i, r := range cfg.RoutingRules {
		if r.Disabled {
			continue
		}
		where := fmt.Sprintf("/routing/rule #%d", i)
		var sel []string
		fams := []string{"-4", "-6"}
		for _, p := range []struct {
			kw  string
			pfx netip.Prefix
		}{{"from", r.SrcAddress}, {"to", r.DstAddress}} {
			if !p.pfx.IsValid() {
				continue
			}
			f := "-4"
			if p.pfx.Addr().Is6() {
				f = "-6"
			}
			if !slices.Contains(fams, f) {
				fams = nil // addresses of both families: matches nothing
			} else {
				fams = []string{f}
			}
			sel = append(sel, p.kw, p.pfx.Masked().String())
		}
		if r.Interface != "" {
			sel = append(sel, "iif", link(r.Interface))
		}
		if r.RoutingMark != "" {
			mark, ok := markOf(ids, r.RoutingMark)
			if !ok {
				warns = append(warns, fmt.Sprintf("%s: routing-mark %q is not a routing table with fib; not realised", where, r.RoutingMark))
				continue
			}
			sel = append(sel, "fwmark", strconv.Itoa(mark))
		}
		var acts [][]string
		switch r.Action {
		case "lookup", "lookup-only-in-table":
			id, ok := ids[r.Table]
			if !ok {
				warns = append(warns, fmt.Sprintf("%s: table %q is not a routing table with fib; not realised", where, r.Table))
				continue
			}
			lookup := []string{"lookup", strconv.Itoa(id)}
			if r.MinPrefix >= 0 {
				lookup = append(lookup, "suppress_prefixlength", strconv.Itoa(r.MinPrefix))
			}
			acts = append(acts, lookup)
			if r.Action == "lookup-only-in-table" {
				// Nothing in the table: no other table is tried.
				acts = append(acts, []string{"blackhole"})
			}
		case "drop":
			acts = append(acts, []string{"blackhole"})
		case "unreachable":
			acts = append(acts, []string{"unreachable"})
		default:
			warns = append(warns, fmt.Sprintf("%s: action %q is not realised", where, r.Action))
			continue
		}
		for _, f := range fams {
			for j, act := range acts {
				args := []string{f, "rule", "add", "priority", strconv.Itoa(rulePrioBase + 2*i + j)}
				args = append(args, sel...)
				args = append(args, act...)
				out = append(out, append(args, proto...))
			}
		}
	}
	// A routing mark selects its own table after the rules.
	for i, t := range slices.Compact(slices.Sorted(slices.Values(cfg.RoutingTables))) {
		if t == "main" {
			continue
		}
		id := strconv.Itoa(ids[t])
		for _, f := range []string{"-4", "-6"} {
			out = append(out, append([]string{f, "rule", "add", "priority", strconv.Itoa(rulePrioMark + i), "fwmark", id, "lookup", id}, proto...))
		}
	}
	return out, warns
}
