package routeros

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rosschema"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current renderer")

// TestGolden renders every RouterOS site of every example (and the kitchen
// sink) and compares the .rsc and JSON views with testdata/golden.
func TestGolden(t *testing.T) {
	want := map[string]bool{}
	for _, f := range fixtures(t) {
		n := f.load(t)
		if n == nil {
			continue
		}
		for _, site := range routerOSSites(n) {
			c := mustRender(t, n, site)
			js, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			js = append(js, '\n')
			for ext, got := range map[string][]byte{".rsc": c.RSC(), ".json": js} {
				p := filepath.Join("testdata", "golden", f.name, site+ext)
				want[p] = true
				if *update {
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				old, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("%s: %v (run go test ./render/routeros -update)", p, err)
					continue
				}
				if !bytes.Equal(old, got) {
					t.Errorf("%s differs from the renderer's output (review, then -update):\n%s", p, firstDiff(old, got))
				}
			}
		}
	}
	// Golden files of sites or examples that no longer exist are stale.
	_ = filepath.WalkDir(filepath.Join("testdata", "golden"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || want[p] {
			return nil
		}
		if *update {
			return os.Remove(p)
		}
		t.Errorf("%s is stale: no RouterOS site renders it (run -update)", p)
		return nil
	})
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  golden:   " + x + "\n  rendered: " + y
		}
	}
	return ""
}

// TestSchema renders every RouterOS site at every RouterOS version in the
// schema data and proves every menu, command and attribute (and the .rsc
// lines) exist in that version.
func TestSchema(t *testing.T) {
	for _, f := range fixtures(t) {
		n := f.load(t)
		if n == nil {
			continue
		}
		for _, site := range routerOSSites(n) {
			for _, v := range rosschema.Versions() {
				tree, err := rosschema.Load(v)
				if err != nil {
					t.Fatal(err)
				}
				c := renderAt(t, n, site, v)
				for _, p := range checkItems(tree, c.Items) {
					t.Errorf("%s/%s items: %s", f.name, site, p)
				}
				for _, p := range checkRSC(tree, c.RSC()) {
					t.Errorf("%s/%s rsc: %s", f.name, site, p)
				}
			}
		}
	}
}

// TestSchemaCheckerCatches guards the guard: wrong attributes, menus and
// values must be reported.
func TestSchemaCheckerCatches(t *testing.T) {
	n := loadExample(t, "cgnat-chr-relay")
	c := renderAt(t, n, "relay", "7.20.8")
	tree := rosschema.MustLoad("7.20.8")
	if p := checkItems(tree, c.Items); len(p) != 0 {
		t.Fatalf("clean render reported: %v", p)
	}
	cases := map[string]func(c *Config){
		"unknown attribute": func(c *Config) { c.Items[0].Attrs = append(c.Items[0].Attrs, Attr{"bogus-attr", "1"}) },
		"7.18 attribute on 7.20": func(c *Config) {
			it := byPathPtr(c, "/routing/bgp/connection")[0]
			it.Attrs = append(it.Attrs, Attr{"router-id", "1.2.3.4"})
		},
		"removed add-path-out": func(c *Config) {
			it := byPathPtr(c, "/routing/bgp/template")[0]
			it.Attrs = append(it.Attrs, Attr{"add-path-out", "all"})
		},
		"unknown menu":        func(c *Config) { c.Items[0].Path = "/interface/wireguardx" },
		"set on a list menu":  func(c *Config) { c.Items[0].Singleton = true; c.Items[0].Path = "/routing/bgp/session" },
		"bad enum value":      func(c *Config) { byPathPtr(c, "/routing/bgp/connection")[0].Attrs[0] = Attr{"local.role", "ebgpx"} },
		"anchor without menu": func(c *Config) { c.Items[0].Anchor = "x" },
	}
	for name, mutate := range cases {
		tr := tree
		if name == "removed add-path-out" {
			tr = rosschema.MustLoad("7.22.3")
		}
		if name == "bad enum value" {
			tr = rosschema.MustLoad("7.22.3") // only 7.22.3 records enumerations
		}
		cc := clone(c)
		mutate(cc)
		if p := checkItems(tr, cc.Items); len(p) == 0 {
			t.Errorf("%s: item checker found nothing", name)
		}
	}
	// 7.18 has no BGP instance menu: a 7.20 render fails the 7.18 tree.
	if p := checkItems(rosschema.MustLoad("7.18"), c.Items); len(p) == 0 {
		t.Error("a 7.20 render passed the 7.18 tree")
	}
	// The .rsc checker catches a bad attribute and a bad singleton line.
	rsc := string(c.RSC())
	for _, bad := range []string{
		strings.Replace(rsc, "listen-port=", "listen-portx=", 1),
		rsc + "/ip dns set serverz=1.1.1.1\n",
		rsc + "/routing bgp instancex\n",
	} {
		if p := checkRSC(tree, []byte(bad)); len(p) == 0 {
			t.Errorf("rsc checker found nothing in a broken script")
		}
	}
}

