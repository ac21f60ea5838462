package importer

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// LinuxInput is what a Linux host runs, as file contents.
type LinuxInput struct {
	Site string
	// WireGuard holds each interface's wg-quick file (or `wg showconf`
	// output with Address/MTU added), by interface name.
	WireGuard map[string][]byte
	// Sysctl holds "key = value" lines: the sysctls tether manages, as a
	// sysctl.d file or read from /proc/sys.
	Sysctl []byte
	// Nft is the ruleset of the tether nftables table (`nft list table inet
	// tether` or tether's file), or nil when the host has none.
	Nft []byte
	// KeyDir is where tether's wg-quick files read private keys from.
	KeyDir string
	// Repo is the network folder the site joins, or nil (see Input.Repo).
	Repo fs.FS
}

// Linux converts a host's wg-quick files, sysctls and nftables table into
// a site. Private keys found in a wg-quick file are never written: the
// file's comments say where tether expects them.
func Linux(in LinuxInput) (*Result, error) {
	im := &importer{in: Input{Site: in.Site, Repo: in.Repo}, items: map[string][]*item{}, anchors: map[*item]string{},
		res: &Result{rawWhy: map[int][]string{}, linkNotes: map[string][]string{}, peerNotes: map[string][]string{},
			wgNotes: map[string][]string{}}}
	if err := im.loadRepo(); err != nil {
		return nil, err
	}
	s := &policy.Site{Name: in.Site, Platform: "linux"}
	im.site, im.res.Site = s, s
	if old := im.repoSite(); old != nil {
		s.Description, s.RoutedPrefixes, s.Probes, s.Health = old.Description, old.RoutedPrefixes, old.Probes, old.Health
		s.Interfaces = old.Interfaces
		// What import does not read (BIRD, radvd, keepalived, ndppd,
		// networkd, routes and raw files) is kept as the repo has it.
		s.ASN, s.RouterID, s.BGP = old.ASN, old.RouterID, old.BGP
		s.VRRP, s.RouterAdverts, s.NDPProxy, s.Raw.Linux = old.VRRP, old.RouterAdverts, old.NDPProxy, old.Raw.Linux
		s.Addresses, s.Routes, s.RoutingTables, s.RoutingRules = old.Addresses, old.Routes, old.RoutingTables, old.RoutingRules
	}
	keyDir := cmp.Or(in.KeyDir, "/var/lib/tether/keys")
	for _, name := range slices.Sorted(maps.Keys(in.WireGuard)) {
		im.wgQuick(name, in.WireGuard[name], keyDir)
	}
	s.Sysctl = parseSysctl(in.Sysctl)
	if len(in.Nft) > 0 {
		if err := im.nft(in.Nft); err != nil {
			im.note("the nftables table is not imported: %v; tether replaces only table inet tether, so declare its rules as [[firewall]] or keep the table outside tether", err)
			s.Firewall, s.AddressLists, s.FirewallPolicy = nil, nil, policy.FirewallPolicy{}
		}
	}
	for _, x := range s.Firewall {
		im.declare(x.InInterface)
		im.declare(x.OutInterface)
	}
	im.settle()
	return im.res, nil
}

// ---- wg-quick ----

var postUpKey = regexp.MustCompile(`wg show %i public-key\)" = ([A-Za-z0-9+/=]{44})`)

type wgPeer struct {
	name, comment string
	key           string
	allowed       []policy.Prefix
	endpoint      policy.Endpoint
	keepalive     policy.Duration
	psk           bool
	linkAddr      netip.Prefix
}

