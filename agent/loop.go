package agent

import (
	"context"
	"io/fs"
	mrand "math/rand/v2"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/backoff"
	"github.com/tether-net/tether/agent/notes"
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

// DeadmanFiredReason is the reason of a revert by the device's own dead-man
// after a passed gate. Such a commit is not quarantined and is applied
// again at the next poll, so other sites must not read the revert as the
// site's last word on it (notebook.Git.Result).
const DeadmanFiredReason = "the device's dead-man restored the prior state before the agent could keep the change"

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
