package rossim

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// menuSpec is what the simulator knows about a menu beyond the schema's
// attribute names: which names are unique, what add requires, the defaults
// print shows, and whether the menu is a typed view over /interface.
// Menus without a spec are plain ordered tables with schema-checked names.
type menuSpec struct {
	uniqueName bool
	required   []string
	defaults   map[string]string
	singleton  bool
	ifaceType  string // view over /interface rows of this type
	autoName   string // name prefix when add omits name (e.g. "wireguard")
}

var firewallDefaults = map[string]string{"disabled": "false", "dynamic": "false", "invalid": "false", "log": "false", "log-prefix": "", "bytes": "0", "packets": "0", "action": "accept"}

var routeDefaults = map[string]string{"disabled": "false", "dynamic": "false", "inactive": "false", "active": "true", "static": "true", "distance": "1", "scope": "30", "target-scope": "10", "routing-table": "main"}

var specs = map[string]menuSpec{
	"/interface":                  {uniqueName: true},
	"/interface/ethernet":         {uniqueName: true, ifaceType: "ether"},
	"/interface/bridge":           {uniqueName: true, ifaceType: "bridge", autoName: "bridge", defaults: map[string]string{"mtu": "auto", "actual-mtu": "1500", "protocol-mode": "rstp", "vlan-filtering": "false", "disabled": "false", "running": "true"}},
	"/interface/vlan":             {uniqueName: true, ifaceType: "vlan", autoName: "vlan", required: []string{"interface", "vlan-id"}, defaults: map[string]string{"mtu": "1500", "disabled": "false", "running": "true"}},
	"/interface/wireguard":        {uniqueName: true, ifaceType: "wg", autoName: "wireguard", defaults: map[string]string{"mtu": "1420", "disabled": "false", "running": "true"}},
	"/interface/wireguard/peers":  {required: []string{"interface", "public-key"}, autoName: "peer", defaults: map[string]string{"disabled": "false", "dynamic": "false", "responder": "false", "rx": "0", "tx": "0", "endpoint-port": "0", "endpoint-address": ""}},
	"/interface/list":             {uniqueName: true, required: []string{"name"}, defaults: map[string]string{"builtin": "false", "dynamic": "false", "include": "", "exclude": ""}},
	"/interface/list/member":      {required: []string{"interface", "list"}, defaults: map[string]string{"disabled": "false", "dynamic": "false"}},
	"/interface/bridge/port":      {required: []string{"interface", "bridge"}, defaults: map[string]string{"disabled": "false", "dynamic": "false", "inactive": "false"}},
	"/ip/address":                 {required: []string{"address", "interface"}, defaults: map[string]string{"disabled": "false", "dynamic": "false", "invalid": "false"}},
	"/ipv6/address":               {required: []string{"address", "interface"}, defaults: map[string]string{"disabled": "false", "dynamic": "false", "invalid": "false", "advertise": "true", "eui-64": "false", "no-dad": "false", "link-local": "false"}},
	"/ip/route":                   {defaults: routeDefaults},
	"/ipv6/route":                 {defaults: routeDefaults},
	"/routing/table":              {uniqueName: true, required: []string{"name"}, defaults: map[string]string{"disabled": "false", "dynamic": "false", "invalid": "false"}},
	"/routing/rule":               {defaults: map[string]string{"disabled": "false", "inactive": "false"}},
	"/routing/filter/rule":        {required: []string{"chain", "rule"}, defaults: map[string]string{"disabled": "false", "dynamic": "false", "inactive": "false"}},
	"/routing/bgp/instance":       {uniqueName: true, required: []string{"as"}, autoName: "bgp-instance-", defaults: map[string]string{"disabled": "false", "inactive": "false"}},
	"/routing/bgp/template":       {uniqueName: true, required: []string{"name"}, defaults: map[string]string{"disabled": "false", "inactive": "false"}},
	"/routing/bgp/connection":     {uniqueName: true, required: []string{"local.role"}, autoName: "bgp", defaults: map[string]string{"disabled": "false", "inactive": "false", "connect": "true", "listen": "true"}},
	"/routing/bgp/session":        {},
	"/ip/firewall/filter":         {required: []string{"chain"}, defaults: firewallDefaults},
	"/ip/firewall/nat":            {required: []string{"chain"}, defaults: firewallDefaults},
	"/ip/firewall/mangle":         {required: []string{"chain"}, defaults: firewallDefaults},
	"/ip/firewall/raw":            {required: []string{"chain"}, defaults: firewallDefaults},
	"/ipv6/firewall/filter":       {required: []string{"chain"}, defaults: firewallDefaults},
	"/ipv6/firewall/nat":          {required: []string{"chain"}, defaults: firewallDefaults},
	"/ipv6/firewall/mangle":       {required: []string{"chain"}, defaults: firewallDefaults},
	"/ipv6/firewall/raw":          {required: []string{"chain"}, defaults: firewallDefaults},
	"/ip/firewall/address-list":   {required: []string{"list", "address"}, defaults: map[string]string{"disabled": "false", "dynamic": "false"}},
	"/ipv6/firewall/address-list": {required: []string{"list", "address"}, defaults: map[string]string{"disabled": "false", "dynamic": "false"}},
	"/ipv6/nd":                    {required: []string{"interface"}, defaults: map[string]string{"disabled": "false", "invalid": "false", "ra-interval": "3m20s-10m", "hop-limit": "unspecified", "advertise-dns": "true", "advertise-mac-address": "true", "managed-address-configuration": "false", "other-configuration": "false"}},
	"/ipv6/nd/prefix":             {required: []string{"prefix", "interface"}, defaults: map[string]string{"disabled": "false", "dynamic": "false", "invalid": "false", "autonomous": "true", "on-link": "true", "valid-lifetime": "4w2d", "preferred-lifetime": "1w"}},
	"/system/script":              {uniqueName: true, autoName: "script", defaults: map[string]string{"dont-require-permissions": "false", "run-count": "0", "invalid": "false", "source": ""}},
	"/system/scheduler":           {uniqueName: true, required: []string{"name"}, defaults: map[string]string{"disabled": "false", "run-count": "0", "interval": "0s", "on-event": ""}},
	"/user":                       {uniqueName: true, required: []string{"name", "group"}, defaults: map[string]string{"address": "", "disabled": "false", "expired": "false", "inactivity-policy": "none", "inactivity-timeout": "10m"}},
	"/user/group":                 {uniqueName: true, required: []string{"name"}, defaults: map[string]string{"policy": policySet(0).groupString(), "skin": "default"}},
	"/ip/dns":                     {singleton: true},
	"/ipv6/settings":              {singleton: true},
	"/ip/settings":                {singleton: true},
	"/system/identity":            {singleton: true},
	"/system/resource":            {singleton: true},
	"/system/clock":               {singleton: true},
}

