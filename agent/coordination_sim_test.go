package agent_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
)

// twoEndedKind is a change that needs both routers: a toggle, so trials can
// follow each other on one pair of routers.
type twoEndedKind struct {
	name string
	// breaksAlone: the link is down while only one end has the change.
	breaksAlone bool
	change      func(t *testing.T, f map[string]string) map[string]string
}

// toggle swaps a for b in file, or b for a when b is what the file holds.
func toggle(t *testing.T, f map[string]string, file, a, b string) map[string]string {
	t.Helper()
	if strings.Contains(f[file], b) {
		return patch(t, f, file, b, a)
	}
	return patch(t, f, file, a, b)
}

var twoEndedKinds = []twoEndedKind{
	{"the relay's ASN (the relay's file)", true, func(t *testing.T, f map[string]string) map[string]string {
		return toggle(t, f, "sites/relay.toml", "asn = 64512", "asn = 64600")
	}},
	{"home's ASN (home's own file)", true, func(t *testing.T, f map[string]string) map[string]string {
		return toggle(t, f, "sites/home.toml", "asn = 64513", "asn = 64700")
	}},
	{"both ASNs", true, func(t *testing.T, f map[string]string) map[string]string {
		f = toggle(t, f, "sites/relay.toml", "asn = 64512", "asn = 64600")
		return toggle(t, f, "sites/home.toml", "asn = 64513", "asn = 64700")
	}},
	{"transit addresses (the link file)", true, func(t *testing.T, f map[string]string) map[string]string {
		f = toggle(t, f, "links/relay-home.toml", `address = "2001:db8:100::1/64"`, `address = "2001:db8:100::11/64"`)
		f = toggle(t, f, "links/relay-home.toml", `address = "2001:db8:100::2/64"`, `address = "2001:db8:100::12/64"`)
		f = toggle(t, f, "links/relay-home.toml", `allowed = ["2001:db8:100::2/128"`, `allowed = ["2001:db8:100::12/128"`)
		return toggle(t, f, "sites/home.toml", `source = "2001:db8:100::2"`, `source = "2001:db8:100::12"`)
	}},
	{"the relay's listen port and the endpoint home dials", true, func(t *testing.T, f map[string]string) map[string]string {
		f = toggle(t, f, "sites/relay.toml", "listen_port = 51820", "listen_port = 51830")
		return toggle(t, f, "links/relay-home.toml", `endpoint = "203.0.113.10:51820"`, `endpoint = "203.0.113.10:51830"`)
	}},
	{"network.toml's default MTU", false, func(t *testing.T, f map[string]string) map[string]string {
		return toggle(t, f, "network.toml", "mtu = 1420", "mtu = 1380")
	}},
}

