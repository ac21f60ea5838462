package policy

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// MaxFileSize bounds one TOML file; a config file larger than this is a mistake.
const MaxFileSize = 4 << 20

// Load reads the network folder dir of fsys (network.toml, sites/*.toml,
// links/*.toml, peers/*.toml), validates it as a whole and applies defaults.
// It returns every problem found; the network is usable only when
// problems.HasErrors() is false.
func Load(fsys fs.FS, dir string) (*Network, Problems) {
	l := &loader{fsys: fsys, dir: cleanDir(dir)}
	n := l.load()
	n.indexLinks()
	if !l.fatal {
		validate(n, l)
	}
	if !l.problems.HasErrors() {
		applyDefaults(n)
		lint(n, l)
	}
	l.problems.sort()
	return n, l.problems
}

func cleanDir(dir string) string {
	if dir == "" {
		return "."
	}
	return path.Clean(dir)
}

type loader struct {
	fsys     fs.FS
	dir      string
	problems Problems
	pos      map[string]*positions // by file name relative to dir
	// broken names files that did not decode; references to them are not
	// reported again, and fatal stops validation when network.toml is lost.
	broken map[string]bool
	fatal  bool
}

func (l *loader) rel(name string) string {
	if l.dir == "." {
		return name
	}
	return path.Join(l.dir, name)
}

func (l *loader) load() *Network {
	n := &Network{Sites: map[string]*Site{}, Links: map[string]*Link{}, Peers: map[string]*Peer{}, File: "network.toml"}
	l.pos = map[string]*positions{}
	l.broken = map[string]bool{}
	if _, err := fs.Stat(l.fsys, l.rel("network.toml")); err != nil {
		l.add(Problem{File: "network.toml", Rule: "missing-file", Severity: SeverityError,
			Message: "no network.toml: a network folder needs network.toml with at least name = \"...\""})
		l.fatal = true
	} else if !l.decodeFile("network.toml", n) {
		l.fatal = true
	}
	for _, name := range l.list("sites") {
		s := &Site{Name: strings.TrimSuffix(path.Base(name), ".toml"), File: name}
		if l.decodeFile(name, s) {
			n.Sites[s.Name] = s
		} else {
			l.broken["site:"+s.Name] = true
		}
	}
	for _, name := range l.list("links") {
		k := &Link{Name: strings.TrimSuffix(path.Base(name), ".toml"), File: name}
		if l.decodeFile(name, k) {
			n.Links[k.Name] = k
		} else {
			l.broken["link:"+k.Name] = true
		}
	}
	for _, name := range l.list("peers") {
		p := &Peer{Name: strings.TrimSuffix(path.Base(name), ".toml"), File: name}
		if l.decodeFile(name, p) {
			n.Peers[p.Name] = p
		}
	}
	if len(n.Sites) == 0 && len(l.broken) == 0 {
		l.add(Problem{File: "sites/", Rule: "missing-file", Severity: SeverityError,
			Message: "no sites: add at least one sites/<name>.toml"})
	}
	return n
}

// list returns the .toml files of a subfolder, sorted; other files are ignored
// so a README can live beside them.
func (l *loader) list(sub string) []string {
	entries, err := fs.ReadDir(l.fsys, l.rel(sub))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.add(Problem{File: sub + "/", Rule: "io", Severity: SeverityError, Message: err.Error()})
		}
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".toml") {
			continue
		}
		out = append(out, sub+"/"+e.Name())
	}
	sort.Strings(out)
	return out
}

