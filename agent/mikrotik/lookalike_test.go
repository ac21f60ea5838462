package mikrotik

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tether-net/tether/policy"
)

// defconfSite is a site that declares the defconf LAN address and an
// interface list member defconf also has, plus a WireGuard interface the
// router lacks.
func defconfSite(tb testing.TB, version string) *policy.Network {
	tb.Helper()
	fsys := fstest.MapFS{
		"network.toml": {Data: []byte("name = \"adopt\"\n")},
		"sites/home.toml": {Data: []byte(`platform = "routeros"
routeros_version = "` + version + `"

[[interface]]
name = "bridge"
role = "lan"

[[address]]
interface = "bridge"
address = "192.168.88.1/24"
comment = "LAN"

[[wireguard]]
name = "wg0"
listen_port = 51820
public_key = "QEodhvVnr7WBaZ54H6o50dJZWEgSTbaHvSZmj+JOeTM="
`)},
	}
	n, probs := policy.Load(fsys, ".")
	if probs.HasErrors() {
		tb.Fatalf("site: %v", probs.Errors())
	}
	return n
}

// TestLookalikeDefconfAddress: a site declaring defconf's LAN address is
// refused before any write with a line naming the item, and adopt takes
// it over by its comment alone, after which the plan holds only the new
// WireGuard interface and, once applied, nothing.
func TestLookalikeDefconfAddress(t *testing.T) {
	ctx := context.Background()
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			l := newLab(t, v, false)
			n := defconfSite(t, v)
			addr := l.exec(t, "/ip/address/print", "?address=192.168.88.1/24")
			if len(addr) != 1 {
				t.Fatalf("defconf address: %v", addr)
			}
			ref := addr[0][".id"]
			before := state(l.sim)
			l.sim.ResetStats()

			_, err := l.dev.Plan(ctx, n, "home")
			var le *LookalikeError
			if !errors.As(err, &le) {
				t.Fatalf("plan: want a look-alike refusal, got %v", err)
			}
			want := "ip address 192.168.88.1/24 on bridge exists and is not tether's (" + ref + `, comment "defconf"): adopt it`
			if len(le.Items) != 1 || !strings.Contains(err.Error(), want) {
				t.Fatalf("plan error:\n%v\nwant a line containing %q", err, want)
			}
			if st := l.sim.Stats(); st.Writes != 0 {
				t.Fatalf("a refused plan wrote %d times", st.Writes)
			}

			p, found, err := l.dev.AdoptPlan(ctx, n, "home")
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || len(p.Changes) != 1 || p.Changes[0].Op != "set" {
				t.Fatalf("adopt plan:\n%s", lines(p))
			}
			if err := l.dev.Apply(ctx, p, l.clk.Now().Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := l.dev.Settle(ctx, p, true); err != nil {
				t.Fatal(err)
			}
			after := l.exec(t, "/ip/address/print", "?.id="+ref)
			if len(after) != 1 || after[0]["comment"] != "tether: LAN" || after[0]["address"] != "192.168.88.1/24" || after[0]["interface"] != "bridge" {
				t.Fatalf("adopted address: %v", after)
			}
			// Only the comment changed.
			delete(before, "/ip/address")
			now := state(l.sim)
			delete(now, "/ip/address")
			if d := diffState(before, now); d != "" {
				t.Fatalf("adopt changed more than the comment:\n%s", d)
			}
			if again, _, err := l.dev.AdoptPlan(ctx, n, "home"); err != nil || !again.Empty() {
				t.Fatalf("second adopt: %v %v", again, err)
			}

			p, err = l.dev.Plan(ctx, n, "home")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Changes {
				if c.Where != "/interface/wireguard" {
					t.Fatalf("after adopt the plan still touches the address:\n%s", lines(p))
				}
			}
			cfg, err := l.dev.renderSite(n, "home")
			if err != nil {
				t.Fatal(err)
			}
			l.applyKeep(t, cfg)
			if p, err = l.dev.Plan(ctx, n, "home"); err != nil || !p.Empty() {
				t.Fatalf("re-plan after apply: %v\n%s", err, lines(p))
			}
		})
	}
}

