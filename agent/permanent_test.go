package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

// refusingDevice refuses to plan one listen port for good, as a backend does
// for a commit the agent's local policy forbids.
type refusingDevice struct{ *fakeDevice }

func (d refusingDevice) Plan(ctx context.Context, n *policy.Network, site string) (*Plan, error) {
	if desired(n, site) == "9999" {
		return nil, fmt.Errorf("%w: raw.routeros \"x\" changes /user", ErrPermanent)
	}
	return d.fakeDevice.Plan(ctx, n, site)
}

// TestLoopRejectsPermanentPlanErrors: a Plan error wrapping ErrPermanent is
// the commit's fault, so it is rejected with one note and not retried every
// poll; the next commit applies.
func TestLoopRejectsPermanentPlanErrors(t *testing.T) {
	h := newHarness(t)
	h.agent.Device = refusingDevice{h.dev}
	bad := h.repo.push(network(9999))
	o := h.sync(t)
	if o == nil || o.Result != ResultRejected || !strings.Contains(o.Reason, "changes /user") || h.dev.applies != 0 {
		t.Fatalf("want the commit rejected untouched: %+v", o)
	}
	if o := h.sync(t); o != nil {
		t.Fatalf("a rejected commit is recorded once, got %+v", o)
	}
	if n := len(h.notes.byCommit[bad.String()]); n != 1 {
		t.Fatalf("want one note, got %d", n)
	}
	h.repo.push(network(51821))
	if o := h.sync(t); o == nil || o.Result != ResultApplied {
		t.Fatalf("the next commit must apply: %+v", o)
	}
}
