package importer

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
)

// Input is one RouterOS import.
type Input struct {
	Site string
	Rows Rows
	// Repo is the network folder the site joins (network.toml, sites/,
	// links/, peers/), or nil for a router imported on its own. Its sites'
	// public keys turn peers into links; its links and peers explain the
	// router items they render.
	Repo fs.FS
}

// Result is an imported site and the files it needs.
type Result struct {
	Site  *policy.Site
	Links []*policy.Link // new links (peers whose key is another site's)
	Peers []*policy.Peer // new external peers (unknown keys)
	// Files are the files to write, by path relative to the network
	// folder: sites/<site>.toml plus a file per new link and peer.
	Files map[string][]byte
	// Problems are what the repo's validation still reports with the
	// imported files in place (nil when they validate).
	Problems policy.Problems
	// Notes say what the operator must do or check, one line each.
	Notes []string

	rawWhy    map[int][]string // comments above raw items, by index
	header    []string
	linkNotes map[string][]string
	peerNotes map[string][]string
	wgNotes   map[string][]string
}

// item is one router row import looks at.
type item struct {
	path  string
	attrs map[string]string
	human string // the comment without tether's marker
	owned bool   // the comment carries tether's marker
	raw   string // a tether raw item's name
	used  bool   // explained by a link or peer, or imported
}

func (it *item) get(k string) string { return it.attrs[k] }

// importer holds one conversion.
type importer struct {
	in      Input
	repo    *policy.Network
	files   map[string][]byte // the repo's files
	items   map[string][]*item
	defconf bool
	res     *Result
	site    *policy.Site
	// sources map a model item back to its row, per section, so an item
	// validation refuses can become a raw item instead.
	addrRows, routeRows, ruleRows, alRows, fwRows, tableRows []*item
	anchors                                                  map[*item]string
	old                                                      *policy.Site
	routesVia                                                map[routeKey]bool
	subnets                                                  map[string][]netip.Prefix
}

// RouterOS converts the rows read from a router into a site. It never
// fails on what the router holds: what the model cannot express becomes a
// [[raw.routeros]] item with a comment saying why; err is for a repo that
// cannot be read.
func RouterOS(in Input) (*Result, error) {
	im := &importer{in: in, items: map[string][]*item{}, anchors: map[*item]string{},
		res: &Result{rawWhy: map[int][]string{}, linkNotes: map[string][]string{}, peerNotes: map[string][]string{},
			wgNotes: map[string][]string{}}}
	if err := im.loadRepo(); err != nil {
		return nil, err
	}
	im.collect()
	im.skeleton()
	im.wireguardPeers()
	if err := im.explain(); err != nil {
		return nil, err
	}
	im.siteItems()
	im.settle()
	return im.res, nil
}

func (im *importer) loadRepo() error {
	im.files = map[string][]byte{}
	if im.in.Repo == nil {
		im.files["network.toml"] = []byte(fmt.Sprintf("name = %s\n", quote(im.in.Site)))
		return nil
	}
	err := fs.WalkDir(im.in.Repo, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".toml") || strings.Count(p, "/") > 1 {
			return nil
		}
		b, err := fs.ReadFile(im.in.Repo, p)
		if err != nil {
			return err
		}
		im.files[p] = b
		return nil
	})
	if err != nil {
		return fmt.Errorf("import: read the repo: %w", err)
	}
	if _, err := fs.Stat(im.in.Repo, "network.toml"); err != nil {
		return fmt.Errorf("import: the repo has no network.toml: %w", err)
	}
	n, probs := policy.Load(im.in.Repo, ".")
	if probs.HasErrors() {
		// A repo without sites yet (the first import) does not validate on
		// its own; the import is validated with the repo in the end.
		if errs := probs.Errors(); len(errs) > 1 || !strings.Contains(errs[0].Message, "no sites") {
			im.note("the repo does not validate on its own (%s); its sites' keys are not matched", errs[0])
		}
		return nil
	}
	im.repo = n
	return nil
}

// collect sorts the rows into items: the router's own (dynamic, default,
// builtin) and defconf's are left out; tether's marker is taken off.
func (im *importer) collect() {
	for path, rows := range im.in.Rows {
		for _, r := range rows {
			if r["dynamic"] == "true" || r["default"] == "true" || r["builtin"] == "true" {
				continue
			}
			c := r["comment"]
			if c == "defconf" || strings.HasPrefix(c, "defconf:") {
				im.defconf = true
				continue
			}
			if path == "/routing/bgp/template" && r["name"] == "default" && c == "" {
				continue // every router's own template
			}
			it := &item{path: path, attrs: r, human: c}
			if c == "tether" || strings.HasPrefix(c, "tether: ") {
				it.owned = true
				it.human = strings.TrimPrefix(strings.TrimPrefix(c, "tether"), ": ")
				if name, ok := strings.CutPrefix(it.human, "raw "); ok {
					it.raw = name
				}
			}
			im.items[path] = append(im.items[path], it)
		}
	}
}

// unused returns the items of a menu not yet imported or explained.
func (im *importer) unused(path string) []*item {
	var out []*item
	for _, it := range im.items[path] {
		if !it.used {
			out = append(out, it)
		}
	}
	return out
}

