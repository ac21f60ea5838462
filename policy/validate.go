package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// minRouterOS is the oldest RouterOS tether renders for: 7.18.
var minRouterOS = [2]int{7, 18}

var (
	siteNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
	nameRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	sysctlRe   = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.\-/]*$`)
	sysctlVal  = regexp.MustCompile(`^[A-Za-z0-9 _.:,-]{0,128}$`)
	rosPathRe  = regexp.MustCompile(`^(/[a-z0-9][a-z0-9-]*)+$`)
	rosAttrRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	portsRe    = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
	versionRe  = regexp.MustCompile(`^([0-9]+)\.([0-9]+)(\.([0-9]+))?$`)
)

// ParseRouterOSVersion returns major, minor and patch of "7.22.3".
func ParseRouterOSVersion(v string) (major, minor, patch int, ok bool) {
	m := versionRe.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	if m[4] != "" {
		patch, _ = strconv.Atoi(m[4])
	}
	return major, minor, patch, true
}

// checkName reports an error when s cannot safely become an interface name,
// file name, RouterOS item name or comment part.
func (l *loader) checkName(file, path, what, s string) bool {
	switch {
	case s == "":
		l.at(file, path, "required", what+" is required")
	case !nameRe.MatchString(s) || strings.Contains(s, ".."):
		l.at(file, path, "invalid-name", fmt.Sprintf("%s %q may only contain letters, digits, '-', '_' and '.', start with a letter or digit, and be at most 63 characters", what, s))
	default:
		return true
	}
	return false
}

// checkText rejects characters that could break out of a RouterOS script
// string, a config file line or a log line.
func (l *loader) checkText(file, path, s string) {
	if len(s) > 255 {
		l.at(file, path, "invalid-text", "text is longer than 255 characters")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) || strings.ContainsRune("\"\\$`{}", r) {
			l.at(file, path, "invalid-text", fmt.Sprintf("text %q contains %q, which is not allowed (no quotes, backslashes, $, backticks, braces or control characters)", truncate(s, 60), r))
			return
		}
	}
}

func validate(n *Network, l *loader) {
	nf := n.File
	if n.Name == "" {
		l.at(nf, "name", "required", "name is required")
	} else {
		l.checkName(nf, "name", "network name", n.Name)
	}
	l.checkText(nf, "description", n.Description)
	d := n.Defaults
	l.checkMTU(nf, "defaults.mtu", d.MTU)
	l.checkPort(nf, "defaults.listen_port", d.ListenPort)
	pool, poolOK := parseASNPool(d.ASNPool)
	if d.ASNPool != "" && !poolOK {
		l.at(nf, "defaults.asn_pool", "invalid-value", fmt.Sprintf("asn_pool %q must be \"low-high\", e.g. \"64512-65534\"", d.ASNPool))
	}
	if d.RouterOSVersion != "" {
		l.checkROSVersion(nf, "defaults.routeros_version", d.RouterOSVersion)
	}
	switch n.Rollout.Drift {
	case "", "repair", "report":
	default:
		l.at(nf, "rollout.drift", "invalid-value", fmt.Sprintf("drift must be \"repair\" or \"report\", not %q", n.Rollout.Drift))
	}
	waveSeen := map[string]bool{}
	for i, w := range n.Rollout.Waves {
		for j, s := range w {
			p := fmt.Sprintf("rollout.waves[%d][%d]", i, j)
			if n.Sites[s] == nil && !l.broken["site:"+s] {
				l.at(nf, p, "unknown-site", fmt.Sprintf("no site %q (sites are %s)", s, siteList(n)))
			} else if waveSeen[s] {
				l.at(nf, p, "duplicate", fmt.Sprintf("site %q is in more than one wave", s))
			}
			waveSeen[s] = true
		}
	}

	for _, name := range sortedKeys(n.Sites) {
		validateSite(n, n.Sites[name], l, pool, poolOK)
	}
	for _, name := range sortedKeys(n.Links) {
		validateLink(n, n.Links[name], l, pool, poolOK)
	}
	keys := map[Key]string{}
	for _, name := range sortedKeys(n.Sites) {
		s := n.Sites[name]
		for i, w := range s.WireGuard {
			if !w.PublicKey.IsZero() {
				if prev, dup := keys[w.PublicKey]; dup {
					l.at(s.File, fmt.Sprintf("wireguard[%d].public_key", i), "duplicate-key", "public key is also used by "+prev)
				}
				keys[w.PublicKey] = "site " + s.Name + " interface " + w.Name
			}
		}
	}
	for _, name := range sortedKeys(n.Peers) {
		p := n.Peers[name]
		validatePeer(n, p, l)
		if !p.PublicKey.IsZero() {
			if prev, dup := keys[p.PublicKey]; dup {
				l.at(p.File, "public_key", "duplicate-key", "public key is also used by "+prev)
			}
			keys[p.PublicKey] = "peer " + p.Name
		}
	}
}

