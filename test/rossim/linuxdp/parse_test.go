package linuxdp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tether-net/tether/test/rossim"
)

func TestParseDumpAll(t *testing.T) {
	out := "wg0\tPRIV=\tPUB=\t13231\toff\n" +
		"wg0\tpeerA=\t(none)\t198.51.100.6:51820\tfd00:7e7e::1/128,10.7.0.1/32\t1760000000\t1234\t5678\t25\n" +
		"wg0\tpeerB=\tPSK=\t(none)\t(none)\t0\t0\t0\toff\n" +
		"wg1\tPRIV1=\tPUB1=\t13232\toff\n" +
		"wg1\tpeerA=\t(none)\t[2001:db8:2::2]:51820\t::/0\t0\t0\t148\toff\n"
	m, err := parseDumpAll([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := map[rossim.DataplanePeerKey]rossim.DataplanePeerStats{
		{Interface: "wg0", PublicKey: "peerA="}: {LastHandshake: time.Unix(1760000000, 0), Rx: 1234, Tx: 5678, Endpoint: netip.MustParseAddrPort("198.51.100.6:51820")},
		{Interface: "wg0", PublicKey: "peerB="}: {},
		{Interface: "wg1", PublicKey: "peerA="}: {Tx: 148, Endpoint: netip.MustParseAddrPort("[2001:db8:2::2]:51820")},
	}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%v: got %+v, want %+v", k, m[k], v)
		}
	}
	if m, err := parseDumpAll(nil); err != nil || len(m) != 0 {
		t.Errorf("empty dump: %v %v", m, err)
	}
	if _, err := parseDumpAll([]byte("wg0\tx\ty\n")); err == nil {
		t.Errorf("malformed dump parsed")
	}
}

func TestParseDump(t *testing.T) {
	d, err := parseDump([]byte("PRIV=\tPUB=\t13231\toff\npeerA=\tPSK=\t(none)\t10.7.0.1/32\t0\t0\t0\t25\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := d.peers["peerA="]
	if d.privateKey != "PRIV=" || d.listenPort != 13231 || p.presharedKey != "PSK=" || p.keepalive != 25 || p.endpoint.IsValid() ||
		len(p.allowed) != 1 || p.allowed[0] != netip.MustParsePrefix("10.7.0.1/32") {
		t.Errorf("parsed %+v", d)
	}
}

func TestParsePing(t *testing.T) {
	out := `PING fd00:7e7e::1(fd00:7e7e::1) 56 data bytes
64 bytes from fd00:7e7e::1: icmp_seq=1 ttl=64 time=1.357 ms
64 bytes from fd00:7e7e::1: icmp_seq=1 ttl=64 time=1.900 ms (DUP!)
64 bytes from fd00:7e7e::1: icmp_seq=3 ttl=63 time=0.300 ms

--- fd00:7e7e::1 ping statistics ---
3 packets transmitted, 2 received, +1 duplicates, 33.3333% packet loss, time 2003ms
`
	res, ok := parsePing([]byte(out))
	want := []rossim.PingReply{{Seq: 0, Size: 56, TTL: 64, RTT: 1357 * time.Microsecond}, {Seq: 2, Size: 56, TTL: 63, RTT: 300 * time.Microsecond}}
	if !ok || res.Sent != 3 || res.Received != 2 || len(res.Replies) != 2 || res.Replies[0] != want[0] || res.Replies[1] != want[1] {
		t.Errorf("parsed %+v %v", res, ok)
	}
	if _, ok := parsePing([]byte("")); ok {
		t.Errorf("no summary: ok")
	}
}

func TestParseRoutesAndAddrs(t *testing.T) {
	rs, err := parseRoutes([]byte(`[{"dst":"default","gateway":"10.9.0.2","dev":"br1","metric":1,"flags":[]},{"type":"blackhole","dst":"10.50.0.0/16","metric":3,"flags":[]},{"dst":"10.1.2.3","dev":"wg0","metric":7},{"dst":"default","gateway":"10.8.1.1","dev":"wg0","table":"100","metric":1}]`), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []routeKey{{netip.MustParsePrefix("0.0.0.0/0"), 1, 254}, {netip.MustParsePrefix("10.50.0.0/16"), 3, 254}, {netip.MustParsePrefix("10.1.2.3/32"), 7, 254},
		{netip.MustParsePrefix("0.0.0.0/0"), 1, 100}}
	for i, w := range want {
		if rs[i].key != w {
			t.Errorf("route %d: %v, want %v", i, rs[i].key, w)
		}
	}
	have, names, err := parseAddrs([]byte(`[{"ifname":"br1","addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24,"scope":"global"},{"family":"inet6","local":"fd00:9::1","prefixlen":64,"scope":"global"},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]},{"ifname":"wg0","addr_info":[{"family":"inet","local":"10.8.0.2","address":"10.8.1.1","prefixlen":32,"scope":"global"}]},{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != 3 || !have[addrKey{dev: "br1", addr: netip.MustParsePrefix("10.9.0.1/24")}] || !have[addrKey{dev: "br1", addr: netip.MustParsePrefix("fd00:9::1/64")}] ||
		!have[addrKey{dev: "wg0", addr: netip.MustParsePrefix("10.8.0.2/32"), peer: netip.MustParseAddr("10.8.1.1")}] || len(names) != 3 {
		t.Errorf("addrs %v names %v", have, names)
	}
}
