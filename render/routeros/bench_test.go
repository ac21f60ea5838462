package routeros

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tether-net/tether/policy"
)

// bigNetwork generates a valid network with one RouterOS site carrying
// peers external WireGuard peers and rules firewall rules.
func bigNetwork(tb testing.TB, peers, rules int) *policy.Network {
	tb.Helper()
	key := func(i int) string {
		var b [32]byte
		b[0], b[1], b[2] = byte(i), byte(i>>8), 0x5a
		return base64.StdEncoding.EncodeToString(b[:])
	}
	fsys := fstest.MapFS{}
	fsys["network.toml"] = &fstest.MapFile{Data: []byte("name = \"big\"\n[defaults]\nrouteros_version = \"7.22.3\"\n")}
	var site strings.Builder
	fmt.Fprintf(&site, "platform = \"routeros\"\n\n[[wireguard]]\nname = \"wg0\"\npublic_key = %q\naddresses = [\"10.0.0.1/16\", \"fd00::1/64\"]\n", key(1<<15))
	for i := 0; i < rules; i++ {
		fmt.Fprintf(&site, "\n[[firewall]]\nchain = \"forward\"\naction = \"accept\"\nprotocol = \"tcp\"\ndst_port = \"%d\"\nin_interface = \"wg0\"\nconnection_state = [\"new\"]\ncomment = \"allow port %d from the tunnel\"\n", 1+i%65000, i)
		if i == 0 {
			site.WriteString("place_before = \"defconf: drop everything else not coming from LAN\"\n")
		}
	}
	fsys["sites/big.toml"] = &fstest.MapFile{Data: []byte(site.String())}
	for i := 0; i < peers; i++ {
		// Every tenth peer routes a subnet outside the interface's prefixes.
		allowed := ""
		if i%10 == 0 {
			allowed = fmt.Sprintf("allowed = [\"10.0.%d.%d/32\", \"172.16.%d.0/24\"]\n", i/250, 1+i%250, i/10)
		}
		fsys[fmt.Sprintf("peers/p%04d.toml", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"description = \"device %d\"\npublic_key = %q\nsite = \"big\"\ninterface = \"wg0\"\naddresses = [\"10.0.%d.%d/32\"]\nkeepalive = \"25s\"\n%s",
			i, key(i), i/250, 1+i%250, allowed))}
	}
	n, probs := policy.Load(fsys, ".")
	if probs.HasErrors() {
		tb.Fatalf("generated network does not load: %v", probs)
	}
	return n
}

// BenchmarkRender1000 renders a site with 1,000 WireGuard peers and 1,000
// firewall rules, plus its .rsc view.
func BenchmarkRender1000(b *testing.B) {
	n := bigNetwork(b, 1000, 1000)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		c, err := Render(n, "big")
		if err != nil {
			b.Fatal(err)
		}
		size = len(c.RSC())
	}
	b.ReportMetric(float64(size), "rsc-bytes")
}

func TestBigNetworkRenders(t *testing.T) {
	n := bigNetwork(t, 1000, 1000)
	c := mustRender(t, n, "big")
	if got := len(byPath(c, "/interface/wireguard/peers")); got != 1000 {
		t.Errorf("%d peers", got)
	}
	if got := len(byPath(c, "/ip/firewall/filter")) + len(byPath(c, "/ipv6/firewall/filter")); got != 2000 {
		t.Errorf("%d filter items (1000 rules in both families)", got)
	}
	if got := len(byPath(c, "/ip/route")); got != 100 {
		t.Errorf("%d routes for the routed subnets", got)
	}
}
