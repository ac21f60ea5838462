package mikrotik

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
)

// Prerequisite kinds: what a site's items may refer to without creating.
const (
	prereqInterface     = "interface"
	prereqInterfaceList = "interface list"
	prereqRoutingTable  = "routing table"
	prereqAddressList   = "address list"
	prereqAnchor        = "firewall rule"
	prereqVersion       = "RouterOS version"
)

// Prerequisite is something the site's items refer to that the site does
// not create and the router does not have: an interface, an interface
// list, a routing table, an address list, or the rule a firewall rule is
// placed before. The router would refuse the item (or, for an address
// list, match nothing), so the plan refuses first.
type Prerequisite struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Family string   `json:"family,omitempty"` // address lists: "ip" or "ipv6"
	Chain  string   `json:"chain,omitempty"`  // anchors: the chain the rule is in
	Users  []string `json:"users"`            // the rendered items that refer to it, "/ip/firewall/filter out-interface"
	// Where are the model fields that name it, "sites/site-a.toml: firewall[5].out_interface";
	// empty when tether derived the reference itself.
	Where []string `json:"where,omitempty"`
	// Have is what the router has instead (its RouterOS version).
	Have string `json:"have,omitempty"`
}

// String is the line plan prints: what is missing, where the site names
// it, and how to fix it.
func (m Prerequisite) String() string {
	var b strings.Builder
	if m.Kind == prereqVersion {
		fmt.Fprintf(&b, "routeros_version = %q", m.Name)
		if len(m.Where) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(m.Where, "; "))
		}
		fmt.Fprintf(&b, " is newer than the router's RouterOS %s, which may lack what is rendered for it; "+
			"set routeros_version = %q, or upgrade the router first", m.Have, strings.Fields(m.Have)[0])
		return b.String()
	}
	switch m.Kind {
	case prereqAnchor:
		fmt.Fprintf(&b, "firewall rule with comment %q (chain %s)", m.Name, m.Chain)
	case prereqAddressList:
		fmt.Fprintf(&b, "%s address list %s", m.Family, m.Name)
	default:
		fmt.Fprintf(&b, "%s %s", m.Kind, m.Name)
	}
	if len(m.Where) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(m.Where, "; "))
	} else {
		fmt.Fprintf(&b, " (used by %s)", strings.Join(m.Users, "; "))
	}
	b.WriteString(" does not exist on the router; ")
	b.WriteString(m.fix())
	return b.String()
}

func (m Prerequisite) fix() string {
	switch m.Kind {
	case prereqInterface:
		return fmt.Sprintf("create it on the router first (as its deployment would, e.g. /interface/bridge/add name=%s), or name an interface the router has", m.Name)
	case prereqInterfaceList:
		return fmt.Sprintf("create it on the router (/interface/list/add name=%s), or have tether create it with lists = [%q] on the site's [[interface]]", m.Name, m.Name)
	case prereqRoutingTable:
		return fmt.Sprintf("declare it in the site ([[routing_table]] name = %q, fib = true), or create it on the router (/routing/table/add name=%s fib)", m.Name, m.Name)
	case prereqAddressList:
		return fmt.Sprintf("declare its entries in the site ([[address_list]] list = %q), or add them on the router: an empty list matches nothing (and a negated one everything)", m.Name)
	case prereqAnchor:
		return "point place_before at a rule the router has, or drop place_before; a router without the default configuration's firewall wants defconf = false"
	}
	return "create it first"
}

// PrereqError refuses a plan whose items refer to things the router does
// not have. Nothing was written. It is permanent: the same commit fails the
// same way until the router or the site changes, so the agent rejects the
// commit once, with this text in its note.
type PrereqError struct {
	Site    string
	Missing []Prerequisite
}

func (e *PrereqError) Error() string {
	lines := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		lines[i] = "  " + m.String()
	}
	return fmt.Sprintf("site %s refers to %d thing(s) the router does not have; nothing was written:\n%s\n"+
		"  (the agent does not retry this commit: once the router has them, push a new commit — an empty one will do)",
		e.Site, len(e.Missing), strings.Join(lines, "\n"))
}

