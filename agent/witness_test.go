package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/notes"
)

// witnessedNotes is fakeNotes with the other sites' attempts, as the
// witnessed-gate protocol reads them.
type witnessedNotes struct {
	*fakeNotes
	attempts map[string][]notes.Attempt // commit/site -> that site's attempts
	// answer is the far end's reply to a gating attempt, made when the
	// gating note is published (nil: the far end stays silent).
	answer func(g notes.Attempt) *notes.Attempt
}

func (w *witnessedNotes) Attempts(_ context.Context, commit, site string) ([]notes.Attempt, error) {
	return w.attempts[commit+"/"+site], nil
}

func (w *witnessedNotes) OwnAttempts(_ context.Context, commit string) ([]notes.Attempt, error) {
	var out []notes.Attempt
	for _, o := range w.byCommit[commit] {
		out = append(out, ToAttempt(o))
	}
	return out, nil
}

func (w *witnessedNotes) Publish(ctx context.Context) error {
	if err := w.fakeNotes.Publish(ctx); err != nil {
		return err
	}
	for c, os := range w.byCommit {
		last := os[len(os)-1]
		if last.Result != string(notes.Gating) || w.answer == nil {
			continue
		}
		if v := w.answer(ToAttempt(last)); v != nil {
			w.attempts[c+"/relay"] = append(w.attempts[c+"/relay"], *v)
		}
	}
	return nil
}

func newWitnessHarness(t *testing.T) (*harness, *witnessedNotes) {
	h := newHarness(t)
	wn := &witnessedNotes{fakeNotes: h.notes, attempts: map[string][]notes.Attempt{}}
	h.agent.Notes = wn
	h.repo.push(network(51821)) // bootstrap: both ends change, nobody witnesses
	if o := h.sync(t); o == nil || o.Result != ResultApplied || len(o.Witnesses) != 0 {
		t.Fatalf("bootstrap: %+v", o)
	}
	return h, wn
}

// relayVerdict answers a gating attempt as the relay would.
func relayVerdict(status, evidence string) func(notes.Attempt) *notes.Attempt {
	return func(g notes.Attempt) *notes.Attempt {
		return &notes.Attempt{Site: "relay", Commit: g.Commit, Result: notes.Witnessed, Txn: g.Txn, Status: status,
			Witnesses: []notes.Witness{{Site: "relay", Link: "relay-home", Status: status, Evidence: evidence}}}
	}
}

// Home's listen port is not in the relay's configuration of the link (home
// dials out), so the change is one-ended and the relay witnesses it: a
// regression it reports reverts the change although home's own gate passed.
func TestWitnessRegressionRevertsAOneEndedChange(t *testing.T) {
	h, wn := newWitnessHarness(t)
	applied := h.dev.applies
	var seenAt string // the device's state when the gating note went out
	verdict := relayVerdict(notes.Regressed, "bgp relay: session established, 0 prefixes; ::/0 not received")
	wn.answer = func(g notes.Attempt) *notes.Attempt {
		seenAt = h.dev.current
		if len(g.Witnesses) != 1 || g.Witnesses[0] != (notes.Witness{Site: "relay", Link: "relay-home", Status: notes.Pending}) {
			t.Errorf("the gating note must ask the relay to witness relay-home: %+v", g.Witnesses)
		}
		return verdict(g)
	}
	c := h.repo.push(network(51822))
	o := h.sync(t)
	if seenAt != "51821" {
		t.Fatalf("the gating note must be published before the change is applied; the device was at %q", seenAt)
	}
	if h.dev.applies != applied+1 || o == nil || o.Result != ResultReverted || h.dev.current != "51821" {
		t.Fatalf("a witnessed regression must revert the change: %+v dev=%s", o, h.dev.current)
	}
	if !strings.Contains(o.Reason, "witness relay reported a regression on relay-home: bgp relay: session established, 0 prefixes; ::/0 not received") {
		t.Fatalf("the reason must name the witness and its evidence: %q", o.Reason)
	}
	for _, ch := range o.Checks {
		if !ch.OK {
			t.Fatalf("home's own gate passed; only the witness saw the regression: %+v", ch)
		}
	}
	a := ToAttempt(o)
	if len(a.Witnesses) != 1 || a.Witnesses[0].Status != notes.Regressed || !strings.Contains(a.Witnesses[0].Evidence, "::/0 not received") {
		t.Fatalf("the note must carry the witness verdict: %+v", a.Witnesses)
	}
	st, _ := h.agent.States.Load()
	if _, q := st.Quarantined[c.String()]; !q {
		t.Fatal("a change a witness saw regress is quarantined like any reverted change")
	}
	if r := SettledResult([]notes.Attempt{ToAttempt(h.notes.byCommit[c.String()][0])}); r != "" {
		t.Fatalf("a gating attempt alone must not read as settled to other sites, got %q", r)
	}
}

