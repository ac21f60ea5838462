package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/tether-net/tether/policy"
)

// Sync polls the source once and processes a new head, or checks the
// running commit for drift when nothing moved. It returns the outcome of
// what it did (nil when there was nothing to do).
func (a *Agent) Sync(ctx context.Context) (*Outcome, error) {
	st, err := a.States.Load()
	if err != nil {
		return nil, err
	}
	_, head, err := a.Source.Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("poll repo: %w", err)
	}
	if head.IsZero() {
		return nil, nil // empty repo
	}
	a.witness(ctx, st, head.String())
	if c := head.String(); c != st.Running && c != st.Rejected && !isQuarantined(st, c) {
		return a.Process(ctx, head)
	}
	if st.Running != "" {
		if now := a.Clock.Now(); a.lastDrift.IsZero() || now.Sub(a.lastDrift) >= a.DriftInterval {
			a.lastDrift = now
			return a.checkDrift(ctx, st)
		}
	}
	return nil, nil
}

func isQuarantined(st *State, c string) bool { _, q := st.Quarantined[c]; return q }

// Process runs the transaction for one commit.
func (a *Agent) Process(ctx context.Context, commit plumbing.Hash) (*Outcome, error) {
	log := a.log().With(zap.String("commit", short(commit.String())))
	st, err := a.States.Load()
	if err != nil {
		return nil, err
	}
	c := commit.String()
	if isQuarantined(st, c) {
		log.Info("skipping quarantined commit", zap.String("step", "skip"))
		return nil, nil
	}
	if c == st.Rejected {
		return nil, nil // recorded once; wait for the branch to move
	}
	o := &Outcome{Site: a.Site, Commit: c, Started: a.Clock.Now(), Version: a.Version, Host: a.Host}
	if st.Accepted != "" && st.Accepted != c {
		if err := a.Source.Verify(ctx, plumbing.NewHash(st.Accepted), commit); err != nil {
			return a.reject(ctx, st, o, "untrusted commit: "+err.Error(), nil)
		}
	} else if st.Accepted == "" {
		if err := a.Source.Verify(ctx, plumbing.ZeroHash, commit); err != nil {
			return a.reject(ctx, st, o, "untrusted commit: "+err.Error(), nil)
		}
	}
	st.Accepted = c
	if err := a.States.Save(st); err != nil {
		return nil, err
	}
	n, problems, err := a.load(ctx, commit)
	if err != nil {
		return nil, err
	}
	if problems.HasErrors() {
		var lines []string
		for _, p := range problems.Errors() {
			lines = append(lines, p.String())
		}
		return a.reject(ctx, st, o, fmt.Sprintf("invalid network: %d error(s)", len(lines)), lines)
	}
	if n.Sites[a.Site] == nil {
		return a.reject(ctx, st, o, fmt.Sprintf("site %q is not in the network (sites: %v)", a.Site, n.SiteNames()), nil)
	}
	plan, err := a.Device.Plan(ctx, n, a.Site)
	if errors.Is(err, ErrPermanent) {
		return a.reject(ctx, st, o, err.Error(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if plan.Empty() {
		log.Info("planned", zap.String("step", "plan"), zap.String("digest", plan.Digest), zap.Int("changes", 0))
		o.Result, o.Finished = ResultUnchanged, a.Clock.Now()
		st.Running = c
		return o, a.finish(ctx, st, o)
	}
	var prev *policy.Network
	if st.Running != "" {
		if p, problems, err := a.load(ctx, plumbing.NewHash(st.Running)); err == nil && !problems.HasErrors() && p.Sites[a.Site] != nil {
			prev = p
		}
	}
	twoEnded := twoEndedLinks(prev, n, a.Site)
	if halt := a.farEndGaveUp(ctx, n, c, twoEnded); halt != "" {
		return a.reject(ctx, st, o, halt, nil)
	}
	if wait, halt := a.waitForWaves(ctx, n, c, twoEnded); halt != "" {
		return a.reject(ctx, st, o, halt, nil)
	} else if wait != "" {
		log.Info("waiting for an earlier rollout wave", zap.String("step", "wave"), zap.String("reason", wait))
		return nil, nil
	}
	log.Info("planned", zap.String("step", "plan"), zap.String("digest", plan.Digest), zap.Int("changes", len(plan.Changes)))
	in := GateInput{TwoEnded: twoEnded, Fresh: touchedPeers(prev, n, a.Site)}
	o.Witnesses = witnessesOf(prev, n, a.Site, twoEnded)
	return a.transact(ctx, st, n, prev, plan, o, in, false)
}

// The last network loaded is kept: an idle poll (drift check, witness side)
// loads the running commit again, and a commit's tree never changes, so it
// is not read and parsed again. Callers must not modify the network.
func (a *Agent) load(ctx context.Context, commit plumbing.Hash) (*policy.Network, policy.Problems, error) {
	if c := a.loaded; c != nil && c.commit == commit {
		return c.n, c.problems, nil
	}
	fsys, err := a.Source.Tree(ctx, commit, a.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("read network at %s: %w", short(commit.String()), err)
	}
	n, problems := policy.Load(fsys, ".")
	a.loaded = &loadedNetwork{commit: commit, n: n, problems: problems}
	return n, problems, nil
}

// loadedNetwork is the network of one commit as Agent.load returned it.
type loadedNetwork struct {
	commit   plumbing.Hash
	n        *policy.Network
	problems policy.Problems
}
