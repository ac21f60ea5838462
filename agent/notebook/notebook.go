// Package notebook keeps the agent's outcomes in Git notes: it adapts
// agent/notes, one notes ref per site, to the loop's Notebook and the
// witnesses' and rollout's readers of other sites' notes.
package notebook

import (
	"context"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/notes"
)

// Git records outcomes in the per-site notes refs of the agent's
// clone (agent/notes) and reads other sites' notes for two-ended changes.
type Git struct {
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
func (g *Git) Record(ctx context.Context, o *agent.Outcome) error {
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
	return g.Own.Add(ctx, commit, agent.ToAttempt(o))
}

// Publish pushes unpublished notes; on failure they stay local.
func (g *Git) Publish(ctx context.Context) error { return g.Own.Push(ctx) }

// Result fetches site's notes ref (only that one; at most once per the
// store's MinFetchInterval) and returns site's latest settled result for
// commit (see agent.SettledResult).
func (g *Git) Result(ctx context.Context, commit, site string) (string, error) {
	attempts, err := g.Attempts(ctx, commit, site)
	if err != nil {
		return "", err
	}
	return agent.SettledResult(attempts), nil
}

// Attempts fetches site's notes ref (only that one; at most once per the
// store's MinFetchInterval) and returns its attempts on commit, oldest
// first (nil when it has none).
func (g *Git) Attempts(ctx context.Context, commit, site string) ([]notes.Attempt, error) {
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
func (g *Git) Results(ctx context.Context, commit string, sites []string) (map[string]string, error) {
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
		out[site] = agent.SettledResult(attempts)
	}
	return out, nil
}

// AttemptsOf is Attempts for several sites with one ref listing and at most
// one fetch for all of them.
func (g *Git) AttemptsOf(ctx context.Context, commit string, sites []string) (map[string][]notes.Attempt, error) {
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
func (g *Git) OwnAttempts(ctx context.Context, commit string) ([]notes.Attempt, error) {
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
func (g *Git) other(site string) (*notes.Store, error) {
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
