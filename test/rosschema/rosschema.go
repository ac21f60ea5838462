// Package rosschema answers "does RouterOS version V have menu M, command C
// and argument A?" from the real command trees of the RouterOS releases
// tether supports (7.18, 7.20.8, 7.22.3, 7.24), embedded in testdata.
//
// The trees are pruned copies of tikoci/restraml's `/console/inspect` dumps
// (public domain; see testdata/README.md and cmd/prune). Only the menus tether
// touches are kept, so "absent" means "absent from the router" only for those
// menus; for anything else HasMenu reports false because it was pruned.
//
// It is pure and does no I/O beyond reading the embedded files. It knows
// names, not value syntax: it cannot tell whether a value is valid, except
// for the enumerations recorded from 7.22.3's deep inspect (Enum).
package rosschema

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ./cmd/prune -src ../../../shared/routeros-schema -out testdata

//go:embed testdata/*.json
var data embed.FS

// versions lists the embedded RouterOS versions, oldest first.
var versions = []string{"7.18", "7.20.8", "7.22.3", "7.24"}

// Versions returns the RouterOS versions whose trees are embedded, oldest first.
func Versions() []string { return slices.Clone(versions) }

// Tree is the command tree of one RouterOS version. It is immutable and safe
// for concurrent use.
type Tree struct {
	version string
	root    *node
}

type node struct {
	typ      string // dir, path, cmd or arg
	children map[string]*node
	fields   []string // print: field names print returns (deep-inspect only)
	enum     []string // arg: fixed values (deep-inspect only)
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Tree{}
)

// Load returns the tree of a RouterOS version, e.g. "7.20.8". Trees are
// parsed once and shared.
func Load(version string) (*Tree, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if t, ok := cache[version]; ok {
		return t, nil
	}
	if !slices.Contains(versions, version) {
		return nil, fmt.Errorf("rosschema: no tree for RouterOS %q (have %s)", version, strings.Join(versions, ", "))
	}
	b, err := data.ReadFile("testdata/" + version + ".json")
	if err != nil {
		return nil, fmt.Errorf("rosschema: read %s: %w", version, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("rosschema: parse %s: %w", version, err)
	}
	t := &Tree{version: version, root: build(raw)}
	cache[version] = t
	return t, nil
}

// MustLoad is Load for tests and package-level variables; it panics on an
// unknown version.
func MustLoad(version string) *Tree {
	t, err := Load(version)
	if err != nil {
		panic(err)
	}
	return t
}

func build(raw map[string]any) *node {
	n := &node{children: map[string]*node{}}
	n.typ, _ = raw["_type"].(string)
	for k, v := range raw {
		switch k {
		case "_fields":
			n.fields = toStrings(v)
		case "_enum":
			n.enum = toStrings(v)
		default:
			if m, ok := v.(map[string]any); ok && !strings.HasPrefix(k, "_") {
				n.children[k] = build(m)
			}
		}
	}
	if n.typ == "" {
		n.typ = "dir" // the root carries no _type
	}
	return n
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		if str, ok := s.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// Version returns the RouterOS version of the tree.
func (t *Tree) Version() string { return t.version }

// SplitPath turns "/ip/firewall/filter", "ip/firewall/filter" or
// "/ip firewall filter" into its segments.
func SplitPath(path string) []string {
	return strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == ' ' })
}

func (t *Tree) lookup(segs ...string) *node {
	n := t.root
	for _, s := range segs {
		c, ok := n.children[s]
		if !ok {
			return nil
		}
		n = c
	}
	return n
}

func (t *Tree) menu(path string) *node {
	n := t.lookup(SplitPath(path)...)
	if n == nil || (n.typ != "dir" && n.typ != "path") {
		return nil
	}
	return n
}

func (t *Tree) command(path, cmd string) *node {
	m := t.menu(path)
	if m == nil {
		return nil
	}
	c, ok := m.children[cmd]
	if !ok || c.typ != "cmd" {
		return nil
	}
	return c
}

// HasMenu reports whether the menu exists, e.g. "/routing/bgp/instance".
// The root "/" always exists.
func (t *Tree) HasMenu(path string) bool { return t.menu(path) != nil }

// HasCommand reports whether cmd is a command of the menu at path. Commands
// at the root (e.g. "ping") use path "/" (or "").
func (t *Tree) HasCommand(path, cmd string) bool { return t.command(path, cmd) != nil }

// HasArg reports whether the API accepts the attribute word arg on path/cmd.
// Besides the schema's own arguments it applies the API's protocol words:
//   - ".tag" is accepted on every command;
//   - ".id" is accepted wherever the command takes "numbers" or "number"
//     (the API's name for the item selector);
//   - ".proplist" is accepted wherever the command takes "proplist" (print)
//     or "value-name" (get);
//   - ".query" is never an attribute (queries are ?-words), so false.
//
// "numbers" and "place-before" are ordinary schema arguments: "place-before"
// exists only on add in ordered menus, exactly as the router reports it.
func (t *Tree) HasArg(path, cmd, arg string) bool {
	c := t.command(path, cmd)
	if c == nil {
		return false
	}
	switch arg {
	case ".tag":
		return true
	case ".id":
		return c.children["numbers"] != nil || c.children["number"] != nil
	case ".proplist":
		return c.children["proplist"] != nil || c.children["value-name"] != nil
	}
	a, ok := c.children[arg]
	return ok && a.typ == "arg"
}

// Args returns the schema arguments of path/cmd, sorted (protocol words such
// as .id and .tag are not included). It returns nil for an unknown command.
func (t *Tree) Args(path, cmd string) []string {
	c := t.command(path, cmd)
	if c == nil {
		return nil
	}
	var out []string
	for k, v := range c.children {
		if v.typ == "arg" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Commands returns the commands of the menu at path, sorted.
func (t *Tree) Commands(path string) []string {
	m := t.menu(path)
	if m == nil {
		return nil
	}
	var out []string
	for k, v := range m.children {
		if v.typ == "cmd" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Menus returns every menu path in the (pruned) tree that has at least one
// command, sorted, each starting with "/".
func (t *Tree) Menus() []string {
	var out []string
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		hasCmd := false
		for k, c := range n.children {
			switch c.typ {
			case "cmd":
				hasCmd = true
			case "dir", "path":
				walk(prefix+"/"+k, c)
			}
		}
		if hasCmd && prefix != "" {
			out = append(out, prefix)
		}
	}
	walk("", t.root)
	slices.Sort(out)
	return out
}

// Fields returns the field names print returns for the menu, as recorded by
// deep inspect (the proplist completion). Only trees built from a deep
// inspect carry them (7.22.3); others return nil.
func (t *Tree) Fields(path string) []string {
	c := t.command(path, "print")
	if c == nil {
		return nil
	}
	return slices.Clone(c.fields)
}

// Enum returns the fixed values an argument takes (e.g. action on firewall
// filter add), when deep inspect recorded them (7.22.3 only); nil otherwise.
// For "unset" it is the list of attributes that can be unset, led by "all".
func (t *Tree) Enum(path, cmd, arg string) []string {
	c := t.command(path, cmd)
	if c == nil {
		return nil
	}
	a, ok := c.children[arg]
	if !ok {
		return nil
	}
	return slices.Clone(a.enum)
}
