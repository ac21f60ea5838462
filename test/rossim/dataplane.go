package rossim

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Dataplane realises the simulated router's configuration in a real network
// stack (package linuxdp: wireguard-go, ip, ping in a network namespace), so
// a simulated RouterOS router can form real WireGuard tunnels with real
// hosts. With Config.Dataplane set:
//
//   - after every change to the tables (API commands, scripts, LoadState)
//     the simulator builds a DataplaneConfig snapshot and calls Apply, but
//     only when the snapshot differs from the last applied one. A failed
//     Apply is logged through Config.Logf and retried on a refresh at least
//     dataplaneRetry later, for as long as it keeps failing; the API never
//     sees the error (a router accepts config its dataplane can't realise).
//   - /interface/wireguard/peers last-handshake, rx, tx,
//     current-endpoint-address and current-endpoint-port come from Peers
//     (cached for peersCacheTTL), not from the World.
//   - /ping and /tool/ping send real echo requests through Ping; the
//     simulator's lock is released meanwhile, so other API connections are
//     not stalled for the seconds a ping takes.
//   - BGP stays on the world model, with one change: a FarEnd's session
//     needs the real tunnel, i.e. the router's peer with the far end's
//     PublicKey has had a real handshake in the last 3 minutes. The far end's
//     WireGuard fields (AcceptKey, Endpoint*, DialsIn, HandshakeAfter) are
//     then ignored; Down still stops its session.
//   - The firewall (filter, nat and mangle rules of both families, address
//     lists, interface lists) and policy routing (routing tables with fib,
//     their static routes, routing rules) are part of the snapshot; a
//     dataplane realises them with RouterOS's semantics (package linuxdp:
//     nftables and ip rule; CONFORMANCE.md lists what is followed). Bridge
//     ports and VLAN tagging are not realised. Whether packets are
//     forwarded between interfaces is up to the stack (in a lab:
//     lab.HostSpec.Forward).
//
// Time: handshake ages are computed against Config.Clock, so a real
// dataplane wants the default wall clock. A *ManualClock works for fakes.
//
// All methods may be called from several goroutines: Apply and Peers are
// called with the simulator's lock held (never concurrently with each
// other), Ping without it.
type Dataplane interface {
	// Apply makes the real stack match cfg: it adds what is missing,
	// changes what differs and removes what it created earlier and cfg no
	// longer has. It must be idempotent, converge from any partial state
	// (a previous failed Apply), and must not keep or modify cfg.
	Apply(cfg DataplaneConfig) error
	// Peers reports the live state of every WireGuard peer.
	Peers() (map[DataplanePeerKey]DataplanePeerStats, error)
	// Ping sends req.Count echo requests and reports the answers. Lost
	// probes are not an error; an error means the ping could not be run.
	Ping(ctx context.Context, req PingRequest) (PingResult, error)
	// Close tears down everything Apply created (processes, links,
	// addresses, routes). Sim.Close calls it.
	Close() error
}

// DataplaneConfig is the part of the router's configuration a dataplane
// realises, in table order. Interface names are RouterOS names; disabled
// rows are included with Disabled set and are to be treated as absent (as
// is everything on a disabled interface).
type DataplaneConfig struct {
	WireGuard []DataplaneWireGuard
	// Links are the other interfaces that carry an address or are a
	// route's gateway (bridges, VLANs, ethernets …): a dataplane gives them
	// a link (a dummy) when its stack has none of that name.
	Links []DataplaneLink
	// Addresses are the static /ip/address and /ipv6/address rows.
	Addresses []DataplaneAddress
	// Routes are the static (non-dynamic) /ip/route and /ipv6/route rows
	// of routing table main and of the tables in RoutingTables.
	Routes []DataplaneRoute
	// Firewall holds the filter, nat and mangle rules of /ip/firewall then
	// /ipv6/firewall, each table in list order (the order RouterOS
	// evaluates a chain in).
	Firewall []DataplaneFirewallRule
	// AddressLists are the /ip and /ipv6 firewall address-list entries.
	AddressLists []DataplaneAddressListEntry
	// InterfaceLists maps every interface list, the builtin all, none,
	// static and dynamic included, to its members (interface names, sorted),
	// include= and exclude= resolved and disabled members left out.
	InterfaceLists map[string][]string
	// RoutingTables are the /routing/table rows other than main that have
	// fib (only those reach the forwarding plane), in table order.
	RoutingTables []string
	// RoutingRules are the /routing/rule rows in list order.
	RoutingRules []DataplaneRoutingRule
}