func siteList(n *Network) string { return strings.Join(sortedKeys(n.Sites), ", ") }

func parseASNPool(s string) ([2]uint32, bool) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
	if !ok || err1 != nil || err2 != nil || a == 0 || b < a {
		return [2]uint32{}, false
	}
	return [2]uint32{uint32(a), uint32(b)}, true
}

func (l *loader) checkMTU(file, path string, mtu int) {
	if mtu != 0 && (mtu < 1280 || mtu > 9000) {
		l.at(file, path, "out-of-range", fmt.Sprintf("mtu %d is out of range 1280-9000 (IPv6 needs at least 1280)", mtu))
	}
}

func (l *loader) checkPort(file, path string, port int) {
	if port < 0 || port > 65535 {
		l.at(file, path, "out-of-range", fmt.Sprintf("port %d is out of range 1-65535", port))
	}
}

func (l *loader) checkASN(file, path string, asn uint32, pool [2]uint32, poolOK bool) {
	switch {
	case asn == 0 || asn == 4294967295 || asn == 23456:
		l.at(file, path, "out-of-range", fmt.Sprintf("ASN %d is reserved; use a private ASN such as 64512-65534", asn))
	case poolOK && (asn < pool[0] || asn > pool[1]):
		l.at(file, path, "out-of-range", fmt.Sprintf("ASN %d is outside the network's asn_pool %d-%d", asn, pool[0], pool[1]))
	}
}

func (l *loader) checkROSVersion(file, path, v string) {
	maj, mnr, _, ok := ParseRouterOSVersion(v)
	switch {
	case !ok:
		l.at(file, path, "invalid-value", fmt.Sprintf("RouterOS version %q must look like 7.22.3", v))
	case maj != minRouterOS[0] || mnr < minRouterOS[1]:
		l.at(file, path, "unsupported", fmt.Sprintf("RouterOS %s is not supported: tether needs RouterOS v7, 7.18 or newer", v))
	}
}

// siteIfaces is the set of interface names a site may refer to.
func siteIfaces(s *Site) map[string]string {
	m := map[string]string{}
	for _, i := range s.Interfaces {
		m[i.Name] = "interface"
	}
	for _, w := range s.WireGuard {
		m[w.Name] = "wireguard"
	}
	return m
}

func siteLists(s *Site) map[string]bool {
	m := map[string]bool{}
	if s.Platform == "routeros" {
		m["WAN"], m["LAN"] = true, true // defconf lists
	}
	for _, i := range s.Interfaces {
		for _, x := range i.Lists {
			m[x] = true
		}
	}
	for _, w := range s.WireGuard {
		for _, x := range w.Lists {
			m[x] = true
		}
	}
	return m
}

