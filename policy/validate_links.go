package policy

import (
	"fmt"
	"sort"
)

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wireguardOf returns the named WireGuard interface of a site.
func (s *Site) wireguardOf(name string) *WireGuard {
	for i := range s.WireGuard {
		if s.WireGuard[i].Name == name {
			return &s.WireGuard[i]
		}
	}
	return nil
}

// WireGuardInterface returns the named WireGuard interface of the site, or nil.
func (s *Site) WireGuardInterface(name string) *WireGuard { return s.wireguardOf(name) }

func validateLink(n *Network, k *Link, l *loader, pool [2]uint32, poolOK bool) {
	f := k.File
	if !nameRe.MatchString(k.Name) {
		l.at(f, "", "invalid-name", fmt.Sprintf("link name %q (from the file name) may only contain letters, digits, '-', '_' and '.'", k.Name))
	}
	l.checkText(f, "description", k.Description)
	ends := []struct {
		key string
		e   *LinkEnd
	}{{"a", &k.A}, {"b", &k.B}}
	okEnds := 0
	for _, x := range ends {
		e := x.e
		p := x.key
		if e.Site == "" {
			l.at(f, p+".site", "required", "site is required")
			continue
		}
		s := n.Sites[e.Site]
		if s == nil && l.broken["site:"+e.Site] {
			continue // already reported where the site file failed
		}
		if s == nil {
			msg := fmt.Sprintf("no site %q", e.Site)
			if c := closest(e.Site, sortedKeys(n.Sites)); c != "" {
				msg += fmt.Sprintf("; did you mean %q?", c)
			} else {
				msg += " (sites are " + siteList(n) + ")"
			}
			l.at(f, p+".site", "unknown-site", msg)
			continue
		}
		if e.Interface == "" {
			l.at(f, p+".interface", "required", "interface is required (a [[wireguard]] of site "+e.Site+")")
			continue
		}
		if s.wireguardOf(e.Interface) == nil {
			var names []string
			for _, w := range s.WireGuard {
				names = append(names, w.Name)
			}
			msg := fmt.Sprintf("site %q has no WireGuard interface %q", e.Site, e.Interface)
			if c := closest(e.Interface, names); c != "" {
				msg += fmt.Sprintf("; did you mean %q?", c)
			}
			l.at(f, p+".interface", "unknown-interface", msg)
			continue
		}
		if e.PeerName != "" {
			l.checkName(f, p+".peer_name", "peer name", e.PeerName)
		}
		okEnds++
	}
	if k.A.Site != "" && k.A.Site == k.B.Site {
		l.at(f, "b.site", "invalid-value", "both ends of a link are the same site")
	}
	// Addresses: same family, inside the transit prefixes when given.
	if k.A.Address.IsValid() && k.B.Address.IsValid() {
		if k.A.Address.Addr().Is4() != k.B.Address.Addr().Is4() {
			l.at(f, "b.address", "family-mismatch", fmt.Sprintf("the ends' transit addresses are different families (%s, %s)", k.A.Address, k.B.Address))
		}
		if k.A.Address.Addr() == k.B.Address.Addr() {
			l.at(f, "b.address", "duplicate", "both ends have the same transit address")
		}
	}
	for _, x := range ends {
		if !x.e.Address.IsValid() || len(k.Transit) == 0 {
			continue
		}
		inside := false
		for _, t := range k.Transit {
			if t.IsValid() && t.Contains(x.e.Address.Addr()) {
				inside = true
			}
		}
		if !inside {
			l.at(f, x.key+".address", "outside-transit", fmt.Sprintf("transit address %s is outside the link's transit prefixes", x.e.Address.Addr()))
		}
	}
	if k.A.Endpoint.IsZero() && k.B.Endpoint.IsZero() && k.A.Endpoint.err == nil && k.B.Endpoint.err == nil {
		l.at(f, "", "no-endpoint", "neither end has an endpoint, so neither can dial the other: set endpoint on the end that listens (e.g. the relay)")
	}
	// The same remote peer twice on one interface would collide.
	if okEnds == 2 && k.BGP != nil {
		validateBGP(n, k, l, pool, poolOK)
	}
}

