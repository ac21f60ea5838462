package agent

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/policy"
)

// Results of tether adopt: a transaction that only took ownership of items
// the device already had, kept or reverted. Neither is the commit's result
// (peers and rollout waves skip them).
const (
	ResultAdopted       = "adopted"
	ResultAdoptReverted = "adopt-reverted"
)

// isAdoptResult reports whether a note's result is an adopt's.
func isAdoptResult(r string) bool { return r == ResultAdopted || r == ResultAdoptReverted }

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

// revertedResult is the result of a reverted transaction.
func revertedResult(e *Entry) string {
	if e.Adopt {
		return ResultAdoptReverted
	}
	return ResultReverted
}

// Adopt runs a plan that only marks existing items as tether's through the
// same transaction as a commit: journal, dead-man, health gate, revert on
// failure, and a note on commit with result "adopted" (or
// "adopt-reverted"). commit must be trusted like any commit the agent
// applies, since the items to adopt come from its declarations. Adopt
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
	if commit != st.Accepted {
		from := plumbing.ZeroHash
		if st.Accepted != "" {
			from = plumbing.NewHash(st.Accepted)
		}
		if err := a.Source.Verify(ctx, from, plumbing.NewHash(commit)); err != nil {
			return nil, fmt.Errorf("adopt: untrusted commit %s: %w", short(commit), err)
		}
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
