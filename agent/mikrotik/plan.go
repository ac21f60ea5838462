package mikrotik

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-net/tether/agent/contract"
	ros "github.com/tether-net/tether/render/routeros"
)

// Op is one write of a plan, as journaled in contract.Plan.Do and Undo.
//
// Forward ops (Do) address existing items by the .id read at plan time
// (Ref) and place items before an existing .id (Before), so applying them
// needs no further reads. Inverse ops (Undo) are idempotent and address
// items by identity, because the .id of an item the plan adds is only known
// after the add: "remove" removes the item if present, "restore" re-creates
// a removed or moved item whole at its old position (before the .id of the
// first following item the plan does not touch), "set" puts old values back.
type Op struct {
	Op        string     `json:"op"` // add | set | remove | move | restore
	Path      string     `json:"path"`
	ID        string     `json:"id,omitempty"`  // tether identity (render/routeros.Identity); "" for singletons
	Ref       string     `json:"ref,omitempty"` // the router's .id when known at plan time
	Find      *Find      `json:"find,omitempty"`
	Attrs     []ros.Attr `json:"attrs,omitempty"` // add/restore: every attribute; set: new values
	Old       []ros.Attr `json:"old,omitempty"`   // set: the values replaced
	Unset     []string   `json:"unset,omitempty"` // set/restore: attributes to reset to the default
	Before    string     `json:"before,omitempty"`
	Singleton bool       `json:"singleton,omitempty"`
	Fixed     bool       `json:"fixed,omitempty"` // set: a fixed entry, found by identity whoever owns it
}

// Find locates an item by one attribute whose value is unique in its menu.
type Find struct {
	Attr  string `json:"attr"`
	Value string `json:"value"`
}

// doDoc is the JSON of contract.Plan.Do.
type doDoc struct {
	Ops []Op `json:"ops"`
}

// undoDoc is the JSON of contract.Plan.Undo: the menus to re-read (with their
// .proplist) and the inverse ops. Settle(!keep) re-reads the menus and
// writes only what differs from the prior state; the dead-man script is the
// same ops in RouterOS script.
type undoDoc struct {
	Menus []menuRead `json:"menus"`
	Ops   []Op       `json:"ops"`
}

type menuRead struct {
	Path      string   `json:"path"`
	Proplist  []string `json:"proplist"`
	Singleton bool     `json:"singleton,omitempty"`
}

// row is one live item.
type row struct {
	ref   string
	attrs map[string]string
	id    string
	owned bool
}

func (r *row) get(a string) (string, bool) { v, ok := r.attrs[a]; return v, ok }

// menu is one menu as read from the router.
type menu struct {
	read menuRead
	rows []*row
	rank int
}

// readMenu prints a menu once with its proplist.
// optional menus (known but not rendered) that the router's version lacks
// read as empty.
func (d *Device) readMenu(ctx context.Context, mr menuRead, optional bool) (*menu, error) {
	words := []string{mr.Path + "/print", "=.proplist=" + strings.Join(mr.Proplist, ",")}
	rep, err := d.c.run(ctx, words...)
	if err != nil {
		if optional && isMissingMenu(err) {
			// A known menu this version lacks (/routing/bgp/instance on
			// 7.18) holds nothing of ours. Any other refusal, such as
			// "not enough permissions", is the operator's to fix: reading
			// it as empty would plan to re-add what is there.
			return &menu{read: mr}, nil
		}
		return nil, fmt.Errorf("read %s: %w", mr.Path, err)
	}
	m := &menu{read: mr}
	for _, a := range rep.Re {
		r := &row{ref: a[".id"], attrs: a}
		if !mr.Singleton {
			r.id, r.owned = ros.Identity(mr.Path, a)
			if a["dynamic"] == "true" || a["default"] == "true" || a["builtin"] == "true" {
				r.owned = false // the router's own items, whatever their comment
			}
		}
		m.rows = append(m.rows, r)
	}
	return m, nil
}

// desired is one rendered item with its effective anchor.
type desired struct {
	ros.Item
	anchor string // effective anchor comment ("" = unanchored)
	chain  string
}