// Unwrap makes the refusal permanent for the agent.
func (e *PrereqError) Unwrap() error { return contract.ErrPermanent }

// builtinLists are the interface lists every RouterOS router has.
var builtinLists = []string{"all", "none", "dynamic", "static"}

// prereqRef is one reference of a rendered item.
type prereqRef struct {
	kind, name, family, chain string
	user                      string
}

// refsOf lists what an item refers to by name.
func refsOf(it *ros.Item) []prereqRef {
	var out []prereqRef
	family := "ip"
	if strings.HasPrefix(it.Path, "/ipv6/") {
		family = "ipv6"
	}
	chain, _ := it.Get("chain")
	add := func(kind, attr, v string) {
		v = strings.TrimPrefix(v, "!")
		if v == "" {
			return
		}
		r := prereqRef{kind: kind, name: v, user: it.Path + " " + attr}
		if kind == prereqAddressList {
			r.family = family
		}
		out = append(out, r)
	}
	for _, a := range it.Attrs {
		switch a.Name {
		case "interface":
			// A list member's interface may also be a list (see
			// missingPrereqs); /ipv6/nd's "all" is a keyword.
			if it.Path != "/ipv6/nd" || a.Value != "all" {
				add(prereqInterface, a.Name, a.Value)
			}
		case "in-interface", "out-interface":
			add(prereqInterface, a.Name, a.Value)
		case "in-interface-list", "out-interface-list":
			add(prereqInterfaceList, a.Name, a.Value)
		case "list":
			if it.Path == "/interface/list/member" {
				add(prereqInterfaceList, a.Name, a.Value)
			}
		case "routing-table", "new-routing-mark":
			add(prereqRoutingTable, a.Name, a.Value)
		case "table":
			if it.Path == "/routing/rule" {
				add(prereqRoutingTable, a.Name, a.Value)
			}
		case "src-address-list", "dst-address-list":
			add(prereqAddressList, a.Name, a.Value)
		case "gateway":
			for g := range strings.SplitSeq(a.Value, ",") {
				addr, iface, zoned := strings.Cut(g, "%")
				if _, err := netip.ParseAddr(addr); err == nil {
					if zoned {
						add(prereqInterface, a.Name, iface)
					}
					continue
				}
				add(prereqInterface, a.Name, g)
			}
		}
	}
	if it.Anchor != "" {
		out = append(out, prereqRef{kind: prereqAnchor, name: it.Anchor, chain: chain, user: it.Path + " place-before"})
	}
	return out
}

// created is what the rendered items themselves make: interfaces (any
// /interface/<kind> item with a name), interface lists, routing tables,
// address lists with entries or filled by a rule.
func created(items []ros.Item) map[prereqRef]bool {
	out := map[prereqRef]bool{}
	for i := range items {
		it := &items[i]
		name, _ := it.Get("name")
		switch {
		case it.Path == "/interface/list" && name != "":
			out[prereqRef{kind: prereqInterfaceList, name: name}] = true
		case it.Path == "/routing/table" && name != "":
			out[prereqRef{kind: prereqRoutingTable, name: name}] = true
		case strings.HasPrefix(it.Path, "/interface/") && name != "" && !strings.Contains(strings.TrimPrefix(it.Path, "/interface/"), "/"):
			out[prereqRef{kind: prereqInterface, name: name}] = true
		case strings.HasSuffix(it.Path, "/firewall/address-list"):
			l, _ := it.Get("list")
			out[prereqRef{kind: prereqAddressList, name: l, family: familyOf(it.Path)}] = true
		case isFirewall(it.Path):
			if act, _ := it.Get("action"); act == "add-src-to-address-list" || act == "add-dst-to-address-list" {
				l, _ := it.Get("address-list")
				out[prereqRef{kind: prereqAddressList, name: l, family: familyOf(it.Path)}] = true
			}
		}
	}
	return out
}

func familyOf(path string) string {
	if strings.HasPrefix(path, "/ipv6/") {
		return "ipv6"
	}
	return "ip"
}

