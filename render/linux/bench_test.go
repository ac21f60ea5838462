package linux

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tether-net/tether/policy"
)

// bigNetwork is a Linux hub with peers WireGuard peers (external, each with
// a /128) and rules firewall rules, loaded through policy.Load like any repo.
func bigNetwork(tb testing.TB, peers, rules int) *policy.Network {
	tb.Helper()
	key := func(i int) string {
		var b [32]byte
		b[0], b[1], b[2] = byte(i), byte(i>>8), 0x42
		return policy.KeyFromBytes(b).String()
	}
	var site strings.Builder
	site.WriteString("platform = \"linux\"\nfirewall_policy = { input = \"drop\", forward = \"drop\" }\n")
	site.WriteString("[[interface]]\nname = \"eth0\"\nrole = \"wan\"\n")
	fmt.Fprintf(&site, "[[wireguard]]\nname = \"wg0\"\nlisten_port = 51820\npublic_key = %q\naddresses = [\"fd00:1::1/64\", \"10.0.0.1/16\"]\nendpoint = \"hub.example.net:51820\"\n", key(65000))
	for i := 0; i < rules; i++ {
		fmt.Fprintf(&site, "[[firewall]]\nchain = \"forward\"\naction = \"accept\"\nin_interface = \"wg0\"\nprotocol = \"tcp\"\ndst_port = \"%d\"\ndst_address = \"fd00:2:%x::/48\"\ncomment = \"rule %d\"\n", 1024+i, i, i)
	}
	fsys := fstest.MapFS{
		"net/network.toml":     {Data: []byte("name = \"big\"\n")},
		"net/sites/hub.toml":   {Data: []byte(site.String())},
		"net/sites/other.toml": {Data: []byte("platform = \"linux\"\n")},
	}
	for i := 0; i < peers; i++ {
		fsys[fmt.Sprintf("net/peers/p%04d.toml", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"kind = \"laptop\"\npublic_key = %q\nsite = \"hub\"\ninterface = \"wg0\"\naddresses = [\"fd00:1::%x/128\"]\n", key(i), i+2))}
	}
	n, probs := policy.Load(fsys, "net")
	if probs.HasErrors() {
		tb.Fatalf("generated network does not load: %v", probs)
	}
	return n
}

func BenchmarkRender1000(b *testing.B) {
	n := bigNetwork(b, 1000, 1000)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		cfg, err := Render(n, "hub", Options{})
		if err != nil {
			b.Fatal(err)
		}
		size = 0
		for _, f := range cfg.Files {
			size += len(f.Content)
		}
	}
	b.ReportMetric(float64(size), "out-bytes")
}

func TestRender1000(t *testing.T) {
	n := bigNetwork(t, 1000, 1000)
	cfg, err := Render(n, "hub", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Files {
		if strings.HasSuffix(f.Path, "wg0.conf") && strings.Count(string(f.Content), "[Peer]") != 1000 {
			t.Errorf("wg0 has %d peers", strings.Count(string(f.Content), "[Peer]"))
		}
		if strings.HasSuffix(f.Path, ".nft") && strings.Count(string(f.Content), " accept comment") != 1000 {
			t.Errorf("nft has %d rules", strings.Count(string(f.Content), " accept comment"))
		}
	}
}
