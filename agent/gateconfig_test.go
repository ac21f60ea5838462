package agent

import (
	"context"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
)

// ageProber records the handshake age limits it was asked to judge.
type ageProber struct {
	portProber
	ages map[time.Duration]int
}

func (p *ageProber) Probe(ctx context.Context, checks []policy.Check) []CheckResult {
	for _, c := range checks {
		if c.Kind == policy.CheckHandshake {
			p.ages[c.MaxAge]++
		}
	}
	return p.portProber.Probe(ctx, checks)
}

// TestAgentHandshakeMaxAgeOverride: the agent config's [gate]
// handshake_max_age reaches every handshake check the gate and the baseline
// probe (it was parsed and documented, and ignored).
func TestAgentHandshakeMaxAgeOverride(t *testing.T) {
	h := newHarness(t)
	p := &ageProber{portProber: portProber{h.dev}, ages: map[time.Duration]int{}}
	h.agent.Prober = p
	h.agent.Gate.HandshakeMaxAge = 42 * time.Second
	h.repo.push(network(51821))
	if o := h.sync(t); o == nil || o.Result != ResultApplied {
		t.Fatalf("want applied: %+v", o)
	}
	if len(p.ages) != 1 || p.ages[42*time.Second] == 0 {
		t.Fatalf("handshake checks were judged with ages %v, want only 42s", p.ages)
	}
}