// skeleton builds what every other part refers to: the platform, version,
// BGP identity, interfaces and WireGuard interfaces.
func (im *importer) skeleton() {
	s := &policy.Site{Name: im.in.Site, Platform: "routeros"}
	im.site, im.res.Site = s, s
	if rs := im.in.Rows["/system/resource"]; len(rs) > 0 {
		s.RouterOSVersion, _, _ = strings.Cut(rs[0]["version"], " ")
	}
	if !im.defconf {
		f := false
		s.Defconf = &f
		im.res.header = append(im.res.header, "No defconf items were found: the router runs without the default configuration.")
	}
	if old := im.repoSite(); old != nil {
		// What the router cannot know is kept from the repo's site file.
		s.Description, s.RoutedPrefixes, s.Probes, s.Health = old.Description, old.RoutedPrefixes, old.Probes, old.Health
	}
	for _, it := range im.unused("/interface/wireguard") {
		w := policy.WireGuard{Name: it.get("name"), Comment: it.human}
		w.ListenPort, _ = strconv.Atoi(it.get("listen-port"))
		w.MTU, _ = strconv.Atoi(it.get("mtu"))
		if k, ok := parseKey(it.get("public-key")); ok {
			w.PublicKey = k
		}
		if it.get("disabled") == "true" && !it.owned {
			im.note("WireGuard interface %s is disabled on the router: not imported (adopt refuses disabled items)", w.Name)
			continue
		}
		if old := im.repoSite(); old != nil {
			// Where peers dial in is the operator's knowledge, not the router's.
			for _, ow := range old.WireGuard {
				if ow.Name == w.Name {
					w.Endpoint = ow.Endpoint
				}
			}
		}
		it.used = true
		s.WireGuard = append(s.WireGuard, w)
		im.res.wgNotes[w.Name] = []string{"RouterOS keeps this interface's private key; tether never reads or writes it."}
	}
	// BGP identity: the instance (7.20+) or the connections (7.18).
	if inst := im.unused("/routing/bgp/instance"); len(inst) > 0 {
		it := inst[0]
		s.BGP.Instance = it.get("name")
		s.ASN = parseASN(it.get("as"))
		if a, err := netip.ParseAddr(it.get("router-id")); err == nil {
			s.RouterID = policy.Addr{Addr: a}
		}
	} else if cs := im.unused("/routing/bgp/connection"); len(cs) > 0 {
		s.ASN = parseASN(cs[0].get("as"))
		if a, err := netip.ParseAddr(cs[0].get("router-id")); err == nil {
			s.RouterID = policy.Addr{Addr: a}
		}
	}
	if s.BGP.Instance == policy.DefaultInstance {
		s.BGP.Instance = ""
	}
	// Interface roles and lists from list membership.
	for _, r := range im.in.Rows["/interface/list/member"] {
		if r["dynamic"] == "true" || im.wireguard(r["interface"]) != nil {
			continue // a tunnel's lists are its own (lists = [...])
		}
		switch r["list"] {
		case "WAN":
			im.iface(r["interface"]).Role = "wan"
		case "LAN":
			im.iface(r["interface"]).Role = "lan"
		}
	}
	for _, it := range im.unused("/interface/list/member") {
		if it.get("disabled") == "true" && !it.owned {
			continue
		}
		name, list := it.get("interface"), it.get("list")
		if w := im.wireguard(name); w != nil {
			w.Lists = append(w.Lists, list)
		} else {
			x := im.iface(name)
			x.Lists = append(x.Lists, list)
		}
		it.used = true
	}
	// A list tether renders from a member or a rule reference is explained
	// by those; others are raw items (see siteItems).
}

// repoSite is the repo's file of the site as written, without the
// defaults loading adds, or nil when the repo has none.
func (im *importer) repoSite() *policy.Site {
	if im.old != nil || im.repo == nil || im.repo.Sites[im.in.Site] == nil {
		return im.old
	}
	var s policy.Site
	if _, err := toml.Decode(string(im.files["sites/"+im.in.Site+".toml"]), &s); err != nil {
		return nil // it validated, so it decodes; a different layout keeps nothing
	}
	im.old = &s
	return im.old
}

// iface returns the [[interface]] entry of name, adding it.
func (im *importer) iface(name string) *policy.Interface {
	for i := range im.site.Interfaces {
		if im.site.Interfaces[i].Name == name {
			return &im.site.Interfaces[i]
		}
	}
	im.site.Interfaces = append(im.site.Interfaces, policy.Interface{Name: name})
	return &im.site.Interfaces[len(im.site.Interfaces)-1]
}

func (im *importer) wireguard(name string) *policy.WireGuard {
	for i := range im.site.WireGuard {
		if im.site.WireGuard[i].Name == name {
			return &im.site.WireGuard[i]
		}
	}
	return nil
}

// declare makes sure an interface name used by an item is declared.
func (im *importer) declare(name string) {
	name = strings.TrimPrefix(name, "!")
	if name == "" || name == "all" || im.wireguard(name) != nil {
		return
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return
	}
	im.iface(name)
}

func (im *importer) note(format string, a ...any) {
	im.res.Notes = append(im.res.Notes, fmt.Sprintf(format, a...))
}

// ---- WireGuard peers: links and external peers ----

type keyOwner struct{ site, iface string }

