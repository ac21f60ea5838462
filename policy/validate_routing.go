package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// checkRoutingTables checks [[routing_table]]: safe unique names and ids
// (given or derived from the name) that are neither reserved nor shared.
// It returns the declared table names, main included.
func (c *siteChecker) checkRoutingTables() map[string]bool {
	tables := map[string]bool{"main": true}
	tableIDs := map[int]string{}
	for i, t := range c.s.RoutingTables {
		p := fmt.Sprintf("routing_table[%d]", i)
		if c.name(p+".name", "routing table name", t.Name) {
			if tables[t.Name] {
				c.at(p+".name", "duplicate", fmt.Sprintf("routing table %q is declared twice (main always exists)", t.Name))
			}
			tables[t.Name] = true
		}
		if t.ID < 0 || t.ID == 253 || t.ID == 254 || t.ID == 255 || t.ID > 0x7fffffff {
			c.at(p+".id", "out-of-range", fmt.Sprintf("table id %d is reserved or out of range", t.ID))
		}
		id := t.ID
		if id == 0 {
			id = TableID(t.Name)
		}
		if prev, dup := tableIDs[id]; dup {
			c.at(p+".id", "duplicate", fmt.Sprintf("table id %d is also used by routing table %q; set id explicitly", id, prev))
		}
		tableIDs[id] = t.Name
	}
	return tables
}

// checkRoutes checks [[route]]: a dst, either a gateway (an address of the
// dst's family or a declared interface) or blackhole, distance and table.
func (c *siteChecker) checkRoutes() {
	for i, r := range c.s.Routes {
		p := fmt.Sprintf("route[%d]", i)
		if !r.Dst.IsValid() && r.Dst.err == nil {
			c.at(p+".dst", "required", "dst is required (use ::/0 or 0.0.0.0/0 for a default route)")
		}
		switch {
		case r.Blackhole && r.Gateway != "":
			c.at(p, "conflict", "a route has either gateway or blackhole = true, not both")
		case !r.Blackhole && r.Gateway == "":
			c.at(p+".gateway", "required", "gateway is required unless blackhole = true")
		case r.Gateway != "":
			if a, err := netip.ParseAddr(r.Gateway); err == nil {
				if r.Dst.IsValid() && a.Is4() != r.Dst.Addr().Is4() {
					c.at(p+".gateway", "family-mismatch", fmt.Sprintf("gateway %s and dst %s are different address families", a, r.Dst))
				}
			} else {
				c.refIface(p+".gateway", r.Gateway)
			}
		}
		if r.Distance < 0 || r.Distance > 255 {
			c.at(p+".distance", "out-of-range", "distance must be 1-255")
		}
		c.refTable(p+".table", r.Table)
		c.text(p+".comment", r.Comment)
	}
}

// checkRoutingRules checks [[routing_rule]]: the action, a table for
// lookups, declared references, and at least one thing to match.
func (c *siteChecker) checkRoutingRules() {
	for i, r := range c.s.RoutingRules {
		p := fmt.Sprintf("routing_rule[%d]", i)
		switch r.Action {
		case "", "lookup", "lookup-only-in-table", "drop", "unreachable":
		default:
			c.at(p+".action", "invalid-value", fmt.Sprintf("action must be lookup, lookup-only-in-table, drop or unreachable, not %q", r.Action))
		}
		if (r.Action == "" || strings.HasPrefix(r.Action, "lookup")) && r.Table == "" {
			c.at(p+".table", "required", "table is required for lookup rules")
		}
		c.refTable(p+".table", r.Table)
		c.refIface(p+".interface", r.Interface)
		if r.RoutingMark != "" {
			c.name(p+".routing_mark", "routing mark", r.RoutingMark)
		}
		if !r.SrcAddress.IsValid() && !r.DstAddress.IsValid() && r.RoutingMark == "" && r.Interface == "" {
			c.at(p, "required", "a routing rule needs at least one of src_address, dst_address, routing_mark, interface")
		}
		c.text(p+".comment", r.Comment)
	}
}

// hasTable reports whether the site declares the routing table.
func hasTable(s *Site, name string) bool {
	for _, t := range s.RoutingTables {
		if t.Name == name {
			return true
		}
	}
	return false
}
