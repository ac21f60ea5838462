package agent_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/rossim"
)

// relayExportsDefault says whether the relay router, as configured right
// now, announces ::/0 to home: its template for home originates a default
// and the connection's output filter chain accepts ::/0. rossim takes a far
// end's announcements from the test's world, not from the far router's
// filters (issue 17, item 3), so the test reads them from the relay's live
// configuration for the one rule shape tether renders
// (`if (dst == P) { accept } reject`). That the output filter applies to the
// originated default is *unverified* against RouterOS here.
func relayExportsDefault(relay *rossim.Sim) []string {
	first := func(words ...string) map[string]string {
		rows, _, err := relay.Exec(words...)
		if err != nil || len(rows) == 0 {
			return map[string]string{}
		}
		return rows[0]
	}
	c := first("/routing/bgp/connection/print", "?name=home")
	if c["templates"] == "" {
		return nil
	}
	if o := first("/routing/bgp/template/print", "?name="+c["templates"])["output.default-originate"]; o != "always" && o != "if-installed" {
		return nil
	}
	if chain := c["output.filter-chain"]; chain != "" {
		rule := first("/routing/filter/rule/print", "?chain="+chain)["rule"]
		if !strings.Contains(rule, "dst == ::/0) { accept }") {
			return nil
		}
	}
	return []string{"::/0"}
}

// pollWhile polls every site on the shared clock every interval until done
// reports true or the bound passes, returning each site's outcomes.
func pollWhile(tb testing.TB, h *harness, bound, interval time.Duration, done func(map[string][]*agent.Outcome) bool, sites ...*simSite) map[string][]*agent.Outcome {
	tb.Helper()
	end := h.clock.Now().Add(bound)
	out := map[string][]*agent.Outcome{}
	errs := make([]error, len(sites))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range sites {
		h.clock.join()
	}
	for i, s := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.clock.leave()
			for h.clock.Now().Before(end) {
				o, err := s.agent.Sync(context.Background())
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				if o != nil {
					out[s.name] = append(out[s.name], o)
				}
				stop := done(out)
				mu.Unlock()
				if stop {
					return
				}
				<-h.clock.After(interval)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return out
}

// The relay's export filter stops announcing ::/0 to home. The relay's own
// gate stays green (its session is up and home's /48 still arrives); home,
// which did not change, witnesses the change in flight, sees its default
// route gone and reports a regression; the relay reverts and both verdicts
// are in the notes.
func TestWitnessedExportMistakeIsRevertedAtTheRelay(t *testing.T) {
	h, relay, home, files := newPair(t)
	h.clock.follow = followEachOtherAnnouncing(relay.sim, home.sim, func() []string { return relayExportsDefault(relay.sim) })
	h.clock.Advance(2 * time.Second)
	before := config(relay.sim)
	bad := h.repo.commit(t, patch(t, files, "links/relay-home.toml", `export = ["::/0"]`, `export = ["2000::/3"]`), "relay exports only 2000::/3")
	start := h.clock.Now()
	var relayOut *agent.Outcome
	pollWhile(t, h, 5*time.Minute, 5*time.Second, func(out map[string][]*agent.Outcome) bool {
		for _, o := range out["relay"] {
			if o.Commit == bad.String() {
				relayOut = o
			}
		}
		return relayOut != nil
	}, relay, home)
	if relayOut == nil {
		t.Fatal("the relay settled nothing in 5 simulated minutes")
	}
	took := relayOut.Finished.Sub(start)
	t.Logf("relay %s after %s simulated: %s", relayOut.Result, took, relayOut.Reason)
	if relayOut.Result != agent.ResultReverted || !strings.Contains(relayOut.Reason, "witness home reported a regression on relay-home") ||
		!strings.Contains(relayOut.Reason, "::/0") {
		t.Fatalf("the relay must revert on home's witness verdict: %+v", relayOut)
	}
	for _, c := range relayOut.Checks {
		if c.Judged && !c.OK {
			t.Fatalf("the relay's own gate was green; it failed %s: %s", c.Name, c.Evidence)
		}
	}
	if d := configDiff(before, config(relay.sim)); d != "" {
		t.Fatalf("the revert did not restore the relay:\n%s", d)
	}
	// Both verdicts, in the notes.
	ra := lastAttempt(t, relay.note(t, bad))
	if ra.Result != notes.Reverted || len(ra.Witnesses) != 1 || ra.Witnesses[0].Site != "home" || ra.Witnesses[0].Status != notes.Regressed {
		t.Fatalf("the relay's note must carry home's verdict: %+v", ra)
	}
	var wa *notes.Attempt
	if n := home.note(t, bad); n != nil {
		for i, a := range n.Attempts {
			if a.Result == notes.Witnessed {
				wa = &n.Attempts[i]
			}
		}
	}
	if wa == nil || wa.Status != notes.Regressed || wa.Txn != ra.Txn || !strings.Contains(wa.Witnesses[0].Evidence, "bgp chr-vps") {
		t.Fatalf("home's note must carry its witness verdict on the relay's transaction: %+v", wa)
	}
	t.Logf("home's verdict: %s (%s)", wa.Witnesses[0].Evidence, wa.Finished.Sub(wa.Started))
	// Home has its default again once the relay is back.
	h.clock.Advance(10 * time.Second)
	for _, r := range home.probe(t, loadNet(t, home, plumbing.NewHash(home.state(t).Running))) {
		if !r.OK {
			t.Errorf("home after the revert: %s: %s", r.Name, r.Evidence)
		}
	}
}
