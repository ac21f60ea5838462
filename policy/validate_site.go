package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// siteChecker holds what the checks of one site file share: where problems
// go, the platform, and the names earlier sections declare for later ones
// to refer to. Each section of a site file has one check method; to check a
// new section, add a method and call it from validateSite.
type siteChecker struct {
	l     *loader
	n     *Network
	s     *Site
	file  string
	ros   bool // platform = "routeros"
	linux bool // platform = "linux"

	// Filled in as the sections that declare them are checked.
	ifaces    map[string]string // interface name -> "interface" or "wireguard"
	lists     map[string]bool   // interface lists, defconf's included
	tables    map[string]bool   // routing tables, main included
	addrLists map[string]bool   // address lists with at least one entry
}

// validateSite checks one site file section by section. The order of the
// calls is the order problems at the same position are reported in.
func validateSite(n *Network, s *Site, l *loader, pool [2]uint32, poolOK bool) {
	c := &siteChecker{l: l, n: n, s: s, file: s.File, ros: s.Platform == "routeros", linux: s.Platform == "linux"}
	c.checkIdentity()
	c.checkPlatform()
	c.checkBGPIdentity(pool, poolOK)
	declared := c.checkInterfaces()
	c.checkWireGuard(declared)
	c.ifaces, c.lists = siteIfaces(s), siteLists(s)
	c.checkAddresses()
	c.tables = c.checkRoutingTables()
	c.checkRoutes()
	c.checkRoutingRules()
	c.addrLists = c.checkAddressLists()
	c.checkFirewall()
	c.checkFirewallPolicy()
	c.checkRouterAdverts()
	c.checkNDPProxy()
	c.checkVRRP()
	c.checkSysctl()
	c.checkDNS()
	c.checkProbes()
	c.checkRawRouterOS()
	c.checkRawLinux()
}

// at reports an error in the site's file.
func (c *siteChecker) at(path, rule, msg string) { c.l.at(c.file, path, rule, msg) }

// name is checkName in the site's file.
func (c *siteChecker) name(path, what, s string) bool { return c.l.checkName(c.file, path, what, s) }

// text is checkText in the site's file.
func (c *siteChecker) text(path, s string) { c.l.checkText(c.file, path, s) }

// refIface reports a reference ("wg0" or "!wg0") to an interface the site
// does not declare, suggesting the closest declared name.
func (c *siteChecker) refIface(path, name string) {
	if name == "" {
		return
	}
	bare := strings.TrimPrefix(name, "!")
	if _, ok := c.ifaces[bare]; ok {
		return
	}
	msg := fmt.Sprintf("interface %q is not declared in this site", bare)
	if near := closest(bare, sortedKeys(c.ifaces)); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	} else {
		msg += " (add it as [[interface]] or [[wireguard]])"
	}
	c.at(path, "unknown-interface", msg)
}

// refList reports a reference to an interface list no interface is in.
func (c *siteChecker) refList(path, name string) {
	if name == "" {
		return
	}
	bare := strings.TrimPrefix(name, "!")
	if !c.lists[bare] {
		c.at(path, "unknown-list", fmt.Sprintf("interface list %q is not known here (known: %s)", bare, strings.Join(sortedKeys(c.lists), ", ")))
	}
}

// refTable reports a reference to a routing table the site does not declare.
func (c *siteChecker) refTable(path, t string) {
	if t != "" && !c.tables[t] {
		c.at(path, "unknown-table", fmt.Sprintf("routing table %q is not declared (add a [[routing_table]])", t))
	}
}

// checkIdentity checks the site name (from the file name) and description.
func (c *siteChecker) checkIdentity() {
	if !siteNameRe.MatchString(c.s.Name) {
		c.at("", "invalid-name", fmt.Sprintf("site name %q (from the file name) must be lower-case letters, digits and '-', at most 31 characters", c.s.Name))
	}
	c.text("description", c.s.Description)
}

