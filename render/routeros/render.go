package routeros

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-net/tether/policy"
)

// version is the RouterOS version a site is rendered for.
type version struct{ major, minor, patch int }

func (v version) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// bgpInstance reports whether the version has /routing/bgp/instance (7.20+);
// before it, as and router-id live on the connection.
func (v version) bgpInstance() bool { return v.atLeast(7, 20) }

// afiAttr is the connection/template attribute naming address families:
// 7.18 and 7.19 call it address-families, 7.20+ afi.
func (v version) afiAttr() string {
	if v.atLeast(7, 20) {
		return "afi"
	}
	return "address-families"
}

type renderer struct {
	n    *policy.Network
	s    *policy.Site
	v    version
	cfg  *Config
	warn []string
	// connected holds the connected prefixes of each interface, so routes
	// for allowed addresses that an address already covers are not emitted.
	connected map[string][]netip.Prefix
}

// Render renders the RouterOS configuration of one site. n must come from a
// successful policy.Load (defaults applied). The result is byte-deterministic.
func Render(n *policy.Network, site string) (*Config, error) {
	if n == nil {
		return nil, errors.New("render routeros: nil network")
	}
	s := n.Sites[site]
	if s == nil {
		return nil, fmt.Errorf("render routeros: no site %q", site)
	}
	if s.Platform != "routeros" {
		return nil, fmt.Errorf("render routeros: site %q is platform %q, not routeros", site, s.Platform)
	}
	maj, mnr, pat, ok := policy.ParseRouterOSVersion(s.RouterOSVersion)
	if !ok {
		return nil, fmt.Errorf("render routeros: site %q: RouterOS version %q is not like 7.22.3", site, s.RouterOSVersion)
	}
	if maj != 7 || mnr < 18 {
		return nil, fmt.Errorf("render routeros: site %q: RouterOS %s is not supported (7.18 or newer)", site, s.RouterOSVersion)
	}
	r := &renderer{
		n:   n,
		s:   s,
		v:   version{maj, mnr, pat},
		cfg: &Config{Site: site, Version: s.RouterOSVersion},
	}
	r.cfg.Items = make([]Item, 0, 16+len(s.Firewall)+len(n.Peers))
	r.indexConnected()

	exits := n.Exits(site)
	r.routingTables()
	r.exitTables(exits)
	r.wireguardInterfaces()
	r.interfaceLists()
	r.grouped(r.addresses)
	sessions := n.BGPSessions(site)
	r.grouped(func() {
		r.addressLists()
		r.bgpNetworks(sessions)
	})
	r.bgp(sessions) // filter rules, instance, templates, connections
	r.peers()
	r.grouped(func() {
		r.routes()
		r.exitRoutes(exits)
	})
	r.routingRules()
	r.exitRules(exits)
	r.firewall()
	r.routerAdverts()
	r.singletons()
	r.management()
	r.logging()
	if err := r.raw(); err != nil {
		return nil, err
	}
	if err := r.checkUnique(); err != nil {
		return nil, err
	}
	r.cfg.Warnings = r.warn
	return r.cfg, nil
}

// grouped runs a section whose items span the IPv4 and IPv6 variants of a
// menu and keeps each menu's items together (IPv4 first, otherwise in
// section order), so the .rsc view reads as one block per menu.
func (r *renderer) grouped(section func()) {
	start := len(r.cfg.Items)
	section()
	slices.SortStableFunc(r.cfg.Items[start:], func(a, b Item) int { return strings.Compare(a.Path, b.Path) })
}

func (r *renderer) warnf(format string, args ...any) {
	r.warn = append(r.warn, fmt.Sprintf(format, args...))
}

// attrs builds an attribute list, skipping unset values so callers can
// list every attribute a menu may carry in its readable order.
type attrs []Attr

func (as *attrs) set(name, value string) {
	if value != "" {
		*as = append(*as, Attr{name, value})
	}
}

func (as *attrs) flag(name string, on bool) {
	if on {
		*as = append(*as, Attr{name, ""})
	}
}

