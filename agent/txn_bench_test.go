package agent_test

// Timing of the transaction on the RouterOS simulator, on the wall clock
// with a far end that answers at once (handshake and session delays of 0),
// so the numbers are tether's own work — git, planning, the API round
// trips, probing, notes — and not simulated waits:
//
//	go test -bench Txn -benchtime 20x -run '^$' ./agent/
//
// Reported per run (medians over b.N transactions of each kind):
//
//	apply-ms        commit seen (Sync starts) → applied state (dead-man disarmed)
//	apply-noted-ms  commit seen → note recorded and published (Sync returns)
//	revert-ms       gate verdict (its last probe) → reverted state (prior state restored, dead-man disarmed)
//	revert-noted-ms gate verdict → note recorded and published (Sync returns)
//	a.*-ms          where apply-ms goes: git poll, verify and load; plan
//	                (render + read the router); the writes (dead-man armed
//	                first); journal and gate until it passes; the disarm
//
// A failing gate waits 300 ms, so use -benchtime 20x (or more) for medians
// over enough runs.
//
// The failing gate itself waits its (short) deadline; that wait is not
// counted.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rossim"
)

// stopwatch notes when the gate last probed and when the device settled.
type stopwatch struct {
	dev *mikrotik.Device

	mu                   sync.Mutex
	planStart, planEnd   time.Time
	applyStart, applyEnd time.Time
	settleStart          time.Time
	lastProbe            time.Time
	verdict              time.Time // the last probe before the settle: the gate's verdict
	settled              time.Time
	kept                 bool
}

func (s *stopwatch) Plan(ctx context.Context, n *policy.Network, site string) (*agent.Plan, error) {
	s.planStart = time.Now()
	defer func() { s.planEnd = time.Now() }()
	return s.dev.Plan(ctx, n, site)
}

func (s *stopwatch) Apply(ctx context.Context, p *agent.Plan, deadline time.Time) error {
	s.applyStart = time.Now()
	defer func() { s.applyEnd = time.Now() }()
	return s.dev.Apply(ctx, p, deadline)
}

func (s *stopwatch) Settle(ctx context.Context, p *agent.Plan, keep bool) error {
	s.mu.Lock()
	s.verdict, s.settleStart = s.lastProbe, time.Now()
	s.mu.Unlock()
	err := s.dev.Settle(ctx, p, keep)
	s.mu.Lock()
	s.settled, s.kept = time.Now(), keep
	s.mu.Unlock()
	return err
}

func (s *stopwatch) Probe(ctx context.Context, checks []policy.Check) []agent.CheckResult {
	r := s.dev.Probe(ctx, checks)
	s.mu.Lock()
	s.lastProbe = time.Now()
	s.mu.Unlock()
	return r
}

func median(xs []time.Duration) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

func BenchmarkTxn(b *testing.B) {
	h := newHarness(b)
	h.real = true
	// Setup: the first apply needs a handshake after the change, which the
	// simulator gives a second after the peer matches.
	h.gate = &agent.GateConfig{Deadline: 5 * time.Second, StableWindow: time.Nanosecond, Interval: 50 * time.Millisecond}
	far := relayFarEnd()
	far.HandshakeAfter, far.EstablishAfter = rossim.Duration(time.Second), 0
	s := newHomeOn(b, h, far)
	home := s.home
	far.HandshakeAfter = 0
	home.sim.SetWorld(rossim.World{FarEnds: []rossim.FarEnd{far}})
	// Measured: a gate that passes on its second healthy probe (2 ms
	// apart) and fails after 300 ms.
	h.gate = &agent.GateConfig{Deadline: 300 * time.Millisecond, StableWindow: time.Nanosecond, Interval: 2 * time.Millisecond, PeerNoteWait: time.Nanosecond}
	sw := &stopwatch{}
	h.start(home, func(d *mikrotik.Device) (agent.Device, agent.Prober) { sw.dev = d; return sw, sw })

	var apply, applyNoted, revert, revertNoted []time.Duration
	var poll, plan, write, gate, settle []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dist := fmt.Sprintf("distance = %d", 200+i%50)
		good := patch(b, s.files, "sites/home.toml", "distance = 254", dist)
		good["sites/home.toml"] += fmt.Sprintf("\n# run %d\n", i)
		h.repo.commit(b, good, "good")
		b.StartTimer()

		start := time.Now()
		o, err := home.agent.Sync(context.Background())
		end := time.Now()
		if err != nil || o == nil || o.Result != agent.ResultApplied || !sw.kept {
			b.Fatalf("good commit: %+v %v", o, err)
		}
		apply = append(apply, sw.settled.Sub(start))
		applyNoted = append(applyNoted, end.Sub(start))
		poll = append(poll, sw.planStart.Sub(start))
		plan = append(plan, sw.planEnd.Sub(sw.planStart))
		write = append(write, sw.applyEnd.Sub(sw.applyStart))
		gate = append(gate, sw.settleStart.Sub(sw.applyEnd))
		settle = append(settle, sw.settled.Sub(sw.settleStart))

		b.StopTimer()
		bad := patch(b, good, "sites/relay.toml", "asn = 64512", "asn = 64521")
		h.repo.commit(b, bad, "bad")
		b.StartTimer()

		o, err = home.agent.Sync(context.Background())
		end = time.Now()
		if err != nil || o == nil || o.Result != agent.ResultReverted || sw.kept {
			b.Fatalf("bad commit: %+v %v", o, err)
		}
		revert = append(revert, sw.settled.Sub(sw.verdict))
		revertNoted = append(revertNoted, end.Sub(sw.verdict))
	}
	b.StopTimer()
	b.ReportMetric(median(apply), "apply-ms")
	b.ReportMetric(median(applyNoted), "apply-noted-ms")
	b.ReportMetric(median(revert), "revert-ms")
	b.ReportMetric(median(revertNoted), "revert-noted-ms")
	// Where apply-ms goes.
	b.ReportMetric(median(poll), "a.poll+verify+load-ms")
	b.ReportMetric(median(plan), "a.plan-ms")
	b.ReportMetric(median(write), "a.write-ms")
	b.ReportMetric(median(gate), "a.baseline-to-gate-pass-ms")
	b.ReportMetric(median(settle), "a.disarm-ms")
}