func (im *importer) wireguardPeers() {
	owners := map[string]keyOwner{}
	if im.repo != nil {
		for _, name := range im.repo.SiteNames() {
			if name == im.in.Site {
				continue
			}
			for _, w := range im.repo.Sites[name].WireGuard {
				if !w.PublicKey.IsZero() {
					owners[w.PublicKey.String()] = keyOwner{name, w.Name}
				}
			}
		}
	}
	known := map[string]bool{} // "iface key" of peers the repo's links and peers explain
	if im.repo != nil && im.repo.Sites[im.in.Site] != nil {
		for _, p := range im.repo.WireGuardPeers(im.in.Site) {
			known[p.Interface+" "+p.PublicKey.String()] = true
		}
	}
	for _, it := range im.unused("/interface/wireguard/peers") {
		iface, key := it.get("interface"), it.get("public-key")
		if im.wireguard(iface) == nil {
			continue // a peer of an interface not imported: left alone
		}
		if it.get("disabled") == "true" && !it.owned {
			im.note("WireGuard peer %s on %s is disabled on the router: not imported", cmp.Or(it.get("name"), key), iface)
			continue
		}
		switch o, isSite := owners[key]; {
		case known[iface+" "+key]:
			// The repo's link or peer renders it; explain() matches it.
		case isSite && im.newLink(it, o):
		default:
			im.newPeer(it)
		}
	}
}

// allowed parses a peer's allowed-address.
func allowed(v string) []policy.Prefix {
	var out []policy.Prefix
	for _, s := range strings.Split(v, ",") {
		if p, ok := parsePrefix(strings.TrimSpace(s)); ok {
			out = append(out, policy.Prefix{Prefix: p})
		}
	}
	return out
}

func keepalive(v string) policy.Duration {
	d, ok := parseDuration(v)
	if !ok {
		return policy.DurationOf(0)
	}
	return policy.DurationOf(d)
}

func endpoint(it *item) policy.Endpoint {
	host := it.get("endpoint-address")
	port, _ := strconv.Atoi(it.get("endpoint-port"))
	if host == "" || port <= 0 || port > 65535 {
		return policy.Endpoint{}
	}
	return policy.Endpoint{Host: host, Port: uint16(port)}
}

// newLink turns a peer whose key is another site's into a new link, when
// this end's transit address can be found: an address of the interface
// whose subnet holds one of the peer's allowed host addresses. It reports
// whether it did.
func (im *importer) newLink(it *item, o keyOwner) bool {
	iface := it.get("interface")
	al := allowed(it.get("allowed-address"))
	var local, remote netip.Prefix
	for _, a := range im.unused("/ip/address") {
		im.findTransit(a, iface, al, &local, &remote)
	}
	for _, a := range im.unused("/ipv6/address") {
		im.findTransit(a, iface, al, &local, &remote)
	}
	ep := endpoint(it)
	if !local.IsValid() || ep.IsZero() {
		im.note("peer %s on %s has the key of site %s's %s, but the link cannot be derived (no transit address on %s holds one of its allowed addresses, or no endpoint): imported as an external peer; turn it into a link",
			cmp.Or(it.get("name"), it.get("public-key")), iface, o.site, o.iface, iface)
		return false
	}
	name := im.freeName("links/", im.in.Site+"-"+o.site)
	k := &policy.Link{Name: name, Transit: []policy.Prefix{{Prefix: local.Masked()}}}
	if !strings.HasPrefix(it.human, "link ") {
		k.Description = it.human
	}
	k.A = policy.LinkEnd{Site: im.in.Site, Interface: iface, Address: policy.IfAddr{Prefix: local}, Keepalive: keepalive(it.get("persistent-keepalive"))}
	rhost := netip.PrefixFrom(remote.Addr(), remote.Addr().BitLen())
	if len(al) != 1 || al[0].Prefix != rhost {
		k.A.Allowed = al
	}
	if pn := it.get("name"); pn != "" && pn != o.site {
		k.A.PeerName = pn
	}
	k.B = policy.LinkEnd{Site: o.site, Interface: o.iface, Address: policy.IfAddr{Prefix: remote}, Endpoint: ep}
	// RouterOS installs no route from allowed-address; tether does unless
	// told not to. Keep what the router has: routes through the tunnel.
	route := false
	for _, p := range al {
		if im.hasRouteVia(p.Prefix, iface) {
			route = true
		}
	}
	k.A.Route = &route
	im.res.Links = append(im.res.Links, k)
	im.res.linkNotes[name] = []string{
		fmt.Sprintf("Imported from %s's peer %s: the key is site %s's %s.", im.in.Site, cmp.Or(it.get("name"), "(unnamed)"), o.site, o.iface),
		fmt.Sprintf("Site %s renders its end from this file too: check b.allowed and b.keepalive there.", o.site),
	}
	im.linkBGP(k, cmp.Or(k.A.PeerName, o.site), remote.Addr())
	return true
}

func (im *importer) findTransit(a *item, iface string, al []policy.Prefix, local, remote *netip.Prefix) {
	if local.IsValid() || a.get("interface") != iface {
		return
	}
	p, err := netip.ParsePrefix(a.get("address"))
	if err != nil {
		return
	}
	for _, x := range al {
		if x.Bits() == x.Addr().BitLen() && p.Masked().Contains(x.Addr()) && x.Addr() != p.Addr() && p.Bits() < x.Bits() {
			*local, *remote = p, netip.PrefixFrom(x.Addr(), p.Bits())
			return
		}
	}
}

