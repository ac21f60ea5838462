package policy

import (
	"fmt"
	"net/netip"
	"time"
)

// CheckKind names what a health check looks at.
type CheckKind string

const (
	CheckHandshake CheckKind = "handshake" // a WireGuard peer's last handshake is recent
	CheckBGP       CheckKind = "bgp"       // a BGP session is Established with the expected prefixes
	CheckRoute     CheckKind = "route"     // a route is present in the routing table
	CheckPing      CheckKind = "ping"      // a target answers ping from the site
	CheckTCP       CheckKind = "tcp"       // a target accepts a TCP connection from the site
)

// Check is one health check the gate runs at a site. Checks are derived
// from the model (every link and external peer the site dials, every BGP
// session, the prefixes it should learn) plus the probes a site declares.
type Check struct {
	Name     string // stable, e.g. "handshake wg-vps/home"
	Kind     CheckKind
	MustPass bool // false: reported, never causes a revert

	// Handshake checks.
	Interface string
	PeerName  string
	PublicKey Key
	MaxAge    time.Duration
	Dials     bool // this site initiates: expect a fresh handshake after the change

	// BGP checks: the session by its connection/protocol name and addresses.
	Session       string
	RemoteAddress netip.Addr
	RemoteASN     uint32
	Expect        []netip.Prefix // prefixes that must be received (import-filtered)

	// Route checks.
	Prefix netip.Prefix
	Table  string

	// Ping and TCP checks. On handshake checks, Target is an address
	// through the peer (its tunnel address) that traffic can be sent to,
	// to make WireGuard start a handshake; invalid when none is known.
	Target netip.Addr
	Source netip.Addr
	Port   int
	Count  int

	Link string // the link a check belongs to, for two-ended changes
}

// HealthChecks derives the gate's checks for a site. A peer without a
// public key (not yet bootstrapped) and external peers that dial in
// (phones, laptops) are reported but never must-pass: their absence is not
// the commit's fault.
func (n *Network) HealthChecks(site string) []Check {
	s := n.Sites[site]
	if s == nil {
		return nil
	}
	maxAge := s.Health.HandshakeMaxAge.Duration
	if maxAge == 0 {
		maxAge = DefaultHealth.HandshakeMaxAge.Duration
	}
	var out []Check
	for _, p := range n.WireGuardPeers(site) {
		c := Check{
			Name:      fmt.Sprintf("handshake %s/%s", p.Interface, p.Name),
			Kind:      CheckHandshake,
			Interface: p.Interface,
			PeerName:  p.Name,
			PublicKey: p.PublicKey,
			MaxAge:    maxAge,
			Dials:     p.Dials(),
			MustPass:  !p.PublicKey.IsZero() && (p.Link != nil || p.Dials()),
		}
		if p.Link != nil {
			c.Link = p.Link.Name
			c.Target = p.RemoteAddress
		} else if ext := p.External; ext != nil {
			for _, a := range ext.Addresses {
				if a.IsValid() {
					c.Target = a.Addr()
					break
				}
			}
		}
		out = append(out, c)
	}
	for _, bs := range n.BGPSessions(site) {
		var expect []netip.Prefix
		// The far end announces its networks (and ::/0 or 0.0.0.0/0 when it
		// originates a default); we expect those that pass our import filter.
		remote, _ := bs.Link.SideOf(bs.RemoteSite)
		var offered []netip.Prefix
		if remote.LocalBGP != nil {
			offered = append(offered, prefixes(remote.LocalBGP.Networks)...)
			if remote.LocalBGP.DefaultOriginate {
				if bs.RemoteAddress.Is4() {
					offered = append(offered, netip.MustParsePrefix("0.0.0.0/0"))
				} else {
					offered = append(offered, netip.MustParsePrefix("::/0"))
				}
			}
		}
		for _, p := range offered {
			for _, m := range bs.Import {
				if m.Contains(p) {
					expect = append(expect, p)
					break
				}
			}
		}
		sortPrefixes(expect)
		out = append(out, Check{
			Name:          "bgp " + bs.Name,
			Kind:          CheckBGP,
			MustPass:      true,
			Session:       bs.Name,
			RemoteAddress: bs.RemoteAddress,
			RemoteASN:     bs.RemoteASN,
			Expect:        expect,
			Link:          bs.Link.Name,
		})
	}
	for _, pr := range s.Probes {
		kind := CheckPing
		if pr.Type == "tcp" {
			kind = CheckTCP
		}
		out = append(out, Check{
			Name:     string(kind) + " " + pr.Name,
			Kind:     kind,
			MustPass: !pr.Optional,
			Target:   pr.Target.Addr,
			Source:   pr.Source.Addr,
			Port:     pr.Port,
			Count:    pr.Count,
		})
	}
	return out
}
