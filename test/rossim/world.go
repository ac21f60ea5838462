package rossim

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// World describes what lies beyond the router: the far ends of its
// WireGuard tunnels and BGP sessions. Read-side state (handshakes, sessions,
// learned routes, ping answers) is computed from it and the router's config.
type World struct {
	FarEnds []FarEnd `toml:"far-end" json:"far-ends,omitempty"`
	// Reachable lists addresses or prefixes /ping always answers for.
	Reachable []string `toml:"reachable" json:"reachable,omitempty"`
}

// FarEnd is the other side of one tunnel (and optionally one BGP session).
type FarEnd struct {
	Name string `toml:"name" json:"name"`
	// PublicKey is the far end's WireGuard public key; the router's peer
	// must carry it.
	PublicKey string `toml:"public-key" json:"public-key"`
	// AcceptKey is the router interface public key the far end is
	// configured with; AcceptAnyKey accepts whatever key the router has.
	AcceptKey    string `toml:"accept-key" json:"accept-key,omitempty"`
	AcceptAnyKey bool   `toml:"accept-any-key" json:"accept-any-key,omitempty"`
	// EndpointAddress/EndpointPort are where the far end listens; the
	// router's peer must point there unless DialsIn.
	EndpointAddress string `toml:"endpoint-address" json:"endpoint-address,omitempty"`
	EndpointPort    int    `toml:"endpoint-port" json:"endpoint-port,omitempty"`
	// DialsIn: the far end initiates (router behind no NAT); it expects the
	// router interface to listen on ExpectListenPort (0 = any).
	DialsIn          bool `toml:"dials-in" json:"dials-in,omitempty"`
	ExpectListenPort int  `toml:"expect-listen-port" json:"expect-listen-port,omitempty"`
	// TransitAddress is the far end's address inside the tunnel: the
	// router's BGP connection remote.address must equal it.
	TransitAddress string `toml:"transit-address" json:"transit-address,omitempty"`
	// ASN is the far end's AS (the router's remote.as must match);
	// ExpectRouterASN, when set, is the AS it expects the router to have.
	ASN             uint32 `toml:"asn" json:"asn,omitempty"`
	ExpectRouterASN uint32 `toml:"expect-router-asn" json:"expect-router-asn,omitempty"`
	// Announces are the prefixes the far end sends over BGP.
	Announces []string `toml:"announces" json:"announces,omitempty"`
	// Accepts are the prefixes the far end takes from the router. A world
	// far end does not judge the router's outbound announcements; the list
	// is carried for scenarios. Routers on a Fabric do: there each far end
	// receives what the router's filters export.
	Accepts []string `toml:"accepts" json:"accepts,omitempty"`
	// HandshakeAfter and EstablishAfter delay the handshake (from when the
	// config matches) and the BGP session (from when its tunnel is up).
	HandshakeAfter Duration `toml:"handshake-after" json:"handshake-after,omitempty"`
	EstablishAfter Duration `toml:"establish-after" json:"establish-after,omitempty"`
	// Down makes the far end unreachable regardless of config.
	Down bool `toml:"down" json:"down,omitempty"`
}

// Duration is a time.Duration that reads "5s"-style text in TOML and JSON.
type Duration time.Duration

// UnmarshalText parses Go or RouterOS duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		if v, err = ParseDuration(string(b)); err != nil {
			return err
		}
	}
	*d = Duration(v)
	return nil
}

// MarshalText prints Go duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// handshakeEvery is WireGuard's rekey interval: with traffic or keepalives
// a live tunnel's last-handshake never grows past it.
const handshakeEvery = 2 * time.Minute

// handshakeLive is how old the last handshake may be for a tunnel to count
// as up, simulated or real: WireGuard rejects a session after 3 minutes.
const handshakeLive = 3 * time.Minute

type peerState struct {
	matching bool
	since    time.Time // when the config started matching
	first    time.Time // first handshake of the current match
	last     time.Time // latest handshake (kept after the match ends)
	far      string    // farLink.id of the current match
}

type sessState struct {
	ok    bool
	far   string    // bgpFar.id of the current match
	since time.Time // when the session became possible
	up    time.Time // when it established (zero if not)
}

