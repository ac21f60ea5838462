package mikrotik

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	ros "github.com/tether-net/tether/render/routeros"
	"github.com/tether-net/tether/test/rossim"
)

// Tests of the agent against the reply shapes of a real router
// (test/rossim/CONFORMANCE.md), through the real wire.

// blackholeSite is the cgnat-chr-relay home router: its site declares a
// blackhole aggregate, which RouterOS prints as a bare flag.
func blackholeSite(t *testing.T, version string) (example, *ros.Config) {
	t.Helper()
	for _, e := range examples(t) {
		if e.dir != "cgnat-chr-relay" || e.site != "home" {
			continue
		}
		cfg := e.render(t, version)
		if slices.IndexFunc(cfg.Items, isBlackhole) < 0 {
			t.Fatal("cgnat-chr-relay/home declares no blackhole route any more")
		}
		return e, cfg
	}
	t.Fatal("no cgnat-chr-relay/home example")
	return example{}, nil
}

func isBlackhole(it ros.Item) bool {
	_, ok := it.Get("blackhole")
	return strings.HasSuffix(it.Path, "/route") && ok
}

func TestBlackholeRoutePlansEmptyAndRevertVerifies(t *testing.T) {
	ctx := context.Background()
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			e, cfg := blackholeSite(t, v)
			l := newLab(t, v, !e.defconf)
			l.prepare(t, cfg)
			l.applyKeep(t, cfg)
			// The router prints the flag bare: =blackhole=.
			bh := l.exec(t, "/ipv6/route/print", "?blackhole")
			if len(bh) != 1 || bh[0]["blackhole"] != "" {
				t.Fatalf("blackhole routes on the router: %v", bh)
			}
			p, err := l.dev.PlanConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Empty() {
				t.Fatalf("re-plan after apply not empty:\n%s", lines(p))
			}

			// A plan that removes the route, reverted through the API.
			without := *cfg
			without.Items = slices.DeleteFunc(slices.Clone(cfg.Items), isBlackhole)
			prior := state(l.sim)
			p, err = l.dev.PlanConfig(ctx, &without)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 || p.Changes[0].Op != "remove" {
				t.Fatalf("plan without the route:\n%s", lines(p))
			}
			if err := l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := l.dev.Settle(ctx, p, false); err != nil {
				t.Fatalf("revert: %v", err)
			}
			if d := diffState(prior, state(l.sim)); d != "" {
				t.Fatalf("revert did not restore the route:\n%s", d)
			}

			// The same plan reverted by the router's own dead-man script.
			p, err = l.dev.PlanConfig(ctx, &without)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			l.sim.Advance(time.Minute + 2*time.Second)
			assertRuns(t, l.sim, 1)
			if d := diffState(prior, state(l.sim)); d != "" {
				t.Fatalf("dead-man did not restore the route:\n%s", d)
			}
			if err := l.dev.Settle(ctx, p, false); err != nil {
				t.Fatalf("settle after the dead-man: %v", err)
			}
		})
	}
}

// TestLeastPrivilegeUser runs every example as the user docs/routeros.md
// sets up (group policy api,read,write,test): apply, no-op re-plan, the
// dead-man firing, and health probes.
func TestLeastPrivilegeUser(t *testing.T) {
	ctx := context.Background()
	const v = "7.22.3"
	for _, e := range examples(t) {
		t.Run(e.dir+"/"+e.site, func(t *testing.T) {
			l := newLabAs(t, rossim.Config{Version: v, Bare: !e.defconf, User: "tether", Password: "pw", Group: "tether", GroupPolicy: "api,read,write,test"})
			cfg := e.render(t, v)
			l.prepare(t, cfg)
			fresh := state(l.sim)
			p, err := l.dev.PlanConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			l.sim.Advance(time.Minute + 2*time.Second)
			assertRuns(t, l.sim, 1)
			if d := diffState(fresh, state(l.sim)); d != "" {
				t.Fatalf("dead-man of the least-privilege user did not restore:\n%s", d)
			}
			l.applyKeep(t, cfg)
			if p, err := l.dev.PlanConfig(ctx, cfg); err != nil || !p.Empty() {
				t.Fatalf("re-plan: %v\n%s", err, lines(p))
			}
		})
	}
}

// TestMissingPolicyIsRefused: without write the apply fails with the
// router's own words and changes nothing.
func TestMissingPolicyIsRefused(t *testing.T) {
	ctx := context.Background()
	e, cfg := blackholeSite(t, "7.22.3")
	l := newLabAs(t, rossim.Config{Version: "7.22.3", Bare: !e.defconf, User: "tether", Password: "pw", Group: "tether", GroupPolicy: "api,read,test"})
	l.prepare(t, cfg)
	before := state(l.sim)
	p, err := l.dev.PlanConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("plan needs read only: %v", err)
	}
	err = l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "not enough permissions (9)") {
		t.Fatalf("apply without write: %v", err)
	}
	if d := diffState(before, state(l.sim)); d != "" {
		t.Fatalf("refused apply changed the router:\n%s", d)
	}
}

// TestFlagSpellings: a flag reads as set when printed bare (=blackhole=,
// =ebgp=) or as true/yes, and as unset when absent or false.
func TestFlagSpellings(t *testing.T) {
	for _, tc := range []struct {
		v       string
		present bool
		want    bool
	}{{"", true, true}, {"true", true, true}, {"yes", true, true}, {"false", true, false}, {"no", true, false}, {"", false, false}} {
		if got := flagSet(tc.v, tc.present); got != tc.want {
			t.Errorf("flagSet(%q, %v) = %v", tc.v, tc.present, got)
		}
	}
	if !same("blackhole", "", "", true) || same("blackhole", "", "", false) || !same("fib", "yes", "true", true) {
		t.Error("same() on flags")
	}
}