func byPathPtr(c *Config, path string) []*Item {
	var out []*Item
	for i := range c.Items {
		if c.Items[i].Path == path {
			out = append(out, &c.Items[i])
		}
	}
	return out
}

func clone(c *Config) *Config {
	cc := *c
	cc.Items = make([]Item, len(c.Items))
	for i, it := range c.Items {
		it.Attrs = append([]Attr(nil), it.Attrs...)
		cc.Items[i] = it
	}
	return &cc
}

func loadExample(t testing.TB, name string) *policy.Network {
	t.Helper()
	n := fixture{name, os.DirFS(examplesRoot), name}.load(t)
	if n == nil {
		t.FailNow()
	}
	return n
}

func loadKitchenSink(t testing.TB) *policy.Network {
	t.Helper()
	n := fixture{"kitchen-sink", os.DirFS("testdata"), "kitchen-sink"}.load(t)
	if n == nil {
		t.FailNow()
	}
	return n
}

// TestCGNATRelayFaithful checks that the write-up's intent survives for the
// cgnat-chr-relay example (seed 000).
func TestCGNATRelayFaithful(t *testing.T) {
	n := loadExample(t, "cgnat-chr-relay")
	relay := mustRender(t, n, "relay")
	home := mustRender(t, n, "home")

	rule := func(c *Config, chain string) string {
		it := find(c, "/routing/filter/rule", "chain="+chain)
		if it == nil {
			t.Fatalf("%s: no filter rule for chain %s", c.Site, chain)
		}
		return attr(it, "rule")
	}
	// The relay imports only the home /48 and originates only ::/0.
	if got, want := rule(relay, "bgp-in-home"), "if (dst == 2001:db8:100::/48) { accept } reject"; got != want {
		t.Errorf("relay import = %q, want %q", got, want)
	}
	if got, want := rule(relay, "bgp-out-home"), "if (dst == ::/0) { accept } reject"; got != want {
		t.Errorf("relay export = %q, want %q", got, want)
	}
	tpl := find(relay, "/routing/bgp/template", "name=tpl-home")
	if tpl == nil || attr(tpl, "output.default-originate") != "always" {
		t.Errorf("relay template must originate the default: %+v", tpl)
	}
	conn := find(relay, "/routing/bgp/connection", "name=home")
	if conn == nil || attr(conn, "input.filter") != "bgp-in-home" || attr(conn, "output.filter-chain") != "bgp-out-home" ||
		attr(conn, "templates") != "tpl-home" || attr(conn, "local.role") != "ebgp" || attr(conn, "afi") != "ipv6" {
		t.Errorf("relay connection wiring is wrong: %+v", conn)
	}
	if _, ok := conn.Get("output.network"); ok {
		t.Error("the relay announces no networks; it only originates the default")
	}
	if len(byPath(relay, "/ipv6/firewall/address-list")) != 0 {
		t.Error("the relay needs no BGP networks address list")
	}

	// Home imports only ::/0 and announces only its aggregate.
	if got, want := rule(home, "bgp-in-chr-vps"), "if (dst == ::/0) { accept } reject"; got != want {
		t.Errorf("home import = %q, want %q", got, want)
	}
	if got, want := rule(home, "bgp-out-chr-vps"), "if (dst == 2001:db8:100::/48) { accept } reject"; got != want {
		t.Errorf("home export = %q, want %q", got, want)
	}
	hconn := find(home, "/routing/bgp/connection", "name=chr-vps")
	if hconn == nil || attr(hconn, "output.network") != "bgp-networks-chr-vps" {
		t.Fatalf("home must announce through output.network: %+v", hconn)
	}
	lists := byPath(home, "/ipv6/firewall/address-list")
	if len(lists) != 1 || attr(&lists[0], "list") != "bgp-networks-chr-vps" || attr(&lists[0], "address") != "2001:db8:100::/48" {
		t.Errorf("home's networks list must hold exactly the aggregate: %+v", lists)
	}
	bh := find(home, "/ipv6/route", "dst-address=2001:db8:100::/48 routing-table=main blackhole=yes")
	if bh == nil || attr(bh, "distance") != "254" {
		t.Errorf("home needs the aggregate as a blackhole route at distance 254: %+v", bh)
	} else if _, ok := bh.Get("gateway"); ok {
		t.Error("a blackhole route has no gateway")
	}
	if tpl := find(home, "/routing/bgp/template", "name=tpl-chr-vps"); tpl == nil {
		t.Error("home has no template")
	} else if _, ok := tpl.Get("output.default-originate"); ok {
		t.Error("home must not originate a default")
	}

	// The routed prefix sits on ether1 only as a /128 anchor, not advertised.
	anchor := find(relay, "/ipv6/address", "address=2001:db8:100::a/128 interface=ether1")
	if anchor == nil || attr(anchor, "advertise") != "no" {
		t.Errorf("relay needs the /128 anchor on ether1 with advertise=no: %+v", anchor)
	}
	routed := netip.MustParsePrefix("2001:db8:100::/48")
	for _, it := range byPath(relay, "/ipv6/address") {
		p := netip.MustParsePrefix(attr(&it, "address"))
		if attr(&it, "interface") == "ether1" && p.Bits() < 128 && p.Masked().Overlaps(routed) {
			t.Errorf("relay makes the routed prefix connected on ether1: %s", p)
		}
	}

	// Keys: public keys only, never a private key.
	for _, c := range []*Config{relay, home} {
		for _, it := range c.Items {
			if _, ok := it.Get("private-key"); ok {
				t.Errorf("%s %s carries a private key", c.Site, it.Path)
			}
		}
		if bytes.Contains(c.RSC(), []byte("private-key")) {
			t.Errorf("%s .rsc mentions private-key", c.Site)
		}
	}
	peer := find(home, "/interface/wireguard/peers", "interface=wg-vps name=chr-vps")
	if peer == nil || attr(peer, "endpoint-address") != "203.0.113.10" || attr(peer, "endpoint-port") != "51820" ||
		attr(peer, "allowed-address") != "::/0" || attr(peer, "persistent-keepalive") != "25s" ||
		attr(peer, "public-key") != n.Sites["relay"].WireGuard[0].PublicKey.String() {
		t.Errorf("home's peer does not match the write-up: %+v", peer)
	}
	if rp := find(relay, "/interface/wireguard/peers", "interface=wg-vps name=home"); rp == nil ||
		attr(rp, "allowed-address") != "2001:db8:100::2/128,2001:db8:100::/48" {
		t.Errorf("relay's peer must accept the home transit address and the /48: %+v", rp)
	} else if _, ok := rp.Get("endpoint-address"); ok {
		t.Error("the relay listens; it must not dial home (home is behind CGNAT)")
	}
	// With BGP the routes come from BGP: no routes through wg-vps.
	for _, c := range []*Config{relay, home} {
		for _, p := range []string{"/ip/route", "/ipv6/route"} {
			for _, it := range byPath(c, p) {
				if attr(&it, "gateway") == "wg-vps" {
					t.Errorf("%s routes %s through wg-vps; BGP owns those routes", c.Site, attr(&it, "dst-address"))
				}
			}
		}
	}
}

