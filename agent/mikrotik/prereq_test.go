package mikrotik

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/contract"
	ros "github.com/tether-net/tether/render/routeros"
	"go.uber.org/zap"
)

// exampleSite finds one RouterOS site of the examples.
func exampleSite(t *testing.T, dir, site string) example {
	t.Helper()
	for _, e := range examples(t) {
		if e.dir == dir && e.site == site {
			return e
		}
	}
	t.Fatalf("no example %s/%s", dir, site)
	return example{}
}

// wantPrereqs plans the example's site through Device.Plan (as the agent
// and `tether plan` do) and returns the refusal, which must be permanent
// and leave the router unwritten.
func wantPrereqs(t *testing.T, l *lab, e example) *PrereqError {
	t.Helper()
	l.sim.ResetStats()
	_, err := l.dev.Plan(context.Background(), e.n, e.site)
	pe, ok := errors.AsType[*PrereqError](err)
	if !ok {
		t.Fatalf("plan: %v, want a *PrereqError", err)
	}
	if !errors.Is(err, contract.ErrPermanent) {
		t.Errorf("the refusal is not permanent: %v", err)
	}
	if w := l.sim.Stats().Writes; w != 0 {
		t.Errorf("%d writes before the refusal", w)
	}
	t.Logf("%v", err)
	return pe
}

func findPrereq(pe *PrereqError, kind, name string) (Prerequisite, bool) {
	i := slices.IndexFunc(pe.Missing, func(m Prerequisite) bool { return m.Kind == kind && m.Name == name })
	if i < 0 {
		return Prerequisite{}, false
	}
	return pe.Missing[i], true
}

// TestPrereqBridgeTrunkOnDefconf is issue 16's case: road-warrior-s2s
// site-a on a defconf router that has no bridge-trunk. The plan names the
// interface, every field of site-a.toml that uses it and the fix, before
// any write; once the operator creates the bridge, the same commit plans.
func TestPrereqBridgeTrunkOnDefconf(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			e := exampleSite(t, "road-warrior-s2s", "site-a")
			l := newLab(t, v, false)
			l.dev.version = v
			pe := wantPrereqs(t, l, e)
			if len(pe.Missing) != 1 {
				t.Fatalf("missing = %+v, want only bridge-trunk", pe.Missing)
			}
			m, ok := findPrereq(pe, prereqInterface, "bridge-trunk")
			if !ok {
				t.Fatalf("bridge-trunk not reported: %+v", pe.Missing)
			}
			for _, w := range []string{"sites/site-a.toml: interface[1].name", "sites/site-a.toml: firewall[", ".out_interface", ".in_interface"} {
				if !slices.ContainsFunc(m.Where, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("where = %q, want a field like %q", m.Where, w)
				}
			}
			if line := m.String(); !strings.Contains(line, "does not exist on the router") || !strings.Contains(line, "/interface/bridge/add name=bridge-trunk") {
				t.Errorf("line without the fix: %s", line)
			}
			// pppoe-out1 is declared but nothing rendered refers to it.
			if _, ok := findPrereq(pe, prereqInterface, "pppoe-out1"); ok {
				t.Error("pppoe-out1 reported although no rendered item uses it")
			}

			l.exec(t, "/interface/bridge/add", "=name=bridge-trunk")
			p, err := l.dev.Plan(context.Background(), e.n, e.site)
			if err != nil {
				t.Fatalf("plan after creating bridge-trunk: %v", err)
			}
			if len(p.Changes) == 0 {
				t.Fatal("plan after creating bridge-trunk is empty")
			}
		})
	}
}

