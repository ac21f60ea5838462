package rossim

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeDataplane records what the simulator asks of it. It is the glue
// between tables and Dataplane that is under test here, not a dataplane.
type fakeDataplane struct {
	mu       sync.Mutex
	applied  []DataplaneConfig
	failNext int // fail this many Apply calls
	peerReqs int
	peers    map[DataplanePeerKey]DataplanePeerStats
	pings    []PingRequest
	result   PingResult
	closed   int
}

func (f *fakeDataplane) Apply(cfg DataplaneConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, cfg)
	if f.failNext > 0 {
		f.failNext--
		return errors.New("injected apply failure")
	}
	return nil
}

func (f *fakeDataplane) Peers() (map[DataplanePeerKey]DataplanePeerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peerReqs++
	return f.peers, nil
}

func (f *fakeDataplane) Ping(ctx context.Context, req PingRequest) (PingResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, req)
	return f.result, nil
}

func (f *fakeDataplane) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

func (f *fakeDataplane) applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.applied)
}

func (f *fakeDataplane) last() DataplaneConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[len(f.applied)-1]
}

// TestDataplaneApplyOnChange: Apply runs once per configuration change, not
// once per command or refresh, and a failed Apply is retried later.
func TestDataplaneApplyOnChange(t *testing.T) {
	dp := &fakeDataplane{}
	s, _ := newSim(t, Config{Bare: true, Dataplane: dp})
	c := client(t, s)
	if n := dp.applies(); n != 1 {
		t.Fatalf("start: %d applies, want 1 (the empty start state)", n)
	}
	relayPriv, relayPub := KeyPair("relay")
	_ = relayPriv
	routerPriv, _ := KeyPair("router")

	steps := []struct {
		words []string
		delta int
	}{
		{[]string{"/interface/wireguard/add", "=name=wg0", "=private-key=" + routerPriv, "=listen-port=13231"}, 1},
		{[]string{"/interface/wireguard/print"}, 0},
		{[]string{"/interface/wireguard/peers/add", "=interface=wg0", "=public-key=" + relayPub, "=endpoint-address=198.51.100.6",
			"=endpoint-port=51820", "=allowed-address=fd00:7e7e::1/128,10.7.0.1/32", "=persistent-keepalive=25"}, 1},
		{[]string{"/ipv6/address/add", "=address=fd00:7e7e::2/64", "=interface=wg0"}, 1},
		{[]string{"/interface/bridge/add", "=name=bridge1"}, 1}, // no link yet (no address), but it joins the interface lists all and static
		{[]string{"/ip/address/add", "=address=10.99.0.1/24", "=interface=bridge1"}, 1},
		{[]string{"/ipv6/route/add", "=dst-address=fd00:77::/64", "=gateway=fd00:7e7e::1", "=distance=5"}, 1},
		{[]string{"/system/identity/set", "=name=home"}, 0},
		{[]string{"/ip/firewall/filter/add", "=chain=input", "=action=drop"}, 1}, // the firewall is part of the snapshot
		{[]string{"/interface/wireguard/peers/print"}, 0},
		{[]string{"/interface/wireguard/set", "=numbers=wg0", "=listen-port=13231"}, 0}, // same value
		{[]string{"/interface/wireguard/set", "=numbers=wg0", "=mtu=1380"}, 1},
		{[]string{"/interface/wireguard/peers/disable", "=numbers=*1"}, 1},
	}
	for _, st := range steps {
		before := dp.applies()
		run(t, c, st.words...)
		if got := dp.applies() - before; got != st.delta {
			t.Errorf("%v: %d applies, want %d", st.words, got, st.delta)
		}
	}

	cfg := dp.last()
	wantPeer := DataplanePeer{PublicKey: relayPub, EndpointAddress: "198.51.100.6", EndpointPort: 51820, PersistentKeepalive: 25 * time.Second, Disabled: true,
		AllowedAddress: []netip.Prefix{netip.MustParsePrefix("fd00:7e7e::1/128"), netip.MustParsePrefix("10.7.0.1/32")}}
	if len(cfg.WireGuard) != 1 || cfg.WireGuard[0].Name != "wg0" || cfg.WireGuard[0].PrivateKey != routerPriv ||
		cfg.WireGuard[0].ListenPort != 13231 || cfg.WireGuard[0].MTU != 1380 || len(cfg.WireGuard[0].Peers) != 1 {
		t.Fatalf("wireguard %+v", cfg.WireGuard)
	}
	if p := cfg.WireGuard[0].Peers[0]; p.PublicKey != wantPeer.PublicKey || p.EndpointAddress != wantPeer.EndpointAddress || p.EndpointPort != wantPeer.EndpointPort ||
		p.PersistentKeepalive != wantPeer.PersistentKeepalive || !p.Disabled || !slices.Equal(p.AllowedAddress, wantPeer.AllowedAddress) {
		t.Errorf("peer %+v", p)
	}
	if !slices.Equal(cfg.Links, []DataplaneLink{{Name: "bridge1", Type: "bridge"}}) {
		t.Errorf("links %+v", cfg.Links)
	}
	wantAddrs := []DataplaneAddress{{Address: netip.MustParsePrefix("10.99.0.1/24"), Interface: "bridge1"}, {Address: netip.MustParsePrefix("fd00:7e7e::2/64"), Interface: "wg0"}}
	if !slices.Equal(cfg.Addresses, wantAddrs) {
		t.Errorf("addresses %+v", cfg.Addresses)
	}
	wantRoutes := []DataplaneRoute{{Dst: netip.MustParsePrefix("fd00:77::/64"), Gateway: netip.MustParseAddr("fd00:7e7e::1"), Distance: 5}}
	if !slices.Equal(cfg.Routes, wantRoutes) {
		t.Errorf("routes %+v (connected routes must not be there)", cfg.Routes)
	}
	if len(cfg.Firewall) != 1 || cfg.Firewall[0].Family != 4 || cfg.Firewall[0].Table != "filter" ||
		cfg.Firewall[0].Attrs["chain"] != "input" || cfg.Firewall[0].Attrs["action"] != "drop" || cfg.Firewall[0].Attrs["bytes"] != "" {
		t.Errorf("firewall %+v", cfg.Firewall)
	}
	if all := cfg.InterfaceLists["all"]; !slices.Contains(all, "bridge1") || !slices.Contains(all, "wg0") || !slices.Contains(all, "ether1") {
		t.Errorf("interface list all %v", all)
	}

	// A failed Apply is retried on a later refresh, not on every command.
	dp.failNext = 1
	before := dp.applies()
	run(t, c, "/interface/wireguard/peers/enable", "=numbers=*1")
	run(t, c, "/system/identity/print")
	if got := dp.applies() - before; got != 1 {
		t.Fatalf("failed apply: %d calls before the retry time, want 1", got)
	}
	s.Advance(dataplaneRetry)
	run(t, c, "/system/identity/print")
	run(t, c, "/system/identity/print")
	if got := dp.applies() - before; got != 2 {
		t.Fatalf("after the retry time: %d calls, want 2", got)
	}
	if dp.last().WireGuard[0].Peers[0].Disabled {
		t.Errorf("retried snapshot is stale")
	}

	// Removing everything leaves an empty snapshot.
	for _, w := range [][]string{
		{"/ipv6/route/remove", "=numbers=" + run(t, c, "/ipv6/route/print", "?static=true").Re[0].Map[".id"]},
		{"/interface/wireguard/peers/remove", "=numbers=*1"},
		{"/ipv6/address/remove", "=numbers=*1"},
		{"/ip/address/remove", "=numbers=*1"},
		{"/interface/wireguard/remove", "=numbers=wg0"},
		{"/interface/bridge/remove", "=numbers=bridge1"},
	} {
		run(t, c, w...)
	}
	if cfg := dp.last(); len(cfg.WireGuard)+len(cfg.Links)+len(cfg.Addresses)+len(cfg.Routes) != 0 {
		t.Errorf("after removing everything: %+v", cfg)
	}
	s.Close()
	s.Close()
	if dp.closed != 1 {
		t.Errorf("Close called %d times, want 1", dp.closed)
	}
}

