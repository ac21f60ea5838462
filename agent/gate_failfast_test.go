package agent

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
)

// fastCfg is gateCfg with the network's default fail-fast budgets.
var fastCfg = func() GateConfig {
	c := gateCfg
	c.HandshakeBudget = policy.DefaultHealth.HandshakeBudget.Duration
	c.BGPBudget = policy.DefaultHealth.BGPBudget.Duration
	c.ProbeFailures = policy.DefaultHealth.ProbeFailures
	return c
}()

func kinded(link string, kinds ...policy.CheckKind) []policy.Check {
	var out []policy.Check
	for _, k := range kinds {
		out = append(out, policy.Check{Name: string(k) + " x", Kind: k, MustPass: true, Link: link})
	}
	return out
}

func TestGateFailsFastOnAOneEndedChange(t *testing.T) {
	down := func(int, string) bool { return false }
	cases := []struct {
		name     string
		checks   []policy.Check
		ok       func(call int, name string) bool
		twoEnded map[string]bool
		far      func(now time.Duration) string
		want     time.Duration // when the gate fails
		reason   string
	}{
		{"a handshake fails after three WireGuard retries", kinded("l", policy.CheckHandshake), down, nil, nil,
			16 * time.Second, "handshake x: last handshake 5m0s ago (max 3m0s) (failing for 16s, past the 15s handshake budget"},
		{"a BGP session after its restart budget", kinded("l", policy.CheckBGP), down, nil, nil,
			76 * time.Second, "bgp x: "},
		{"a ping after three failed rounds while the tunnel is up", kinded("", policy.CheckHandshake, policy.CheckPing),
			func(_ int, name string) bool { return name != "ping x" }, nil, nil,
			4 * time.Second, "ping x: last handshake 5m0s ago (max 3m0s) (failing for 3 rounds, past the 3-round ping budget"},
		// The ping rides on the tunnel: while the handshake is within its
		// budget only the handshake can fail the gate.
		{"a ping behind a failing tunnel waits for the tunnel's budget", kinded("", policy.CheckHandshake, policy.CheckPing), down, nil, nil,
			16 * time.Second, "handshake x: "},
		// Two-ended: the far end may still be applying; the bounded wait
		// for its note (60s) comes first, then the deadline.
		{"a two-ended link whose far end has not recorded the commit", kinded("l", policy.CheckHandshake), down,
			map[string]bool{"l": true}, func(time.Duration) string { return "" },
			120 * time.Second, "handshake x: "},
		{"a two-ended link once its far end applied", kinded("l", policy.CheckHandshake), down,
			map[string]bool{"l": true}, func(now time.Duration) string {
				if now >= 20*time.Second {
					return ResultApplied
				}
				return ""
			},
			// judged from 20s, failing past its budget from then
			36 * time.Second, "failing for 16s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &autoClock{now: time.Unix(1000, 0)}
			start := clock.now
			g := &Gate{Prober: &scriptProber{ok: tc.ok}, Clock: clock, Config: fastCfg}
			in := GateInput{Checks: tc.checks, Baseline: allOK(len(tc.checks)), TwoEnded: tc.twoEnded}
			if tc.far != nil {
				in.PeerResult = func(context.Context, string) string { return tc.far(clock.now.Sub(start)) }
			}
			res := g.Run(context.Background(), in)
			if res.Passed || res.Duration != tc.want || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("want a failure at %s with %q, got passed=%v at %s: %s", tc.want, tc.reason, res.Passed, res.Duration, res.Reason)
			}
		})
	}
}

func TestGateFailFastLeavesGoodChangesAlone(t *testing.T) {
	// A tunnel that handshakes 10s after the change, within its budget.
	clock := &autoClock{now: time.Unix(1000, 0)}
	start := clock.now
	late := &scriptProber{ok: func(int, string) bool { return clock.now.Sub(start) >= 10*time.Second }}
	g := &Gate{Prober: late, Clock: clock, Config: fastCfg}
	res := g.Run(context.Background(), GateInput{Checks: kinded("l", policy.CheckHandshake, policy.CheckPing), Baseline: allOK(2)})
	if !res.Passed || res.Duration != 20*time.Second {
		t.Fatalf("a handshake within its budget must pass after the stable window, got %+v", res)
	}
	// A budget of 0 turns fail-fast off for that kind: the deadline judges.
	clock.now = start
	off := fastCfg
	off.HandshakeBudget = 0
	g = &Gate{Prober: &scriptProber{ok: func(int, string) bool { return false }}, Clock: clock, Config: off}
	res = g.Run(context.Background(), GateInput{Checks: kinded("l", policy.CheckHandshake), Baseline: allOK(1)})
	if res.Passed || res.Duration != gateCfg.Deadline {
		t.Fatalf("handshake budget 0: want the deadline's verdict, got %+v", res)
	}
}