// ifaceViews maps a menu that is a typed view over /interface to its type.
func ifaceView(menu string) (typ string, ok bool) {
	s, ok := specs[menu]
	return s.ifaceType, ok && s.ifaceType != ""
}

// tableName is the table backing a menu: typed interface menus share the
// /interface table so ids and names are shared, as on a router.
func tableName(menu string) string {
	if _, ok := ifaceView(menu); ok {
		return "/interface"
	}
	return menu
}

func family(menu string) int {
	switch {
	case strings.HasPrefix(menu, "/ipv6/"):
		return 6
	case strings.HasPrefix(menu, "/ip/"):
		return 4
	}
	return 0
}

var boolAttrs = map[string]bool{
	"disabled": true, "responder": true, "connect": true, "listen": true, "multihop": true,
	"allow-remote-requests": true, "forward": true, "disable-ipv6": true, "log": true,
	"use-bfd": true, "advertise": true, "hw-offload": true, "dont-require-permissions": true,
	"eui-64": true, "no-dad": true, "vlan-filtering": true, "autonomous": true, "on-link": true,
	"advertise-dns": true, "advertise-mac-address": true, "managed-address-configuration": true,
	"other-configuration": true, "suppress-hw-offload": true,
}

// flagAttrs are yes-by-presence attributes: print shows a set one as a
// present, empty word (=blackhole=) and leaves an unset one out; =!name= on
// set clears it.
var flagAttrs = map[string]map[string]bool{
	"/ip/route": {"blackhole": true}, "/ipv6/route": {"blackhole": true}, "/routing/table": {"fib": true},
}

// hasFlag reports whether a flag attribute is set in a row.
func hasFlag(a map[string]string, k string) bool {
	_, ok := a[k]
	return ok
}

var durationAttrs = map[string]bool{
	"persistent-keepalive": true, "keepalive-time": true, "hold-time": true, "interval": true,
	"timeout": true, "client-keepalive": true,
}

var connectionStates = []string{"established", "related", "new", "invalid", "untracked"}