// TestBGPVersions: 7.18 puts as and router-id on the connection and has no
// instance; 7.20+ emit the instance and instance= on the connection; no
// version gets add-path-out.
func TestBGPVersions(t *testing.T) {
	n := loadExample(t, "cgnat-chr-relay")
	old := renderAt(t, n, "relay", "7.18")
	if len(byPath(old, "/routing/bgp/instance")) != 0 {
		t.Error("7.18 has no /routing/bgp/instance")
	}
	c := find(old, "/routing/bgp/connection", "name=home")
	if c == nil || attr(c, "as") != "64512" || attr(c, "router-id") != "203.0.113.10" || attr(c, "address-families") != "ipv6" {
		t.Errorf("7.18 connection needs as, router-id and address-families: %+v", c)
	}
	if _, ok := c.Get("instance"); ok {
		t.Error("7.18 connection has no instance=")
	}
	for _, v := range []string{"7.20.8", "7.22.3", "7.24", "7.21.2"} {
		cfg := renderAt(t, n, "relay", v)
		inst := find(cfg, "/routing/bgp/instance", "name=chr-vps")
		if inst == nil || attr(inst, "as") != "64512" || attr(inst, "router-id") != "203.0.113.10" {
			t.Errorf("%s: instance chr-vps with as and router-id expected: %+v", v, inst)
		}
		c := find(cfg, "/routing/bgp/connection", "name=home")
		if c == nil || attr(c, "instance") != "chr-vps" || attr(c, "afi") != "ipv6" {
			t.Errorf("%s: connection must name the instance: %+v", v, c)
		}
		if _, ok := c.Get("router-id"); ok {
			t.Errorf("%s: router-id belongs to the instance", v)
		}
		// The instance is added before the connection that names it.
		if indexOf(cfg, "/routing/bgp/instance") > indexOf(cfg, "/routing/bgp/connection") {
			t.Errorf("%s: instance must come before connections", v)
		}
		for _, it := range cfg.Items {
			if _, ok := it.Get("add-path-out"); ok {
				t.Errorf("%s: add-path-out is gone since 7.22 and never emitted", v)
			}
		}
	}
}

