package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/safefile"
	"github.com/tether-net/tether/policy"
)

// Results of a revert that could not be completed and of its deliberate
// resolution (tether recover).
const (
	ResultRevertFailed = "revert-failed"
	ResultRecovered    = "recovered"
)

// revertRetryWaits are the pauses before each retry of a failed revert:
// long enough for a unit that is restarting or a lock held by the dead-man
// to clear, short enough that the agent is back to serving within a minute.
var revertRetryWaits = []time.Duration{5 * time.Second, 15 * time.Second, 30 * time.Second}

// Attention is a transaction the agent could not revert: the device may be
// anywhere between the change and the prior state. It is kept until a
// commit that fixes forward applies, or an operator resolves it with
// `tether recover`.
type Attention struct {
	Commit string    `json:"commit"`
	TxnID  string    `json:"txn_id"`
	Since  time.Time `json:"since"`
	// Reason is why the change was being reverted.
	Reason string `json:"reason"`
	// Errors holds every failed revert attempt's error, oldest first.
	Errors []string `json:"errors"`
	// Plan is the transaction's plan, so --retry can run its Undo again.
	Plan *Plan `json:"plan"`
}

// AttentionStore keeps the Attention in the state dir (attention.json).
type AttentionStore struct{ path string }

// NewAttentionStore returns the store in dir.
func NewAttentionStore(dir string) *AttentionStore {
	return &AttentionStore{path: filepath.Join(dir, "attention.json")}
}

// Load returns the site's open Attention, or nil.
func (s *AttentionStore) Load() (*Attention, error) {
	var at Attention
	if ok, err := readJSON(s.path, "attention", &at); !ok {
		return nil, err
	}
	return &at, nil
}

// Save records at durably.
func (s *AttentionStore) Save(at *Attention) error {
	return writeJSON(s.path, "attention", at)
}

// Clear ends the Attention.
func (s *AttentionStore) Clear() error {
	if err := safefile.Remove(s.path); err != nil {
		return fmt.Errorf("clear attention: %w", err)
	}
	return nil
}

// attention is the store beside the agent's state.
func (a *Agent) attention() *AttentionStore { return NewAttentionStore(filepath.Dir(a.States.path)) }

// needsAttention reports whether a failed revert is unresolved; drift is
// then only reported, since repairing it would run the same failing undo
// again on every poll.
func (a *Agent) needsAttention() bool {
	at, err := a.attention().Load()
	return err != nil || at != nil
}