// DataplaneFirewallRule is one firewall filter, nat or mangle row.
type DataplaneFirewallRule struct {
	Family int    // 4: /ip/firewall, 6: /ipv6/firewall
	Table  string // "filter", "nat" or "mangle"
	// Attrs are the row's attributes as RouterOS prints them (chain,
	// action, matchers, action parameters, comment), without .id, the
	// counters and the read-only flags.
	Attrs    map[string]string
	Disabled bool
}

// DataplaneAddressListEntry is one firewall address-list row. Address is
// as configured: an address, a prefix, a range "a-b" or a DNS name.
type DataplaneAddressListEntry struct {
	Family   int // 4 or 6
	List     string
	Address  string
	Disabled bool
}

// DataplaneRoutingRule is one /routing/rule row; empty fields match
// anything.
type DataplaneRoutingRule struct {
	SrcAddress  netip.Prefix
	DstAddress  netip.Prefix
	RoutingMark string
	Interface   string
	Action      string // lookup, lookup-only-in-table, drop, unreachable
	Table       string
	MinPrefix   int // -1: unset
	Disabled    bool
}

// DataplaneWireGuard is one /interface/wireguard row with its peers.
type DataplaneWireGuard struct {
	Name       string
	PrivateKey string // base64; a secret: never log it
	ListenPort int
	MTU        int // 0: "auto" or unset, the dataplane's default
	Disabled   bool
	Peers      []DataplanePeer
}

// DataplanePeer is one /interface/wireguard/peers row.
type DataplanePeer struct {
	PublicKey    string
	PresharedKey string // base64, "" for none; a secret
	// EndpointAddress is an address or DNS name, "" when the peer dials
	// in; EndpointPort is 0 then.
	EndpointAddress     string
	EndpointPort        int
	AllowedAddress      []netip.Prefix
	PersistentKeepalive time.Duration // 0: off
	Disabled            bool
}

// DataplaneLink is a non-WireGuard interface the dataplane needs.
type DataplaneLink struct {
	Name     string
	Type     string // RouterOS type: "bridge", "vlan", "ether", …
	Disabled bool
}

// DataplaneAddress is one /ip/address or /ipv6/address row.
type DataplaneAddress struct {
	Address netip.Prefix // the router's address and prefix length, e.g. fd00:1::2/64
	// Peer is the far end of an IPv4 point-to-point address: RouterOS's
	// network= when it is not the address's own network.
	Peer      netip.Addr
	Interface string
	Disabled  bool
}

// DataplaneRoute is one static route. RouterOS gateways are an address
// ("10.0.0.1"), an interface ("wg0") or both ("fe80::1%wg0"); of a
// comma-separated gateway list only the first is kept.
type DataplaneRoute struct {
	Dst       netip.Prefix
	Gateway   netip.Addr // invalid when the gateway is an interface only
	Interface string     // "" when the gateway is an address only
	Distance  int        // 1..255; the Linux metric
	Table     string     // "" for main, else one of RoutingTables
	Blackhole bool
	Disabled  bool
}

// DataplanePeerKey names a live WireGuard peer: the interface it is on and
// its public key.
type DataplanePeerKey struct {
	Interface, PublicKey string
}

// DataplanePeerStats is a peer's live state.
type DataplanePeerStats struct {
	LastHandshake time.Time // zero: never
	Rx, Tx        uint64
	Endpoint      netip.AddrPort // invalid: none known
}

// PingRequest is a /ping or /tool/ping command.
type PingRequest struct {
	Address    netip.Addr
	SrcAddress netip.Addr // invalid: the stack picks
	Interface  string     // RouterOS interface name; "" for any
	Count      int
	Interval   time.Duration // 0: one second, as on RouterOS
}

// PingResult is what a ping saw. Replies lists the answered probes; a
// probe without a reply timed out.
type PingResult struct {
	Sent, Received int
	Replies        []PingReply
}

// PingReply is one answered probe.
type PingReply struct {
	Seq  int // 0-based, as RouterOS numbers probes
	Size int // ICMP payload bytes
	TTL  int
	RTT  time.Duration
}