// TestPrereqBareRouter: site-b (a defconf site) on a router without the
// default configuration misses its interface list, its LAN bridge and both
// anchors; all are reported at once, each once, with where they are named.
func TestPrereqBareRouter(t *testing.T) {
	e := exampleSite(t, "road-warrior-s2s", "site-b")
	l := newLab(t, "7.18", true)
	pe := wantPrereqs(t, l, e)
	for _, want := range []struct{ kind, name, where string }{
		{prereqInterfaceList, "WAN", "firewall[0].in_interface_list"},
		{prereqInterface, "bridge", "firewall[1].out_interface"},
		{prereqAnchor, "defconf: drop all not coming from LAN", "firewall[0].place_before"},
		{prereqAnchor, "defconf: drop all from WAN not DSTNATed", "firewall[2].place_before"},
		// "LAN to internet" (family both) is anchored in IPv6 too, to the
		// anchor its IPv4 one maps to (so no site key names it).
		{prereqAnchor, "defconf: drop everything else not coming from LAN", ""},
	} {
		m, ok := findPrereq(pe, want.kind, want.name)
		if !ok {
			t.Errorf("%s %s not reported", want.kind, want.name)
			continue
		}
		if want.where != "" && !slices.Contains(m.Where, "sites/site-b.toml: "+want.where) {
			t.Errorf("%s %s: where = %q, want %s", want.kind, want.name, m.Where, want.where)
		}
	}
	if len(pe.Missing) != 5 {
		t.Errorf("%d missing, want 5 (each once): %+v", len(pe.Missing), pe.Missing)
	}
	anchor, _ := findPrereq(pe, prereqAnchor, "defconf: drop all not coming from LAN")
	if anchor.Chain != "input" || !strings.Contains(anchor.String(), "defconf = false") {
		t.Errorf("anchor line: %s", anchor.String())
	}
}

// TestPrereqRenderedAndRouterMade: references satisfied by the site's own
// items (its WireGuard interface, routing table, address list, a list its
// rule fills) or by what the router has (tables, a list its own rule fills
// at run time, a zoned gateway's interface, an interface list named as a
// list member) are not prerequisites; the same references without either
// are, with the rendered items that use them.
func TestPrereqRenderedAndRouterMade(t *testing.T) {
	item := func(path string, attrs ...string) ros.Item {
		it := ros.Item{Path: path}
		for i := 0; i < len(attrs); i += 2 {
			it.Attrs = append(it.Attrs, ros.Attr{Name: attrs[i], Value: attrs[i+1]})
		}
		it.Attrs = append(it.Attrs, ros.Attr{Name: "comment", Value: "tether: t"})
		it.ID, _ = ros.Identity(path, it.Map())
		return it
	}
	cfg := &ros.Config{Site: "s", Version: "7.22.3", Items: []ros.Item{
		item("/routing/table", "name", "own", "fib", ""),
		item("/interface/wireguard", "name", "wg-own", "listen-port", "51820"),
		item("/ip/firewall/address-list", "list", "own-list", "address", "192.0.2.1"),
		item("/ip/route", "dst-address", "10.1.0.0/16", "gateway", "wg-own", "routing-table", "own"),
		item("/ip/route", "dst-address", "10.2.0.0/16", "gateway", "10.9.9.9", "routing-table", "ops"),
		item("/ipv6/route", "dst-address", "2001:db8:5::/48", "gateway", "fe80::1%ether2"),
		item("/ipv6/route", "dst-address", "2001:db8:6::/48", "gateway", "fe80::1%lan9"),
		item("/ip/firewall/filter", "chain", "forward", "action", "accept", "src-address-list", "!own-list", "dst-address-list", "knocked"),
		item("/ip/firewall/mangle", "chain", "prerouting", "action", "mark-routing", "new-routing-mark", "elsewhere", "in-interface", "wg-own"),
		item("/ipv6/firewall/filter", "chain", "input", "action", "accept", "src-address-list", "admins6"),
		// A member of the site's own list; the member is a list itself.
		item("/interface/list", "name", "mine"),
		item("/interface/list/member", "list", "mine", "interface", "LAN"),
		// A list the site's own rule fills at run time.
		item("/ip/firewall/filter", "chain", "input", "action", "add-src-to-address-list", "address-list", "scanners", "protocol", "tcp", "dst-port", "23"),
		item("/ip/firewall/filter", "chain", "input", "action", "drop", "src-address-list", "scanners"),
	}}
	l := newLab(t, "7.22.3", true)
	plan := func() *PrereqError {
		t.Helper()
		_, err := l.dev.PlanConfig(context.Background(), cfg)
		pe, _ := errors.AsType[*PrereqError](err)
		if pe == nil && err != nil {
			t.Fatal(err)
		}
		return pe
	}
	pe := plan()
	if pe == nil {
		t.Fatal("no refusal")
	}
	got := map[string][]string{}
	for _, m := range pe.Missing {
		got[m.Kind+" "+m.Family+" "+m.Name] = m.Users
	}
	want := map[string][]string{
		"routing table  ops":        {"/ip/route routing-table"},
		"routing table  elsewhere":  {"/ip/firewall/mangle new-routing-mark"},
		"interface  lan9":           {"/ipv6/route gateway"},
		"address list ip knocked":   {"/ip/firewall/filter dst-address-list"},
		"address list ipv6 admins6": {"/ipv6/firewall/filter src-address-list"},
		"interface  LAN":            {"/interface/list/member interface"},
	}
	for k, users := range want {
		if !slices.Equal(got[k], users) {
			t.Errorf("%s: users %q, want %q", k, got[k], users)
		}
	}
	if len(got) != len(want) {
		t.Errorf("missing = %v, want exactly %v", got, want)
	}

	// The router gets them: a table, the lan9 interface, entries of
	// admins6, and a rule of its own that fills "knocked" at run time.
	l.exec(t, "/routing/table/add", "=name=ops", "=fib=")
	l.exec(t, "/routing/table/add", "=name=elsewhere", "=fib=")
	l.exec(t, "/interface/bridge/add", "=name=lan9")
	l.exec(t, "/interface/list/add", "=name=LAN")
	l.exec(t, "/ipv6/firewall/address-list/add", "=list=admins6", "=address=2001:db8::7")
	l.exec(t, "/ip/firewall/filter/add", "=chain=input", "=action=add-src-to-address-list", "=address-list=knocked", "=protocol=tcp", "=dst-port=7000")
	if pe := plan(); pe != nil {
		t.Fatalf("still refused: %v", pe)
	}
}

