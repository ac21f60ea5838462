package routeros

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rosschema"
)

// examplesRoot holds the example networks; tests may do I/O, the package may not.
const examplesRoot = "../../repo-example"

// fixture is one loaded network: an example or this package's kitchen sink.
type fixture struct {
	name string // example name, or "kitchen-sink"
	fsys fs.FS
	dir  string
}

// fixtures lists every example network plus the kitchen-sink fixture.
func fixtures(t testing.TB) []fixture {
	t.Helper()
	root := os.DirFS(examplesRoot)
	ents, err := fs.ReadDir(root, ".")
	if err != nil {
		t.Fatalf("read %s: %v", examplesRoot, err)
	}
	var out []fixture
	for _, e := range ents {
		if e.IsDir() {
			if _, err := fs.Stat(root, e.Name()+"/network.toml"); err == nil {
				out = append(out, fixture{e.Name(), root, e.Name()})
			}
		}
	}
	out = append(out, fixture{"kitchen-sink", os.DirFS("testdata"), "kitchen-sink"})
	return out
}

// load loads a fixture; a fixture that does not load is a test error (every
// example must validate), reported with all its problems.
func (f fixture) load(t testing.TB) *policy.Network {
	t.Helper()
	n, probs := policy.Load(f.fsys, f.dir)
	if probs.HasErrors() {
		var b strings.Builder
		for _, p := range probs {
			b.WriteString("\n\t" + p.String())
		}
		t.Errorf("%s does not load, so it cannot be rendered:%s", f.name, b.String())
		return nil
	}
	return n
}

func routerOSSites(n *policy.Network) []string {
	var out []string
	for _, s := range n.SiteNames() {
		if n.Sites[s].Platform == "routeros" {
			out = append(out, s)
		}
	}
	return out
}

func mustRender(t testing.TB, n *policy.Network, site string) *Config {
	t.Helper()
	c, err := Render(n, site)
	if err != nil {
		t.Fatalf("render %s: %v", site, err)
	}
	return c
}

// renderAt renders site as if it declared RouterOS version v.
func renderAt(t testing.TB, n *policy.Network, site, v string) *Config {
	t.Helper()
	s := n.Sites[site]
	old := s.RouterOSVersion
	s.RouterOSVersion = v
	defer func() { s.RouterOSVersion = old }()
	return mustRender(t, n, site)
}

func find(c *Config, path, id string) *Item {
	for i := range c.Items {
		if c.Items[i].Path == path && c.Items[i].ID == id {
			return &c.Items[i]
		}
	}
	return nil
}

func byPath(c *Config, path string) []Item {
	var out []Item
	for _, it := range c.Items {
		if it.Path == path {
			out = append(out, it)
		}
	}
	return out
}

func attr(it *Item, name string) string {
	v, _ := it.Get(name)
	return v
}

// enumChecked lists attributes whose values the schema test checks against
// the 7.22.3 deep-inspect enumerations (comma lists piecewise, "!" stripped).
// Attributes naming objects (interfaces, tables) are left out: their
// completions list the objects of the CHR the dump came from.
var enumChecked = map[string]bool{
	"action": true, "reject-with": true, "connection-state": true, "connection-nat-state": true,
	"local.role": true, "output.default-originate": true, "afi": true, "advertise": true,
	"advertise-dns": true, "log": true, "disabled": true, "passthrough": true,
	"allow-remote-requests": true, "ra-preference": true,
}

// checkItems returns every path, command, attribute or enumerated value of
// items that the tree does not know.
func checkItems(tree *rosschema.Tree, items []Item) []string {
	var bad []string
	for _, it := range items {
		cmd := "add"
		if it.Singleton || it.Fixed {
			cmd = "set"
		}
		if !tree.HasMenu(it.Path) {
			bad = append(bad, fmt.Sprintf("%s: no menu %s", tree.Version(), it.Path))
			continue
		}
		if !tree.HasCommand(it.Path, cmd) {
			bad = append(bad, fmt.Sprintf("%s: %s has no %s", tree.Version(), it.Path, cmd))
			continue
		}
		for _, a := range it.Attrs {
			if it.Fixed && a.Name == "name" {
				continue // the selector: set finds the fixed entry by it
			}
			if !tree.HasArg(it.Path, cmd, a.Name) {
				bad = append(bad, fmt.Sprintf("%s: %s %s has no %s", tree.Version(), it.Path, cmd, a.Name))
				continue
			}
			if enum := tree.Enum(it.Path, cmd, a.Name); enumChecked[a.Name] && len(enum) > 0 {
				for _, v := range strings.Split(a.Value, ",") {
					if v = strings.TrimPrefix(v, "!"); !contains(enum, v) {
						bad = append(bad, fmt.Sprintf("%s: %s %s=%s: %q is not one of %v", tree.Version(), it.Path, a.Name, a.Value, v, enum))
					}
				}
			}
		}
		if it.Anchor != "" && !tree.HasArg(it.Path, "add", "place-before") {
			bad = append(bad, fmt.Sprintf("%s: %s add has no place-before, but the item has an anchor", tree.Version(), it.Path))
		}
	}
	return bad
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// rscWords splits one .rsc line into words, keeping quoted strings and
// [ ... ] substitutions inside the word they belong to.
func rscWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inQuote, depth := false, 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\':
			cur.WriteByte(c)
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
		case c == '"':
			inQuote = !inQuote
			cur.WriteByte(c)
		case inQuote:
			cur.WriteByte(c)
		case c == '[':
			depth++
			cur.WriteByte(c)
		case c == ']':
			depth--
			cur.WriteByte(c)
		case c == ' ' && depth == 0:
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote || depth != 0 {
		return nil, fmt.Errorf("unbalanced quotes or brackets in %q", line)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkRSC checks every command line of an .rsc script against the tree:
// menu headers, "add" lines and one-line "/menu set" singletons.
func checkRSC(tree *rosschema.Tree, rsc []byte) []string {
	var bad []string
	menu := ""
	for ln, line := range strings.Split(string(rsc), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := rscWords(line)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", ln+1, err))
			continue
		}
		var path, cmd string
		var args []string
		if strings.HasPrefix(words[0], "/") {
			segs := []string{strings.TrimPrefix(words[0], "/")}
			i := 1
			for ; i < len(words) && !strings.Contains(words[i], "=") && words[i] != "set" && words[i] != "add"; i++ {
				segs = append(segs, words[i])
			}
			path = "/" + strings.Join(segs, "/")
			if i == len(words) {
				menu = path
				if !tree.HasMenu(path) {
					bad = append(bad, fmt.Sprintf("%s line %d: no menu %s", tree.Version(), ln+1, path))
				}
				continue
			}
			cmd, args = words[i], words[i+1:]
		} else {
			path, cmd, args = menu, words[0], words[1:]
		}
		if !tree.HasCommand(path, cmd) {
			bad = append(bad, fmt.Sprintf("%s line %d: %s has no %s", tree.Version(), ln+1, path, cmd))
			continue
		}
		for _, a := range args {
			name, _, hasValue := strings.Cut(a, "=")
			if !hasValue && cmd == "set" {
				continue // the item set selects (a fixed entry's name)
			}
			if !tree.HasArg(path, cmd, name) {
				bad = append(bad, fmt.Sprintf("%s line %d: %s %s has no %s", tree.Version(), ln+1, path, cmd, name))
			}
		}
	}
	return bad
}
