package mikrotik

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tether-net/tether/agent/contract"
	ros "github.com/tether-net/tether/render/routeros"
)

// checkLast proves every item kept last (firewall_policy's drop) is the
// last row of its chain on the router, whoever owns the rows.
func checkLast(t *testing.T, l *lab, cfg *ros.Config) {
	t.Helper()
	for _, it := range cfg.Items {
		if !it.Last {
			continue
		}
		chain, _ := it.Get("chain")
		rows := l.exec(t, it.Path+"/print")
		var inChain []string
		for _, r := range rows {
			if r["chain"] == chain {
				id, _ := ros.Identity(it.Path, r)
				inChain = append(inChain, id)
			}
		}
		if len(inChain) == 0 || inChain[len(inChain)-1] != it.ID {
			t.Fatalf("%s chain %s does not end with %s: %v", it.Path, chain, it.ID, inChain)
		}
	}
}

// TestFinalDropStaysLast: road-warrior site A's final forward drop ends the
// chain after defconf's rules; a rule appended by hand after it moves it
// back to the end (one move, nothing else); a rule tether adds later goes
// before it; each re-plan after an apply is empty.
func TestFinalDropStaysLast(t *testing.T) {
	ctx := context.Background()
	e := exampleSite(t, "road-warrior-s2s", "site-a")
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			l := newLab(t, v, false)
			cfg := e.render(t, v)
			l.prepare(t, cfg)
			l.applyKeep(t, cfg)
			checkLast(t, l, cfg)

			l.exec(t, "/ip/firewall/filter/add", "=chain=forward", "=action=accept", "=protocol=tcp", "=dst-port=22", "=comment=hand-made after the drop")
			p, err := l.dev.PlanConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 || p.Changes[0].Op != "move" || !strings.Contains(p.Changes[0].What, "final policy") {
				t.Fatalf("a hand-made rule after the drop planned as:\n%s", lines(p))
			}
			l.applyKeep(t, cfg)
			checkLast(t, l, cfg)
			assertEmptyReplan(t, l, cfg)
			rows := l.exec(t, "/ip/firewall/filter/print")
			if !slices.ContainsFunc(rows, func(r map[string]string) bool { return r["comment"] == "hand-made after the drop" }) {
				t.Fatal("the hand-made rule is gone")
			}

			// A new unanchored rule of the chain (first of the chain, so it
			// inherits no anchor): added right before the drop.
			grown := *cfg
			grown.Items = slices.Clone(cfg.Items)
			at := slices.IndexFunc(grown.Items, func(it ros.Item) bool {
				c, _ := it.Get("chain")
				return it.Path == "/ip/firewall/filter" && c == "forward"
			})
			added := ros.Item{Path: "/ip/firewall/filter", Attrs: []ros.Attr{{Name: "chain", Value: "forward"}, {Name: "action", Value: "accept"},
				{Name: "protocol", Value: "icmp"}, {Name: "comment", Value: ros.OwnedComment("icmp through")}}}
			added.ID, _ = ros.Identity(added.Path, added.Map())
			grown.Items = slices.Insert(grown.Items, at, added)
			p, err = l.dev.PlanConfig(ctx, &grown)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 || p.Changes[0].Op != "add" || !strings.Contains(p.Changes[0].Detail, "final policy") {
				t.Fatalf("a new rule planned as:\n%s", lines(p))
			}
			l.applyKeep(t, &grown)
			checkLast(t, l, &grown)
			assertEmptyReplan(t, l, &grown)
		})
	}
}

// TestFinalDropLookalike: a drop-everything rule the operator made (the
// write-up's "Default drop forward") is the same rule as the declared final
// drop, so the plan is refused before any write and names it for adoption.
func TestFinalDropLookalike(t *testing.T) {
	e := exampleSite(t, "road-warrior-s2s", "site-a")
	l := newLab(t, "7.22.3", false)
	cfg := e.render(t, "7.22.3")
	l.prepare(t, cfg)
	l.exec(t, "/ip/firewall/filter/add", "=chain=forward", "=action=drop", "=comment=Default drop forward")
	l.sim.ResetStats()
	_, err := l.dev.PlanConfig(context.Background(), cfg)
	var le *LookalikeError
	if !errors.As(err, &le) || len(le.Items) != 1 || le.Items[0].Comment != "Default drop forward" {
		t.Fatalf("plan error %v, want one look-alike for the hand-made drop", err)
	}
	if st := l.sim.Stats(); st.Writes != 0 {
		t.Fatalf("refused plan wrote %d times", st.Writes)
	}
}

