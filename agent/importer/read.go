package importer

import (
	"context"
	"fmt"
	"slices"
)

// Rows is what was read from a RouterOS router: per menu path, its rows in
// the router's order.
type Rows map[string][]map[string]string

// Printer reads one menu with a .proplist; *mikrotik.Device is one.
type Printer interface {
	Print(ctx context.Context, path string, proplist ...string) ([]map[string]string, error)
}

// status attributes say whose an item is; they are read in every menu.
var status = []string{".id", "comment", "disabled", "dynamic", "default", "builtin"}

var firewallModel = []string{"chain", "action", "protocol", "src-address", "dst-address", "src-address-list", "dst-address-list",
	"src-port", "dst-port", "in-interface", "out-interface", "in-interface-list", "out-interface-list", "connection-state",
	"connection-nat-state", "icmp-options", "to-addresses", "to-address", "to-ports", "new-routing-mark", "passthrough",
	"reject-with", "log", "log-prefix"}

// firewallExtra are rule attributes the model has no field for: a rule
// that sets one is imported as a raw item.
var firewallExtra = []string{"ipsec-policy", "hw-offload", "connection-mark", "packet-mark", "routing-mark", "new-connection-mark",
	"new-packet-mark", "jump-target", "address-list", "address-list-timeout", "src-address-type", "dst-address-type", "tcp-flags",
	"tcp-mss", "limit", "dst-limit", "connection-limit", "connection-type", "src-mac-address", "in-bridge-port", "out-bridge-port",
	"in-bridge-port-list", "out-bridge-port-list", "layer7-protocol", "content", "port", "ttl", "hop-limit", "packet-size",
	"time", "nth", "random", "dscp", "priority", "psd", "per-connection-classifier", "new-mss", "tls-host", "fragment",
	"ipv4-options", "headers", "src-port-list", "dst-port-list", "connection-bytes", "connection-rate", "new-dscp",
	"new-priority", "new-ttl", "new-hop-limit", "route-dst", "sniff-target", "sniff-id", "to-dst-address"}

// menu is one menu import reads.
type menu struct {
	path  string
	attrs []string
	extra []string
}

// menus are what import reads, in the renderer's dependency order, each
// with the attributes it needs (never a secret). extra lists, per menu,
// attributes that make an item inexpressible by the model when set.
var menus = []menu{
	{"/routing/table", []string{"name", "fib"}, nil},
	{"/interface/wireguard", []string{"name", "listen-port", "mtu", "public-key"}, nil},
	{"/interface/list", []string{"name"}, []string{"include", "exclude"}},
	{"/interface/list/member", []string{"list", "interface"}, nil},
	{"/ip/address", []string{"address", "interface", "network"}, nil},
	{"/ipv6/address", []string{"address", "interface", "advertise"}, []string{"eui-64", "from-pool", "no-dad"}},
	{"/ip/firewall/address-list", []string{"list", "address"}, []string{"timeout"}},
	{"/ipv6/firewall/address-list", []string{"list", "address"}, []string{"timeout"}},
	{"/routing/filter/rule", []string{"chain", "rule"}, nil},
	{"/routing/bgp/instance", []string{"name", "as", "router-id"}, nil},
	{"/routing/bgp/template", []string{"name", "as", "output.default-originate", "hold-time"}, nil},
	{"/routing/bgp/connection", []string{"name", "instance", "as", "router-id", "remote.address", "remote.as", "local.address",
		"local.role", "templates", "afi", "address-families", "input.filter", "output.filter-chain", "output.network", "hold-time"}, nil},
	{"/interface/wireguard/peers", []string{"interface", "name", "public-key", "allowed-address", "endpoint-address", "endpoint-port",
		"persistent-keepalive"}, nil},
	{"/ip/route", []string{"dst-address", "gateway", "blackhole", "distance", "routing-table"},
		[]string{"check-gateway", "pref-src", "vrf-interface", "suppress-hw-offload"}},
	{"/ipv6/route", []string{"dst-address", "gateway", "blackhole", "distance", "routing-table"},
		[]string{"check-gateway", "pref-src", "vrf-interface", "suppress-hw-offload"}},
	{"/routing/rule", []string{"src-address", "dst-address", "routing-mark", "interface", "action", "table"}, nil},
	{"/ip/firewall/filter", firewallModel, firewallExtra},
	{"/ip/firewall/nat", firewallModel, firewallExtra},
	{"/ip/firewall/mangle", firewallModel, firewallExtra},
	{"/ipv6/firewall/filter", firewallModel, firewallExtra},
	{"/ipv6/firewall/nat", firewallModel, firewallExtra},
	{"/ipv6/firewall/mangle", firewallModel, firewallExtra},
	{"/ipv6/nd", []string{"interface", "ra-interval", "ra-lifetime", "reachable-time", "advertise-dns", "dns", "hop-limit",
		"managed-address-configuration", "other-configuration", "advertise-mac-address", "mtu", "ra-delay", "ra-preference"}, nil},
}

// singletons are settings menus import reads whole attributes of.
var singletons = []struct {
	path  string
	attrs []string
}{
	{"/system/resource", []string{"version"}},
	{"/ip/dns", []string{"servers", "allow-remote-requests"}},
}

// extraAttrs returns the inexpressible attributes of a menu.
func extraAttrs(path string) []string {
	for _, m := range menus {
		if m.path == path {
			return m.extra
		}
	}
	return nil
}

// Read prints every menu import needs, once each, with a .proplist that
// names no secret. A menu the router's version lacks (/routing/bgp/instance
// before 7.20) reads as empty when refused says the error is a refusal.
func Read(ctx context.Context, p Printer, refused func(error) bool) (Rows, error) {
	rows := Rows{}
	read := func(path string, attrs []string) error {
		pl := slices.Concat(status, attrs)
		re, err := p.Print(ctx, path, pl...)
		if err != nil {
			if refused != nil && refused(err) {
				return nil
			}
			return fmt.Errorf("import: %w", err)
		}
		rows[path] = re
		return nil
	}
	for _, s := range singletons {
		if err := read(s.path, s.attrs); err != nil {
			return nil, err
		}
	}
	for _, m := range menus {
		if err := read(m.path, slices.Concat(m.attrs, m.extra)); err != nil {
			return nil, err
		}
	}
	return rows, nil
}
