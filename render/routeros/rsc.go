package routeros

import (
	"strconv"
	"strings"
)

// RSC returns the configuration as a RouterOS script a person could paste
// into a terminal or /import: items grouped by menu in the write-ups' style
// ("/interface wireguard" then "add name=… comment=…"), singletons as one
// "/ip dns set …" line, anchors as place-before=[find where …].
//
// It is a view for people and for review; the device applies Items through
// the API. It adds, it does not reconcile: pasting it on a router that
// already has the items creates duplicates (or fails on unique names).
func (c *Config) RSC() []byte {
	var b strings.Builder
	b.Grow(256 + 224*len(c.Items)) // about one line per item
	b.WriteString("# tether: RouterOS configuration for site ")
	b.WriteString(strconv.Quote(c.Site))
	b.WriteString(", RouterOS ")
	b.WriteString(c.Version)
	b.WriteString("\n# Items tether owns carry comment=\"tether: …\"; tether never touches other items.\n")
	b.WriteString("# WireGuard private keys are generated on the router and stay there: none are in this file.\n")
	for _, w := range c.Warnings {
		b.WriteString("# warning: ")
		b.WriteString(oneLine(w))
		b.WriteByte('\n')
	}
	menu := ""
	anchors := EffectiveAnchors(c.Items)
	for i := range c.Items {
		it := &c.Items[i]
		words := strings.Join(splitPath(it.Path), " ")
		if it.Singleton {
			b.WriteString("/")
			b.WriteString(words)
			b.WriteString(" set")
			writeAttrs(&b, it.Attrs)
			b.WriteByte('\n')
			menu = "" // a one-line command does not change the current menu
			continue
		}
		if it.Path != menu {
			b.WriteString("/")
			b.WriteString(words)
			b.WriteByte('\n')
			menu = it.Path
		}
		if it.Fixed {
			// A fixed entry is set by its name, never added.
			name, _ := it.Get("name")
			b.WriteString("set ")
			b.WriteString(quoteValue(name))
			for _, a := range it.Attrs {
				if a.Name != "name" {
					writeAttrs(&b, []Attr{a})
				}
			}
			b.WriteByte('\n')
			continue
		}
		b.WriteString("add")
		writeAttrs(&b, it.Attrs)
		chain, _ := it.Get("chain")
		if anchor := anchors[i]; anchor != "" {
			b.WriteString(" place-before=[find where ")
			if chain != "" {
				b.WriteString("chain=")
				b.WriteString(quoteValue(chain))
				b.WriteString(" and ")
			}
			b.WriteString("comment=")
			b.WriteString(quoteAlways(anchor))
			b.WriteString("]")
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func writeAttrs(b *strings.Builder, attrs []Attr) {
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.Name)
		if a.Value == "" && flagAttrs[a.Name] {
			continue
		}
		b.WriteByte('=')
		b.WriteString(quoteValue(a.Value))
	}
}

// splitPath turns "/ip/firewall/filter" into its segments.
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// quoteValue applies RouterOS script quoting: a value is quoted when it is
// empty or contains a space or a character the script parser treats
// specially; inside quotes ", \ and $ are escaped and control characters are
// written as \HH hex escapes, so no value can end the string or start a
// variable or command substitution.
func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n;\"$[]{}\\=()#'?`") && !hasControl(v) {
		return v
	}
	return quoteAlways(v)
}

// Quote writes v as a RouterOS script string literal, always quoted, with
// the escapes quoteValue uses. The device's dead-man script uses it too.
func Quote(v string) string { return quoteAlways(v) }

// quoteAlways quotes v unconditionally with the escapes quoteValue uses.
func quoteAlways(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\' || c == '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			const hex = "0123456789ABCDEF"
			b.WriteByte('\\')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// oneLine keeps a warning on one comment line of the script.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
