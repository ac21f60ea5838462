package mikrotik

import (
	"strings"

	ros "github.com/tether-net/tether/render/routeros"
)

// deadmanScript renders the inverse ops as the RouterOS script the
// dead-man runs. It uses only the subset test/rossim interprets and every
// RouterOS 7 accepts: one command per line, `/menu/path add|set|remove`,
// items selected with `[find where attr="value"]` (one condition), values
// always double-quoted with \ " $ ? escaped and control bytes as \HH, .ids
// bare (`*1F`). No variables, no conditionals, no loops — so a line that
// fails stops the script, and the order below puts the lines that can fail
// on a healthy router last:
//
//  1. remove what the plan added (found by unique name/comment, or by the
//     .id learnt after the add);
//  2. re-create what the plan removed or moved, and items whose attribute
//     must go back to unset: `remove [find …]` then `add … place-before=*ID`
//     before the first untouched item that followed it, so the line works
//     whether or not the forward write happened;
//  3. set old values back;
//  4. remove the scheduler and the script itself (the router is restored);
//  5. re-add removed items of menus other items refer to by name
//     (interfaces, lists, tables, BGP objects): they are never removed
//     first, so `add` fails when the forward removal did not happen — which
//     stops the script harmlessly at the end. Settle through the API
//     finishes whatever such a stop leaves.
//
// ids maps path+"\x00"+identity to the .id of items added by the plan.
func deadmanScript(txn string, u *undoDoc, ids map[string]string) string {
	var b strings.Builder
	name := DeadmanName(txn)
	b.WriteString("# tether dead-man for transaction " + txn + ": restores the state before it.\n")
	var late []Op
	for _, o := range u.Ops {
		switch o.Op {
		case "remove":
			sel := selector(o.Find, ids[o.Path+"\x00"+o.ID])
			if sel == "" {
				b.WriteString("# " + o.Path + " " + oneLine(o.ID) + ": added item not locatable yet\n")
				continue
			}
			line(&b, o.Path, "remove", sel, nil)
		case "restore":
			if referenced[o.Path] {
				late = append(late, o)
				continue
			}
			if sel := selector(o.Find, o.Ref); sel != "" {
				line(&b, o.Path, "remove", sel, nil)
			}
			attrs := o.Attrs
			if o.Before != "" {
				attrs = append(attrs[:len(attrs):len(attrs)], ros.Attr{Name: "place-before", Value: o.Before})
			}
			line(&b, o.Path, "add", "", attrs)
		}
	}
	for _, o := range u.Ops {
		if o.Op != "set" {
			continue
		}
		attrs := o.Attrs
		if o.Singleton {
			// A settings menu cannot be unset from a script; an empty
			// value is the closest the subset can say.
			for _, a := range o.Unset {
				attrs = append(attrs[:len(attrs):len(attrs)], ros.Attr{Name: a, Value: ""})
			}
			if len(attrs) > 0 {
				line(&b, o.Path, "set", "", attrs)
			}
			continue
		}
		if len(attrs) == 0 {
			continue
		}
		line(&b, o.Path, "set", selector(o.Find, o.Ref), attrs)
	}
	line(&b, "/system/scheduler", "remove", `[find where name=`+quote(name)+`]`, nil)
	line(&b, "/system/script", "remove", `[find where name=`+quote(name)+`]`, nil)
	for _, o := range late {
		line(&b, o.Path, "add", "", o.Attrs)
	}
	return b.String()
}

func selector(f *Find, ref string) string {
	switch {
	case f != nil:
		return "[find where " + f.Attr + "=" + quote(f.Value) + "]"
	case ref != "":
		return "[find where .id=" + ref + "]"
	}
	return ""
}

func line(b *strings.Builder, path, verb, sel string, attrs []ros.Attr) {
	b.WriteString(path)
	b.WriteByte(' ')
	b.WriteString(verb)
	if sel != "" {
		b.WriteByte(' ')
		b.WriteString(sel)
	}
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.Name)
		b.WriteByte('=')
		if a.Name == "place-before" {
			b.WriteString(a.Value) // an .id: bare, like *1F
			continue
		}
		v := a.Value
		if v == "" && flagAttrs[a.Name] {
			v = "yes"
		}
		b.WriteString(quote(v))
	}
	b.WriteByte('\n')
}

// quote writes a RouterOS script string literal: the renderer's quoting,
// so the dead-man script and the .rsc view escape values alike, plus \? for
// a question mark — the scripting manual's escape, and what RouterOS's own
// export writes (test/rossim/CONFORMANCE.md).
func quote(v string) string { return strings.ReplaceAll(ros.Quote(v), "?", `\?`) }

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }
