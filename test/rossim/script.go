package rossim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ScriptRun records one execution of a script (by the scheduler or /run).
type ScriptRun struct {
	Name   string    // script name, or "scheduler:<name>" for inline on-event
	Origin string    // "scheduler" or "api"
	At     time.Time // simulated time of the run
	Err    error     // nil on success; the script stopped at the first error
}

// ScriptRuns returns every script execution so far, oldest first.
func (s *Sim) ScriptRuns() []ScriptRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ScriptRun(nil), s.runs...)
}

// ScriptQuote returns v as a RouterOS script string literal that the
// simulator (and RouterOS) reads back as exactly v: wrapped in double
// quotes, with \ " and $ escaped as \\ \" \$ (so no variable substitution
// happens), newline, carriage return and tab as \n \r \t, and any other
// control byte as \HH (two upper-case hex digits).
func ScriptQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%02X`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

type token struct {
	text    string // unquoted text
	bracket bool   // a [...] expression; text is its raw inside
	quoted  bool   // contained a quoted part
}

// tokenize splits one script line into words. Quoted parts are unescaped
// and joined to the word they touch (attr="a b" is one word "attr=a b").
func tokenize(line string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			return toks, nil
		}
		if line[i] == '[' {
			depth, j, inQ := 0, i, false
			for ; j < len(line); j++ {
				switch c := line[j]; {
				case inQ && c == '\\':
					j++
				case c == '"':
					inQ = !inQ
				case !inQ && c == '[':
					depth++
				case !inQ && c == ']':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("unterminated [")
			}
			toks = append(toks, token{text: strings.TrimSpace(line[i+1 : j]), bracket: true})
			i = j + 1
			continue
		}
		var b strings.Builder
		t := token{}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			c := line[i]
			switch c {
			case '"':
				t.quoted = true
				i++
				closed := false
				for i < len(line) {
					c := line[i]
					if c == '"' {
						closed = true
						i++
						break
					}
					if c == '\\' {
						r, n, err := unescape(line[i:])
						if err != nil {
							return nil, err
						}
						b.WriteString(r)
						i += n
						continue
					}
					b.WriteByte(c)
					i++
				}
				if !closed {
					return nil, fmt.Errorf("unterminated string")
				}
			case '$', '[', ']', '{', '}', ';', '\\':
				return nil, fmt.Errorf("unsupported character %q outside quotes", c)
			default:
				b.WriteByte(c)
				i++
			}
		}
		t.text = b.String()
		toks = append(toks, t)
	}
}

// unescape decodes one backslash escape at the start of s and returns the
// text and the number of bytes consumed.
func unescape(s string) (string, int, error) {
	if len(s) < 2 {
		return "", 0, fmt.Errorf("dangling backslash")
	}
	switch c := s[1]; c {
	case '\\', '"', '$', '?':
		return string(c), 2, nil
	case 'n':
		return "\n", 2, nil
	case 'r':
		return "\r", 2, nil
	case 't':
		return "\t", 2, nil
	}
	if len(s) >= 3 {
		if n, err := strconv.ParseUint(s[1:3], 16, 8); err == nil && isHexUpper(s[1:3]) {
			return string(rune(byte(n))), 3, nil
		}
	}
	return "", 0, fmt.Errorf("unsupported escape %q", s[:2])
}

func isHexUpper(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// scriptLine is one parsed command of the supported script subset.
type scriptLine struct {
	menu, verb string
	selector   *pair  // [find where attr="v"]: attr, value
	numbers    string // numbers=*A or a bare *A
	args       []pair
}

// parseScript parses a whole script; any line outside the subset is an
// error (the script is rejected before anything runs).
func (s *Sim) parseScript(src string) ([]scriptLine, error) {
	var out []scriptLine
	for n, raw := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		l, err := s.parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: %s", n+1, err, line)
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Sim) parseLine(line string) (scriptLine, error) {
	var l scriptLine
	toks, err := tokenize(line)
	if err != nil {
		return l, err
	}
	if len(toks) == 0 || toks[0].bracket || !strings.HasPrefix(toks[0].text, "/") {
		return l, fmt.Errorf("not a menu command")
	}
	l.menu = "/" + strings.Trim(toks[0].text, "/")
	i := 1
	for ; i < len(toks); i++ {
		t := toks[i]
		if t.bracket || t.quoted || strings.Contains(t.text, "=") || !s.tree.HasMenu(l.menu+"/"+t.text) {
			break
		}
		l.menu += "/" + t.text
	}
	if !s.tree.HasMenu(l.menu) {
		return l, fmt.Errorf("no such menu %s", l.menu)
	}
	if i >= len(toks) || toks[i].bracket {
		return l, fmt.Errorf("missing command")
	}
	l.verb = toks[i].text
	switch {
	case l.verb == "add" || l.verb == "set" || l.verb == "remove":
	case l.verb == "run" && l.menu == "/system/script":
		// `/system script run NAME` is how on-event usually calls a script.
		if len(toks) != i+2 || toks[i+1].bracket || strings.Contains(toks[i+1].text, "=") {
			return l, fmt.Errorf("expected /system script run NAME")
		}
		l.selector = &pair{"name", toks[i+1].text}
		return l, nil
	default:
		return l, fmt.Errorf("command %q not in the supported subset (add, set, remove, /system script run)", l.verb)
	}
	for _, t := range toks[i+1:] {
		switch {
		case t.bracket:
			if l.selector != nil || l.numbers != "" {
				return l, fmt.Errorf("more than one selector")
			}
			sel, err := parseFind(t.text)
			if err != nil {
				return l, err
			}
			l.selector = &sel
		case !t.quoted && strings.HasPrefix(t.text, "*"):
			l.numbers = t.text
		default:
			k, v, ok := strings.Cut(t.text, "=")
			if !ok || k == "" {
				return l, fmt.Errorf("expected attr=value, got %q", t.text)
			}
			if k == "numbers" {
				l.numbers = v
				continue
			}
			l.args = append(l.args, pair{k, v})
		}
	}
	hasSel := l.selector != nil || l.numbers != ""
	if !s.tree.HasArg(l.menu, l.verb, "numbers") {
		// Singleton menus (/system identity, /ip dns) set without a selector.
		if hasSel {
			return l, fmt.Errorf("%s %s takes no selector", l.menu, l.verb)
		}
		return l, nil
	}
	if l.verb == "add" && hasSel {
		return l, fmt.Errorf("add takes no selector")
	}
	if l.verb != "add" && !hasSel {
		return l, fmt.Errorf("%s needs [find ...] or numbers=", l.verb)
	}
	if l.verb == "remove" && len(l.args) > 0 {
		return l, fmt.Errorf("remove takes no attributes")
	}
	return l, nil
}

// parseFind accepts `find attr="v"` and `find where attr="v"`.
func parseFind(inner string) (pair, error) {
	toks, err := tokenize(inner)
	if err != nil {
		return pair{}, err
	}
	if len(toks) > 0 && toks[0].text == "find" {
		toks = toks[1:]
	} else {
		return pair{}, fmt.Errorf("only [find ...] is supported")
	}
	if len(toks) > 0 && toks[0].text == "where" && !toks[0].quoted {
		toks = toks[1:]
	}
	if len(toks) != 1 || toks[0].bracket {
		return pair{}, fmt.Errorf(`[find] supports exactly one attr="value" condition`)
	}
	k, v, ok := strings.Cut(toks[0].text, "=")
	if !ok {
		return pair{}, fmt.Errorf("bad find condition %q", toks[0].text)
	}
	return pair{k, v}, nil
}

// interpret parses and runs a script with s.mu held, every line with who's
// policies. It stops at the first failing line, like RouterOS; lines
// already run stay applied.
func (s *Sim) interpret(src string, who session) error {
	lines, err := s.parseScript(src)
	if err != nil {
		return err
	}
	for n, l := range lines {
		words := []string{l.menu + "/" + l.verb}
		if l.selector != nil || l.numbers != "" {
			ids := l.numbers
			if l.selector != nil {
				var matched []string
				for _, it := range s.visible(l.menu) {
					if s.row(l.menu, it)[l.selector.k] == l.selector.v {
						matched = append(matched, it.ID())
					}
				}
				if len(matched) == 0 && l.verb == "run" {
					return fmt.Errorf("line %d: no such script %q", n+1, l.selector.v)
				}
				if len(matched) == 0 {
					continue // [find] matching nothing is a no-op on a router too
				}
				ids = strings.Join(matched, ",")
			}
			if l.verb == "run" {
				words = append(words, "=number="+ids)
			} else {
				words = append(words, "=numbers="+ids)
			}
		}
		for _, a := range l.args {
			words = append(words, "="+a.k+"="+a.v)
		}
		if _, trap := s.exec(words, who); trap != nil {
			return fmt.Errorf("line %d (%s %s): %s", n+1, l.menu, l.verb, trap.Message)
		}
	}
	return nil
}

// maxScriptDepth bounds scripts running scripts (a script that runs itself).
const maxScriptDepth = 8

// runScript runs a /system/script item started by caller (an API user, a
// script, or a scheduler entry) and records the outcome. A script whose
// policy holds more than the caller has is refused unless it is
// dont-require-permissions; it then runs with its own policies, otherwise
// with the caller's (a scheduler's) or what both allow (anyone else).
func (s *Sim) runScript(it *item, origin string, caller session) *Trap {
	name := it.attrs["name"]
	if s.depth >= maxScriptDepth {
		return trapf(3, "rossim: script %s: scripts nested too deep", name)
	}
	own, _ := parsePolicy(it.attrs["policy"], allPolicies)
	who := session{user: caller.user, pol: caller.pol}
	var err error
	switch {
	case it.attrs["dont-require-permissions"] == "true":
		who.pol = own
	case !caller.pol.has(own):
		err = fmt.Errorf("%s", errPermission().Message)
	case origin != "scheduler":
		who.pol = caller.pol & own
	}
	if err == nil {
		s.depth++
		err = s.interpret(it.attrs["source"], who)
		s.depth--
	}
	// The script may have removed itself; count the run only if it still exists.
	if cur := s.findByName("/system/script", name); cur != nil {
		cur.attrs["run-count"] = strconv.Itoa(atoi(cur.attrs["run-count"]) + 1)
	}
	s.runs = append(s.runs, ScriptRun{Name: name, Origin: origin, At: s.clock.Now(), Err: err})
	if err != nil {
		s.logf("rossim: script %q failed: %v", name, err)
		return trapf(3, "rossim: script %s failed: %v", name, err)
	}
	return nil
}

func atoi(v string) int {
	n, _ := strconv.Atoi(v)
	return n
}