func (as *attrs) yesNo(name string, v bool) { *as = append(*as, Attr{name, yesNo(v)}) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// add appends an item, computing its ID with the same function the device
// uses on live items.
func (r *renderer) add(path, anchor string, as attrs) {
	it := Item{Path: path, Attrs: as, Anchor: anchor}
	it.ID, _ = identity(path, func(k string) (string, bool) {
		for _, a := range as {
			if a.Name == k {
				return a.Value, true
			}
		}
		return "", false
	})
	r.cfg.Items = append(r.cfg.Items, it)
}

func (r *renderer) checkUnique() error {
	seen := make(map[string]bool, len(r.cfg.Items))
	var dups []string
	for _, it := range r.cfg.Items {
		if it.Singleton {
			continue
		}
		k := it.Path + "\x00" + it.ID
		if seen[k] {
			dups = append(dups, it.Path+" "+it.ID)
		}
		seen[k] = true
	}
	if len(dups) > 0 {
		return fmt.Errorf("render routeros: site %q: items share an identity, so the router could not tell them apart: %s",
			r.cfg.Site, strings.Join(dups, "; "))
	}
	return nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ipv6"
}

func (r *renderer) defconf() bool { return r.s.Defconf == nil || *r.s.Defconf }

// indexConnected records every interface's connected prefixes.
func (r *renderer) indexConnected() {
	r.connected = map[string][]netip.Prefix{}
	for _, w := range r.s.WireGuard {
		for _, p := range r.n.WireGuardAddresses(r.s.Name, w.Name) {
			r.connected[w.Name] = append(r.connected[w.Name], p.Masked())
		}
	}
	for _, a := range r.s.Addresses {
		if a.Address.IsValid() {
			r.connected[a.Interface] = append(r.connected[a.Interface], a.Address.Masked())
		}
	}
}

func (r *renderer) isConnected(iface string, p netip.Prefix) bool {
	for _, c := range r.connected[iface] {
		if c.Bits() <= p.Bits() && c.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// ---- routing tables, interfaces, lists, addresses ----

func (r *renderer) routingTables() {
	for _, t := range r.s.RoutingTables {
		var as attrs
		as.set("name", t.Name)
		as.flag("fib", t.FIB)
		as.set("comment", OwnedComment(""))
		r.add("/routing/table", "", as)
	}
}

func (r *renderer) wireguardInterfaces() {
	for _, w := range r.s.WireGuard {
		// private-key is deliberately absent: RouterOS generates it and the
		// public half is what the repo records.
		var as attrs
		as.set("name", w.Name)
		if w.ListenPort > 0 {
			as.set("listen-port", strconv.Itoa(w.ListenPort))
		}
		if w.MTU > 0 {
			as.set("mtu", strconv.Itoa(w.MTU))
		}
		as.set("comment", OwnedComment(w.Comment))
		r.add("/interface/wireguard", "", as)
	}
}

// builtinLists exist on every RouterOS router; defconfLists only where the
// default configuration created them.
var (
	builtinLists = map[string]bool{"all": true, "none": true, "dynamic": true, "static": true}
	defconfLists = map[string]bool{"WAN": true, "LAN": true}
)

func (r *renderer) interfaceLists() {
	type member struct{ list, iface string }
	var lists []string
	var members []member
	seen := map[string]bool{}
	note := func(l string) {
		l = strings.TrimPrefix(l, "!")
		if l == "" || seen[l] || builtinLists[l] || (defconfLists[l] && r.defconf()) {
			return
		}
		seen[l] = true
		lists = append(lists, l)
	}
	for _, x := range r.s.Interfaces {
		for _, l := range x.Lists {
			note(l)
			members = append(members, member{l, x.Name})
		}
		if x.MTU != 0 {
			r.warnf("interface %s: mtu is not rendered on RouterOS (tether does not own %s)", x.Name, x.Name)
		}
	}
	for _, w := range r.s.WireGuard {
		for _, l := range w.Lists {
			note(l)
			members = append(members, member{l, w.Name})
		}
	}
	// A router without defconf has no WAN or LAN list; firewall rules that
	// name one need it to exist.
	for _, f := range r.s.Firewall {
		note(f.InInterfaceList)
		note(f.OutInterfaceList)
	}
	for _, l := range lists {
		var as attrs
		as.set("name", l)
		as.set("comment", OwnedComment(""))
		r.add("/interface/list", "", as)
	}
	for _, m := range members {
		var as attrs
		as.set("list", m.list)
		as.set("interface", m.iface)
		as.set("comment", OwnedComment(""))
		r.add("/interface/list/member", "", as)
	}
}

// advertise decides advertise= for an IPv6 address the model leaves unset:
// only a /64 on an interface that sends router advertisements (or is the
// LAN) is advertised; anything else would announce a WAN or transit prefix.
func (r *renderer) advertise(iface string, p netip.Prefix) bool {
	if p.Bits() != 64 {
		return false
	}
	for _, ra := range r.s.RouterAdverts {
		if ra.Interface == iface {
			return true
		}
	}
	for _, x := range r.s.Interfaces {
		if x.Name == iface && x.Role == "lan" {
			return true
		}
	}
	return false
}

func (r *renderer) addresses() {
	type key struct {
		iface string
		p     netip.Prefix
	}
	seen := map[key]bool{}
	emit := func(iface string, p netip.Prefix, adv *bool, network netip.Addr, comment string) {
		if !p.IsValid() || seen[key{iface, p}] {
			return
		}
		seen[key{iface, p}] = true
		var as attrs
		as.set("address", p.String())
		as.set("interface", iface)
		path := "/ip/address"
		if p.Addr().Is6() {
			path = "/ipv6/address"
			a := r.advertise(iface, p)
			if adv != nil {
				a = *adv
			}
			as.yesNo("advertise", a)
		} else if network.IsValid() {
			as.set("network", network.String())
		}
		as.set("comment", OwnedComment(comment))
		r.add(path, "", as)
	}
	for _, w := range r.s.WireGuard {
		fromLink := map[netip.Prefix]string{}
		for _, side := range r.n.LinksOf(r.s.Name) {
			if side.Local.Interface == w.Name && side.Local.Address.IsValid() {
				if _, ok := fromLink[side.Local.Address.Prefix]; !ok {
					fromLink[side.Local.Address.Prefix] = "link " + side.Link.Name
				}
			}
		}
		for _, p := range r.n.WireGuardAddresses(r.s.Name, w.Name) {
			c, ok := fromLink[p]
			if !ok {
				c = w.Comment
			}
			emit(w.Name, p, nil, netip.Addr{}, c)
		}
	}
	for _, a := range r.s.Addresses {
		emit(a.Interface, a.Address.Prefix, a.Advertise, a.Network.Addr, a.Comment)
	}
}

// addressListValue prints an address-list address the way RouterOS prints
// it back: an IPv4 host without /32.
func addressListValue(p netip.Prefix) string {
	if p.Addr().Is4() && p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}

func (r *renderer) addressList(list string, p netip.Prefix, comment string) {
	var as attrs
	as.set("list", list)
	as.set("address", addressListValue(p))
	as.set("comment", OwnedComment(comment))
	r.add("/"+family(p.Addr())+"/firewall/address-list", "", as)
}

func (r *renderer) addressLists() {
	for _, a := range r.s.AddressLists {
		if a.Address.IsValid() {
			r.addressList(a.List, a.Address.Prefix, a.Comment)
		}
	}
}

// ---- WireGuard peers and routes ----

func (r *renderer) peers() {
	for _, p := range r.n.WireGuardPeers(r.s.Name) {
		as := make(attrs, 0, 8)
		as.set("interface", p.Interface)
		as.set("name", p.Name)
		if p.PublicKey.IsZero() {
			r.warnf("peer %s on %s: no public key is known for the far end; the peer is rendered without one", p.Name, p.Interface)
		} else {
			as.set("public-key", p.PublicKey.String())
		}
		as.set("allowed-address", joinPrefixes(p.Allowed))
		if p.Dials() {
			as.set("endpoint-address", p.Endpoint.Host)
			as.set("endpoint-port", strconv.Itoa(int(p.Endpoint.Port)))
		}
		if p.Keepalive > 0 {
			as.set("persistent-keepalive", formatDuration(p.Keepalive))
		}
		c := p.Comment
		if c == "" {
			if p.Link != nil {
				c = "link " + p.Link.Name
			} else {
				c = "peer " + p.Name
			}
		}
		as.set("comment", OwnedComment(c))
		r.add("/interface/wireguard/peers", "", as)
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func (r *renderer) routes() {
	type key struct {
		dst   netip.Prefix
		table string
	}
	declared := map[key]bool{}
	for _, rt := range r.s.Routes {
		if !rt.Dst.IsValid() {
			continue
		}
		table := rt.Table
		if table == "" {
			table = "main"
		}
		declared[key{rt.Dst.Prefix, table}] = true
		var as attrs
		as.set("dst-address", rt.Dst.String())
		if rt.Blackhole {
			as.flag("blackhole", true)
		} else {
			as.set("gateway", canonAddr(rt.Gateway))
		}
		if rt.Distance > 0 {
			as.set("distance", strconv.Itoa(rt.Distance))
		}
		as.set("routing-table", table)
		as.set("comment", OwnedComment(rt.Comment))
		r.add("/"+family(rt.Dst.Addr())+"/route", "", as)
	}
	// RouterOS, unlike wg-quick, installs no routes from allowed-address:
	// every allowed prefix a link routes needs a route through the tunnel,
	// unless an address on the interface already makes it connected or the
	// site declares its own route for it.
	for _, p := range r.n.WireGuardPeers(r.s.Name) {
		if !p.Route {
			continue
		}
		for _, dst := range p.Allowed {
			if r.isConnected(p.Interface, dst) || declared[key{dst, "main"}] {
				continue
			}
			if dst.Bits() == 0 {
				// A default route through a tunnel decides where all traffic
				// goes (and can cut the path to the WireGuard endpoint
				// itself); it has to be declared, not inferred. An exit's
				// default lives in its own table (exit.go).
				if !r.declaresDst(dst) && !p.Exit {
					r.warnf("peer %s on %s accepts %s; tether installs no default route from allowed addresses: declare a [[route]] if the tunnel should carry it", p.Name, p.Interface, dst)
				}
				continue
			}
			declared[key{dst, "main"}] = true
			var as attrs
			as.set("dst-address", dst.String())
			as.set("gateway", p.Interface)
			as.set("routing-table", "main")
			as.set("comment", OwnedComment("allowed-address of peer "+p.Name))
			r.add("/"+family(dst.Addr())+"/route", "", as)
		}
	}
}

func (r *renderer) declaresDst(p netip.Prefix) bool {
	for _, rt := range r.s.Routes {
		if rt.Dst.IsValid() && rt.Dst.Prefix == p {
			return true
		}
	}
	return false
}

// canonAddr prints an IP gateway canonically and leaves interface names be.
func canonAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

func (r *renderer) routingRules() {
	for _, rr := range r.s.RoutingRules {
		var as attrs
		if rr.SrcAddress.IsValid() {
			as.set("src-address", rr.SrcAddress.String())
		}
		if rr.DstAddress.IsValid() {
			as.set("dst-address", rr.DstAddress.String())
		}
		as.set("routing-mark", rr.RoutingMark)
		as.set("interface", rr.Interface)
		action := rr.Action
		if action == "" {
			action = "lookup"
		}
		as.set("action", action)
		as.set("table", rr.Table)
		as.set("comment", OwnedComment(rr.Comment))
		r.add("/routing/rule", "", as)
	}
}

// ---- router advertisements and singletons ----

func (r *renderer) routerAdverts() {
	for _, ra := range r.s.RouterAdverts {
		var as attrs
		as.set("interface", ra.Interface)
		if ra.MinInterval.IsSet() || ra.MaxInterval.IsSet() {
			// RouterOS takes one min-max range; fill the missing bound
			// with RFC 4861's defaults (max 600s, min a third of max).
			maxI, minI := 600*time.Second, time.Duration(0)
			if ra.MaxInterval.IsSet() {
				maxI = ra.MaxInterval.Duration
			}
			minI = maxI / 3
			if ra.MinInterval.IsSet() {
				minI = ra.MinInterval.Duration
			}
			as.set("ra-interval", formatDuration(minI)+"-"+formatDuration(maxI))
		}
		if ra.DefaultLifetime != nil {
			as.set("ra-lifetime", formatDuration(ra.DefaultLifetime.Duration))
		}
		if ra.ReachableTime.IsSet() {
			as.set("reachable-time", formatDuration(ra.ReachableTime.Duration))
		}
		if len(ra.DNS) > 0 {
			as.yesNo("advertise-dns", true)
			var dns []string
			for _, d := range ra.DNS {
				dns = append(dns, d.String())
			}
			as.set("dns", strings.Join(dns, ","))
		} else {
			as.yesNo("advertise-dns", false)
		}
		as.set("comment", OwnedComment(""))
		r.add("/ipv6/nd", "", as)

		if len(ra.Routes) > 0 || ra.RoutePreference != "" {
			r.warnf("router_advertisement on %s: RouterOS /ipv6/nd sends no route information options; routes and route_preference are not rendered", ra.Interface)
		}
		if ra.SourceAddress.IsValid() {
			r.warnf("router_advertisement on %s: RouterOS picks the RA source itself; source_address is not rendered", ra.Interface)
		}
		if (ra.OnLink != nil && !*ra.OnLink) || (ra.Autonomous != nil && !*ra.Autonomous) {
			r.warnf("router_advertisement on %s: on_link/autonomous = false are /ipv6/nd/prefix settings RouterOS derives from addresses; not rendered", ra.Interface)
		}
		for _, p := range ra.Prefixes {
			if p.IsValid() && !r.advertised(ra.Interface, p.Prefix) {
				r.warnf("router_advertisement on %s: RouterOS advertises prefixes of addresses with advertise=yes; %s has no such address on %s", ra.Interface, p, ra.Interface)
			}
		}
	}
}

// advertised reports whether an address on iface inside p is rendered with
// advertise=yes, which is how RouterOS decides what to put in its RAs.
func (r *renderer) advertised(iface string, p netip.Prefix) bool {
	for _, it := range r.cfg.Items {
		if it.Path != "/ipv6/address" {
			continue
		}
		ifc, _ := it.Get("interface")
		adv, _ := it.Get("advertise")
		addr, _ := it.Get("address")
		if ifc != iface || adv != "yes" {
			continue
		}
		if a, err := netip.ParsePrefix(addr); err == nil && a.Masked() == p {
			return true
		}
	}
	return false
}

func (r *renderer) singletons() {
	if d := r.s.DNS; d != nil {
		var as attrs
		var servers []string
		for _, a := range d.Servers {
			servers = append(servers, a.String())
		}
		as.set("servers", strings.Join(servers, ","))
		as.yesNo("allow-remote-requests", d.AllowRemoteRequests)
		r.cfg.Items = append(r.cfg.Items, Item{Path: "/ip/dns", Singleton: true, Attrs: as})
	}
}

// raw renders [[raw.routeros]] items: singletons set their attributes
// (merged into a modelled singleton of the same menu), other items are
// added with the raw name in their comment, which is their identity.
func (r *renderer) raw() error {
	for _, x := range r.s.Raw.RouterOS {
		names := make([]string, 0, len(x.Attributes))
		for k := range x.Attributes {
			names = append(names, k)
		}
		slices.Sort(names)
		var as attrs
		for _, k := range names {
			if k == "comment" {
				continue // tether owns the comment
			}
			if x.Attributes[k] == "" && flagAttrs[k] {
				as.flag(k, true)
				continue
			}
			as.set(k, x.Attributes[k])
		}
		if x.Singleton {
			if err := r.mergeSingleton(x.Path, as); err != nil {
				return err
			}
			continue
		}
		as.set("comment", OwnedComment(rawPrefix+x.Name))
		r.add(x.Path, x.PlaceBefore, as)
	}
	return nil
}

func (r *renderer) mergeSingleton(path string, as attrs) error {
	for i := range r.cfg.Items {
		it := &r.cfg.Items[i]
		if !it.Singleton || it.Path != path {
			continue
		}
		for _, a := range as {
			if v, ok := it.Get(a.Name); ok {
				if v != a.Value {
					return fmt.Errorf("render routeros: site %q: %s %s is set to %q by the model and to %q by raw.routeros", r.cfg.Site, path, a.Name, v, a.Value)
				}
				continue
			}
			it.Attrs = append(it.Attrs, a)
		}
		return nil
	}
	r.cfg.Items = append(r.cfg.Items, Item{Path: path, Singleton: true, Attrs: as})
	return nil
}

// formatDuration writes a duration the way RouterOS prints one: "25s",
// "1m30s", "2h", "0s". Sub-second parts are dropped (RouterOS works in
// seconds for every duration tether emits).
func formatDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s <= 0 {
		return "0s"
	}
	var b strings.Builder
	if w := s / (7 * 86400); w > 0 {
		b.WriteString(strconv.FormatInt(w, 10) + "w")
		s %= 7 * 86400
	}
	if day := s / 86400; day > 0 {
		b.WriteString(strconv.FormatInt(day, 10) + "d")
		s %= 86400
	}
	if h := s / 3600; h > 0 {
		b.WriteString(strconv.FormatInt(h, 10) + "h")
		s %= 3600
	}
	if m := s / 60; m > 0 {
		b.WriteString(strconv.FormatInt(m, 10) + "m")
		s %= 60
	}
	if s > 0 {
		b.WriteString(strconv.FormatInt(s, 10) + "s")
	}
	return b.String()
}
