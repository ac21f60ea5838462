package mikrotik

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/contract"
	ros "github.com/tether-net/tether/render/routeros"
	"github.com/tether-net/tether/test/rossim"
)

// handMade adds items an operator made without tether, to prove they
// survive every reconcile untouched.
func (l *lab) handMade(tb testing.TB) {
	tb.Helper()
	l.exec(tb, "/ip/firewall/filter/add", "=chain=input", "=action=accept", "=protocol=tcp", "=dst-port=8291", "=comment=hand-made winbox")
	l.exec(tb, "/ip/firewall/address-list/add", "=list=admins", "=address=192.0.2.7", "=comment=hand-made")
	l.exec(tb, "/ipv6/route/add", "=dst-address=2001:db8:dead::/48", "=blackhole=", "=comment=hand-made")
}

// editOne changes one attribute of one rendered item, as a one-line model
// edit would: a firewall rule's dst-port, else a peer's allowed-address.
func editOne(tb testing.TB, cfg *ros.Config) (*ros.Config, string, string) {
	tb.Helper()
	cp := *cfg
	cp.Items = slices.Clone(cfg.Items)
	pick := func(path, attr string, edit func(string) string) (string, bool) {
		for i, it := range cp.Items {
			if !strings.Contains(it.Path, path) {
				continue
			}
			for j, a := range it.Attrs {
				if a.Name == attr {
					attrs := slices.Clone(it.Attrs)
					attrs[j].Value = edit(a.Value)
					cp.Items[i].Attrs = attrs
					return it.Path, true
				}
			}
		}
		return "", false
	}
	if path, ok := pick("/firewall/filter", "dst-port", func(string) string { return "12345" }); ok {
		return &cp, path, "dst-port"
	}
	if path, ok := pick("/interface/wireguard/peers", "allowed-address", func(v string) string { return v + ",192.0.2.0/24" }); ok {
		return &cp, path, "allowed-address"
	}
	tb.Fatal("nothing to edit")
	return nil, "", ""
}

// TestExamples applies every RouterOS site of every example network to a
// fresh simulator of each supported version, then proves the reconcile
// properties: an empty re-plan that writes nothing, foreign items
// untouched, anchored rules right before their anchor, a one-attribute
// edit planned as exactly one set, and a revert that restores the exact
// prior state.
func TestExamples(t *testing.T) {
	ctx := context.Background()
	for _, v := range versions {
		for _, e := range examples(t) {
			t.Run(v+"/"+e.dir+"/"+e.site, func(t *testing.T) {
				l := newLab(t, v, !e.defconf)
				cfg := e.render(t, v)
				l.prepare(t, cfg)
				l.handMade(t)
				before := foreign(l.sim)

				if n := l.applyKeep(t, cfg); n == 0 {
					t.Fatal("first apply planned nothing")
				}
				if d := diffState(before, foreign(l.sim)); d != "" {
					t.Fatalf("foreign items changed:\n%s", d)
				}
				checkAnchors(t, l, cfg)

				l.sim.ResetStats()
				p, err := l.dev.PlanConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if !p.Empty() {
					t.Fatalf("re-plan not empty:\n%s", lines(p))
				}
				if err := l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				if err := l.dev.Settle(ctx, p, true); err != nil {
					t.Fatal(err)
				}
				if st := l.sim.Stats(); st.Writes != 0 {
					t.Fatalf("no-op reconcile wrote %d times", st.Writes)
				}

				edited, path, attr := editOne(t, cfg)
				p, err = l.dev.PlanConfig(ctx, edited)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Changes) != 1 || p.Changes[0].Op != "set" || p.Changes[0].Where != path || !strings.HasPrefix(p.Changes[0].Detail, attr+":") {
					t.Fatalf("one-attribute edit planned as:\n%s", lines(p))
				}
				t.Logf("edit: %s", FormatChange(p.Changes[0]))
				prior := state(l.sim)
				if err := l.dev.Apply(ctx, p, l.clk.Now().Add(2*time.Minute)); err != nil {
					t.Fatal(err)
				}
				if err := l.dev.Settle(ctx, p, false); err != nil {
					t.Fatal(err)
				}
				if d := diffState(prior, state(l.sim)); d != "" {
					t.Fatalf("revert did not restore the prior state:\n%s", d)
				}
				if d := diffState(before, foreign(l.sim)); d != "" {
					t.Fatalf("foreign items changed:\n%s", d)
				}
			})
		}
	}
}

