package policy

import (
	"net/netip"
	"sort"
	"time"
)

// The views below derive per-site facts from the whole network, so both
// renderers and the health gate read one answer to "who are my peers".

// WGPeer is one peer of a site's WireGuard interface, from a link or an
// external peer declaration.
type WGPeer struct {
	Interface     string
	Name          string // the peer item's name on this site
	PublicKey     Key
	Allowed       []netip.Prefix
	Endpoint      Endpoint      // set when this site dials the peer
	Keepalive     time.Duration // 0 = off
	Route         bool          // install routes for Allowed
	Exit          bool          // other devices' traffic leaves through this peer (see Exit)
	Comment       string
	Link          *Link // nil for external peers
	External      *Peer // nil for link peers
	RemoteSite    string
	RemoteAddress netip.Addr // the far end's transit address (links only)
}

// Dials reports whether this site initiates the handshake to the peer.
func (p WGPeer) Dials() bool { return !p.Endpoint.IsZero() }

// LinkSide is a link seen from one of its sites.
type LinkSide struct {
	Link          *Link
	Local, Remote *LinkEnd
	LocalBGP      *BGPEnd // nil without a session
	RemoteBGP     *BGPEnd
}

// SideOf returns the link as seen from site, and false if site is not an end.
func (k *Link) SideOf(site string) (LinkSide, bool) {
	side := LinkSide{Link: k}
	switch site {
	case k.A.Site:
		side.Local, side.Remote = &k.A, &k.B
		if k.BGP != nil {
			side.LocalBGP, side.RemoteBGP = &k.BGP.A, &k.BGP.B
		}
	case k.B.Site:
		side.Local, side.Remote = &k.B, &k.A
		if k.BGP != nil {
			side.LocalBGP, side.RemoteBGP = &k.BGP.B, &k.BGP.A
		}
	default:
		return side, false
	}
	return side, true
}

// LinksOf returns every link the site is an end of, sorted by name.
func (n *Network) LinksOf(site string) []LinkSide {
	var out []LinkSide
	names := n.linksBySite[site]
	if n.linksBySite == nil {
		names = sortedKeys(n.Links)
	}
	for _, name := range names {
		if side, ok := n.Links[name].SideOf(site); ok {
			out = append(out, side)
		}
	}
	return out
}

// indexLinks builds linksBySite; call it after the links are final.
func (n *Network) indexLinks() {
	n.linksBySite = map[string][]string{}
	for _, name := range sortedKeys(n.Links) {
		k := n.Links[name]
		n.linksBySite[k.A.Site] = append(n.linksBySite[k.A.Site], name)
		if k.B.Site != k.A.Site {
			n.linksBySite[k.B.Site] = append(n.linksBySite[k.B.Site], name)
		}
	}
}

// PeerName is the name of the peer item for the remote end on this side.
func (s LinkSide) PeerName() string {
	if s.Local.PeerName != "" {
		return s.Local.PeerName
	}
	return s.Remote.Site
}

// hostPrefix turns an interface address into the single-address prefix.
func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// AllowedFor is what the local end accepts from the remote end.
func (s LinkSide) AllowedFor() []netip.Prefix {
	if len(s.Local.Allowed) > 0 {
		return prefixes(s.Local.Allowed)
	}
	if s.Remote.Address.IsValid() {
		return []netip.Prefix{hostPrefix(s.Remote.Address.Addr())}
	}
	return nil
}

func prefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p.Prefix)
		}
	}
	return out
}

// Prefixes returns the plain prefixes of a list of Prefix values.
func Prefixes(ps []Prefix) []netip.Prefix { return prefixes(ps) }

// WireGuardPeers returns every peer of every WireGuard interface of a site:
// first link peers (by link name), then external peers (by name), then mesh
// members are not included (they are servers' own profiles).
func (n *Network) WireGuardPeers(site string) []WGPeer {
	s := n.Sites[site]
	if s == nil {
		return nil
	}
	var out []WGPeer
	for _, side := range n.LinksOf(site) {
		remote := n.Sites[side.Remote.Site]
		var key Key
		if remote != nil {
			if w := remote.wireguardOf(side.Remote.Interface); w != nil {
				key = w.PublicKey
			}
		}
		p := WGPeer{
			Interface:     side.Local.Interface,
			Name:          side.PeerName(),
			PublicKey:     key,
			Allowed:       side.AllowedFor(),
			Endpoint:      side.Remote.Endpoint,
			Keepalive:     side.Local.Keepalive.Duration,
			Route:         side.Local.Route == nil || *side.Local.Route,
			Comment:       side.Link.Description,
			Link:          side.Link,
			RemoteSite:    side.Remote.Site,
			RemoteAddress: side.Remote.Address.Addr(),
		}
		out = append(out, p)
	}
	for _, name := range sortedKeys(n.Peers) {
		ep := n.Peers[name]
		if ep.Site != site {
			continue
		}
		allowed := prefixes(ep.Allowed)
		if len(allowed) == 0 {
			for _, a := range ep.Addresses {
				if a.IsValid() {
					allowed = append(allowed, hostPrefix(a.Addr()))
				}
			}
		}
		comment := ep.Description
		out = append(out, WGPeer{
			Interface: ep.Interface,
			Name:      ep.Name,
			PublicKey: ep.PublicKey,
			Allowed:   allowed,
			Endpoint:  ep.Endpoint,
			Keepalive: ep.Keepalive.Duration,
			Route:     true,
			Comment:   comment,
			External:  ep,
		})
	}
	withExitDefaults(out, n.Exits(site))
	return out
}

