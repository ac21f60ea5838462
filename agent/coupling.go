package agent

import (
	"fmt"
	"strings"

	"github.com/tether-net/tether/policy"
)

// twoEndedLinks names the links of site whose far end the change from prev
// to n also changes, judged by what the change does rather than by which
// files moved: the far site's configuration for the link (its WireGuard
// interface and peer, its transit addresses, its BGP session and instance,
// its routes and firewall rules on the link's interface) is derived
// from both networks and compared, so a change in this site's own file
// (its ASN is the far end's remote AS), in network.toml (defaults) or in
// the link file counts exactly when it reaches the far end. With no prior
// network every link is two-ended: a bootstrap brings up both ends
// together.
func twoEndedLinks(prev, n *policy.Network, site string) map[string]bool {
	out := map[string]bool{}
	for _, side := range n.LinksOf(site) {
		name, far := side.Link.Name, side.Remote.Site
		if prev == nil || prev.Links[name] == nil || farEndView(prev, far, name) != farEndView(n, far, name) {
			out[name] = true
		}
	}
	return out
}

// farEndView is everything site renders for link, as one comparable
// string: the model views both renderers build the link's items from.
// Rendering proper is per platform and folds link facts into site-wide
// items (RouterOS 7.20+ keeps the AS in the BGP instance, wg-quick keeps
// every peer in one file), so the items cannot be told apart by link; the
// views can. Comments are left out: they never decide whether a link is up.
func farEndView(n *policy.Network, site, link string) string {
	s := n.Sites[site]
	k := n.Links[link]
	if s == nil || k == nil {
		return ""
	}
	side, ok := k.SideOf(site)
	if !ok {
		return ""
	}
	var b strings.Builder
	// The platform and version decide how every item is rendered.
	fmt.Fprintf(&b, "platform %s %s\n", s.Platform, s.RouterOSVersion)
	iface := side.Local.Interface
	for _, f := range s.Firewall {
		if strings.TrimPrefix(f.InInterface, "!") == iface || strings.TrimPrefix(f.OutInterface, "!") == iface {
			pass := "unset"
			if f.Passthrough != nil {
				pass = fmt.Sprint(*f.Passthrough)
			}
			f.Passthrough, f.Comment = nil, ""
			fmt.Fprintf(&b, "firewall %+v passthrough=%v\n", f, pass)
		}
	}
	for _, r := range s.Routes {
		if r.Gateway == iface {
			r.Comment = ""
			fmt.Fprintf(&b, "route %+v\n", r)
		}
	}
	if w := s.WireGuardInterface(iface); w != nil {
		wg := *w
		// A RouterOS router keeps the key it generated whatever the model
		// says; only a Linux site's key file follows a new public key.
		if s.Platform != "linux" {
			wg.PublicKey = policy.Key{}
		}
		wg.Comment = ""
		fmt.Fprintf(&b, "interface %+v\naddresses %v\n", wg, n.WireGuardAddresses(site, iface))
	}
	for _, p := range n.WireGuardPeers(site) {
		if p.Link != nil && p.Link.Name == link {
			p.Link, p.Comment = nil, ""
			fmt.Fprintf(&b, "peer %+v\n", p)
		}
	}
	for _, bs := range n.BGPSessions(site) {
		if bs.Link != nil && bs.Link.Name == link {
			bs.Link = nil
			// RouterOS 7.20+ connections name their instance.
			fmt.Fprintf(&b, "bgp %+v instance=%s\n", bs, s.BGP.Instance)
		}
	}
	return b.String()
}
