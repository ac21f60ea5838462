package importer_test

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
)

// TestRoundTripExamples applies every RouterOS site of every example to a
// fresh simulator, imports it back within its repo, and checks that the
// imported files validate and that a plan of the imported site against the
// same router changes nothing: tether owns what it applied, so there is
// not even anything to adopt.
func TestRoundTripExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../repo-example/*/network.toml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	count := 0
	for _, nt := range dirs {
		dir := filepath.Dir(nt)
		n, probs := policy.Load(os.DirFS(dir), ".")
		if probs.HasErrors() {
			t.Fatalf("%s: %v", dir, probs.Errors())
		}
		for _, site := range n.SiteNames() {
			s := n.Sites[site]
			if s.Platform != "routeros" {
				continue
			}
			for _, version := range []string{"7.18", "7.20.8", "7.22.3"} {
				count++
				t.Run(filepath.Base(dir)+"/"+site+"/"+version, func(t *testing.T) {
					r := newRouter(t, version, s.Defconf == nil || *s.Defconf)
					// The example as the router's version renders it.
					vs := *s
					vs.RouterOSVersion = version
					nv := *n
					nv.Sites = maps.Clone(n.Sites)
					nv.Sites[site] = &vs
					cfg, err := ros.Render(&nv, site)
					if err != nil {
						t.Fatal(err)
					}
					r.prepare(t, cfg)
					r.apply(t, cfg)

					res := r.importSite(t, site, os.DirFS(dir))
					if res.Problems != nil {
						t.Fatalf("import reports problems: %v", res.Problems)
					}
					if len(res.Links) > 0 || len(res.Peers) > 0 {
						t.Errorf("the repo's links and peers explain every peer, yet import wrote %d link(s) and %d peer(s)", len(res.Links), len(res.Peers))
					}
					fsys := overlay(t, dir, res.Files)
					n2 := load(t, fsys, res.Files)
					lines, err := planLines(t, r, n2, site)
					if err != nil {
						t.Fatalf("plan: %v\n%s", err, res.Files["sites/"+site+".toml"])
					}
					if len(lines) > 0 {
						t.Errorf("plan of the imported site is not empty:\n  %s\n%s", join(lines), res.Files["sites/"+site+".toml"])
					}
					// The imported site declares what the example declared, item for item.
					want, got := counts(n.Sites[site]), counts(n2.Sites[site])
					if !maps.Equal(want, got) {
						t.Errorf("sections differ: example %v, imported %v", want, got)
					}
					if v := n2.Sites[site].RouterOSVersion; v != version {
						t.Errorf("imported routeros_version %q, the router runs %s", v, version)
					}
				})
			}
		}
	}
	if count < 15 {
		t.Errorf("only %d RouterOS example sites", count)
	}
}

func counts(s *policy.Site) map[string]int {
	return map[string]int{"wireguard": len(s.WireGuard), "address": len(s.Addresses), "route": len(s.Routes),
		"routing_table": len(s.RoutingTables), "routing_rule": len(s.RoutingRules), "address_list": len(s.AddressLists),
		"raw": len(s.Raw.RouterOS)}
}

func join(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}
