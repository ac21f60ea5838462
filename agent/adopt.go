package agent

import (
	"context"
	"fmt"

	"github.com/tether-net/tether/policy"
)

// ResultAdopted records a transaction that only took ownership of items the
// device already had (tether adopt).
const ResultAdopted = "adopted"

// finalResult is the result of a kept transaction.
func finalResult(e *Entry) string {
	switch {
	case e.Adopt:
		return ResultAdopted
	case e.Repair:
		return ResultRepaired
	}
	return ResultApplied
}

// Adopt runs a plan that only marks existing items as tether's through the
// same transaction as a commit: journal, dead-man, health gate, revert on
// failure, and a note on commit with result "adopted" (or "reverted"). It
// neither changes which commit runs at the site nor quarantines commit, so
// the next sync applies the rest of it as usual.
func (a *Agent) Adopt(ctx context.Context, commit string, n *policy.Network, plan *Plan) (*Outcome, error) {
	if plan.Empty() {
		return nil, nil
	}
	st, err := a.States.Load()
	if err != nil {
		return nil, err
	}
	if e, err := a.Journal.Read(); err != nil {
		return nil, err
	} else if e != nil {
		return nil, fmt.Errorf("adopt: transaction %s is still in flight (%s); let the agent finish it or run tether revert", e.TxnID, e.Step)
	}
	o := &Outcome{Site: a.Site, Commit: commit, Started: a.Clock.Now(), Version: a.Version, Host: a.Host, Result: ResultAdopted,
		Reason: fmt.Sprintf("tether adopt: %d existing item(s) marked as tether's, comment only", len(plan.Changes))}
	// The gate judges the site's checks; those the adopted items do not
	// serve yet failed before too and are excused by the baseline.
	return a.transact(ctx, st, n, n, plan, o, GateInput{}, true)
}