const (
	// peersCacheTTL: one Peers call serves every refresh for this long, so
	// a burst of API commands does not run `wg show` for each.
	peersCacheTTL = 500 * time.Millisecond
	// dataplaneRetry is the least time between attempts to apply a
	// snapshot that failed.
	dataplaneRetry = time.Second
)

// dpState is the simulator's side of the dataplane. Guarded by Sim.mu.
type dpState struct {
	applied  *DataplaneConfig // last snapshot Apply accepted
	failed   *DataplaneConfig // last snapshot Apply rejected
	retryAt  time.Time
	peers    map[DataplanePeerKey]DataplanePeerStats
	peersAt  time.Time // zero: must re-read
	peersErr string    // last Peers error logged, to log each only once
	hs       map[uint64]time.Time
	closed   bool
	ctx      context.Context // cancelled by Close: ends pings in flight
	cancel   context.CancelFunc
}

func (s *Sim) initDataplane() {
	s.dp.hs = map[uint64]time.Time{}
	s.dp.ctx, s.dp.cancel = context.WithCancel(context.Background())
}

// closeDataplane stops using the dataplane and tears it down. Idempotent.
func (s *Sim) closeDataplane() error {
	if s.cfg.Dataplane == nil {
		return nil
	}
	s.dp.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dp.closed {
		return nil
	}
	s.dp.closed = true
	return s.cfg.Dataplane.Close()
}

// syncDataplane applies the current snapshot if it changed. Called with
// s.mu held on every refresh.
func (s *Sim) syncDataplane(now time.Time) {
	if s.dp.closed {
		return
	}
	cfg := s.dataplaneConfig()
	if s.dp.applied != nil && reflect.DeepEqual(*s.dp.applied, cfg) {
		return
	}
	if s.dp.failed != nil && reflect.DeepEqual(*s.dp.failed, cfg) && now.Before(s.dp.retryAt) {
		return
	}
	err := s.cfg.Dataplane.Apply(cfg)
	s.dp.peersAt = time.Time{} // peers may have changed
	if err != nil {
		s.logf("rossim: dataplane: apply: %v (will retry)", err)
		s.dp.applied, s.dp.failed, s.dp.retryAt = nil, &cfg, now.Add(dataplaneRetry)
		return
	}
	s.dp.applied, s.dp.failed = &cfg, nil
}

// dataplaneConfig builds the snapshot from the tables.
func (s *Sim) dataplaneConfig() DataplaneConfig {
	var cfg DataplaneConfig
	ifaces := s.tableFor("/interface").items
	wgIndex := map[string]int{}
	for _, it := range ifaces {
		a := it.attrs
		if a["type"] != "wg" {
			continue
		}
		w := DataplaneWireGuard{Name: a["name"], PrivateKey: a["private-key"], Disabled: a["disabled"] == "true"}
		w.ListenPort, _ = strconv.Atoi(a["listen-port"])
		w.MTU, _ = strconv.Atoi(a["mtu"]) // "auto" -> 0
		wgIndex[w.Name] = len(cfg.WireGuard)
		cfg.WireGuard = append(cfg.WireGuard, w)
	}
	for _, it := range s.tableFor("/interface/wireguard/peers").items {
		a := it.attrs
		i, ok := wgIndex[a["interface"]]
		if !ok {
			continue
		}
		p := DataplanePeer{PublicKey: a["public-key"], PresharedKey: a["preshared-key"], EndpointAddress: a["endpoint-address"], Disabled: a["disabled"] == "true"}
		p.EndpointPort, _ = strconv.Atoi(a["endpoint-port"])
		if p.EndpointAddress == "" || p.EndpointPort == 0 {
			p.EndpointAddress, p.EndpointPort = "", 0
		}
		if v := a["allowed-address"]; v != "" {
			for part := range strings.SplitSeq(v, ",") {
				if pfx, ok := parseAddrPrefix(part, 0); ok {
					p.AllowedAddress = append(p.AllowedAddress, pfx)
				}
			}
		}
		if v := a["persistent-keepalive"]; v != "" {
			p.PersistentKeepalive, _ = ParseDuration(v)
		}
		cfg.WireGuard[i].Peers = append(cfg.WireGuard[i].Peers, p)
	}
	used := map[string]bool{}
	for _, menu := range []string{"/ip/address", "/ipv6/address"} {
		for _, it := range s.tableFor(menu).items {
			a := it.attrs
			pfx, ok := parseAddrPrefix(a["address"], 0)
			if !ok || it.derived != "" || a["dynamic"] == "true" || s.iface(a["interface"]) == nil {
				continue
			}
			da := DataplaneAddress{Address: pfx, Interface: a["interface"], Disabled: a["disabled"] == "true"}
			if n, err := netip.ParseAddr(a["network"]); err == nil && pfx.Addr().Is4() && n.Is4() && n != pfx.Masked().Addr() {
				da.Peer = n
			}
			cfg.Addresses = append(cfg.Addresses, da)
			used[a["interface"]] = true
		}
	}
	for _, menu := range []string{"/ip/route", "/ipv6/route"} {
		for _, it := range s.tableFor(menu).items {
			r, ok := s.dataplaneRoute(menu, it)
			if !ok {
				continue
			}
			cfg.Routes = append(cfg.Routes, r)
			if r.Interface != "" {
				used[r.Interface] = true
			}
		}
	}
	for _, it := range ifaces {
		if a := it.attrs; a["type"] != "wg" && used[a["name"]] {
			cfg.Links = append(cfg.Links, DataplaneLink{Name: a["name"], Type: a["type"], Disabled: a["disabled"] == "true"})
		}
	}
	s.dataplaneFirewall(&cfg)
	return cfg
}

