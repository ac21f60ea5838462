package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/backoff"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/policy"
)

// Results recorded in notes.
const (
	ResultApplied   = "applied"
	ResultReverted  = "reverted"
	ResultRejected  = "rejected"
	ResultUnchanged = "unchanged"
	ResultRepaired  = "repaired"
	ResultDrift     = "drift" // drift found and only reported (drift = "report")
)

// Source is the network repo as the loop sees it (agent/gitsource).
type Source interface {
	// Check polls the remote and fetches when the branch moved.
	Check(ctx context.Context) (changed bool, head plumbing.Hash, err error)
	// Verify refuses a head that does not descend from the last accepted
	// commit, or that lacks a required signature.
	Verify(ctx context.Context, from, to plumbing.Hash) error
	// Tree is the network folder at a commit.
	Tree(ctx context.Context, commit plumbing.Hash, dir string) (fs.FS, error)
}

// Notebook records outcomes as Git notes, one ref per site.
type Notebook interface {
	// Record appends the outcome to the commit's note locally and durably.
	Record(ctx context.Context, o *Outcome) error
	// Publish pushes unpublished notes; failures are retried on later calls.
	Publish(ctx context.Context) error
	// Result returns site's latest recorded result for commit, "" when it
	// has recorded none (yet).
	Result(ctx context.Context, commit, site string) (string, error)
}

