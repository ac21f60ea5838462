package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
)

// autoClock advances itself by whatever the code waits for, so loop tests
// run instantly and deterministically.
type autoClock struct{ now time.Time }

func (c *autoClock) Now() time.Time { return c.now }
func (c *autoClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// scriptProber answers each check from a function of the probe number.
type scriptProber struct {
	calls int
	ok    func(call int, name string) bool
}

func (p *scriptProber) Probe(_ context.Context, checks []policy.Check) []CheckResult {
	p.calls++
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		ok := p.ok(p.calls, c.Name)
		ev := "healthy"
		if !ok {
			ev = "last handshake 5m0s ago (max 3m0s)"
		}
		out[i] = CheckResult{Name: c.Name, Kind: string(c.Kind), OK: ok, Evidence: ev}
	}
	return out
}

var gateCfg = GateConfig{Deadline: 120 * time.Second, StableWindow: 10 * time.Second, Interval: 2 * time.Second, PeerNoteWait: 60 * time.Second}

func checks(names ...string) []policy.Check {
	var out []policy.Check
	for _, n := range names {
		out = append(out, policy.Check{Name: n, Kind: policy.CheckHandshake, MustPass: true})
	}
	return out
}

func allOK(n int) []CheckResult {
	out := make([]CheckResult, n)
	for i := range out {
		out[i].OK = true
	}
	return out
}

func TestGatePassesAfterStableWindow(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	p := &scriptProber{ok: func(int, string) bool { return true }}
	g := &Gate{Prober: p, Clock: clock, Config: gateCfg}
	cs := checks("handshake wg0/relay", "bgp relay")
	res := g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(2)})
	if !res.Passed || res.Duration != 10*time.Second || p.calls != 6 {
		t.Fatalf("want pass after exactly the 10s window (6 probes), got %+v after %d probes", res, p.calls)
	}
}

func TestGateFailsWhenACheckBreaks(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	p := &scriptProber{ok: func(_ int, name string) bool { return name != "bgp relay" }}
	g := &Gate{Prober: p, Clock: clock, Config: gateCfg}
	res := g.Run(context.Background(), GateInput{Checks: checks("handshake wg0/relay", "bgp relay"), Baseline: allOK(2)})
	if res.Passed || res.Duration != 120*time.Second || !strings.Contains(res.Reason, "bgp relay: last handshake 5m0s ago") {
		t.Fatalf("want a failure at the deadline naming the check and its evidence, got %+v", res)
	}
	if !res.Checks[1].Judged || res.Checks[1].OK {
		t.Fatalf("the failing check must be judged and reported failing: %+v", res.Checks[1])
	}
}

func TestGateIgnoresChecksFailingBeforeTheChange(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	p := &scriptProber{ok: func(_ int, name string) bool { return name != "handshake wg0/down-peer" }}
	g := &Gate{Prober: p, Clock: clock, Config: gateCfg}
	baseline := []CheckResult{{OK: true}, {OK: false}}
	res := g.Run(context.Background(), GateInput{Checks: checks("bgp relay", "handshake wg0/down-peer"), Baseline: baseline})
	if !res.Passed {
		t.Fatalf("a check failing at baseline must not fail the gate: %+v", res)
	}
	if res.Checks[1].Judged || res.Checks[1].Note != "already failing before the change" {
		t.Fatalf("baseline failure must be reported, not judged: %+v", res.Checks[1])
	}
}

func TestGateFlapResetsStableWindow(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	// healthy on probes 1-3 (4s), broken on probe 4, healthy from 5 on.
	p := &scriptProber{ok: func(call int, _ string) bool { return call != 4 }}
	g := &Gate{Prober: p, Clock: clock, Config: gateCfg}
	res := g.Run(context.Background(), GateInput{Checks: checks("bgp relay"), Baseline: allOK(1)})
	if !res.Passed || res.Duration != 18*time.Second {
		t.Fatalf("a flap must restart the stable window (pass at 8s+10s), got %+v", res)
	}
}

