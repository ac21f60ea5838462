package mikrotik

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ros "github.com/tether-net/tether/render/routeros"
	"go.uber.org/zap"
)

// exec writes ops in order and returns how many succeeded. ids collects
// the .id of every added item by path and identity.
func (d *Device) exec(ctx context.Context, ops []Op, ids map[string]string) (int, error) {
	for n, o := range ops {
		var words []string
		sel := func() {
			if !o.Singleton {
				words = append(words, "=.id="+o.Ref)
			}
		}
		switch o.Op {
		case "add":
			words = append(words, o.Path+"/add")
			words = appendAttrs(words, o.Attrs)
			if o.Before != "" {
				words = append(words, "=place-before="+o.Before)
			}
		case "set":
			words = append(words, o.Path+"/set")
			sel()
			words = appendAttrs(words, o.Attrs)
		case "unset":
			words = append(words, o.Path+"/unset")
			sel()
			words = append(words, "=value-name="+o.Unset[0])
		case "remove":
			words = append(words, o.Path+"/remove", "=.id="+o.Ref)
		case "move":
			words = append(words, o.Path+"/move", "=numbers="+o.Ref)
			if o.Before != "" {
				words = append(words, "=destination="+o.Before)
			}
		default:
			return n, fmt.Errorf("unknown op %q", o.Op)
		}
		rep, err := d.c.run(ctx, words...)
		if err != nil {
			return n, fmt.Errorf("%s %s %s: %w", o.Op, o.Path, o.ID, err)
		}
		if o.Op == "add" && ids != nil {
			ids[o.Path+"\x00"+o.ID] = rep.Done["ret"]
		}
		d.log.Debug("wrote", zap.String("op", o.Op), zap.String("path", o.Path), zap.String("id", o.ID))
	}
	return len(ops), nil
}

func appendAttrs(words []string, attrs []ros.Attr) []string {
	for _, a := range attrs {
		words = append(words, "="+a.Name+"="+a.Value)
	}
	return words
}

// restore brings the touched items back to their prior state through the
// API: it re-reads the touched menus, writes only what differs (so it
// completes a partial apply, a partial dead-man run, or nothing at all),
// and verifies by reading again.
func (d *Device) restore(ctx context.Context, u *undoDoc) error {
	ops, err := d.restoreOps(ctx, u, false)
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := d.exec(ctx, ops, nil); err != nil {
		return err
	}
	left, err := d.restoreOps(ctx, u, true)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(left) > 0 {
		var what []string
		for _, o := range left {
			what = append(what, o.Op+" "+o.Path+" "+o.ID)
		}
		return fmt.Errorf("verify: the router still differs from the prior state: %s", strings.Join(what, "; "))
	}
	return nil
}

// restoreOps reads the touched menus and computes the writes that bring
// them back to the prior state described by the inverse ops. verify skips
// unsets, whose printed result (absent or a default) varies by attribute.
func (d *Device) restoreOps(ctx context.Context, u *undoDoc, verify bool) ([]Op, error) {
	menus := map[string]*menu{}
	for _, mr := range u.Menus {
		m, err := d.readMenu(ctx, mr, false)
		if err != nil {
			return nil, err
		}
		menus[mr.Path] = m
	}
	gone := map[*row]bool{}
	var out []Op
	live := func(path, id string, fixed bool) *row {
		m := menus[path]
		if m == nil {
			return nil
		}
		for _, r := range m.rows {
			if (r.owned || fixed) && r.id == id && !gone[r] {
				return r
			}
		}
		return nil
	}
	setDiff := func(path string, r *row, singleton bool, attrs []ros.Attr, unset []string, id string) {
		var nw []ros.Attr
		for _, a := range attrs {
			if lv, ok := r.get(a.Name); !same(a.Name, a.Value, lv, ok) {
				nw = append(nw, a)
			}
		}
		if len(nw) > 0 {
			out = append(out, Op{Op: "set", Path: path, ID: id, Ref: r.ref, Attrs: nw, Singleton: singleton})
		}
		if verify {
			return
		}
		for _, a := range unset {
			if v, ok := r.get(a); ok && v != "" {
				out = append(out, Op{Op: "unset", Path: path, ID: id, Ref: r.ref, Unset: []string{a}, Singleton: singleton})
			}
		}
	}
	// 1. Remove what the plan added.
	for _, o := range u.Ops {
		if o.Op != "remove" {
			continue
		}
		if r := live(o.Path, o.ID, false); r != nil {
			out = append(out, Op{Op: "remove", Path: o.Path, ID: o.ID, Ref: r.ref})
			gone[r] = true
		}
	}
	// 2. Re-create removed and moved items at their place, group by group:
	// a group is the run of items that sat right before one untouched item.
	type group struct {
		path, before string
		ops          []Op
	}
	var groups []*group
	for _, o := range u.Ops {
		if o.Op != "restore" {
			continue
		}
		if n := len(groups); n > 0 && groups[n-1].path == o.Path && groups[n-1].before == o.Before {
			groups[n-1].ops = append(groups[n-1].ops, o)
			continue
		}
		groups = append(groups, &group{path: o.Path, before: o.Before, ops: []Op{o}})
	}
	for _, g := range groups {
		m := menus[g.path]
		var rows []*row // the menu without what step 1 removes
		for _, r := range m.rows {
			if !gone[r] {
				rows = append(rows, r)
			}
		}
		before := g.before
		at := len(rows)
		if before != "" {
			if at = slices.IndexFunc(rows, func(r *row) bool { return r.ref == before }); at < 0 {
				before, at = "", len(rows) // the neighbour is gone: append
			}
		}
		present := make([]*row, len(g.ops))
		all := true
		for k, o := range g.ops {
			present[k] = live(o.Path, o.ID, false)
			all = all && present[k] != nil
		}
		inPlace := !placeable[g.path]
		if all && placeable[g.path] && at >= len(present) {
			inPlace = slices.Equal(rows[at-len(present):at], present)
		}
		for k, o := range g.ops {
			r := present[k]
			if r == nil {
				b := before
				if !placeable[g.path] {
					b = ""
				}
				out = append(out, Op{Op: "add", Path: o.Path, ID: o.ID, Attrs: o.Attrs, Before: b})
				continue
			}
			setDiff(o.Path, r, false, o.Attrs, o.Unset, o.ID)
			if !inPlace {
				out = append(out, Op{Op: "move", Path: o.Path, ID: o.ID, Ref: r.ref, Before: before})
			}
		}
	}
	// 3. Put old values back.
	for _, o := range u.Ops {
		if o.Op != "set" {
			continue
		}
		var r *row
		if o.Singleton {
			if m := menus[o.Path]; m != nil && len(m.rows) > 0 {
				r = m.rows[0]
			}
		} else {
			r = live(o.Path, o.ID, o.Fixed)
		}
		if r == nil {
			d.log.Warn("cannot restore values: item is gone", zap.String("path", o.Path), zap.String("id", o.ID))
			continue
		}
		setDiff(o.Path, r, o.Singleton, o.Attrs, o.Unset, o.ID)
	}
	return out, nil
}