// checkPrereqs diffs the plan unless an anchor is missing, and refuses it
// with a *PrereqError when the items refer to what the router lacks.
// Anchors are looked up in the firewall menus the plan has read; the other
// references cost a read of their menus, so they are checked only when the
// plan writes something: a no-op re-plan (every drift check) reads only
// the rendered menus, and what the router accepted before still exists
// there unless someone removed it, which a write would then trip over.
func (d *Device) checkPrereqs(ctx context.Context, cfg *ros.Config, p *planner) error {
	anchorsOnly := true
	missing, err := d.missingPrereqs(ctx, cfg, p, anchorsOnly)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		if err := p.diff(); err != nil {
			return err
		}
	}
	if len(missing) > 0 || len(p.do) > 0 {
		more, err := d.missingPrereqs(ctx, cfg, p, !anchorsOnly)
		if err != nil {
			return err
		}
		missing = append(missing, more...)
	}
	if len(missing) > 0 {
		return &PrereqError{Site: cfg.Site, Missing: missing}
	}
	return nil
}

// olderRouter reads the router's RouterOS version and reports it when it is
// older than the one the site is rendered for: attributes and menus of a
// newer release would be refused half-way through an apply. A newer router
// is fine (RouterOS 7 keeps what tether renders).
func (d *Device) olderRouter(ctx context.Context, declared string) ([]Prerequisite, error) {
	if declared == "" {
		return nil, nil
	}
	rep, err := d.c.run(ctx, "/system/resource/print", "=.proplist=version")
	if err != nil {
		return nil, fmt.Errorf("read the RouterOS version: %w", err)
	}
	if len(rep.Re) == 0 {
		return nil, nil
	}
	running := rep.Re[0]["version"]
	v, _, _ := strings.Cut(running, " ")
	rmaj, rmin, rpat, ok := policy.ParseRouterOSVersion(v)
	dmaj, dmin, dpat, dok := policy.ParseRouterOSVersion(declared)
	if !ok || !dok || [3]int{rmaj, rmin, rpat} == [3]int{dmaj, dmin, dpat} {
		return nil, nil
	}
	if slices.Compare([]int{rmaj, rmin, rpat}, []int{dmaj, dmin, dpat}) >= 0 {
		return nil, nil
	}
	return []Prerequisite{{Kind: prereqVersion, Name: declared, Have: running, Users: []string{"routeros_version"}}}, nil
}