func indexOf(c *Config, path string) int {
	for i, it := range c.Items {
		if it.Path == path {
			return i
		}
	}
	return -1
}

// TestOwnershipAndIdentity: every item carries the marker, and Identity on
// the rendered attributes gives back the item's ID, as it will for live
// items read from the router.
func TestOwnershipAndIdentity(t *testing.T) {
	for _, f := range fixtures(t) {
		n := f.load(t)
		if n == nil {
			continue
		}
		for _, site := range routerOSSites(n) {
			c := mustRender(t, n, site)
			for _, it := range c.Items {
				if it.Singleton || it.Fixed {
					if _, ok := it.Get("comment"); ok {
						t.Errorf("%s/%s: singleton or fixed entry %s must not set a comment", f.name, site, it.Path)
					}
					continue
				}
				cm, ok := it.Get("comment")
				if !ok || !isOwned(cm) {
					t.Errorf("%s/%s: %s %s lacks the ownership marker (comment %q)", f.name, site, it.Path, it.ID, cm)
				}
				if it.Attrs[len(it.Attrs)-1].Name != "comment" {
					t.Errorf("%s/%s: %s: comment should be the last attribute", f.name, site, it.Path)
				}
				id, owned := Identity(it.Path, it.Map())
				if id != it.ID || !owned || id == "" {
					t.Errorf("%s/%s: Identity(%s) = %q, %v; item ID %q", f.name, site, it.Path, id, owned, it.ID)
				}
			}
		}
	}
}

