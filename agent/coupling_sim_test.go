package agent_test

// Coordination of two-ended changes between two simulated routers whose
// far ends follow each other's live configuration (followEachOther): which
// site waits for which, and what a late site does when its far end has
// already given up on the commit.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
)

// poller is one site's agent as `tether run` drives it: a first poll after
// start, then one every interval.
type poller struct {
	site     *simSite
	start    time.Duration
	interval time.Duration
}

// runUntilNoted polls every site on the shared clock until each has
// recorded an outcome for c, or until the bound passes. It returns each
// site's outcome for c (nil if it recorded none in time).
func runUntilNoted(tb testing.TB, c plumbing.Hash, bound time.Duration, ps ...poller) map[string]*agent.Outcome {
	tb.Helper()
	clock := ps[0].site.clock
	end := clock.Now().Add(bound)
	out := map[string]*agent.Outcome{}
	errs := make([]error, len(ps))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range ps {
		clock.join()
	}
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer clock.leave()
			<-clock.After(p.start)
			for clock.Now().Before(end) {
				o, err := p.site.agent.Sync(context.Background())
				if err != nil {
					errs[i] = err
					return
				}
				if o != nil && o.Commit == c.String() {
					mu.Lock()
					out[p.site.name] = o
					mu.Unlock()
					return
				}
				<-clock.After(p.interval)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return out
}

// A change to home's ASN in home's own file changes both routers (home's AS,
// the relay's remote AS). Whichever wave each site is in, both must see it
// as two-ended and converge: neither waits for the other's wave note while
// the other waits for it at the link.
func TestCoupledOwnFileChangeWithWaves(t *testing.T) {
	for _, order := range [][2]string{{"relay", "home"}, {"home", "relay"}} {
		t.Run(order[0]+" first", func(t *testing.T) {
			h, relay, home, files := newPair(t)
			sites := map[string]*simSite{"relay": relay, "home": home}
			files = patch(t, files, "network.toml", "[rollout]\n", "[rollout]\nwaves = [[\""+order[0]+"\"], [\""+order[1]+"\"]]\n")
			c0 := h.repo.commit(t, files, "rollout waves")
			for site, o := range runUntilNoted(t, c0, time.Minute, poller{relay, 0, 5 * time.Second}, poller{home, 0, 5 * time.Second}) {
				if o.Result != agent.ResultUnchanged {
					t.Fatalf("%s: waves alone change no router: %+v", site, o)
				}
			}
			c := h.repo.commit(t, patch(t, files, "sites/home.toml", "asn = 64513", "asn = 64700"), "home: new ASN")
			// The later wave's agent comes up after the first one's bounded
			// wait for the far end (PeerNoteWait, 10 s) has run out.
			start := h.clock.Now()
			out := runUntilNoted(t, c, 5*time.Minute,
				poller{sites[order[0]], 0, 5 * time.Second}, poller{sites[order[1]], 15 * time.Second, 5 * time.Second})
			for _, s := range []*simSite{relay, home} {
				o := out[s.name]
				if o == nil {
					t.Errorf("%s recorded nothing in 5 simulated minutes", s.name)
					continue
				}
				t.Logf("%s after %s: %s", s.name, o.Finished.Sub(start), describeNote(lastAttempt(t, s.note(t, c))))
				if o.Result != agent.ResultApplied {
					t.Errorf("%s: %s: %s", s.name, o.Result, o.Reason)
				}
				if n := s.note(t, c); len(n.Attempts) != 1 {
					t.Errorf("%s: %d attempts, want one", s.name, len(n.Attempts))
				}
			}
			if v := viewOf(home.sim); v.localAS != "64700" || viewOf(relay.sim).remoteAS != "64700" {
				t.Errorf("home's AS %s, the relay's remote AS %s; want 64700 at both", v.localAS, viewOf(relay.sim).remoteAS)
			}
		})
	}
}

// When the far end has already reverted a two-ended change (its agent ran
// alone and its bounded wait ran out), a late site must not apply it: the
// link would be down until its own gate gave up, a needless outage.
func TestLateSiteSkipsWhatTheFarEndReverted(t *testing.T) {
	h, relay, home, files := newPair(t)
	before := config(home.sim)
	c := h.repo.commit(t, patch(t, files, "sites/relay.toml", "asn = 64512", "asn = 64600"), "relay: new ASN")
	if o := relay.sync(t); o == nil || o.Result != agent.ResultReverted {
		t.Fatalf("the relay alone cannot bring the session up and must revert: %+v", o)
	}
	// Home's agent comes up once the link is back at the prior
	// configuration, healthy.
	h.clock.Advance(10 * time.Second)
	for _, r := range home.probe(t, loadNet(t, home, plumbing.NewHash(home.state(t).Running))) {
		if !r.OK {
			t.Fatalf("home before its late start: %s: %s", r.Name, r.Evidence)
		}
	}
	start := h.clock.Now()
	o := home.sync(t)
	if o == nil {
		t.Fatal("home recorded nothing")
	}
	t.Logf("home after %s: %s", h.clock.Now().Sub(start), describeNote(lastAttempt(t, home.note(t, c))))
	if o.Result != agent.ResultRejected || !strings.Contains(o.Reason, "the far end of relay-home (relay) reverted this commit") {
		t.Fatalf("home must not apply a commit its far end reverted: %s: %s", o.Result, o.Reason)
	}
	if diff := configDiff(before, config(home.sim)); diff != "" {
		t.Fatalf("home's router changed:\n%s", diff)
	}
	if a := armed(home.sim); len(a) > 0 || h.clock.Now().Sub(start) > 5*time.Second {
		t.Fatalf("no transaction may have run: armed %v after %s", a, h.clock.Now().Sub(start))
	}
	if o := home.sync(t); o != nil {
		t.Fatalf("recorded once: %+v", o)
	}
}