// missingPrereqs returns the anchors the firewall menus lack (anchors), or
// else reads, for the other references the rendered items do not satisfy
// themselves, the router's interfaces, interface lists, routing tables and
// address lists (each menu once, only when needed) and returns what the
// router lacks.
func (d *Device) missingPrereqs(ctx context.Context, cfg *ros.Config, p *planner, anchors bool) ([]Prerequisite, error) {
	made := created(cfg.Items)
	var open []prereqRef
	for i := range cfg.Items {
		for _, r := range refsOf(&cfg.Items[i]) {
			key := prereqRef{kind: r.kind, name: r.name, family: r.family}
			switch {
			case (r.kind == prereqAnchor) != anchors:
				continue
			case r.kind == prereqAnchor:
				if p.findAnchor(cfg.Items[i].Path, r.chain, r.name) != nil {
					continue
				}
			case made[key]:
				continue
			case r.kind == prereqInterfaceList && slices.Contains(builtinLists, r.name):
				continue
			case r.kind == prereqRoutingTable && r.name == "main":
				continue
			}
			open = append(open, r)
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	// What the router has, by kind; read lazily.
	have := map[string]map[string]bool{}
	read := func(kind, family string) (map[string]bool, error) {
		k := kind + " " + family
		if m, ok := have[k]; ok {
			return m, nil
		}
		m := map[string]bool{}
		var reads [][2]string // menu, attribute holding the name
		switch kind {
		case prereqInterface:
			reads = [][2]string{{"/interface", "name"}}
		case prereqInterfaceList:
			reads = [][2]string{{"/interface/list", "name"}}
		case prereqRoutingTable:
			reads = [][2]string{{"/routing/table", "name"}}
		case prereqAddressList:
			reads = [][2]string{{"/" + family + "/firewall/address-list", "list"}}
		}
		for _, rd := range reads {
			rep, err := d.c.run(ctx, rd[0]+"/print", "=.proplist="+rd[1])
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", rd[0], err)
			}
			for _, row := range rep.Re {
				m[row[rd[1]]] = true
			}
		}
		if kind == prereqAddressList {
			// Lists that the router's own rules fill at run time exist
			// as far as the site is concerned.
			for _, t := range []string{"filter", "nat", "mangle", "raw"} {
				rep, err := d.c.run(ctx, "/"+family+"/firewall/"+t+"/print", "=.proplist=action,address-list")
				if err != nil {
					if isTrap(err) {
						continue
					}
					return nil, fmt.Errorf("read /%s/firewall/%s: %w", family, t, err)
				}
				for _, row := range rep.Re {
					if row["action"] == "add-src-to-address-list" || row["action"] == "add-dst-to-address-list" {
						m[row["address-list"]] = true
					}
				}
			}
		}
		have[k] = m
		return m, nil
	}
	var out []Prerequisite
	index := map[prereqRef]int{}
	for _, r := range open {
		if r.kind != prereqAnchor {
			m, err := read(r.kind, r.family)
			if err != nil {
				return nil, err
			}
			if m[r.name] {
				continue
			}
			if r.kind == prereqInterface && strings.HasSuffix(r.user, "/interface/list/member interface") {
				// A member naming a list the router has.
				lists, err := read(prereqInterfaceList, "")
				if err != nil {
					return nil, err
				}
				if lists[r.name] || made[prereqRef{kind: prereqInterfaceList, name: r.name}] {
					continue
				}
			}
		}
		key := prereqRef{kind: r.kind, name: r.name, family: r.family, chain: r.chain}
		if i, ok := index[key]; ok {
			if !slices.Contains(out[i].Users, r.user) {
				out[i].Users = append(out[i].Users, r.user)
			}
			continue
		}
		index[key] = len(out)
		out = append(out, Prerequisite{Kind: r.kind, Name: r.name, Family: r.family, Chain: r.chain, Users: []string{r.user}})
	}
	return out, nil
}

// prereqFields are, per kind, the model fields (TOML keys) that name a
// prerequisite of that kind.
var prereqFields = map[string][]string{
	prereqInterface:     {"interface", "in_interface", "out_interface", "gateway", "name"},
	prereqInterfaceList: {"in_interface_list", "out_interface_list", "lists"},
	prereqRoutingTable:  {"table", "routing_mark", "new_routing_mark"},
	prereqAddressList:   {"src_address_list", "dst_address_list"},
	prereqAnchor:        {"place_before"},
	prereqVersion:       {"routeros_version"},
}

// whereInSite fills each prerequisite's Where with the fields of the site's
// file that name it ("sites/site-a.toml: firewall[5].out_interface").
func whereInSite(s *policy.Site, missing []Prerequisite) {
	if s == nil {
		return
	}
	for i := range missing {
		m := &missing[i]
		var where []string
		walkStrings(reflect.ValueOf(s).Elem(), "", func(path, key, v string) {
			if strings.TrimPrefix(v, "!") != m.Name || !slices.Contains(prereqFields[m.Kind], key) {
				return
			}
			// interface[i].name declares an existing interface; a
			// wireguard[i].name is one tether makes, never missing.
			if key == "name" && !strings.HasPrefix(path, "interface[") {
				return
			}
			where = append(where, s.File+": "+path)
		})
		m.Where = where
	}
}

// walkStrings calls fn for every string (or string in a slice) reachable
// from v through struct fields with a toml tag, with its field path.
func walkStrings(v reflect.Value, path string, fn func(path, key, v string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), path, fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			walkStrings(v.Field(i), joinField(path, tag), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.String:
		key := path[strings.LastIndex(path, ".")+1:]
		if j := strings.Index(key, "["); j >= 0 {
			key = key[:j]
		}
		fn(path, key, v.String())
	}
}

func joinField(path, tag string) string {
	if path == "" {
		return tag
	}
	return path + "." + tag
}
