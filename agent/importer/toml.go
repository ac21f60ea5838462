package importer

import (
	"encoding"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// tomlWriter writes the policy structs as TOML in the examples' style: top
// level keys first, then one [table] or [[array]] block per item, each key
// in struct field order, unset values left out, a blank line between
// blocks and an optional "# ..." comment above a block.
type tomlWriter struct {
	b strings.Builder
}

// comment writes lines as "# " comments.
func (w *tomlWriter) comment(lines ...string) {
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			w.b.WriteString(strings.TrimRight("# "+part, " ") + "\n")
		}
	}
}

func (w *tomlWriter) blank() {
	s := w.b.String()
	if s != "" && !strings.HasSuffix(s, "\n\n") {
		w.b.WriteString("\n")
	}
}

// keys writes v's scalar fields (and arrays/maps of scalars) as key = value
// lines; struct-valued fields are left to the caller.
// The comment and the placement of an item come last, as in the examples.
func (w *tomlWriter) keys(v reflect.Value) {
	t := v.Type()
	var last []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := tomlName(f)
		if !ok {
			continue
		}
		if s, ok := scalar(v.Field(i)); ok {
			line := fmt.Sprintf("%s = %s\n", key(name), s)
			if name == "comment" || name == "place_before" {
				last = append(last, line)
				continue
			}
			w.b.WriteString(line)
		}
	}
	for _, l := range last {
		w.b.WriteString(l)
	}
}

// table writes [header] with v's scalar keys, or nothing when it has none.
func (w *tomlWriter) table(header string, v any, comments ...string) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	var probe tomlWriter
	probe.keys(rv)
	if probe.b.Len() == 0 {
		return
	}
	w.blank()
	w.comment(comments...)
	w.b.WriteString("[" + header + "]\n")
	w.b.WriteString(probe.b.String())
}

// array writes one [[header]] block.
func (w *tomlWriter) array(header string, v any, comments ...string) {
	w.blank()
	w.comment(comments...)
	w.b.WriteString("[[" + header + "]]\n")
	w.keys(reflect.Indirect(reflect.ValueOf(v)))
}

func tomlName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("toml")
	if tag == "" || tag == "-" || !f.IsExported() {
		return "", false
	}
	return strings.Split(tag, ",")[0], true
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// scalar formats a value TOML can write on one line; ok is false for unset
// values and for nested tables.
func scalar(v reflect.Value) (string, bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", false
		}
		if v.Elem().Kind() == reflect.Bool {
			return strconv.FormatBool(v.Elem().Bool()), true
		}
		if v.Type().Implements(textMarshaler) {
			return scalar(v.Elem())
		}
		return "", false
	}
	if v.Type().Implements(textMarshaler) {
		if v.IsZero() {
			return "", false
		}
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return "", false
		}
		return quote(string(b)), true
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return "", false
		}
		return quote(v.String()), true
	case reflect.Bool:
		if !v.Bool() {
			return "", false
		}
		return "true", true
	case reflect.Int, reflect.Int64, reflect.Int32:
		if v.Int() == 0 {
			return "", false
		}
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Uint32, reflect.Uint16, reflect.Uint64, reflect.Uint:
		if v.Uint() == 0 {
			return "", false
		}
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Slice:
		if v.Len() == 0 {
			return "", false
		}
		parts := make([]string, 0, v.Len())
		for i := range v.Len() {
			s, ok := scalar(v.Index(i))
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, ", ") + "]", true
	case reflect.Map:
		if v.Len() == 0 || v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
			return "", false
		}
		ks := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			ks = append(ks, k.String())
		}
		slices.Sort(ks)
		parts := make([]string, len(ks))
		for i, k := range ks {
			parts[i] = key(k) + " = " + quote(v.MapIndex(reflect.ValueOf(k)).String())
		}
		return "{ " + strings.Join(parts, ", ") + " }", true
	}
	return "", false
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// key writes a TOML key, quoted unless it is a bare key.
func key(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return quote(k)
}

// quote writes a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if unicode.IsControl(r) {
				fmt.Fprintf(&b, `\u%04X`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func reflectValue(v any) reflect.Value { return reflect.Indirect(reflect.ValueOf(v)) }
