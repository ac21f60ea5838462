package rossim

import (
	"fmt"
	"strconv"
	"strings"
)

// query is a compiled list of API query words. Each word pushes a boolean
// (or rewrites the stack, for ?#); a row matches when every value left on
// the stack is true, as the API documentation specifies.
type query []func(stack []bool, row map[string]string) ([]bool, error)

func compileQuery(words []string) (query, error) {
	var q query
	for _, w := range words {
		w = strings.TrimPrefix(w, "?")
		switch {
		case strings.HasPrefix(w, "#"):
			ops := w[1:]
			q = append(q, func(st []bool, _ map[string]string) ([]bool, error) { return stackOps(st, ops) })
		case strings.HasPrefix(w, "-"):
			name := w[1:]
			q = append(q, func(st []bool, r map[string]string) ([]bool, error) {
				_, ok := r[name]
				return append(st, !ok), nil
			})
		case strings.HasPrefix(w, "<") || strings.HasPrefix(w, ">"):
			op := w[0]
			name, val, ok := strings.Cut(w[1:], "=")
			if !ok {
				return nil, fmt.Errorf("bad query word %q", "?"+w)
			}
			q = append(q, func(st []bool, r map[string]string) ([]bool, error) {
				v, has := r[name]
				c := compareValues(v, val)
				return append(st, has && ((op == '<' && c < 0) || (op == '>' && c > 0))), nil
			})
		default:
			w = strings.TrimPrefix(w, "=")
			name, val, hasVal := strings.Cut(w, "=")
			q = append(q, func(st []bool, r map[string]string) ([]bool, error) {
				v, has := r[name]
				if !hasVal {
					return append(st, has), nil
				}
				return append(st, has && v == val), nil
			})
		}
	}
	return q, nil
}

func (q query) match(row map[string]string) bool {
	var st []bool
	for _, f := range q {
		var err error
		if st, err = f(st, row); err != nil {
			return false
		}
	}
	for _, b := range st {
		if !b {
			return false
		}
	}
	return true
}

// stackOps applies ?# operations: "!" negates the top value, "&" and "|"
// pop two and push their and/or, "." duplicates the top, and a decimal
// index followed by "." pushes a copy of the value at that index (0 = bottom).
func stackOps(st []bool, ops string) ([]bool, error) {
	for i := 0; i < len(ops); i++ {
		switch c := ops[i]; {
		case c == '!':
			if len(st) < 1 {
				return st, fmt.Errorf("stack underflow")
			}
			st[len(st)-1] = !st[len(st)-1]
		case c == '&' || c == '|':
			if len(st) < 2 {
				return st, fmt.Errorf("stack underflow")
			}
			a, b := st[len(st)-2], st[len(st)-1]
			st = st[:len(st)-2]
			if c == '&' {
				st = append(st, a && b)
			} else {
				st = append(st, a || b)
			}
		case c == '.':
			if len(st) < 1 {
				return st, fmt.Errorf("stack underflow")
			}
			st = append(st, st[len(st)-1])
		case c >= '0' && c <= '9':
			j := i
			for j < len(ops) && ops[j] >= '0' && ops[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(ops[i:j])
			if n >= len(st) {
				return st, fmt.Errorf("stack index %d out of range", n)
			}
			st = append(st, st[n])
			if j < len(ops) && ops[j] == '.' {
				j++
			}
			i = j - 1
		default:
			return st, fmt.Errorf("bad ?# operation %q", c)
		}
	}
	return st, nil
}

// compareValues compares numerically when both sides are integers, else as
// strings.
func compareValues(a, b string) int {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 == nil && err2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
