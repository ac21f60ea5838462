package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/policy"
)

// Witnessed gates. A site's own gate sees only its side of a link; a change
// that breaks the far end (an export filter that stops announcing the
// default) keeps its own checks green. So while a site gates a change that
// touches a link whose far end did not change (one-ended), the far end
// witnesses it:
//
//  1. The changing site records a `gating` attempt naming each witness
//     (site and link, status pending) and pushes it before it applies.
//  2. A witness polling the repo finds the far end's latest attempt on the
//     head is `gating` and names it, and gates its own checks of that link
//     against its last known health (State.Health), within what is left of
//     the changing site's wait. It records a `witnessed` attempt on the same
//     commit in its own ref (same txn, status healthy or regressed, its
//     checks as evidence) and pushes it.
//  3. After its own gate passes, the changing site reads the witnesses'
//     notes until each has answered or the wait (health.witness_wait,
//     counted from the gating note) ends. A regression reverts the change;
//     a silent witness is recorded `unwitnessed` and the change is kept.
//
// Two-ended links are not witnessed: both ends change and gate the link
// against each other's notes already.

// WitnessNotes is what witnessed gates need of the notebook beyond
// Notebook; a notebook without it turns witnessing off.
type WitnessNotes interface {
	// Attempts fetches site's notes and returns its attempts on commit.
	Attempts(ctx context.Context, commit, site string) ([]notes.Attempt, error)
	// OwnAttempts returns this site's attempts on commit.
	OwnAttempts(ctx context.Context, commit string) ([]notes.Attempt, error)
}

// witnessesOf names the far ends that witness the change from prev to n:
// one per link whose configuration at this site the change alters while
// the far end's stays as it was. A bootstrap (no prev) has none.
func witnessesOf(prev, n *policy.Network, site string, twoEnded map[string]bool) []notes.Witness {
	if prev == nil {
		return nil
	}
	var out []notes.Witness
	for _, side := range n.LinksOf(site) {
		link := side.Link.Name
		if twoEnded[link] || prev.Links[link] == nil || farEndView(prev, site, link) == farEndView(n, site, link) {
			continue
		}
		out = append(out, notes.Witness{Site: side.Remote.Site, Link: link, Status: notes.Pending})
	}
	return out
}

// witnessBook returns the notebook's witness side when witnessing is on.
func (a *Agent) witnessBook(cfg GateConfig) WitnessNotes {
	wn, ok := a.Notes.(WitnessNotes)
	if !ok || cfg.WitnessWait <= 0 {
		return nil
	}
	return wn
}

// announceGating records and pushes the gating attempt the witnesses look
// for. A push that fails leaves them blind; they then count as unwitnessed.
func (a *Agent) announceGating(ctx context.Context, o *Outcome) {
	g := *o
	g.Result, g.Finished = string(notes.Gating), a.Clock.Now()
	if err := a.Notes.Record(ctx, &g); err != nil {
		a.log().Warn("cannot record the gating note; witnesses will not see the change", zap.Error(err))
		return
	}
	a.publish(ctx)
}

// awaitWitnesses collects the witnesses' verdicts on o's transaction until
// each has answered or until (the gating note plus the wait); it returns
// them and the first regression ("" when none). With poll false it reads
// once and does not wait.
func (a *Agent) awaitWitnesses(ctx context.Context, wn WitnessNotes, o *Outcome, until time.Time, interval time.Duration, poll bool) ([]notes.Witness, string) {
	out := slices.Clone(o.Witnesses)
	for {
		pending := 0
		for i, w := range out {
			if w.Status != notes.Pending {
				continue
			}
			if v, ok := a.verdict(ctx, wn, o, w); ok {
				out[i] = v
				continue
			}
			pending++
		}
		for _, w := range out {
			if w.Status == notes.Regressed {
				return out, fmt.Sprintf("witness %s reported a regression on %s: %s", w.Site, w.Link, w.Evidence)
			}
		}
		if pending == 0 || !poll || !a.Clock.Now().Before(until) {
			break
		}
		wait := min(interval, until.Sub(a.Clock.Now()))
		select {
		case <-ctx.Done():
			poll = false
		case <-a.Clock.After(wait):
		}
	}
	for i := range out {
		if out[i].Status == notes.Pending && poll {
			out[i].Status, out[i].Evidence = notes.Unwitnessed, "no verdict within the witness wait"
		}
	}
	return out, ""
}

