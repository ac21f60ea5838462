package rossim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// fabricPair is the cgnat-chr-relay design on two routers sharing a
// fabric, configured as tether renders it: the relay originates ::/0 from
// its template and exports it through bgp-out-home; home announces its /48
// from an address list backed by a blackhole route.
type fabricPair struct {
	t           testing.TB
	clk         *ManualClock
	relay, home *Sim
}

func newFabricPair(t testing.TB) *fabricPair { return newPairOn(t, NewFabric()) }

// newPairOn configures the pair on fab (nil: two routers with no far ends).
func newPairOn(t testing.TB, fab *Fabric) *fabricPair {
	t.Helper()
	clk := NewManualClock(t0)
	if fab != nil {
		fab.HandshakeAfter, fab.EstablishAfter = time.Second, 2*time.Second
	}
	f := &fabricPair{t: t, clk: clk}
	for _, v := range []struct {
		s       **Sim
		version string
	}{{&f.relay, "7.20.8"}, {&f.home, "7.22.3"}} {
		s, err := New(Config{Version: v.version, Clock: clk, Fabric: fab, Logf: func(string, ...any) {}})
		if err != nil {
			t.Fatal(err)
		}
		*v.s = s
	}
	relayKey := f.exec(f.relay, "/interface/wireguard/add", "=name=wg-vps", "=listen-port=51820")
	homeKey := f.exec(f.home, "/interface/wireguard/add", "=name=wg-vps", "=listen-port=51820")
	relayPub, homePub := f.pub(f.relay, relayKey), f.pub(f.home, homeKey)

	f.exec(f.relay, "/ip/address/add", "=address=203.0.113.10/24", "=interface=ether1")
	f.exec(f.relay, "/ipv6/address/add", "=address=2001:db8:100::1/64", "=interface=wg-vps", "=advertise=no")
	f.exec(f.relay, "/interface/wireguard/peers/add", "=interface=wg-vps", "=public-key="+homePub,
		"=allowed-address=2001:db8:100::2/128,2001:db8:100::/48", "=persistent-keepalive=25s")
	f.exec(f.relay, "/routing/filter/rule/add", "=chain=bgp-in-home", "=rule=if (dst == 2001:db8:100::/48) { accept } reject")
	f.exec(f.relay, "/routing/filter/rule/add", "=chain=bgp-out-home", "=rule=if (dst == ::/0) { accept } reject")
	f.exec(f.relay, "/routing/bgp/instance/add", "=name=chr-vps", "=as=64512", "=router-id=203.0.113.10")
	f.exec(f.relay, "/routing/bgp/template/add", "=name=tpl-home", "=as=64512", "=output.default-originate=always")
	f.exec(f.relay, "/routing/bgp/connection/add", "=name=home", "=instance=chr-vps", "=remote.address=2001:db8:100::2",
		"=remote.as=64513", "=local.address=2001:db8:100::1", "=local.role=ebgp", "=templates=tpl-home", "=afi=ipv6",
		"=input.filter=bgp-in-home", "=output.filter-chain=bgp-out-home")

	f.exec(f.home, "/ipv6/address/add", "=address=2001:db8:100::2/64", "=interface=wg-vps", "=advertise=no")
	f.exec(f.home, "/interface/wireguard/peers/add", "=interface=wg-vps", "=public-key="+relayPub, "=allowed-address=::/0",
		"=endpoint-address=203.0.113.10", "=endpoint-port=51820", "=persistent-keepalive=25s")
	f.exec(f.home, "/ipv6/route/add", "=dst-address=2001:db8:100::/48", "=blackhole=", "=distance=254", "=comment=aggregate-for-bgp")
	f.exec(f.home, "/ipv6/firewall/address-list/add", "=list=bgp-networks-chr-vps", "=address=2001:db8:100::/48")
	f.exec(f.home, "/routing/filter/rule/add", "=chain=bgp-in-chr-vps", "=rule=if (dst == ::/0) { accept } reject")
	f.exec(f.home, "/routing/filter/rule/add", "=chain=bgp-out-chr-vps", "=rule=if (dst == 2001:db8:100::/48) { accept } reject")
	f.exec(f.home, "/routing/bgp/instance/add", "=name=default-bgp", "=as=64513", "=router-id=192.168.88.1")
	f.exec(f.home, "/routing/bgp/template/add", "=name=tpl-chr-vps", "=as=64513")
	f.exec(f.home, "/routing/bgp/connection/add", "=name=chr-vps", "=instance=default-bgp", "=remote.address=2001:db8:100::1",
		"=remote.as=64512", "=local.address=2001:db8:100::2", "=local.role=ebgp", "=templates=tpl-chr-vps", "=afi=ipv6",
		"=input.filter=bgp-in-chr-vps", "=output.filter-chain=bgp-out-chr-vps", "=output.network=bgp-networks-chr-vps")
	return f
}

func (f *fabricPair) exec(s *Sim, words ...string) string {
	f.t.Helper()
	_, done, err := s.Exec(words...)
	if err != nil {
		f.t.Fatalf("%v: %v", words, err)
	}
	return done["ret"]
}

