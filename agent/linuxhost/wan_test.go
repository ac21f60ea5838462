package linuxhost

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

// routesRunner answers `ip -j -4|-6 route show table main` from fixed
// JSON and `ip -j addr show` with the WAN's addresses.
type routesRunner struct{ v4, v6, addrs string }

func (r routesRunner) Run(_ context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	switch strings.Join(append([]string{name}, args...), " ") {
	case "ip -j -4 route show table main":
		return []byte(r.v4), nil, 0, nil
	case "ip -j -6 route show table main":
		return []byte(r.v6), nil, 0, nil
	case "ip -j addr show dev eth0":
		return []byte(r.addrs), nil, 0, nil
	}
	return nil, []byte("unexpected command"), 1, nil
}

// TestWANTrapsCoveringOnly: a connected route as short as (or shorter
// than) the routed /48 is the trap and names the anchor to keep; a more
// specific connected /64 inside it (a subnet of the site's own) and
// unrelated routes are not.
func TestWANTrapsCoveringOnly(t *testing.T) {
	n, probs := policy.Load(os.DirFS("../../repo-example/linux-bgp-relay"), ".")
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	r := routesRunner{
		v4: `[{"dst":"default","gateway":"203.0.113.1","dev":"eth0","protocol":"dhcp"},{"dst":"203.0.113.0/24","dev":"eth0","protocol":"kernel","prefsrc":"203.0.113.30"}]`,
		v6: `[{"dst":"2001:db8:300::/48","dev":"eth0","protocol":"kernel"},{"dst":"2001:db8:300:5::/64","dev":"eth0","protocol":"kernel"},` +
			`{"dst":"2001:db8:ffff::/64","dev":"eth0","protocol":"kernel"},{"dst":"2001:db8:300::/64","dev":"wg-home","protocol":"kernel"},{"dst":"fe80::/64","dev":"eth0","protocol":"kernel"}]`,
		addrs: `[{"addr_info":[{"local":"2001:db8:300::7","prefixlen":48},{"local":"2001:db8:ffff::2","prefixlen":64}]}]`,
	}
	d := New(Options{Root: t.TempDir(), StateDir: t.TempDir(), Runner: r, Services: fakeServices{}})
	traps, err := d.WANTraps(context.Background(), n, "relay")
	if err != nil {
		t.Fatal(err)
	}
	if len(traps) != 1 || !strings.HasPrefix(traps[0], "connected route 2001:db8:300::/48 on WAN eth0 covers 2001:db8:300::/48") ||
		!strings.Contains(traps[0], "2001:db8:300::7/128") {
		t.Fatalf("traps: %q", traps)
	}
}