// planner holds one planning pass.
type planner struct {
	menus map[string]*menu
	order []string // menu paths in dependency order
	items []desired
	do    []Op
	chg   []contract.Change
	// per path: live row refs matched to desired items, and refs of owned
	// rows to remove or move (unstable for the inverse).
	matched map[*row]bool
	removed map[*row]bool
	moved   map[*row]bool
	unset   map[*row][]string // rows whose set adds attributes the router had unset
	setOld  map[*row][]ros.Attr
	setOp   map[*row]Op
	// lookalikes are unowned rows that declared items without an owned
	// match would duplicate; claimed marks them so each is found once.
	lookalikes []Lookalike
	claimed    map[*row]bool
	rowKeys    map[*row]string
	plan       *contract.Plan
}

// PlanConfig plans a rendered configuration against the router: one read
// per menu, then the difference. It refuses, before anything is written,
// with a *PrereqError a configuration that refers to interfaces, lists,
// tables or anchor rules the router does not have, and with a
// *LookalikeError a plan that would add an item the router already has
// under another owner.
func (d *Device) PlanConfig(ctx context.Context, cfg *ros.Config) (*contract.Plan, error) {
	p, err := d.plan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if len(p.lookalikes) > 0 {
		return nil, &LookalikeError{Site: cfg.Site, Items: p.lookalikes}
	}
	if !p.plan.Empty() {
		// Only a plan that writes needs the version (doctor reports it on
		// its own): one more round trip, never on a no-op poll.
		older, err := d.olderRouter(ctx, cfg.Version)
		if err != nil {
			return nil, err
		}
		if len(older) > 0 {
			return nil, &PrereqError{Site: cfg.Site, Missing: older}
		}
	}
	return p.plan, nil
}

// plan reads the menus and computes the plan and the look-alikes.
func (d *Device) plan(ctx context.Context, cfg *ros.Config) (*planner, error) {
	p := &planner{menus: map[string]*menu{}, matched: map[*row]bool{}, removed: map[*row]bool{}, moved: map[*row]bool{},
		unset: map[*row][]string{}, setOld: map[*row][]ros.Attr{}, setOp: map[*row]Op{}, claimed: map[*row]bool{}}
	// Menus in dependency order: the rendered order first, then the menus
	// the site does not use but tether may own items in (those items are
	// stale): see ownedMenus.
	attrsOf := map[string][]string{}
	single := map[string]bool{}
	for _, it := range cfg.Items {
		if !slices.Contains(p.order, it.Path) {
			p.order = append(p.order, it.Path)
		}
		single[it.Path] = it.Singleton
		for _, a := range it.Attrs {
			if !slices.Contains(attrsOf[it.Path], a.Name) {
				attrsOf[it.Path] = append(attrsOf[it.Path], a.Name)
			}
		}
	}
	nRendered := len(p.order)
	rendered := slices.Clone(p.order)
	now := d.now()
	extra, full := d.owned.extra(rendered, now)
	p.order = append(p.order, extra...)
	for i, path := range p.order {
		mr := menuRead{Path: path, Singleton: single[path]}
		if mr.Singleton {
			mr.Proplist = attrsOf[path]
		} else {
			mr.Proplist = proplist(path, attrsOf[path])
		}
		m, err := d.readMenu(ctx, mr, i >= nRendered)
		if err != nil {
			return nil, err
		}
		m.rank = i
		p.menus[path] = m
	}
	d.owned.note(rendered, p.menus, now, full)
	p.items = effectiveAnchors(cfg.Items)
	if err := d.checkPrereqs(ctx, cfg, p); err != nil {
		return nil, err
	}
	if err := d.otherInterfaces(ctx, p); err != nil {
		return nil, err
	}
	if err := d.checkLockout(p); err != nil {
		return nil, err
	}
	undo := undoDoc{Ops: p.inverse()}
	for _, path := range p.order {
		if p.touched(path) {
			undo.Menus = append(undo.Menus, p.menus[path].read)
		}
	}
	doJSON, err := json.Marshal(doDoc{Ops: p.do})
	if err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	undoJSON, err := json.Marshal(undo)
	if err != nil {
		return nil, fmt.Errorf("encode inverse plan: %w", err)
	}
	p.plan = &contract.Plan{Site: cfg.Site, Digest: digest(cfg), TxnID: d.newTxnID(), Changes: p.chg}
	if len(p.do) > 0 {
		p.plan.Do, p.plan.Undo = doJSON, undoJSON
	}
	return p, nil
}

