package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

func (h *harness) adoptPlan(t *testing.T, port int) (string, *policy.Network, *Plan) {
	t.Helper()
	c := h.repo.push(network(port))
	n, probs := policy.Load(h.repo.trees[c], ".")
	if probs.HasErrors() {
		t.Fatal(probs.Errors())
	}
	p, err := h.dev.Plan(context.Background(), n, "home")
	if err != nil || p.Empty() {
		t.Fatalf("plan: %v %+v", err, p)
	}
	return c.String(), n, p
}

// An adopt runs as a transaction — dead-man, gate, note — recorded as
// "adopted" without marking the commit as running, so the next sync still
// processes the commit; a failing gate reverts it without quarantining the
// commit; an untrusted commit is refused before the device is touched.
func TestAdoptTransaction(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	c, n, p := h.adoptPlan(t, 51821)
	o, err := h.agent.Adopt(ctx, c, n, p)
	if err != nil || o.Result != ResultAdopted || h.dev.current != "51821" || h.dev.armed {
		t.Fatalf("adopt: %+v %v dev=%+v", o, err, h.dev)
	}
	if notes := h.notes.byCommit[c]; len(notes) != 1 || notes[0].Result != ResultAdopted || !strings.Contains(notes[0].Reason, "comment only") {
		t.Fatalf("adopt note: %+v", notes)
	}
	if st, _ := h.agent.States.Load(); st.Running != "" {
		t.Fatalf("adopt marked %s as running", st.Running)
	}
	if o := h.sync(t); o == nil || o.Commit != c || o.Result != ResultUnchanged {
		t.Fatalf("the sync after an adopt processes the commit: %+v", o)
	}

	bad, n, p := h.adoptPlan(t, 9999)
	o, err = h.agent.Adopt(ctx, bad, n, p)
	if err != nil || o.Result != ResultAdoptReverted || h.dev.current != "51821" {
		t.Fatalf("adopt that breaks health: %+v %v dev=%s", o, err, h.dev.current)
	}
	if st, _ := h.agent.States.Load(); isQuarantined(st, bad) || st.Running != c {
		t.Fatalf("a reverted adopt must not quarantine or change the running commit: %+v", st)
	}

	untrusted, n, p := h.adoptPlan(t, 51822)
	h.repo.untrust[h.repo.commits[len(h.repo.commits)-1]] = true
	applies := h.dev.applies
	if _, err := h.agent.Adopt(ctx, untrusted, n, p); err == nil || !strings.Contains(err.Error(), "untrusted commit") || h.dev.applies != applies {
		t.Fatalf("adopt of an untrusted commit: %v, applies %d → %d", err, applies, h.dev.applies)
	}
}

// An adopt interrupted after the gate passed is finished by Recover as an
// adopt: recorded as adopted, the running commit unchanged.
func TestAdoptRecoveredAtKeeping(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	c, _, p := h.adoptPlan(t, 51821)
	p.TxnID = "t1"
	if err := h.agent.Journal.Write(&Entry{TxnID: "t1", Site: "home", Commit: c, Step: StepKeeping, Adopt: true, Plan: p}); err != nil {
		t.Fatal(err)
	}
	if err := h.dev.Apply(ctx, p, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	o, err := h.agent.Recover(ctx)
	if err != nil || o == nil || o.Result != ResultAdopted {
		t.Fatalf("recover: %+v %v", o, err)
	}
	if st, _ := h.agent.States.Load(); st.Running != "" {
		t.Fatalf("a recovered adopt marked %s as running", st.Running)
	}
}