// TestDataplanePeersAndPing: peer read-side attributes come from Peers (in
// RouterOS formats, cached), pings from Ping, BGP needs the real handshake.
func TestDataplanePeersAndPing(t *testing.T) {
	_, relayPub := KeyPair("relay")
	_, otherPub := KeyPair("other")
	dp := &fakeDataplane{}
	world := World{FarEnds: []FarEnd{{Name: "relay", PublicKey: relayPub, TransitAddress: "fd00:7e7e::1", ASN: 65001, Announces: []string{"2001:db8:100::/48"}}}}
	s, clk := newSim(t, Config{Bare: true, Dataplane: dp, World: world})
	c := client(t, s)
	run(t, c, "/interface/wireguard/add", "=name=wg0")
	run(t, c, "/interface/wireguard/peers/add", "=interface=wg0", "=public-key="+relayPub, "=allowed-address=fd00:7e7e::1/128")
	run(t, c, "/interface/wireguard/peers/add", "=interface=wg0", "=public-key="+otherPub, "=allowed-address=fd00:7e7e::3/128")
	run(t, c, "/ipv6/address/add", "=address=fd00:7e7e::2/64", "=interface=wg0")
	run(t, c, "/routing/bgp/instance/add", "=name=main", "=as=65010")
	run(t, c, "/routing/bgp/connection/add", "=name=relay", "=instance=main", "=remote.address=fd00:7e7e::1", "=remote.as=65001", "=local.role=ebgp")

	dp.mu.Lock()
	dp.peers = map[DataplanePeerKey]DataplanePeerStats{
		{Interface: "wg0", PublicKey: relayPub}: {LastHandshake: clk.Now().Add(-75*time.Second - 300*time.Millisecond), Rx: 1234, Tx: 5678,
			Endpoint: netip.MustParseAddrPort("198.51.100.6:51820")},
	}
	dp.mu.Unlock()
	s.Advance(time.Second) // past the Peers cache
	r := rows(run(t, c, "/interface/wireguard/peers/print"))
	if p := r[0]; p["last-handshake"] != "1m16s" || p["rx"] != "1234" || p["tx"] != "5678" ||
		p["current-endpoint-address"] != "198.51.100.6" || p["current-endpoint-port"] != "51820" {
		t.Errorf("live peer %v", p)
	}
	if p := r[1]; p["last-handshake"] != "" || p["rx"] != "0" || p["tx"] != "0" || p["current-endpoint-address"] != "" {
		t.Errorf("peer without handshake %v", p)
	}
	// A burst of commands within the cache lifetime asks the dataplane once.
	dp.mu.Lock()
	dp.peerReqs = 0
	dp.mu.Unlock()
	s.Advance(time.Second)
	for range 20 {
		run(t, c, "/interface/wireguard/peers/print")
	}
	if dp.peerReqs != 1 {
		t.Errorf("Peers called %d times for a burst, want 1", dp.peerReqs)
	}
	// The BGP far end comes up over the real handshake…
	if r := run(t, c, "/routing/bgp/session/print"); len(r.Re) != 1 || r.Re[0].Map["established"] != "true" {
		t.Errorf("session with a live handshake: %v", rows(r))
	}
	// …and goes down when the handshake is too old.
	s.Advance(3 * time.Minute)
	if r := run(t, c, "/routing/bgp/session/print", "?established=true"); len(r.Re) != 0 {
		t.Errorf("session with a stale handshake: %v", rows(r))
	}

	dp.mu.Lock()
	dp.result = PingResult{Sent: 3, Received: 2, Replies: []PingReply{
		{Seq: 0, Size: 56, TTL: 64, RTT: 1357 * time.Microsecond},
		{Seq: 2, Size: 56, TTL: 64, RTT: 300 * time.Microsecond},
	}}
	dp.mu.Unlock()
	pr := rows(run(t, c, "/tool/ping", "=address=fd00:7e7e::1", "=count=3", "=src-address=fd00:7e7e::2", "=interface=wg0", "=interval=200ms"))
	if want := (PingRequest{Address: netip.MustParseAddr("fd00:7e7e::1"), SrcAddress: netip.MustParseAddr("fd00:7e7e::2"), Interface: "wg0", Count: 3, Interval: 200 * time.Millisecond}); dp.pings[0] != want {
		t.Errorf("ping request %+v, want %+v", dp.pings[0], want)
	}
	if len(pr) != 3 || pr[0]["time"] != "1ms357us" || pr[0]["received"] != "1" || pr[0]["packet-loss"] != "0" ||
		pr[1]["status"] != "timeout" || pr[1]["packet-loss"] != "50" ||
		pr[2]["sent"] != "3" || pr[2]["received"] != "2" || pr[2]["packet-loss"] != "33" ||
		pr[2]["min-rtt"] != "300us" || pr[2]["max-rtt"] != "1ms357us" || pr[2]["avg-rtt"] != "828us" {
		t.Errorf("ping rows %v", pr)
	}
	if msg := trapMsg(t, c, "/ping", "=address=fd00:7e7e::1", "=interface=nope"); msg != "input does not match any value of interface" {
		t.Errorf("bad interface: %q", msg)
	}
}
