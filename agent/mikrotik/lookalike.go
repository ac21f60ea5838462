package mikrotik

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
)

// Lookalike is an existing item tether does not own that a declared item
// would duplicate or collide with: adding the declared item would be
// refused by the router ("already have such address") or leave two of one
// thing. tether never takes such an item silently: `tether adopt` marks it
// as tether's (comment only), or the site stops declaring it.
type Lookalike struct {
	Path    string `json:"path"`
	ID      string `json:"id"`      // the declared item's identity
	Ref     string `json:"ref"`     // the router's .id of the existing item
	Comment string `json:"comment"` // the existing item's comment ("" when it has none)
	What    string `json:"what"`    // the item for people: "ip address 192.168.88.1/24 on bridge"
	// Differs lists the declared attributes the existing item lacks or
	// holds otherwise ("mtu: 1500 → 1420"): after an adopt, the next plan
	// sets them.
	Differs  []string `json:"differs,omitempty"`
	Disabled bool     `json:"disabled,omitempty"`
	// Other is set when the existing item is another kind of thing that
	// holds the declared name (a bridge called like a WireGuard
	// interface): it cannot be adopted, only renamed.
	Other string `json:"other,omitempty"`

	owner string // the declared item's ownership comment
}

// String is the line plan and apply print.
func (l Lookalike) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s exists and is not tether's (%s", l.What, l.Ref)
	if l.Comment != "" {
		fmt.Fprintf(&b, ", comment %q", l.Comment)
	}
	b.WriteString(")")
	switch {
	case l.Other != "":
		b.WriteString(": RouterOS interface names are unique across all kinds; rename one of them")
		return b.String()
	case l.Disabled:
		b.WriteString(": it is disabled; enable it and adopt it, or remove it from the router or from the site")
	default:
		b.WriteString(": adopt it (tether adopt) or remove it from the site")
		if len(l.Differs) > 0 {
			b.WriteString("; once adopted, tether sets " + strings.Join(l.Differs, ", "))
		}
	}
	return b.String()
}

// LookalikeError refuses a plan that would add items the router already
// has under another owner. Nothing was written.
type LookalikeError struct {
	Site  string
	Items []Lookalike
}

func (e *LookalikeError) Error() string {
	lines := make([]string, len(e.Items))
	for i, l := range e.Items {
		lines[i] = "  " + l.String()
	}
	return fmt.Sprintf("site %s declares %d item(s) the router already has, not as tether's; nothing was written:\n%s",
		e.Site, len(e.Items), strings.Join(lines, "\n"))
}

// collisionAttrs are, per menu, the attributes that make two items the same
// thing on the router whoever owns them: what RouterOS refuses to hold twice
// (names, an address on an interface, a peer's public key on an interface)
// or what would be a duplicate (a route to one destination through one
// gateway in one table). Firewall rules have no identity but their match
// and action: there every rule attribute counts (see collisionKey). A menu
// not listed (raw items, singletons) has no look-alikes.
var collisionAttrs = map[string][]string{
	"/routing/table":              {"name"},
	"/interface/wireguard":        {"name"},
	"/interface/list":             {"name"},
	"/routing/bgp/instance":       {"name"},
	"/routing/bgp/template":       {"name"},
	"/routing/bgp/connection":     {"name"},
	"/interface/wireguard/peers":  {"interface", "public-key"},
	"/interface/list/member":      {"list", "interface"},
	"/ip/address":                 {"address", "interface"},
	"/ipv6/address":               {"address", "interface"},
	"/ip/firewall/address-list":   {"list", "address"},
	"/ipv6/firewall/address-list": {"list", "address"},
	"/routing/filter/rule":        {"chain", "rule"},
	"/ip/route":                   {"dst-address", "gateway", "routing-table", "blackhole"},
	"/ipv6/route":                 {"dst-address", "gateway", "routing-table", "blackhole"},
	"/routing/rule":               {"src-address", "dst-address", "routing-mark", "interface", "action", "table"},
	"/ipv6/nd":                    {"interface"},
}

func isFirewall(path string) bool {
	return strings.HasPrefix(path, "/ip/firewall/") || strings.HasPrefix(path, "/ipv6/firewall/")
}