// Outcome is one attempt at a commit, with its evidence.
type Outcome struct {
	TxnID       string         `json:"txn_id,omitempty"`
	Site        string         `json:"site"`
	Commit      string         `json:"commit"`
	Result      string         `json:"result"`
	Started     time.Time      `json:"started"`
	Finished    time.Time      `json:"finished"`
	Summary     map[string]int `json:"summary,omitempty"`
	Changes     []Change       `json:"changes,omitempty"`
	Checks      []CheckReport  `json:"checks,omitempty"`
	AfterRevert []CheckResult  `json:"after_revert,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	Errors      []string       `json:"errors,omitempty"`
	Version     string         `json:"agent_version"`
	Host        string         `json:"host"`
	// GateDuration is how long the health gate ran (0 without a gate).
	GateDuration time.Duration `json:"gate_duration,omitempty"`
	// Status is a witnessed outcome's verdict (notes.Healthy, notes.Regressed).
	Status string `json:"status,omitempty"`
	// Witnesses are the far ends of the one-ended links the change touches,
	// with their verdicts (see witness.go).
	Witnesses []notes.Witness `json:"witnesses,omitempty"`
}

// Observer sees the result of every sync (the metrics endpoint, the
// systemd watchdog). o is nil when there was nothing to do.
type Observer interface {
	Synced(o *Outcome, err error)
}

// Agent runs one site's transactions.
type Agent struct {
	Site    string
	Path    string // network folder inside the repo
	Source  Source
	Notes   Notebook
	Device  Device
	Prober  Prober
	Clock   Clock
	Log     *zap.Logger
	Journal *Journal
	States  *StateStore
	// Gate overrides the network's health settings when a field is non-zero.
	Gate   GateConfig
	Margin time.Duration // dead-man fires at gate deadline + margin (0: network default)
	Drift  string        // "repair" | "report" | "" (network default)
	// DriftInterval spaces drift checks of an idle site (0: every poll).
	// The first poll after start always checks: that restores a rebooted
	// host before anything else.
	DriftInterval time.Duration
	lastDrift     time.Time
	Version       string
	Host          string
	loaded        *loadedNetwork // the last network loaded (Agent.load)

	// witnessHead is the head commit the witness side last looked at and
	// witnessSince when it first saw it (witnessWindow).
	witnessHead  string
	witnessSince time.Time

	// NewTxnID replaces the device's transaction IDs (tests, for stable
	// names); nil keeps the ID the device's Plan set.
	NewTxnID func() string
	// Observer, when set, is told about every sync.
	Observer Observer

	// unpublished is set while recorded notes may not have reached the
	// remote; Run retries publishing after every good sync until they have.
	unpublished bool
}

// log is the agent's logger; every line carries the site.
func (a *Agent) log() *zap.Logger {
	if a.Log == nil {
		return zap.NewNop()
	}
	return a.Log.With(zap.String("site", a.Site))
}

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

// DeadmanFiredReason is the reason of a revert by the device's own dead-man
// after a passed gate. Such a commit is not quarantined and is applied
// again at the next poll, so other sites must not read the revert as the
// site's last word on it (GitNotebook.Result).
const DeadmanFiredReason = "the device's dead-man restored the prior state before the agent could keep the change"

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

// waitForWaves holds a commit back until every site of the earlier rollout
// waves has recorded an outcome for it. It returns a reason to wait, or a
// reason to halt when an earlier wave reverted or rejected the commit.
// Sites joined to this one by a link the commit changes at both ends are
// not waited for: that change has to land at both ends together, and the
// gate coordinates it.
func (a *Agent) waitForWaves(ctx context.Context, n *policy.Network, commit string, twoEnded map[string]bool) (wait, halt string) {
	if a.Notes == nil {
		return "", ""
	}
	mine := -1
	for i, w := range n.Rollout.Waves {
		if slices.Contains(w, a.Site) {
			mine = i
		}
	}
	coupled := map[string]bool{}
	for _, side := range n.LinksOf(a.Site) {
		if twoEnded[side.Link.Name] {
			coupled[side.Remote.Site] = true
		}
	}
	var earlier []string
	for i := 0; i < mine; i++ {
		for _, site := range n.Rollout.Waves[i] {
			if !coupled[site] {
				earlier = append(earlier, site)
			}
		}
	}
	results, batchErr := a.results(ctx, commit, earlier)
	for i := 0; i < mine; i++ {
		for _, site := range n.Rollout.Waves[i] {
			if coupled[site] {
				continue
			}
			r, err := results[site], batchErr
			switch {
			case err != nil:
				return fmt.Sprintf("cannot read %s's note: %v", site, err), ""
			case r == "":
				return fmt.Sprintf("%s (wave %d) has not recorded this commit yet", site, i+1), ""
			case r == ResultReverted || r == ResultRejected:
				return "", fmt.Sprintf("rollout halted: %s (wave %d) %s this commit", site, i+1, r)
			}
		}
	}
	return "", ""
}

// resultsReader is a Notebook that reads several sites' results with one
// fetch (GitNotebook), so a wave check costs what the wave holds, not one
// round trip per site.
type resultsReader interface {
	Results(ctx context.Context, commit string, sites []string) (map[string]string, error)
}

// results returns each site's latest result for commit.
func (a *Agent) results(ctx context.Context, commit string, sites []string) (map[string]string, error) {
	if len(sites) == 0 {
		return nil, nil
	}
	if rr, ok := a.Notes.(resultsReader); ok {
		return rr.Results(ctx, commit, sites)
	}
	out := make(map[string]string, len(sites))
	for _, site := range sites {
		r, err := a.Notes.Result(ctx, commit, site)
		if err != nil {
			return nil, err
		}
		out[site] = r
	}
	return out, nil
}

// farEndGaveUp returns a reason not to apply when the far end of a
// two-ended link has already reverted or rejected the commit: it is back at
// the link's prior configuration and will not apply this commit again, so
// applying here could only take the link down until the gate gives up.
func (a *Agent) farEndGaveUp(ctx context.Context, n *policy.Network, commit string, twoEnded map[string]bool) string {
	if a.Notes == nil {
		return ""
	}
	for _, side := range n.LinksOf(a.Site) {
		if !twoEnded[side.Link.Name] {
			continue
		}
		far := side.Remote.Site
		r, err := a.Notes.Result(ctx, commit, far)
		if err != nil {
			// Unknown is not "gave up": the gate reads the note again.
			a.log().Info("cannot read the far end's note", zap.String("step", "coupling"), zap.String("far_end", far), zap.Error(err))
			continue
		}
		if r == ResultReverted || r == ResultRejected {
			return fmt.Sprintf("the far end of %s (%s) %s this commit; the link changes at both ends, so it is not applied here", side.Link.Name, far, r)
		}
	}
	return ""
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

// Run recovers, then syncs every interval (with jitter) or when kicked,
// retrying transient failures with jittered exponential backoff.
func (a *Agent) Run(ctx context.Context, interval time.Duration, kick <-chan struct{}) error {
	// A transaction an earlier run left in flight is settled first; its
	// outcome reaches the observer (metrics, notifications) like any other.
	o, err := a.Recover(ctx)
	if err != nil {
		a.log().Error("recovery failed", zap.Error(err))
	}
	if o != nil && a.Observer != nil {
		a.Observer.Synced(o, nil)
	}
	a.unpublished = true // notes from an earlier run may be waiting
	failures := 0
	for {
		wait := jitter(interval, 0.1)
		o, err := a.Sync(ctx)
		if a.Observer != nil {
			a.Observer.Synced(o, err)
		}
		if err == nil && a.unpublished {
			a.publish(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			wait = retryWait(interval, failures)
			a.log().Warn("sync failed; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-kick:
		case <-a.Clock.After(wait):
		}
	}
}

func jitter(d time.Duration, frac float64) time.Duration {
	return time.Duration(float64(d) * (1 + frac*(2*mrand.Float64()-1)))
}

// retryWait grows from 1s to 4x the poll interval.
func retryWait(interval time.Duration, failures int) time.Duration {
	return backoff.Policy{First: time.Second, Max: 4 * interval}.Wait(failures, nil)
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
