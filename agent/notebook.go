package agent

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/agent/secret"
)

// GitNotebook records outcomes in the per-site notes refs of the agent's
// clone (agent/notes) and reads other sites' notes for two-ended changes.
type GitNotebook struct {
	Own *notes.Store
	// Other opens a read-only view of another site's notes.
	Other func(site string) (*notes.Store, error)

	mu     sync.Mutex
	others map[string]*notes.Store
}

// Record appends the outcome to the commit's note in this site's ref, once
// per transaction and result: an agent killed after recording but before
// clearing its journal settles the transaction again when it restarts, and
// that must not read as a second attempt. (A later outcome of the same
// transaction, such as recovered after revert-failed, is recorded.)
func (g *GitNotebook) Record(ctx context.Context, o *Outcome) error {
	commit := plumbing.NewHash(o.Commit)
	if o.TxnID != "" {
		n, err := g.Own.Read(ctx, commit)
		if err != nil {
			return err
		}
		if n != nil {
			for _, a := range n.Attempts {
				if a.Txn == o.TxnID && string(a.Result) == o.Result {
					return nil
				}
			}
		}
	}
	return g.Own.Add(ctx, commit, ToAttempt(o))
}

// Publish pushes unpublished notes; on failure they stay local.
func (g *GitNotebook) Publish(ctx context.Context) error { return g.Own.Push(ctx) }

// Result fetches site's notes ref (only that one; at most once per the
// store's MinFetchInterval) and returns site's latest settled result for
// commit (see settledResult).
func (g *GitNotebook) Result(ctx context.Context, commit, site string) (string, error) {
	attempts, err := g.Attempts(ctx, commit, site)
	if err != nil {
		return "", err
	}
	return settledResult(attempts), nil
}

// Attempts fetches site's notes ref (only that one; at most once per the
// store's MinFetchInterval) and returns its attempts on commit, oldest
// first (nil when it has none).
func (g *GitNotebook) Attempts(ctx context.Context, commit, site string) ([]notes.Attempt, error) {
	s, err := g.other(site)
	if err != nil {
		return nil, err
	}
	if err := s.Fetch(ctx); err != nil {
		return nil, err
	}
	return readAttempts(ctx, s, commit)
}

// Results is Result for several sites with one ref listing and at most one
// fetch for all of them (a wave check), so its cost follows len(sites), not
// the fleet. A site with no note on commit maps to "".
func (g *GitNotebook) Results(ctx context.Context, commit string, sites []string) (map[string]string, error) {
	if err := g.Own.FetchSites(ctx, sites...); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sites))
	for _, site := range sites {
		s, err := g.other(site)
		if err != nil {
			return nil, err
		}
		attempts, err := readAttempts(ctx, s, commit)
		if err != nil {
			return nil, err
		}
		out[site] = settledResult(attempts)
	}
	return out, nil
}

// AttemptsOf is Attempts for several sites with one ref listing and at most
// one fetch for all of them.
func (g *GitNotebook) AttemptsOf(ctx context.Context, commit string, sites []string) (map[string][]notes.Attempt, error) {
	if len(sites) == 0 {
		return nil, nil
	}
	if err := g.Own.FetchSites(ctx, sites...); err != nil {
		return nil, err
	}
	out := make(map[string][]notes.Attempt, len(sites))
	for _, site := range sites {
		s, err := g.other(site)
		if err != nil {
			return nil, err
		}
		if out[site], err = readAttempts(ctx, s, commit); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OwnAttempts returns this site's attempts on commit from its local ref.
func (g *GitNotebook) OwnAttempts(ctx context.Context, commit string) ([]notes.Attempt, error) {
	return readAttempts(ctx, g.Own, commit)
}

func readAttempts(ctx context.Context, s *notes.Store, commit string) ([]notes.Attempt, error) {
	n, err := s.Read(ctx, plumbing.NewHash(commit))
	if err != nil || n == nil {
		return nil, err
	}
	return n.Attempts, nil
}

// other is the cached read-only view of site's notes.
func (g *GitNotebook) other(site string) (*notes.Store, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.others[site]; ok {
		return s, nil
	}
	s, err := g.Other(site)
	if err != nil {
		return nil, err
	}
	if g.others == nil {
		g.others = map[string]*notes.Store{}
	}
	g.others[site] = s
	return s, nil
}

// settledResult is the result of the latest attempt that speaks for the
// commit, or "" when there is none. An adopt only took ownership and a
// gating or witnessed attempt is part of a witnessed gate (a change still in
// flight, a verdict on another site's change), so they are skipped; a revert by the device's dead-man after a passed gate is not
// settled, because the site applies the commit again at its next poll.
func settledResult(attempts []notes.Attempt) string {
	for i := len(attempts) - 1; i >= 0; i-- {
		a := attempts[i]
		if isAdoptResult(string(a.Result)) || a.Result == notes.Gating || a.Result == notes.Witnessed {
			continue
		}
		if a.Result == notes.Reverted && a.Reason == secret.Redact(DeadmanFiredReason) {
			return ""
		}
		return string(a.Result)
	}
	return ""
}

// ToAttempt turns an outcome into the note's attempt table.
func ToAttempt(o *Outcome) notes.Attempt {
	a := notes.Attempt{
		Site: o.Site, Commit: o.Commit, Result: notes.Result(o.Result),
		Started: o.Started.UTC(), Finished: o.Finished.UTC(),
		AgentVersion: o.Version, Host: o.Host, Reason: secret.Redact(o.Reason), Errors: o.Errors,
		Txn: o.TxnID, Status: o.Status, Witnesses: o.Witnesses,
	}
	if len(o.Changes) > 0 {
		p := &notes.PlanSummary{}
		for _, c := range o.Changes {
			switch c.Op {
			case "add", "write":
				p.Adds++
			case "set":
				p.Sets++
			case "remove", "delete":
				p.Removes++
			case "move":
				p.Moves++
			}
			if len(p.Lines) < notes.MaxPlanLines {
				p.Lines = append(p.Lines, secret.Redact(changeLine(c)))
			}
		}
		a.Plan = p
	}
	for _, c := range o.Checks {
		status := notes.Fail
		if c.OK {
			status = notes.Pass
		}
		baseline := notes.Fail
		if c.BaselineOK {
			baseline = notes.Pass
		}
		ev := c.Evidence
		if c.Note != "" {
			ev += " (" + c.Note + ")"
		}
		a.Checks = append(a.Checks, notes.Check{Name: c.Name, Kind: c.Kind, Status: status, Baseline: baseline, MustPass: c.MustPass && c.Judged, Evidence: secret.Redact(ev)})
	}
	for _, r := range o.AfterRevert {
		status := notes.Fail
		if r.OK {
			status = notes.Pass
		}
		a.Checks = append(a.Checks, notes.Check{Name: "after revert: " + r.Name, Kind: r.Kind, Status: status, Evidence: secret.Redact(r.Evidence)})
	}
	return a
}

func changeLine(c Change) string {
	s := fmt.Sprintf("%s %s %s", c.Op, c.Where, c.What)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}