// checkPlatform checks platform and that RouterOS sites have a supported
// routeros_version (their own or the network default) and Linux sites none.
func (c *siteChecker) checkPlatform() {
	s := c.s
	switch s.Platform {
	case "routeros":
		v := s.RouterOSVersion
		if v == "" {
			v = c.n.Defaults.RouterOSVersion
		}
		if v == "" {
			c.at("routeros_version", "required", "routeros_version is required for RouterOS sites (or set defaults.routeros_version in network.toml)")
		} else {
			c.l.checkROSVersion(c.file, "routeros_version", v)
		}
	case "linux":
		if s.RouterOSVersion != "" {
			c.at("routeros_version", "invalid-value", "routeros_version applies only to platform = \"routeros\"")
		}
	case "":
		c.at("platform", "required", "platform is required: \"routeros\" or \"linux\"")
	default:
		c.at("platform", "invalid-value", fmt.Sprintf("platform must be \"routeros\" or \"linux\", not %q", s.Platform))
	}
}

// checkBGPIdentity checks the site's BGP identity: asn against the network's
// pool, router_id as IPv4, and the BGP instance name.
func (c *siteChecker) checkBGPIdentity(pool [2]uint32, poolOK bool) {
	s := c.s
	if s.ASN != 0 {
		c.l.checkASN(c.file, "asn", s.ASN, pool, poolOK)
	}
	if s.RouterID.IsValid() && !s.RouterID.Is4() {
		c.at("router_id", "invalid-value", "router_id must be written as an IPv4 address")
	}
	if s.BGP.Instance != "" {
		c.name("bgp.instance", "BGP instance name", s.BGP.Instance)
	}
}

// checkIfaceName checks an [[interface]] or [[wireguard]] name: safe, not
// declared before, and short enough for Linux. It records the name in declared.
func (c *siteChecker) checkIfaceName(path, what, name string, declared map[string]bool) {
	if c.name(path, what, name) {
		if declared[name] {
			c.at(path, "duplicate", fmt.Sprintf("interface %q is declared twice", name))
		}
		if c.linux && len(name) > 15 {
			c.at(path, "invalid-name", fmt.Sprintf("Linux interface names are at most 15 characters; %q has %d", name, len(name)))
		}
	}
	declared[name] = true
}

// checkInterfaces checks [[interface]]: names, role, lists, mtu and the
// Linux-only networkd options. It returns the names declared so far.
func (c *siteChecker) checkInterfaces() map[string]bool {
	declared := map[string]bool{}
	for i, x := range c.s.Interfaces {
		p := fmt.Sprintf("interface[%d]", i)
		c.checkIfaceName(p+".name", "interface name", x.Name, declared)
		switch x.Role {
		case "", "wan", "lan":
		default:
			c.at(p+".role", "invalid-value", fmt.Sprintf("role must be \"wan\", \"lan\" or empty, not %q", x.Role))
		}
		for j, ls := range x.Lists {
			c.name(fmt.Sprintf("%s.lists[%d]", p, j), "interface list", ls)
		}
		c.text(p+".comment", x.Comment)
		c.l.checkMTU(c.file, p+".mtu", x.MTU)
		if c.ros && (x.Networkd || x.DHCP || x.AcceptRA || x.IPv6Token != "") {
			c.at(p, "linux-only", "networkd, dhcp, accept_ra and ipv6_token apply only to Linux sites")
		}
		if x.IPv6Token != "" && !strings.HasPrefix(x.IPv6Token, "static:") && x.IPv6Token != "eui64" && !strings.HasPrefix(x.IPv6Token, "prefixstable") {
			c.at(p+".ipv6_token", "invalid-value", "ipv6_token must be \"static:::1234\", \"eui64\" or \"prefixstable\"")
		}
		c.text(p+".ipv6_token", x.IPv6Token)
		switch x.IPv6PrivacyExtensions {
		case "", "no", "yes", "prefer-public", "kernel":
		default:
			c.at(p+".ipv6_privacy_extensions", "invalid-value", fmt.Sprintf("ipv6_privacy_extensions must be \"no\", \"yes\", \"prefer-public\" or \"kernel\", not %q", x.IPv6PrivacyExtensions))
		}
		for _, k := range []struct {
			key string
			set bool
		}{{"ipv6_privacy_extensions", x.IPv6PrivacyExtensions != ""}, {"ipv6_use_redirect", x.IPv6UseRedirect != nil}} {
			if k.set && !x.Networkd {
				c.at(p+"."+k.key, "needs-networkd", k.key+" is a setting of the networkd unit tether renders: set networkd = true (Linux only)")
			}
		}
	}
	return declared
}