// A site rendered for a newer RouterOS than the router runs is refused
// before any write, naming routeros_version and the router's version; a
// newer router takes it.
func TestPrereqRouterOlderThanDeclared(t *testing.T) {
	e := exampleSite(t, "cgnat-chr-relay", "home") // declares 7.22.3
	for _, tc := range []struct {
		router string
		refuse bool
	}{{"7.20.8", true}, {"7.22.3", false}, {"7.24", false}} {
		t.Run(tc.router, func(t *testing.T) {
			l := newLab(t, tc.router, false)
			d := New(Options{Conn: Conn{Address: l.sim.Addr(), Username: "admin", Timeout: 5 * time.Second}, Logger: zap.NewNop(), Now: l.clk.Now})
			t.Cleanup(func() { d.Close() })
			l.sim.ResetStats()
			_, err := d.Plan(context.Background(), e.n, e.site)
			pe, refused := errors.AsType[*PrereqError](err)
			if refused != tc.refuse {
				t.Fatalf("plan against RouterOS %s: %v (refused %v, want %v)", tc.router, err, refused, tc.refuse)
			}
			if !refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			m, ok := findPrereq(pe, prereqVersion, "7.22.3")
			if !ok || !strings.Contains(m.String(), "sites/home.toml: routeros_version") || !strings.Contains(m.String(), `set routeros_version = "7.20.8"`) {
				t.Errorf("version refusal %q does not name the field and the fix", m.String())
			}
			if !errors.Is(err, contract.ErrPermanent) || l.sim.Stats().Writes != 0 {
				t.Errorf("refusal not permanent (%v) or %d writes", err, l.sim.Stats().Writes)
			}
		})
	}
}
