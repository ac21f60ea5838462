package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

var (
	filterActions = set("accept", "drop", "reject", "log", "return", "fasttrack-connection", "passthrough")
	natActions    = set("masquerade", "src-nat", "dst-nat", "accept", "redirect", "netmap", "return")
	mangleActions = set("mark-routing", "mark-connection", "mark-packet", "accept", "change-mss", "passthrough", "return")
	connStates    = set("established", "related", "new", "invalid", "untracked")
	protocols     = set("tcp", "udp", "icmp", "icmpv6", "gre", "ipsec-esp", "ipsec-ah", "vrrp", "ospf", "sctp")
	rejectWith    = set("icmp-network-unreachable", "icmp-host-unreachable", "icmp-port-unreachable", "icmp-admin-prohibited", "tcp-reset",
		"icmpv6-no-route", "icmpv6-admin-prohibited", "icmpv6-address-unreachable", "icmpv6-port-unreachable", "icmpx-host-unreachable", "icmpx-port-unreachable", "icmpx-admin-prohibited")
	icmpTypes = set("echo-request", "echo-reply", "destination-unreachable", "time-exceeded", "parameter-problem", "packet-too-big",
		"nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert", "mld-listener-query", "mld-listener-report", "mld2-listener-report")
	chainsByTable = map[string]map[string]bool{
		"filter": set("input", "forward", "output"),
		"nat":    set("srcnat", "dstnat"),
		"mangle": set("prerouting", "input", "forward", "output", "postrouting"),
	}
	actionsByTable = map[string]map[string]bool{"filter": filterActions, "nat": natActions, "mangle": mangleActions}
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// checkAddressLists checks [[address_list]] entries: a safe list name and
// an address. It returns the lists that have entries.
func (c *siteChecker) checkAddressLists() map[string]bool {
	for i, a := range c.s.AddressLists {
		p := fmt.Sprintf("address_list[%d]", i)
		c.name(p+".list", "address list name", a.List)
		if !a.Address.IsValid() && a.Address.err == nil {
			c.at(p+".address", "required", "address is required")
		}
		c.text(p+".comment", a.Comment)
	}
	lists := map[string]bool{}
	for _, a := range c.s.AddressLists {
		lists[a.List] = true
	}
	return lists
}

// checkFirewall checks every [[firewall]] rule.
func (c *siteChecker) checkFirewall() {
	for i := range c.s.Firewall {
		c.checkFirewallRule(&c.s.Firewall[i], fmt.Sprintf("firewall[%d]", i))
	}
}

// checkFirewallPolicy checks [firewall_policy]: each chain's policy is
// accept or drop; RouterOS has no output policy (a final drop there would
// cut the router's own traffic, the API's replies included).
func (c *siteChecker) checkFirewallPolicy() {
	fp := c.s.FirewallPolicy
	for _, ch := range []struct{ path, v string }{{"firewall_policy.input", fp.Input}, {"firewall_policy.forward", fp.Forward}, {"firewall_policy.output", fp.Output}} {
		switch ch.v {
		case "", "accept", "drop":
			if ch.v != "" && c.ros && ch.path == "firewall_policy.output" {
				c.at(ch.path, "linux-only", "RouterOS takes a final policy for input and forward only; the output chain keeps accepting")
			}
		default:
			c.at(ch.path, "invalid-value", fmt.Sprintf("chain policy must be \"accept\" or \"drop\", not %q", ch.v))
		}
	}
}

// checkFirewallRule checks one [[firewall]] rule at path p. The rest is
// skipped when the table is unknown: chain and action depend on it.
func (c *siteChecker) checkFirewallRule(r *FirewallRule, p string) {
	table, ok := c.checkRuleTable(r, p)
	if !ok {
		return
	}
	c.checkRuleFamily(r, p)
	c.checkRuleProtocol(r, p)
	c.checkRuleReferences(r, p)
	c.checkRuleConnection(r, p)
	c.checkRuleTargets(r, p, table)
	c.text(p+".comment", r.Comment)
	c.text(p+".place_before", r.PlaceBefore)
	c.text(p+".log_prefix", r.LogPrefix)
	if c.ros && r.Comment == "" {
		c.at(p+".comment", "required", "RouterOS firewall rules need a comment: tether identifies its rules by it")
	}
}

// checkRuleTable checks the rule's table (filter when unset) and the chain
// and action within it; it returns the table and whether it is known.
func (c *siteChecker) checkRuleTable(r *FirewallRule, p string) (string, bool) {
	table := r.Table
	if table == "" {
		table = "filter"
	}
	chains, ok := chainsByTable[table]
	if !ok {
		c.at(p+".table", "invalid-value", fmt.Sprintf("table must be filter, nat or mangle, not %q", r.Table))
		return table, false
	}
	if !chains[r.Chain] {
		c.at(p+".chain", "invalid-value", fmt.Sprintf("chain %q is not a %s chain (%s)", r.Chain, table, strings.Join(sortedKeys(chains), ", ")))
	}
	actions := actionsByTable[table]
	if !actions[r.Action] {
		c.at(p+".action", "invalid-value", fmt.Sprintf("action %q is not valid in the %s table (%s)", r.Action, table, strings.Join(sortedKeys(actions), ", ")))
	}
	return table, true
}

// checkRuleFamily checks family and that the rule's addresses agree with
// it (or, when unset, with each other).
func (c *siteChecker) checkRuleFamily(r *FirewallRule, p string) {
	fam := r.Family
	switch fam {
	case "", "ip", "ipv6", "both":
	default:
		c.at(p+".family", "invalid-value", fmt.Sprintf("family must be ip, ipv6 or both, not %q", fam))
	}
	for _, a := range []struct {
		path string
		v    Prefix
	}{{".src_address", r.SrcAddress}, {".dst_address", r.DstAddress}} {
		if !a.v.IsValid() {
			continue
		}
		af := "ip"
		if a.v.Addr().Is6() {
			af = "ipv6"
		}
		if fam == "" {
			fam = af
		} else if fam != af {
			c.at(p+a.path, "family-mismatch", fmt.Sprintf("%s is %s but the rule is %s", a.v, af, fam))
		}
	}
}

// checkRuleProtocol checks the protocol and what needs one: ports need
// tcp, udp or sctp; ICMP types need icmp or icmpv6.
func (c *siteChecker) checkRuleProtocol(r *FirewallRule, p string) {
	if r.Protocol != "" && !protocols[strings.TrimPrefix(r.Protocol, "!")] {
		c.at(p+".protocol", "invalid-value", fmt.Sprintf("protocol %q is not one of %s", r.Protocol, strings.Join(sortedKeys(protocols), ", ")))
	}
	for _, pt := range []struct{ path, v string }{{".src_port", r.SrcPort}, {".dst_port", r.DstPort}, {".to_ports", r.ToPorts}} {
		if pt.v == "" {
			continue
		}
		if !portsRe.MatchString(pt.v) || !portsInRange(pt.v) {
			c.at(p+pt.path, "invalid-value", fmt.Sprintf("ports %q must be like 51820, 58000-60000 or 80,443", pt.v))
		}
		if pt.path != ".to_ports" && r.Protocol != "tcp" && r.Protocol != "udp" && r.Protocol != "sctp" {
			c.at(p+pt.path, "conflict", "ports need protocol = \"tcp\" or \"udp\"")
		}
	}
	if len(r.ICMPTypes) > 0 && r.Protocol != "icmp" && r.Protocol != "icmpv6" {
		c.at(p+".icmp_types", "conflict", "icmp_types need protocol = \"icmp\" or \"icmpv6\"")
	}
	for j, t := range r.ICMPTypes {
		if !icmpTypes[t] {
			c.at(fmt.Sprintf("%s.icmp_types[%d]", p, j), "invalid-value", fmt.Sprintf("unknown ICMP type %q", t))
		}
	}
}

// checkRuleReferences checks that the interfaces, interface lists and
// address lists the rule matches on exist in the site.
func (c *siteChecker) checkRuleReferences(r *FirewallRule, p string) {
	c.refIface(p+".in_interface", r.InInterface)
	c.refIface(p+".out_interface", r.OutInterface)
	c.refList(p+".in_interface_list", r.InInterfaceList)
	c.refList(p+".out_interface_list", r.OutInterfaceList)
	for _, al := range []struct{ path, v string }{{".src_address_list", r.SrcAddressList}, {".dst_address_list", r.DstAddressList}} {
		if al.v == "" {
			continue
		}
		bare := strings.TrimPrefix(al.v, "!")
		if !c.addrLists[bare] {
			c.at(p+al.path, "unknown-list", fmt.Sprintf("address list %q has no entries in this site (add [[address_list]] entries)", bare))
		}
	}
}

// checkRuleConnection checks the connection tracking and NAT states matched.
func (c *siteChecker) checkRuleConnection(r *FirewallRule, p string) {
	for j, cs := range r.ConnectionState {
		if !connStates[strings.TrimPrefix(cs, "!")] {
			c.at(fmt.Sprintf("%s.connection_state[%d]", p, j), "invalid-value", fmt.Sprintf("connection state %q is not one of established, related, new, invalid, untracked", cs))
		}
	}
	switch strings.TrimPrefix(r.ConnectionNATState, "!") {
	case "", "srcnat", "dstnat":
	default:
		c.at(p+".connection_nat_state", "invalid-value", "connection_nat_state must be srcnat, dstnat, !srcnat or !dstnat")
	}
}

// checkRuleTargets checks what the action needs: a declared routing table
// to mark, addresses to NAT to, a known reject reply, passthrough in mangle.
func (c *siteChecker) checkRuleTargets(r *FirewallRule, p, table string) {
	if r.Action == "mark-routing" {
		if r.NewRoutingMark == "" {
			c.at(p+".new_routing_mark", "required", "mark-routing needs new_routing_mark (a routing table name)")
		} else if !c.tables[r.NewRoutingMark] {
			c.at(p+".new_routing_mark", "unknown-table", fmt.Sprintf("routing mark %q must name a declared routing_table", r.NewRoutingMark))
		}
	}
	if (r.Action == "src-nat" || r.Action == "dst-nat" || r.Action == "netmap") && r.ToAddresses == "" {
		c.at(p+".to_addresses", "required", r.Action+" needs to_addresses")
	}
	if r.ToAddresses != "" {
		if _, err := netip.ParseAddr(r.ToAddresses); err != nil {
			if _, err := netip.ParsePrefix(r.ToAddresses); err != nil {
				c.at(p+".to_addresses", "invalid-value", fmt.Sprintf("to_addresses %q must be an address or prefix", r.ToAddresses))
			}
		}
	}
	if r.RejectWith != "" && !rejectWith[r.RejectWith] {
		c.at(p+".reject_with", "invalid-value", fmt.Sprintf("reject_with %q is not one of %s", r.RejectWith, strings.Join(sortedKeys(rejectWith), ", ")))
	}
	if r.Passthrough != nil && table != "mangle" {
		c.at(p+".passthrough", "conflict", "passthrough applies to mangle rules")
	}
}

// portsInRange reports whether every port and range in "80,443,1000-2000"
// is within 1-65535 and every range is ascending.
func portsInRange(s string) bool {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		if a < 1 || a > 65535 {
			return false
		}
		if isRange {
			b, _ := strconv.Atoi(hi)
			if b < a || b > 65535 {
				return false
			}
		}
	}
	return true
}
