package mikrotik

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ros "github.com/tether-net/tether/render/routeros"
)

// peersSite is a synthetic rendered site: one WireGuard interface with n
// peers, each with its route, the shape of a large road-warrior hub.
func peersSite(n int, edit int) *ros.Config {
	cfg := &ros.Config{Site: "hub", Version: "7.22.3"}
	add := func(path string, attrs ...ros.Attr) {
		it := ros.Item{Path: path, Attrs: attrs}
		it.ID, _ = ros.Identity(path, it.Map())
		cfg.Items = append(cfg.Items, it)
	}
	add("/interface/wireguard", ros.Attr{Name: "name", Value: "wg-hub"}, ros.Attr{Name: "listen-port", Value: "51820"}, ros.Attr{Name: "comment", Value: "tether"})
	add("/ip/address", ros.Attr{Name: "address", Value: "10.64.0.1/16"}, ros.Attr{Name: "interface", Value: "wg-hub"}, ros.Attr{Name: "comment", Value: "tether: hub"})
	for i := range n {
		key := sha256.Sum256([]byte(fmt.Sprint("peer", i)))
		allowed := fmt.Sprintf("10.64.%d.%d/32", (i+2)/256, (i+2)%256)
		if i == edit {
			allowed += ",192.0.2.0/24"
		}
		add("/interface/wireguard/peers",
			ros.Attr{Name: "interface", Value: "wg-hub"}, ros.Attr{Name: "name", Value: fmt.Sprintf("p%04d", i)},
			ros.Attr{Name: "public-key", Value: base64.StdEncoding.EncodeToString(key[:])},
			ros.Attr{Name: "allowed-address", Value: allowed}, ros.Attr{Name: "persistent-keepalive", Value: "25s"},
			ros.Attr{Name: "comment", Value: fmt.Sprintf("tether: peer %d", i)})
	}
	return cfg
}

// reconcile is one full tether transaction: plan, apply behind the
// dead-man, settle keeping the change.
func reconcile(tb testing.TB, l *lab, cfg *ros.Config) {
	ctx := context.Background()
	p, err := l.dev.PlanConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := l.dev.Apply(ctx, p, l.clk.Now().Add(2*time.Minute)); err != nil {
		tb.Fatal(err)
	}
	if err := l.dev.Settle(ctx, p, true); err != nil {
		tb.Fatal(err)
	}
}

// naive is the strategy tether replaces: read every menu the site uses,
// remove every owned item, add every rendered one. No diff, no dead-man.
func naive(tb testing.TB, l *lab, cfg *ros.Config) {
	ctx := context.Background()
	var paths []string
	for _, it := range cfg.Items {
		if !strings.Contains(strings.Join(paths, " ")+" ", " "+it.Path+" ") {
			paths = append(paths, it.Path)
		}
	}
	for k := len(paths) - 1; k >= 0; k-- {
		rep, err := l.dev.c.run(ctx, paths[k]+"/print", "=.proplist=.id,comment,name,interface,address,dynamic")
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range rep.Re {
			if _, owned := ros.Identity(paths[k], r); owned {
				if _, err := l.dev.c.run(ctx, paths[k]+"/remove", "=.id="+r[".id"]); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	for _, it := range cfg.Items {
		if _, err := l.dev.c.run(ctx, appendAttrs([]string{it.Path + "/add"}, it.Attrs)...); err != nil {
			tb.Fatal(err)
		}
	}
}

type scenario struct {
	name        string
	peers, edit int
	first       bool // start from an empty router
}

// measure runs one reconcile of a scenario with a strategy and returns the
// simulator's command and write counts.
func measure(tb testing.TB, sc scenario, strategy func(testing.TB, *lab, *ros.Config)) (cmds, writes int64) {
	l := newLab(tb, "7.22.3", true)
	if !sc.first {
		reconcile(tb, l, peersSite(sc.peers, -1))
	}
	l.sim.ResetStats()
	strategy(tb, l, peersSite(sc.peers, sc.edit))
	st := l.sim.Stats()
	return st.Commands, st.Writes
}

func benchReconcile(b *testing.B, sc scenario) {
	tc, tw := measure(b, sc, reconcile)
	nc, nw := measure(b, sc, naive)
	printOnce(sc.name, "%-28s tether %4d round trips %4d writes | naive %4d / %4d | %.1fx fewer round trips, %.1fx fewer writes\n",
		sc.name, tc, tw, nc, nw, float64(nc)/float64(max(tc, 1)), float64(nw)/float64(max(tw, 1)))
	b.Logf("%s: tether %d round trips / %d writes, naive %d / %d: %.1fx fewer round trips, %.1fx fewer writes",
		sc.name, tc, tw, nc, nw, float64(nc)/float64(max(tc, 1)), float64(nw)/float64(max(tw, 1)))
	for _, s := range []struct {
		name string
		fn   func(testing.TB, *lab, *ros.Config)
	}{{"tether", reconcile}, {"naive", naive}} {
		b.Run(s.name, func(b *testing.B) {
			var cmds, writes int64
			for b.Loop() {
				c, w := measure(b, sc, s.fn)
				cmds, writes = cmds+c, writes+w
			}
			b.ReportMetric(float64(cmds)/float64(b.N), "roundtrips/op")
			b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
		})
	}
}

var printed sync.Map

func printOnce(key, format string, args ...any) {
	if _, dup := printed.LoadOrStore(key, true); !dup {
		fmt.Printf(format, args...)
	}
}

// BenchmarkReconcileNoop: a 50-peer site that already matches.
func BenchmarkReconcileNoop(b *testing.B) {
	benchReconcile(b, scenario{name: "no-op (50 peers)", peers: 50, edit: -1})
}

// BenchmarkReconcileOnePeer: one peer's allowed-address changed.
func BenchmarkReconcileOnePeer(b *testing.B) {
	benchReconcile(b, scenario{name: "one peer changed (50 peers)", peers: 50, edit: 7})
}

// BenchmarkReconcileFirstApply1000: a 1,000-peer site on an empty router.
func BenchmarkReconcileFirstApply1000(b *testing.B) {
	benchReconcile(b, scenario{name: "first apply (1000 peers)", peers: 1000, edit: -1, first: true})
}

// TestReconcileTraffic pins the traffic of the benchmark scenarios so a
// regression (a re-read, a needless write) fails a normal test run.
func TestReconcileTraffic(t *testing.T) {
	for _, c := range []struct {
		sc         scenario
		maxWrites  int64
		wantWrites int64
	}{
		{scenario{name: "noop", peers: 50, edit: -1}, 0, 0},
		{scenario{name: "one peer", peers: 50, edit: 7}, 5, 5}, // arm 2 + set 1 + disarm 2
	} {
		_, w := measure(t, c.sc, reconcile)
		if w != c.wantWrites {
			t.Errorf("%s: %d writes, want %d", c.sc.name, w, c.wantWrites)
		}
	}
}
