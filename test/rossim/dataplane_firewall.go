package rossim

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// firewallReadOnly are the attributes of a firewall row that are not
// configuration: they are left out of DataplaneFirewallRule.Attrs so a
// counter update is not a change.
var firewallReadOnly = []string{".id", "bytes", "packets", "dynamic", "invalid", "disabled"}

// dataplaneFirewall adds the firewall, interface lists and policy routing
// to the snapshot.
func (s *Sim) dataplaneFirewall(cfg *DataplaneConfig) {
	for _, table := range []string{"filter", "nat", "mangle"} {
		for _, fam := range []int{4, 6} {
			menu := "/ip/firewall/" + table
			if fam == 6 {
				menu = "/ipv6/firewall/" + table
			}
			for _, it := range s.tableFor(menu).items {
				a := maps.Clone(it.attrs)
				for _, k := range firewallReadOnly {
					delete(a, k)
				}
				cfg.Firewall = append(cfg.Firewall, DataplaneFirewallRule{Family: fam, Table: table, Attrs: a, Disabled: it.attrs["disabled"] == "true"})
			}
		}
	}
	for _, fam := range []int{4, 6} {
		menu := "/ip/firewall/address-list"
		if fam == 6 {
			menu = "/ipv6/firewall/address-list"
		}
		for _, it := range s.tableFor(menu).items {
			a := it.attrs
			cfg.AddressLists = append(cfg.AddressLists, DataplaneAddressListEntry{Family: fam, List: a["list"], Address: a["address"], Disabled: a["disabled"] == "true"})
		}
	}
	cfg.InterfaceLists = s.interfaceLists()
	for _, it := range s.tableFor("/routing/table").items {
		if a := it.attrs; a["name"] != "main" && hasFlag(a, "fib") && a["disabled"] != "true" {
			cfg.RoutingTables = append(cfg.RoutingTables, a["name"])
		}
	}
	for _, it := range s.tableFor("/routing/rule").items {
		a := it.attrs
		r := DataplaneRoutingRule{RoutingMark: a["routing-mark"], Interface: a["interface"], Action: a["action"], Table: a["table"],
			Disabled: a["disabled"] == "true", MinPrefix: -1}
		if r.Action == "" {
			r.Action = "lookup"
		}
		if v := a["src-address"]; v != "" {
			r.SrcAddress, _ = parseAddrPrefix(v, 0)
		}
		if v := a["dst-address"]; v != "" {
			r.DstAddress, _ = parseAddrPrefix(v, 0)
		}
		if n, err := strconv.Atoi(a["min-prefix"]); err == nil {
			r.MinPrefix = n
		}
		cfg.RoutingRules = append(cfg.RoutingRules, r)
	}
}

// interfaceLists resolves every interface list to its members. A list's
// include= and exclude= name other lists, whose members are added to or
// taken from its own; the builtin lists are all (every interface), none,
// static and dynamic.
func (s *Sim) interfaceLists() map[string][]string {
	all, static, dynamic := []string{}, []string{}, []string{}
	for _, it := range s.tableFor("/interface").items {
		n := it.attrs["name"]
		all = append(all, n)
		if it.attrs["dynamic"] == "true" {
			dynamic = append(dynamic, n)
		} else {
			static = append(static, n)
		}
	}
	direct := map[string][]string{"all": all, "none": {}, "static": static, "dynamic": dynamic}
	for _, it := range s.tableFor("/interface/list").items {
		if n := it.attrs["name"]; direct[n] == nil {
			direct[n] = []string{}
		}
	}
	for _, it := range s.tableFor("/interface/list/member").items {
		a := it.attrs
		if a["disabled"] == "true" {
			continue
		}
		if _, ok := direct[a["list"]]; ok {
			direct[a["list"]] = append(direct[a["list"]], a["interface"])
		}
	}
	lists := map[string]*item{}
	for _, it := range s.tableFor("/interface/list").items {
		lists[it.attrs["name"]] = it
	}
	out := map[string][]string{}
	var resolve func(name string, depth int) []string
	resolve = func(name string, depth int) []string {
		members := slices.Clone(direct[name])
		it := lists[name]
		if it == nil || depth > 8 { // include loops: RouterOS refuses them; stop rather than spin
			return members
		}
		for inc := range strings.SplitSeq(it.attrs["include"], ",") {
			members = append(members, resolve(inc, depth+1)...)
		}
		for exc := range strings.SplitSeq(it.attrs["exclude"], ",") {
			drop := resolve(exc, depth+1)
			members = slices.DeleteFunc(members, func(m string) bool { return slices.Contains(drop, m) })
		}
		return members
	}
	for name := range direct {
		m := resolve(name, 0)
		slices.Sort(m)
		out[name] = slices.Compact(m)
	}
	return out
}
