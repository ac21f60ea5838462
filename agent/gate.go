package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tether-net/tether/policy"
)

// Clock is the loop's source of time; tests drive it by hand.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time                         { return time.Now() }
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// GateConfig bounds the health gate.
type GateConfig struct {
	Deadline     time.Duration // the change must be healthy by then
	StableWindow time.Duration // all judged checks healthy together this long
	Interval     time.Duration // between probes
	// HandshakeMaxAge, when set, overrides the network's handshake_max_age
	// on this agent (its [gate] handshake_max_age).
	HandshakeMaxAge time.Duration
	PeerNoteWait    time.Duration // how long a two-ended link waits for the far end
	// Fail-fast budgets, once no far end is pending (see Gate): a judged
	// handshake or BGP check failing this long, or a ping, TCP or route
	// check failing this many rounds in a row while every handshake and
	// BGP check is healthy, fails the gate at once. 0 turns one off.
	HandshakeBudget time.Duration
	BGPBudget       time.Duration
	ProbeFailures   int
	// WitnessWait bounds how long a change waits, from publishing its
	// gating note, for the far ends of its one-ended links to report (0:
	// no witnessing).
	WitnessWait time.Duration
}

// Provoker is a Prober that can make WireGuard peers start a handshake.
// WireGuard sends a handshake initiation only when it has a packet for the
// peer (or a persistent keepalive falls due), then retries it every 5s
// while the packet waits; a gate that only watched would judge a tunnel
// that nothing tried to bring up. Provoke sends traffic through each
// check's peer, to the check's Target, and says per check what it sent.
type Provoker interface {
	Provoke(ctx context.Context, checks []policy.Check) []string
}

// GateResult is the gate's verdict with its evidence.
type GateResult struct {
	Passed   bool          `json:"passed"`
	Reason   string        `json:"reason,omitempty"`
	Checks   []CheckReport `json:"checks"`
	Duration time.Duration `json:"duration"`
}

// CheckReport is a check's final observation, its baseline and whether it
// could cause a revert.
type CheckReport struct {
	CheckResult
	MustPass   bool   `json:"must_pass"`
	BaselineOK bool   `json:"baseline_ok"`
	Judged     bool   `json:"judged"`
	Note       string `json:"note,omitempty"` // why a check was not judged
}

// Gate judges a change by probing until every judged check has been
// healthy for the stable window, or the deadline passes.
//
// A check is judged when it must pass and was healthy before the change
// (baseline-aware: the relay being down already is not this commit's
// fault). Checks on a link both of whose ends the commit changed are not
// judged until they turn healthy, the far end has settled this commit, or
// PeerNoteWait passes, so two sites converge instead of reverting each other.
// A failing two-ended link whose far end reverted or rejected the commit
// fails the gate at once.
//
// A bad change should cost seconds, not the deadline: when the change is
// one-ended, or every far end it changed has recorded the commit, a judged
// check fails the gate after its protocol budget (Config.HandshakeBudget,
// BGPBudget, ProbeFailures). Pings, TCP and route checks ride on the
// tunnels and sessions, so they count only while every handshake and BGP
// check is healthy: a session still coming back must not revert a good
// change through the probes behind it. With nothing to judge (no must-pass
// check that was healthy before), the change is kept after one round.
//
// When the Prober is a Provoker, the gate sends traffic through the peer
// of every judged handshake check that must handshake anew (in.Fresh) or
// failed the last round, alongside each round's probes, so the handshake
// budget measures WireGuard's own retries and not the peer's silence.
// Provoking every round sends no extra handshakes: WireGuard starts at
// most one every 5s.
type Gate struct {
	Prober Prober
	Clock  Clock
	Config GateConfig
}

// Baseline probes once before the change.
func (g *Gate) Baseline(ctx context.Context, checks []policy.Check) []CheckResult {
	return g.Prober.Probe(ctx, checks)
}

// GateInput is what the gate judges.
type GateInput struct {
	Checks   []policy.Check
	Baseline []CheckResult // one per check, probed before the change
	// TwoEnded names the links whose far end the commit also changed.
	TwoEnded map[string]bool
	// Fresh names handshake checks whose peer the change touched: they
	// pass only on a handshake after the change.
	Fresh map[string]bool
	// PeerResult is the far end's recorded result for the commit on a
	// link ("" while it has recorded none).
	PeerResult func(ctx context.Context, link string) string
	// Changed is when the device started applying; a handshake since then
	// (less a second: RouterOS reports whole seconds) counts as fresh.
	// Zero means the gate's own start.
	Changed time.Time
}