// decodeFile strictly decodes one file into v and reports syntax errors,
// unknown keys and bad values. It returns false when v is unusable.
func (l *loader) decodeFile(name string, v any) bool {
	f, err := l.fsys.Open(l.rel(name))
	if err != nil {
		l.add(Problem{File: name, Rule: "io", Severity: SeverityError, Message: err.Error()})
		return false
	}
	data, rerr := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	f.Close()
	if rerr != nil {
		l.add(Problem{File: name, Rule: "io", Severity: SeverityError, Message: rerr.Error()})
		return false
	}
	if len(data) > MaxFileSize {
		l.add(Problem{File: name, Rule: "io", Severity: SeverityError, Message: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)})
		return false
	}
	src := string(data)
	if line, col, msg := checkShape(src); msg != "" {
		l.add(Problem{File: name, Line: line, Col: col, Rule: "syntax", Severity: SeverityError, Message: msg})
		return false
	}
	md, err := toml.Decode(src, v)
	if err != nil {
		ps := scanPositions(src)
		tes := typeErrors(src, ps, reflect.TypeOf(v).Elem())
		if len(tes) == 0 {
			tes = []typeError{{err: err}}
		}
		for _, te := range tes {
			var pe toml.ParseError
			p := Problem{File: name, Rule: "syntax", Severity: SeverityError, Message: te.err.Error()}
			if errors.As(te.err, &pe) {
				p.Line, p.Col = pe.Position.Line, pe.Position.Col
				p.Message = tidyTOMLMessage(pe)
				if pe.LastKey != "" {
					p.Path = pe.LastKey
				}
			} else if m := typeErrorRE.FindStringSubmatch(te.err.Error()); m != nil {
				// The decoder's type errors are plain errors that carry
				// the line and key in their text.
				p.Line, _ = strconv.Atoi(m[1])
				p.Path, p.Message = m[2], m[3]
			}
			if te.path != "" {
				// Our path names the array element; the decoder's does not.
				p.Path = te.path
				if v, ok := ps.lookup(te.path); ok {
					p.Line, p.Col = v.line, v.col
				}
			}
			l.add(p)
		}
		return false
	}
	ps := scanPositions(src)
	l.pos[name] = ps
	l.unknownKeys(name, md, ps, reflect.TypeOf(v).Elem())
	walkValues(reflect.ValueOf(v).Elem(), "", func(path string, e error) {
		l.at(name, path, "invalid-value", e.Error())
	})
	return true
}

// typeErrorRE takes a type error of the decoder apart: line, key, message.
var typeErrorRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

// typeError is one key whose value has the wrong type.
type typeError struct {
	path string // "wireguard[1].listen_port"
	err  error
}

// typeErrors decodes a syntactically valid file one key at a time, in the
// order the keys appear, and returns the type error of each key that has
// one; inside a table or an array of tables it names the keys at fault. The
// decoder visits a table's keys in map order, so on its own it would name a
// different bad key from run to run when there are several; and a person
// fixing a file wants all of them. It returns nil for a syntax error (the
// decoder's own error is then the one to show).
func typeErrors(src string, ps *positions, t reflect.Type) []typeError {
	var top map[string]toml.Primitive
	md, err := toml.Decode(src, &top)
	if err != nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []typeError
	var walk func(prims map[string]toml.Primitive, t reflect.Type, prefix string)
	walk = func(prims map[string]toml.Primitive, t reflect.Type, prefix string) {
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag != "" && tag != "-" {
				fields[tag] = f.Type
			}
		}
		keys := slices.Collect(maps.Keys(prims))
		at := func(k string) (int, int) {
			if v, ok := ps.lookup(joinPath(prefix, k)); ok {
				return v.line, v.col
			}
			return math.MaxInt, 0
		}
		slices.SortFunc(keys, func(a, b string) int {
			la, ca := at(a)
			lb, cb := at(b)
			return cmp.Or(cmp.Compare(la, lb), cmp.Compare(ca, cb), strings.Compare(a, b))
		})
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				continue // an unknown key: reported by unknownKeys once the file decodes
			}
			path := joinPath(prefix, k)
			err := md.PrimitiveDecode(prims[k], reflect.New(ft).Interface())
			if err == nil {
				continue
			}
			before := len(out)
			et := ft
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			textual := reflect.PointerTo(et).Implements(textUnmarshaler)
			switch {
			case et.Kind() == reflect.Struct && !textual:
				var sub map[string]toml.Primitive
				if md.PrimitiveDecode(prims[k], &sub) == nil {
					walk(sub, et, path)
				}
			case et.Kind() == reflect.Slice && et.Elem().Kind() == reflect.Struct && !reflect.PointerTo(et.Elem()).Implements(textUnmarshaler):
				var subs []map[string]toml.Primitive
				if md.PrimitiveDecode(prims[k], &subs) == nil {
					for i, sub := range subs {
						walk(sub, et.Elem(), fmt.Sprintf("%s[%d]", path, i))
					}
				}
			}
			if len(out) == before {
				out = append(out, typeError{path: path, err: err})
			}
		}
	}
	walk(top, t, "")
	return out
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func tidyTOMLMessage(pe toml.ParseError) string {
	msg := pe.Message
	if pe.Usage != "" {
		msg += " (" + strings.TrimSpace(strings.SplitN(pe.Usage, "\n", 2)[0]) + ")"
	}
	return msg
}