// TestIdentityOfLiveItems: the router's spelling of an item maps to the ID
// of the rendered one; other people's items are not owned.
func TestIdentityOfLiveItems(t *testing.T) {
	n := loadKitchenSink(t)
	c := mustRender(t, n, "hub")
	cases := []struct {
		path string
		live map[string]string
	}{
		// RouterOS prints an IPv4 host address-list entry without /32 and
		// adds fields tether does not set.
		{"/ip/firewall/address-list", map[string]string{".id": "*5", "list": "mgmt", "address": "192.168.60.10", "comment": "tether: admin host", "creation-time": "x", "dynamic": "false"}},
		{"/ip/route", map[string]string{".id": "*9", "dst-address": "10.60.0.0/16", "blackhole": "true", "distance": "200", "routing-table": "main", "comment": "tether: aggregate"}},
		{"/ip/route", map[string]string{"dst-address": "10.70.0.0/24", "gateway": "wg1", "comment": "tether: allowed-address of peer cloud"}}, // routing-table omitted = main
		{"/ipv6/firewall/filter", map[string]string{"chain": "input", "action": "drop", "comment": "tether: WireGuard in"}},
		{"/interface/wireguard/peers", map[string]string{"interface": "wg0", "name": "phone", "public-key": "other", "comment": "tether: phone"}},
		{"/routing/filter/rule", map[string]string{"chain": "bgp-in-spoke", "rule": "reject", "comment": "tether"}},
		{"/ip/firewall/raw", map[string]string{"chain": "prerouting", "action": "drop", "comment": "tether: raw notrack-wg"}},
	}
	for _, tc := range cases {
		id, owned := Identity(tc.path, tc.live)
		if !owned {
			t.Errorf("%s %v: not owned", tc.path, tc.live)
		}
		if find(c, tc.path, id) == nil {
			t.Errorf("%s: live item ID %q matches no rendered item", tc.path, id)
		}
	}
	for _, cm := range []string{"", "defconf: drop invalid", "tetherx", "my tether: x", "Tether: x"} {
		if _, owned := Identity("/ip/firewall/filter", map[string]string{"chain": "input", "comment": cm}); owned {
			t.Errorf("comment %q must not be owned", cm)
		}
	}
	if OwnedComment("") != "tether" || OwnedComment("  x ") != "tether: x" {
		t.Error("OwnedComment format changed")
	}
	// Blackhole is part of a route's identity; gateway and distance are not.
	a, _ := Identity("/ip/route", map[string]string{"dst-address": "10.0.0.0/8", "gateway": "1.1.1.1", "distance": "1"})
	b, _ := Identity("/ip/route", map[string]string{"dst-address": "10.0.0.0/8", "gateway": "2.2.2.2", "distance": "9", "routing-table": "main"})
	h, _ := Identity("/ip/route", map[string]string{"dst-address": "10.0.0.0/8", "blackhole": ""})
	f, _ := Identity("/ip/route", map[string]string{"dst-address": "10.0.0.0/8", "blackhole": "false"})
	if a != b || a == h || a != f {
		t.Errorf("route identities: %q %q %q %q", a, b, h, f)
	}
}

