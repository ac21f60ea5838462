package rossim

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fabric is the lab shared by simulated routers (Config.Fabric): what each
// router's configuration says, published on every refresh, so that the
// routers on it see each other as far ends instead of scenario FarEnds.
//
//   - WireGuard (without a Dataplane): a peer shakes hands with another
//     router when that router has an enabled WireGuard interface whose
//     public key is the peer's, an enabled peer on it carrying this
//     interface's public key, and at least one of the two peers has an
//     endpoint that is the other router's address and listen port. With a
//     Dataplane the real handshake decides instead.
//   - BGP: connection c of router A and connection d of router B form a
//     session when c's remote.address is B's address on a live tunnel to B,
//     A's address on that tunnel (c's local.address if set) is d's
//     remote.address, d's local.address is unset or c's remote.address,
//     and each end's remote.as is the other's local AS. Both connections,
//     their instances and the tunnel must be enabled.
//   - Announcements: B sends on d the entries of d's output.network
//     address list for which B has an active non-BGP route of exactly
//     that prefix, plus the default route of each address family when
//     output.default-originate is always (if-installed: when B has an
//     active default of that family), all through d's output.filter-chain;
//     only the families both ends' afi name pass. A takes what its
//     input.filter accepts into /ip/route or /ipv6/route (flag bgp).
//     Connection attributes not set on a connection are taken from the
//     templates it names, in order.
//
// Routers read each other's published view, never each other's tables, so
// no router's lock is held while another's is taken: a change at one
// router is seen by the others at their next refresh (a command or a
// Tick). output.redistribute, route attributes other than the destination
// and filter actions other than accept and reject are not simulated.
type Fabric struct {
	// HandshakeAfter delays a simulated handshake from when both peers'
	// configuration matches; EstablishAfter delays a session from when it
	// becomes possible.
	HandshakeAfter, EstablishAfter time.Duration

	mu    sync.Mutex
	order []*Sim
	views map[*Sim]*routerView
}

// NewFabric returns an empty fabric; routers join it through Config.Fabric.
func NewFabric() *Fabric { return &Fabric{views: map[*Sim]*routerView{}} }

// Leave takes a router off the fabric, as if it were switched off: its far
// ends lose their handshakes and sessions with it at their next refresh.
func (f *Fabric) Leave(s *Sim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.views, s)
	f.order = slices.DeleteFunc(f.order, func(o *Sim) bool { return o == s })
}

func (f *Fabric) publish(s *Sim, v *routerView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.views[s]; !ok {
		f.order = append(f.order, s)
	}
	f.views[s] = v
}

func (f *Fabric) self(s *Sim) *routerView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.views[s]
}

// others returns the other routers' views in the order they joined.
func (f *Fabric) others(s *Sim) []*routerView {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*routerView
	for _, o := range f.order {
		if o != s {
			out = append(out, f.views[o])
		}
	}
	return out
}

// routerView is what a router on a fabric shows the others. Immutable once
// published.
type routerView struct {
	ifaces []wgIfaceView
	peers  []wgPeerView
	addrs  []netip.Prefix // enabled addresses, with their prefix length
	conns  []connView
}

type wgIfaceView struct {
	name, publicKey, listenPort string
}

type wgPeerView struct {
	iface, publicKey, endpoint, port string
}

type connView struct {
	name              string
	remote            netip.Addr
	local             string // configured local.address; "" for any
	localAS, remoteAS string
	families          []int // 4 and/or 6
	routerID          string
	exports           []netip.Prefix // after output.filter-chain
}

func (v *routerView) owns(a netip.Addr) bool {
	return slices.ContainsFunc(v.addrs, func(p netip.Prefix) bool { return p.Addr() == a })
}

func (v *routerView) iface(pub string) (wgIfaceView, bool) {
	i := slices.IndexFunc(v.ifaces, func(w wgIfaceView) bool { return w.publicKey == pub })
	if i < 0 {
		return wgIfaceView{}, false
	}
	return v.ifaces[i], true
}