// checkWireGuard checks [[wireguard]]: unique listen ports, names (against
// the interfaces too), mtu, table and lists.
func (c *siteChecker) checkWireGuard(declared map[string]bool) {
	ports := map[int]string{}
	for i, w := range c.s.WireGuard {
		p := fmt.Sprintf("wireguard[%d]", i)
		if w.ListenPort != 0 {
			if prev, dup := ports[w.ListenPort]; dup {
				c.at(p+".listen_port", "duplicate", fmt.Sprintf("listen port %d is also used by %s", w.ListenPort, prev))
			}
			ports[w.ListenPort] = w.Name
		}
		c.checkIfaceName(p+".name", "WireGuard interface name", w.Name, declared)
		c.l.checkPort(c.file, p+".listen_port", w.ListenPort)
		c.l.checkMTU(c.file, p+".mtu", w.MTU)
		c.checkWireGuardTable(p+".table", w.Table)
		for j, ls := range w.Lists {
			c.name(fmt.Sprintf("%s.lists[%d]", p, j), "interface list", ls)
		}
		c.text(p+".comment", w.Comment)
	}
}

// checkWireGuardTable checks wg-quick's Table=: auto, off, a number or a
// declared routing table, and only on Linux.
func (c *siteChecker) checkWireGuardTable(path, table string) {
	switch table {
	case "", "auto", "off":
	default:
		if c.ros {
			c.at(path, "linux-only", "table applies only to Linux (wg-quick Table=)")
		} else if _, err := strconv.Atoi(table); err != nil && !hasTable(c.s, table) {
			c.at(path, "unknown-table", fmt.Sprintf("table %q is not \"auto\", \"off\", a number, or a declared routing_table", table))
		}
	}
}

// checkAddresses checks [[address]]: a declared interface, no duplicates,
// and the IPv6-only advertise and IPv4-only network options.
func (c *siteChecker) checkAddresses() {
	seen := map[string]bool{}
	for i, a := range c.s.Addresses {
		p := fmt.Sprintf("address[%d]", i)
		if a.Interface == "" {
			c.at(p+".interface", "required", "interface is required")
		}
		c.refIface(p+".interface", a.Interface)
		if !a.Address.IsValid() {
			if a.Address.err == nil {
				c.at(p+".address", "required", "address is required")
			}
			continue
		}
		key := a.Interface + " " + a.Address.String()
		if seen[key] {
			c.at(p+".address", "duplicate", fmt.Sprintf("address %s is declared twice on %s", a.Address, a.Interface))
		}
		seen[key] = true
		if a.Advertise != nil && a.Address.Addr().Is4() {
			c.at(p+".advertise", "invalid-value", "advertise applies only to IPv6 addresses")
		}
		if a.Advertise != nil && c.linux {
			c.at(p+".advertise", "routeros-only", "advertise applies only to RouterOS; Linux sites use [[router_advertisement]]")
		}
		if a.Network.IsValid() && !(a.Network.Is4() && a.Address.Addr().Is4()) {
			c.at(p+".network", "invalid-value", "network applies only to IPv4 addresses")
		}
		c.text(p+".comment", a.Comment)
	}
}