func (s *Sim) dataplaneRoute(menu string, it *item) (DataplaneRoute, bool) {
	a := it.attrs
	if it.derived != "" || a["dynamic"] == "true" {
		return DataplaneRoute{}, false
	}
	r := DataplaneRoute{Blackhole: hasFlag(a, "blackhole"), Disabled: a["disabled"] == "true", Distance: 1}
	if t := a["routing-table"]; t != "" && t != "main" {
		if tb := s.findByName("/routing/table", t); tb == nil || !hasFlag(tb.attrs, "fib") || tb.attrs["disabled"] == "true" {
			return DataplaneRoute{}, false // not in the forwarding plane
		}
		r.Table = t
	}
	if d, err := strconv.Atoi(a["distance"]); err == nil {
		r.Distance = d
	}
	dst := a["dst-address"]
	if dst == "" {
		dst = "0.0.0.0/0"
		if family(menu) == 6 {
			dst = "::/0"
		}
	}
	p, ok := parseAddrPrefix(dst, family(menu))
	if !ok {
		return DataplaneRoute{}, false
	}
	r.Dst = p.Masked()
	gw, _, _ := strings.Cut(a["gateway"], ",")
	addr, zone, hasZone := strings.Cut(gw, "%")
	if ga, err := netip.ParseAddr(addr); err == nil {
		r.Gateway = ga
		if hasZone {
			r.Interface = zone
		}
	} else if gw != "" {
		r.Interface = gw
	}
	if r.Interface != "" && s.iface(r.Interface) == nil {
		return DataplaneRoute{}, false
	}
	if !r.Gateway.IsValid() && r.Interface == "" && !r.Blackhole {
		return DataplaneRoute{}, false // nothing to route to
	}
	return r, true
}

// refreshPeersDataplane fills the peers' read-side attributes from the
// dataplane, in the formats RouterOS prints.
func (s *Sim) refreshPeersDataplane(now time.Time) {
	peers := s.tableFor("/interface/wireguard/peers").items
	if len(peers) == 0 {
		clear(s.dp.hs)
		return
	}
	if !s.dp.closed && (s.dp.peersAt.IsZero() || now.Sub(s.dp.peersAt) >= peersCacheTTL || now.Before(s.dp.peersAt)) {
		st, err := s.cfg.Dataplane.Peers()
		s.dp.peersAt = now
		if err != nil {
			if msg := err.Error(); msg != s.dp.peersErr {
				s.logf("rossim: dataplane: peers: %v", err)
				s.dp.peersErr = msg
			}
			st = nil
		} else {
			s.dp.peersErr = ""
		}
		s.dp.peers = st
	}
	seen := map[uint64]bool{}
	for _, p := range peers {
		seen[p.id] = true
		a := p.attrs
		st, ok := s.dp.peers[DataplanePeerKey{Interface: a["interface"], PublicKey: a["public-key"]}]
		if !ok || a["disabled"] == "true" {
			a["rx"], a["tx"] = "0", "0"
			delete(a, "last-handshake")
			delete(a, "current-endpoint-address")
			delete(a, "current-endpoint-port")
			delete(s.dp.hs, p.id)
			continue
		}
		a["rx"] = strconv.FormatUint(st.Rx, 10)
		a["tx"] = strconv.FormatUint(st.Tx, 10)
		if st.Endpoint.IsValid() {
			a["current-endpoint-address"] = st.Endpoint.Addr().Unmap().String()
			a["current-endpoint-port"] = strconv.Itoa(int(st.Endpoint.Port()))
		} else {
			delete(a, "current-endpoint-address")
			delete(a, "current-endpoint-port")
		}
		if st.LastHandshake.IsZero() {
			delete(a, "last-handshake")
			delete(s.dp.hs, p.id)
		} else {
			a["last-handshake"] = FormatDuration(now.Sub(st.LastHandshake).Truncate(time.Second))
			s.dp.hs[p.id] = st.LastHandshake
		}
	}
	for id := range s.dp.hs {
		if !seen[id] {
			delete(s.dp.hs, id)
		}
	}
}