// TestPlaceBefore: rules with place_before carry the anchor, translated
// between the IPv4 and IPv6 defconf comments for family "both"; the .rsc
// places following rules before the same anchor.
func TestPlaceBefore(t *testing.T) {
	for _, f := range fixtures(t) {
		n := f.load(t)
		if n == nil {
			continue
		}
		for _, site := range routerOSSites(n) {
			c := mustRender(t, n, site)
			for _, fr := range n.Sites[site].Firewall {
				if fr.PlaceBefore == "" {
					continue
				}
				found := false
				for _, it := range c.Items {
					if strings.Contains(it.Path, "/firewall/"+fr.Table) && attr(&it, "chain") == fr.Chain &&
						strings.HasPrefix(attr(&it, "comment"), OwnedComment(fr.Comment)) && it.Anchor != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("%s/%s: rule %q with place_before has no anchored item", f.name, site, fr.Comment)
				}
			}
		}
	}
	c := mustRender(t, loadKitchenSink(t), "hub")
	v4 := find(c, "/ip/firewall/filter", `chain=input comment="tether: WireGuard in"`)
	v6 := find(c, "/ipv6/firewall/filter", `chain=input comment="tether: WireGuard in"`)
	if v4 == nil || v6 == nil || v4.Anchor != "defconf: drop all not coming from LAN" || v6.Anchor != "defconf: drop everything else not coming from LAN" {
		t.Errorf("family both anchors: %+v %+v", v4, v6)
	}
	rsc := string(c.RSC())
	want := `add chain=input action=accept src-address-list=mgmt in-interface-list=TUNNELS comment="tether: mgmt from tunnels" place-before=[find where chain=input and comment="defconf: drop all not coming from LAN"]`
	if !strings.Contains(rsc, want+"\n") {
		t.Errorf("an unanchored rule after an anchored one must be placed before the same anchor in .rsc; want line\n%s", want)
	}
}

// TestDeterministic: the same input gives the same bytes, across renders
// and across loads.
func TestDeterministic(t *testing.T) {
	for _, f := range fixtures(t) {
		n1, n2 := f.load(t), f.load(t)
		if n1 == nil || n2 == nil {
			continue
		}
		for _, site := range routerOSSites(n1) {
			a, b, c := mustRender(t, n1, site), mustRender(t, n1, site), mustRender(t, n2, site)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			jc, _ := json.Marshal(c)
			if !bytes.Equal(a.RSC(), b.RSC()) || !bytes.Equal(a.RSC(), c.RSC()) || !bytes.Equal(ja, jb) || !bytes.Equal(ja, jc) {
				t.Errorf("%s/%s: output differs between renders", f.name, site)
			}
		}
	}
}

// filterGrammar is everything FilterRuleText can produce.
var filterGrammar = regexp.MustCompile(`^(if \(dst (== [0-9a-f.:]+/[0-9]+|in [0-9a-f.:]+/[0-9]+ && dst-len in [0-9]+-[0-9]+)\) \{ accept \} )*reject$`)

