package linux

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// example is one network to render: the shipped examples (the test fixture
// of the whole project) and this package's own fixtures, which follow the
// seed write-ups closely so the faithfulness tests do not depend on
// examples that change for other reasons.
type example struct {
	name    string // golden folder
	fsys    fs.FS
	dir     string
	shipped bool
}

func examples(t testing.TB) []example {
	t.Helper()
	var out []example
	repo := os.DirFS("../../repo-example")
	if entries, err := fs.ReadDir(repo, "."); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				if _, err := fs.Stat(repo, e.Name()+"/network.toml"); err == nil {
					out = append(out, example{name: e.Name(), fsys: repo, dir: e.Name(), shipped: true})
				}
			}
		}
	}
	fix := os.DirFS("testdata/networks")
	entries, err := fs.ReadDir(fix, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, example{name: "fixture-" + e.Name(), fsys: fix, dir: e.Name()})
		}
	}
	return out
}

func load(t testing.TB, ex example) *policy.Network {
	t.Helper()
	n, probs := policy.Load(ex.fsys, ex.dir)
	if probs.HasErrors() {
		t.Fatalf("%s does not load: %v", ex.name, probs)
	}
	return n
}

func linuxSites(n *policy.Network) []string {
	var out []string
	for _, s := range n.SiteNames() {
		if n.Sites[s].Platform == "linux" {
			out = append(out, s)
		}
	}
	return out
}

// goldenName flattens a host path into one file name.
func goldenName(p string) string { return strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_") }

// summary is the golden of a Config's metadata: modes, checks, actions and
// warnings, so a change to any of them shows in review.
func summary(c *Config) []byte {
	var b bytes.Buffer
	for _, f := range c.Files {
		fmt.Fprintf(&b, "%s mode=%04o check=%q activate=%s:%s\n", f.Path, f.Mode, f.Check, f.Activate.Kind, f.Activate.Target)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, ex := range examples(t) {
		n := load(t, ex)
		for _, site := range linuxSites(n) {
			t.Run(ex.name+"/"+site, func(t *testing.T) {
				cfg, err := Render(n, site, Options{})
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join("testdata", "golden", ex.name, site)
				want := map[string][]byte{"_summary": summary(cfg)}
				for _, f := range cfg.Files {
					want[goldenName(f.Path)] = f.Content
				}
				if *update {
					os.RemoveAll(dir)
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					for name, b := range want {
						if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
				entries, _ := os.ReadDir(dir)
				var have []string
				for _, e := range entries {
					have = append(have, e.Name())
				}
				var names []string
				for k := range want {
					names = append(names, k)
				}
				sort.Strings(names)
				if strings.Join(have, ",") != strings.Join(names, ",") {
					t.Fatalf("golden files %v, rendered %v (run go test -update)", have, names)
				}
				for _, name := range names {
					got, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want[name]) {
						t.Errorf("%s differs from golden (run go test -update):\n--- rendered\n%s", name, want[name])
					}
				}
			})
		}
	}
}

// TestDeterministic renders every site twice from two separate loads.
func TestDeterministic(t *testing.T) {
	for _, ex := range examples(t) {
		a, b := load(t, ex), load(t, ex)
		for _, site := range linuxSites(a) {
			ca, err := Render(a, site, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				cb, _ := Render(b, site, Options{})
				if !bytes.Equal(summary(ca), summary(cb)) || len(ca.Files) != len(cb.Files) {
					t.Fatalf("%s/%s: metadata differs between renders", ex.name, site)
				}
				for j := range ca.Files {
					if !bytes.Equal(ca.Files[j].Content, cb.Files[j].Content) {
						t.Fatalf("%s/%s: %s differs between renders", ex.name, site, ca.Files[j].Path)
					}
				}
			}
		}
	}
}
