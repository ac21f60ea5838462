package policy

import (
	"fmt"
	"unicode/utf8"
)

// Limits on the shape of a TOML file, checked before it is decoded. The
// decoder's memory grows with the square of the nesting depth and of the
// number of parts of a dotted key: a 20 KB file of nested inline tables costs
// it about a gigabyte. No tether file needs more than a few levels.
const (
	MaxNesting = 16 // inline tables and arrays inside each other
	MaxKeyDots = 16 // parts of one dotted key or table header
)

// checkShape scans TOML source without decoding it and returns the first
// reason to refuse it, with its line and column: nesting or dotted keys past
// the limits, or a bidirectional-control character, which can make text
// (a comment, say) read differently in review from what the parser sees.
func checkShape(src string) (line, col int, msg string) {
	line, lineStart := 1, 0
	var stack []byte // open '{' and '[' of inline values
	inKey := true    // the next bare text is a key (line start, or after '{' or ',' in an inline table)
	dots := 0        // dots in the key being read
	header := false  // inside a [table] or [[array]] header
	fail := func(i int, format string, args ...any) (int, int, string) {
		return line, utf8.RuneCountInString(src[lineStart:i]) + 1, fmt.Sprintf(format, args...)
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line, lineStart = line+1, i+1
			if len(stack) == 0 {
				inKey, dots, header = true, 0, false
			}
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				if l, cl, m := bidi(src, i, fail); m != "" {
					return l, cl, m
				}
				i++
			}
		case c == '"' || c == '\'':
			end, nl, err := skipTOMLString(src, i)
			for j := i; j < end; j++ {
				if l, cl, m := bidi(src, j, fail); m != "" {
					return l, cl, m
				}
			}
			if err {
				return 0, 0, "" // unterminated: the decoder reports it with its own message
			}
			if nl > 0 {
				line += nl
				for j := end - 1; j >= i; j-- {
					if src[j] == '\n' {
						lineStart = j + 1
						break
					}
				}
			}
			i = end
		case c == '[' && len(stack) == 0 && inKey:
			header, dots = true, 0
			i++
		case c == ']' && header:
			i++
		case c == '{' || c == '[':
			stack = append(stack, c)
			if len(stack) > MaxNesting {
				return fail(i, "values are nested more than %d levels deep", MaxNesting)
			}
			inKey, dots = c == '{', 0
			i++
		case c == '}' || c == ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			inKey = false
			i++
		case c == ',':
			inKey = len(stack) > 0 && stack[len(stack)-1] == '{'
			dots = 0
			i++
		case c == '=':
			inKey, dots = false, 0
			i++
		case c == '.' && (inKey || header):
			if dots++; dots >= MaxKeyDots {
				return fail(i, "a key has more than %d dotted parts", MaxKeyDots)
			}
			i++
		default:
			if l, cl, m := bidi(src, i, fail); m != "" {
				return l, cl, m
			}
			i++
		}
	}
	return 0, 0, ""
}

// skipTOMLString returns the index after the string literal starting at i, the
// number of newlines inside it, and whether it is unterminated.
func skipTOMLString(src string, i int) (end, newlines int, unterminated bool) {
	q := src[i]
	multi := len(src) >= i+3 && src[i+1] == q && src[i+2] == q
	j := i + 1
	if multi {
		j = i + 3
	}
	for j < len(src) {
		switch {
		case src[j] == '\\' && q == '"':
			j += 2
			continue
		case src[j] == '\n':
			if !multi {
				return j, newlines, true
			}
			newlines++
		case src[j] == q:
			if !multi {
				return j + 1, newlines, false
			}
			if len(src) >= j+3 && src[j+1] == q && src[j+2] == q {
				// up to two more quotes may close a multi-line string
				k := j + 3
				for k < len(src) && k < j+5 && src[k] == q {
					k++
				}
				return k, newlines, false
			}
		}
		j++
	}
	return len(src), newlines, true
}

// bidi reports a Unicode bidirectional control character at src[i].
func bidi(src string, i int, fail func(int, string, ...any) (int, int, string)) (int, int, string) {
	if src[i] < 0x80 {
		return 0, 0, ""
	}
	r, _ := utf8.DecodeRuneInString(src[i:])
	if (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C {
		return fail(i, "bidirectional control character U+%04X: it can make the text read differently from what is parsed; remove it", r)
	}
	return 0, 0, ""
}
