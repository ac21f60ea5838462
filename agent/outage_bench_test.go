package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/policy"
)

// outageClock notes, on the simulated clock, when the apply began and when
// the revert had restored the router.
type outageClock struct {
	agent.Device
	agent.Prober
	clock *simClock

	mu              sync.Mutex
	applied, undone time.Time
}

func (o *outageClock) Apply(ctx context.Context, p *agent.Plan, deadline time.Time) error {
	o.mu.Lock()
	o.applied = o.clock.Now()
	o.mu.Unlock()
	return o.Device.Apply(ctx, p, deadline)
}

func (o *outageClock) Settle(ctx context.Context, p *agent.Plan, keep bool) error {
	err := o.Device.Settle(ctx, p, keep)
	if !keep {
		o.mu.Lock()
		o.undone = o.clock.Now()
		o.mu.Unlock()
	}
	return err
}

func (o *outageClock) Probe(ctx context.Context, checks []policy.Check) []agent.CheckResult {
	return o.Prober.Probe(ctx, checks)
}

// Provoke passes the gate's handshake provocations on, as the real
// device gets them.
func (o *outageClock) Provoke(ctx context.Context, checks []policy.Check) []string {
	return o.Prober.(agent.Provoker).Provoke(ctx, checks)
}

// BenchmarkOutageWrongKeyOneEnded measures how long a bad one-ended change
// stays on a router: home's model gets a wrong public key for the relay
// (the relay's router keeps its own key, so only home changes), in the
// two-router network whose far ends follow each other, with the network's
// default gate settings (deadline 120s, stable window 10s, probes every
// 2s). outage-sim-s is simulated seconds from the apply's start to the
// router restored; ns/op is the wall time of the whole simulated run.
func BenchmarkOutageWrongKeyOneEnded(b *testing.B) {
	h := newHarness(b)
	def := policy.DefaultHealth
	h.gate = &agent.GateConfig{Deadline: def.GateDeadline.Duration, StableWindow: def.StableWindow.Duration,
		PeerNoteWait: def.PeerNoteWait.Duration, Interval: 2 * time.Second}
	relay, home, files := newPairOn(b, h)
	var oc *outageClock
	h.start(home, func(d *mikrotik.Device) (agent.Device, agent.Prober) {
		oc = &outageClock{Device: d, Prober: d, clock: h.clock}
		return oc, oc
	})
	relayKeyNow := viewOf(relay.sim).ifKey
	var outage time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wrong := flipChar(relayKeyNow, i%40)
		bad := patch(b, files, "sites/relay.toml", relayKeyNow, wrong)
		h.repo.commit(b, bad, "relay: mistyped key")
		out := syncAll(b, relay, home)
		if o := out["home"]; o == nil || o.Result != agent.ResultReverted || !strings.Contains(o.Reason, "handshake") {
			b.Fatalf("home must revert the wrong key: %+v", o)
		}
		if o := out["relay"]; o == nil || o.Result != agent.ResultUnchanged {
			b.Fatalf("the relay's router does not change: %+v", o)
		}
		outage += oc.undone.Sub(oc.applied)
	}
	b.ReportMetric(outage.Seconds()/float64(b.N), "outage-sim-s")
}
