package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/policy"
)

// transact applies a non-empty plan behind the dead-man and the gate.
func (a *Agent) transact(ctx context.Context, st *State, n, prev *policy.Network, plan *Plan, o *Outcome, in GateInput, repair bool) (*Outcome, error) {
	site := n.Sites[a.Site]
	cfg := a.gateConfig(site)
	margin := a.Margin
	if margin == 0 {
		margin = site.Health.DeadmanMargin.Duration
	}
	log := a.log().With(zap.String("commit", short(o.Commit)))
	if a.NewTxnID != nil {
		plan.TxnID = a.NewTxnID()
	}
	if plan.TxnID == "" {
		return o, fmt.Errorf("device planned %s without a transaction ID", a.Site)
	}
	o.TxnID, o.Summary, o.Changes = plan.TxnID, plan.Summary(), plan.Changes
	checks := a.checksOf(n)
	gate := &Gate{Prober: a.Prober, Clock: a.Clock, Config: cfg}
	baseline := a.baseline(ctx, gate, prev, checks)
	wn := a.witnessBook(cfg)
	if wn == nil {
		o.Witnesses = nil
	}
	// Witnesses may answer after the gate: the dead-man waits for them too.
	hold := cfg.Deadline + margin
	if len(o.Witnesses) > 0 {
		hold += cfg.WitnessWait
	}
	e := &Entry{TxnID: plan.TxnID, Site: a.Site, Commit: o.Commit, Step: StepPlanned, Repair: repair, Adopt: o.Result == ResultAdopted, Plan: plan,
		Started: o.Started, Baseline: baseline, Deadline: a.Clock.Now().Add(hold)}
	if err := a.Journal.Write(e); err != nil {
		return nil, err
	}
	e.Step = StepApplying
	if err := a.Journal.Write(e); err != nil {
		return nil, err
	}
	var witnessUntil time.Time
	if len(o.Witnesses) > 0 {
		witnessUntil = a.Clock.Now().Add(cfg.WitnessWait)
		a.announceGating(ctx, o)
	}
	log.Info("applying", zap.String("step", string(StepApplying)), zap.String("digest", plan.Digest), zap.Time("deadline", e.Deadline))
	applyStart := a.Clock.Now()
	in.Changed = applyStart
	if err := a.Device.Apply(ctx, plan, e.Deadline); err != nil {
		log.Info("apply failed; reverting", zap.String("step", "apply-failed"), zap.Error(err))
		e.Reason = "apply failed: " + err.Error()
		return a.revert(ctx, st, e, o, a.checksOf(prev))
	}
	e.Step = StepGating
	if err := a.Journal.Write(e); err != nil {
		return nil, err
	}
	log.Info("gating", zap.String("step", string(StepGating)), zap.Duration("duration", a.Clock.Now().Sub(applyStart)))
	peerResult := func(ctx context.Context, link string) string {
		k := n.Links[link]
		if k == nil || a.Notes == nil {
			return ""
		}
		side, _ := k.SideOf(a.Site)
		r, err := a.Notes.Result(ctx, o.Commit, side.Remote.Site)
		if err != nil {
			return ""
		}
		return r
	}
	in.Checks, in.Baseline, in.PeerResult = checks, baseline, peerResult
	res := gate.Run(ctx, in)
	e.Gate = &res
	o.Checks, o.GateDuration = res.Checks, res.Duration
	if !res.Passed {
		log.Info("gate failed; reverting", zap.String("step", "gate-failed"), zap.String("reason", res.Reason), zap.Duration("duration", res.Duration))
		e.Reason = "gate failed: " + res.Reason
		if len(o.Witnesses) > 0 {
			o.Witnesses, _ = a.awaitWitnesses(ctx, wn, o, witnessUntil, cfg.Interval, false)
		}
		return a.revert(ctx, st, e, o, a.checksOf(prev))
	}
	if len(o.Witnesses) > 0 {
		var regressed string
		o.Witnesses, regressed = a.awaitWitnesses(ctx, wn, o, witnessUntil, cfg.Interval, true)
		if regressed != "" {
			log.Info("a witness reported a regression; reverting", zap.String("step", "witness-regressed"), zap.String("reason", regressed))
			e.Reason = regressed
			return a.revert(ctx, st, e, o, a.checksOf(prev))
		}
	}
	a.remember(st, res.Checks)
	e.Step = StepKeeping
	if err := a.Journal.Write(e); err != nil {
		return nil, err
	}
	if err := a.Device.Settle(ctx, plan, true); errors.Is(err, ErrDeadmanFired) {
		return a.deadmanFired(ctx, st, e, o, prev)
	} else if err != nil {
		return nil, fmt.Errorf("disarm dead-man: %w", err)
	}
	o.Result = finalResult(e)
	o.Finished = a.Clock.Now()
	if !repair {
		a.fixedForward(o)
	}
	log.Info("applied", zap.String("step", "done"), zap.Duration("duration", o.Finished.Sub(o.Started)))
	if !e.Adopt {
		st.Running = o.Commit
	}
	if err := a.finish(ctx, st, o); err != nil {
		return o, err
	}
	return o, a.Journal.Clear()
}