// Run gates a change applied just before the call.
func (g *Gate) Run(ctx context.Context, in GateInput) GateResult {
	checks, baseline, twoEnded := in.Checks, in.Baseline, in.TwoEnded
	peerResult := func(ctx context.Context, link string) string {
		if in.PeerResult == nil {
			return ""
		}
		return in.PeerResult(ctx, link)
	}
	start := g.Clock.Now()
	changed := start
	if !in.Changed.IsZero() {
		changed = in.Changed.Add(-time.Second)
	}
	deadline := start.Add(g.Config.Deadline)
	interval := g.Config.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	baselineOK := func(i int) bool { return i < len(baseline) && baseline[i].OK }
	// The far end must get its chance within our deadline, leaving a
	// stable window to judge the link afterwards.
	peerWait := g.Config.PeerNoteWait
	if limit := g.Config.Deadline - g.Config.StableWindow - interval; peerWait > limit {
		peerWait = max(limit, 0)
	}
	var healthySince time.Time
	lastFailing := "" // the latest failure, for a verdict reached on a healthy round
	ready := map[string]bool{}
	failingSince := map[string]time.Time{} // judged checks failing since, this streak
	failedRounds := map[string]int{}
	farRecorded := map[string]bool{} // two-ended links whose far end recorded the commit
	provoker, _ := g.Prober.(Provoker)
	provoked := map[string]provocation{}
	var reports []CheckReport // the last round's
	for {
		now := g.Clock.Now()
		results := g.probeAndProvoke(ctx, provoker, checks, g.toProvoke(provoker, checks, reports, baselineOK, in.Fresh), provoked)
		reports = make([]CheckReport, len(checks))
		failing, gaveUp := "", ""
		// The far end's result, read at most once per link and round.
		farResults := map[string]string{}
		farResult := func(link string) string {
			if r, ok := farResults[link]; ok {
				return r
			}
			r := peerResult(ctx, link)
			farResults[link] = r
			return r
		}
		for i, c := range checks {
			r := CheckResult{Name: c.Name, Kind: string(c.Kind), Evidence: "not observed", At: now}
			if i < len(results) {
				r = results[i]
			}
			if in.Fresh[c.Name] && r.OK && !r.Since.IsZero() && r.Since.Before(changed) {
				r.OK = false
				r.Evidence += "; no handshake since the change"
			}
			if p, ok := provoked[c.Name]; ok {
				r.Evidence += fmt.Sprintf("; traffic sent through the peer in %s (last: %s)", inRounds(p.rounds), p.last)
			}
			rep := CheckReport{CheckResult: r, MustPass: c.MustPass, BaselineOK: baselineOK(i)}
			switch {
			case !c.MustPass:
				rep.Note = "informational"
			case !rep.BaselineOK:
				rep.Note = "already failing before the change"
			case c.Link != "" && twoEnded[c.Link] && !ready[c.Link]:
				// Judge the link once it is healthy (both ends evidently
				// applied), once the far end has recorded its outcome, or
				// when the bounded wait ends. Waiting for the far end's note
				// alone would deadlock: it waits for ours.
				if r.OK || now.Sub(start) >= peerWait || farResult(c.Link) != "" {
					ready[c.Link] = true
					rep.Judged = true
				} else {
					rep.Note = "waiting for the far end of " + c.Link
				}
			default:
				rep.Judged = true
			}
			if rep.Judged && !r.OK && failing == "" {
				failing = fmt.Sprintf("%s: %s", c.Name, r.Evidence)
				// A far end back at (or never past) the link's prior
				// configuration leaves it down: waiting out the deadline
				// would only prolong the outage.
				if c.Link != "" && twoEnded[c.Link] {
					if far := farResult(c.Link); far == ResultReverted || far == ResultRejected {
						gaveUp = fmt.Sprintf("%s; the far end of %s %s this commit", failing, c.Link, far)
					}
				}
			}
			reports[i] = rep
		}
		if gaveUp != "" {
			return GateResult{Passed: false, Reason: gaveUp, Checks: reports, Duration: now.Sub(start)}
		}
		for i, rep := range reports {
			name := checks[i].Name
			if !rep.Judged || rep.OK {
				delete(failingSince, name)
				delete(failedRounds, name)
				continue
			}
			if _, ok := failingSince[name]; !ok {
				failingSince[name] = now
			}
			failedRounds[name]++
		}
		if len(failingSince) > 0 && g.farEndsSettled(twoEnded, farRecorded, farResult) {
			if reason := g.overBudget(checks, reports, failingSince, failedRounds, now); reason != "" {
				return GateResult{Passed: false, Reason: reason, Checks: reports, Duration: now.Sub(start)}
			}
		}
		waiting, judgeable := false, false
		for _, rep := range reports {
			if rep.MustPass && rep.BaselineOK {
				judgeable = true
				waiting = waiting || !rep.Judged
			}
		}
		if !judgeable {
			return GateResult{Passed: true, Checks: reports, Duration: now.Sub(start)}
		}
		if failing == "" && !waiting {
			if healthySince.IsZero() {
				healthySince = now
			}
			if now.Sub(healthySince) >= g.Config.StableWindow {
				return GateResult{Passed: true, Checks: reports, Duration: now.Sub(start)}
			}
		} else {
			healthySince = time.Time{}
			if failing != "" {
				lastFailing = failing
			}
		}
		// Judged after the round: a round of pings takes seconds, and one
		// started just before the deadline must not be followed by another
		// that runs into the device's dead-man.
		if !g.Clock.Now().Before(deadline) {
			reason := failing
			switch {
			case reason != "":
			case waiting:
				reason = "the far end of a two-ended change did not settle before the deadline"
			case lastFailing != "":
				reason = "not healthy for the stable window before the deadline; last failure: " + lastFailing
			default:
				reason = "checks were not healthy for the stable window before the deadline"
			}
			return GateResult{Passed: false, Reason: reason, Checks: reports, Duration: now.Sub(start)}
		}
		wait := interval
		if left := deadline.Sub(g.Clock.Now()); left < wait {
			wait = left
		}
		select {
		case <-ctx.Done():
			return GateResult{Passed: false, Reason: "interrupted: " + ctx.Err().Error(), Checks: reports, Duration: g.Clock.Now().Sub(start)}
		case <-g.Clock.After(wait):
		}
	}
}