func TestWitnessSilentIsUnwitnessedAfterTheBoundedWait(t *testing.T) {
	h, _ := newWitnessHarness(t)
	start := h.clock.now
	o := h.sync(t) // no new commit yet
	if o != nil {
		t.Fatalf("nothing to do: %+v", o)
	}
	h.repo.push(network(51822))
	o = h.sync(t)
	if o == nil || o.Result != ResultApplied || h.dev.current != "51822" {
		t.Fatalf("a silent witness must not hold the change back: %+v", o)
	}
	if len(o.Witnesses) != 1 || o.Witnesses[0].Status != notes.Unwitnessed {
		t.Fatalf("the note must say unwitnessed: %+v", o.Witnesses)
	}
	waited := h.clock.now.Sub(start)
	wait := 60 * time.Second // policy default
	if waited < wait || waited > wait+2*gateCfg.Interval+time.Second {
		t.Fatalf("the wait must be bounded by witness_wait (%s): waited %s", wait, waited)
	}
}

func TestWitnessHealthyVerdictKeepsAndZeroWaitDisables(t *testing.T) {
	h, wn := newWitnessHarness(t)
	wn.answer = relayVerdict(notes.Healthy, "bgp relay: established, ::/0 received")
	h.repo.push(network(51822))
	o := h.sync(t)
	if o == nil || o.Result != ResultApplied || len(o.Witnesses) != 1 || o.Witnesses[0].Status != notes.Healthy {
		t.Fatalf("a healthy witness keeps the change, recorded as evidence: %+v", o)
	}
	// "0s" turns witnessing off: no gating note, no wait, no verdicts.
	h.agent.Gate = GateConfig{}
	files := network(51823)
	files["network.toml"] = "name = \"t\"\n[health]\nwitness_wait = \"0s\"\n"
	c := h.repo.push(files)
	wn.answer = relayVerdict(notes.Regressed, "would revert")
	o = h.sync(t)
	if o == nil || o.Result != ResultApplied || len(o.Witnesses) != 0 || len(h.notes.byCommit[c.String()]) != 1 {
		t.Fatalf("witness_wait 0s must turn witnessing off: %+v notes=%d", o, len(h.notes.byCommit[c.String()]))
	}
}