// collisionKey is the canonical key of an item in its menu; ok is false
// for menus without look-alikes. For firewall rules the key is every rule
// attribute but the comment, so only an exact duplicate collides.
func collisionKey(path string, declared []ros.Attr, get func(string) (string, bool)) (string, bool) {
	attrs := collisionAttrs[path]
	if isFirewall(path) && !strings.HasSuffix(path, "/address-list") {
		attrs = slices.Clone(firewallAttrs)
		for _, a := range declared {
			if a.Name != "comment" && a.Name != "disabled" && !slices.Contains(attrs, a.Name) {
				attrs = append(attrs, a.Name)
			}
		}
	}
	if len(attrs) == 0 {
		return "", false
	}
	var b strings.Builder
	for _, a := range attrs {
		v, ok := get(a)
		b.WriteString(a)
		b.WriteByte('=')
		b.WriteString(keyValue(a, v, ok))
		b.WriteByte(0)
	}
	return b.String(), true
}

// keyValue spells a value the same way for a rendered item and a live row:
// a flag is "yes" or nothing, an empty routing table is main, the rest as
// same() compares them.
func keyValue(attr, v string, present bool) string {
	if flagAttrs[attr] {
		switch strings.ToLower(v) {
		case "", "yes", "true":
			if present {
				return "yes"
			}
		}
		return ""
	}
	if (attr == "routing-table" || attr == "table") && v == "" {
		return "main"
	}
	if attr == "log" && norm(attr, v) == "false" {
		return "" // RouterOS prints log=no on every rule; a rule that does not log says nothing
	}
	return norm(attr, v)
}

// describe names an item for people, from its collision attributes.
func describe(path string, get func(string) (string, bool)) string {
	menu := strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", " ")
	val := func(a string) string { v, _ := get(a); return v }
	switch path {
	case "/ip/address", "/ipv6/address":
		return fmt.Sprintf("%s %s on %s", menu, val("address"), val("interface"))
	case "/interface/list/member":
		return fmt.Sprintf("%s %s in %s", menu, val("interface"), val("list"))
	case "/ip/firewall/address-list", "/ipv6/firewall/address-list":
		return fmt.Sprintf("%s %s in %s", menu, val("address"), val("list"))
	case "/interface/wireguard/peers":
		return fmt.Sprintf("%s %s on %s", menu, val("public-key"), val("interface"))
	}
	attrs := collisionAttrs[path]
	if isFirewall(path) {
		attrs = []string{"chain", "action", "protocol", "dst-port", "src-address", "dst-address", "in-interface", "in-interface-list"}
	}
	parts := []string{menu}
	for _, a := range attrs {
		if v, ok := get(a); ok && (v != "" || flagAttrs[a]) {
			if v == "" {
				parts = append(parts, a)
				continue
			}
			parts = append(parts, a+"="+show(a, v, true))
		}
	}
	return strings.Join(parts, " ")
}

// lookalike finds the unowned live row that the declared item it (which has
// no owned match) would duplicate, or nil. claimed rows were found for
// an earlier item already.
func (p *planner) lookalike(it *desired, claimed map[*row]bool) *Lookalike {
	itGet := func(a string) (string, bool) { return it.Get(a) }
	want, ok := collisionKey(it.Path, it.Attrs, itGet)
	if !ok {
		return nil
	}
	for _, r := range p.menus[it.Path].rows {
		if r.owned || claimed[r] || r.attrs["dynamic"] == "true" || r.attrs["default"] == "true" || r.attrs["builtin"] == "true" {
			continue
		}
		if p.rowKey(it, r) != want {
			continue
		}
		claimed[r] = true
		owner, _ := it.Get("comment")
		l := &Lookalike{Path: it.Path, ID: it.ID, Ref: r.ref, Comment: r.attrs["comment"], What: describe(it.Path, itGet),
			Disabled: norm("disabled", r.attrs["disabled"]) == "true", owner: owner}
		for _, a := range it.Attrs {
			if a.Name == "comment" {
				continue
			}
			if lv, ok := r.get(a.Name); !same(a.Name, a.Value, lv, ok) {
				l.Differs = append(l.Differs, fmt.Sprintf("%s: %s → %s", a.Name, show(a.Name, lv, ok), show(a.Name, a.Value, true)))
			}
		}
		return l
	}
	return nil
}

// rowKey is a live row's collision key for the declared item it, cached
// per row where the key does not depend on the declared attributes (every
// menu but the firewall), so a large first apply stays linear.
func (p *planner) rowKey(it *desired, r *row) string {
	if isFirewall(it.Path) && !strings.HasSuffix(it.Path, "/address-list") {
		k, _ := collisionKey(it.Path, it.Attrs, r.get)
		return k
	}
	if k, ok := p.rowKeys[r]; ok {
		return k
	}
	k, _ := collisionKey(it.Path, nil, r.get)
	if p.rowKeys == nil {
		p.rowKeys = map[*row]string{}
	}
	p.rowKeys[r] = k
	return k
}