func lines(p *contract.Plan) string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, FormatChange(c))
	}
	return strings.Join(out, "\n")
}

// checkAnchors proves every anchored rule sits right before its anchor,
// in rendered order.
func checkAnchors(t *testing.T, l *lab, cfg *ros.Config) {
	t.Helper()
	items := effectiveAnchors(cfg.Items)
	byPath := map[string][]map[string]string{}
	for _, it := range items {
		if it.anchor == "" {
			continue
		}
		rows, ok := byPath[it.Path]
		if !ok {
			rows = l.exec(t, it.Path+"/print")
			byPath[it.Path] = rows
		}
		at := slices.IndexFunc(rows, func(r map[string]string) bool {
			_, owned := ros.Identity(it.Path, r)
			return !owned && r["comment"] == it.anchor && r["chain"] == it.chain
		})
		if at < 0 {
			t.Fatalf("anchor %q missing", it.anchor)
		}
		// Walk back over this anchor's group: it must be contiguous and
		// in rendered order.
		var group []string
		for _, g := range items {
			if g.Path == it.Path && g.anchor == it.anchor && g.chain == it.chain {
				group = append(group, g.ID)
			}
		}
		for k := range group {
			r := rows[at-len(group)+k]
			if id, _ := ros.Identity(it.Path, r); id != group[k] {
				t.Fatalf("%s: position %d before anchor %q holds %s, want %s", it.Path, len(group)-k, it.anchor, id, group[k])
			}
		}
	}
}

// TestDeadmanFires leaves a transaction unsettled: when the simulator's
// clock passes the deadline the scheduler runs the inverse script and the
// router is back at its exact prior state, both for a first apply (every
// item added) and for a one-attribute edit.
func TestDeadmanFires(t *testing.T) {
	ctx := context.Background()
	for _, v := range versions {
		for _, e := range examples(t) {
			t.Run(v+"/"+e.dir+"/"+e.site, func(t *testing.T) {
				l := newLab(t, v, !e.defconf)
				cfg := e.render(t, v)
				l.prepare(t, cfg)
				l.handMade(t)
				fresh := state(l.sim)
				p, err := l.dev.PlanConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.dev.Apply(ctx, p, l.clk.Now().Add(2*time.Minute)); err != nil {
					t.Fatal(err)
				}
				l.sim.Advance(2*time.Minute + 2*time.Second)
				assertRuns(t, l.sim, 1)
				if d := diffState(fresh, state(l.sim)); d != "" {
					t.Fatalf("dead-man did not restore the fresh state:\n%s", d)
				}
				// The journaled plan settles idempotently and reports it.
				if err := l.dev.Settle(ctx, p, true); !errors.Is(err, ErrDeadmanFired) {
					t.Fatalf("settle keep after the dead-man fired: %v, want ErrDeadmanFired", err)
				}
				if err := l.dev.Settle(ctx, p, false); err != nil {
					t.Fatalf("settle revert after the dead-man fired: %v", err)
				}

				// Edit on top of the applied site, abandoned.
				l.applyKeep(t, cfg)
				edited, _, _ := editOne(t, cfg)
				prior := state(l.sim)
				p, err = l.dev.PlanConfig(ctx, edited)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.dev.Apply(ctx, p, l.clk.Now().Add(90*time.Second)); err != nil {
					t.Fatal(err)
				}
				if d := diffState(prior, state(l.sim)); d == "" {
					t.Fatal("edit changed nothing")
				}
				l.sim.Advance(89 * time.Second)
				if d := diffState(prior, state(l.sim)); d == "" {
					t.Fatal("dead-man fired before the deadline")
				}
				l.sim.Advance(2 * time.Second)
				assertRuns(t, l.sim, 2)
				if d := diffState(prior, state(l.sim)); d != "" {
					t.Fatalf("dead-man did not restore the prior state:\n%s", d)
				}
			})
		}
	}
}

func assertRuns(t *testing.T, s *rossim.Sim, n int) {
	t.Helper()
	runs := s.ScriptRuns()
	if len(runs) != n {
		t.Fatalf("%d script runs, want %d", len(runs), n)
	}
	if err := runs[n-1].Err; err != nil {
		t.Fatalf("dead-man script failed: %v", err)
	}
}