func TestGateWaitsForFarEndOfTwoEndedChange(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	start := clock.now
	// The tunnel is down until the far end applies the same commit at 30s.
	p := &scriptProber{ok: func(int, string) bool { return clock.now.Sub(start) >= 30*time.Second }}
	g := &Gate{Prober: p, Clock: clock, Config: gateCfg}
	cs := checks("handshake wg0/edge")
	cs[0].Link = "relay-edge"
	peerResult := func(context.Context, string) string {
		if clock.now.Sub(start) >= 30*time.Second {
			return ResultApplied
		}
		return ""
	}
	res := g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1), TwoEnded: map[string]bool{"relay-edge": true}, PeerResult: peerResult})
	if !res.Passed || res.Duration != 40*time.Second {
		t.Fatalf("want pass 10s after the far end settled at 30s, got %+v", res)
	}
	// Both ends waiting on each other must not deadlock: a healthy link is
	// judged even though the far end has not recorded its note yet.
	clock.now = start
	res = g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1), TwoEnded: map[string]bool{"relay-edge": true}, PeerResult: func(context.Context, string) string { return "" }})
	if !res.Passed || res.Duration != 40*time.Second {
		t.Fatalf("a healthy two-ended link must pass without the far end's note, got %+v", res)
	}
	// A link that never comes up is judged when the bounded wait ends and
	// fails the gate with its own evidence.
	clock.now = start
	broken := &scriptProber{ok: func(int, string) bool { return false }}
	g2 := &Gate{Prober: broken, Clock: clock, Config: gateCfg}
	res = g2.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1), TwoEnded: map[string]bool{"relay-edge": true}, PeerResult: func(context.Context, string) string { return "" }})
	if res.Passed || !strings.Contains(res.Reason, "handshake wg0/edge") || !res.Checks[0].Judged {
		t.Fatalf("a two-ended link that never comes up must fail once the wait ends: %+v", res)
	}
}

func TestGateInformationalChecksNeverFail(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	p := &scriptProber{ok: func(_ int, name string) bool { return name != "handshake wg-remote/phone" }}
	g := &Gate{Prober: p, Clock: clock, Config: gateCfg}
	cs := checks("bgp relay", "handshake wg-remote/phone")
	cs[1].MustPass = false
	if res := g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(2)}); !res.Passed {
		t.Fatalf("an informational check must not fail the gate: %+v", res)
	}
}

func TestJournalAndStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j := NewJournal(dir)
	if e, err := j.Read(); err != nil || e != nil {
		t.Fatalf("empty journal: %v %v", e, err)
	}
	want := &Entry{TxnID: "t1", Site: "home", Commit: "abc", Step: StepGating, Plan: &Plan{Site: "home", Changes: []Change{{Op: "add", Where: "/ip/address"}}}}
	if err := j.Write(want); err != nil {
		t.Fatal(err)
	}
	got, err := j.Read()
	if err != nil || got.Step != StepGating || got.Plan.Changes[0].Where != "/ip/address" {
		t.Fatalf("journal round trip: %+v %v", got, err)
	}
	if err := j.Clear(); err != nil {
		t.Fatal(err)
	}
	if e, _ := j.Read(); e != nil {
		t.Fatal("journal not cleared")
	}
	ss := NewStateStore(dir)
	st, _ := ss.Load()
	st.Quarantined["bad"] = Quarantine{Reason: "gate failed", At: time.Unix(5, 0)}
	st.Running = "good"
	if err := ss.Save(st); err != nil {
		t.Fatal(err)
	}
	st2, err := ss.Load()
	if err != nil || st2.Running != "good" || st2.Quarantined["bad"].Reason != "gate failed" {
		t.Fatalf("state round trip: %+v %v", st2, err)
	}
}

// sinceProber reports a healthy handshake that happened at a fixed time.
type sinceProber struct{ since time.Time }

func (p sinceProber) Probe(_ context.Context, checks []policy.Check) []CheckResult {
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		out[i] = CheckResult{Name: c.Name, OK: true, Evidence: "last handshake 20s ago", Since: p.since}
	}
	return out
}

func TestGateDemandsAFreshHandshakeOnTouchedPeers(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	// The last handshake predates the change: the old key's session.
	g := &Gate{Prober: sinceProber{since: clock.now.Add(-20 * time.Second)}, Clock: clock, Config: gateCfg}
	cs := checks("handshake wg0/relay")
	res := g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1), Fresh: map[string]bool{"handshake wg0/relay": true}})
	if res.Passed || !strings.Contains(res.Reason, "no handshake since the change") {
		t.Fatalf("a touched peer must handshake after the change: %+v", res)
	}
	clock.now = time.Unix(1000, 0)
	res = g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1)})
	if !res.Passed {
		t.Fatalf("an untouched peer may keep its old handshake: %+v", res)
	}
}