// farLink is the far end of a WireGuard peer whose configuration matches:
// a world FarEnd or another router on the fabric.
type farLink struct {
	id             string
	handshakeAfter time.Duration
	endpointAddr   string
	endpointPort   int
}

// bgpFar is the far end of a BGP session that can establish.
type bgpFar struct {
	id             string
	establishAfter time.Duration
	announces      []netip.Prefix // before this router's input.filter
	remoteID       string
}

type derivedRow struct {
	key   string
	attrs map[string]string
}

// refresh recomputes world-derived state at now. Called with s.mu held
// before and after every command and on every tick.
func (s *Sim) refresh(now time.Time) {
	if s.cfg.Fabric != nil {
		s.cfg.Fabric.publish(s, s.view())
	}
	if s.cfg.Dataplane != nil {
		s.syncDataplane(now)
		s.refreshPeersDataplane(now)
	} else {
		s.refreshPeers(now)
	}
	routes4, routes6 := s.connectedRoutes()
	sessions, bgp4, bgp6 := s.refreshBGP(now)
	s.syncDerived("/ip/route", append(routes4, bgp4...))
	s.syncDerived("/ipv6/route", append(routes6, bgp6...))
	s.syncDerived("/routing/bgp/session", sessions)
	s.refreshSingleton("/system/resource")
	s.refreshSingleton("/system/clock")
}

func (s *Sim) iface(name string) *item { return s.findByName("/interface", name) }

func (s *Sim) farByKey(pub string) int {
	return slices.IndexFunc(s.world.FarEnds, func(f FarEnd) bool { return f.PublicKey == pub })
}

func (s *Sim) refreshPeers(now time.Time) {
	seen := map[uint64]bool{}
	for _, p := range s.tableFor("/interface/wireguard/peers").items {
		seen[p.id] = true
		st := s.wg[p.id]
		if st == nil {
			st = &peerState{}
			s.wg[p.id] = st
		}
		far, match := s.peerFar(p)
		switch {
		case match && (!st.matching || st.far != far.id):
			st.matching, st.since, st.first, st.far = true, now, time.Time{}, far.id
		case !match:
			st.matching = false
		}
		if st.matching {
			if hs := st.since.Add(far.handshakeAfter); !now.Before(hs) {
				if st.first.IsZero() {
					st.first = hs
				}
				st.last = st.first.Add(now.Sub(st.first) / handshakeEvery * handshakeEvery)
				p.attrs["current-endpoint-address"] = far.endpointAddr
				p.attrs["current-endpoint-port"] = strconv.Itoa(far.endpointPort)
				// Keepalive-sized traffic: 148 bytes at handshake, 32 per 25 s.
				n := int64(now.Sub(st.first) / (25 * time.Second))
				p.attrs["rx"] = strconv.FormatInt(148+32*n, 10)
				p.attrs["tx"] = strconv.FormatInt(148+32*n, 10)
			}
		}
		if !st.last.IsZero() {
			p.attrs["last-handshake"] = FormatDuration(now.Sub(st.last))
		} else {
			delete(p.attrs, "last-handshake")
		}
	}
	for id := range s.wg {
		if !seen[id] {
			delete(s.wg, id)
		}
	}
}

// peerFar finds the far end peer p shakes hands with: the world's far end
// with its public key, else a router on the fabric.
func (s *Sim) peerFar(p *item) (farLink, bool) {
	if fi := s.farByKey(p.attrs["public-key"]); fi >= 0 {
		far := &s.world.FarEnds[fi]
		if !s.peerMatches(p, far) {
			return farLink{}, false
		}
		l := farLink{id: "world/" + strconv.Itoa(fi) + "/" + far.Name, handshakeAfter: time.Duration(far.HandshakeAfter),
			endpointAddr: far.EndpointAddress, endpointPort: far.EndpointPort}
		if far.DialsIn && l.endpointAddr == "" {
			l.endpointAddr, l.endpointPort = "203.0.113.10", 51820
		}
		return l, true
	}
	return s.fabricPeer(p, s.iface(p.attrs["interface"]))
}

// peerUp reports whether the peer has a live handshake right now: a real
// one when there is a dataplane, a simulated one otherwise.
func (s *Sim) peerUp(p *item, now time.Time) bool {
	if s.cfg.Dataplane != nil {
		hs, ok := s.dp.hs[p.id]
		return ok && now.Sub(hs) < handshakeLive
	}
	st := s.wg[p.id]
	return st != nil && st.matching && !st.first.IsZero() && now.Sub(st.last) < handshakeLive
}