// otherInterfaces finds, for each WireGuard interface the plan adds, an
// interface of another kind holding its name: RouterOS names interfaces
// uniquely across kinds, so the add would be refused. It reads /interface
// only when the plan adds a WireGuard interface.
func (d *Device) otherInterfaces(ctx context.Context, p *planner) error {
	for _, o := range p.do {
		if o.Op != "add" || o.Path != "/interface/wireguard" {
			continue
		}
		var name string
		for _, a := range o.Attrs {
			if a.Name == "name" {
				name = a.Value
			}
		}
		if name == "" || slices.ContainsFunc(p.lookalikes, func(l Lookalike) bool { return l.Path == o.Path && l.ID == o.ID }) {
			continue
		}
		rep, err := d.c.run(ctx, "/interface/print", "=.proplist=.id,name,type,comment", "?name="+name)
		if err != nil {
			return fmt.Errorf("read /interface: %w", err)
		}
		for _, r := range rep.Re {
			if r["type"] == "wg" {
				continue // a WireGuard interface: /interface/wireguard's own look-alike
			}
			p.lookalikes = append(p.lookalikes, Lookalike{Path: "/interface", ID: o.ID, Ref: r[".id"], Comment: r["comment"],
				What: fmt.Sprintf("interface %s (type %s)", name, r["type"]), Other: r["type"]})
		}
	}
	return nil
}

// Lookalikes renders the site and returns the existing unowned items its
// declared items would duplicate (empty when there are none).
func (d *Device) Lookalikes(ctx context.Context, n *policy.Network, site string) ([]Lookalike, error) {
	cfg, err := d.renderSite(n, site)
	if err != nil {
		return nil, err
	}
	p, err := d.plan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return p.lookalikes, nil
}

// AdoptPlan renders the site and returns a plan that takes ownership of
// every look-alike: one set of comment= per item, nothing else, with the
// old comment as its inverse, so it runs behind the same dead-man and gate
// as any plan. Disabled look-alikes are refused (adopting one would leave a
// declared item switched off). The plan is empty when there is nothing to
// adopt.
func (d *Device) AdoptPlan(ctx context.Context, n *policy.Network, site string) (*contract.Plan, []Lookalike, error) {
	cfg, err := d.renderSite(n, site)
	if err != nil {
		return nil, nil, err
	}
	p, err := d.plan(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	var do, undo []Op
	var chg []contract.Change
	var menus []menuRead
	var disabled []string
	for _, l := range p.lookalikes {
		if l.Disabled || l.Other != "" {
			disabled = append(disabled, l.String())
			continue
		}
		do = append(do, Op{Op: "set", Path: l.Path, ID: l.ID, Ref: l.Ref,
			Attrs: []ros.Attr{{Name: "comment", Value: l.owner}}, Old: []ros.Attr{{Name: "comment", Value: l.Comment}}})
		// The inverse addresses the item by .id: its comment, the usual
		// locator, is what the forward write changes.
		undo = append(undo, Op{Op: "set", Path: l.Path, ID: l.ID, Ref: l.Ref, Attrs: []ros.Attr{{Name: "comment", Value: l.Comment}}})
		chg = append(chg, contract.Change{Op: "set", Where: l.Path, What: l.ID,
			Detail: fmt.Sprintf("adopt %s: comment: %s → %s", l.Ref, show("comment", l.Comment, true), show("comment", l.owner, true))})
		if !slices.ContainsFunc(menus, func(m menuRead) bool { return m.Path == l.Path }) {
			menus = append(menus, p.menus[l.Path].read)
		}
	}
	if len(disabled) > 0 {
		return nil, p.lookalikes, fmt.Errorf("adopt %s: cannot adopt:\n  %s", site, strings.Join(disabled, "\n  "))
	}
	plan := &contract.Plan{Site: site, Digest: digest(cfg), TxnID: d.newTxnID(), Changes: chg}
	if len(do) > 0 {
		if plan.Do, err = json.Marshal(doDoc{Ops: do}); err != nil {
			return nil, nil, fmt.Errorf("encode adopt plan: %w", err)
		}
		if plan.Undo, err = json.Marshal(undoDoc{Menus: menus, Ops: undo}); err != nil {
			return nil, nil, fmt.Errorf("encode adopt inverse: %w", err)
		}
	}
	return plan, p.lookalikes, nil
}
