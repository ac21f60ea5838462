package policy

import (
	"cmp"
	"net/netip"
	"time"
)

// Defaults used where neither the site, the link nor network.toml says otherwise.
const (
	DefaultMTU        = 1420
	DefaultListenPort = 51820
	DefaultKeepalive  = 25 * time.Second
	DefaultInstance   = "tether"
)

// DefaultHealth is what operators expect of a gate: a handshake older than
// three minutes means the tunnel is down; two minutes to become healthy.
var DefaultHealth = Health{
	HandshakeMaxAge: DurationOf(180 * time.Second),
	GateDeadline:    DurationOf(120 * time.Second),
	StableWindow:    DurationOf(10 * time.Second),
	DeadmanMargin:   DurationOf(60 * time.Second),
	PeerNoteWait:    DurationOf(60 * time.Second),
	HandshakeBudget: DurationOf(15 * time.Second),
	BGPBudget:       DurationOf(75 * time.Second),
	ProbeFailures:   3,
	WitnessWait:     DurationOf(60 * time.Second),
}

// Merge returns h with every unset field taken from base.
func (h Health) Merge(base Health) Health {
	pick := func(a, b Duration) Duration {
		if a.IsSet() {
			return a
		}
		return b
	}
	return Health{
		HandshakeMaxAge: pick(h.HandshakeMaxAge, base.HandshakeMaxAge),
		GateDeadline:    pick(h.GateDeadline, base.GateDeadline),
		StableWindow:    pick(h.StableWindow, base.StableWindow),
		DeadmanMargin:   pick(h.DeadmanMargin, base.DeadmanMargin),
		PeerNoteWait:    pick(h.PeerNoteWait, base.PeerNoteWait),
		HandshakeBudget: pick(h.HandshakeBudget, base.HandshakeBudget),
		BGPBudget:       pick(h.BGPBudget, base.BGPBudget),
		ProbeFailures:   cmp.Or(h.ProbeFailures, base.ProbeFailures),
		WitnessWait:     pick(h.WitnessWait, base.WitnessWait),
	}
}

// applyDefaults fills in every value left unset so renderers never guess.
func applyDefaults(n *Network) {
	d := &n.Defaults
	if d.MTU == 0 {
		d.MTU = DefaultMTU
	}
	if d.ListenPort == 0 {
		d.ListenPort = DefaultListenPort
	}
	if !d.Keepalive.IsSet() {
		d.Keepalive = DurationOf(DefaultKeepalive)
	}
	n.Health = n.Health.Merge(DefaultHealth)
	if n.Rollout.Drift == "" {
		n.Rollout.Drift = "repair"
	}
	for _, s := range n.Sites {
		applySiteDefaults(s, n)
	}
	for _, k := range n.Links {
		applyLinkDefaults(k, d)
	}
	for _, p := range n.Peers {
		applyPeerDefaults(p, d)
	}
}

// applySiteDefaults fills a site from the network's defaults and health,
// then each section's own defaults.
func applySiteDefaults(s *Site, n *Network) {
	if s.Platform == "routeros" && s.RouterOSVersion == "" {
		s.RouterOSVersion = n.Defaults.RouterOSVersion
	}
	if s.BGP.Instance == "" {
		s.BGP.Instance = DefaultInstance
	}
	s.Health = s.Health.Merge(n.Health)
	for i := range s.WireGuard {
		w := &s.WireGuard[i]
		if w.MTU == 0 {
			w.MTU = n.Defaults.MTU
		}
		if w.ListenPort == 0 {
			w.ListenPort = n.Defaults.ListenPort
		}
		if w.Table == "" {
			w.Table = "auto"
		}
	}
	for i := range s.RoutingTables {
		if s.RoutingTables[i].ID == 0 {
			s.RoutingTables[i].ID = TableID(s.RoutingTables[i].Name)
		}
	}
	for i := range s.Firewall {
		r := &s.Firewall[i]
		if r.Table == "" {
			r.Table = "filter"
		}
		if r.Family == "" {
			r.Family = ruleFamily(r)
		}
	}
	applyIPv6Defaults(s)
	applyServiceDefaults(s)
}