// retryRevert is called when the revert of e failed with err. It retries
// a bounded number of times; when a retry works it returns done=false and
// revert carries on as usual. Otherwise it disarms the device's dead-man
// (a late timer must not undo a later fix-forward), records a
// revert-failed note with every error, quarantines the commit, keeps an
// Attention for `tether recover`, clears the journal and returns done=true:
// the agent keeps serving.
func (a *Agent) retryRevert(ctx context.Context, st *State, e *Entry, o *Outcome, checks []policy.Check, err error) (_ *Outcome, done bool, _ error) {
	log := a.log().With(zap.String("commit", short(e.Commit)))
	errs := []string{err.Error()}
	for i, wait := range revertRetryWaits {
		log.Warn("revert failed; retrying", zap.String("step", "revert-retry"), zap.Int("attempt", i+2), zap.Duration("retry_in", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, true, fmt.Errorf("revert: %w (stopped while retrying: %w)", err, ctx.Err())
		case <-a.Clock.After(wait):
		}
		if err = a.Device.Settle(ctx, e.Plan, false); err == nil {
			return nil, false, nil
		}
		errs = append(errs, err.Error())
	}
	if derr := a.Device.Settle(ctx, e.Plan, true); errors.Is(derr, ErrDeadmanFired) {
		return nil, false, nil // the device's own dead-man managed the revert
	} else if derr != nil {
		errs = append(errs, "disarm the dead-man: "+derr.Error())
	}
	o.Result, o.Finished = ResultRevertFailed, a.Clock.Now()
	o.Reason = fmt.Sprintf("%s; the revert failed %d times and the site needs attention (tether recover): %s",
		e.Reason, len(revertRetryWaits)+1, errs[len(errs)-1])
	o.Errors = errs
	if checks != nil {
		o.AfterRevert = a.Prober.Probe(ctx, checks)
	}
	if !e.Repair {
		st.Quarantined[o.Commit] = Quarantine{Reason: e.Reason, At: o.Finished}
	}
	at := &Attention{Commit: e.Commit, TxnID: e.TxnID, Since: o.Finished, Reason: e.Reason, Errors: errs, Plan: e.Plan}
	if err := a.attention().Save(at); err != nil {
		return nil, true, err
	}
	log.Error("revert failed; the site needs attention", zap.String("step", ResultRevertFailed), zap.Strings("errors", errs))
	if err := a.finish(ctx, st, o); err != nil {
		return o, true, err
	}
	return o, true, a.Journal.Clear()
}

// fixedForward ends an open Attention when a new commit applied and passed
// the gate: the device is at a known, healthy state again. The outcome's
// reason says what it resolved.
func (a *Agent) fixedForward(o *Outcome) {
	store := a.attention()
	at, err := store.Load()
	if err != nil || at == nil || at.Commit == o.Commit {
		return
	}
	if err := store.Clear(); err != nil {
		a.log().Warn("attention not cleared", zap.Error(err))
		return
	}
	msg := fmt.Sprintf("resolves the failed revert of %s (txn %s)", short(at.Commit), at.TxnID)
	if o.Reason != "" {
		msg = o.Reason + "; " + msg
	}
	o.Reason = msg
}

// Recover modes for ResolveAttention.
const (
	RecoverAcceptCurrent = "accept-current"
	RecoverRetry         = "retry"
)

// ResolveAttention ends a failed revert deliberately (tether recover) and
// records how in a note on the failed commit. RecoverRetry runs the
// transaction's undo once more and keeps the Attention if it fails again;
// RecoverAcceptCurrent leaves the device as it is: later polls check it
// for drift against the running commit as usual.
func (a *Agent) ResolveAttention(ctx context.Context, mode string) (*Outcome, error) {
	store := a.attention()
	at, err := store.Load()
	if err != nil {
		return nil, err
	}
	if at == nil {
		return nil, errors.New("no failed revert to resolve: the site does not need attention")
	}
	st, err := a.States.Load()
	if err != nil {
		return nil, err
	}
	o := &Outcome{TxnID: at.TxnID, Site: a.Site, Commit: at.Commit, Started: a.Clock.Now(), Version: a.Version, Host: a.Host, Result: ResultRecovered}
	switch mode {
	case RecoverRetry:
		if err := a.Device.Settle(ctx, at.Plan, false); err != nil {
			at.Errors = append(at.Errors, "tether recover --retry: "+err.Error())
			if serr := store.Save(at); serr != nil {
				return nil, errors.Join(err, serr)
			}
			return nil, fmt.Errorf("the revert failed again; the site still needs attention: %w", err)
		}
		// The undo ran; the dead-man it re-armed (if any) is disarmed by
		// the revert itself.
		o.Reason = fmt.Sprintf("the failed revert of txn %s was retried by hand (tether recover --retry) and restored the prior state", at.TxnID)
	case RecoverAcceptCurrent:
		o.Reason = fmt.Sprintf("the device's current state was accepted by hand (tether recover --accept-current); the failed revert of txn %s is abandoned and drift is checked against %s again",
			at.TxnID, orNone(short(st.Running)))
	default:
		return nil, fmt.Errorf("unknown recover mode %q (want %s or %s)", mode, RecoverAcceptCurrent, RecoverRetry)
	}
	o.Finished = a.Clock.Now()
	a.log().Info("failed revert resolved", zap.String("commit", short(at.Commit)), zap.String("step", ResultRecovered), zap.String("mode", mode))
	if err := a.finish(ctx, st, o); err != nil {
		return o, err
	}
	return o, store.Clear()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
