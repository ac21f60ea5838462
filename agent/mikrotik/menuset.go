package mikrotik

import (
	"slices"
	"sync"
	"time"
)

// fullScanEvery is how often a plan reads every known menu although the
// router's record says tether owns nothing there: it finds owned items the
// record cannot know about (restored from a backup, copied by hand with
// tether's marker, left by an agent that ran before this process).
const fullScanEvery = time.Hour

// ownedMenus is the per-router record of the menus that may hold items
// tether owns: every menu a plan rendered into (it may have been written
// since) and every menu in which a read found an owned row. Plans read the
// menus the site renders into plus those in the record, not all known
// menus, so an idle re-plan costs one read per menu the site uses.
//
// The record lives as long as the Device and only grows: a menu leaves it
// only when the process ends. Dropping a menu once its owned rows were
// removed would be wrong if that removal were later undone (a gate
// revert, the router's dead-man) without a plan in between. The first plan
// of a process, and one every fullScanEvery, read every known menu.
type ownedMenus struct {
	mu      sync.Mutex
	menus   map[string]bool
	scanned time.Time // last plan that read every known menu; zero: never
}

// extra returns the known or recorded menus a plan reads beyond the
// rendered ones, in dependency order (known menus first, in their order),
// and whether this is a full scan.
func (o *ownedMenus) extra(rendered []string, now time.Time) (menus []string, full bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	full = o.scanned.IsZero() || now.Sub(o.scanned) >= fullScanEvery || now.Before(o.scanned)
	for _, k := range knownMenus {
		if !slices.Contains(rendered, k) && (full || o.menus[k]) {
			menus = append(menus, k)
		}
	}
	var raw []string // recorded menus outside knownMenus: raw items' menus
	for k := range o.menus {
		if !slices.Contains(rendered, k) && !slices.Contains(knownMenus, k) {
			raw = append(raw, k)
		}
	}
	slices.Sort(raw)
	return append(menus, raw...), full
}

// note records the menus a plan rendered into and those where it found
// owned rows; full marks a plan that read every known menu.
func (o *ownedMenus) note(rendered []string, read map[string]*menu, now time.Time, full bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.menus == nil {
		o.menus = map[string]bool{}
	}
	for _, p := range rendered {
		o.menus[p] = true
	}
	for p, m := range read {
		if slices.ContainsFunc(m.rows, func(r *row) bool { return r.owned }) {
			o.menus[p] = true
		}
	}
	if full {
		o.scanned = now
	}
}