// normalize validates one attribute value for menu and returns what print
// will show. Attributes it knows nothing about are stored verbatim.
func (s *Sim) normalize(menu, attr, v string) (string, *Trap) {
	fam := family(menu)
	switch {
	case flagAttrs[menu][attr]:
		// Present means set, whatever the value (even "no"); print shows
		// the bare word.
		return "", nil
	case boolAttrs[attr]:
		return parseBool(attr, v)
	case durationAttrs[attr]:
		if menu == "/routing/bgp/connection" && attr == "hold-time" && v == "infinity" {
			return v, nil
		}
		d, err := ParseDuration(v)
		if err != nil {
			return "", badValue(attr)
		}
		return FormatDuration(d), nil
	}
	switch attr {
	case "listen-port", "endpoint-port", "remote.port", "local.port", "port":
		return parseIntRange(attr, v, 0, 65535)
	case "mtu":
		if v == "auto" {
			return v, nil
		}
		return parseIntRange(attr, v, 0, 65535)
	case "distance":
		return parseIntRange(attr, v, 1, 255)
	case "scope", "target-scope":
		return parseIntRange(attr, v, 0, 255)
	case "vlan-id":
		return parseIntRange(attr, v, 1, 4095)
	case "as", "remote.as", "local.as":
		return parseIntRange(attr, v, 0, 4294967295)
	case "public-key", "preshared-key":
		if !parseWGKey(v) {
			return "", trapf(1, "invalid value for argument %s", attr)
		}
		return v, nil
	case "private-key":
		if v == "auto" {
			return v, nil // replaced with a generated key on add
		}
		if !parseWGKey(v) {
			return "", badValue(attr)
		}
		return v, nil
	case "name", "chain", "list", "rule":
		if v == "" {
			return "", trapf(1, "value of %s should not be empty", attr)
		}
		return v, nil
	case "endpoint-address":
		if strings.ContainsAny(v, " /") {
			return "", badValue(attr)
		}
		return v, nil
	case "allowed-address":
		var out []string
		for part := range strings.SplitSeq(v, ",") {
			p, ok := parseAddrPrefix(part, 0)
			if !ok {
				return "", badValue(attr)
			}
			out = append(out, p.String())
		}
		return strings.Join(out, ","), nil
	case "remote.address":
		if lo, hi, ok := strings.Cut(v, "-"); ok {
			_, ok1 := parseAddrOnly(lo, 0)
			_, ok2 := parseAddrOnly(hi, 0)
			if ok1 && ok2 {
				return v, nil
			}
			return "", badValue(attr)
		}
		if _, ok := parseAddrPrefix(v, 0); !ok {
			return "", badValue(attr)
		}
		return v, nil
	case "local.address", "pref-src", "router-id":
		if _, ok := parseAddrOnly(v, 0); !ok {
			return "", badValue(attr)
		}
		return v, nil
	case "address":
		return normalizeAddress(menu, v, fam)
	case "dst-address", "src-address":
		if strings.HasSuffix(menu, "/route") {
			p, ok := parseAddrPrefix(v, fam)
			if !ok {
				return "", badValue(attr)
			}
			return p.Masked().String(), nil
		}
		if strings.Contains(menu, "/firewall/") && !parseFirewallAddr(v, fam) {
			return "", badValue(attr)
		}
		return v, nil
	case "prefix":
		p, ok := parseAddrPrefix(v, 6)
		if !ok {
			return "", badValue(attr)
		}
		return p.Masked().String(), nil
	case "dst-port", "src-port":
		if !parsePorts(v) {
			return "", badValue(attr)
		}
		return v, nil
	case "gateway":
		return s.normalizeGateway(v, fam)
	case "interface":
		return s.checkInterfaceRef(menu, v)
	case "in-interface", "out-interface", "bridge":
		name := strings.TrimPrefix(v, "!")
		if s.findByName("/interface", name) == nil {
			return "", trapf(1, "input does not match any value of %s", attr)
		}
		return v, nil
	case "in-interface-list", "out-interface-list":
		name := strings.TrimPrefix(v, "!")
		if !slices.Contains([]string{"all", "none", "dynamic", "static"}, name) && s.findByName("/interface/list", name) == nil {
			return "", trapf(1, "input does not match any value of %s", attr)
		}
		return v, nil
	case "routing-table":
		if v != "main" && s.findByName("/routing/table", v) == nil {
			return "", trapf(1, "input does not match any value of %s", attr)
		}
		return v, nil
	case "instance":
		if s.findByName("/routing/bgp/instance", v) == nil {
			return "", trapf(1, "input does not match any value of %s", attr)
		}
		return v, nil
	case "templates":
		for t := range strings.SplitSeq(v, ",") {
			if s.findByName("/routing/bgp/template", t) == nil {
				return "", trapf(1, "input does not match any value of %s", attr)
			}
		}
		return v, nil
	case "connection-state":
		for st := range strings.SplitSeq(strings.TrimPrefix(v, "!"), ",") {
			if !slices.Contains(connectionStates, st) {
				return "", badValue(attr)
			}
		}
		return v, nil
	case "action":
		if enum := s.actionEnum(menu); enum != nil && !slices.Contains(enum, v) {
			return "", trapf(1, "input does not match any value of action")
		}
		return v, nil
	case "policy":
		return normalizePolicy(menu, v)
	case "group":
		if menu == "/user" && s.findByName("/user/group", v) == nil {
			return "", trapf(1, "input does not match any value of group")
		}
		return v, nil
	case "start-time":
		if v == "startup" {
			return v, nil
		}
		t, err := time.Parse("15:04:05", v)
		if err != nil {
			return "", badValue(attr)
		}
		return t.Format("15:04:05"), nil
	case "start-date":
		for _, layout := range []string{"2006-01-02", "Jan/02/2006", "jan/02/2006"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.Format("2006-01-02"), nil
			}
		}
		return "", badValue(attr)
	}
	return v, nil
}

