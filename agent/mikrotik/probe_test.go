package mikrotik

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/test/rossim"
)

// TestProbe applies the cgnat home site, lets the simulated relay answer,
// and reads handshake, BGP and ping evidence from the router.
func TestProbe(t *testing.T) {
	ctx := context.Background()
	e := exampleSite(t, "cgnat-chr-relay", "home")
	l := newLab(t, "7.22.3", false)
	l.sim.SetWorld(rossim.World{
		FarEnds: []rossim.FarEnd{{Name: "relay", PublicKey: e.n.Sites["relay"].WireGuard[0].PublicKey.String(), AcceptAnyKey: true,
			EndpointAddress: "203.0.113.10", EndpointPort: 51820, TransitAddress: "2001:db8:100::1", ASN: 64512,
			Announces: []string{"::/0"}, HandshakeAfter: rossim.Duration(2 * time.Second)}},
		Reachable: []string{"2001:db8:ffff:1e6::/64"},
	})
	cfg := e.render(t, "7.22.3")
	l.prepare(t, cfg)
	l.applyKeep(t, cfg)
	l.sim.Advance(72 * time.Second)
	res := l.dev.Probe(ctx, e.n.HealthChecks("home"))
	if len(res) == 0 {
		t.Fatal("no checks")
	}
	for _, r := range res {
		t.Logf("%-28s ok=%v  %s", r.Name, r.OK, r.Evidence)
		if !r.OK {
			t.Errorf("%s failed: %s", r.Name, r.Evidence)
		}
		switch r.Kind {
		case "handshake":
			if !strings.Contains(r.Evidence, "ago (max 3m0s)") && !strings.Contains(r.Evidence, "ago (max 3m)") {
				t.Errorf("handshake evidence %q", r.Evidence)
			}
		case "bgp":
			if !strings.Contains(r.Evidence, "established") || !strings.Contains(r.Evidence, "::/0 received") {
				t.Errorf("bgp evidence %q", r.Evidence)
			}
		}
	}
	// The far end goes away: the handshake ages out and the check fails.
	l.sim.SetWorld(rossim.World{})
	l.sim.Advance(5 * time.Minute)
	for _, r := range l.dev.Probe(ctx, e.n.HealthChecks("home")) {
		if r.Kind == "handshake" && r.OK {
			t.Errorf("stale handshake passed: %s", r.Evidence)
		}
	}
}