// pingDataplane sends the pings of c for real. Called with s.mu held; it
// releases the lock while the echo requests are in flight.
func (s *Sim) pingDataplane(c *command, addr netip.Addr, count int) (reply, *Trap) {
	req := PingRequest{Address: addr, Count: count}
	if v, ok := c.arg("src-address"); ok {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return reply{}, badValue("src-address")
		}
		req.SrcAddress = a
	}
	if v, ok := c.arg("interface"); ok {
		if s.iface(v) == nil {
			return reply{}, trapf(1, "input does not match any value of interface")
		}
		req.Interface = v
	}
	if v, ok := c.arg("interval"); ok {
		d, err := ParseDuration(v)
		if err != nil || d <= 0 {
			return reply{}, badValue("interval")
		}
		req.Interval = d
	}
	if s.dp.closed {
		return reply{}, trapf(4, "rossim: dataplane closed")
	}
	every := req.Interval
	if every == 0 {
		every = time.Second
	}
	ctx, cancel := context.WithTimeout(s.dp.ctx, time.Duration(count)*every+10*time.Second)
	defer cancel()
	dp := s.cfg.Dataplane
	s.mu.Unlock()
	res, err := dp.Ping(ctx, req)
	s.mu.Lock()
	if err != nil {
		s.logf("rossim: dataplane: ping %s: %v", addr, err)
		return reply{}, trapf(4, "rossim: dataplane ping failed: %v", err)
	}
	return pingRows(addr, res), nil
}

// pingRows renders a real ping as RouterOS does: one row per probe with
// running sent/received/packet-loss and min/avg/max-rtt over the replies
// so far; a probe without a reply has status=timeout.
func pingRows(addr netip.Addr, res PingResult) reply {
	bySeq := map[int]PingReply{}
	for _, r := range res.Replies {
		bySeq[r.Seq] = r
	}
	var rep reply
	var recv int
	var lo, hi, sum time.Duration
	for i := range res.Sent {
		r := map[string]string{"seq": strconv.Itoa(i), "host": addr.String(), "sent": strconv.Itoa(i + 1)}
		if pr, ok := bySeq[i]; ok {
			recv++
			if recv == 1 || pr.RTT < lo {
				lo = pr.RTT
			}
			hi = max(hi, pr.RTT)
			sum += pr.RTT
			r["size"], r["ttl"], r["time"] = strconv.Itoa(pr.Size), strconv.Itoa(pr.TTL), formatRTT(pr.RTT)
		} else {
			r["status"] = "timeout"
		}
		r["received"] = strconv.Itoa(recv)
		r["packet-loss"] = strconv.Itoa((i + 1 - recv) * 100 / (i + 1))
		if recv > 0 {
			r["min-rtt"], r["avg-rtt"], r["max-rtt"] = formatRTT(lo), formatRTT(sum/time.Duration(recv)), formatRTT(hi)
		}
		rep.re = append(rep.re, r)
	}
	return rep
}

// formatRTT prints a round-trip time as RouterOS 7 does: "1ms", "9ms581us",
// "312us".
func formatRTT(d time.Duration) string {
	ms, us := d/time.Millisecond, (d%time.Millisecond)/time.Microsecond
	switch {
	case ms > 0 && us > 0:
		return fmt.Sprintf("%dms%dus", ms, us)
	case ms > 0:
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%dus", us)
}