// baseline says, per check, whether it was healthy before the change. It
// probes the checks as the running configuration defines them (a changed
// peer key must be looked up under the old key) and matches them by name; a
// check the change introduces has no "before" and is judged.
func (a *Agent) baseline(ctx context.Context, gate *Gate, prev *policy.Network, checks []policy.Check) []CheckResult {
	before := map[string]CheckResult{}
	if prev != nil {
		old := a.checksOf(prev)
		for i, r := range gate.Baseline(ctx, old) {
			before[old[i].Name] = r
		}
	}
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		r, existed := before[c.Name]
		if !existed {
			r = CheckResult{Name: c.Name, Kind: string(c.Kind), OK: true, Evidence: "new with this change"}
		}
		out[i] = r
	}
	return out
}

// settleProbe re-probes after a revert, giving tunnels and sessions a
// bounded moment to come back so the note shows where health settled, not
// the instant after the restore.
func (a *Agent) settleProbe(ctx context.Context, checks []policy.Check) []CheckResult {
	const tries, every = 8, 2 * time.Second
	var res []CheckResult
	for i := 0; i < tries; i++ {
		res = a.Prober.Probe(ctx, checks)
		healthy := true
		for j, r := range res {
			if checks[j].MustPass && !r.OK {
				healthy = false
			}
		}
		if healthy || i == tries-1 {
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-a.Clock.After(every):
		}
	}
	return res
}

// checksOf are this site's health checks in network n (nil for no network,
// e.g. no state to return to), with this agent's handshake age override.
func (a *Agent) checksOf(n *policy.Network) []policy.Check {
	if n == nil {
		return nil
	}
	checks := n.HealthChecks(a.Site)
	if a.Gate.HandshakeMaxAge > 0 {
		for i := range checks {
			if checks[i].Kind == policy.CheckHandshake {
				checks[i].MaxAge = a.Gate.HandshakeMaxAge
			}
		}
	}
	return checks
}

// touchedPeers names the handshake checks of peers whose keys the change
// alters (the peer's public key, this interface's own key, or a new peer):
// only a key change makes WireGuard handshake again, so only those must
// handshake after the change to pass. Endpoint, port or allowed-address
// edits keep the session.
func touchedPeers(prev, n *policy.Network, site string) map[string]bool {
	old := map[string]string{}
	if prev != nil {
		for _, p := range prev.WireGuardPeers(site) {
			old[p.Interface+"/"+p.Name] = peerFingerprint(prev, site, p)
		}
	}
	out := map[string]bool{}
	for _, p := range n.WireGuardPeers(site) {
		if old[p.Interface+"/"+p.Name] != peerFingerprint(n, site, p) {
			out[fmt.Sprintf("handshake %s/%s", p.Interface, p.Name)] = true
		}
	}
	return out
}

func peerFingerprint(n *policy.Network, site string, p policy.WGPeer) string {
	own := ""
	// A Linux site's own key comes from its key file, rotated with a new
	// public key in the model; a RouterOS router keeps the key it generated
	// whatever the model says, so its model key changes nothing locally.
	if s := n.Sites[site]; s.Platform == "linux" {
		if w := s.WireGuardInterface(p.Interface); w != nil {
			own = w.PublicKey.String()
		}
	}
	return p.PublicKey.String() + "/" + own
}

func (a *Agent) gateConfig(site *policy.Site) GateConfig {
	return GateConfig{
		// This agent's [gate] overrides the network's settings where set.
		Deadline:     cmp.Or(a.Gate.Deadline, site.Health.GateDeadline.Duration),
		StableWindow: cmp.Or(a.Gate.StableWindow, site.Health.StableWindow.Duration),
		PeerNoteWait: cmp.Or(a.Gate.PeerNoteWait, site.Health.PeerNoteWait.Duration),
		Interval:     cmp.Or(a.Gate.Interval, 2*time.Second),

		HandshakeBudget: cmp.Or(a.Gate.HandshakeBudget, site.Health.HandshakeBudget.Duration),
		BGPBudget:       cmp.Or(a.Gate.BGPBudget, site.Health.BGPBudget.Duration),
		ProbeFailures:   cmp.Or(a.Gate.ProbeFailures, site.Health.ProbeFailures),
		WitnessWait:     cmp.Or(a.Gate.WitnessWait, site.Health.WitnessWait.Duration),
	}
}
