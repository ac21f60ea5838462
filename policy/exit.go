package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Exit through a peer: a device (client B) names another peer of the same
// site interface (client A) with `exit`, and the site sends everything from
// client B's addresses to client A, which forwards and masquerades it to the
// internet. The site (the hub) accepts the default route from client A, so
// WireGuard's longest-match cryptokey routing hands client A whatever no
// more specific peer claims, and a routing rule by source address puts
// client B's traffic into a table whose default route is the tunnel.

// Exit is one exit peer on a site interface and the devices that use it.
type Exit struct {
	Interface string         // the site's WireGuard interface both peers are on
	Via       string         // the exit peer's name on this site
	Table     string         // the routing table holding the default route through the tunnel
	Clients   []*Peer        // the devices whose traffic leaves through Via, by name
	Sources   []netip.Prefix // the clients' addresses as host prefixes, in client order
	Defaults  []netip.Prefix // 0.0.0.0/0 and/or ::/0: the families the clients use
}

// ExitTable names the routing table of the exit through peer via.
func ExitTable(via string) string { return "exit-" + via }

// defaultsFor returns the default route of each address family in addrs,
// IPv4 first.
func defaultsFor(addrs []netip.Prefix) []netip.Prefix {
	var v4, v6 bool
	for _, a := range addrs {
		v4 = v4 || a.Addr().Is4()
		v6 = v6 || !a.Addr().Is4()
	}
	var out []netip.Prefix
	if v4 {
		out = append(out, netip.PrefixFrom(netip.IPv4Unspecified(), 0))
	}
	if v6 {
		out = append(out, netip.PrefixFrom(netip.IPv6Unspecified(), 0))
	}
	return out
}

// hostPrefixes are the peer's tunnel addresses as single-address prefixes.
func (p *Peer) hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range p.Addresses {
		if a.IsValid() {
			out = append(out, hostPrefix(a.Addr()))
		}
	}
	return out
}

// ExitDefaults is what a device with an exit sends into its tunnel in exit
// mode: the default route of each family it has a tunnel address in. A
// family without an address would only be dropped at the site, so it stays
// outside the tunnel.
func (p *Peer) ExitDefaults() []netip.Prefix { return defaultsFor(p.hostPrefixes()) }

// Exits returns the exits of a site, by interface and then exit peer name,
// each with its clients by name. It allocates nothing for a site without
// exits (it runs inside WireGuardPeers).
func (n *Network) Exits(site string) []Exit {
	var out []Exit
	for _, p := range n.Peers {
		if p.Site != site || p.Exit == "" {
			continue
		}
		i := slices.IndexFunc(out, func(e Exit) bool { return e.Interface == p.Interface && e.Via == p.Exit })
		if i < 0 {
			out = append(out, Exit{Interface: p.Interface, Via: p.Exit, Table: ExitTable(p.Exit)})
			i = len(out) - 1
		}
		out[i].Clients = append(out[i].Clients, p)
	}
	slices.SortFunc(out, func(a, b Exit) int {
		return cmp.Or(strings.Compare(a.Interface, b.Interface), strings.Compare(a.Via, b.Via))
	})
	for i := range out {
		e := &out[i]
		slices.SortFunc(e.Clients, func(a, b *Peer) int { return strings.Compare(a.Name, b.Name) })
		for _, c := range e.Clients {
			e.Sources = append(e.Sources, c.hostPrefixes()...)
		}
		e.Defaults = defaultsFor(e.Sources)
	}
	return out
}

// withExitDefaults adds each exit's default routes to the allowed list of
// its exit peer, once.
func withExitDefaults(peers []WGPeer, exits []Exit) {
	for _, e := range exits {
		for i := range peers {
			p := &peers[i]
			if p.Interface != e.Interface || p.Name != e.Via {
				continue
			}
			for _, d := range e.Defaults {
				if !slices.Contains(p.Allowed, d) {
					p.Allowed = append(p.Allowed, d)
				}
			}
			p.Exit = true
		}
	}
}

