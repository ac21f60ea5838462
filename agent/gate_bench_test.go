package agent

import (
	"context"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
)

// BenchmarkGateNothingToJudge gates a change none of whose checks can
// cause a revert (informational checks and checks failing before the
// change) with the network's default gate settings: gate-sim-s is how long
// the change waited, in simulated seconds, before it was kept.
func BenchmarkGateNothingToJudge(b *testing.B) {
	def := policy.DefaultHealth
	cfg := GateConfig{Deadline: def.GateDeadline.Duration, StableWindow: def.StableWindow.Duration, Interval: 2 * time.Second,
		PeerNoteWait: def.PeerNoteWait.Duration, HandshakeBudget: def.HandshakeBudget.Duration, BGPBudget: def.BGPBudget.Duration,
		ProbeFailures: def.ProbeFailures}
	checks := kinded("", policy.CheckHandshake, policy.CheckPing)
	checks[0].MustPass = false
	var waited time.Duration
	for b.Loop() {
		g := &Gate{Prober: &scriptProber{ok: func(int, string) bool { return true }}, Clock: &autoClock{now: time.Unix(1000, 0)}, Config: cfg}
		res := g.Run(context.Background(), GateInput{Checks: checks, Baseline: []CheckResult{{OK: true}, {OK: false}}})
		if !res.Passed {
			b.Fatalf("nothing to judge must be kept: %+v", res)
		}
		waited += res.Duration
	}
	b.ReportMetric(waited.Seconds()/float64(b.N), "gate-sim-s")
}