type routeKey struct {
	dst   netip.Prefix
	iface string
}

// hasRouteVia reports whether the router routes dst through iface (an
// index built on first use: a router may have thousands of routes).
func (im *importer) hasRouteVia(dst netip.Prefix, iface string) bool {
	if im.routesVia == nil {
		im.routesVia = map[routeKey]bool{}
		for _, path := range []string{"/ip/route", "/ipv6/route"} {
			for _, r := range im.items[path] {
				if p, ok := parsePrefix(r.get("dst-address")); ok {
					im.routesVia[routeKey{p, r.get("gateway")}] = true
				}
			}
		}
	}
	return im.routesVia[routeKey{dst, iface}]
}

// newPeer turns a peer with an unknown key into an external peer.
func (im *importer) newPeer(it *item) {
	iface := it.get("interface")
	k, ok := parseKey(it.get("public-key"))
	if !ok {
		im.note("peer %s on %s has no valid public key: not imported", it.get("name"), iface)
		return
	}
	base := cmp.Or(sanitize(it.get("name")), iface+"-peer")
	name := im.freeName("peers/", base)
	p := &policy.Peer{Name: name, PublicKey: k, Site: im.in.Site, Interface: iface, Allowed: allowed(it.get("allowed-address")),
		Endpoint: endpoint(it)}
	if !strings.HasPrefix(it.human, "peer ") {
		p.Description = it.human
	}
	if d, ok := parseDuration(it.get("persistent-keepalive")); ok && d > 0 {
		p.Keepalive = policy.DurationOf(d)
	}
	if !p.Endpoint.IsZero() {
		p.Kind = "server"
	}
	im.res.Peers = append(im.res.Peers, p)
	notes := []string{fmt.Sprintf("Imported from %s's WireGuard peer %s on %s: its key matches no site of the repo.", im.in.Site, cmp.Or(it.get("name"), "(unnamed)"), iface),
		"Its private key stays on the device; a preshared key set on the router is left as it is (tether never writes one)."}
	for _, a := range p.Allowed {
		if a.Bits() > 0 && !im.hasRouteVia(a.Prefix, iface) && !im.connected(iface, a.Prefix) {
			notes = append(notes, fmt.Sprintf("tether will add a route to %s through %s (RouterOS installs none from allowed-address).", a, iface))
		}
	}
	im.res.peerNotes[name] = notes
}

