package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// stuckRevert is fakeDevice whose undo fails while stuck is set (the
// networkd step of the relay), counting every attempt.
type stuckRevert struct {
	*fakeDevice
	stuck    bool
	reverts  int
	disarmed int
}

func (d *stuckRevert) Settle(ctx context.Context, p *Plan, keep bool) error {
	if keep {
		d.disarmed++
		d.armed = false
		return nil
	}
	d.reverts++
	if d.stuck {
		return errors.New("systemctl reload systemd-networkd.service: exit 1: unit not found")
	}
	return d.fakeDevice.Settle(ctx, p, keep)
}

func stuckHarness(t *testing.T) (*harness, *stuckRevert) {
	h := newHarness(t)
	dev := &stuckRevert{fakeDevice: h.dev}
	h.agent.Device = dev
	return h, dev
}

// TestRevertFailedNeverWedges: a revert that keeps failing is retried a
// bounded number of times, then noted revert-failed with every error, the
// dead-man is disarmed and the agent keeps serving — drift is only reported
// while the site needs attention, `recover --retry` resolves it (and fails
// loudly while the cause persists), and a later commit applies.
func TestRevertFailedNeverWedges(t *testing.T) {
	h, dev := stuckHarness(t)
	good := h.repo.push(network(51821))
	h.sync(t)
	dev.stuck, dev.disarmed = true, 0
	bad := h.repo.push(network(9999))
	start := h.clock.now
	o := h.sync(t)
	if o == nil || o.Result != ResultRevertFailed {
		t.Fatalf("want revert-failed, got %+v", o)
	}
	if want := 1 + len(revertRetryWaits); dev.reverts != want || len(o.Errors) != want {
		t.Fatalf("revert tried %d times with %d errors noted, want %d", dev.reverts, len(o.Errors), want)
	}
	if waited := h.clock.now.Sub(start); waited < 50e9 {
		t.Errorf("retries were not spaced out: %s", waited)
	}
	if dev.disarmed != 1 || dev.armed {
		t.Fatalf("the dead-man must be disarmed once the agent gives up (disarms %d)", dev.disarmed)
	}
	if !strings.Contains(o.Reason, "gate failed") || !strings.Contains(o.Reason, "needs attention") || !strings.Contains(o.Reason, "unit not found") {
		t.Errorf("reason: %s", o.Reason)
	}
	if e, _ := h.agent.Journal.Read(); e != nil {
		t.Fatalf("journal left in flight: %+v", e)
	}
	at, err := h.agent.attention().Load()
	if err != nil || at == nil || at.Commit != bad.String() || at.Plan == nil {
		t.Fatalf("attention: %+v %v", at, err)
	}
	st, _ := h.agent.States.Load()
	if _, q := st.Quarantined[bad.String()]; !q || st.Running != good.String() {
		t.Fatalf("state: %+v", st)
	}

	// Still serving: the device (stuck at 9999) differs from the running
	// commit; the drift is reported, not repaired with the failing undo.
	reverts := dev.reverts
	if o := h.sync(t); o == nil || o.Result != ResultDrift || h.dev.current != "9999" || dev.reverts != reverts {
		t.Fatalf("drift while the site needs attention: %+v dev=%s", o, h.dev.current)
	}

	ctx := context.Background()
	if _, err := h.agent.ResolveAttention(ctx, RecoverRetry); err == nil || !strings.Contains(err.Error(), "still needs attention") {
		t.Fatalf("retry while the cause persists must fail: %v", err)
	}
	if at, _ := h.agent.attention().Load(); at == nil || len(at.Errors) != len(o.Errors)+1 {
		t.Fatalf("the failed retry must stay on record: %+v", at)
	}
	dev.stuck = false
	o, err = h.agent.ResolveAttention(ctx, RecoverRetry)
	if err != nil || o.Result != ResultRecovered || o.Commit != bad.String() || h.dev.current != "51821" || !strings.Contains(o.Reason, "--retry") {
		t.Fatalf("retry: %+v %v dev=%s", o, err, h.dev.current)
	}
	if at, _ := h.agent.attention().Load(); at != nil {
		t.Fatalf("attention kept after recovery: %+v", at)
	}
	if notes := h.notes.byCommit[bad.String()]; len(notes) != 2 || notes[0].Result != ResultRevertFailed || notes[1].Result != ResultRecovered {
		t.Fatalf("notes on the bad commit: %+v", notes)
	}
	if _, err := h.agent.ResolveAttention(ctx, RecoverAcceptCurrent); err == nil {
		t.Fatal("recover with nothing to resolve must say so")
	}
	if o := h.sync(t); o != nil {
		t.Fatalf("after recovery nothing is left to do: %+v", o)
	}
	next := h.repo.push(network(51822))
	if o := h.sync(t); o == nil || o.Result != ResultApplied || o.Commit != next.String() {
		t.Fatalf("a later commit must apply: %+v", o)
	}
}

// TestRevertFailedFixedForward: a new good commit applied while the site
// needs attention ends it (the device is at a known healthy state), and
// --accept-current resolves without touching the device.
func TestRevertFailedFixedForward(t *testing.T) {
	h, dev := stuckHarness(t)
	h.repo.push(network(51821))
	h.sync(t)
	dev.stuck = true
	h.repo.push(network(9999))
	if o := h.sync(t); o == nil || o.Result != ResultRevertFailed {
		t.Fatalf("want revert-failed, got %+v", o)
	}
	fix := h.repo.push(network(51823))
	o := h.sync(t)
	if o == nil || o.Result != ResultApplied || o.Commit != fix.String() || h.dev.current != "51823" || !strings.Contains(o.Reason, "resolves the failed revert") {
		t.Fatalf("fix forward: %+v", o)
	}
	if at, _ := h.agent.attention().Load(); at != nil {
		t.Fatalf("attention kept after the fix forward: %+v", at)
	}

	bad := h.repo.push(network(9999))
	if o := h.sync(t); o == nil || o.Result != ResultRevertFailed || o.Commit != bad.String() {
		t.Fatalf("want revert-failed, got %+v", o)
	}
	reverts := dev.reverts
	o, err := h.agent.ResolveAttention(context.Background(), RecoverAcceptCurrent)
	if err != nil || o.Result != ResultRecovered || !strings.Contains(o.Reason, "--accept-current") || dev.reverts != reverts || h.dev.current != "9999" {
		t.Fatalf("accept-current: %+v %v (reverts %d → %d, dev %s)", o, err, reverts, dev.reverts, h.dev.current)
	}
}