// envInt reads a test knob from the environment.
func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// Two routers whose far ends follow each other's live configuration, real
// agents over one git remote, and a run of random two-ended changes under
// random poll skew (first poll 0–20 s after the push, then every 1–15 s)
// and random rollout waves: every change converges at both sites, each
// with one note and no revert. One trial in five starts one agent after
// the other's gate deadline (60 s): a change the link cannot carry at one
// end is then reverted by the early site, as designed, and the late site
// must record it rejected without touching its router. TETHER_COORD_SEED
// replays a run; TETHER_COORD_TRIALS runs more trials.
func TestCoordinationRandomized(t *testing.T) {
	seed := uint64(envInt(t, "TETHER_COORD_SEED", time.Now().UnixNano()))
	trials := int(envInt(t, "TETHER_COORD_TRIALS", 12))
	t.Logf("seed %d (replay with TETHER_COORD_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x7e7e7e7e))
	h, relay, home, files := newPair(t)
	sites := []*simSite{relay, home}
	// The interfaces take their MTU from network.toml, so a default there
	// reaches both ends of the link (a no-op on the routers today).
	files = patch(t, files, "sites/relay.toml", "mtu = 1420\n", "")
	files = patch(t, files, "sites/home.toml", "mtu = 1420\n", "")
	c0 := h.repo.commit(t, files, "MTU from the defaults")
	for site, o := range runUntilNoted(t, c0, time.Minute, poller{relay, 0, 5 * time.Second}, poller{home, 0, 5 * time.Second}) {
		if o.Result != agent.ResultUnchanged {
			t.Fatalf("%s: %+v", site, o)
		}
	}
	waves := []string{"", `waves = [["relay"], ["home"]]`, `waves = [["home"], ["relay"]]`}
	second := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Second }
	var converged, skew, lateOK, lateTrials int
	var slowest time.Duration
	for i := range trials {
		kind := twoEndedKinds[rng.IntN(len(twoEndedKinds))]
		w := waves[rng.IntN(len(waves))]
		ps := []poller{{relay, second(0, 20), second(1, 15)}, {home, second(0, 20), second(1, 15)}}
		late := -1 // index of the site that comes up after the other's deadline
		if rng.IntN(5) == 0 {
			late = rng.IntN(2)
			ps[late].start, ps[1-late].start = second(100, 120), second(0, 5)
		}
		desc := fmt.Sprintf("trial %d: %s; waves %q; relay first poll +%s every %s, home +%s every %s",
			i+1, kind.name, w, ps[0].start, ps[0].interval, ps[1].start, ps[1].interval)
		// What each site must record: applied, unless one end is late for
		// a change the link cannot carry alone.
		want := map[string]string{"relay": agent.ResultApplied, "home": agent.ResultApplied}
		if late >= 0 && kind.breaksAlone {
			want[sites[late].name], want[sites[1-late].name] = agent.ResultRejected, agent.ResultReverted
		}
		before := map[string]map[string][]string{"relay": config(relay.sim), "home": config(home.sim)}
		runs := files // what both sites run before this trial
		files = withWaves(kind.change(t, files), w)
		c := h.repo.commit(t, files, desc)
		start := h.clock.Now()
		out := runUntilNoted(t, c, 5*time.Minute, ps...)
		ok := true
		for _, s := range sites {
			o := out[s.name]
			switch {
			case o == nil:
				t.Errorf("%s: %s recorded nothing in 5 simulated minutes", desc, s.name)
				ok = false
				continue
			case o.Result != want[s.name]:
				t.Errorf("%s: %s %s after %s (want %s): %s", desc, s.name, o.Result, o.Finished.Sub(start), want[s.name], o.Reason)
				ok = false
			case o.Result == agent.ResultRejected && !strings.Contains(o.Reason, "the far end of relay-home"):
				t.Errorf("%s: %s rejected for another reason: %s", desc, s.name, o.Reason)
				ok = false
			}
			if want[s.name] == agent.ResultRejected && !sameConfig(before[s.name], config(s.sim)) {
				t.Errorf("%s: the late %s touched its router:\n%s", desc, s.name, configDiff(before[s.name], config(s.sim)))
				ok = false
			}
			if n := s.note(t, c); n == nil || len(n.Attempts) != 1 {
				t.Errorf("%s: %s has %v on the commit, want one attempt", desc, s.name, n)
				ok = false
			}
			if a := armed(s.sim); len(a) > 0 {
				t.Errorf("%s: %s left a dead-man armed: %v", desc, s.name, a)
				ok = false
			}
			slowest = max(slowest, o.Finished.Sub(start))
		}
		// Healthy at whatever each site now runs.
		for _, s := range sites {
			running := loadNet(t, s, plumbing.NewHash(s.state(t).Running))
			for _, r := range s.probe(t, running) {
				if !r.OK {
					t.Errorf("%s: %s afterwards: %s: %s", desc, s.name, r.Name, r.Evidence)
					ok = false
				}
			}
		}
		if want["relay"] != agent.ResultApplied {
			// The change was given up on: the next trial's change starts
			// from what runs, or toggling back would be no change at all.
			files = runs
		}
		switch {
		case late >= 0:
			lateTrials++
			if ok {
				lateOK++
			}
		default:
			skew++
			if ok {
				converged++
			}
		}
		t.Logf("%s: relay %s, home %s", desc, result(out["relay"], start), result(out["home"], start))
	}
	t.Logf("%d of %d two-ended changes under poll skew converged at both sites with one note each; "+
		"%d of %d with a site late past the deadline ended as designed; slowest site %s simulated (seed %d)",
		converged, skew, lateOK, lateTrials, slowest, seed)
}

// withWaves sets network.toml's rollout waves ("" for none).
func withWaves(f map[string]string, waves string) map[string]string {
	f = maps.Clone(f)
	head, rest, _ := strings.Cut(f["network.toml"], "[rollout]\n")
	if line, after, ok := strings.Cut(rest, "\n"); ok && strings.HasPrefix(line, "waves = ") {
		rest = after
	}
	if waves != "" {
		rest = waves + "\n" + rest
	}
	f["network.toml"] = head + "[rollout]\n" + rest
	return f
}

func result(o *agent.Outcome, start time.Time) string {
	if o == nil {
		return "nothing"
	}
	return fmt.Sprintf("%s after %s", o.Result, o.Finished.Sub(start))
}