// applyIPv6Defaults: router advertisements offer on-link, autonomous
// prefixes, and ndppd picks its method itself, unless told otherwise.
func applyIPv6Defaults(s *Site) {
	for i := range s.RouterAdverts {
		ra := &s.RouterAdverts[i]
		if ra.OnLink == nil {
			ra.OnLink = boolPtr(true)
		}
		if ra.Autonomous == nil {
			ra.Autonomous = boolPtr(true)
		}
	}
	for i := range s.NDPProxy {
		if s.NDPProxy[i].Method == "" {
			s.NDPProxy[i].Method = "auto"
		}
	}
}

// applyServiceDefaults: probes send three packets; VRRP instances have
// keepalived's priority 100 and a one-second advertisement interval.
func applyServiceDefaults(s *Site) {
	for i := range s.Probes {
		if s.Probes[i].Count == 0 {
			s.Probes[i].Count = 3
		}
	}
	for i := range s.VRRP {
		s.VRRP[i] = s.VRRP[i].effective()
	}
}

// applyLinkDefaults fills a link's keepalive (network, then link, then
// end), whether each end routes the other's prefixes, and the BGP
// address families (that of the link addresses).
func applyLinkDefaults(k *Link, d *Defaults) {
	if !k.Keepalive.IsSet() {
		k.Keepalive = d.Keepalive
	}
	for _, e := range []*LinkEnd{&k.A, &k.B} {
		if !e.Keepalive.IsSet() {
			e.Keepalive = k.Keepalive
		}
		if e.Route == nil {
			// With a BGP session the routes come from BGP, not from AllowedIPs.
			e.Route = boolPtr(k.BGP == nil)
		}
	}
	if k.BGP != nil && len(k.BGP.AFI) == 0 {
		if k.A.Address.Addr().Is4() {
			k.BGP.AFI = []string{"ip"}
		} else {
			k.BGP.AFI = []string{"ipv6"}
		}
	}
}

// applyPeerDefaults: a peer is a laptop with a split tunnel unless it says
// otherwise; a mesh peer takes the network MTU and its endpoint's port.
func applyPeerDefaults(p *Peer, d *Defaults) {
	if p.Kind == "" {
		p.Kind = "laptop"
	}
	if p.Profile != nil && p.Profile.Tunnel == "" {
		p.Profile.Tunnel = "split"
	}
	if p.Mesh != nil {
		if p.Mesh.MTU == 0 {
			p.Mesh.MTU = d.MTU
		}
		if p.Mesh.ListenPort == 0 {
			p.Mesh.ListenPort = int(p.Mesh.Endpoint.Port)
		}
	}
}

func boolPtr(b bool) *bool { return &b }

// TableID derives a Linux routing table number from a table name, stable
// across renames of other tables: 1000 + FNV-1a(name) mod 1,000,000.
func TableID(name string) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return 1000 + int(h%1_000_000)
}

// ruleFamily infers ip / ipv6 / both from the addresses a rule matches.
func ruleFamily(r *FirewallRule) string {
	for _, p := range []Prefix{r.SrcAddress, r.DstAddress} {
		if p.IsValid() {
			if p.Addr().Is4() {
				return "ip"
			}
			return "ipv6"
		}
	}
	switch r.Protocol {
	case "icmp":
		return "ip"
	case "icmpv6":
		return "ipv6"
	}
	if a, err := netip.ParsePrefix(r.ToAddresses); err == nil {
		return map[bool]string{true: "ip", false: "ipv6"}[a.Addr().Is4()]
	}
	if a, err := netip.ParseAddr(r.ToAddresses); err == nil {
		return map[bool]string{true: "ip", false: "ipv6"}[a.Is4()]
	}
	return "both"
}