// TestAdoptRevert: an adopt that is not kept gives the item its old
// comment back, through the API and through the dead-man alike.
func TestAdoptRevert(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, "7.20.8", false)
	n := defconfSite(t, "7.20.8")
	prior := state(l.sim)
	p, _, err := l.dev.AdoptPlan(ctx, n, "home")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := l.dev.Settle(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	if d := diffState(prior, state(l.sim)); d != "" {
		t.Fatalf("revert through the API:\n%s", d)
	}

	p, _, err = l.dev.AdoptPlan(ctx, n, "home")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.dev.Apply(ctx, p, l.clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	l.sim.Advance(time.Minute + 2*time.Second)
	assertRuns(t, l.sim, 1)
	if d := diffState(prior, state(l.sim)); d != "" {
		t.Fatalf("dead-man revert:\n%s", d)
	}
}

// TestLookalikeKeys: what counts as the same item per menu.
func TestLookalikeKeys(t *testing.T) {
	l := newLab(t, "7.20.8", false)
	l.exec(t, "/ip/route/add", "=dst-address=10.9.0.0/16", "=gateway=192.168.88.254", "=comment=hand-made")
	l.exec(t, "/ip/firewall/address-list/add", "=list=admins", "=address=192.0.2.7")
	ctx := context.Background()
	for _, c := range []struct {
		name, toml string
		found      bool
	}{
		{"same route", "[[route]]\ndst = \"10.9.0.0/16\"\ngateway = \"192.168.88.254\"\n", true},
		{"route via another gateway", "[[route]]\ndst = \"10.9.0.0/16\"\ngateway = \"192.168.88.253\"\n", false},
		{"address-list host", "[[address_list]]\nlist = \"admins\"\naddress = \"192.0.2.7/32\"\n", true},
		{"address on another interface", "[[interface]]\nname = \"ether2\"\n[[address]]\ninterface = \"ether2\"\naddress = \"192.168.88.1/24\"\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"network.toml":    {Data: []byte("name = \"keys\"\n")},
				"sites/home.toml": {Data: []byte("platform = \"routeros\"\nrouteros_version = \"7.20.8\"\n" + c.toml)},
			}
			n, probs := policy.Load(fsys, ".")
			if probs.HasErrors() {
				t.Fatalf("site: %v", probs.Errors())
			}
			got, err := l.dev.Lookalikes(ctx, n, "home")
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) > 0) != c.found {
				t.Fatalf("look-alikes: %v, want found=%v", got, c.found)
			}
		})
	}
}

// BenchmarkLookalikes1000: a 1,000-peer site whose peers all exist on the
// router already, made by hand (a hub moved under tether): planning finds
// 1,000 look-alikes, adopt takes them over.
func BenchmarkLookalikes1000(b *testing.B) {
	cfg := peersSite(1000, -1)
	l := newLab(b, "7.22.3", true)
	for _, it := range cfg.Items {
		words := []string{it.Path + "/add"}
		for _, a := range it.Attrs {
			if a.Name == "comment" {
				a.Value = "hand-made"
			}
			words = append(words, "="+a.Name+"="+a.Value)
		}
		l.exec(b, words...)
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		p, err := l.dev.plan(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.lookalikes) != len(cfg.Items) {
			b.Fatalf("%d look-alikes, want %d", len(p.lookalikes), len(cfg.Items))
		}
	}
}

// TestLookalikeOtherInterface: a bridge already called like a declared
// WireGuard interface blocks the plan and cannot be adopted.
func TestLookalikeOtherInterface(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, "7.22.3", false)
	l.exec(t, "/interface/bridge/add", "=name=wg0", "=comment=hand-made")
	n := defconfSite(t, "7.22.3")
	n.Sites["home"].Addresses = nil
	_, err := l.dev.Plan(ctx, n, "home")
	if err == nil || !strings.Contains(err.Error(), "interface wg0 (type bridge) exists and is not tether's") || !strings.Contains(err.Error(), "rename one") {
		t.Fatalf("plan: %v", err)
	}
	if _, _, err := l.dev.AdoptPlan(ctx, n, "home"); err == nil || !strings.Contains(err.Error(), "cannot adopt") {
		t.Fatalf("adopt: %v", err)
	}
}