func validateSite(n *Network, s *Site, l *loader, pool [2]uint32, poolOK bool) {
	f := s.File
	if !siteNameRe.MatchString(s.Name) {
		l.at(f, "", "invalid-name", fmt.Sprintf("site name %q (from the file name) must be lower-case letters, digits and '-', at most 31 characters", s.Name))
	}
	l.checkText(f, "description", s.Description)
	ros := s.Platform == "routeros"
	linux := s.Platform == "linux"
	switch s.Platform {
	case "routeros":
		v := s.RouterOSVersion
		if v == "" {
			v = n.Defaults.RouterOSVersion
		}
		if v == "" {
			l.at(f, "routeros_version", "required", "routeros_version is required for RouterOS sites (or set defaults.routeros_version in network.toml)")
		} else {
			l.checkROSVersion(f, "routeros_version", v)
		}
	case "linux":
		if s.RouterOSVersion != "" {
			l.at(f, "routeros_version", "invalid-value", "routeros_version applies only to platform = \"routeros\"")
		}
	case "":
		l.at(f, "platform", "required", "platform is required: \"routeros\" or \"linux\"")
	default:
		l.at(f, "platform", "invalid-value", fmt.Sprintf("platform must be \"routeros\" or \"linux\", not %q", s.Platform))
	}
	if s.ASN != 0 {
		l.checkASN(f, "asn", s.ASN, pool, poolOK)
	}
	if s.RouterID.IsValid() && !s.RouterID.Is4() {
		l.at(f, "router_id", "invalid-value", "router_id must be written as an IPv4 address")
	}
	if s.BGP.Instance != "" {
		l.checkName(f, "bgp.instance", "BGP instance name", s.BGP.Instance)
	}

	ifaces := map[string]bool{}
	for i, x := range s.Interfaces {
		p := fmt.Sprintf("interface[%d]", i)
		if l.checkName(f, p+".name", "interface name", x.Name) {
			if ifaces[x.Name] {
				l.at(f, p+".name", "duplicate", fmt.Sprintf("interface %q is declared twice", x.Name))
			}
			if linux && len(x.Name) > 15 {
				l.at(f, p+".name", "invalid-name", fmt.Sprintf("Linux interface names are at most 15 characters; %q has %d", x.Name, len(x.Name)))
			}
		}
		ifaces[x.Name] = true
		switch x.Role {
		case "", "wan", "lan":
		default:
			l.at(f, p+".role", "invalid-value", fmt.Sprintf("role must be \"wan\", \"lan\" or empty, not %q", x.Role))
		}
		for j, ls := range x.Lists {
			l.checkName(f, fmt.Sprintf("%s.lists[%d]", p, j), "interface list", ls)
		}
		l.checkText(f, p+".comment", x.Comment)
		l.checkMTU(f, p+".mtu", x.MTU)
		if ros && (x.Networkd || x.DHCP || x.AcceptRA || x.IPv6Token != "") {
			l.at(f, p, "linux-only", "networkd, dhcp, accept_ra and ipv6_token apply only to Linux sites")
		}
		if x.IPv6Token != "" && !strings.HasPrefix(x.IPv6Token, "static:") && x.IPv6Token != "eui64" && !strings.HasPrefix(x.IPv6Token, "prefixstable") {
			l.at(f, p+".ipv6_token", "invalid-value", "ipv6_token must be \"static:::1234\", \"eui64\" or \"prefixstable\"")
		}
		l.checkText(f, p+".ipv6_token", x.IPv6Token)
	}
	ports := map[int]string{}
	for i, w := range s.WireGuard {
		p := fmt.Sprintf("wireguard[%d]", i)
		if w.ListenPort != 0 {
			if prev, dup := ports[w.ListenPort]; dup {
				l.at(f, p+".listen_port", "duplicate", fmt.Sprintf("listen port %d is also used by %s", w.ListenPort, prev))
			}
			ports[w.ListenPort] = w.Name
		}
		if l.checkName(f, p+".name", "WireGuard interface name", w.Name) {
			if ifaces[w.Name] {
				l.at(f, p+".name", "duplicate", fmt.Sprintf("interface %q is declared twice", w.Name))
			}
			if linux && len(w.Name) > 15 {
				l.at(f, p+".name", "invalid-name", fmt.Sprintf("Linux interface names are at most 15 characters; %q has %d", w.Name, len(w.Name)))
			}
		}
		ifaces[w.Name] = true
		l.checkPort(f, p+".listen_port", w.ListenPort)
		l.checkMTU(f, p+".mtu", w.MTU)
		switch w.Table {
		case "", "auto", "off":
		default:
			if ros {
				l.at(f, p+".table", "linux-only", "table applies only to Linux (wg-quick Table=)")
			} else if _, err := strconv.Atoi(w.Table); err != nil && !hasTable(s, w.Table) {
				l.at(f, p+".table", "unknown-table", fmt.Sprintf("table %q is not \"auto\", \"off\", a number, or a declared routing_table", w.Table))
			}
		}
		for j, ls := range w.Lists {
			l.checkName(f, fmt.Sprintf("%s.lists[%d]", p, j), "interface list", ls)
		}
		l.checkText(f, p+".comment", w.Comment)
	}
	known := siteIfaces(s)
	lists := siteLists(s)
	refIface := func(path, name string) {
		if name == "" {
			return
		}
		bare := strings.TrimPrefix(name, "!")
		if _, ok := known[bare]; !ok {
			msg := fmt.Sprintf("interface %q is not declared in this site", bare)
			if c := closest(bare, sortedKeys(known)); c != "" {
				msg += fmt.Sprintf("; did you mean %q?", c)
			} else {
				msg += " (add it as [[interface]] or [[wireguard]])"
			}
			l.at(f, path, "unknown-interface", msg)
		}
	}
	refList := func(path, name string) {
		if name == "" {
			return
		}
		bare := strings.TrimPrefix(name, "!")
		if !lists[bare] {
			l.at(f, path, "unknown-list", fmt.Sprintf("interface list %q is not known here (known: %s)", bare, strings.Join(sortedKeys(lists), ", ")))
		}
	}

	if len(s.Addresses) > 0 {
		seen := map[string]bool{}
		for i, a := range s.Addresses {
			p := fmt.Sprintf("address[%d]", i)
			if a.Interface == "" {
				l.at(f, p+".interface", "required", "interface is required")
			}
			refIface(p+".interface", a.Interface)
			if !a.Address.IsValid() {
				if a.Address.err == nil {
					l.at(f, p+".address", "required", "address is required")
				}
				continue
			}
			key := a.Interface + " " + a.Address.String()
			if seen[key] {
				l.at(f, p+".address", "duplicate", fmt.Sprintf("address %s is declared twice on %s", a.Address, a.Interface))
			}
			seen[key] = true
			if a.Advertise != nil && a.Address.Addr().Is4() {
				l.at(f, p+".advertise", "invalid-value", "advertise applies only to IPv6 addresses")
			}
			if a.Advertise != nil && linux {
				l.at(f, p+".advertise", "routeros-only", "advertise applies only to RouterOS; Linux sites use [[router_advertisement]]")
			}
			if a.Network.IsValid() && !(a.Network.Is4() && a.Address.Addr().Is4()) {
				l.at(f, p+".network", "invalid-value", "network applies only to IPv4 addresses")
			}
			l.checkText(f, p+".comment", a.Comment)
		}
	}
	tables := map[string]bool{"main": true}
	tableIDs := map[int]string{}
	for i, t := range s.RoutingTables {
		p := fmt.Sprintf("routing_table[%d]", i)
		if l.checkName(f, p+".name", "routing table name", t.Name) {
			if tables[t.Name] {
				l.at(f, p+".name", "duplicate", fmt.Sprintf("routing table %q is declared twice (main always exists)", t.Name))
			}
			tables[t.Name] = true
		}
		if t.ID < 0 || t.ID == 253 || t.ID == 254 || t.ID == 255 || t.ID > 0x7fffffff {
			l.at(f, p+".id", "out-of-range", fmt.Sprintf("table id %d is reserved or out of range", t.ID))
		}
		id := t.ID
		if id == 0 {
			id = TableID(t.Name)
		}
		if prev, dup := tableIDs[id]; dup {
			l.at(f, p+".id", "duplicate", fmt.Sprintf("table id %d is also used by routing table %q; set id explicitly", id, prev))
		}
		tableIDs[id] = t.Name
	}
	refTable := func(path, t string) {
		if t != "" && !tables[t] {
			l.at(f, path, "unknown-table", fmt.Sprintf("routing table %q is not declared (add a [[routing_table]])", t))
		}
	}
	for i, r := range s.Routes {
		p := fmt.Sprintf("route[%d]", i)
		if !r.Dst.IsValid() && r.Dst.err == nil {
			l.at(f, p+".dst", "required", "dst is required (use ::/0 or 0.0.0.0/0 for a default route)")
		}
		switch {
		case r.Blackhole && r.Gateway != "":
			l.at(f, p, "conflict", "a route has either gateway or blackhole = true, not both")
		case !r.Blackhole && r.Gateway == "":
			l.at(f, p+".gateway", "required", "gateway is required unless blackhole = true")
		case r.Gateway != "":
			if a, err := netip.ParseAddr(r.Gateway); err == nil {
				if r.Dst.IsValid() && a.Is4() != r.Dst.Addr().Is4() {
					l.at(f, p+".gateway", "family-mismatch", fmt.Sprintf("gateway %s and dst %s are different address families", a, r.Dst))
				}
			} else {
				refIface(p+".gateway", r.Gateway)
			}
		}
		if r.Distance < 0 || r.Distance > 255 {
			l.at(f, p+".distance", "out-of-range", "distance must be 1-255")
		}
		refTable(p+".table", r.Table)
		l.checkText(f, p+".comment", r.Comment)
	}
	for i, r := range s.RoutingRules {
		p := fmt.Sprintf("routing_rule[%d]", i)
		switch r.Action {
		case "", "lookup", "lookup-only-in-table", "drop", "unreachable":
		default:
			l.at(f, p+".action", "invalid-value", fmt.Sprintf("action must be lookup, lookup-only-in-table, drop or unreachable, not %q", r.Action))
		}
		if (r.Action == "" || strings.HasPrefix(r.Action, "lookup")) && r.Table == "" {
			l.at(f, p+".table", "required", "table is required for lookup rules")
		}
		refTable(p+".table", r.Table)
		refIface(p+".interface", r.Interface)
		if r.RoutingMark != "" {
			l.checkName(f, p+".routing_mark", "routing mark", r.RoutingMark)
		}
		if !r.SrcAddress.IsValid() && !r.DstAddress.IsValid() && r.RoutingMark == "" && r.Interface == "" {
			l.at(f, p, "required", "a routing rule needs at least one of src_address, dst_address, routing_mark, interface")
		}
		l.checkText(f, p+".comment", r.Comment)
	}
	for i, a := range s.AddressLists {
		p := fmt.Sprintf("address_list[%d]", i)
		l.checkName(f, p+".list", "address list name", a.List)
		if !a.Address.IsValid() && a.Address.err == nil {
			l.at(f, p+".address", "required", "address is required")
		}
		l.checkText(f, p+".comment", a.Comment)
	}
	addrLists := map[string]bool{}
	for _, a := range s.AddressLists {
		addrLists[a.List] = true
	}
	for i := range s.Firewall {
		validateFirewall(s, &s.Firewall[i], fmt.Sprintf("firewall[%d]", i), l, refIface, refList, tables, addrLists)
	}
	for _, c := range []struct{ path, v string }{{"firewall_policy.input", s.FirewallPolicy.Input}, {"firewall_policy.forward", s.FirewallPolicy.Forward}, {"firewall_policy.output", s.FirewallPolicy.Output}} {
		switch c.v {
		case "", "accept", "drop":
			if c.v != "" && ros {
				l.at(f, c.path, "linux-only", "firewall_policy applies only to Linux; RouterOS keeps defconf and places rules before its drops")
			}
		default:
			l.at(f, c.path, "invalid-value", fmt.Sprintf("chain policy must be \"accept\" or \"drop\", not %q", c.v))
		}
	}
	for i, ra := range s.RouterAdverts {
		p := fmt.Sprintf("router_advertisement[%d]", i)
		refIface(p+".interface", ra.Interface)
		if ra.Interface == "" {
			l.at(f, p+".interface", "required", "interface is required")
		}
		for j, x := range ra.Prefixes {
			if x.IsValid() && !x.Addr().Is6() {
				l.at(f, fmt.Sprintf("%s.prefixes[%d]", p, j), "family-mismatch", "router advertisements carry IPv6 prefixes only")
			} else if x.IsValid() && x.Bits() != 64 && (ra.Autonomous == nil || *ra.Autonomous) {
				l.at(f, fmt.Sprintf("%s.prefixes[%d]", p, j), "invalid-value", fmt.Sprintf("SLAAC needs a /64; %s is a /%d (set autonomous = false if that is intended)", x, x.Bits()))
			}
		}
		for j, x := range ra.Routes {
			if x.IsValid() && !x.Addr().Is6() {
				l.at(f, fmt.Sprintf("%s.routes[%d]", p, j), "family-mismatch", "route information options carry IPv6 prefixes only")
			}
		}
		switch ra.RoutePreference {
		case "", "low", "medium", "high":
		default:
			l.at(f, p+".route_preference", "invalid-value", "route_preference must be low, medium or high")
		}
		if ra.SourceAddress.IsValid() && !ra.SourceAddress.Is6() {
			l.at(f, p+".source_address", "family-mismatch", "source_address must be an IPv6 address")
		} else if ra.SourceAddress.IsValid() && !ra.SourceAddress.IsLinkLocalUnicast() {
			l.at(f, p+".source_address", "invalid-value", "source_address must be link-local (fe80::/10): hosts ignore router advertisements from other sources")
		}
		if ra.MinInterval.IsSet() && ra.MaxInterval.IsSet() && ra.MinInterval.Duration > ra.MaxInterval.Duration {
			l.at(f, p+".min_interval", "invalid-value", "min_interval must not exceed max_interval")
		}
	}
	for i, x := range s.NDPProxy {
		p := fmt.Sprintf("ndp_proxy[%d]", i)
		if ros {
			l.at(f, p, "linux-only", "ndp_proxy (ndppd) applies only to Linux sites")
		}
		refIface(p+".interface", x.Interface)
		if x.Prefix.IsValid() && !x.Prefix.Addr().Is6() {
			l.at(f, p+".prefix", "family-mismatch", "ndp_proxy prefixes are IPv6")
		}
		switch x.Method {
		case "", "auto", "static":
		case "iface":
			if x.Via == "" {
				l.at(f, p+".via", "required", "via is required when method = \"iface\"")
			}
			refIface(p+".via", x.Via)
		default:
			l.at(f, p+".method", "invalid-value", fmt.Sprintf("method must be auto, static or iface, not %q", x.Method))
		}
	}
	vrids := map[string]bool{}
	for i, v := range s.VRRP {
		p := fmt.Sprintf("vrrp[%d]", i)
		if ros {
			l.at(f, p, "linux-only", "vrrp (keepalived) applies only to Linux sites")
		}
		l.checkName(f, p+".name", "VRRP instance name", v.Name)
		refIface(p+".interface", v.Interface)
		if v.VirtualRouterID < 1 || v.VirtualRouterID > 255 {
			l.at(f, p+".virtual_router_id", "out-of-range", "virtual_router_id must be 1-255")
		}
		key := fmt.Sprintf("%s/%d", v.Interface, v.VirtualRouterID)
		if vrids[key] {
			l.at(f, p+".virtual_router_id", "duplicate", "virtual_router_id is used twice on "+v.Interface)
		}
		vrids[key] = true
		if v.Priority < 0 || v.Priority > 255 {
			l.at(f, p+".priority", "out-of-range", "priority must be 1-255")
		}
		if len(v.VirtualAddresses) == 0 {
			l.at(f, p+".virtual_addresses", "required", "at least one virtual address is required")
		}
		if v.SyncGroup != "" {
			l.checkName(f, p+".sync_group", "sync group", v.SyncGroup)
		}
	}
	for _, k := range sortedKeys(s.Sysctl) {
		p := "sysctl." + k
		if ros {
			l.at(f, "sysctl", "linux-only", "sysctl applies only to Linux sites")
			break
		}
		if !sysctlRe.MatchString(k) || strings.Contains(k, "..") {
			l.at(f, p, "invalid-name", fmt.Sprintf("sysctl key %q is not a valid name like net.ipv6.conf.all.forwarding", k))
		}
		if !sysctlVal.MatchString(s.Sysctl[k]) {
			l.at(f, p, "invalid-value", fmt.Sprintf("sysctl value %q may only contain letters, digits, spaces and . _ : , -", s.Sysctl[k]))
		}
	}
	if s.DNS != nil && linux {
		l.at(f, "dns", "routeros-only", "dns applies only to RouterOS sites")
	}
	probeNames := map[string]bool{}
	for i, pr := range s.Probes {
		p := fmt.Sprintf("probe[%d]", i)
		if l.checkName(f, p+".name", "probe name", pr.Name) {
			if probeNames[pr.Name] {
				l.at(f, p+".name", "duplicate", fmt.Sprintf("probe %q is declared twice", pr.Name))
			}
			probeNames[pr.Name] = true
		}
		switch pr.Type {
		case "ping":
		case "tcp":
			if pr.Port < 1 || pr.Port > 65535 {
				l.at(f, p+".port", "required", "a tcp probe needs port 1-65535")
			}
			if ros {
				l.at(f, p+".type", "unsupported", "RouterOS sites can run ping probes only")
			}
		default:
			l.at(f, p+".type", "invalid-value", fmt.Sprintf("type must be \"ping\" or \"tcp\", not %q", pr.Type))
		}
		if !pr.Target.IsValid() && pr.Target.err == nil {
			l.at(f, p+".target", "required", "target is required")
		}
		if pr.Count < 0 || pr.Count > 100 {
			l.at(f, p+".count", "out-of-range", "count must be 1-100")
		}
	}
	rawNames := map[string]bool{}
	for i, r := range s.Raw.RouterOS {
		p := fmt.Sprintf("raw.routeros[%d]", i)
		if linux {
			l.at(f, p, "routeros-only", "raw.routeros applies only to RouterOS sites (use raw.linux)")
		}
		if !rosPathRe.MatchString(r.Path) {
			l.at(f, p+".path", "invalid-value", fmt.Sprintf("path %q must be a RouterOS menu like /ip/dns", r.Path))
		}
		if !r.Singleton {
			if l.checkName(f, p+".name", "raw item name", r.Name) {
				key := r.Path + " " + r.Name
				if rawNames[key] {
					l.at(f, p+".name", "duplicate", fmt.Sprintf("raw item %q is declared twice under %s", r.Name, r.Path))
				}
				rawNames[key] = true
			}
		}
		if len(r.Attributes) == 0 {
			l.at(f, p+".attributes", "required", "attributes are required")
		}
		for _, k := range sortedKeys(r.Attributes) {
			if !rosAttrRe.MatchString(k) || k == "comment" && !r.Singleton {
				l.at(f, p+".attributes."+k, "invalid-name", fmt.Sprintf("attribute %q is not allowed (RouterOS attribute names are lower-case; tether owns comment)", k))
			}
			l.checkText(f, p+".attributes."+k, r.Attributes[k])
		}
		l.checkText(f, p+".place_before", r.PlaceBefore)
	}
	files := map[string]bool{}
	for i, r := range s.Raw.Linux {
		p := fmt.Sprintf("raw.linux[%d]", i)
		if ros {
			l.at(f, p, "linux-only", "raw.linux applies only to Linux sites (use raw.routeros)")
		}
		if !strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "..") || strings.ContainsAny(r.Path, " \t\n\"'$\\") || strings.HasSuffix(r.Path, "/") {
			l.at(f, p+".path", "invalid-value", fmt.Sprintf("path %q must be an absolute file path without '..' or spaces", r.Path))
		}
		if files[r.Path] {
			l.at(f, p+".path", "duplicate", fmt.Sprintf("file %s is declared twice", r.Path))
		}
		files[r.Path] = true
		if r.Mode != "" {
			if m, err := strconv.ParseUint(r.Mode, 8, 32); err != nil || m > 0o7777 {
				l.at(f, p+".mode", "invalid-value", fmt.Sprintf("mode %q must be octal like \"0644\"", r.Mode))
			}
		}
		if r.Reload != "" && !nameRe.MatchString(strings.TrimSuffix(r.Reload, ".service")) {
			l.at(f, p+".reload", "invalid-value", fmt.Sprintf("reload %q must be a systemd unit name", r.Reload))
		}
	}
}

