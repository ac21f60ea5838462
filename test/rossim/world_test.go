package rossim

import (
	"slices"
	"testing"
	"time"
)

// relayWorld is a relay VPS announcing a /48 and a default route.
func relayWorld(acceptKey string) World {
	return World{FarEnds: []FarEnd{{
		Name:            "relay",
		PublicKey:       mustPub("relay"),
		AcceptKey:       acceptKey,
		AcceptAnyKey:    acceptKey == "",
		EndpointAddress: "198.51.100.7",
		EndpointPort:    51820,
		TransitAddress:  "fd00:1::1",
		ASN:             65001,
		ExpectRouterASN: 65010,
		Announces:       []string{"2001:db8:100::/48", "2001:db8:200::/64", "::/0"},
		HandshakeAfter:  Duration(5 * time.Second),
		EstablishAfter:  Duration(10 * time.Second),
	}}}
}

func TestWorldHandshakeBGPAndRoutes(t *testing.T) {
	s, clk := newSim(t, Config{Version: "7.20.8", World: relayWorld("")})
	c := client(t, s)
	run(t, c, "/interface/wireguard/add", "=name=wg-relay", "=listen-port=51821")
	peer := run(t, c, "/interface/wireguard/peers/add", "=interface=wg-relay", "=public-key="+mustPub("relay"),
		"=endpoint-address=198.51.100.7", "=endpoint-port=51820", "=allowed-address=::/0", "=persistent-keepalive=25s").Done.Map["ret"]
	run(t, c, "/ipv6/address/add", "=address=fd00:1::2/64", "=interface=wg-relay", "=advertise=no")
	run(t, c, "/routing/filter/rule/add", "=chain=relay-in", "=rule=if (dst == 2001:db8:100::/48) { accept }")
	run(t, c, "/routing/filter/rule/add", "=chain=relay-in", "=rule=if (dst in 2001:db8::/32 && dst-len in 49-64) { accept }")
	run(t, c, "/routing/filter/rule/add", "=chain=relay-in", "=rule=reject")
	run(t, c, "/routing/bgp/instance/add", "=name=bgp1", "=as=65010")
	run(t, c, "/routing/bgp/connection/add", "=name=relay", "=instance=bgp1", "=remote.address=fd00:1::1", "=remote.as=65001",
		"=local.role=ebgp", "=input.filter=relay-in", "=afi=ipv6")

	p := run(t, c, "/interface/wireguard/peers/print", "?.id="+peer).Re[0].Map
	if _, ok := p["last-handshake"]; ok {
		t.Fatalf("handshake before delay: %v", p)
	}
	clk.Add(4 * time.Second)
	if r := run(t, c, "/interface/wireguard/peers/print", "=.proplist=last-handshake"); len(r.Re[0].Map) != 0 {
		t.Fatalf("handshake at 4s: %v", r.Re[0].Map)
	}
	s.Advance(2 * time.Second)
	p = run(t, c, "/interface/wireguard/peers/print", "?.id="+peer).Re[0].Map
	if p["last-handshake"] != "1s" || p["current-endpoint-address"] != "198.51.100.7" || p["current-endpoint-port"] != "51820" || p["rx"] == "0" {
		t.Fatalf("after handshake: %v", p)
	}
	sess := run(t, c, "/routing/bgp/session/print").Re[0].Map
	if _, ok := sess["established"]; ok {
		t.Fatalf("session established too early: %v", sess)
	}
	s.Advance(11 * time.Second)
	sess = run(t, c, "/routing/bgp/session/print", "?established=true").Re[0].Map
	if sess["remote.address"] != "fd00:1::1" || sess["remote.as"] != "65001" || sess["local.address"] != "fd00:1::2" || sess["prefix-count"] != "2" || sess["uptime"] != "2s" || sess["local.as"] != "65010" {
		t.Fatalf("session %v", sess)
	}
	r := run(t, c, "/ipv6/route/print", "?bgp=true", "=.proplist=dst-address,gateway,dynamic")
	got := column(r, "dst-address")
	if !slices.Equal(got, []string{"2001:db8:100::/48", "2001:db8:200::/64"}) {
		t.Fatalf("learned routes %v (default route must be filtered)", got)
	}
	if r.Re[0].Map["gateway"] != "fd00:1::1" || r.Re[0].Map["dynamic"] != "true" {
		t.Errorf("route %v", r.Re[0].Map)
	}
	// last-handshake stays below the rekey interval while the tunnel lives.
	s.Advance(5 * time.Minute)
	p = run(t, c, "/interface/wireguard/peers/print", "?.id="+peer).Re[0].Map
	if d, _ := ParseDuration(p["last-handshake"]); d >= 2*time.Minute {
		t.Errorf("live tunnel last-handshake %s", p["last-handshake"])
	}
	// ping answers through the tunnel and via learned routes only.
	for addr, want := range map[string]string{"fd00:1::1": "0", "2001:db8:100::1": "0", "2001:db8:999::1": "100"} {
		r := run(t, c, "/ping", "=address="+addr, "=count=2")
		if len(r.Re) != 2 || r.Re[1].Map["packet-loss"] != want {
			t.Errorf("ping %s: %v", addr, rows(r))
		}
	}
	// Breaking the peer (wrong endpoint port) drops handshake, session and routes.
	run(t, c, "/interface/wireguard/peers/set", "=.id="+peer, "=endpoint-port=51999")
	s.Advance(3 * time.Minute)
	p = run(t, c, "/interface/wireguard/peers/print", "?.id="+peer).Re[0].Map
	if d, _ := ParseDuration(p["last-handshake"]); d < 3*time.Minute {
		t.Errorf("broken peer last-handshake %s", p["last-handshake"])
	}
	if r := run(t, c, "/routing/bgp/session/print", "?established=true"); len(r.Re) != 0 {
		t.Errorf("session still established")
	}
	if r := run(t, c, "/ipv6/route/print", "?bgp=true"); len(r.Re) != 0 {
		t.Errorf("learned routes remain: %v", rows(r))
	}
	if msg := trapMsg(t, c, "/ipv6/route/remove", "=numbers="+run(t, c, "/ipv6/route/print", "?connect=true").Re[0].Map[".id"]); msg != "failure: can not remove dynamic item" {
		t.Errorf("remove dynamic route: %q", msg)
	}
}