// view builds the router's view from its tables. Called with s.mu held.
func (s *Sim) view() *routerView {
	v := &routerView{}
	for _, it := range s.tableFor("/interface").items {
		if it.attrs["type"] == "wg" && it.attrs["disabled"] != "true" {
			v.ifaces = append(v.ifaces, wgIfaceView{name: it.attrs["name"], publicKey: it.attrs["public-key"], listenPort: it.attrs["listen-port"]})
		}
	}
	for _, p := range s.tableFor("/interface/wireguard/peers").items {
		if p.attrs["disabled"] != "true" {
			v.peers = append(v.peers, wgPeerView{iface: p.attrs["interface"], publicKey: p.attrs["public-key"],
				endpoint: p.attrs["endpoint-address"], port: p.attrs["endpoint-port"]})
		}
	}
	for _, menu := range []string{"/ip/address", "/ipv6/address"} {
		for _, a := range s.tableFor(menu).items {
			if p, ok := parseAddrPrefix(a.attrs["address"], 0); ok && a.attrs["disabled"] != "true" && s.iface(a.attrs["interface"]) != nil {
				v.addrs = append(v.addrs, p)
			}
		}
	}
	for _, c := range s.tableFor("/routing/bgp/connection").items {
		remote, ok := parseAddrOnly(c.attrs["remote.address"], 0)
		localAS, instOK := s.connLocalAS(c)
		if !ok || !instOK || c.attrs["disabled"] == "true" {
			continue
		}
		routerID := s.connAttr(c, "router-id")
		if inst := s.findByName("/routing/bgp/instance", c.attrs["instance"]); inst != nil && routerID == "" {
			routerID = inst.attrs["router-id"]
		}
		v.conns = append(v.conns, connView{name: c.attrs["name"], remote: remote, local: c.attrs["local.address"],
			localAS: localAS, remoteAS: c.attrs["remote.as"], families: s.connFamilies(c), routerID: routerID, exports: s.exports(c)})
	}
	return v
}

// connAttr is a connection attribute, or when unset the first value in the
// templates the connection names.
func (s *Sim) connAttr(c *item, key string) string {
	if v := c.attrs[key]; v != "" {
		return v
	}
	for t := range strings.SplitSeq(c.attrs["templates"], ",") {
		if tpl := s.findByName("/routing/bgp/template", t); tpl != nil && tpl.attrs[key] != "" && tpl.attrs["disabled"] != "true" {
			return tpl.attrs[key]
		}
	}
	return ""
}

// connLocalAS is the connection's AS (its own, its template's, else its
// instance's); ok is false when its instance is disabled.
func (s *Sim) connLocalAS(c *item) (as string, ok bool) {
	as = s.connAttr(c, "as")
	if inst := s.findByName("/routing/bgp/instance", c.attrs["instance"]); inst != nil {
		if as == "" {
			as = inst.attrs["as"]
		}
		if inst.attrs["disabled"] == "true" {
			return as, false
		}
	}
	return as, true
}