// unknownKeys reports keys the schema does not know, suggesting the closest
// valid key at that level.
func (l *loader) unknownKeys(name string, md toml.MetaData, ps *positions, root reflect.Type) {
	seen := map[string]int{} // stripped path -> occurrences consumed
	reported := []string{}
	for _, k := range md.Undecoded() {
		stripped := k.String()
		covered := false
		for _, r := range reported {
			if strings.HasPrefix(stripped, r+".") {
				covered = true
			}
		}
		// find the n-th occurrence of this key in document order
		n := seen[stripped]
		seen[stripped] = n + 1
		if covered {
			continue
		}
		reported = append(reported, stripped)
		p := Problem{File: name, Path: stripped, Rule: "unknown-key", Severity: SeverityError}
		for _, ka := range ps.order {
			if ka.stripped == stripped {
				if n == 0 {
					p.Line, p.Col, p.Path = ka.pos.line, ka.pos.col, ka.path
					break
				}
				n--
			}
		}
		valid := keysAt(root, k[:len(k)-1])
		p.Message = fmt.Sprintf("unknown key %q", k[len(k)-1])
		if s := closest(k[len(k)-1], valid); s != "" {
			p.Message += fmt.Sprintf("; did you mean %q?", s)
		} else if len(valid) > 0 && len(valid) <= 12 {
			p.Message += "; valid keys here: " + strings.Join(valid, ", ")
		}
		l.add(p)
	}
}

// keysAt lists the TOML keys valid under parent in the struct type t.
func keysAt(t reflect.Type, parent []string) []string {
	for _, seg := range parent {
		t = deref(t)
		if t.Kind() != reflect.Struct {
			return nil
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			if tag := tomlName(t.Field(i)); tag == seg {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := tomlName(t.Field(i)); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t
}

func tomlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return tag
}

// closest returns the candidate within a small edit distance of s.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit || (best != "" && (strings.Contains(best, s) || strings.Contains(s, best)) && len(s) >= 3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// walkValues calls fn for every value in v that failed to parse.
func walkValues(v reflect.Value, path string, fn func(string, error)) {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return // an optional value left unset
	}
	if v.CanInterface() {
		if pe, ok := v.Interface().(parseErrorer); ok {
			if err := pe.parseErr(); err != nil {
				fn(path, err)
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkValues(v.Elem(), path, fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := tomlName(t.Field(i))
			if name == "" || name == "-" {
				continue
			}
			walkValues(v.Field(i), joinPath(path, name), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkValues(v.Index(i), path+"["+strconv.Itoa(i)+"]", fn)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			walkValues(v.MapIndex(k), joinPath(path, k.String()), fn)
		}
	}
}

func (l *loader) add(p Problem) { l.problems = append(l.problems, p) }

// at records an error at a field path of a file.
func (l *loader) at(file, fieldPath, rule, msg string) {
	l.report(file, fieldPath, rule, SeverityError, msg)
}

func (l *loader) report(file, fieldPath, rule string, sev Severity, msg string) {
	p := Problem{File: file, Path: fieldPath, Rule: rule, Severity: sev, Message: msg}
	if ps := l.pos[file]; ps != nil {
		if v, ok := ps.lookup(fieldPath); ok {
			p.Line, p.Col = v.line, v.col
		}
	}
	l.add(p)
}