// verdict reads witness w's answer for o's transaction, if it has one.
func (a *Agent) verdict(ctx context.Context, wn WitnessNotes, o *Outcome, w notes.Witness) (notes.Witness, bool) {
	attempts, err := wn.Attempts(ctx, o.Commit, w.Site)
	if err != nil {
		a.log().Info("cannot read a witness's note", zap.String("step", "witness"), zap.String("witness", w.Site), zap.Error(err))
		return w, false
	}
	for _, at := range slices.Backward(attempts) {
		if at.Result != notes.Witnessed || at.Txn != o.TxnID {
			continue
		}
		for _, v := range at.Witnesses {
			if v.Link == w.Link {
				v.Site = w.Site
				return v, true
			}
		}
	}
	return w, false
}

// witness answers the far ends' changes in flight on commit: for each
// link of this site whose far end's latest attempt is gating and names this
// site, it gates its own checks of those links and records the verdict.
func (a *Agent) witness(ctx context.Context, st *State, commit string) {
	if a.Notes == nil || st.Running == "" {
		return
	}
	// Far ends gate a commit within a few polls of its push; looking for
	// their gating notes costs a fetch per poll, so a witness looks only
	// for witnessWindow after it first saw the commit at the head. A far
	// end later than that is kept as unwitnessed.
	now := a.Clock.Now()
	if commit != a.witnessHead {
		a.witnessHead, a.witnessSince = commit, now
	}
	if now.Sub(a.witnessSince) > witnessWindow {
		return
	}
	n, problems, err := a.load(ctx, plumbing.NewHash(st.Running))
	if err != nil || problems.HasErrors() || n.Sites[a.Site] == nil {
		return
	}
	cfg := a.gateConfig(n.Sites[a.Site])
	wn := a.witnessBook(cfg)
	if wn == nil {
		return
	}
	var fars []string
	for _, side := range n.LinksOf(a.Site) {
		if !slices.Contains(fars, side.Remote.Site) {
			fars = append(fars, side.Remote.Site)
		}
	}
	all, err := attemptsOf(ctx, wn, commit, fars)
	if err != nil {
		return
	}
	for _, far := range fars {
		attempts := all[far]
		if len(attempts) == 0 {
			continue
		}
		g := attempts[len(attempts)-1]
		if g.Result != notes.Gating {
			continue
		}
		var links []string
		for _, w := range g.Witnesses {
			if w.Site == a.Site {
				links = append(links, w.Link)
			}
		}
		if len(links) == 0 || a.answered(ctx, wn, commit, g.Txn) {
			continue
		}
		a.witnessChange(ctx, st, n, cfg, g, links)
	}
}

func (a *Agent) answered(ctx context.Context, wn WitnessNotes, commit, txn string) bool {
	own, err := wn.OwnAttempts(ctx, commit)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(own, func(at notes.Attempt) bool { return at.Result == notes.Witnessed && at.Txn == txn })
}