// connected reports whether an address of iface covers p.
func (im *importer) connected(iface string, p netip.Prefix) bool {
	if im.subnets == nil {
		im.subnets = map[string][]netip.Prefix{}
		for _, path := range []string{"/ip/address", "/ipv6/address"} {
			for _, a := range im.items[path] {
				if c, err := netip.ParsePrefix(a.get("address")); err == nil {
					im.subnets[a.get("interface")] = append(im.subnets[a.get("interface")], c.Masked())
				}
			}
		}
	}
	for _, c := range im.subnets[iface] {
		if c.Bits() <= p.Bits() && c.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(s string) string {
	return strings.Trim(nameChars.ReplaceAllString(s, "-"), "-.")
}

// freeName returns base, or base-2, base-3 ..., that no file under dir
// (links/ or peers/) of the repo or this import uses yet.
func (im *importer) freeName(dir, base string) string {
	taken := func(n string) bool {
		if _, ok := im.files[dir+n+".toml"]; ok {
			return true
		}
		for _, k := range im.res.Links {
			if dir == "links/" && k.Name == n {
				return true
			}
		}
		for _, p := range im.res.Peers {
			if dir == "peers/" && p.Name == n {
				return true
			}
		}
		return false
	}
	name := base
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// ---- explain: what the repo's links and peers (and the new ones) render ----

// explain renders the skeleton site within the repo and marks every row a
// rendered item stands for as used: link addresses, peers, routes from
// allowed addresses, BGP sessions and their filters.
func (im *importer) explain() error {
	n, probs := im.load()
	if probs.HasErrors() {
		// The skeleton alone does not validate (a repo link names an
		// interface the router lacks): nothing is explained, everything is
		// imported as the site's own.
		for _, p := range probs.Errors() {
			im.note("%s", p.String())
		}
		return nil
	}
	cfg, err := ros.Render(n, im.in.Site)
	if err != nil {
		im.note("render %s: %v", im.in.Site, err)
		return nil
	}
	// Rows by identity, computed once per row, so matching stays linear.
	byID := map[string][]*item{}
	for path, items := range im.items {
		for _, it := range items {
			if !it.used {
				id, _ := ros.Identity(path, it.attrs)
				byID[path+"\x00"+id] = append(byID[path+"\x00"+id], it)
			}
		}
	}
	for _, r := range cfg.Items {
		if r.Singleton {
			continue
		}
		for _, it := range byID[r.Path+"\x00"+r.ID] {
			if !it.used {
				it.used = true
				break
			}
		}
	}
	return nil
}

// ---- the site's own items ----

func (im *importer) siteItems() {
	s := im.site
	im.keepRaw()
	// Routing tables.
	for _, it := range im.unused("/routing/table") {
		if im.skipDisabled(it) {
			continue
		}
		it.used = true
		s.RoutingTables = append(s.RoutingTables, policy.RoutingTable{Name: it.get("name"), FIB: flag(it.attrs, "fib")})
		im.tableRows = append(im.tableRows, it)
	}
	// Interface lists: those a member or rule names are rendered from
	// there; an empty hand-made list is kept as a raw item.
	used := map[string]bool{}
	for _, x := range s.Interfaces {
		for _, l := range x.Lists {
			used[l] = true
		}
	}
	for _, w := range s.WireGuard {
		for _, l := range w.Lists {
			used[l] = true
		}
	}
	for _, path := range []string{"/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/mangle", "/ipv6/firewall/filter", "/ipv6/firewall/nat", "/ipv6/firewall/mangle"} {
		for _, it := range im.items[path] {
			used[strings.TrimPrefix(it.get("in-interface-list"), "!")] = true
			used[strings.TrimPrefix(it.get("out-interface-list"), "!")] = true
		}
	}
	for _, it := range im.unused("/interface/list") {
		if used[it.get("name")] && !im.hasExtra(it) {
			it.used = true
			continue
		}
		im.toRaw(it, "an interface list no imported member or rule uses: the model declares lists only through them")
	}
	im.addresses()
	im.addressLists()
	im.routes()
	im.routingRules()
	im.firewall()
	im.dns()
	// What is left is what the model has no place for.
	for _, m := range menus {
		for _, it := range im.unused(m.path) {
			if im.skipDisabled(it) {
				continue
			}
			switch m.path {
			case "/interface/wireguard/peers", "/interface/list/member":
				continue // of an interface that was not imported, or disabled
			case "/routing/bgp/instance", "/routing/bgp/template", "/routing/bgp/connection", "/routing/filter/rule":
				im.toRaw(it, "BGP that no link of the repo renders: tether models eBGP sessions only on links between sites")
			case "/ipv6/nd":
				im.toRaw(it, "router advertisement settings: the model's [[router_advertisement]] does not map onto /ipv6/nd one to one")
			default:
				im.toRaw(it, "not expressible in the model")
			}
		}
	}
}

// keepRaw carries the repo site's raw items over: whole, since a raw item
// may set attributes import does not read, and also where its menu is not
// read at all (import cannot tell whether those still hold).
func (im *importer) keepRaw() {
	old := im.repoSite()
	if old == nil {
		return
	}
	for _, x := range old.Raw.RouterOS {
		read := slices.ContainsFunc(menus, func(m menu) bool { return m.path == x.Path })
		found := false
		for _, it := range im.items[x.Path] {
			if it.owned && it.raw == x.Name && !it.used {
				it.used, found = true, true
			}
		}
		if !found && read && !x.Singleton {
			continue // tether's item is gone from the router
		}
		im.res.rawWhy[len(im.site.Raw.RouterOS)] = []string{"kept from the repo's site file"}
		im.site.Raw.RouterOS = append(im.site.Raw.RouterOS, x)
	}
}

// skipDisabled leaves out a disabled item tether does not own: adopt
// refuses disabled look-alikes, so importing one would block the adoption.
func (im *importer) skipDisabled(it *item) bool {
	if it.get("disabled") != "true" || it.owned {
		return false
	}
	it.used = true
	im.note("%s %s is disabled on the router: not imported (enable it and import again, or remove it)", it.path, describeRow(it))
	return true
}

func describeRow(it *item) string {
	for _, k := range []string{"name", "address", "dst-address", "chain", "interface"} {
		if v := it.get(k); v != "" {
			if it.human != "" {
				return fmt.Sprintf("%s=%s (%q)", k, v, it.human)
			}
			return k + "=" + v
		}
	}
	return strconv.Quote(it.human)
}

// hasExtra reports whether an item sets an attribute the model lacks.
func (im *importer) hasExtra(it *item) bool { return len(extrasSet(it)) > 0 }

func extrasSet(it *item) []string {
	var out []string
	for _, k := range extraAttrs(it.path) {
		switch v := it.get(k); strings.ToLower(v) {
		case "", "false", "no", "none", "0":
		default:
			if it.path == "/ipv6/address" && k == "eui-64" && v == "false" {
				continue
			}
			out = append(out, k+"="+v)
		}
	}
	return out
}

func (im *importer) addresses() {
	for _, path := range []string{"/ip/address", "/ipv6/address"} {
		for _, it := range im.unused(path) {
			if im.skipDisabled(it) {
				continue
			}
			if x := extrasSet(it); len(x) > 0 {
				im.toRaw(it, "sets "+strings.Join(x, ", ")+", which [[address]] has no field for")
				continue
			}
			p, err := netip.ParsePrefix(it.get("address"))
			if err != nil {
				im.toRaw(it, "the address does not parse as an interface address")
				continue
			}
			it.used = true
			if w := im.wireguard(it.get("interface")); w != nil && it.human == w.Comment && (path == "/ip/address" || !flag(it.attrs, "advertise")) {
				// An address of the tunnel itself, as the examples write it.
				w.Addresses = append(w.Addresses, policy.IfAddr{Prefix: p})
				continue
			}
			a := policy.Address{Interface: it.get("interface"), Address: policy.IfAddr{Prefix: p}, Comment: it.human}
			if path == "/ipv6/address" {
				v := flag(it.attrs, "advertise")
				a.Advertise = &v
			} else if nw, err := netip.ParseAddr(it.get("network")); err == nil && nw != p.Masked().Addr() {
				a.Network = policy.Addr{Addr: nw}
			}
			im.declare(a.Interface)
			im.site.Addresses = append(im.site.Addresses, a)
			im.addrRows = append(im.addrRows, it)
		}
	}
}

func (im *importer) addressLists() {
	for _, path := range []string{"/ip/firewall/address-list", "/ipv6/firewall/address-list"} {
		for _, it := range im.unused(path) {
			if im.skipDisabled(it) {
				continue
			}
			if x := extrasSet(it); len(x) > 0 {
				im.toRaw(it, "sets "+strings.Join(x, ", ")+", which [[address_list]] has no field for")
				continue
			}
			p, ok := parsePrefix(it.get("address"))
			if !ok {
				im.toRaw(it, "the address is a range or a DNS name; [[address_list]] takes a prefix")
				continue
			}
			it.used = true
			im.site.AddressLists = append(im.site.AddressLists, policy.AddressListEntry{List: it.get("list"), Address: policy.Prefix{Prefix: p}, Comment: it.human})
			im.alRows = append(im.alRows, it)
		}
	}
}

func (im *importer) routes() {
	for _, path := range []string{"/ip/route", "/ipv6/route"} {
		for _, it := range im.unused(path) {
			if im.skipDisabled(it) {
				continue
			}
			if x := extrasSet(it); len(x) > 0 {
				im.toRaw(it, "sets "+strings.Join(x, ", ")+", which [[route]] has no field for")
				continue
			}
			dst, ok := parsePrefix(it.get("dst-address"))
			gw := it.get("gateway")
			if !ok || strings.ContainsAny(gw, ",%") {
				im.toRaw(it, "an ECMP or scoped gateway, which [[route]] has no field for")
				continue
			}
			it.used = true
			rt := policy.Route{Dst: policy.Prefix{Prefix: dst}, Blackhole: flag(it.attrs, "blackhole"), Comment: it.human}
			if !rt.Blackhole {
				rt.Gateway = gw
				im.declare(gw)
			}
			if d, _ := strconv.Atoi(it.get("distance")); d != 1 || rt.Blackhole {
				rt.Distance = d
			}
			if t := it.get("routing-table"); t != "main" {
				rt.Table = t
			}
			im.site.Routes = append(im.site.Routes, rt)
			im.routeRows = append(im.routeRows, it)
		}
	}
}

func (im *importer) routingRules() {
	for _, it := range im.unused("/routing/rule") {
		if im.skipDisabled(it) {
			continue
		}
		rr := policy.RoutingRule{RoutingMark: it.get("routing-mark"), Interface: it.get("interface"), Action: it.get("action"),
			Table: it.get("table"), Comment: it.human}
		ok := true
		for _, f := range []struct {
			v   string
			dst *policy.Prefix
		}{{it.get("src-address"), &rr.SrcAddress}, {it.get("dst-address"), &rr.DstAddress}} {
			if f.v == "" {
				continue
			}
			p, good := parsePrefix(f.v)
			ok = ok && good
			*f.dst = policy.Prefix{Prefix: p}
		}
		if !ok {
			im.toRaw(it, "an address the model cannot write")
			continue
		}
		it.used = true
		im.declare(rr.Interface)
		im.site.RoutingRules = append(im.site.RoutingRules, rr)
		im.ruleRows = append(im.ruleRows, it)
	}
}

func (im *importer) dns() {
	rs := im.in.Rows["/ip/dns"]
	if len(rs) == 0 {
		return
	}
	r := rs[0]
	d := &policy.DNS{AllowRemoteRequests: r["allow-remote-requests"] == "true"}
	for _, s := range strings.Split(r["servers"], ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			d.Servers = append(d.Servers, policy.Addr{Addr: a})
		}
	}
	// defconf's own setting (no servers, remote requests on) is the
	// router's, not the site's.
	if len(d.Servers) == 0 && (d.AllowRemoteRequests == im.defconf) {
		return
	}
	im.site.DNS = d
}

// ---- firewall ----

var fwPaths = []string{"/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/mangle", "/ipv6/firewall/filter", "/ipv6/firewall/nat", "/ipv6/firewall/mangle"}

// icmpNames maps RouterOS icmp-options type numbers back to the model's
// names, per family.
var icmpNames = map[string]map[int]string{
	"ip": {0: "echo-reply", 3: "destination-unreachable", 8: "echo-request", 11: "time-exceeded", 12: "parameter-problem"},
	"ipv6": {1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem", 128: "echo-request",
		129: "echo-reply", 130: "mld-listener-query", 131: "mld-listener-report", 133: "nd-router-solicit", 134: "nd-router-advert",
		135: "nd-neighbor-solicit", 136: "nd-neighbor-advert", 143: "mld2-listener-report"},
}

// firewall imports each menu's rules in router order. A rule right before
// a defconf rule is placed before it (place_before); the rules after the
// last defconf rule are appended. Per menu the appended rules come first,
// because an unanchored rule after an anchored one of its chain would
// inherit the anchor.
func (im *importer) firewall() {
	for _, path := range fwPaths {
		fam, table := "ip", path[strings.LastIndex(path, "/")+1:]
		if strings.HasPrefix(path, "/ipv6/") {
			fam = "ipv6"
		}
		rows := im.in.Rows[path]
		byRow := map[string]*item{}
		for _, it := range im.items[path] {
			byRow[it.get(".id")] = it
		}
		// The anchor of each imported rule: the comment of the next rule
		// of its chain that stays the router's (defconf).
		seen := map[string]int{}
		var free, anchored []*item
		for i, r := range rows {
			it := byRow[r[".id"]]
			if it == nil || it.used {
				continue
			}
			if im.skipDisabled(it) {
				continue
			}
			anchor := ""
			for _, next := range rows[i+1:] {
				if next["chain"] != r["chain"] || next["dynamic"] == "true" {
					continue
				}
				if n := byRow[next[".id"]]; n != nil {
					continue // imported too: the rule goes with it
				}
				anchor = next["comment"]
				break
			}
			if anchor != "" {
				im.anchors[it] = anchor
				anchored = append(anchored, it)
			} else {
				free = append(free, it)
			}
		}
		for _, it := range slices.Concat(free, anchored) {
			// tether tells its rules apart by chain and comment.
			key := it.get("chain") + "\x00" + it.human
			if it.human == "" || seen[key] > 0 {
				it.human = strings.TrimSpace(fmt.Sprintf("imported %s %s rule %s %s", table, it.get("chain"), strings.TrimPrefix(it.get(".id"), "*"), it.human))
				key = it.get("chain") + "\x00" + it.human
			}
			seen[key]++
			im.firewallRule(it, fam, table)
		}
	}
}

func (im *importer) firewallRule(it *item, fam, table string) {
	if x := extrasSet(it); len(x) > 0 {
		im.toRaw(it, "sets "+strings.Join(x, ", ")+", which [[firewall]] has no field for")
		return
	}
	fr := policy.FirewallRule{Family: fam, Chain: it.get("chain"), Action: it.get("action"), Comment: it.human,
		PlaceBefore: im.anchors[it], Disabled: it.get("disabled") == "true",
		Protocol: it.get("protocol"), SrcAddressList: it.get("src-address-list"), DstAddressList: it.get("dst-address-list"),
		SrcPort: it.get("src-port"), DstPort: it.get("dst-port"), InInterface: it.get("in-interface"), OutInterface: it.get("out-interface"),
		InInterfaceList: it.get("in-interface-list"), OutInterfaceList: it.get("out-interface-list"),
		ConnectionNATState: it.get("connection-nat-state"), ToAddresses: cmp.Or(it.get("to-addresses"), it.get("to-address")),
		ToPorts: it.get("to-ports"), NewRoutingMark: it.get("new-routing-mark"), LogPrefix: it.get("log-prefix")}
	if table != "filter" {
		fr.Table = table
	}
	for _, f := range []struct {
		v   string
		dst *policy.Prefix
	}{{it.get("src-address"), &fr.SrcAddress}, {it.get("dst-address"), &fr.DstAddress}} {
		if f.v == "" {
			continue
		}
		p, ok := parsePrefix(f.v)
		if !ok {
			im.toRaw(it, fmt.Sprintf("matches %s, which [[firewall]] cannot write (a negation or a range)", f.v))
			return
		}
		*f.dst = policy.Prefix{Prefix: p}
	}
	if cs := it.get("connection-state"); cs != "" {
		fr.ConnectionState = strings.Split(cs, ",")
	}
	if o := it.get("icmp-options"); o != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(o, ":0-255"))
		name, ok := icmpNames[fam][n]
		if err != nil || !ok {
			im.toRaw(it, fmt.Sprintf("icmp-options=%s: [[firewall]] takes whole ICMP types by name", o))
			return
		}
		fr.ICMPTypes = []string{name}
	}
	if fam == "ipv6" && fr.Protocol == "icmpv6" {
		fr.Protocol = "icmpv6"
	}
	if v, ok := it.attrs["passthrough"]; ok && table == "mangle" && v != "" {
		b := v == "true" || v == "yes"
		fr.Passthrough = &b
	}
	if rw := it.get("reject-with"); rw != "" {
		fr.RejectWith = rw
		if fam == "ipv6" && rw != "tcp-reset" {
			fr.RejectWith = "icmpv6-" + strings.TrimPrefix(rw, "icmp-")
		}
	}
	fr.Log = flag(it.attrs, "log")
	it.used = true
	for _, x := range []string{fr.InInterface, fr.OutInterface} {
		im.declare(x)
	}
	im.site.Firewall = append(im.site.Firewall, fr)
	im.fwRows = append(im.fwRows, it)
}