func hasTable(s *Site, name string) bool {
	for _, t := range s.RoutingTables {
		if t.Name == name {
			return true
		}
	}
	return false
}

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
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func validateFirewall(s *Site, r *FirewallRule, p string, l *loader, refIface, refList func(string, string), tables, addrLists map[string]bool) {
	f := s.File
	table := r.Table
	if table == "" {
		table = "filter"
	}
	chains, ok := chainsByTable[table]
	if !ok {
		l.at(f, p+".table", "invalid-value", fmt.Sprintf("table must be filter, nat or mangle, not %q", r.Table))
		return
	}
	if !chains[r.Chain] {
		l.at(f, p+".chain", "invalid-value", fmt.Sprintf("chain %q is not a %s chain (%s)", r.Chain, table, strings.Join(sortedKeys(chains), ", ")))
	}
	actions := map[string]map[string]bool{"filter": filterActions, "nat": natActions, "mangle": mangleActions}[table]
	if !actions[r.Action] {
		l.at(f, p+".action", "invalid-value", fmt.Sprintf("action %q is not valid in the %s table (%s)", r.Action, table, strings.Join(sortedKeys(actions), ", ")))
	}
	fam := r.Family
	switch fam {
	case "", "ip", "ipv6", "both":
	default:
		l.at(f, p+".family", "invalid-value", fmt.Sprintf("family must be ip, ipv6 or both, not %q", fam))
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
			l.at(f, p+a.path, "family-mismatch", fmt.Sprintf("%s is %s but the rule is %s", a.v, af, fam))
		}
	}
	if r.Protocol != "" && !protocols[strings.TrimPrefix(r.Protocol, "!")] {
		l.at(f, p+".protocol", "invalid-value", fmt.Sprintf("protocol %q is not one of %s", r.Protocol, strings.Join(sortedKeys(protocols), ", ")))
	}
	for _, pt := range []struct{ path, v string }{{".src_port", r.SrcPort}, {".dst_port", r.DstPort}, {".to_ports", r.ToPorts}} {
		if pt.v == "" {
			continue
		}
		if !portsRe.MatchString(pt.v) || !portsInRange(pt.v) {
			l.at(f, p+pt.path, "invalid-value", fmt.Sprintf("ports %q must be like 51820, 58000-60000 or 80,443", pt.v))
		}
		if pt.path != ".to_ports" && r.Protocol != "tcp" && r.Protocol != "udp" && r.Protocol != "sctp" {
			l.at(f, p+pt.path, "conflict", "ports need protocol = \"tcp\" or \"udp\"")
		}
	}
	if len(r.ICMPTypes) > 0 && r.Protocol != "icmp" && r.Protocol != "icmpv6" {
		l.at(f, p+".icmp_types", "conflict", "icmp_types need protocol = \"icmp\" or \"icmpv6\"")
	}
	for j, t := range r.ICMPTypes {
		if !icmpTypes[t] {
			l.at(f, fmt.Sprintf("%s.icmp_types[%d]", p, j), "invalid-value", fmt.Sprintf("unknown ICMP type %q", t))
		}
	}
	refIface(p+".in_interface", r.InInterface)
	refIface(p+".out_interface", r.OutInterface)
	refList(p+".in_interface_list", r.InInterfaceList)
	refList(p+".out_interface_list", r.OutInterfaceList)
	for _, al := range []struct{ path, v string }{{".src_address_list", r.SrcAddressList}, {".dst_address_list", r.DstAddressList}} {
		if al.v == "" {
			continue
		}
		bare := strings.TrimPrefix(al.v, "!")
		if !addrLists[bare] {
			l.at(f, p+al.path, "unknown-list", fmt.Sprintf("address list %q has no entries in this site (add [[address_list]] entries)", bare))
		}
	}
	for j, cs := range r.ConnectionState {
		if !connStates[strings.TrimPrefix(cs, "!")] {
			l.at(f, fmt.Sprintf("%s.connection_state[%d]", p, j), "invalid-value", fmt.Sprintf("connection state %q is not one of established, related, new, invalid, untracked", cs))
		}
	}
	switch strings.TrimPrefix(r.ConnectionNATState, "!") {
	case "", "srcnat", "dstnat":
	default:
		l.at(f, p+".connection_nat_state", "invalid-value", "connection_nat_state must be srcnat, dstnat, !srcnat or !dstnat")
	}
	if r.Action == "mark-routing" {
		if r.NewRoutingMark == "" {
			l.at(f, p+".new_routing_mark", "required", "mark-routing needs new_routing_mark (a routing table name)")
		} else if !tables[r.NewRoutingMark] {
			l.at(f, p+".new_routing_mark", "unknown-table", fmt.Sprintf("routing mark %q must name a declared routing_table", r.NewRoutingMark))
		}
	}
	if (r.Action == "src-nat" || r.Action == "dst-nat" || r.Action == "netmap") && r.ToAddresses == "" {
		l.at(f, p+".to_addresses", "required", r.Action+" needs to_addresses")
	}
	if r.ToAddresses != "" {
		if _, err := netip.ParseAddr(r.ToAddresses); err != nil {
			if _, err := netip.ParsePrefix(r.ToAddresses); err != nil {
				l.at(f, p+".to_addresses", "invalid-value", fmt.Sprintf("to_addresses %q must be an address or prefix", r.ToAddresses))
			}
		}
	}
	if r.RejectWith != "" && !rejectWith[r.RejectWith] {
		l.at(f, p+".reject_with", "invalid-value", fmt.Sprintf("reject_with %q is not one of %s", r.RejectWith, strings.Join(sortedKeys(rejectWith), ", ")))
	}
	if r.Passthrough != nil && table != "mangle" {
		l.at(f, p+".passthrough", "conflict", "passthrough applies to mangle rules")
	}
	l.checkText(f, p+".comment", r.Comment)
	l.checkText(f, p+".place_before", r.PlaceBefore)
	l.checkText(f, p+".log_prefix", r.LogPrefix)
	if s.Platform == "routeros" && r.Comment == "" {
		l.at(f, p+".comment", "required", "RouterOS firewall rules need a comment: tether identifies its rules by it")
	}
}

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