// TestFilterRuleNoInjection: routing filter rules are built only from
// parsed prefixes and integers, so they always match the tiny grammar above;
// text that tries to smuggle filter syntax never becomes a PrefixMatch.
func TestFilterRuleNoInjection(t *testing.T) {
	for _, evil := range []string{
		`::/0) { accept } accept; if (dst == ::/0`,
		`10.0.0.0/8 || true`,
		`10.0.0.0/8{8,32}) { accept }`,
		`2001:db8::/32+;accept`,
		"10.0.0.0/8\n accept",
		`"10.0.0.0/8"`,
		`$x`,
	} {
		// policy.Load reports such a value as a problem, so the network
		// never reaches the renderer...
		var m policy.PrefixMatch
		_ = m.UnmarshalText([]byte(evil))
		// ...and even the half-parsed value PrefixMatch keeps (it sets
		// Prefix before it rejects a bad suffix) renders only as parsed
		// prefixes and integers: the evil text never reaches the rule.
		got := FilterRuleText([]policy.PrefixMatch{m})
		if !filterGrammar.MatchString(got) || strings.Count(got, "accept") > 1 {
			t.Errorf("%q rendered as %q", evil, got)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var ms []policy.PrefixMatch
		for j := rng.IntN(5); j >= 0; j-- {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
			} else {
				var b [16]byte
				for k := range b {
					b[k] = byte(rng.Uint32())
				}
				a = netip.AddrFrom16(b)
			}
			bits := rng.IntN(a.BitLen() + 1)
			p := netip.PrefixFrom(a, bits).Masked()
			suffix := []string{"", "+", "{" + strconv.Itoa(bits) + "," + strconv.Itoa(a.BitLen()) + "}"}[rng.IntN(3)]
			var m policy.PrefixMatch
			if err := m.UnmarshalText([]byte(p.String() + suffix)); err != nil || !m.Prefix.IsValid() {
				t.Fatalf("%s%s did not parse", p, suffix)
			}
			ms = append(ms, m)
		}
		if got := FilterRuleText(ms); !filterGrammar.MatchString(got) {
			t.Fatalf("rule %q escapes the grammar", got)
		}
	}
	for _, f := range fixtures(t) {
		n := f.load(t)
		if n == nil {
			continue
		}
		for _, site := range routerOSSites(n) {
			for _, it := range byPath(mustRender(t, n, site), "/routing/filter/rule") {
				if r := attr(&it, "rule"); !filterGrammar.MatchString(r) {
					t.Errorf("%s/%s: rule %q escapes the grammar", f.name, site, r)
				}
			}
		}
	}
	// Or-longer and ranges use dst in && dst-len in.
	var a, b policy.PrefixMatch
	_ = a.UnmarshalText([]byte("2001:db8::/32+"))
	_ = b.UnmarshalText([]byte("10.0.0.0/8{16,24}"))
	if got, want := FilterRuleText([]policy.PrefixMatch{a, b}), "if (dst in 2001:db8::/32 && dst-len in 32-128) { accept } if (dst in 10.0.0.0/8 && dst-len in 16-24) { accept } reject"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestKitchenSink spot-checks the mappings the examples do not reach.
func TestKitchenSink(t *testing.T) {
	n := loadKitchenSink(t)
	c := mustRender(t, n, "hub")
	rsc := string(c.RSC())
	for _, want := range []string{
		"/routing table\nadd name=vpn fib comment=tether\n",
		`add chain=input action=accept protocol=icmpv6 icmp-options=128:0-255 comment="tether: some icmpv6 (echo-request)"`,
		`add chain=input action=accept protocol=icmpv6 icmp-options=135:0-255 comment="tether: some icmpv6 (nd-neighbor-solicit)"`,
		"reject-with=icmp-admin-prohibited log=yes log-prefix=smtp-out",
		"to-addresses=192.168.60.10 to-ports=443",
		"to-address=2001:db8:60::/64",
		"new-routing-mark=vpn passthrough=no",
		"add interface=bridge ra-interval=30s-1m30s ra-lifetime=30m reachable-time=30s advertise-dns=yes dns=fd00:60::1 comment=tether",
		"/ip dns set servers=9.9.9.9,2620:fe::fe allow-remote-requests=yes cache-size=4096\n",
		"add list=mgmt address=192.168.60.10 comment=\"tether: admin host\"",
		"add address=fd00:60::1/64 interface=bridge advertise=yes",
		"add address=fd00:50::1/64 interface=wg0 advertise=no",
		"endpoint-address=2001:db8:77::1 endpoint-port=51820 persistent-keepalive=1m30s",
		"add dst-address=10.70.0.0/24 gateway=wg0 routing-table=main",
		"add dst-address=fd00:70::/48 gateway=wg0 routing-table=main",
		"hold-time=1m30s",
		"add list=TUNNELS interface=wg0 comment=tether",
		`comment="tether: raw notrack-wg"`,
	} {
		if !strings.Contains(rsc, want) {
			t.Errorf("hub .rsc lacks %q", want)
		}
	}
	// The phone's /32 is inside wg0's connected /24: no route for it.
	if strings.Contains(rsc, "dst-address=10.50.0.2/32") {
		t.Error("a route for an address inside a connected prefix")
	}
	// The IPv4 dst-nat target keeps the rule out of the IPv6 NAT menu.
	if find(c, "/ipv6/firewall/nat", `chain=dstnat comment="tether: https to admin host"`) != nil {
		t.Error("an IPv4 dst-nat rendered into /ipv6/firewall/nat")
	}
	// A router without defconf gets the interface lists it uses.
	spoke := mustRender(t, n, "spoke")
	if find(spoke, "/interface/list", "name=WAN") == nil {
		t.Error("defconf = false: the WAN list must be created")
	}
	if find(c, "/interface/list", "name=WAN") != nil {
		t.Error("defconf sites already have WAN")
	}
	// Order: every menu's adds come after what they depend on.
	order := []string{"/routing/table", "/interface/wireguard", "/interface/list", "/interface/list/member", "/ip/address",
		"/ip/firewall/address-list", "/routing/filter/rule", "/routing/bgp/instance", "/routing/bgp/template",
		"/routing/bgp/connection", "/interface/wireguard/peers", "/ip/route", "/routing/rule", "/ip/firewall/filter",
		"/ipv6/nd", "/ip/dns", "/ip/firewall/raw"}
	for i := 1; i < len(order); i++ {
		if a, b := indexOf(c, order[i-1]), indexOf(c, order[i]); a < 0 || b < 0 || a > b {
			t.Errorf("%s (at %d) must come before %s (at %d)", order[i-1], a, order[i], b)
		}
	}
}

// TestRenderErrors: sites that cannot be rendered say why.
func TestRenderErrors(t *testing.T) {
	n := loadKitchenSink(t)
	if _, err := Render(n, "nope"); err == nil {
		t.Error("unknown site rendered")
	}
	if _, err := Render(nil, "hub"); err == nil {
		t.Error("nil network rendered")
	}
	s := n.Sites["hub"]
	s.RouterOSVersion = "6.49"
	if _, err := Render(n, "hub"); err == nil {
		t.Error("RouterOS 6 rendered")
	}
	s.RouterOSVersion = "7.20.8"
	s.Routes = append(s.Routes, s.Routes[0])
	if _, err := Render(n, "hub"); err == nil || !strings.Contains(err.Error(), "identity") {
		t.Errorf("duplicate identities must be refused, got %v", err)
	}
}

func TestQuoteValue(t *testing.T) {
	for in, want := range map[string]string{
		"ether1":                             "ether1",
		"established,related":                "established,related",
		"!LAN":                               "!LAN",
		"BGP from home":                      `"BGP from home"`,
		"":                                   `""`,
		`a"b`:                                `"a\"b"`,
		`a\b`:                                `"a\\b"`,
		"$x":                                 `"\$x"`,
		"[find]":                             `"[find]"`,
		"a;b":                                `"a;b"`,
		"k=v":                                `"k=v"`,
		"line\nbreak":                        `"line\nbreak"`,
		"bell\x07":                           `"bell\07"`,
		"if (dst == ::/0) { accept } reject": `"if (dst == ::/0) { accept } reject"`,
	} {
		if got := quoteValue(in); got != want {
			t.Errorf("quoteValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[string]string{"25s": "25s", "90s": "1m30s", "1h": "1h", "0s": "0s", "25h": "1d1h", "3m20s": "3m20s"} {
		var d policy.Duration
		_ = d.UnmarshalText([]byte(in))
		if got := formatDuration(d.Duration); got != want {
			t.Errorf("formatDuration(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestPureImports: the renderer does no I/O and no logging.
func TestPureImports(t *testing.T) {
	forbidden := map[string]bool{"os": true, "os/exec": true, "net": true, "net/http": true, "log": true, "log/slog": true, "go.uber.org/zap": true, "syscall": true, "context": true}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pf.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); forbidden[p] {
				t.Errorf("%s imports %s; render/routeros must stay pure", f, p)
			}
		}
	}
}
