package mikrotik

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
	"github.com/tether-net/tether/test/rossim"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var versions = []string{"7.18", "7.20.8", "7.22.3"}

type lab struct {
	sim *rossim.Sim
	clk *rossim.ManualClock
	dev *Device
}

// newLab starts a simulator on loopback with a manual clock and a Device
// talking to it through the real go-routeros client.
func newLab(tb testing.TB, version string, bare bool) *lab {
	tb.Helper()
	return newLabAs(tb, rossim.Config{Version: version, Bare: bare})
}

// newLabAs is newLab with the simulator's user and group from cfg (User,
// Password, Group, GroupPolicy), the Device logging in as that user.
func newLabAs(tb testing.TB, cfg rossim.Config) *lab {
	tb.Helper()
	version := cfg.Version
	clk := rossim.NewManualClock(t0)
	cfg.Clock, cfg.Logf = clk, tb.Logf
	s, err := rossim.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	d := New(Options{
		Conn:    Conn{Address: s.Addr(), Username: cmp.Or(cfg.User, "admin"), Password: cfg.Password, Timeout: 5 * time.Second},
		Logger:  zap.NewNop(),
		Now:     clk.Now,
		Version: version,
	})
	tb.Cleanup(func() { d.Close() })
	return &lab{sim: s, clk: clk, dev: d}
}

func (l *lab) exec(tb testing.TB, words ...string) []map[string]string {
	tb.Helper()
	re, _, err := l.sim.Exec(words...)
	if err != nil {
		tb.Fatalf("%v: %v", words, err)
	}
	return re
}

type example struct {
	dir, site string
	n         *policy.Network
	defconf   bool
}

// examples loads every RouterOS site of every example network.
func examples(tb testing.TB) []example {
	tb.Helper()
	dirs, err := filepath.Glob("../../repo-example/*")
	if err != nil {
		tb.Fatal(err)
	}
	var out []example
	for _, dir := range dirs {
		if st, err := os.Stat(filepath.Join(dir, "network.toml")); err != nil || st.IsDir() {
			continue
		}
		n, probs := policy.Load(os.DirFS(dir), ".")
		if probs.HasErrors() {
			tb.Fatalf("%s: %v", dir, probs.Errors())
		}
		for _, site := range n.SiteNames() {
			s := n.Sites[site]
			if s.Platform != "routeros" {
				continue
			}
			out = append(out, example{dir: filepath.Base(dir), site: site, n: n, defconf: s.Defconf == nil || *s.Defconf})
		}
	}
	if len(out) == 0 {
		tb.Fatal("no RouterOS example sites")
	}
	return out
}

// render renders an example for a version.
func (e example) render(tb testing.TB, version string) *ros.Config {
	tb.Helper()
	s := *e.n.Sites[e.site]
	s.RouterOSVersion = version
	n := *e.n
	n.Sites = maps.Clone(e.n.Sites)
	n.Sites[e.site] = &s
	cfg, err := ros.Render(&n, e.site)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// prepare creates, by hand, the non-tether interfaces a site refers to but
// the simulator's start state lacks (a site's own LAN bridge, say), as an
// operator would have before installing tether.
func (l *lab) prepare(tb testing.TB, cfg *ros.Config) {
	tb.Helper()
	have := map[string]bool{}
	for _, r := range l.exec(tb, "/interface/print") {
		have[r["name"]] = true
	}
	lists := map[string]bool{"all": true, "none": true, "dynamic": true, "static": true}
	for _, r := range l.exec(tb, "/interface/list/print") {
		lists[r["name"]] = true
	}
	for _, it := range cfg.Items {
		if it.Path == "/interface/wireguard" || it.Path == "/interface/list" {
			v, _ := it.Get("name")
			have[v], lists[v] = true, it.Path == "/interface/list" || lists[v]
		}
	}
	for _, it := range cfg.Items {
		for _, a := range it.Attrs {
			v := strings.TrimPrefix(a.Value, "!")
			switch a.Name {
			case "interface", "in-interface", "out-interface":
				if it.Path == "/ipv6/nd" && v == "all" || have[v] || v == "" {
					continue
				}
				l.exec(tb, "/interface/bridge/add", "=name="+v)
				have[v] = true
			case "in-interface-list", "out-interface-list":
				if !lists[v] {
					l.exec(tb, "/interface/list/add", "=name="+v)
					lists[v] = true
				}
			}
		}
	}
}

// volatile attributes change with time or traffic, not with configuration.
var volatile = map[string]bool{
	".id": true, "uptime": true, "time": true, "date": true, "last-handshake": true, "rx": true, "tx": true,
	"bytes": true, "packets": true, "run-count": true, "next-run": true, "current-endpoint-address": true,
	"current-endpoint-port": true, "creation-time": true, "prefix-count": true, "established": true,
	"remote.id": true, "actual-interface": true, "local-address": true,
}

// state is a simulator dump normalized for comparison: ids and volatile
// attributes dropped; rows of menus whose order means nothing sorted.
func state(s *rossim.Sim) map[string][]string {
	out := map[string][]string{}
	for menu, rows := range s.Dump() {
		if menu == "/system/resource" || menu == "/system/clock" {
			continue
		}
		var lines []string
		for _, r := range rows {
			keys := slices.Sorted(maps.Keys(r))
			var b strings.Builder
			for _, k := range keys {
				if !volatile[k] {
					fmt.Fprintf(&b, "%s=%q ", k, r[k])
				}
			}
			lines = append(lines, b.String())
		}
		if !placeable[menu] {
			sort.Strings(lines)
		}
		out[menu] = lines
	}
	return out
}

// diffState describes how two router states differ ("" when equal); a menu
// that is empty counts the same as a menu that is absent.
func diffState(a, b map[string][]string) string {
	return gocmp.Diff(a, b, cmpopts.EquateEmpty(), cmpopts.IgnoreMapEntries(func(_ string, rows []string) bool { return len(rows) == 0 }))
}

// foreign returns every row tether does not own, per menu, for checking
// that defconf and hand-made items are untouched (ids included).
// Settings menus tether declares attributes in (/ip/dns) are tether's.
func foreign(s *rossim.Sim) map[string][]string {
	out := map[string][]string{}
	for menu, rows := range s.Dump() {
		if menu == "/system/resource" || menu == "/system/clock" || strings.HasSuffix(menu, "/route") || menu == "/routing/bgp/session" || menu == "/ip/dns" {
			continue
		}
		for _, r := range rows {
			if _, owned := ros.Identity(menu, r); owned {
				continue
			}
			var b strings.Builder
			for _, k := range slices.Sorted(maps.Keys(r)) {
				if !volatile[k] || k == ".id" {
					fmt.Fprintf(&b, "%s=%q ", k, r[k])
				}
			}
			out[menu] = append(out[menu], b.String())
		}
	}
	return out
}

// applyKeep plans cfg, applies it and settles keeping it.
func (l *lab) applyKeep(tb testing.TB, cfg *ros.Config) int {
	tb.Helper()
	ctx := context.Background()
	p, err := l.dev.PlanConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("plan: %v", err)
	}
	if err := l.dev.Apply(ctx, p, l.clk.Now().Add(3*time.Minute)); err != nil {
		tb.Fatalf("apply: %v", err)
	}
	if err := l.dev.Settle(ctx, p, true); err != nil {
		tb.Fatalf("settle: %v", err)
	}
	return len(p.Changes)
}
