package agent

import (
	"context"
	"strings"
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