func validateBGP(n *Network, k *Link, l *loader, pool [2]uint32, poolOK bool) {
	f := k.File
	b := k.BGP
	for i, a := range b.AFI {
		if a != "ipv6" && a != "ip" {
			l.at(f, fmt.Sprintf("bgp.afi[%d]", i), "invalid-value", fmt.Sprintf("afi must be \"ipv6\" or \"ip\", not %q", a))
		}
	}
	if !k.A.Address.IsValid() || !k.B.Address.IsValid() {
		l.at(f, "bgp", "required", "a BGP session runs between the transit addresses: set a.address and b.address")
	}
	asns := [2]uint32{}
	for i, x := range []struct {
		key string
		e   *BGPEnd
		le  *LinkEnd
	}{{"a", &b.A, &k.A}, {"b", &b.B, &k.B}} {
		s := n.Sites[x.le.Site]
		asn := x.e.ASN
		if asn == 0 {
			asn = s.ASN
		}
		if asn == 0 {
			l.at(f, "bgp."+x.key+".asn", "required", fmt.Sprintf("no ASN for %s: set bgp.%s.asn here or asn in sites/%s.toml", s.Name, x.key, s.Name))
		} else {
			l.checkASN(f, "bgp."+x.key+".asn", asn, pool, poolOK)
		}
		asns[i] = asn
		rid := x.e.RouterID
		if !rid.IsValid() {
			rid = s.RouterID
		}
		if rid.IsValid() && !rid.Is4() {
			l.at(f, "bgp."+x.key+".router_id", "invalid-value", "router_id must be written as an IPv4 address")
		}
		if !rid.IsValid() && s.Platform == "routeros" {
			l.at(f, "bgp."+x.key+".router_id", "required", fmt.Sprintf("RouterOS needs a router ID for %s: set bgp.%s.router_id or router_id in sites/%s.toml", s.Name, x.key, s.Name))
		}
		for j, np := range x.e.Networks {
			if np.IsValid() && len(x.e.Export) > 0 {
				exported := false
				for _, m := range x.e.Export {
					if m.Contains(np.Prefix) {
						exported = true
					}
				}
				if !exported {
					l.at(f, fmt.Sprintf("bgp.%s.networks[%d]", x.key, j), "not-exported", fmt.Sprintf("network %s is not allowed by bgp.%s.export, so it would never be announced", np, x.key))
				}
			}
		}
	}
	if asns[0] != 0 && asns[0] == asns[1] {
		l.at(f, "bgp.b.asn", "invalid-value", fmt.Sprintf("both ends use ASN %d; tether sets up eBGP sessions, which need different ASNs", asns[0]))
	}
}

func validatePeer(n *Network, p *Peer, l *loader) {
	f := p.File
	if !nameRe.MatchString(p.Name) {
		l.at(f, "", "invalid-name", fmt.Sprintf("peer name %q (from the file name) may only contain letters, digits, '-', '_' and '.'", p.Name))
	}
	l.checkText(f, "description", p.Description)
	switch p.Kind {
	case "", "phone", "laptop", "server", "provider":
	default:
		l.at(f, "kind", "invalid-value", fmt.Sprintf("kind must be phone, laptop, server or provider, not %q", p.Kind))
	}
	if p.PublicKey.IsZero() && p.PublicKey.err == nil {
		l.at(f, "public_key", "required", "public_key is required (the device's `wg pubkey` output)")
	}
	if p.Site == "" && p.Mesh == nil {
		l.at(f, "site", "required", "a peer connects to a site (site = \"...\") or belongs to a [mesh]")
	}
	if p.Site != "" {
		s := n.Sites[p.Site]
		switch {
		case s == nil && l.broken["site:"+p.Site]:
		case s == nil:
			l.at(f, "site", "unknown-site", fmt.Sprintf("no site %q (sites are %s)", p.Site, siteList(n)))
		case p.Interface == "":
			l.at(f, "interface", "required", "interface is required: the WireGuard interface of site "+p.Site)
		case s.wireguardOf(p.Interface) == nil:
			l.at(f, "interface", "unknown-interface", fmt.Sprintf("site %q has no WireGuard interface %q", p.Site, p.Interface))
		}
		if len(p.Addresses) == 0 && len(p.Allowed) == 0 {
			l.at(f, "addresses", "required", "addresses (the peer's tunnel addresses) or allowed is required")
		}
	}
	if p.Profile != nil {
		pr := p.Profile
		switch pr.Tunnel {
		case "", "split", "full":
		default:
			l.at(f, "profile.tunnel", "invalid-value", "tunnel must be \"split\" or \"full\"")
		}
		if p.Site == "" {
			l.at(f, "profile", "required", "a profile needs the site the device connects to")
		}
		if len(p.Addresses) == 0 {
			l.at(f, "addresses", "required", "a profile needs the device's own addresses")
		}
		l.checkMTU(f, "profile.mtu", pr.MTU)
		if s := n.Sites[p.Site]; s != nil && pr.Endpoint.IsZero() {
			if w := s.wireguardOf(p.Interface); w != nil && w.Endpoint.IsZero() {
				l.at(f, "profile.endpoint", "required", fmt.Sprintf("the device needs an endpoint to dial: set profile.endpoint or endpoint on %s's %s", p.Site, p.Interface))
			}
		}
	}
	if m := p.Mesh; m != nil {
		l.checkName(f, "mesh.name", "mesh name", m.Name)
		l.checkName(f, "mesh.interface", "mesh interface", m.Interface)
		if len(m.Interface) > 15 {
			l.at(f, "mesh.interface", "invalid-name", "Linux interface names are at most 15 characters")
		}
		if !m.Address.IsValid() && m.Address.err == nil {
			l.at(f, "mesh.address", "required", "mesh.address (the mesh tunnel address) is required")
		}
		if m.Endpoint.IsZero() && m.Endpoint.err == nil {
			l.at(f, "mesh.endpoint", "required", "mesh.endpoint (where other members dial this server) is required")
		}
		l.checkPort(f, "mesh.listen_port", m.ListenPort)
		l.checkMTU(f, "mesh.mtu", m.MTU)
	}
}
