package routeros

import (
	"slices"
	"strings"
	"testing"
)

// Seed 004: the forward chain of both sites ends with the write-up's
// "Default drop forward", rendered last in each family's filter and marked
// to stay last; site A logs WireGuard to memory. At 7.18 (site B's line)
// logging is not rendered, with a warning.
func TestRoadWarriorFaithful(t *testing.T) {
	n := loadExample(t, "road-warrior-s2s")
	for _, site := range []string{"site-a", "site-b"} {
		c := mustRender(t, n, site)
		for _, path := range []string{"/ip/firewall/filter", "/ipv6/firewall/filter"} {
			rules := byPath(c, path)
			last := rules[len(rules)-1]
			if !last.Last || attr(&last, "chain") != "forward" || attr(&last, "action") != "drop" || last.Anchor != "" || len(last.Attrs) != 3 {
				t.Errorf("%s %s: last rule is not an unconditional forward drop kept last: %+v", site, path, last)
			}
		}
	}
	a := mustRender(t, n, "site-a")
	logs := byPath(a, "/system/logging")
	if len(logs) != 1 || attr(&logs[0], "topics") != "wireguard,info" || attr(&logs[0], "action") != "memory" {
		t.Errorf("site A logging: %+v", logs)
	}
	old := renderAt(t, n, "site-a", "7.18")
	if len(byPath(old, "/system/logging")) != 0 || !slices.ContainsFunc(old.Warnings, func(w string) bool { return strings.HasPrefix(w, "logging:") }) {
		t.Errorf("7.18 logging: items %v warnings %q", byPath(old, "/system/logging"), old.Warnings)
	}
}

// Seed 000: the CHR's ssh service is set by name (never added) for
// 0.0.0.0/0 on port 22, and /ip/ssh refuses passwords.
func TestCGNATRelayManagement(t *testing.T) {
	c := mustRender(t, loadExample(t, "cgnat-chr-relay"), "relay")
	svc := byPath(c, "/ip/service")
	if len(svc) != 1 || !svc[0].Fixed || svc[0].ID != "name=ssh" || attr(&svc[0], "address") != "0.0.0.0/0" || attr(&svc[0], "port") != "22" || attr(&svc[0], "disabled") != "no" {
		t.Errorf("ssh service: %+v", svc)
	}
	ssh := byPath(c, "/ip/ssh")
	if len(ssh) != 1 || !ssh[0].Singleton || attr(&ssh[0], "password-authentication") != "no" {
		t.Errorf("/ip/ssh: %+v", ssh)
	}
	if !strings.Contains(string(c.RSC()), "/ip service\nset ssh disabled=no port=22 address=0.0.0.0/0\n") {
		t.Error("the .rsc view must set the fixed ssh entry, not add one")
	}
}

// Seed 002: the router's own DNS queries to the provider's resolver take the
// vpn routing mark in the output chain (LAN queries are marked by the
// prerouting rule), for UDP and TCP.
func TestMultiTunnelDNSThroughVPN(t *testing.T) {
	c := mustRender(t, loadExample(t, "multi-tunnel"), "router")
	var protos []string
	for _, it := range byPath(c, "/ip/firewall/mangle") {
		if attr(&it, "chain") == "output" && attr(&it, "dst-port") == "53" && attr(&it, "action") == "mark-routing" &&
			attr(&it, "new-routing-mark") == "vpn" && attr(&it, "dst-address-list") == "vpnDNS" {
			protos = append(protos, attr(&it, "protocol"))
		}
	}
	if !slices.Equal(protos, []string{"udp", "tcp"}) {
		t.Errorf("DNS mark-routing rules for %v, want udp and tcp", protos)
	}
	dns := byPath(c, "/ip/dns")
	if len(dns) != 1 || attr(&dns[0], "servers") != "10.8.0.1" {
		t.Errorf("/ip/dns: %+v", dns)
	}
}