func (f *fabricPair) pub(s *Sim, id string) string {
	f.t.Helper()
	rows, _, err := s.Exec("/interface/wireguard/print", "?.id="+id)
	if err != nil || len(rows) != 1 {
		f.t.Fatalf("read key: %v %v", rows, err)
	}
	return rows[0]["public-key"]
}

// advance moves the shared clock one second at a time, ticking both.
func (f *fabricPair) advance(d time.Duration) {
	for ; d > 0; d -= time.Second {
		f.clk.Add(time.Second)
		f.relay.Tick()
		f.home.Tick()
	}
}

func (f *fabricPair) session(s *Sim) map[string]string {
	f.t.Helper()
	rows, _, err := s.Exec("/routing/bgp/session/print")
	if err != nil || len(rows) != 1 {
		f.t.Fatalf("sessions: %v %v", rows, err)
	}
	return rows[0]
}

// learnt lists the BGP routes of s's /ipv6/route.
func (f *fabricPair) learnt(s *Sim) []string {
	f.t.Helper()
	rows, _, err := s.Exec("/ipv6/route/print", "?bgp=true")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r["dst-address"])
	}
	slices.Sort(out)
	return out
}

func (f *fabricPair) want(s *Sim, name string, established bool, routes ...string) {
	f.t.Helper()
	sess := f.session(s)
	if got := sess["established"] == "true"; got != established {
		f.t.Errorf("%s: established = %v, want %v: %v", name, got, established, sess)
	}
	if got := f.learnt(s); !slices.Equal(got, routes) {
		f.t.Errorf("%s: learnt %v, want %v", name, got, routes)
	}
}

func TestFabricSessionsFollowBothConfigs(t *testing.T) {
	f := newFabricPair(t)
	f.want(f.home, "home before the handshake", false)
	f.advance(4 * time.Second)
	f.want(f.home, "home", true, "::/0")
	f.want(f.relay, "relay", true, "2001:db8:100::/48")
	hs, _, _ := f.home.Exec("/interface/wireguard/peers/print")
	if hs[0]["last-handshake"] == "" || hs[0]["current-endpoint-address"] != "203.0.113.10" {
		t.Errorf("home's peer has no handshake with the relay: %v", hs[0])
	}
	sess := f.session(f.home)
	if sess["remote.id"] != "203.0.113.10" || sess["prefix-count"] != "1" || sess["local.address"] != "2001:db8:100::2" {
		t.Errorf("home's session: %v", sess)
	}
	rows, _, _ := f.home.Exec("/ipv6/route/print", "?dst-address=::/0")
	if len(rows) != 1 || rows[0]["gateway"] != "2001:db8:100::1" || rows[0]["dynamic"] != "true" || rows[0]["active"] != "true" {
		t.Errorf("home's learnt default: %v", rows)
	}
	if r, _, _ := f.home.Exec("/tool/ping", "=address=2001:db8:100::1", "=count=1"); r[0]["received"] != "1" {
		t.Errorf("home cannot ping the relay's tunnel address: %v", r)
	}

	// An AS the far end does not have: neither end establishes.
	f.exec(f.relay, "/routing/bgp/connection/set", "=numbers=home", "=remote.as=64599")
	f.advance(3 * time.Second)
	f.want(f.home, "home, relay expects another AS", false)
	f.want(f.relay, "relay, wrong remote.as", false)
	f.exec(f.relay, "/routing/bgp/connection/set", "=numbers=home", "=remote.as=64513")
	f.advance(3 * time.Second)
	f.want(f.home, "home, AS fixed", true, "::/0")

	// The relay switched off: home loses the session and what it learnt.
	f.relay.cfg.Fabric.Leave(f.relay)
	f.home.Tick()
	f.want(f.home, "home, relay gone", false)
}

