package policy

import (
	"strconv"
	"strings"
)

// positions maps field paths ("wireguard[1].public_key", "a.allowed[2]") to
// where they are written in one TOML file. BurntSushi/toml keeps key
// positions private, so this is a small scanner over a file that has already
// parsed: it only needs to understand headers, keys, strings and arrays.
type positions struct {
	at    map[string]pos
	order []keyAt // every key in document order, for mapping undecoded keys
}

type pos struct{ line, col int }

type keyAt struct {
	path     string // with array indexes
	stripped string // without indexes, as toml.Key.String() prints it
	pos      pos
}

func scanPositions(src string) *positions {
	ps := &positions{at: map[string]pos{}}
	lines := strings.Split(src, "\n")
	table := ""                // current table path with indexes
	arrays := map[string]int{} // stripped array-of-tables path -> current index
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " \t")
		indent := len(line) - len(trimmed)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if strings.HasPrefix(trimmed, "[[") {
			name := headerName(trimmed[2:], "]]")
			stripped := name
			if _, ok := arrays[stripped]; ok {
				arrays[stripped]++
			} else {
				arrays[stripped] = 0
			}
			table = indexPath(name, arrays)
			ps.add(table, stripped, pos{i + 1, indent + 1})
			continue
		}
		if trimmed[0] == '[' {
			name := headerName(trimmed[1:], "]")
			table = indexPath(name, arrays)
			ps.add(table, name, pos{i + 1, indent + 1})
			continue
		}
		eq := keyEnd(trimmed)
		if eq < 0 {
			continue
		}
		key := normalizeKey(trimmed[:eq])
		path, stripped := joinPath(table, key), joinPath(stripPath(table), key)
		ps.add(path, stripped, pos{i + 1, indent + 1})
		// Record array element positions and skip multi-line values.
		valStart := eq + 1
		for valStart < len(trimmed) && (trimmed[valStart] == ' ' || trimmed[valStart] == '\t') {
			valStart++
		}
		i = ps.scanValue(lines, i, indent+valStart, path)
	}
	return ps
}

func (ps *positions) add(path, stripped string, p pos) {
	if _, ok := ps.at[path]; !ok {
		ps.at[path] = p
	}
	ps.order = append(ps.order, keyAt{path: path, stripped: stripped, pos: p})
}

// scanValue walks a value starting at lines[li][col:], records positions of
// top-level array elements, and returns the index of the line the value ends on.
func (ps *positions) scanValue(lines []string, li, col int, path string) int {
	depth, elem := 0, 0
	expectElem := false
	for ; li < len(lines); li, col = li+1, 0 {
		s := lines[li]
		for c := col; c < len(s); c++ {
			ch := s[c]
			switch {
			case ch == '#':
				c = len(s) // comment to end of line
				continue
			case ch == '"' || ch == '\'':
				if depth == 1 && expectElem {
					ps.at[path+"["+strconv.Itoa(elem)+"]"] = pos{li + 1, c + 1}
					expectElem = false
				}
				if strings.HasPrefix(s[c:], `"""`) || strings.HasPrefix(s[c:], `'''`) {
					delim := s[c : c+3]
					// Multi-line string: find the closing delimiter.
					rest := s[c+3:]
					if j := strings.Index(rest, delim); j >= 0 {
						c += 3 + j + 2
						continue
					}
					for li++; li < len(lines); li++ {
						if j := strings.Index(lines[li], delim); j >= 0 {
							s, c = lines[li], j+2
							break
						}
					}
					if li >= len(lines) {
						return len(lines) - 1
					}
					continue
				}
				c = skipString(s, c)
			case ch == '[' || ch == '{':
				if depth == 1 && expectElem {
					ps.at[path+"["+strconv.Itoa(elem)+"]"] = pos{li + 1, c + 1}
					expectElem = false
				}
				depth++
				if depth == 1 && ch == '[' {
					expectElem = true
				}
			case ch == ']' || ch == '}':
				depth--
				if depth <= 0 {
					return li
				}
			case ch == ',':
				if depth == 1 {
					elem++
					expectElem = true
				}
			case ch == ' ' || ch == '\t' || ch == '\r':
			default:
				if depth == 1 && expectElem {
					ps.at[path+"["+strconv.Itoa(elem)+"]"] = pos{li + 1, c + 1}
					expectElem = false
				}
				if depth == 0 {
					return li // scalar value on one line
				}
			}
		}
		if depth == 0 {
			return li
		}
	}
	return len(lines) - 1
}

func skipString(s string, c int) int {
	q := s[c]
	for j := c + 1; j < len(s); j++ {
		if q == '"' && s[j] == '\\' {
			j++
			continue
		}
		if s[j] == q {
			return j
		}
	}
	return len(s)
}

// lookup finds a path, falling back to its closest recorded parent.
func (ps *positions) lookup(path string) (pos, bool) {
	for p := path; p != ""; p = parentPath(p) {
		if v, ok := ps.at[p]; ok {
			return v, true
		}
	}
	return pos{}, false
}

func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func headerName(s, close string) string {
	if i := strings.Index(s, close); i >= 0 {
		s = s[:i]
	}
	return normalizeKey(s)
}

// normalizeKey turns `a . "b" . c` into a.b.c the way toml.Key.String does
// for bare keys (quoted keys keep their quotes when they need them).
func normalizeKey(s string) string {
	var parts []string
	for _, p := range splitDotted(strings.TrimSpace(s)) {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') {
			inner := p[1 : len(p)-1]
			if isBare(inner) {
				p = inner
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

func isBare(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func splitDotted(s string) []string {
	var out []string
	start, quote := 0, byte(0)
	for i := 0; i < len(s); i++ {
		switch {
		case quote != 0:
			if s[i] == '\\' && quote == '"' {
				i++
			} else if s[i] == quote {
				quote = 0
			}
		case s[i] == '"' || s[i] == '\'':
			quote = s[i]
		case s[i] == '.':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// keyEnd returns the index of the '=' that ends a key, or -1.
func keyEnd(s string) int {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		switch {
		case quote != 0:
			if s[i] == '\\' && quote == '"' {
				i++
			} else if s[i] == quote {
				quote = 0
			}
		case s[i] == '"' || s[i] == '\'':
			quote = s[i]
		case s[i] == '=':
			return i
		case s[i] == '#':
			return -1
		}
	}
	return -1
}

// indexPath adds the current index of every enclosing array of tables.
func indexPath(name string, arrays map[string]int) string {
	parts := splitDotted(name)
	var b strings.Builder
	stripped := ""
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
			stripped += "."
		}
		b.WriteString(p)
		stripped += p
		if idx, ok := arrays[stripped]; ok {
			b.WriteString("[" + strconv.Itoa(idx) + "]")
		}
	}
	return b.String()
}

func stripPath(p string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '[':
			skip = true
		case p[i] == ']':
			skip = false
		case !skip:
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