// The witness side: home sees the relay's change in flight and gates its
// own check of the link against its last known health.
func TestWitnessJudgesAgainstItsLastKnownHealth(t *testing.T) {
	cases := []struct {
		name   string
		known  map[string]bool // State.Health before the far end's change
		want   string
		reason string
	}{
		{"healthy before, failing now: regressed", map[string]bool{"handshake wg0/relay": true}, notes.Regressed, "handshake wg0/relay: last handshake 5m0s ago"},
		{"already unhealthy at its baseline: healthy", map[string]bool{"handshake wg0/relay": false}, notes.Healthy, "already failing before the change"},
		{"never seen: the first probe is the baseline", map[string]bool{}, notes.Healthy, "already failing before the change"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, wn := newWitnessHarness(t)
			st, _ := h.agent.States.Load()
			st.Health = tc.known
			if err := h.agent.States.Save(st); err != nil {
				t.Fatal(err)
			}
			h.agent.Prober = &scriptProber{ok: func(int, string) bool { return false }}
			// The relay's change: a comment on home's side changes nothing
			// here, so home's own plan is empty.
			files := network(51821)
			files["links/relay-home.toml"] = "description = \"relay filter v2\"\n" + files["links/relay-home.toml"]
			c := h.repo.push(files)
			wn.attempts[c.String()+"/relay"] = []notes.Attempt{{Site: "relay", Commit: c.String(), Result: notes.Gating, Txn: "rt1",
				Started: h.clock.now, Witnesses: []notes.Witness{{Site: "relay", Link: "relay-home", Status: notes.Pending}}}}
			// Answer with "home" as the witness named.
			wn.attempts[c.String()+"/relay"][0].Witnesses[0].Site = "home"
			o := h.sync(t)
			if o == nil || o.Result != ResultUnchanged {
				t.Fatalf("home's own outcome: %+v", o)
			}
			var v *Outcome
			for _, r := range h.notes.byCommit[c.String()] {
				if r.Result == string(notes.Witnessed) {
					v = r
				}
			}
			if v == nil || v.TxnID != "rt1" || v.Status != tc.want || len(v.Witnesses) != 1 || v.Witnesses[0].Link != "relay-home" ||
				!strings.Contains(v.Witnesses[0].Evidence, tc.reason) {
				t.Fatalf("want a %s verdict on rt1 with %q, got %+v", tc.want, tc.reason, v)
			}
			if v.Finished.Sub(v.Started) >= 60*time.Second {
				t.Fatalf("the verdict must come within the relay's witness wait: took %s", v.Finished.Sub(v.Started))
			}
			n := len(h.notes.byCommit[c.String()])
			h.sync(t)
			if len(h.notes.byCommit[c.String()]) != n {
				t.Fatal("a change in flight is witnessed once")
			}
		})
	}
}

// TestWitnessLooksOnlyWhileACommitIsNew: looking for far ends' gating notes
// costs a notes fetch per poll, so a site stops looking once a head commit
// has been at the head for witnessWindow; a far end that late is kept as
// unwitnessed on its side.
func TestWitnessLooksOnlyWhileACommitIsNew(t *testing.T) {
	h, wn := newWitnessHarness(t)
	files := network(51821)
	files["links/relay-home.toml"] = "description = \"relay filter v2\"\n" + files["links/relay-home.toml"]
	c := h.repo.push(files)
	if o := h.sync(t); o == nil || o.Result != ResultUnchanged {
		t.Fatalf("home's own outcome: %+v", o)
	}
	h.clock.now = h.clock.now.Add(witnessWindow + time.Minute)
	wn.attempts[c.String()+"/relay"] = []notes.Attempt{{Site: "relay", Commit: c.String(), Result: notes.Gating, Txn: "late",
		Started: h.clock.now, Witnesses: []notes.Witness{{Site: "home", Link: "relay-home", Status: notes.Pending}}}}
	h.sync(t)
	for _, r := range h.notes.byCommit[c.String()] {
		if r.Result == string(notes.Witnessed) {
			t.Fatalf("witnessed a change that came %s after the commit: %+v", witnessWindow, r)
		}
	}
	// A new head starts a new window.
	files["links/relay-home.toml"] = "description = \"relay filter v3\"\n" + network(51821)["links/relay-home.toml"]
	c2 := h.repo.push(files)
	wn.attempts[c2.String()+"/relay"] = []notes.Attempt{{Site: "relay", Commit: c2.String(), Result: notes.Gating, Txn: "next",
		Started: h.clock.now, Witnesses: []notes.Witness{{Site: "home", Link: "relay-home", Status: notes.Pending}}}}
	h.sync(t)
	found := false
	for _, r := range h.notes.byCommit[c2.String()] {
		found = found || r.Result == string(notes.Witnessed)
	}
	if !found {
		t.Fatal("a gating note on a new head commit was not witnessed")
	}
}