func (im *importer) wgQuick(name string, b []byte, keyDir string) {
	w := policy.WireGuard{Name: name}
	var notes []string
	var peers []*wgPeer
	var cur *wgPeer
	var comments []string
	var addrs []netip.Prefix
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#"):
			c := strings.TrimSpace(strings.TrimPrefix(line, "#"))
			if !strings.HasPrefix(c, "Rendered by tether") {
				comments = append(comments, c)
			}
			continue
		case line == "[Interface]":
			w.Comment = strings.Join(comments, " ")
			comments, cur = nil, nil
			continue
		case line == "[Peer]":
			cur = &wgPeer{keepalive: policy.DurationOf(0)}
			if len(comments) > 0 {
				cur.name, cur.comment, _ = strings.Cut(comments[0], ": ")
			}
			comments = nil
			peers = append(peers, cur)
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if cur == nil {
			switch k {
			case "Address":
				for _, a := range strings.Split(v, ",") {
					if p, err := netip.ParsePrefix(strings.TrimSpace(a)); err == nil {
						addrs = append(addrs, p)
					}
				}
			case "ListenPort":
				w.ListenPort, _ = strconv.Atoi(v)
			case "MTU":
				w.MTU, _ = strconv.Atoi(v)
			case "Table":
				table = v
			case "PrivateKey":
				if pub, ok := publicOf(v); ok {
					w.PublicKey = pub
				}
				notes = append(notes, fmt.Sprintf("The host's wg-quick file holds the private key: move it to %s/%s.key (mode 0600, or run tether keygen for a new one); tether's file reads it from there and never holds it.", keyDir, name))
			case "PostUp":
				if m := postUpKey.FindStringSubmatch(v); m != nil {
					if k, ok := parseKey(m[1]); ok {
						w.PublicKey = k
					}
				} else if !strings.HasPrefix(v, "wg set %i private-key") && !strings.HasPrefix(v, "ip ") {
					notes = append(notes, "PostUp = "+v+": not imported (declare it as a raw file or a route)")
				}
			default:
				notes = append(notes, k+" = "+v+": not imported (the model has no field for it)")
			}
			continue
		}
		switch k {
		case "PublicKey":
			cur.key = v
		case "AllowedIPs":
			cur.allowed = allowed(strings.ReplaceAll(v, " ", ""))
		case "Endpoint":
			var e policy.Endpoint
			if e.UnmarshalText([]byte(v)) == nil && !e.IsZero() {
				cur.endpoint = e
			}
		case "PersistentKeepalive":
			if d, ok := parseDuration(v); ok {
				cur.keepalive = policy.DurationOf(d)
			}
		case "PresharedKey":
			cur.psk = true
		}
	}
	if w.PublicKey.IsZero() {
		notes = append(notes, fmt.Sprintf("No public key was found: run tether keygen for %s and put the printed key here.", name))
	}
	notes = append(notes, fmt.Sprintf("The private key is read from %s/%s.key; tether never writes it.", keyDir, name))
	im.site.WireGuard = append(im.site.WireGuard, w)
	im.res.wgNotes[name] = notes
	wp := &im.site.WireGuard[len(im.site.WireGuard)-1]

	// Addresses and peers the repo's links and peers already declare.
	linkAddrs := map[netip.Prefix]bool{}
	known := map[string]bool{}
	if im.repo != nil && im.repo.Sites[im.in.Site] != nil {
		for _, side := range im.repo.LinksOf(im.in.Site) {
			if side.Local.Interface == name {
				linkAddrs[side.Local.Address.Prefix] = true
			}
		}
		for _, p := range im.repo.WireGuardPeers(im.in.Site) {
			if p.Interface == name {
				known[p.PublicKey.String()] = true
			}
		}
	}
	owners := im.siteKeys()
	routed := false
	for _, p := range peers {
		if p.psk {
			im.note("peer %s on %s has a preshared key: tether does not render preshared keys; it is not written here", cmp.Or(p.name, p.key), name)
		}
		switch o, isSite := owners[p.key]; {
		case known[p.key]:
		case isSite && im.newLinuxLink(wp, p, o, addrs):
			linkAddrs[p.linkAddr] = true
			routed = true
		default:
			im.newLinuxPeer(wp, p)
			routed = true
		}
	}
	for _, a := range addrs {
		if !linkAddrs[a] {
			wp.Addresses = append(wp.Addresses, policy.IfAddr{Prefix: a})
		}
	}
	// Table = off is what the renderer writes by itself when BGP owns
	// every peer's routes; otherwise it is the operator's choice.
	if table != "" && (table != "off" || routed || !im.allUnrouted(name)) {
		wp.Table = table
	}
}

