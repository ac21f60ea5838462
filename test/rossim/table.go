package rossim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// item is one row of a menu. attrs holds printed values exactly as print
// returns them (already normalised). derived marks rows the world model owns
// (learned BGP routes, sessions, connected routes): they are rebuilt on each
// refresh and cannot be edited through the API.
type item struct {
	id      uint64
	attrs   map[string]string
	derived string // non-empty: stable key of a world-owned row
}

func (it *item) ID() string { return formatID(it.id) }

// table is a menu's ordered list of items. Ids come from a per-table counter
// and are never reused, like a router's.
type table struct {
	nextID  uint64
	nextDyn uint64 // dynamic rows of menus with a dynamic id range
	items   []*item
}

// dynamicBase is where ids of rows the router makes itself start, per menu:
// RouterOS shows such rows with long ids (a route *80000032, a BGP session
// *2800001), apart from the small ids of configured rows.
var dynamicBase = map[string]uint64{"/ip/route": 0x80000000, "/ipv6/route": 0x80000000, "/routing/bgp/session": 0x2800000}

func newTable() *table { return &table{nextID: 1} }

func (t *table) alloc() uint64 {
	id := t.nextID
	t.nextID++
	return id
}

// allocDynamic returns the next id of a row the router makes itself.
func (t *table) allocDynamic(menu string) uint64 {
	base, ok := dynamicBase[menu]
	if !ok {
		return t.alloc()
	}
	t.nextDyn++
	return base + t.nextDyn
}

func (t *table) index(id uint64) int {
	return slices.IndexFunc(t.items, func(it *item) bool { return it.id == id })
}

func (t *table) get(id uint64) *item {
	if i := t.index(id); i >= 0 {
		return t.items[i]
	}
	return nil
}

// insertBefore inserts it before the item with id before (0 = append).
func (t *table) insertBefore(it *item, before uint64) {
	if before != 0 {
		if i := t.index(before); i >= 0 {
			t.items = slices.Insert(t.items, i, it)
			return
		}
	}
	t.items = append(t.items, it)
}

func (t *table) remove(id uint64) {
	if i := t.index(id); i >= 0 {
		t.items = slices.Delete(t.items, i, i+1)
	}
}

// move moves the items in ids (in that order) before destination, or to the
// end when destination is 0. Mirrors RouterOS move with numbers + destination.
func (t *table) move(ids []uint64, destination uint64) {
	var moving []*item
	for _, id := range ids {
		if it := t.get(id); it != nil && !slices.Contains(moving, it) {
			moving = append(moving, it)
		}
	}
	t.items = slices.DeleteFunc(t.items, func(it *item) bool { return slices.Contains(moving, it) })
	pos := len(t.items)
	if destination != 0 {
		if i := t.index(destination); i >= 0 {
			pos = i
		}
	}
	t.items = slices.Insert(t.items, pos, moving...)
}

func formatID(id uint64) string { return "*" + strings.ToUpper(strconv.FormatUint(id, 16)) }

// parseID parses "*1A" into 0x1A.
func parseID(s string) (uint64, error) {
	if !strings.HasPrefix(s, "*") || len(s) < 2 {
		return 0, fmt.Errorf("bad id %q", s)
	}
	return strconv.ParseUint(s[1:], 16, 64)
}