func (s *Sim) peerMatches(p *item, far *FarEnd) bool {
	ifc := s.iface(p.attrs["interface"])
	if far.Down || ifc == nil || ifc.attrs["disabled"] == "true" || p.attrs["disabled"] == "true" {
		return false
	}
	if !far.AcceptAnyKey && far.AcceptKey != ifc.attrs["public-key"] {
		return false
	}
	if far.DialsIn {
		return far.ExpectListenPort == 0 || ifc.attrs["listen-port"] == strconv.Itoa(far.ExpectListenPort)
	}
	return p.attrs["endpoint-address"] == far.EndpointAddress && p.attrs["endpoint-port"] == strconv.Itoa(far.EndpointPort)
}

// connectedRoutes derives the dynamic connected routes of enabled addresses.
func (s *Sim) connectedRoutes() (v4, v6 []derivedRow) {
	for _, menu := range []string{"/ip/address", "/ipv6/address"} {
		for _, a := range s.tableFor(menu).items {
			p, ok := parseAddrPrefix(a.attrs["address"], 0)
			if !ok || a.attrs["disabled"] == "true" || s.iface(a.attrs["interface"]) == nil {
				continue
			}
			row := derivedRow{key: "connected/" + a.ID(), attrs: map[string]string{
				"dst-address": p.Masked().String(), "gateway": a.attrs["interface"], "immediate-gw": a.attrs["interface"],
				"distance": "0", "scope": "10", "target-scope": "5", "routing-table": "main",
				"dynamic": "true", "active": "true", "connect": "true", "disabled": "false", "inactive": "false",
			}}
			if p.Addr().Is4() {
				row.attrs["local-address"] = p.Addr().String() + "%" + a.attrs["interface"]
				v4 = append(v4, row)
			} else {
				v6 = append(v6, row)
			}
		}
	}
	return v4, v6
}