// witnessChange gates this site's checks of links against the far end's
// change g and records the verdict. The baseline is the last known health
// of each check (the change is usually live by the time a poll sees its
// note), or the first probe for a check never seen before.
func (a *Agent) witnessChange(ctx context.Context, st *State, n *policy.Network, cfg GateConfig, g notes.Attempt, links []string) {
	log := a.log().With(zap.String("commit", short(g.Commit)), zap.String("changing", g.Site), zap.String("step", "witness"))
	var checks []policy.Check
	for _, c := range n.HealthChecks(a.Site) {
		if slices.Contains(links, c.Link) {
			checks = append(checks, c)
		}
	}
	// Answer within the changing site's wait, one poll early.
	left := g.Started.Add(cfg.WitnessWait).Sub(a.Clock.Now()) - cfg.Interval
	if left <= 0 {
		log.Info("too late to witness the change")
		return
	}
	cfg.Deadline = min(cfg.Deadline, left)
	cfg.StableWindow = min(cfg.StableWindow, cfg.Deadline/2)
	gate := &Gate{Prober: a.Prober, Clock: a.Clock, Config: cfg}
	first := gate.Baseline(ctx, checks)
	baseline := make([]CheckResult, len(checks))
	for i, c := range checks {
		baseline[i] = first[i]
		if ok, known := st.Health[c.Name]; known {
			baseline[i].OK = ok
		}
	}
	started := a.Clock.Now()
	res := gate.Run(ctx, GateInput{Checks: checks, Baseline: baseline})
	status, evidence := notes.Healthy, summarize(res.Checks)
	if !res.Passed {
		status, evidence = notes.Regressed, res.Reason
	}
	o := &Outcome{TxnID: g.Txn, Site: a.Site, Commit: g.Commit, Result: string(notes.Witnessed), Status: status,
		Started: started, Finished: a.Clock.Now(), Checks: res.Checks, GateDuration: res.Duration,
		Reason:  fmt.Sprintf("witnessed %s's change on %s: %s", g.Site, strings.Join(links, ", "), status),
		Version: a.Version, Host: a.Host}
	for _, l := range links {
		o.Witnesses = append(o.Witnesses, notes.Witness{Site: a.Site, Link: l, Status: status, Evidence: evidence})
	}
	log.Info("witnessed", zap.String("status", status), zap.String("evidence", evidence), zap.Duration("duration", res.Duration))
	if err := a.Notes.Record(ctx, o); err != nil {
		log.Warn("cannot record the witness verdict", zap.Error(err))
		return
	}
	a.publish(ctx)
	if res.Passed {
		a.remember(st, res.Checks)
	}
}

// remember keeps the checks' health as the last known, the witness's
// baseline for the next change in flight.
func (a *Agent) remember(st *State, reports []CheckReport) {
	if st.Health == nil {
		st.Health = map[string]bool{}
	}
	for _, r := range reports {
		st.Health[r.Name] = r.OK
	}
	if err := a.States.Save(st); err != nil {
		a.log().Warn("cannot save the checks' last known health", zap.Error(err))
	}
}

// summarize is a healthy verdict's evidence: each judged check's last
// observation.
func summarize(reports []CheckReport) string {
	var parts []string
	for _, r := range reports {
		s := r.Name + ": " + r.Evidence
		if r.Note != "" {
			s += " (" + r.Note + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no checks on the link"
	}
	return strings.Join(parts, "; ")
}

// witnessWindow bounds how long after a commit reaches the head a site keeps
// looking for its far ends' gating notes on it.
const witnessWindow = 15 * time.Minute

// sitesAttempts is a WitnessNotes that reads several sites' notes with one
// fetch (notebook.Git), so a hub's poll costs one request, not one per spoke.
type sitesAttempts interface {
	AttemptsOf(ctx context.Context, commit string, sites []string) (map[string][]notes.Attempt, error)
}

// attemptsOf returns each site's attempts on commit.
func attemptsOf(ctx context.Context, wn WitnessNotes, commit string, sites []string) (map[string][]notes.Attempt, error) {
	if sa, ok := wn.(sitesAttempts); ok {
		return sa.AttemptsOf(ctx, commit, sites)
	}
	out := make(map[string][]notes.Attempt, len(sites))
	for _, site := range sites {
		at, err := wn.Attempts(ctx, commit, site)
		if err != nil {
			return nil, err
		}
		out[site] = at
	}
	return out, nil
}
