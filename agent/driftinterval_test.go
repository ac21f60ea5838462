package agent

import (
	"testing"
	"time"
)

// TestDriftIntervalSpacesIdleChecks: an idle site re-reads its device for
// drift at the first poll, then only once per DriftInterval; a hand-made
// change found then is repaired.
func TestDriftIntervalSpacesIdleChecks(t *testing.T) {
	h := newHarness(t)
	h.agent.DriftInterval = 5 * time.Minute
	h.repo.push(network(51821))
	if o := h.sync(t); o == nil || o.Result != ResultApplied {
		t.Fatalf("want applied: %+v", o)
	}
	h.dev.current = "40000" // changed by hand
	if o := h.sync(t); o == nil || o.Result != ResultRepaired {
		t.Fatalf("the first idle poll checks for drift: %+v", o)
	}
	h.dev.current = "40001"
	h.clock.now = h.clock.now.Add(time.Minute)
	if o := h.sync(t); o != nil {
		t.Fatalf("a poll within the drift interval must not check: %+v", o)
	}
	h.clock.now = h.clock.now.Add(5 * time.Minute)
	if o := h.sync(t); o == nil || o.Result != ResultRepaired || h.dev.current != "51821" {
		t.Fatalf("once the interval passed the drift is repaired: %+v (device %s)", o, h.dev.current)
	}
}