// provocation is what the gate sent through one check's peer.
type provocation struct {
	rounds int
	last   string
}

// toProvoke picks the handshake checks whose peers get traffic this round:
// judged-to-be (must pass, healthy before) with a tunnel address, that
// must handshake after the change (first round) or failed the last round.
func (g *Gate) toProvoke(p Provoker, checks []policy.Check, last []CheckReport, baselineOK func(int) bool, fresh map[string]bool) []policy.Check {
	if p == nil {
		return nil
	}
	var out []policy.Check
	for i, c := range checks {
		if c.Kind != policy.CheckHandshake || !c.MustPass || !baselineOK(i) || !c.Target.IsValid() {
			continue
		}
		if last == nil && fresh[c.Name] || last != nil && !last[i].OK {
			out = append(out, c)
		}
	}
	return out
}

// probeAndProvoke runs a round of probes and, side by side, the round's
// provocations: a round lasts as long as the slower of the two.
func (g *Gate) probeAndProvoke(ctx context.Context, p Provoker, checks, provoke []policy.Check, provoked map[string]provocation) []CheckResult {
	if len(provoke) == 0 {
		return g.Prober.Probe(ctx, checks)
	}
	var sent []string
	var wg sync.WaitGroup
	wg.Go(func() { sent = p.Provoke(ctx, provoke) })
	results := g.Prober.Probe(ctx, checks)
	wg.Wait()
	for i, c := range provoke {
		pr := provoked[c.Name]
		pr.rounds++
		if i < len(sent) {
			pr.last = sent[i]
		}
		provoked[c.Name] = pr
	}
	return results
}

func inRounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return fmt.Sprintf("%d rounds", n)
}

// farEndsSettled reports whether every link the change alters at both ends
// has its far end's outcome recorded, so a failure here is this site's to
// judge. A recorded far end stays recorded; the others are read once per
// round.
func (g *Gate) farEndsSettled(twoEnded, recorded map[string]bool, farResult func(string) string) bool {
	for link, both := range twoEnded {
		if !both || recorded[link] {
			continue
		}
		if farResult(link) == "" {
			return false
		}
		recorded[link] = true
	}
	return true
}

// overBudget returns the verdict on the first check past its fail-fast
// budget, "" while every failing check is within its budget.
func (g *Gate) overBudget(checks []policy.Check, reports []CheckReport, since map[string]time.Time, rounds map[string]int, now time.Time) string {
	carriersUp := true // every handshake and BGP check healthy or unjudged
	for _, c := range checks {
		if _, failing := since[c.Name]; failing && (c.Kind == policy.CheckHandshake || c.Kind == policy.CheckBGP) {
			carriersUp = false
		}
	}
	for i, c := range checks {
		s, failing := since[c.Name]
		if !failing {
			continue
		}
		verdict := func(spent, budget string) string {
			return fmt.Sprintf("%s: %s (failing for %s, past the %s %s budget)", c.Name, reports[i].Evidence, spent, budget, c.Kind)
		}
		switch c.Kind {
		case policy.CheckHandshake, policy.CheckBGP:
			budget := g.Config.HandshakeBudget
			if c.Kind == policy.CheckBGP {
				budget = g.Config.BGPBudget
			}
			if budget > 0 && now.Sub(s) >= budget {
				return verdict(now.Sub(s).String(), budget.String())
			}
		default:
			if n := g.Config.ProbeFailures; carriersUp && n > 0 && rounds[c.Name] >= n {
				return verdict(fmt.Sprintf("%d rounds", rounds[c.Name]), fmt.Sprintf("%d-round", n))
			}
		}
	}
	return ""
}