// WireGuardAddresses returns the addresses of a site's WireGuard interface:
// its declared addresses plus the transit address of every link on it,
// without duplicates, in declaration order.
func (n *Network) WireGuardAddresses(site, iface string) []netip.Prefix {
	s := n.Sites[site]
	if s == nil {
		return nil
	}
	w := s.wireguardOf(iface)
	if w == nil {
		return nil
	}
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		if p.IsValid() && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, a := range w.Addresses {
		add(a.Prefix)
	}
	for _, side := range n.LinksOf(site) {
		if side.Local.Interface == iface {
			add(side.Local.Address.Prefix)
		}
	}
	return out
}

// BGPSession is one eBGP session of a site, resolved from its link.
type BGPSession struct {
	Link             *Link
	Name             string // connection name: the peer name on this site
	Interface        string
	RemoteSite       string
	LocalASN         uint32
	RemoteASN        uint32
	RouterID         netip.Addr
	LocalAddress     netip.Addr
	RemoteAddress    netip.Addr
	Import, Export   []PrefixMatch
	Networks         []netip.Prefix
	DefaultOriginate bool
	AFI              []string
	Holdtime         time.Duration
}

// BGPSessions returns the site's sessions sorted by link name.
func (n *Network) BGPSessions(site string) []BGPSession {
	s := n.Sites[site]
	if s == nil {
		return nil
	}
	var out []BGPSession
	for _, side := range n.LinksOf(site) {
		if side.LocalBGP == nil {
			continue
		}
		remote := n.Sites[side.Remote.Site]
		bs := BGPSession{
			Link:             side.Link,
			Name:             side.PeerName(),
			Interface:        side.Local.Interface,
			RemoteSite:       side.Remote.Site,
			LocalASN:         firstNonZero(side.LocalBGP.ASN, s.ASN),
			RouterID:         side.LocalBGP.RouterID.Addr,
			LocalAddress:     side.Local.Address.Addr(),
			RemoteAddress:    side.Remote.Address.Addr(),
			Import:           side.LocalBGP.Import,
			Export:           side.LocalBGP.Export,
			Networks:         prefixes(side.LocalBGP.Networks),
			DefaultOriginate: side.LocalBGP.DefaultOriginate,
			AFI:              side.Link.BGP.AFI,
			Holdtime:         side.LocalBGP.Holdtime.Duration,
		}
		if !bs.RouterID.IsValid() {
			bs.RouterID = s.RouterID.Addr
		}
		if remote != nil {
			bs.RemoteASN = firstNonZero(side.RemoteBGP.ASN, remote.ASN)
		}
		out = append(out, bs)
	}
	return out
}

func firstNonZero(xs ...uint32) uint32 {
	for _, x := range xs {
		if x != 0 {
			return x
		}
	}
	return 0
}

// MeshMembers returns the peers of a mesh, sorted by name.
func (n *Network) MeshMembers(mesh string) []*Peer {
	var out []*Peer
	for _, name := range sortedKeys(n.Peers) {
		if p := n.Peers[name]; p.Mesh != nil && p.Mesh.Name == mesh {
			out = append(out, p)
		}
	}
	return out
}

// SiteNames returns the sites sorted by name.
func (n *Network) SiteNames() []string { return sortedKeys(n.Sites) }

// LinkNames returns the links sorted by name.
func (n *Network) LinkNames() []string { return sortedKeys(n.Links) }

// PeerNames returns the external peers sorted by name.
func (n *Network) PeerNames() []string { return sortedKeys(n.Peers) }

// sortPrefixes orders prefixes for deterministic output.
func sortPrefixes(ps []netip.Prefix) {
	sort.Slice(ps, func(i, j int) bool {
		if c := ps[i].Addr().Compare(ps[j].Addr()); c != 0 {
			return c < 0
		}
		return ps[i].Bits() < ps[j].Bits()
	})
}
