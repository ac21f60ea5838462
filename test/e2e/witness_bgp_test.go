package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/notes"
)

// TestRouterOSWitnessedExportMistake (issue 17, done-when a): the relay's
// BGP export filter stops announcing ::/0 to home. The two simulators share
// a rossim.Fabric (newROSNet), so what home learns is what the relay's
// configuration exports, not a scenario's list. The relay's own gate stays green (its
// session is up, home's /48 still arrives); home, whose rendering the
// commit does not change, witnesses the change in flight, finds ::/0
// missing from its BGP routes and reports a regression; the relay reverts
// because of it. Both verdicts are in the notes, and home has its default
// again once the relay is restored.
func TestRouterOSWitnessedExportMistake(t *testing.T) {
	t.Parallel()
	ctx := scenarioCtx(t, 4*time.Minute)
	n := newROSNet(t, ctx, rosOptions{})
	relay, home := n.sims["relay"], n.sims["home"]
	if !bgpDefault(t, home) {
		t.Fatal("home has no BGP ::/0 from the relay's configuration after c2")
	}
	before := snapshot(t, relay)

	bad := clone(n.full)
	replace(t, bad, "links/relay-home.toml", `export = ["::/0"]`, `export = ["2000::/3"]`)
	c3 := n.commit(bad, "relay: export only 2000::/3 to home (mistake: drops ::/0)")
	start := time.Now()
	rn := n.waitNote(ctx, "relay", c3, nil)
	ra := wantResult(t, "relay", rn, notes.Reverted)
	t.Logf("relay reverted %s after the push: %s", time.Since(start).Round(time.Second), ra.Reason)

	// The relay's own gate was green: every judged check passed.
	for _, c := range ra.Checks {
		if c.MustPass && c.Status != notes.Pass {
			t.Errorf("relay's own check %s = %s (%s); the mistake must leave the relay's gate green", c.Name, c.Status, c.Evidence)
		}
	}
	if !checkPassed(ra, "bgp ") {
		t.Errorf("relay's note has no passing BGP check of its own:\n%s", describe(rn))
	}
	if !strings.Contains(ra.Reason, "witness home reported a regression on relay-home") || !strings.Contains(ra.Reason, "::/0") {
		t.Errorf("relay's revert reason = %q, want home's regression with the missing ::/0", ra.Reason)
	}
	if len(ra.Witnesses) != 1 || ra.Witnesses[0].Site != "home" || ra.Witnesses[0].Status != notes.Regressed {
		t.Errorf("relay's note must carry home's verdict: %+v", ra.Witnesses)
	}

	// Home's own verdict, on the relay's transaction.
	hn := rawNote(t, n.world, "home", c3)
	var wa *notes.Attempt
	for i, a := range hn.Attempts {
		if a.Result == notes.Witnessed {
			wa = &hn.Attempts[i]
		}
	}
	if wa == nil || wa.Status != notes.Regressed || wa.Txn != ra.Txn || len(wa.Witnesses) != 1 ||
		!strings.Contains(wa.Witnesses[0].Evidence, "::/0 missing") {
		t.Fatalf("home's note must carry its regressed verdict on the relay's transaction with the missing ::/0:\n%s", describe(hn))
	}
	t.Logf("home's verdict: %s", wa.Witnesses[0].Evidence)

	if got := snapshot(t, relay); got != before {
		t.Errorf("relay not restored exactly:\n%s", diffLines(before, got))
	}
	if err := eventually(ctx, func() bool { return bgpDefault(t, home) }); err != nil {
		t.Error("home did not learn ::/0 again after the relay's revert")
	}
	// Quarantined at the relay: one attempt, however many polls go by.
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if nt, _ := n.note("relay", c3); nt == nil || len(nt.Attempts) != 1 {
		t.Errorf("reverted commit retried at the relay:\n%s", describe(nt))
	}
}

// rawNote reads site's note on commit with every attempt, the witnessed
// and gating steps included (world.note keeps only settled outcomes).
func rawNote(t *testing.T, w *world, site, commit string) *notes.Note {
	t.Helper()
	out, err := w.git("", "--git-dir", w.bare, "notes", "--ref", "tether/"+site, "show", commit)
	if err != nil {
		t.Fatalf("no note of %s on %s: %v", site, commit[:12], err)
	}
	nt, err := notes.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return nt
}