// The relay's export filter decides what home receives: a mistake there
// leaves the relay's session and its own routes as they were.
func TestFabricExportFilterDecidesWhatTheFarEndLearns(t *testing.T) {
	f := newFabricPair(t)
	f.advance(4 * time.Second)
	f.want(f.home, "home", true, "::/0")

	rows, _, _ := f.relay.Exec("/routing/filter/rule/print", "?chain=bgp-out-home")
	f.exec(f.relay, "/routing/filter/rule/set", "=.id="+rows[0][".id"], "=rule=if (dst == 2000::/3) { accept } reject")
	f.advance(time.Second)
	f.want(f.home, "home, relay exports 2000::/3 only", true)
	f.want(f.relay, "relay, its own export mistake", true, "2001:db8:100::/48")
	if r, _, _ := f.home.Exec("/tool/ping", "=address=2001:db8:ffff:1e6::1", "=count=1"); r[0]["received"] != "0" {
		t.Errorf("home reaches the internet without a default route: %v", r)
	}
	if r, _, _ := f.home.Exec("/tool/ping", "=address=2001:db8:100::1", "=count=1"); r[0]["received"] != "1" {
		t.Errorf("home cannot ping the relay's tunnel address without routes from it: %v", r)
	}

	f.exec(f.relay, "/routing/filter/rule/set", "=.id="+rows[0][".id"], "=rule=if (dst == ::/0) { accept } reject")
	f.advance(time.Second)
	f.want(f.home, "home, export fixed", true, "::/0")

	// No default-originate in the template: nothing to export.
	f.exec(f.relay, "/routing/bgp/template/set", "=numbers=tpl-home", "=output.default-originate=never")
	f.advance(time.Second)
	f.want(f.home, "home, relay originates no default", true)
	f.exec(f.relay, "/routing/bgp/template/set", "=numbers=tpl-home", "=output.default-originate=always")

	// Home's output.network needs an active route for the prefix.
	f.exec(f.home, "/ipv6/route/disable", "=numbers="+routeID(t, f.home, "2001:db8:100::/48"))
	f.advance(time.Second)
	f.want(f.relay, "relay, home's aggregate route disabled", true)
	f.want(f.home, "home", true, "::/0")
	f.exec(f.home, "/ipv6/route/enable", "=numbers="+routeID(t, f.home, "2001:db8:100::/48"))
	f.advance(time.Second)
	f.want(f.relay, "relay, aggregate back", true, "2001:db8:100::/48")

	// Home's import filter is applied to what the relay sends.
	rows, _, _ = f.home.Exec("/routing/filter/rule/print", "?chain=bgp-in-chr-vps")
	f.exec(f.home, "/routing/filter/rule/set", "=.id="+rows[0][".id"], "=rule=if (dst in 2001:db8::/32 && dst-len in 48-64) { accept } reject")
	f.advance(time.Second)
	f.want(f.home, "home, import filter refuses ::/0", true)
	if got := f.session(f.home)["prefix-count"]; got != "0" {
		t.Errorf("home's prefix-count = %s, want 0", got)
	}
}

// Without a WireGuard handshake there is no session: home's peer dials a
// port the relay does not listen on and the relay does not dial home.
func TestFabricNeedsTheTunnel(t *testing.T) {
	f := newFabricPair(t)
	f.exec(f.home, "/interface/wireguard/peers/set", "=numbers="+peerID(t, f.home), "=endpoint-port=51821")
	f.advance(5 * time.Second)
	f.want(f.home, "home, wrong endpoint port", false)
	f.want(f.relay, "relay", false)
	if hs, _, _ := f.home.Exec("/interface/wireguard/peers/print"); hs[0]["last-handshake"] != "" {
		t.Errorf("handshake with a wrong endpoint: %v", hs[0])
	}
	f.exec(f.home, "/interface/wireguard/peers/set", "=numbers="+peerID(t, f.home), "=endpoint-port=51820")
	f.advance(4 * time.Second)
	f.want(f.home, "home, endpoint fixed", true, "::/0")
}

// Rule text outside the simulated subset is refused by name, on add and
// on set, rather than judged wrongly.
func TestRoutingFilterRuleOutsideTheSubsetIsRefused(t *testing.T) {
	s, _ := newSim(t, Config{Bare: true})
	for _, rule := range []string{
		"if (dst in 10.0.0.0/8) { set distance 5; accept }",
		"if (dst == 10.0.0.0/8) { accept } else { reject }",
		"if (bgp-as-path-len > 3) { reject }",
		"jump other-chain",
	} {
		_, _, err := s.Exec("/routing/filter/rule/add", "=chain=x", "=rule="+rule)
		if err == nil || !strings.Contains(err.Error(), "not simulated") {
			t.Errorf("%q: err = %v, want a not-simulated trap", rule, err)
		}
	}
	_, done, err := s.Exec("/routing/filter/rule/add", "=chain=x", "=rule=if (dst == 10.0.0.0/8) { accept; } reject;")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Exec("/routing/filter/rule/set", "=.id="+done["ret"], "=rule=if (dst != 10.0.0.0/8) { accept }"); err == nil || !strings.Contains(err.Error(), "not simulated") {
		t.Errorf("set to an unsupported rule: err = %v", err)
	}
}

func routeID(t *testing.T, s *Sim, dst string) string {
	t.Helper()
	rows, _, err := s.Exec("/ipv6/route/print", "?dst-address="+dst)
	for _, r := range rows {
		if r["dynamic"] != "true" {
			return r[".id"]
		}
	}
	t.Fatalf("no static route %s: %v %v", dst, rows, err)
	return ""
}

func peerID(t *testing.T, s *Sim) string {
	t.Helper()
	rows, _, err := s.Exec("/interface/wireguard/peers/print")
	if err != nil || len(rows) != 1 {
		t.Fatalf("peers: %v %v", rows, err)
	}
	return rows[0][".id"]
}

// BenchmarkRefresh measures what a router's refresh (run before and after
// every API command and on every tick) costs on a fabric, where it also
// publishes its view and derives sessions and announcements from its far
// end's, against the same configuration with no far end.
func BenchmarkRefresh(b *testing.B) {
	for _, bc := range []struct {
		name string
		fab  *Fabric
	}{{"alone", nil}, {"fabric", NewFabric()}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newPairOn(b, bc.fab)
			f.advance(4 * time.Second)
			b.ReportAllocs()
			for b.Loop() {
				f.home.Tick()
			}
		})
	}
}