// connFamilies reads afi (7.20+) or address-families; unset means ip.
func (s *Sim) connFamilies(c *item) []int {
	list := cmpOr(s.connAttr(c, "afi"), s.connAttr(c, "address-families"), "ip")
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		switch f {
		case "ip":
			out = append(out, 4)
		case "ipv6":
			out = append(out, 6)
		}
	}
	return out
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func defaultRoute(family int) netip.Prefix {
	if family == 4 {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
}

func familyOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// exports is what connection c announces: its output.network prefixes that
// have an active route, the originated defaults, through its output filter.
func (s *Sim) exports(c *item) []netip.Prefix {
	fams := s.connFamilies(c)
	var cands []netip.Prefix
	add := func(p netip.Prefix) {
		if slices.Contains(fams, familyOf(p)) && !slices.Contains(cands, p) {
			cands = append(cands, p)
		}
	}
	if list := s.connAttr(c, "output.network"); list != "" {
		for _, menu := range []string{"/ip/firewall/address-list", "/ipv6/firewall/address-list"} {
			for _, e := range s.tableFor(menu).items {
				p, ok := parseAddrPrefix(e.attrs["address"], 0)
				if ok && e.attrs["list"] == list && e.attrs["disabled"] != "true" && s.activeRoute(p.Masked()) {
					add(p.Masked())
				}
			}
		}
	}
	switch s.connAttr(c, "output.default-originate") {
	case "always":
		for _, f := range fams {
			add(defaultRoute(f))
		}
	case "if-installed":
		for _, f := range fams {
			if s.activeRoute(defaultRoute(f)) {
				add(defaultRoute(f))
			}
		}
	}
	return s.filterPrefixes(s.connAttr(c, "output.filter-chain"), cands)
}

// activeRoute reports an enabled static or connected route of exactly p in
// table main; routes learnt by BGP do not count (output.network originates
// from the router's own routes).
func (s *Sim) activeRoute(p netip.Prefix) bool {
	menu := "/ipv6/route"
	if p.Addr().Is4() {
		menu = "/ip/route"
	}
	for _, r := range s.tableFor(menu).items {
		dst, ok := parseAddrPrefix(r.attrs["dst-address"], 0)
		if !ok || dst.Masked() != p || r.attrs["disabled"] == "true" || r.attrs["bgp"] == "true" {
			continue
		}
		if t := r.attrs["routing-table"]; t != "" && t != "main" {
			continue
		}
		return true
	}
	return false
}

// fabricPeer finds the router at the far end of WireGuard peer p (on
// interface ifc) and whether both ends' configuration lets them shake
// hands; it returns the far end's endpoint as this router would see it.
func (s *Sim) fabricPeer(p, ifc *item) (farLink, bool) {
	if s.cfg.Fabric == nil || ifc == nil || ifc.attrs["disabled"] == "true" || p.attrs["disabled"] == "true" {
		return farLink{}, false
	}
	own := s.cfg.Fabric.self(s)
	for _, v := range s.cfg.Fabric.others(s) {
		far, ok := v.iface(p.attrs["public-key"])
		if !ok {
			continue
		}
		for _, q := range v.peers {
			if q.iface != far.name || q.publicKey != ifc.attrs["public-key"] {
				continue
			}
			weDial := endpointIs(p.attrs["endpoint-address"], p.attrs["endpoint-port"], v, far.listenPort)
			theyDial := own != nil && endpointIs(q.endpoint, q.port, own, ifc.attrs["listen-port"])
			if !weDial && !theyDial {
				continue
			}
			l := farLink{id: "fabric/" + far.publicKey, handshakeAfter: s.cfg.Fabric.HandshakeAfter}
			l.endpointAddr, l.endpointPort = p.attrs["endpoint-address"], portNum(p.attrs["endpoint-port"])
			if !weDial {
				// They dial in: we see them from their first address.
				l.endpointAddr, l.endpointPort = firstAddr(v), portNum(far.listenPort)
			}
			return l, true
		}
	}
	return farLink{}, false
}

func endpointIs(addr, port string, v *routerView, listenPort string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && port == listenPort && v.owns(a)
}

func firstAddr(v *routerView) string {
	for _, p := range v.addrs {
		if p.Addr().Is4() {
			return p.Addr().String()
		}
	}
	if len(v.addrs) > 0 {
		return v.addrs[0].Addr().String()
	}
	return ""
}

func portNum(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// fabricSession finds the far connection matching c over a live tunnel.
// found is false when no router on the fabric answers c at all; ok is
// false when one does but the two connections disagree (AS).
func (s *Sim) fabricSession(c *item, remote netip.Addr, localAS string, now time.Time) (far bgpFar, local netip.Addr, found, ok bool) {
	if s.cfg.Fabric == nil {
		return far, local, false, false
	}
	others := s.cfg.Fabric.others(s)
	for _, p := range s.tableFor("/interface/wireguard/peers").items {
		if !s.peerUp(p, now) || !allowedContains(p.attrs["allowed-address"], remote) {
			continue
		}
		addr, has := s.routerAddrOn(p.attrs["interface"], remote)
		if !has {
			continue
		}
		if la := c.attrs["local.address"]; la != "" && la != addr.String() {
			continue
		}
		for _, v := range others {
			if _, ok := v.iface(p.attrs["public-key"]); !ok || !v.owns(remote) {
				continue
			}
			for _, d := range v.conns {
				if d.remote != addr || (d.local != "" && d.local != remote.String()) {
					continue
				}
				far = bgpFar{id: "fabric/" + p.attrs["public-key"] + "/" + d.name, establishAfter: s.cfg.Fabric.EstablishAfter,
					remoteID: cmpOr(d.routerID, remote.String())}
				fams := s.connFamilies(c)
				for _, e := range d.exports {
					if slices.Contains(fams, familyOf(e)) {
						far.announces = append(far.announces, e)
					}
				}
				return far, addr, true, c.attrs["remote.as"] == d.localAS && d.remoteAS == localAS
			}
		}
	}
	return far, local, false, false
}

// fabricReachable reports whether a is another router's address on a live
// tunnel of this one (a ping to the far end of a link).
func (s *Sim) fabricReachable(a netip.Addr, now time.Time) bool {
	if s.cfg.Fabric == nil {
		return false
	}
	for _, v := range s.cfg.Fabric.others(s) {
		if !v.owns(a) {
			continue
		}
		for _, p := range s.tableFor("/interface/wireguard/peers").items {
			if _, ok := v.iface(p.attrs["public-key"]); !ok || !s.peerUp(p, now) || !allowedContains(p.attrs["allowed-address"], a) {
				continue
			}
			if _, ok := s.routerAddrOn(p.attrs["interface"], a); ok {
				return true
			}
		}
	}
	return false
}