func assertEmptyReplan(t *testing.T, l *lab, cfg *ros.Config) {
	t.Helper()
	p, err := l.dev.PlanConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Fatalf("re-plan not empty:\n%s", lines(p))
	}
}

// TestManagementLockout: a plan that disables, moves or address-restricts
// the /ip/service entry the agent's own session uses is refused before any
// write (permanently: the same commit cannot succeed); restricting it to
// addresses that hold the agent's source is planned.
func TestManagementLockout(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, "7.22.3", true)
	_, port := l.dev.c.sessionPath()
	// The simulator serves the API on a test port; make the api entry say so,
	// as a router's would for the port the agent dials.
	l.exec(t, "/ip/service/set", "=numbers=api", "=port="+strconv.Itoa(port))
	service := func(attrs ...ros.Attr) *ros.Config {
		it := ros.Item{Path: "/ip/service", Fixed: true, Attrs: append([]ros.Attr{{Name: "name", Value: "api"}}, attrs...)}
		it.ID, _ = ros.Identity(it.Path, it.Map())
		return &ros.Config{Site: "lab", Version: "7.22.3", Items: []ros.Item{it}}
	}
	for name, cfg := range map[string]*ros.Config{
		"disabled":       service(ros.Attr{Name: "disabled", Value: "yes"}),
		"moved":          service(ros.Attr{Name: "port", Value: "18728"}),
		"elsewhere only": service(ros.Attr{Name: "address", Value: "192.0.2.0/24,2001:db8::/32"}),
	} {
		l.sim.ResetStats()
		_, err := l.dev.PlanConfig(ctx, cfg)
		if !errors.Is(err, contract.ErrPermanent) || !strings.Contains(err.Error(), "lock itself out") {
			t.Errorf("%s: plan error %v, want a permanent lock-out refusal", name, err)
		}
		if st := l.sim.Stats(); st.Writes != 0 {
			t.Errorf("%s: refused plan wrote %d times", name, st.Writes)
		}
	}
	ok := service(ros.Attr{Name: "address", Value: "127.0.0.0/8,192.0.2.0/24"})
	p, err := l.dev.PlanConfig(ctx, ok)
	if err != nil || len(p.Changes) != 1 {
		t.Fatalf("allowed restriction: plan %v, err %v", p, err)
	}
	// Another service is never the agent's path.
	other := &ros.Config{Site: "lab", Version: "7.22.3", Items: []ros.Item{{Path: "/ip/service", ID: `name=telnet`, Fixed: true,
		Attrs: []ros.Attr{{Name: "name", Value: "telnet"}, {Name: "disabled", Value: "yes"}}}}}
	if _, err := l.dev.PlanConfig(ctx, other); err != nil {
		t.Fatalf("disabling telnet refused: %v", err)
	}
}

// firewallSite is n unanchored forward accepts, with or without the final
// drop kept last.
func firewallSite(n int, finalDrop bool) *ros.Config {
	cfg := &ros.Config{Site: "fw", Version: "7.22.3"}
	add := func(last bool, attrs ...ros.Attr) {
		it := ros.Item{Path: "/ip/firewall/filter", Attrs: attrs, Last: last}
		it.ID, _ = ros.Identity(it.Path, it.Map())
		cfg.Items = append(cfg.Items, it)
	}
	for i := range n {
		add(false, ros.Attr{Name: "chain", Value: "forward"}, ros.Attr{Name: "action", Value: "accept"},
			ros.Attr{Name: "dst-address", Value: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)},
			ros.Attr{Name: "comment", Value: fmt.Sprintf("tether: rule %d", i)})
	}
	if finalDrop {
		add(true, ros.Attr{Name: "chain", Value: "forward"}, ros.Attr{Name: "action", Value: "drop"},
			ros.Attr{Name: "comment", Value: "tether: final policy: drop forward"})
	}
	return cfg
}

// BenchmarkPlanFirewall500: a no-op plan of 500 forward rules on a defconf
// router, without and with the final drop, whose last-of-chain check is one
// pass over the chain.
func BenchmarkPlanFirewall500(b *testing.B) {
	for _, fd := range []bool{false, true} {
		b.Run(fmt.Sprintf("final-drop=%v", fd), func(b *testing.B) {
			l := newLab(b, "7.22.3", false)
			cfg := firewallSite(500, fd)
			reconcile(b, l, cfg)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				p, err := l.dev.PlanConfig(ctx, cfg)
				if err != nil || !p.Empty() {
					b.Fatalf("plan: %v %v", err, p)
				}
			}
		})
	}
}