func TestWorldKeyAcceptance(t *testing.T) {
	// The far end knows one specific router key: a router interface with a
	// different key never handshakes.
	s, _ := newSim(t, Config{World: relayWorld(mustPub("someone-else"))})
	c := client(t, s)
	run(t, c, "/interface/wireguard/add", "=name=wg0")
	run(t, c, "/interface/wireguard/peers/add", "=interface=wg0", "=public-key="+mustPub("relay"), "=endpoint-address=198.51.100.7", "=endpoint-port=51820", "=allowed-address=::/0")
	s.Advance(time.Minute)
	if p := run(t, c, "/interface/wireguard/peers/print").Re[0].Map; p["last-handshake"] != "" {
		t.Fatalf("handshake with unknown key: %v", p)
	}
	// Now tell the world the router's real key.
	pub := run(t, c, "/interface/wireguard/print").Re[0].Map["public-key"]
	s.SetWorld(relayWorld(pub))
	s.Advance(6 * time.Second)
	if p := run(t, c, "/interface/wireguard/peers/print").Re[0].Map; p["last-handshake"] != "1s" {
		t.Fatalf("no handshake with known key: %v", p)
	}
}

func TestFilterRuleSubset(t *testing.T) {
	good := []string{
		"if (dst == 10.0.0.0/8) { accept }",
		"if (dst in 2001:db8::/32 && dst-len in 48-64) { accept; }",
		"accept", "reject;", "if (dst-len > 24) { reject }",
	}
	for _, r := range good {
		if _, err := parseFilterRule(r); err != nil {
			t.Errorf("%q: %v", r, err)
		}
	}
	for _, r := range []string{"set distance 5", "if (bgp-as-path 65001) { accept }", "if (dst == x) { accept }", "if (dst == 10.0.0.0/8) { jump other }"} {
		if _, err := parseFilterRule(r); err == nil {
			t.Errorf("%q parsed, want error", r)
		}
	}
}