// ---- raw items ----

// skipAttrs are never copied into a raw item: the router's status, and
// tether's comment.
var skipAttrs = map[string]bool{".id": true, "comment": true, "dynamic": true, "default": true, "builtin": true, "disabled": true}

// toRaw imports an item the model cannot express as a [[raw.routeros]]
// item, with why as the comment above it.
func (im *importer) toRaw(it *item, why string) {
	it.used = true
	x := policy.RawRouterOS{Path: it.path, Attributes: map[string]string{}, PlaceBefore: im.anchors[it]}
	for k, v := range it.attrs {
		if skipAttrs[k] || v == "" && !flagAttrs[k] {
			continue
		}
		if _, has := it.attrs[k]; flagAttrs[k] && has {
			v = ""
		}
		x.Attributes[k] = v
	}
	if it.get("disabled") == "true" {
		x.Attributes["disabled"] = "yes"
	}
	base := cmp.Or(it.raw, sanitize(it.human), sanitize(it.get("name")), sanitize(strings.ReplaceAll(strings.TrimPrefix(it.path, "/"), "/", "-")))
	x.Name = base
	for i := 2; slices.ContainsFunc(im.site.Raw.RouterOS, func(r policy.RawRouterOS) bool { return r.Path == x.Path && r.Name == x.Name }); i++ {
		x.Name = fmt.Sprintf("%s-%d", base, i)
	}
	im.res.rawWhy[len(im.site.Raw.RouterOS)] = []string{why}
	im.site.Raw.RouterOS = append(im.site.Raw.RouterOS, x)
}