// validateExits checks every peer's exit: it names another peer of the same
// site interface on a RouterOS site, one exit per interface, and when the
// exit is a site, that site accepts the clients' addresses and forwards and
// masquerades them.
func validateExits(n *Network, l *loader) {
	type ifaceKey struct{ site, iface string }
	chosen := map[ifaceKey]*Peer{} // the first client of each interface's exit
	for _, name := range sortedKeys(n.Peers) {
		p := n.Peers[name]
		if p.Exit == "" {
			continue
		}
		f := p.File
		s := n.Sites[p.Site]
		if s == nil || s.wireguardOf(p.Interface) == nil {
			if p.Site == "" {
				l.at(f, "exit", "required", "an exit is a peer of the site this device connects to: set site and interface")
			}
			continue // the unknown site or interface is reported already
		}
		if len(p.hostPrefixes()) == 0 {
			l.at(f, "exit", "required", "an exit routes by the device's source addresses: set addresses")
			continue
		}
		if p.Exit == p.Name {
			l.at(f, "exit", "invalid-value", "a device cannot be its own exit")
			continue
		}
		if s.Platform != "routeros" {
			l.at(f, "exit", "unsupported", fmt.Sprintf("exit through a peer is rendered for RouterOS sites only; %s is %s", s.Name, s.Platform))
			continue
		}
		var via *WGPeer
		var names []string
		for _, wp := range n.WireGuardPeers(s.Name) {
			if wp.Interface != p.Interface {
				continue
			}
			names = append(names, wp.Name)
			if wp.Name == p.Exit {
				via = &wp
			}
		}
		if via == nil {
			msg := fmt.Sprintf("%s of %s has no peer %q", p.Interface, s.Name, p.Exit)
			if c := closest(p.Exit, names); c != "" {
				msg += fmt.Sprintf("; did you mean %q?", c)
			} else if len(names) > 0 {
				msg += " (its peers are " + strings.Join(names, ", ") + ")"
			}
			l.at(f, "exit", "unknown-peer", msg)
			continue
		}
		k := ifaceKey{s.Name, p.Interface}
		if first := chosen[k]; first != nil && first.Exit != p.Exit {
			l.at(f, "exit", "two-exits", fmt.Sprintf("%s of %s already has exit %s (for %s); WireGuard gives the default route to one peer of an interface only, so every device on %s must use the same exit", p.Interface, s.Name, first.Exit, first.Name, p.Interface))
			continue
		}
		if chosen[k] == nil {
			chosen[k] = p
		}
		if via.External != nil && via.External.Exit != "" {
			l.at(f, "exit", "invalid-value", fmt.Sprintf("peer %s itself exits through %s; an exit must reach the internet on its own", via.Name, via.External.Exit))
			continue
		}
		if via.Link != nil {
			validateExitSite(n, l, p, s.Name, *via)
		}
	}
}

// validateExitSite checks the far end of the link an exit runs over: it
// accepts the client's addresses from the hub and forwards and NATs them.
func validateExitSite(n *Network, l *loader, client *Peer, hub string, via WGPeer) {
	side, _ := via.Link.SideOf(via.RemoteSite)
	far := n.Sites[via.RemoteSite]
	if far == nil {
		return
	}
	accepted := side.AllowedFor()
	for _, src := range client.hostPrefixes() {
		covered := false
		for _, a := range accepted {
			if a.Bits() <= src.Bits() && a.Contains(src.Addr()) {
				covered = true
			}
		}
		if !covered {
			key := "b.allowed"
			if via.Link.A.Site == far.Name {
				key = "a.allowed"
			}
			l.at(client.File, "exit", "exit-drops-client", fmt.Sprintf("%s accepts only %s from %s, so %s's traffic (%s) would be dropped at the exit: add %s to %s in %s", far.Name, joinPrefixes(accepted), hub, client.Name, src.Addr(), src, key, via.Link.File))
		}
	}
	for _, fam := range defaultsFor(client.hostPrefixes()) {
		v4 := fam.Addr().Is4()
		if far.Platform == "linux" {
			key := "net.ipv4.ip_forward"
			if !v4 {
				key = "net.ipv6.conf.all.forwarding"
			}
			if far.Sysctl[key] != "1" {
				l.at(client.File, "exit", "exit-not-forwarding", fmt.Sprintf("exit %s does not forward: set [sysctl] %q = \"1\" in %s", far.Name, key, far.File))
			}
		}
		if far.Platform == "routeros" && (far.Defconf == nil || *far.Defconf) && v4 {
			continue // defconf masquerades IPv4 out of the WAN list
		}
		if !masquerades(far, v4, client.hostPrefixes()) {
			fam := "ip"
			if !v4 {
				fam = "ipv6"
			}
			l.at(client.File, "exit", "exit-not-masquerading", fmt.Sprintf("exit %s does not masquerade %s traffic, so replies to %s could not find their way back: add a [[firewall]] with table = \"nat\", chain = \"srcnat\", action = \"masquerade\", out_interface = its uplink, family = %q, to %s", far.Name, fam, client.Name, fam, far.File))
		}
	}
}

// masquerades reports whether the site has an enabled srcnat masquerade
// rule for the family, covering the sources, that goes out of a WAN
// interface (or any interface).
func masquerades(s *Site, v4 bool, sources []netip.Prefix) bool {
	for _, r := range s.Firewall {
		if r.Table != "nat" || r.Chain != "srcnat" || r.Action != "masquerade" || r.Disabled {
			continue
		}
		if r.Family != "" && r.Family != "both" && (r.Family == "ip") != v4 {
			continue
		}
		if r.SrcAddress.IsValid() && !coversAll(r.SrcAddress.Prefix, sources, v4) {
			continue
		}
		if r.OutInterface == "" || isWAN(s, r.OutInterface) || r.OutInterfaceList == "WAN" {
			return true
		}
	}
	return false
}

// coversAll reports whether p holds every source of the family.
func coversAll(p netip.Prefix, sources []netip.Prefix, v4 bool) bool {
	for _, src := range sources {
		if src.Addr().Is4() == v4 && !p.Contains(src.Addr()) {
			return false
		}
	}
	return true
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
