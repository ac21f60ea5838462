package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// Lint checks found by running a Linux relay with BGP over WireGuard
// (issue 14): the routed-prefix trap without routed_prefixes declared, a
// default imported that nobody sends, and wg-quick routes on a link whose
// routes BGP carries.

// inferredRoutes is what site routes into its tunnels without declaring
// routed_prefixes: each link end's allowed prefixes and BGP imports, less
// default routes, host routes, and prefixes the site NDP-proxies (those are
// meant to be on the WAN). from names where each came from, for messages.
func inferredRoutes(n *Network, s *Site) (out []netip.Prefix, from map[netip.Prefix]string) {
	from = map[netip.Prefix]string{}
	add := func(p netip.Prefix, where string) {
		if !p.IsValid() || p.Bits() == 0 || p.Bits() == p.Addr().BitLen() {
			return
		}
		p = p.Masked()
		for _, x := range s.NDPProxy {
			if x.Prefix.IsValid() && x.Prefix.Overlaps(p) {
				return
			}
		}
		if _, dup := from[p]; !dup {
			from[p] = where
			out = append(out, p)
		}
	}
	for _, side := range n.LinksOf(s.Name) {
		for _, a := range side.Local.Allowed {
			add(a.Prefix, fmt.Sprintf("link %s allows it from %s", side.Link.Name, side.Remote.Site))
		}
		if side.LocalBGP != nil {
			for _, m := range side.LocalBGP.Import {
				add(m.Prefix, fmt.Sprintf("link %s imports it over BGP from %s", side.Link.Name, side.Remote.Site))
			}
		}
	}
	return out, from
}

// lintInferredRoutedOnWAN is TL001 for prefixes inferred from links: a WAN
// address whose connected prefix covers what the site routes into a
// tunnel makes the host answer for that prefix on the WAN (neighbour
// discovery for addresses that live behind the tunnel).
func lintInferredRoutedOnWAN(c lintRun, s *Site) {
	routed, from := inferredRoutes(c.n, s)
	for i, a := range s.Addresses {
		if !a.Address.IsValid() || !isWAN(s, a.Interface) || a.Address.Bits() == a.Address.Addr().BitLen() {
			continue
		}
		conn := a.Address.Masked()
		declared := false
		for _, rp := range s.RoutedPrefixes {
			declared = declared || rp.IsValid() && conn.Overlaps(rp.Prefix)
		}
		if declared {
			continue // TL001 already said so
		}
		for _, rp := range routed {
			// Only a connected prefix at least as short as the routed one
			// captures it; a more specific one inside an inferred
			// aggregate is the site's own subnet and wins by longest match.
			if conn.Bits() <= rp.Bits() && conn.Contains(rp.Addr()) {
				c.report(s.File, fmt.Sprintf("address[%d].address", i),
					"%s makes %s connected on WAN interface %s, but %s routes it into a tunnel (%s); configure the provider address as %s/%d and let the tunnel or BGP carry %s",
					a.Address, rp, a.Interface, s.Name, from[rp], a.Address.Addr(), a.Address.Addr().BitLen(), rp)
				break
			}
		}
	}
}

// lintDefaultImportNeverSent (TL021): a default imported that the far end
// never sends.
func lintDefaultImportNeverSent(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if x.bgp == nil {
			continue
		}
		for _, m := range x.bgp.Import {
			if !m.Prefix.IsValid() || m.Prefix.Bits() != 0 || m.Min != 0 || sendsDefault(x.far, m.Prefix) {
				continue
			}
			c.report(k.File, "bgp."+x.key+".import",
				"%s imports %s but %s neither originates a default (default_originate = true) nor exports %s; the session comes up without a default route",
				x.local.Site, m.Prefix, x.other.Site, m.Prefix)
		}
	}
}

// lintWGRouteOnBGPLink (TL022): wg-quick routes for what BGP carries.
func lintWGRouteOnBGPLink(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if x.bgp == nil || x.local.Route == nil || !*x.local.Route {
			continue
		}
		var dup []string
		for _, a := range x.local.Allowed {
			for _, m := range x.bgp.Import {
				if a.IsValid() && m.Prefix.IsValid() && a.Prefix.Bits() > 0 && m.Prefix.Contains(a.Prefix.Addr()) && a.Prefix.Bits() >= m.Prefix.Bits() {
					dup = append(dup, a.Prefix.String())
					break
				}
			}
		}
		if len(dup) > 0 {
			c.report(k.File, x.key+".route",
				"route = true makes wg-quick on %s install %s, which BGP imports from %s too; the static route stays when the session drops, so traffic is not withdrawn with it; remove route = true and let BGP own these routes",
				x.local.Site, strings.Join(dup, ", "), x.other.Site)
		}
	}
}

// sendsDefault reports whether far announces the default route of dflt's
// family: default_originate, or an export that matches length 0.
func sendsDefault(far *BGPEnd, dflt netip.Prefix) bool {
	if far.DefaultOriginate {
		return true
	}
	for _, m := range far.Export {
		if m.Prefix.IsValid() && m.Prefix.Bits() == 0 && m.Min == 0 && m.Prefix.Addr().Is4() == dflt.Addr().Is4() {
			return true
		}
	}
	return false
}

// RoutedPrefixes lists what site routes elsewhere rather than owning on a
// link: its declared routed_prefixes plus what its links' allowed
// addresses and BGP imports route into tunnels (less defaults, host routes
// and NDP-proxied prefixes). A connected route on the WAN that overlaps
// one of them is the routed-prefix trap.
func (n *Network) RoutedPrefixes(site string) []netip.Prefix {
	s := n.Sites[site]
	if s == nil {
		return nil
	}
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for _, rp := range s.RoutedPrefixes {
		if p := rp.Prefix.Masked(); rp.IsValid() && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	inferred, _ := inferredRoutes(n, s)
	for _, p := range inferred {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