func TestGateKeepsAChangeWithNothingToJudgeAtOnce(t *testing.T) {
	clock := &autoClock{now: time.Unix(1000, 0)}
	cs := kinded("", policy.CheckHandshake, policy.CheckPing)
	cs[0].MustPass = false // informational
	p := &scriptProber{ok: func(int, string) bool { return false }}
	g := &Gate{Prober: p, Clock: clock, Config: fastCfg}
	// The ping was already failing before the change: not this change's fault.
	res := g.Run(context.Background(), GateInput{Checks: cs, Baseline: []CheckResult{{OK: true}, {OK: false}}})
	if !res.Passed || res.Duration != 0 || p.calls != 1 {
		t.Fatalf("nothing to judge: keep after one round, got %+v after %d probes", res, p.calls)
	}
	if len(res.Checks) != 2 || res.Checks[0].Note != "informational" || res.Checks[1].Note != "already failing before the change" {
		t.Fatalf("the one round is still reported: %+v", res.Checks)
	}
}

// provokingProber is a scriptProber whose peers handshake only after
// traffic was sent through them: a peer provoked in an earlier round
// (at an earlier time of the gate's clock) and told to answer has
// handshaken.
type provokingProber struct {
	scriptProber
	clock   *autoClock
	answers bool

	mu   sync.Mutex
	sent map[string][]time.Time // provocations per check
}

func (p *provokingProber) Provoke(_ context.Context, checks []policy.Check) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(checks))
	for i, c := range checks {
		p.sent[c.Name] = append(p.sent[c.Name], p.clock.now)
		out[i] = "ping " + c.Target.String() + ": 0/1 replies"
	}
	return out
}

func (p *provokingProber) provoked(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent[name])
}

func (p *provokingProber) handshaken(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answers && len(p.sent[name]) > 0 && p.sent[name][0].Before(p.clock.now)
}

func TestGateProvokesHandshakes(t *testing.T) {
	peer := policy.Check{Name: "handshake wg0/far", Kind: policy.CheckHandshake, MustPass: true,
		Target: netip.MustParseAddr("fd00::2")}
	noAddr := peer
	noAddr.Name, noAddr.Target = "handshake wg0/no-address", netip.Addr{}
	healthy := peer
	healthy.Name, healthy.Target = "handshake wg0/healthy", netip.MustParseAddr("fd00::6")
	cs := []policy.Check{peer, noAddr, healthy}
	newGate := func(answers bool) (*Gate, *provokingProber) {
		clock := &autoClock{now: time.Unix(1000, 0)}
		p := &provokingProber{clock: clock, answers: answers, sent: map[string][]time.Time{}}
		p.ok = func(_ int, name string) bool { return name == healthy.Name || p.handshaken(name) }
		return &Gate{Prober: p, Clock: clock, Config: fastCfg}, p
	}

	// A right key on a quiet tunnel: the peer handshakes once traffic is
	// sent through it, so the change is kept although nothing else sent
	// any. Traffic stops once the peer is healthy.
	g, p := newGate(true)
	in := GateInput{Checks: cs[:1], Baseline: allOK(1), Fresh: map[string]bool{peer.Name: true}}
	if res := g.Run(context.Background(), in); !res.Passed || res.Duration != 12*time.Second {
		t.Fatalf("a provoked handshake must pass after the stable window: %+v", res)
	}
	if n := p.provoked(peer.Name); n != 2 || p.calls != 7 {
		t.Fatalf("want traffic at the first round and the failed one after it (2 of 7 rounds), got %d of %d", n, p.calls)
	}

	// A wrong key: the peer never answers. Traffic goes through it every
	// round, the verdict comes on the handshake budget and names what was
	// sent; a check without a tunnel address and a healthy peer that need
	// not handshake anew get none.
	g, p = newGate(false)
	in = GateInput{Checks: cs, Baseline: allOK(3), Fresh: map[string]bool{peer.Name: true}}
	res := g.Run(context.Background(), in)
	if res.Passed || res.Duration != 16*time.Second {
		t.Fatalf("want a failure on the 15s handshake budget, got passed=%v at %s: %s", res.Passed, res.Duration, res.Reason)
	}
	if n := p.provoked(peer.Name); n != p.calls {
		t.Fatalf("the failing peer must get traffic every round: %d provocations in %d rounds", n, p.calls)
	}
	if n := p.provoked(noAddr.Name) + p.provoked(healthy.Name); n != 0 {
		t.Fatalf("no traffic without an address or to a healthy peer: %v", p.sent)
	}
	if want := "handshake wg0/far: last handshake 5m0s ago (max 3m0s); traffic sent through the peer in 9 rounds (last: ping fd00::2: 0/1 replies)"; !strings.Contains(res.Reason, want) {
		t.Fatalf("the verdict must name the provocation, want %q in %q", want, res.Reason)
	}

	// A Prober that cannot provoke judges passively, as before.
	g = &Gate{Prober: &scriptProber{ok: func(int, string) bool { return false }}, Clock: &autoClock{now: time.Unix(1000, 0)}, Config: fastCfg}
	if res := g.Run(context.Background(), GateInput{Checks: cs[:1], Baseline: allOK(1)}); res.Passed || res.Duration != 16*time.Second || strings.Contains(res.Reason, "traffic") {
		t.Fatalf("without a Provoker: %+v", res)
	}
}
