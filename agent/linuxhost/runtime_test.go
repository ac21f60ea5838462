package linuxhost

import (
	"strings"
	"testing"
)

const wantConf = `[Interface]
Address = fd00:ffff::1/128, 10.9.0.1/24
ListenPort = 51820
MTU = 1420
PostUp = wg set %i private-key /k/wg0.key && test "$(wg show %i public-key)" = OWNKEY=

# a
[Peer]
PublicKey = PEERA=
AllowedIPs = fd00:1234:0:a::/64, fd00:ffff::a/128
Endpoint = 192.0.2.1:51820
PersistentKeepalive = 25

[Peer]
PublicKey = PEERB=
AllowedIPs = fd00:ffff::b/128
`

// TestWGDumpDiff: every field a hand edit or a lost interface changes is
// named, and a dump that matches (peers in any order, keys masked) is
// clean.
func TestWGDumpDiff(t *testing.T) {
	w, err := parseWGWant([]byte(wantConf))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.addrs) != 2 || w.listenPort != 51820 || w.mtu != 1420 || w.publicKey != "OWNKEY=" || len(w.peers) != 2 {
		t.Fatalf("parsed: %+v", w)
	}
	good := "-\tOWNKEY=\t51820\toff\n" +
		"PEERB=\t-\t(none)\tfd00:ffff::b/128\t0\t0\t0\toff\n" +
		"PEERA=\t-\t192.0.2.1:51820\tfd00:ffff::a/128,fd00:1234:0:a::/64\t1700000000\t1\t2\t25\n"
	if d := wgDumpDiff("wg0", w, []byte(good)); len(d) != 0 {
		t.Errorf("matching dump reported: %v", d)
	}
	bad := "-\tOTHER=\t40000\toff\n" +
		"PEERA=\t-\t198.51.100.7:51820\tfd00:ffff::a/128\t0\t0\t0\toff\n" +
		"PEERC=\t-\t(none)\t(none)\t0\t0\t0\toff\n"
	got := strings.Join(wgDumpDiff("wg0", w, []byte(bad)), "\n")
	for _, want := range []string{
		"wg0 runs public key OTHER= (want OWNKEY=)",
		"wg0 listens on 40000 (want 51820)",
		"wg0 peer PEERA= allows fd00:ffff::a/128 (want fd00:1234:0:a::/64,fd00:ffff::a/128)",
		"wg0 peer PEERA= endpoint 198.51.100.7:51820 (want 192.0.2.1:51820)",
		"wg0 peer PEERA= keepalive off (want 25)",
		"wg0 has a peer not rendered: PEERC=",
		"wg0 lacks peer(s) PEERB=",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestFirstDiff(t *testing.T) {
	for _, c := range []struct{ live, want, out string }{
		{"a\nb", "a\nc", `runs "b" where the file has "c"`},
		{"a", "a\nc", `missing "c"`},
		{"a\nx", "a", `extra "x"`},
	} {
		if got := firstDiff(c.live, c.want); got != c.out {
			t.Errorf("firstDiff(%q, %q) = %s, want %s", c.live, c.want, got, c.out)
		}
	}
}
