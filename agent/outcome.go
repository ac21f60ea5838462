package agent

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/tether-net/tether/policy"
)

// revert settles a transaction by restoring the prior state, re-probes the
// prior state's checks, quarantines the commit and records the outcome.
func (a *Agent) revert(ctx context.Context, st *State, e *Entry, o *Outcome, checks []policy.Check) (*Outcome, error) {
	e.Step = StepReverting
	if err := a.Journal.Write(e); err != nil {
		return nil, err
	}
	if err := a.Device.Settle(ctx, e.Plan, false); err != nil {
		if o, done, err := a.retryRevert(ctx, st, e, o, checks, err); done {
			return o, err
		}
	}
	if checks != nil {
		o.AfterRevert = a.settleProbe(ctx, checks)
	}
	o.Result, o.Reason, o.Finished = revertedResult(e), e.Reason, a.Clock.Now()
	if !e.Repair {
		st.Quarantined[o.Commit] = Quarantine{Reason: e.Reason, At: o.Finished}
	}
	a.log().Info("reverted", zap.String("commit", short(o.Commit)), zap.String("step", "reverted"), zap.String("reason", e.Reason))
	if err := a.finish(ctx, st, o); err != nil {
		return o, err
	}
	return o, a.Journal.Clear()
}

func (a *Agent) reject(ctx context.Context, st *State, o *Outcome, reason string, errs []string) (*Outcome, error) {
	o.Result, o.Reason, o.Errors, o.Finished = ResultRejected, reason, errs, a.Clock.Now()
	st.Rejected = o.Commit
	a.log().Warn("rejected", zap.String("commit", short(o.Commit)), zap.String("step", "rejected"), zap.String("reason", reason))
	return o, a.finish(ctx, st, o)
}

// finish records the outcome durably, then tries to publish it.
func (a *Agent) finish(ctx context.Context, st *State, o *Outcome) error {
	st.LastResult, st.LastCommit, st.LastAt = o.Result, o.Commit, o.Finished
	if a.Notes != nil {
		if err := a.Notes.Record(ctx, o); err != nil {
			return fmt.Errorf("record note: %w", err)
		}
	}
	if err := a.States.Save(st); err != nil {
		return err
	}
	a.publish(ctx)
	return nil
}

// publish pushes recorded notes; a failure leaves them local and marks
// them for the next sync, so a note written while the remote was away
// reaches it once it is back, even if nothing else happens.
func (a *Agent) publish(ctx context.Context) {
	if a.Notes == nil {
		return
	}
	if err := a.Notes.Publish(ctx); err != nil {
		a.unpublished = true
		a.log().Info("notes not published yet; will retry", zap.String("step", "publish"), zap.Error(err))
		return
	}
	a.unpublished = false
}

// deadmanFired records a change the device-side dead-man undid before the
// agent could keep it (the agent died or lost its path to the device past
// the deadline). The gate passed, so the commit is not quarantined: the next
// poll applies it again.
func (a *Agent) deadmanFired(ctx context.Context, st *State, e *Entry, o *Outcome, prev *policy.Network) (*Outcome, error) {
	o.Result, o.Finished, o.Reason = revertedResult(e), a.Clock.Now(), DeadmanFiredReason
	if checks := a.checksOf(prev); checks != nil {
		o.AfterRevert = a.Prober.Probe(ctx, checks)
	}
	a.log().Info("dead-man fired before keep", zap.String("commit", short(o.Commit)), zap.String("step", "reverted"))
	if err := a.finish(ctx, st, o); err != nil {
		return o, err
	}
	return o, a.Journal.Clear()
}