// TestDropMidApply cuts the connection after N commands of an apply, for
// every N: the router ends either fully old — after Apply's own restore,
// after Settle(!keep) once the path is back, or after the dead-man with the
// agent gone — or, if nothing broke, fully new.
func TestDropMidApply(t *testing.T) {
	ctx := context.Background()
	e := examples(t)[0]
	for _, ex := range examples(t) {
		if ex.dir == "cgnat-chr-relay" && ex.site == "relay" {
			e = ex
		}
	}
	cfg := e.render(t, "7.22.3")
	for _, mode := range []string{"per-connection", "router-lost-settle", "router-lost-deadman"} {
		for n := 1; ; n++ {
			l := newLab(t, "7.22.3", !e.defconf)
			l.prepare(t, cfg)
			l.applyKeep(t, cfg)
			edited := editMany(cfg)
			fresh := state(l.sim)
			p, err := l.dev.PlanConfig(ctx, edited)
			if err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "per-connection":
				l.sim.SetFaults(rossim.Faults{DropAfter: n})
			default:
				l.sim.SetFaults(rossim.Faults{DropAfterGlobal: n})
			}
			err = l.dev.Apply(ctx, p, l.clk.Now().Add(2*time.Minute))
			if err == nil {
				l.sim.SetFaults(rossim.Faults{})
				if n < 3+len(p.Changes) {
					t.Fatalf("%s n=%d: apply succeeded with the connection cut", mode, n)
				}
				break // n is past the end of the apply: done
			}
			t.Logf("%s n=%d: %v", mode, n, err)
			switch mode {
			case "router-lost-deadman":
				l.sim.Advance(3 * time.Minute)
				if n > 2 { // armed: the router restored itself
					assertRuns(t, l.sim, 1)
					if d := diffState(fresh, state(l.sim)); d != "" {
						t.Fatalf("%s n=%d: dead-man did not restore:\n%s", mode, n, d)
					}
				}
				l.sim.SetFaults(rossim.Faults{})
				// A restarted agent settles from the journal.
				if err := l.dev.Settle(ctx, p, false); err != nil {
					t.Fatalf("%s n=%d: settle: %v", mode, n, err)
				}
			default:
				l.sim.SetFaults(rossim.Faults{})
				if err := l.dev.Settle(ctx, p, false); err != nil {
					t.Fatalf("%s n=%d: settle: %v", mode, n, err)
				}
			}
			if d := diffState(fresh, state(l.sim)); d != "" {
				t.Fatalf("%s n=%d: not restored:\n%s", mode, n, d)
			}
		}
	}
}

// editMany changes the site in several ways at once: an edited attribute,
// a removed rule, a new rule in the middle and a moved rule, so a cut
// connection can land between writes of different kinds.
func editMany(cfg *ros.Config) *ros.Config {
	cp := *cfg
	var items []ros.Item
	var fw []int
	for _, it := range cfg.Items {
		if strings.HasSuffix(it.Path, "/firewall/filter") {
			fw = append(fw, len(items))
		}
		items = append(items, it)
	}
	if len(fw) >= 3 {
		// Move the first rule to the end of the rules, drop the second,
		// insert a new one.
		first, second := items[fw[0]], fw[1]
		nr := ros.Item{Path: first.Path, Attrs: []ros.Attr{{Name: "chain", Value: "input"}, {Name: "action", Value: "accept"},
			{Name: "protocol", Value: "udp"}, {Name: "dst-port", Value: "4242"}, {Name: "comment", Value: "tether: new rule"}}}
		nr.ID, _ = ros.Identity(nr.Path, nr.Map())
		var out []ros.Item
		for i, it := range items {
			switch i {
			case fw[0]:
				continue
			case second:
				out = append(out, nr)
				continue
			}
			out = append(out, it)
			if i == fw[len(fw)-1] {
				out = append(out, first)
			}
		}
		items = out
	}
	for i, it := range items {
		if it.Path == "/interface/wireguard/peers" {
			attrs := slices.Clone(it.Attrs)
			for j := range attrs {
				if attrs[j].Name == "allowed-address" {
					attrs[j].Value += ",192.0.2.0/24"
				}
			}
			items[i].Attrs = attrs
		}
	}
	cp.Items = items
	return &cp
}
