package mikrotik

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rossim"
)

// TestProvokePingsThroughTheTunnel: the gate's provocation of a handshake
// check is a /tool/ping of the far end's tunnel address, answered while
// the tunnel is up and not after the far end went away.
func TestProvokePingsThroughTheTunnel(t *testing.T) {
	ctx := context.Background()
	e := exampleSite(t, "cgnat-chr-relay", "home")
	var hs []policy.Check
	for _, c := range e.n.HealthChecks("home") {
		if c.Kind == policy.CheckHandshake && c.MustPass {
			hs = append(hs, c)
		}
	}
	if len(hs) != 1 || hs[0].Target.String() != "2001:db8:100::1" {
		t.Fatalf("want the relay link's handshake check aimed at the relay's transit address: %+v", hs)
	}
	l := newLab(t, "7.22.3", false)
	l.sim.SetWorld(rossim.World{FarEnds: []rossim.FarEnd{{Name: "relay", PublicKey: e.n.Sites["relay"].WireGuard[0].PublicKey.String(),
		AcceptAnyKey: true, EndpointAddress: "203.0.113.10", EndpointPort: 51820, TransitAddress: "2001:db8:100::1"}}})
	cfg := e.render(t, "7.22.3")
	l.prepare(t, cfg)
	l.applyKeep(t, cfg)
	l.sim.Advance(10 * time.Second)
	before := l.sim.Stats().Commands
	got := l.dev.Provoke(ctx, hs)
	if len(got) != 1 || got[0] != "ping 2001:db8:100::1: 1/1 replies, 0% loss" {
		t.Fatalf("tunnel up: %q", got)
	}
	if n := l.sim.Stats().Commands - before; n != 1 {
		t.Fatalf("one provocation is one API command, got %d", n)
	}
	l.sim.SetWorld(rossim.World{})
	l.sim.Advance(5 * time.Minute)
	if got := l.dev.Provoke(ctx, hs); len(got) != 1 || !strings.Contains(got[0], "0/1 replies") {
		t.Fatalf("far end gone: %q", got)
	}
}