func (im *importer) allUnrouted(iface string) bool {
	if im.repo == nil || im.repo.Sites[im.in.Site] == nil {
		return false
	}
	n := 0
	for _, p := range im.repo.WireGuardPeers(im.in.Site) {
		if p.Interface == iface {
			if p.Route {
				return false
			}
			n++
		}
	}
	return n > 0
}

func (im *importer) siteKeys() map[string]keyOwner {
	owners := map[string]keyOwner{}
	if im.repo == nil {
		return owners
	}
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
	return owners
}

func (im *importer) newLinuxLink(w *policy.WireGuard, p *wgPeer, o keyOwner, addrs []netip.Prefix) bool {
	for _, a := range addrs {
		for _, x := range p.allowed {
			if x.Bits() == x.Addr().BitLen() && a.Masked().Contains(x.Addr()) && a.Bits() < x.Bits() && x.Addr() != a.Addr() {
				if p.endpoint.IsZero() {
					return false
				}
				name := im.freeName("links/", im.in.Site+"-"+o.site)
				remote := netip.PrefixFrom(x.Addr(), a.Bits())
				k := &policy.Link{Name: name, Description: p.comment, Transit: []policy.Prefix{{Prefix: a.Masked()}}}
				k.A = policy.LinkEnd{Site: im.in.Site, Interface: w.Name, Address: policy.IfAddr{Prefix: a}, Keepalive: p.keepalive}
				if len(p.allowed) != 1 || p.allowed[0].Prefix != netip.PrefixFrom(x.Addr(), x.Addr().BitLen()) {
					k.A.Allowed = p.allowed
				}
				if p.name != "" && p.name != o.site {
					k.A.PeerName = p.name
				}
				k.B = policy.LinkEnd{Site: o.site, Interface: o.iface, Address: policy.IfAddr{Prefix: remote}, Endpoint: p.endpoint}
				im.res.Links = append(im.res.Links, k)
				im.res.linkNotes[name] = []string{fmt.Sprintf("Imported from %s's %s: the peer's key is site %s's %s.", im.in.Site, w.Name, o.site, o.iface),
					fmt.Sprintf("Site %s renders its end from this file too: check b.allowed and b.keepalive there.", o.site)}
				p.linkAddr = a
				return true
			}
		}
	}
	return false
}

func (im *importer) newLinuxPeer(w *policy.WireGuard, p *wgPeer) {
	k, ok := parseKey(p.key)
	if !ok {
		im.note("a peer of %s has no valid public key: not imported", w.Name)
		return
	}
	name := im.freeName("peers/", cmp.Or(sanitize(p.name), w.Name+"-peer"))
	ep := &policy.Peer{Name: name, Description: p.comment, PublicKey: k, Site: im.in.Site, Interface: w.Name, Allowed: p.allowed, Endpoint: p.endpoint}
	if p.keepalive.Duration > 0 {
		ep.Keepalive = p.keepalive
	}
	if !ep.Endpoint.IsZero() {
		ep.Kind = "server"
	}
	im.res.Peers = append(im.res.Peers, ep)
	im.res.peerNotes[name] = []string{fmt.Sprintf("Imported from %s's %s: its key matches no site of the repo.", im.in.Site, w.Name)}
}

// publicOf derives the public key of a base64 private key; the private key
// itself goes nowhere.
func publicOf(priv string) (policy.Key, bool) {
	b, err := base64.StdEncoding.DecodeString(priv)
	if err != nil || len(b) != 32 {
		return policy.Key{}, false
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return policy.Key{}, false
	}
	return parseKey(base64.StdEncoding.EncodeToString(k.PublicKey().Bytes()))
}

// parseSysctl reads "key = value" lines.
func parseSysctl(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
