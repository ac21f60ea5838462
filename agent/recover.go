package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"
)

// Recover settles a transaction an earlier run left in flight, so the
// device never stays half-applied and no outcome goes unrecorded.
func (a *Agent) Recover(ctx context.Context) (*Outcome, error) {
	e, err := a.Journal.Read()
	if err != nil || e == nil {
		return nil, err
	}
	st, err := a.States.Load()
	if err != nil {
		return nil, err
	}
	log := a.log().With(zap.String("commit", short(e.Commit)))
	o := &Outcome{TxnID: e.TxnID, Site: e.Site, Commit: e.Commit, Started: e.Started, Version: a.Version, Host: a.Host}
	if e.Plan != nil {
		o.Summary, o.Changes = e.Plan.Summary(), e.Plan.Changes
	}
	if e.Gate != nil {
		o.Checks = e.Gate.Checks
	}
	switch e.Step {
	case StepPlanned:
		log.Info("interrupted before apply; nothing to undo", zap.String("step", "recover"))
		return nil, a.Journal.Clear()
	case StepKeeping:
		if err := a.Device.Settle(ctx, e.Plan, true); errors.Is(err, ErrDeadmanFired) {
			return a.deadmanFired(ctx, st, e, o, nil)
		} else if err != nil {
			return nil, fmt.Errorf("finish interrupted transaction: %w", err)
		}
		o.Result, o.Finished = finalResult(e), a.Clock.Now()
		if !e.Adopt {
			st.Running = e.Commit
		}
		log.Info("finished interrupted transaction", zap.String("step", "recover"))
		if err := a.finish(ctx, st, o); err != nil {
			return o, err
		}
		return o, a.Journal.Clear()
	default: // applying, gating, reverting: restore the prior state
		if e.Reason == "" {
			e.Reason = fmt.Sprintf("agent stopped while %s; the change was reverted", e.Step)
		}
		log.Info("reverting interrupted transaction", zap.String("step", "recover"), zap.String("was", string(e.Step)))
		return a.revert(ctx, st, e, o, nil)
	}
}

// checkDrift re-plans the running commit; owned state changed by hand is
// repaired through the same transaction, or only reported.
func (a *Agent) checkDrift(ctx context.Context, st *State) (*Outcome, error) {
	commit := plumbing.NewHash(st.Running)
	n, problems, err := a.load(ctx, commit)
	if err != nil || problems.HasErrors() || n.Sites[a.Site] == nil {
		return nil, err
	}
	plan, err := a.Device.Plan(ctx, n, a.Site)
	if err != nil {
		return nil, fmt.Errorf("drift check: %w", err)
	}
	if plan.Empty() {
		return a.watchWAN(ctx, st, n)
	}
	o := &Outcome{Site: a.Site, Commit: st.Running, Started: a.Clock.Now(), Version: a.Version, Host: a.Host,
		Reason: fmt.Sprintf("drift: %d owned item(s) differ from the running commit", len(plan.Changes))}
	mode := a.Drift
	if mode == "" {
		mode = n.Rollout.Drift
	}
	if mode == "report" || a.needsAttention() {
		o.Result, o.Summary, o.Changes, o.Finished = ResultDrift, plan.Summary(), plan.Changes, a.Clock.Now()
		a.log().Info("drift found (report only)", zap.String("commit", short(st.Running)), zap.String("step", "drift"), zap.Int("changes", len(plan.Changes)))
		return o, a.finish(ctx, st, o)
	}
	return a.transact(ctx, st, n, n, plan, o, GateInput{}, true)
}