func normalizeAddress(menu, v string, fam int) (string, *Trap) {
	switch menu {
	case "/ip/address", "/ipv6/address":
		if fam == 6 && !strings.Contains(v, "/") {
			v += "/64" // RouterOS default for an IPv6 address without length
		}
		p, ok := parseAddrPrefix(v, fam)
		if !ok {
			return "", badValue("address")
		}
		return p.String(), nil
	case "/ip/firewall/address-list", "/ipv6/firewall/address-list":
		if v == "" || strings.Contains(v, " ") {
			return "", badValue("address")
		}
		if p, ok := parseAddrPrefix(v, fam); ok {
			if fam == 6 && !strings.Contains(v, "/") {
				return p.String(), nil // RouterOS prints IPv6 list entries with a length
			}
			return v, nil
		}
		if strings.Contains(v, "-") || strings.Contains(v, ".") || strings.Contains(v, ":") {
			return v, nil // range or DNS name: resolved by the router, kept verbatim
		}
		return "", badValue("address")
	case "/ip/dns/static":
		if _, ok := parseAddrOnly(v, 0); !ok {
			return "", badValue("address")
		}
	}
	return v, nil
}

func (s *Sim) normalizeGateway(v string, fam int) (string, *Trap) {
	for g := range strings.SplitSeq(v, ",") {
		addr, iface, hasZone := strings.Cut(g, "%")
		if a, err := netip.ParseAddr(addr); err == nil {
			if (fam == 4 && !a.Is4()) || (fam == 6 && !a.Is6()) {
				return "", badValue("gateway")
			}
			if hasZone && s.findByName("/interface", iface) == nil {
				return "", badValue("gateway")
			}
			continue
		}
		if hasZone || s.findByName("/interface", g) == nil {
			return "", badValue("gateway")
		}
	}
	return v, nil
}

func (s *Sim) checkInterfaceRef(menu, v string) (string, *Trap) {
	it := s.findByName("/interface", v)
	switch menu {
	case "/interface/wireguard/peers":
		if it == nil || it.attrs["type"] != "wg" {
			return "", trapf(1, "input does not match any value of interface")
		}
	case "/interface/list/member":
		if it == nil && s.findByName("/interface/list", v) == nil {
			return "", trapf(1, "input does not match any value of interface")
		}
	case "/ipv6/nd", "/ipv6/nd/prefix":
		if it == nil && v != "all" {
			return "", trapf(1, "input does not match any value of interface")
		}
	default:
		if it == nil {
			return "", trapf(1, "input does not match any value of interface")
		}
	}
	return v, nil
}

// actionEnum uses the action values deep inspect recorded for 7.22.3; they
// have not changed across the supported versions for the firewall menus.
func (s *Sim) actionEnum(menu string) []string {
	if !strings.Contains(menu, "/firewall/") {
		return nil
	}
	return s.enumTree.Enum(menu, "add", "action")
}