// routerAddrOn returns the router's address on iface whose prefix contains
// remote, if any: BGP over a tunnel needs that connected route.
func (s *Sim) routerAddrOn(iface string, remote netip.Addr) (netip.Addr, bool) {
	for _, menu := range []string{"/ip/address", "/ipv6/address"} {
		for _, a := range s.tableFor(menu).items {
			p, ok := parseAddrPrefix(a.attrs["address"], 0)
			if ok && a.attrs["interface"] == iface && a.attrs["disabled"] != "true" && p.Contains(remote) {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

func (s *Sim) refreshBGP(now time.Time) (sessions, r4, r6 []derivedRow) {
	seen := map[uint64]bool{}
	for _, c := range s.tableFor("/routing/bgp/connection").items {
		seen[c.id] = true
		st := s.bgp[c.id]
		if st == nil {
			st = &sessState{}
			s.bgp[c.id] = st
		}
		far, local, localAS, ok := s.bgpMatch(c, now)
		switch {
		case ok && (!st.ok || st.far != far.id):
			st.ok, st.far, st.since, st.up = true, far.id, now, time.Time{}
		case !ok:
			st.ok, st.up = false, time.Time{}
		}
		if st.ok && st.up.IsZero() && !now.Before(st.since.Add(far.establishAfter)) {
			st.up = st.since.Add(far.establishAfter)
		}
		if c.attrs["disabled"] == "true" {
			continue
		}
		sess := map[string]string{
			"name":           c.attrs["name"] + "-1",
			"remote.address": strings.Split(c.attrs["remote.address"], "/")[0],
			"remote.as":      c.attrs["remote.as"],
			"local.as":       localAS,
			"local.role":     c.attrs["local.role"],
			"inactive":       "false",
		}
		if inst, ok := c.attrs["instance"]; ok {
			sess["instance"] = inst
		}
		if c.attrs["remote.as"] != localAS {
			sess["ebgp"] = "" // a flag: present and empty on eBGP sessions
		}
		if local.IsValid() {
			sess["local.address"] = local.String()
		}
		if !st.up.IsZero() {
			accepted := s.filterPrefixes(c.attrs["input.filter"], far.announces)
			sess["established"] = "true"
			sess["remote.eor"], sess["local.eor"] = "", "" // End-of-RIB flags, bare
			sess["uptime"] = FormatDuration(now.Sub(st.up))
			sess["prefix-count"] = strconv.Itoa(len(accepted))
			sess["remote.id"] = far.remoteID
			table := c.attrs["routing-table"]
			if table == "" {
				table = "main"
			}
			for _, p := range accepted {
				row := derivedRow{key: "bgp/" + c.ID() + "/" + p.String(), attrs: map[string]string{
					"dst-address": p.String(), "gateway": sess["remote.address"], "distance": "20",
					"scope": "40", "target-scope": "10", "routing-table": table, "belongs-to": "bgp-IP-" + sess["remote.address"],
					"dynamic": "true", "active": "true", "bgp": "true", "disabled": "false", "inactive": "false",
				}}
				if p.Addr().Is4() {
					r4 = append(r4, row)
				} else {
					r6 = append(r6, row)
				}
			}
		} else {
			sess["prefix-count"] = "0"
		}
		sessions = append(sessions, derivedRow{key: "session/" + c.ID(), attrs: sess})
	}
	for id := range s.bgp {
		if !seen[id] {
			delete(s.bgp, id)
		}
	}
	return sessions, r4, r6
}

// bgpMatch decides whether connection c can establish: a far end with the
// connection's remote address and AS, reached through a tunnel that is up
// and a router address in the same subnet on that tunnel's interface. The
// far end is a world FarEnd, else a router on the fabric whose own
// connection matches c (see Fabric).
func (s *Sim) bgpMatch(c *item, now time.Time) (far bgpFar, local netip.Addr, localAS string, ok bool) {
	localAS, instOK := s.connLocalAS(c)
	remote, okAddr := parseAddrOnly(c.attrs["remote.address"], 0)
	if !instOK || !okAddr || c.attrs["disabled"] == "true" {
		return far, local, localAS, false
	}
	for i, f := range s.world.FarEnds {
		ta, err := netip.ParseAddr(f.TransitAddress)
		if err != nil || ta != remote || f.Down {
			continue
		}
		for _, p := range s.tableFor("/interface/wireguard/peers").items {
			if p.attrs["public-key"] != f.PublicKey || !s.peerUp(p, now) || !allowedContains(p.attrs["allowed-address"], remote) {
				continue
			}
			addr, has := s.routerAddrOn(p.attrs["interface"], remote)
			if !has {
				continue
			}
			if la := c.attrs["local.address"]; la != "" && la != addr.String() {
				continue
			}
			asOK := c.attrs["remote.as"] == strconv.FormatUint(uint64(f.ASN), 10)
			routerOK := f.ExpectRouterASN == 0 || localAS == strconv.FormatUint(uint64(f.ExpectRouterASN), 10)
			far = bgpFar{id: "world/" + strconv.Itoa(i) + "/" + f.Name, establishAfter: time.Duration(f.EstablishAfter), remoteID: f.TransitAddress}
			for _, a := range f.Announces {
				p, err := netip.ParsePrefix(a)
				if err != nil {
					s.logf("rossim: far end %s announces bad prefix %q", f.Name, a)
					continue
				}
				far.announces = append(far.announces, p.Masked())
			}
			return far, addr, localAS, asOK && routerOK
		}
	}
	far, local, found, ok := s.fabricSession(c, remote, localAS, now)
	if !found {
		return bgpFar{}, netip.Addr{}, localAS, false
	}
	return far, local, localAS, ok
}

func allowedContains(list string, a netip.Addr) bool {
	for part := range strings.SplitSeq(list, ",") {
		if p, ok := parseAddrPrefix(part, 0); ok && p.Contains(a) {
			return true
		}
	}
	return false
}

// syncDerived makes the world-owned rows of menu equal want, keeping ids
// of rows whose key persists and appending new ones at the end.
func (s *Sim) syncDerived(menu string, want []derivedRow) {
	t := s.tableFor(menu)
	byKey := map[string]derivedRow{}
	for _, w := range want {
		byKey[w.key] = w
	}
	kept := t.items[:0]
	have := map[string]bool{}
	for _, it := range t.items {
		if it.derived == "" {
			kept = append(kept, it)
			continue
		}
		if w, ok := byKey[it.derived]; ok {
			it.attrs = w.attrs
			have[it.derived] = true
			kept = append(kept, it)
		}
	}
	t.items = kept
	for _, w := range want {
		if !have[w.key] {
			t.items = append(t.items, &item{id: t.allocDynamic(menu), attrs: w.attrs, derived: w.key})
		}
	}
}

// refreshSingleton updates read-only system menus from the clock.
func (s *Sim) refreshSingleton(menu string) {
	t := s.tables[menu]
	if t == nil || len(t.items) == 0 {
		return
	}
	now := s.clock.Now()
	a := t.items[0].attrs
	switch menu {
	case "/system/resource":
		a["uptime"] = FormatDuration(now.Sub(s.boot).Truncate(time.Second))
		a["version"] = s.cfg.Version + " (stable)"
		a["board-name"] = "RB5009UG+S+"
		a["architecture-name"] = "arm64"
		a["platform"] = "MikroTik"
		a["cpu"] = "ARM64"
		a["cpu-count"] = "4"
		a["cpu-load"] = "1"
		a["total-memory"] = "1073741824"
		a["free-memory"] = "905969664"
	case "/system/clock":
		a["time"] = now.Format("15:04:05")
		a["date"] = now.Format("2006-01-02")
		a["time-zone-name"] = "UTC"
		a["gmt-offset"] = "+00:00"
		a["time-zone-autodetect"] = "false"
	}
}

// ping answers /ping and /tool/ping from the world model, or sends them
// through the dataplane when there is one.
func (s *Sim) ping(c *command) (reply, *Trap) {
	for _, a := range c.args {
		if !s.tree.HasArg(c.menu, "ping", a.k) {
			return reply{}, trapf(1, "unknown parameter %s", a.k)
		}
	}
	addrStr, ok := c.arg("address")
	if !ok {
		return reply{}, trapf(1, "missing value(s) of argument(s) address")
	}
	addr, err := netip.ParseAddr(addrStr)
	if err != nil {
		return reply{}, badValue("address")
	}
	count := 4 // a router pings until cancelled; the simulator stops at 4
	if v, ok := c.arg("count"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return reply{}, badValue("count")
		}
		count = min(n, 100)
	}
	if s.cfg.Dataplane != nil {
		return s.pingDataplane(c, addr, count)
	}
	up := s.reachable(addr)
	var rep reply
	for i := range count {
		r := map[string]string{"seq": strconv.Itoa(i), "host": addr.String(), "sent": strconv.Itoa(i + 1)}
		if up {
			r["size"], r["ttl"], r["time"] = "56", "64", "1ms"
			r["received"], r["packet-loss"] = strconv.Itoa(i+1), "0"
			r["min-rtt"], r["avg-rtt"], r["max-rtt"] = "1ms", "1ms", "1ms"
		} else {
			r["status"], r["received"], r["packet-loss"] = "timeout", "0", "100"
		}
		rep.re = append(rep.re, r)
	}
	return rep, nil
}

func (s *Sim) reachable(a netip.Addr) bool {
	for _, r := range s.world.Reachable {
		if p, ok := parseAddrPrefix(r, 0); ok && p.Contains(a) {
			return true
		}
	}
	now := s.clock.Now()
	for _, menu := range []string{"/ip/address", "/ipv6/address"} {
		for _, it := range s.tableFor(menu).items {
			if p, ok := parseAddrPrefix(it.attrs["address"], 0); ok && p.Addr() == a {
				return true
			}
		}
	}
	for _, p := range s.tableFor("/interface/wireguard/peers").items {
		fi := s.farByKey(p.attrs["public-key"])
		if fi < 0 || !s.peerUp(p, now) {
			continue
		}
		if ta, err := netip.ParseAddr(s.world.FarEnds[fi].TransitAddress); err == nil && ta == a && allowedContains(p.attrs["allowed-address"], a) {
			if _, ok := s.routerAddrOn(p.attrs["interface"], a); ok {
				return true
			}
		}
	}
	if s.fabricReachable(a, now) {
		return true
	}
	for _, menu := range []string{"/ip/route", "/ipv6/route"} {
		for _, r := range s.tableFor(menu).items {
			if r.attrs["bgp"] != "true" {
				continue
			}
			if p, ok := parseAddrPrefix(r.attrs["dst-address"], 0); ok && p.Contains(a) {
				return true
			}
		}
	}
	return false
}