// slowProber takes roundTime of the clock per round, like a round of
// pings that go unanswered; ok says whether round call passes.
type slowProber struct {
	clock     *autoClock
	roundTime time.Duration
	calls     int
	ok        func(call int) bool
}

func (p *slowProber) Probe(_ context.Context, checks []policy.Check) []CheckResult {
	p.calls++
	p.clock.now = p.clock.now.Add(p.roundTime)
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		out[i] = CheckResult{Name: c.Name, OK: p.ok(p.calls), Evidence: "0/3 replies, 100% loss"}
	}
	return out
}

// A slow round started before the deadline is the last one: the gate must
// not start another after the deadline, where it would run into the
// device's dead-man (margin) and observe the device's own revert.
func TestGateStopsAtTheDeadlineWithSlowProbes(t *testing.T) {
	start := time.Unix(1000, 0)
	clock := &autoClock{now: start}
	p := &slowProber{clock: clock, roundTime: 6 * time.Second, ok: func(int) bool { return false }}
	cfg := GateConfig{Deadline: 20 * time.Second, StableWindow: 3 * time.Second, Interval: 2 * time.Second}
	g := &Gate{Prober: p, Clock: clock, Config: cfg}
	res := g.Run(context.Background(), GateInput{Checks: checks("ping relay-transit"), Baseline: allOK(1)})
	if res.Passed || !strings.Contains(res.Reason, "ping relay-transit: 0/3 replies") {
		t.Fatalf("want a failure naming the check, got %+v", res)
	}
	// Rounds start at 0, 8 and 16s; the one ending at 22s is the last.
	if over := clock.now.Sub(start); over > cfg.Deadline+p.roundTime || p.calls != 3 {
		t.Fatalf("gate ran %d rounds and ended %s after the start (deadline %s, round %s)", p.calls, over, cfg.Deadline, p.roundTime)
	}
}

// When the deadline comes during a healthy streak too short for the
// stable window, the verdict names the failure that broke the streak.
func TestGateReasonKeepsTheLastFailure(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	p := &slowProber{clock: clock, roundTime: time.Second, ok: func(call int) bool { return call >= 7 }}
	cfg := GateConfig{Deadline: 20 * time.Second, StableWindow: 10 * time.Second, Interval: 2 * time.Second}
	g := &Gate{Prober: p, Clock: clock, Config: cfg}
	res := g.Run(context.Background(), GateInput{Checks: checks("ping relay-transit"), Baseline: allOK(1)})
	if res.Passed || !strings.Contains(res.Reason, "last failure: ping relay-transit: 0/3 replies") {
		t.Fatalf("want the last failure in the reason, got %+v", res)
	}
}

// A failing two-ended link whose far end has reverted (or rejected) the
// commit cannot come up: the gate fails at once instead of waiting out the
// bound for the far end and then the deadline.
func TestGateFailsAtOnceWhenTheFarEndGaveUp(t *testing.T) {
	for _, far := range []string{ResultReverted, ResultRejected} {
		clock := &autoClock{now: time.Unix(1000, 0)}
		start := clock.now
		broken := &scriptProber{ok: func(int, string) bool { return false }}
		g := &Gate{Prober: broken, Clock: clock, Config: gateCfg}
		cs := checks("handshake wg0/edge")
		cs[0].Link = "relay-edge"
		peerResult := func(context.Context, string) string {
			if clock.now.Sub(start) >= 6*time.Second {
				return far
			}
			return ""
		}
		res := g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1), TwoEnded: map[string]bool{"relay-edge": true}, PeerResult: peerResult})
		if res.Passed || res.Duration != 6*time.Second || !strings.Contains(res.Reason, "handshake wg0/edge") ||
			!strings.Contains(res.Reason, "the far end of relay-edge "+far+" this commit") {
			t.Fatalf("far end %s: want a failure at 6s naming the check and the far end, got %+v", far, res)
		}
		// The same far end on a one-ended link says nothing about it.
		clock.now = start
		res = g.Run(context.Background(), GateInput{Checks: cs, Baseline: allOK(1), PeerResult: peerResult})
		if res.Passed || res.Duration != gateCfg.Deadline || strings.Contains(res.Reason, "far end") {
			t.Fatalf("one-ended: want the deadline's verdict, got %+v", res)
		}
	}
}
