package linux

import (
	"strings"
	"testing"
)

const wgBase = `# Rendered by tether
[Interface]
Address = fd99::1/64
ListenPort = 51820
MTU = 1420
PostUp = wg set %i private-key /k/wg0.key

# home
[Peer]
PublicKey = AAAA
AllowedIPs = fd99::2/128, 2001:db8::/64
PersistentKeepalive = 25
`

func TestNeedsRestart(t *testing.T) {
	off := strings.Replace(wgBase, "MTU = 1420\n", "MTU = 1420\nTable = off\n", 1)
	for _, c := range []struct {
		name     string
		old, new string
		want     bool
	}{
		{"new interface", "", wgBase, true},
		{"unchanged", wgBase, wgBase, false},
		{"comment only", wgBase, strings.Replace(wgBase, "# home", "# home sweet home", 1), false},
		{"keepalive", wgBase, strings.Replace(wgBase, "PersistentKeepalive = 25", "PersistentKeepalive = 15", 1), false},
		{"listen port is live", wgBase, strings.Replace(wgBase, "51820", "51821", 1), false},
		{"endpoint", wgBase, wgBase + "Endpoint = 192.0.2.1:51820\n", false},
		{"mtu", wgBase, strings.Replace(wgBase, "1420", "1380", 1), true},
		{"address", wgBase, strings.Replace(wgBase, "fd99::1/64", "fd99::1/64, 10.0.0.1/24", 1), true},
		{"table", wgBase, off, true},
		{"allowed with routes", wgBase, strings.Replace(wgBase, ", 2001:db8::/64", "", 1), true},
		{"allowed with table off", off, strings.Replace(off, ", 2001:db8::/64", "", 1), false},
		{"new peer with routes", wgBase, wgBase + "\n[Peer]\nPublicKey = BBBB\nAllowedIPs = fd99::3/128\n", true},
		{"new peer with table off", off, off + "\n[Peer]\nPublicKey = BBBB\nAllowedIPs = fd99::3/128\n", false},
	} {
		if got := NeedsRestart([]byte(c.old), []byte(c.new)); got != c.want {
			t.Errorf("%s: NeedsRestart = %v, want %v", c.name, got, c.want)
		}
	}
}
