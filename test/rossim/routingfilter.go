package rossim

import (
	"net/netip"
	"strconv"
	"strings"
)

// chainRules returns the parsed rules of a routing filter chain in table
// order. Rules are checked when added or set (checkFilterRule), so a rule
// that does not parse here came from LoadState: it is logged and skipped.
func (s *Sim) chainRules(chain string) [][]filterStmt {
	var out [][]filterStmt
	for _, r := range s.tableFor("/routing/filter/rule").items {
		if r.attrs["chain"] != chain || r.attrs["disabled"] == "true" {
			continue
		}
		stmts, err := parseFilterRule(r.attrs["rule"])
		if err != nil {
			s.logf("rossim: routing filter rule %q (chain %s) skipped: %v", r.attrs["rule"], chain, err)
			continue
		}
		out = append(out, stmts)
	}
	return out
}

// filterPrefixes keeps the prefixes chain accepts; no chain accepts
// everything.
func (s *Sim) filterPrefixes(chain string, ps []netip.Prefix) []netip.Prefix {
	if chain == "" {
		return ps
	}
	rules := s.chainRules(chain)
	var out []netip.Prefix
	for _, p := range ps {
		if filterAccepts(rules, p) {
			out = append(out, p)
		}
	}
	return out
}

// filterAccepts evaluates a chain's rules in order; the first accept or
// reject decides, and falling off the end of the chain rejects.
func filterAccepts(rules [][]filterStmt, p netip.Prefix) bool {
	for _, stmts := range rules {
		for _, st := range stmts {
			if st.matches(p) {
				switch st.action {
				case "accept":
					return true
				case "reject":
					return false
				}
			}
		}
	}
	return false
}

// checkFilterRule refuses a /routing/filter/rule whose rule text is outside
// the simulated subset, naming what is not simulated: the simulator would
// otherwise judge routes by a rule it does not understand.
func checkFilterRule(rule string) *Trap {
	if _, err := parseFilterRule(rule); err != nil {
		return trapf(1, "rossim: routing filter rule %q not simulated: %v", rule, err)
	}
	return nil
}

// filterStmt is `if (conds) { action }` or a bare action (no conds).
type filterStmt struct {
	conds  []filterCond
	action string
}

type filterCond struct {
	field, op string // field: dst | dst-len; op: == | in | <= | >= | < | >
	prefix    netip.Prefix
	lo, hi    int
}

func (st filterStmt) matches(p netip.Prefix) bool {
	for _, c := range st.conds {
		if !c.matches(p) {
			return false
		}
	}
	return true
}

func (c filterCond) matches(p netip.Prefix) bool {
	if c.field == "dst" {
		if c.op == "==" {
			return p == c.prefix
		}
		return c.prefix.Bits() <= p.Bits() && c.prefix.Contains(p.Addr())
	}
	n := p.Bits()
	switch c.op {
	case "==":
		return n == c.lo
	case "in":
		return n >= c.lo && n <= c.hi
	case "<=":
		return n <= c.lo
	case ">=":
		return n >= c.lo
	case "<":
		return n < c.lo
	case ">":
		return n > c.lo
	}
	return false
}

// filterTokens splits a rule into words and the punctuation ( ) { } ; &&.
func filterTokens(rule string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(rule); i++ {
		c := rule[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case strings.IndexByte("(){};", c) >= 0:
			flush()
			toks = append(toks, string(c))
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return toks
}

type filterParseError string

func (e filterParseError) Error() string { return string(e) }

// parseFilterRule parses the subset of RouterOS routing filter syntax that
// tether emits (render/routeros FilterRuleText):
//
//	if (dst == P) { accept }
//	if (dst in P && dst-len in A-B) { accept }
//	accept | reject
//
// Conditions: dst == P, dst in P, dst-len (==|in|<=|>=|<|>) N or in A-B,
// joined with &&. Statements may end with ";".
func parseFilterRule(rule string) ([]filterStmt, error) {
	toks := filterTokens(rule)
	var out []filterStmt
	i := 0
	next := func() string {
		if i < len(toks) {
			i++
			return toks[i-1]
		}
		return ""
	}
	for i < len(toks) {
		t := next()
		switch t {
		case ";":
			continue
		case "accept", "reject":
			out = append(out, filterStmt{action: t})
		case "if":
			if next() != "(" {
				return nil, filterParseError("expected ( after if")
			}
			var st filterStmt
			for {
				field, op, val := next(), next(), next()
				c, err := parseFilterCond(field, op, val)
				if err != nil {
					return nil, err
				}
				st.conds = append(st.conds, c)
				sep := next()
				if sep == ")" {
					break
				}
				if sep != "&&" {
					return nil, filterParseError("expected && or ) in condition")
				}
			}
			if next() != "{" {
				return nil, filterParseError("expected {")
			}
			st.action = next()
			if st.action != "accept" && st.action != "reject" {
				return nil, filterParseError("unsupported action " + strconv.Quote(st.action))
			}
			if t := next(); t == ";" {
				t = next()
				if t != "}" {
					return nil, filterParseError("expected }")
				}
			} else if t != "}" {
				return nil, filterParseError("expected }")
			}
			out = append(out, st)
		default:
			return nil, filterParseError("unsupported statement " + strconv.Quote(t))
		}
	}
	return out, nil
}

func parseFilterCond(field, op, val string) (filterCond, error) {
	c := filterCond{field: field, op: op}
	switch field {
	case "dst":
		if op != "==" && op != "in" {
			return c, filterParseError("unsupported dst operator " + op)
		}
		p, err := netip.ParsePrefix(val)
		if err != nil {
			return c, filterParseError("bad prefix " + val)
		}
		c.prefix = p.Masked()
	case "dst-len":
		lo, hi, isRange := strings.Cut(val, "-")
		var err1, err2 error
		c.lo, err1 = strconv.Atoi(lo)
		c.hi = c.lo
		if isRange {
			c.hi, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || (isRange && op != "in") {
			return c, filterParseError("bad dst-len " + val)
		}
		switch op {
		case "==", "in", "<=", ">=", "<", ">":
		default:
			return c, filterParseError("unsupported dst-len operator " + op)
		}
	default:
		return c, filterParseError("unsupported match " + strconv.Quote(field))
	}
	return c, nil
}
