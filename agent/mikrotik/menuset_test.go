package mikrotik

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	ros "github.com/tether-net/tether/render/routeros"
)

func renderedMenus(cfg *ros.Config) []string {
	var out []string
	for _, it := range cfg.Items {
		if !slices.Contains(out, it.Path) {
			out = append(out, it.Path)
		}
	}
	return out
}

// planTrips plans cfg on d and returns the API round trips it took; the
// plan must be empty.
func planTrips(t *testing.T, d *Device, cfg *ros.Config) int64 {
	t.Helper()
	before := d.Stats()
	p, err := d.PlanConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Fatalf("no-op re-plan not empty:\n%s", lines(p))
	}
	after := d.Stats()
	if after.Writes != before.Writes {
		t.Fatalf("no-op re-plan wrote %d times", after.Writes-before.Writes)
	}
	return after.RoundTrips - before.RoundTrips
}

// TestNoopReplanReadsOnlyUsedMenus: after a site is applied, re-planning it
// reads exactly the menus it renders into, one round trip each, where the
// first plan of a process (a full scan) reads every known menu; after
// fullScanEvery a plan scans in full again.
func TestNoopReplanReadsOnlyUsedMenus(t *testing.T) {
	for _, e := range examples(t) {
		t.Run(e.dir+"/"+e.site, func(t *testing.T) {
			l := newLab(t, "7.22.3", !e.defconf)
			cfg := e.render(t, "7.22.3")
			l.prepare(t, cfg)
			l.handMade(t)
			l.applyKeep(t, cfg)
			used := renderedMenus(cfg)
			all := len(used)
			for _, k := range knownMenus {
				if !slices.Contains(used, k) {
					all++
				}
			}

			// A restarted agent: a new Device scans every known menu once.
			fresh := New(Options{Conn: Conn{Address: l.sim.Addr(), Username: "admin", Timeout: 5 * time.Second},
				Logger: zap.NewNop(), Now: l.clk.Now, Version: "7.22.3"})
			defer fresh.Close()
			if n := planTrips(t, fresh, cfg); n != int64(all) {
				t.Errorf("first plan of a process: %d round trips, want %d (every known menu)", n, all)
			}
			if n := planTrips(t, fresh, cfg); n != int64(len(used)) {
				t.Errorf("no-op re-plan: %d round trips, want %d (the menus the site renders into)", n, len(used))
			}
			if n := planTrips(t, l.dev, cfg); n != int64(len(used)) {
				t.Errorf("no-op re-plan after apply: %d round trips, want %d", n, len(used))
			}
			t.Logf("no-op plan: %d round trips (full scan %d)", len(used), all)
			l.sim.Advance(fullScanEvery)
			if n := planTrips(t, l.dev, cfg); n != int64(all) {
				t.Errorf("plan after %s: %d round trips, want a full scan of %d", fullScanEvery, n, all)
			}
		})
	}
}

// TestStaleMenuItemsRemoved: a site stops rendering into a menu altogether;
// its owned items there are still removed, both by the agent that wrote
// them (its record names the menu) and by a restarted agent (full scan),
// and reverting the removal restores them.
func TestStaleMenuItemsRemoved(t *testing.T) {
	var e example
	var cfg *ros.Config
	var gone string
	for _, x := range examples(t) {
		c := x.render(t, "7.22.3")
		for _, m := range []string{"/ip/route", "/ipv6/route", "/ip/firewall/filter", "/ipv6/firewall/filter"} {
			if slices.Contains(renderedMenus(c), m) {
				e, cfg, gone = x, c, m
				break
			}
		}
		if cfg != nil {
			break
		}
	}
	if cfg == nil {
		t.Fatal("no example renders a route or firewall rule")
	}
	without := *cfg
	without.Items = slices.DeleteFunc(slices.Clone(cfg.Items), func(it ros.Item) bool { return it.Path == gone })
	n := 0
	for _, it := range cfg.Items {
		if it.Path == gone {
			n++
		}
	}
	owned := func(l *lab) int {
		c := 0
		for _, r := range l.exec(t, gone+"/print") {
			if _, ok := ros.Identity(gone, r); ok && r["dynamic"] != "true" {
				c++
			}
		}
		return c
	}
	for _, restarted := range []bool{false, true} {
		l := newLab(t, "7.22.3", !e.defconf)
		l.prepare(t, cfg)
		l.applyKeep(t, cfg)
		if restarted {
			l.dev.Close()
			l.dev = New(Options{Conn: Conn{Address: l.sim.Addr(), Username: "admin", Timeout: 5 * time.Second},
				Logger: zap.NewNop(), Now: l.clk.Now, Version: "7.22.3"})
			t.Cleanup(func() { l.dev.Close() })
		}
		// Not restarted: the plan that added the items found none of ours
		// in their menu; only the record of rendered menus names it now.
		ctx := context.Background()
		prior := state(l.sim)
		p, err := l.dev.PlanConfig(ctx, &without)
		if err != nil {
			t.Fatal(err)
		}
		removes := 0
		for _, c := range p.Changes {
			if c.Op == "remove" && c.Where == gone {
				removes++
			}
		}
		if removes != n || len(p.Changes) != n {
			t.Fatalf("restarted=%v: dropping %s planned %d removals of %d items:\n%s", restarted, gone, removes, n, lines(p))
		}
		if err := l.dev.Apply(ctx, p, l.clk.Now().Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if c := owned(l); c != 0 {
			t.Fatalf("restarted=%v: %d owned items left in %s", restarted, c, gone)
		}
		if err := l.dev.Settle(ctx, p, false); err != nil {
			t.Fatal(err)
		}
		if d := diffState(prior, state(l.sim)); d != "" {
			t.Fatalf("restarted=%v: revert did not restore:\n%s", restarted, d)
		}
		// Reverted: the items are back, and the next plan finds them again.
		p, err = l.dev.PlanConfig(ctx, &without)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) != n {
			t.Fatalf("restarted=%v: after the revert the plan has %d changes, want %d removals", restarted, len(p.Changes), n)
		}
	}
}

// BenchmarkNoopPlan plans an applied example site again: a full scan of
// every known menu (what every plan did before the ownedMenus record, and
// what the first plan of a process still does) against a plan that reads
// the rendered and recorded menus only.
func BenchmarkNoopPlan(b *testing.B) {
	var e example
	for _, x := range examples(b) {
		if x.dir == "cgnat-chr-relay" && x.site == "relay" {
			e = x
		}
	}
	if e.n == nil {
		b.Skip("cgnat-chr-relay/relay example missing")
	}
	l := newLab(b, "7.22.3", !e.defconf)
	cfg := e.render(b, "7.22.3")
	l.prepare(b, cfg)
	l.applyKeep(b, cfg)
	for _, full := range []bool{true, false} {
		b.Run(map[bool]string{true: "full-scan", false: "recorded"}[full], func(b *testing.B) {
			ctx := context.Background()
			trips := l.dev.Stats().RoundTrips
			for b.Loop() {
				if full {
					l.dev.owned = ownedMenus{}
				}
				if _, err := l.dev.PlanConfig(ctx, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(l.dev.Stats().RoundTrips-trips)/float64(b.N), "roundtrips/op")
		})
	}
}