var flagAttrs = map[string]bool{"blackhole": true, "fib": true}

// ---- validation: demote what the repo refuses ----

// settle writes the files and validates them within the repo; an item the
// validation refuses becomes a raw item (the refusal is its comment), until
// the files validate or nothing more can be moved.
func (im *importer) settle() {
	for range 8 {
		_, probs := im.load()
		im.res.Problems = probs
		if !probs.HasErrors() {
			break
		}
		if !im.demote(probs) {
			break
		}
	}
	im.res.Files = im.write()
	if !im.res.Problems.HasErrors() {
		im.res.Problems = nil
	}
}

var itemPath = regexp.MustCompile(`^(address|route|routing_rule|address_list|firewall|routing_table)\[(\d+)\]`)

// demote moves every site item a problem points at to raw, last index
// first; it reports whether it moved any.
func (im *importer) demote(probs policy.Problems) bool {
	type hit struct {
		section string
		i       int
		msg     string
	}
	var hits []hit
	for _, p := range probs.Errors() {
		if p.File != "sites/"+im.in.Site+".toml" {
			continue
		}
		m := itemPath.FindStringSubmatch(p.Path)
		if m == nil {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		if !slices.ContainsFunc(hits, func(h hit) bool { return h.section == m[1] && h.i == i }) {
			hits = append(hits, hit{m[1], i, p.Message})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Or(strings.Compare(a.section, b.section), b.i-a.i) })
	s := im.site
	for _, h := range hits {
		why := "the model refuses it: " + h.msg
		switch h.section {
		case "address":
			im.toRaw(im.addrRows[h.i], why)
			s.Addresses, im.addrRows = slices.Delete(s.Addresses, h.i, h.i+1), slices.Delete(im.addrRows, h.i, h.i+1)
		case "route":
			im.toRaw(im.routeRows[h.i], why)
			s.Routes, im.routeRows = slices.Delete(s.Routes, h.i, h.i+1), slices.Delete(im.routeRows, h.i, h.i+1)
		case "routing_rule":
			im.toRaw(im.ruleRows[h.i], why)
			s.RoutingRules, im.ruleRows = slices.Delete(s.RoutingRules, h.i, h.i+1), slices.Delete(im.ruleRows, h.i, h.i+1)
		case "address_list":
			im.toRaw(im.alRows[h.i], why)
			s.AddressLists, im.alRows = slices.Delete(s.AddressLists, h.i, h.i+1), slices.Delete(im.alRows, h.i, h.i+1)
		case "firewall":
			im.toRaw(im.fwRows[h.i], why)
			s.Firewall, im.fwRows = slices.Delete(s.Firewall, h.i, h.i+1), slices.Delete(im.fwRows, h.i, h.i+1)
		case "routing_table":
			im.toRaw(im.tableRows[h.i], why)
			s.RoutingTables, im.tableRows = slices.Delete(s.RoutingTables, h.i, h.i+1), slices.Delete(im.tableRows, h.i, h.i+1)
		}
	}
	return len(hits) > 0
}

// load validates the repo with the import's files in place.
func (im *importer) load() (*policy.Network, policy.Problems) {
	files := im.write()
	overlay := mapFS{}
	for p, b := range im.files {
		overlay[p] = b
	}
	for p, b := range files {
		overlay[p] = b
	}
	return policy.Load(overlay.fs(), ".")
}

// ---- small parsers ----

// parsePrefix reads a RouterOS address or prefix; a bare address is its
// host prefix. A negation or range does not parse.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), p.Masked() == p
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func parseKey(s string) (policy.Key, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return policy.Key{}, false
	}
	return policy.KeyFromBytes([32]byte(b)), true
}

func parseASN(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

func flag(attrs map[string]string, k string) bool {
	v, ok := attrs[k]
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "", "yes", "true":
		return true
	}
	return false
}

// parseDuration reads a RouterOS interval ("25s", "1m30s", "25").
func parseDuration(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// RouterOS writes days and weeks too: "1d2h".
		total := time.Duration(0)
		for _, u := range []struct {
			s string
			d time.Duration
		}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
			if i := strings.Index(v, u.s); i > 0 {
				n, err := strconv.Atoi(v[:i])
				if err != nil {
					return 0, false
				}
				total += time.Duration(n) * u.d
				v = v[i+1:]
			}
		}
		if v == "" {
			return total, true
		}
		d, err = time.ParseDuration(v)
		if err != nil {
			return 0, false
		}
		return total + d, true
	}
	return d, true
}