// digest is the SHA-256 of the rendered items: same config, same digest.
func digest(cfg *ros.Config) string {
	b, _ := json.Marshal(struct {
		Version string
		Items   []ros.Item
	}{cfg.Version, cfg.Items})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// effectiveAnchors pairs each rendered item with its effective anchor
// (ros.EffectiveAnchors, shared with the .rsc script) and chain.
func effectiveAnchors(items []ros.Item) []desired {
	anchors := ros.EffectiveAnchors(items)
	out := make([]desired, len(items))
	for i, it := range items {
		chain, _ := it.Get("chain")
		out[i] = desired{Item: it, anchor: anchors[i], chain: chain}
	}
	return out
}

func (p *planner) touched(path string) bool {
	for _, o := range p.do {
		if o.Path == path {
			return true
		}
	}
	return false
}

// diff computes the forward ops: adds, sets and moves in rendered order,
// then removals of stale owned items in reverse dependency order.
func (p *planner) diff() error {
	// Match live owned rows to rendered items by identity.
	match := make([]*row, len(p.items))
	for i := range p.items {
		it := &p.items[i]
		m := p.menus[it.Path]
		if it.Singleton {
			if len(m.rows) > 0 {
				match[i] = m.rows[0]
			}
			continue
		}
		for _, r := range m.rows {
			if (r.owned || it.Fixed) && !p.matched[r] && r.id == it.ID {
				match[i] = r
				p.matched[r] = true
				break
			}
		}
	}
	// Stale owned rows (including duplicates of a matched identity).
	for _, path := range p.order {
		m := p.menus[path]
		if m.read.Singleton {
			continue
		}
		for _, r := range m.rows {
			if r.owned && !p.matched[r] {
				p.removed[r] = true
			}
		}
	}
	before, err := p.positions(match)
	if err != nil {
		return err
	}
	for i := range p.items {
		it := &p.items[i]
		r := match[i]
		switch {
		case it.Singleton:
			if r == nil {
				return fmt.Errorf("read %s: the router returned no settings", it.Path)
			}
			p.set(it, r)
		case it.Fixed:
			if r == nil {
				return fmt.Errorf("read %s: the router has no entry %s (tether sets fixed entries, never adds them)", it.Path, it.ID)
			}
			p.set(it, r)
		case r == nil:
			if l := p.lookalike(it, p.claimed); l != nil {
				p.lookalikes = append(p.lookalikes, *l)
			}
			o := Op{Op: "add", Path: it.Path, ID: it.ID, Attrs: it.Attrs, Before: before[i].ref}
			p.do = append(p.do, o)
			p.chg = append(p.chg, contract.Change{Op: "add", Where: it.Path, What: it.ID, Detail: attrLine(notInID(it.ID, it.Attrs)) + placeNote(before[i])})
		default:
			p.set(it, r)
			if before[i].move {
				p.moved[r] = true
				p.do = append(p.do, Op{Op: "move", Path: it.Path, ID: it.ID, Ref: r.ref, Before: before[i].ref})
				p.chg = append(p.chg, contract.Change{Op: "move", Where: it.Path, What: it.ID, Detail: strings.TrimPrefix(placeNote(before[i]), " ")})
			}
		}
	}
	// Removals: reverse dependency order, last row first.
	for k := len(p.order) - 1; k >= 0; k-- {
		m := p.menus[p.order[k]]
		for j := len(m.rows) - 1; j >= 0; j-- {
			r := m.rows[j]
			if p.removed[r] {
				p.do = append(p.do, Op{Op: "remove", Path: m.read.Path, ID: r.id, Ref: r.ref})
				p.chg = append(p.chg, contract.Change{Op: "remove", Where: m.read.Path, What: r.id})
			}
		}
	}
	return nil
}

// set adds a set op for the attributes of it that differ on r.
func (p *planner) set(it *desired, r *row) {
	var nw, old []ros.Attr
	var unset []string
	var detail []string
	for _, a := range it.Attrs {
		lv, ok := r.get(a.Name)
		if same(a.Name, a.Value, lv, ok) {
			continue
		}
		nw = append(nw, a)
		old = append(old, ros.Attr{Name: a.Name, Value: lv})
		if !ok {
			unset = append(unset, a.Name)
		}
		detail = append(detail, fmt.Sprintf("%s: %s → %s", a.Name, show(a.Name, lv, ok), show(a.Name, a.Value, true)))
	}
	if len(nw) == 0 {
		return
	}
	o := Op{Op: "set", Path: it.Path, ID: it.ID, Ref: r.ref, Attrs: nw, Old: old, Singleton: it.Singleton, Fixed: it.Fixed}
	p.do = append(p.do, o)
	p.setOp[r] = o
	p.setOld[r] = old
	if len(unset) > 0 {
		p.unset[r] = unset
	}
	p.chg = append(p.chg, contract.Change{Op: "set", Where: it.Path, What: it.ID, Detail: strings.Join(detail, ", ")})
}

// place says where an added or moved item goes.
type place struct {
	ref  string // .id to place before; "" = at the end
	what string // the anchor's comment or the following item's identity, for people
	move bool   // an existing item that must move
}

func placeNote(pl place) string {
	switch {
	case pl.ref == "":
		return ""
	case pl.what != "":
		return " (before " + pl.what + ")"
	}
	return " (before " + pl.ref + ")"
}

// positions decides, in ordered menus, where each rendered item must go.
// Items sharing an anchor must sit, in rendered order, right before it;
// unanchored items keep rendered order among themselves. Existing items
// already in place stay; the rest are added or moved before the next item
// that stays (or the anchor, or the end).
func (p *planner) positions(match []*row) ([]place, error) {
	out := make([]place, len(p.items))
	type group struct {
		path, anchor string
		anchorRef    string
		members      []int // indexes into p.items, rendered order
	}
	var groups []*group
	byKey := map[string]*group{}
	for i := range p.items {
		it := &p.items[i]
		if it.Singleton || !orderedMenus[it.Path] {
			continue
		}
		// Unanchored items of a chain keep one relative order (order across
		// chains means nothing); an item kept last is one of them.
		key := it.Path + "\x00" + it.chain + "\x00" + it.anchor
		g := byKey[key]
		if g == nil {
			g = &group{path: it.Path, anchor: it.anchor}
			if it.anchor != "" {
				ar := p.findAnchor(it.Path, it.chain, it.anchor)
				if ar == nil {
					return nil, fmt.Errorf("place %s %s: anchor %q (chain %s) not found on the router", it.Path, it.ID, it.anchor, it.chain)
				}
				g.anchorRef = ar.ref
			}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
	}
	for _, g := range groups {
		m := p.menus[g.path]
		// The final list: live rows minus those being removed.
		var live []*row
		for _, r := range m.rows {
			if !p.removed[r] {
				live = append(live, r)
			}
		}
		pos := map[*row]int{}
		for k, r := range live {
			pos[r] = k
		}
		var existing []int // members with a live row, rendered order
		for _, i := range g.members {
			if match[i] != nil {
				existing = append(existing, i)
			}
		}
		stable := map[int]bool{}
		if g.anchor != "" {
			// The longest suffix of existing members sitting right
			// before the anchor, in order.
			k := slices.IndexFunc(live, func(r *row) bool { return r.ref == g.anchorRef }) - 1
			for j := len(existing) - 1; j >= 0 && k >= 0 && live[k] == match[existing[j]]; j-- {
				stable[existing[j]] = true
				k--
			}
		} else {
			ordered := slices.DeleteFunc(slices.Clone(existing), func(i int) bool { return p.items[i].Last })
			for _, i := range lis(ordered, func(i int) int { return pos[match[i]] }) {
				stable[i] = true
			}
			for _, i := range existing {
				if p.items[i].Last {
					stable[i] = lastOfChain(live, pos[match[i]], p.items[i].chain)
				}
			}
		}
		for n, i := range g.members {
			if stable[i] {
				continue
			}
			if p.items[i].Last {
				// To the very end: after every rule of the chain, including
				// what this plan adds (its op is the chain's last).
				out[i] = place{move: match[i] != nil && pos[match[i]] != len(live)-1}
				continue
			}
			pl := place{ref: g.anchorRef, what: g.anchor, move: match[i] != nil}
			for _, j := range g.members[n+1:] {
				if stable[j] {
					pl.ref, pl.what = match[j].ref, p.items[j].ID
					break
				}
			}
			if pl.ref == "" && match[i] != nil && pos[match[i]] == len(live)-1 && g.anchor == "" {
				pl.move = false // already last: "at the end" holds
			}
			out[i] = pl
		}
	}
	return out, nil
}

// lastOfChain reports whether no row of chain follows live[at].
func lastOfChain(live []*row, at int, chain string) bool {
	for _, r := range live[at+1:] {
		if c, ok := r.attrs["chain"]; !ok || c == chain {
			return false
		}
	}
	return true
}

// findAnchor finds the live item an anchor names: not tether's, same chain,
// comment equal to the anchor.
func (p *planner) findAnchor(path, chain, comment string) *row {
	for _, r := range p.menus[path].rows {
		if r.owned || r.attrs["comment"] != comment {
			continue
		}
		if c, ok := r.attrs["chain"]; chain != "" && ok && c != chain {
			continue
		}
		return r
	}
	return nil
}

// lis returns the elements of xs forming a longest subsequence with
// increasing key: the items already in the right relative order.
func lis(xs []int, key func(int) int) []int {
	n := len(xs)
	if n == 0 {
		return nil
	}
	best := make([]int, n)
	prev := make([]int, n)
	bi := 0
	for i := range n {
		best[i], prev[i] = 1, -1
		for j := range i {
			if key(xs[j]) < key(xs[i]) && best[j]+1 > best[i] {
				best[i], prev[i] = best[j]+1, j
			}
		}
		if best[i] > best[bi] {
			bi = i
		}
	}
	var out []int
	for i := bi; i >= 0; i = prev[i] {
		out = append(out, xs[i])
	}
	slices.Reverse(out)
	return out
}

// inverse builds the idempotent inverse ops from the snapshot: remove what
// the plan adds (reverse order), re-create what it removes or moves at its
// old place (dependency order), then put old values back.
func (p *planner) inverse() []Op {
	var out []Op
	for k := len(p.do) - 1; k >= 0; k-- {
		o := p.do[k]
		if o.Op == "add" {
			out = append(out, Op{Op: "remove", Path: o.Path, ID: o.ID, Find: p.locator(o.Path, nil, o.Attrs)})
		}
	}
	// Rows re-created by the inverse: removed and moved ones, and (for the
	// dead-man, which cannot unset) rows whose set gives a value to an
	// attribute the router had unset.
	unstable := func(path string, r *row) bool {
		// Settings and fixed entries cannot be re-created: they are set back.
		return p.removed[r] || p.moved[r] || (p.unset[r] != nil && !referenced[path] && !p.setOp[r].Fixed && !p.setOp[r].Singleton)
	}
	for _, path := range p.order {
		m := p.menus[path]
		for k, r := range m.rows {
			if !unstable(path, r) {
				continue
			}
			o := Op{Op: "restore", Path: path, ID: r.id, Ref: r.ref, Find: p.locator(path, r, nil), Attrs: recreateAttrs(m, r), Unset: p.unset[r]}
			if placeable[path] {
				for _, s := range m.rows[k+1:] {
					if !unstable(path, s) {
						o.Before = s.ref
						break
					}
				}
			}
			out = append(out, o)
		}
	}
	for _, path := range p.order {
		m := p.menus[path]
		for _, r := range m.rows {
			o, ok := p.setOp[r]
			if !ok || unstable(path, r) {
				continue
			}
			inv := Op{Op: "set", Path: path, ID: o.ID, Ref: r.ref, Singleton: o.Singleton, Fixed: o.Fixed, Find: p.locator(path, r, nil)}
			for _, a := range p.setOld[r] {
				if slices.Contains(p.unset[r], a.Name) {
					inv.Unset = append(inv.Unset, a.Name)
				} else {
					inv.Attrs = append(inv.Attrs, a)
				}
			}
			out = append(out, inv)
		}
	}
	return out
}

// recreateAttrs are a row's settable attributes as read, in proplist order.
func recreateAttrs(m *menu, r *row) []ros.Attr {
	var out []ros.Attr
	for _, a := range m.read.Proplist {
		if readOnly[a] {
			continue
		}
		if v, ok := r.attrs[a]; ok {
			out = append(out, ros.Attr{Name: a, Value: v})
		}
	}
	return out
}

// locator picks an attribute whose value identifies the item alone among
// the live rows and the rendered items of its menu, for [find where a="v"].
// nil means none is unique: the dead-man then addresses the item by .id.
func (p *planner) locator(path string, r *row, attrs []ros.Attr) *Find {
	m := p.menus[path]
	val := func(a string) string {
		if r != nil {
			return r.attrs[a]
		}
		for _, x := range attrs {
			if x.Name == a {
				return x.Value
			}
		}
		return ""
	}
	for _, a := range locatorAttrs {
		v := val(a)
		if v == "" {
			continue
		}
		n := 0
		for _, lr := range m.rows {
			if lr.attrs[a] == v && lr != r {
				n++
			}
		}
		for _, it := range p.items {
			if it.Path != path {
				continue
			}
			if iv, _ := it.Get(a); iv == v && (r == nil || it.ID != r.id) {
				n++
			}
		}
		if r == nil {
			n-- // the rendered item itself
		}
		if n == 0 {
			return &Find{Attr: a, Value: v}
		}
	}
	return nil
}

// notInID drops the attributes a plan line already shows in the identity.
func notInID(id string, attrs []ros.Attr) []ros.Attr {
	var out []ros.Attr
	for _, a := range attrs {
		if !strings.Contains(" "+id, " "+a.Name+"=") {
			out = append(out, a)
		}
	}
	return out
}

// attrLine prints attributes for a plan line, secrets hidden.
func attrLine(attrs []ros.Attr) string {
	parts := make([]string, 0, len(attrs))
	for _, a := range attrs {
		if a.Value == "" && flagAttrs[a.Name] {
			parts = append(parts, a.Name)
			continue
		}
		parts = append(parts, a.Name+"="+show(a.Name, a.Value, true))
	}
	return strings.Join(parts, " ")
}

func show(attr, v string, present bool) string {
	switch {
	case !present:
		return "(unset)"
	case secretAttrs[attr]:
		return "(secret)"
	case v == "":
		return `""`
	case strings.ContainsAny(v, " \t"):
		return `"` + v + `"`
	}
	return v
}

// FormatChange prints one plan line the way terraform plan reads:
//
//   - /interface/wireguard/peers interface=wg-vps name=home public-key=… allowed-address=…
//     ~ /ip/dns servers: 1.1.1.1 → 1.1.1.1,8.8.8.8
//   - /ip/route dst-address=10.0.0.0/8 routing-table=main
//     ↕ /ip/firewall/filter chain=input comment="tether: x" before defconf: drop …
func FormatChange(c contract.Change) string {
	sym := map[string]string{"add": "+", "set": "~", "remove": "-", "move": "↕"}[c.Op]
	if sym == "" {
		sym = c.Op
	}
	parts := []string{sym, c.Where}
	if c.What != "" {
		parts = append(parts, c.What)
	}
	if c.Detail != "" {
		parts = append(parts, c.Detail)
	}
	return strings.Join(parts, " ")
}
