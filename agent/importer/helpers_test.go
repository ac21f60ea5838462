package importer_test

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/importer"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
	"github.com/tether-net/tether/test/rossim"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// router is a simulator on loopback and a Device talking to it through the
// real API client.
type router struct {
	sim *rossim.Sim
	clk *rossim.ManualClock
	dev *mikrotik.Device
}

func newRouter(tb testing.TB, version string, defconf bool) *router {
	tb.Helper()
	clk := rossim.NewManualClock(t0)
	s, err := rossim.New(rossim.Config{Version: version, Bare: !defconf, Clock: clk, Logf: tb.Logf})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	d := mikrotik.New(mikrotik.Options{Conn: mikrotik.Conn{Address: s.Addr(), Username: "admin", Timeout: 5 * time.Second},
		Logger: zap.NewNop(), Now: clk.Now, Version: version})
	tb.Cleanup(func() { d.Close() })
	return &router{sim: s, clk: clk, dev: d}
}

func (r *router) exec(tb testing.TB, words ...string) []map[string]string {
	tb.Helper()
	re, _, err := r.sim.Exec(words...)
	if err != nil {
		tb.Fatalf("%v: %v", words, err)
	}
	return re
}

// prepare creates, as an operator would have, the interfaces and lists a
// rendered site names that the simulator's start state lacks.
func (r *router) prepare(tb testing.TB, cfg *ros.Config) {
	tb.Helper()
	have, lists := map[string]bool{}, map[string]bool{"all": true, "none": true, "dynamic": true, "static": true}
	for _, x := range r.exec(tb, "/interface/print") {
		have[x["name"]] = true
	}
	for _, x := range r.exec(tb, "/interface/list/print") {
		lists[x["name"]] = true
	}
	for _, it := range cfg.Items {
		if v, _ := it.Get("name"); it.Path == "/interface/wireguard" {
			have[v] = true
		} else if it.Path == "/interface/list" {
			lists[v] = true
		}
	}
	for _, it := range cfg.Items {
		for _, a := range it.Attrs {
			v := strings.TrimPrefix(a.Value, "!")
			switch a.Name {
			case "interface", "in-interface", "out-interface":
				if v == "" || have[v] || it.Path == "/ipv6/nd" && v == "all" {
					continue
				}
				r.exec(tb, "/interface/bridge/add", "=name="+v)
				have[v] = true
			case "in-interface-list", "out-interface-list":
				if !lists[v] {
					r.exec(tb, "/interface/list/add", "=name="+v)
					lists[v] = true
				}
			}
		}
	}
}

// apply plans a rendered site, applies it and keeps it.
func (r *router) apply(tb testing.TB, cfg *ros.Config) {
	tb.Helper()
	ctx := context.Background()
	p, err := r.dev.PlanConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("plan: %v", err)
	}
	if err := r.dev.Apply(ctx, p, r.clk.Now().Add(3*time.Minute)); err != nil {
		tb.Fatalf("apply: %v", err)
	}
	if err := r.dev.Settle(ctx, p, true); err != nil {
		tb.Fatalf("settle: %v", err)
	}
}

// importSite reads the router and imports it as site within repo (nil:
// on its own).
func (r *router) importSite(tb testing.TB, site string, repo fs.FS) *importer.Result {
	tb.Helper()
	rows, err := importer.Read(context.Background(), r.dev, mikrotik.IsRefusal)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := importer.RouterOS(importer.Input{Site: site, Rows: rows, Repo: repo})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// overlay is repo (a folder) with files laid over it.
func overlay(tb testing.TB, repo string, files map[string][]byte) fstest.MapFS {
	tb.Helper()
	out := fstest.MapFS{}
	if repo != "" {
		err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".toml") {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(repo, p)
			out[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	} else {
		out["network.toml"] = &fstest.MapFile{Data: []byte("name = \"imported\"\n")}
	}
	for p, b := range files {
		out[p] = &fstest.MapFile{Data: b}
	}
	return out
}

// load validates a network folder and fails the test on any error.
func load(tb testing.TB, fsys fs.FS, files map[string][]byte) *policy.Network {
	tb.Helper()
	n, probs := policy.Load(fsys, ".")
	if probs.HasErrors() {
		for _, p := range slices.Sorted(maps.Keys(files)) {
			tb.Logf("--- %s\n%s", p, files[p])
		}
		tb.Fatalf("imported files do not validate:\n%v", probs.Errors())
	}
	return n
}

// planLines plans the site and returns the plan's lines.
func planLines(tb testing.TB, r *router, n *policy.Network, site string) ([]string, error) {
	tb.Helper()
	p, err := r.dev.Plan(context.Background(), n, site)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range p.Changes {
		out = append(out, mikrotik.FormatChange(c))
	}
	return out, nil
}
