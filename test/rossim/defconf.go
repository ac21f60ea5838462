package rossim

import (
	"maps"
	"strings"
	"time"
)

// put appends a row without API validation (start state only).
func (s *Sim) put(menu string, attrs map[string]string) *item {
	spec := specs[menu]
	a := maps.Clone(attrs)
	for k, v := range a {
		if boolAttrs[k] {
			if nv, trap := parseBool(k, v); trap == nil {
				a[k] = nv
			}
		}
	}
	for k, v := range spec.defaults {
		if _, ok := a[k]; !ok {
			a[k] = v
		}
	}
	t := s.tableFor(menu)
	it := &item{id: t.alloc(), attrs: a}
	_ = s.onAdd(menu, it)
	t.items = append(t.items, it)
	return it
}

// rsc parses "k=v k2=\"quoted v\"" the way defconf is written, so the start
// state reads like the real defconf export.
func rsc(line string) map[string]string {
	toks, err := tokenize(line)
	if err != nil {
		panic(err)
	}
	out := map[string]string{}
	for _, t := range toks {
		k, v, _ := strings.Cut(t.text, "=")
		out[k] = v
	}
	return out
}

// initState builds the start state: hardware and system singletons always,
// plus the RouterOS 7 defconf of a home router (hAP/RB5009 style) unless bare.
func (s *Sim) initState(defconf bool) {
	for i, mac := range []string{"1", "2", "3", "4", "5"} {
		name := "ether" + mac
		s.put("/interface/ethernet", map[string]string{
			"name": name, "default-name": name, "mtu": "1500", "actual-mtu": "1500", "l2mtu": "1514",
			"mac-address": "48:A9:8A:00:00:0" + mac, "running": "true", "disabled": "false",
			"speed": "1G-baseT-full", "arp": "enabled", "slave": boolStr(defconf && i > 0),
		})
	}
	s.put("/routing/table", map[string]string{"name": "main", "fib": "", "dynamic": "true"})
	s.put("/routing/bgp/template", map[string]string{"name": "default"})
	s.put("/interface/list", map[string]string{"name": "all", "builtin": "true", "dynamic": "true"})
	s.put("/interface/list", map[string]string{"name": "none", "builtin": "true", "dynamic": "true"})
	s.put("/interface/list", map[string]string{"name": "dynamic", "builtin": "true", "dynamic": "true"})
	s.put("/interface/list", map[string]string{"name": "static", "builtin": "true", "dynamic": "true"})
	s.put("/system/identity", map[string]string{"name": "MikroTik"})
	s.put("/system/resource", map[string]string{})
	s.put("/system/clock", map[string]string{})
	s.put("/ip/dns", map[string]string{
		"servers": "", "dynamic-servers": "", "allow-remote-requests": boolStr(defconf),
		"cache-size": "2048KiB", "cache-max-ttl": "1w", "max-udp-packet-size": "4096",
		"query-server-timeout": "2s", "query-total-timeout": "10s", "max-concurrent-queries": "100",
	})
	s.put("/ipv6/settings", map[string]string{
		"disable-ipv6": "false", "forward": "true", "accept-redirects": "yes-if-forwarding-disabled",
		"accept-router-advertisements": "yes-if-forwarding-disabled", "max-neighbor-entries": "16384",
		"allow-fast-path": "true",
	})
	s.put("/ip/settings", map[string]string{"ip-forward": "true", "rp-filter": "no", "tcp-syncookies": "false"})
	for _, svc := range []struct{ name, port, disabled string }{
		{"telnet", "23", "false"}, {"ftp", "21", "false"}, {"www", "80", "false"}, {"ssh", "22", "false"},
		{"www-ssl", "443", "true"}, {"api", "8728", "false"}, {"winbox", "8291", "false"}, {"api-ssl", "8729", "false"},
	} {
		s.put("/ip/service", map[string]string{"name": svc.name, "port": svc.port, "disabled": svc.disabled, "address": "", "vrf": "main", "invalid": "false"})
	}
	s.put("/ipv6/nd", map[string]string{"interface": "all", "ra-interval": "3m20s-10m", "default": "true"})
	s.initSSH()
	if !defconf {
		return
	}
	s.put("/interface/bridge", map[string]string{"name": "bridge", "comment": "defconf", "admin-mac": "48:A9:8A:00:00:02", "auto-mac": "false", "mac-address": "48:A9:8A:00:00:02"})
	for _, p := range []string{"ether2", "ether3", "ether4", "ether5"} {
		s.put("/interface/bridge/port", map[string]string{"bridge": "bridge", "interface": p, "comment": "defconf"})
	}
	s.put("/interface/list", map[string]string{"name": "WAN", "comment": "defconf"})
	s.put("/interface/list", map[string]string{"name": "LAN", "comment": "defconf"})
	s.put("/interface/list/member", map[string]string{"interface": "bridge", "list": "LAN", "comment": "defconf"})
	s.put("/interface/list/member", map[string]string{"interface": "ether1", "list": "WAN", "comment": "defconf"})
	s.put("/ip/address", map[string]string{"address": "192.168.88.1/24", "interface": "bridge", "comment": "defconf"})
	s.put("/ip/dhcp-client", map[string]string{"interface": "ether1", "comment": "defconf", "disabled": "false", "dynamic": "false", "status": "searching...", "add-default-route": "yes", "use-peer-dns": "true", "use-peer-ntp": "true"})
	s.put("/ip/dns/static", map[string]string{"name": "router.lan", "address": "192.168.88.1", "type": "A", "comment": "defconf", "disabled": "false", "dynamic": "false"})
	for _, l := range defconfIPv4Filter {
		s.put("/ip/firewall/filter", rsc(l))
	}
	s.put("/ip/firewall/nat", rsc(`action=masquerade chain=srcnat comment="defconf: masquerade" ipsec-policy=out,none out-interface-list=WAN`))
	for _, l := range defconfIPv6AddressList {
		s.put("/ipv6/firewall/address-list", rsc(l))
	}
	for _, l := range defconfIPv6Filter {
		s.put("/ipv6/firewall/filter", rsc(l))
	}
	// defconf address-list entries carry a creation time like any other.
	for _, it := range s.tableFor("/ipv6/firewall/address-list").items {
		it.attrs["creation-time"] = s.boot.Format(time.DateTime)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// The defconf rules of RouterOS 7 (`/system default-configuration print`),
// comments verbatim: tether anchors its rules to them. Note the forward
// "accept established,related, untracked" really has that space.
var defconfIPv4Filter = []string{
	`action=accept chain=input comment="defconf: accept established,related,untracked" connection-state=established,related,untracked`,
	`action=drop chain=input comment="defconf: drop invalid" connection-state=invalid`,
	`action=accept chain=input comment="defconf: accept ICMP" protocol=icmp`,
	`action=accept chain=input comment="defconf: accept to local loopback (for CAPsMAN)" dst-address=127.0.0.1`,
	`action=drop chain=input comment="defconf: drop all not coming from LAN" in-interface-list=!LAN`,
	`action=accept chain=forward comment="defconf: accept in ipsec policy" ipsec-policy=in,ipsec`,
	`action=accept chain=forward comment="defconf: accept out ipsec policy" ipsec-policy=out,ipsec`,
	`action=fasttrack-connection chain=forward comment="defconf: fasttrack" connection-state=established,related hw-offload=yes`,
	`action=accept chain=forward comment="defconf: accept established,related, untracked" connection-state=established,related,untracked`,
	`action=drop chain=forward comment="defconf: drop invalid" connection-state=invalid`,
	`action=drop chain=forward comment="defconf: drop all from WAN not DSTNATed" connection-nat-state=!dstnat connection-state=new in-interface-list=WAN`,
}

var defconfIPv6AddressList = []string{
	`address=::/128 comment="defconf: unspecified address" list=bad_ipv6`,
	`address=::1/128 comment="defconf: lo" list=bad_ipv6`,
	`address=fec0::/10 comment="defconf: site-local" list=bad_ipv6`,
	`address=::ffff:0.0.0.0/96 comment="defconf: ipv4-mapped" list=bad_ipv6`,
	`address=::/96 comment="defconf: ipv4 compat" list=bad_ipv6`,
	`address=100::/64 comment="defconf: discard only " list=bad_ipv6`,
	`address=2001:db8::/32 comment="defconf: documentation" list=bad_ipv6`,
	`address=2001:10::/28 comment="defconf: ORCHID" list=bad_ipv6`,
	`address=3ffe::/16 comment="defconf: 6bone" list=bad_ipv6`,
}

var defconfIPv6Filter = []string{
	`action=accept chain=input comment="defconf: accept established,related,untracked" connection-state=established,related,untracked`,
	`action=drop chain=input comment="defconf: drop invalid" connection-state=invalid`,
	`action=accept chain=input comment="defconf: accept ICMPv6" protocol=icmpv6`,
	`action=accept chain=input comment="defconf: accept UDP traceroute" dst-port=33434-33534 protocol=udp`,
	`action=accept chain=input comment="defconf: accept DHCPv6-Client prefix delegation." dst-port=546 protocol=udp src-address=fe80::/10`,
	`action=accept chain=input comment="defconf: accept IKE" dst-port=500,4500 protocol=udp`,
	`action=accept chain=input comment="defconf: accept ipsec AH" protocol=ipsec-ah`,
	`action=accept chain=input comment="defconf: accept ipsec ESP" protocol=ipsec-esp`,
	`action=accept chain=input comment="defconf: accept all that matches ipsec policy" ipsec-policy=in,ipsec`,
	`action=drop chain=input comment="defconf: drop everything else not coming from LAN" in-interface-list=!LAN`,
	`action=accept chain=forward comment="defconf: accept established,related,untracked" connection-state=established,related,untracked`,
	`action=drop chain=forward comment="defconf: drop invalid" connection-state=invalid`,
	`action=drop chain=forward comment="defconf: drop packets with bad src ipv6" src-address-list=bad_ipv6`,
	`action=drop chain=forward comment="defconf: drop packets with bad dst ipv6" dst-address-list=bad_ipv6`,
	`action=drop chain=forward comment="defconf: rfc4890 drop hop-limit=1" hop-limit=equal:1 protocol=icmpv6`,
	`action=accept chain=forward comment="defconf: accept ICMPv6" protocol=icmpv6`,
	`action=accept chain=forward comment="defconf: accept HIP" protocol=139`,
	`action=accept chain=forward comment="defconf: accept IKE" dst-port=500,4500 protocol=udp`,
	`action=accept chain=forward comment="defconf: accept ipsec AH" protocol=ipsec-ah`,
	`action=accept chain=forward comment="defconf: accept ipsec ESP" protocol=ipsec-esp`,
	`action=accept chain=forward comment="defconf: accept all that matches ipsec policy" ipsec-policy=in,ipsec`,
	`action=drop chain=forward comment="defconf: drop everything else not coming from LAN" in-interface-list=!LAN`,
}
