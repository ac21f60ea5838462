// Command prune reduces the full RouterOS command trees (tikoci/restraml
// `/console/inspect` dumps, kept in the project's shared/routeros-schema folder)
// to the menus tether touches, so that test/rosschema can embed them.
//
// It keeps, for every menu listed in [menus], the menu's commands and their
// arguments, plus the directory nodes leading to it. Subdirectories are kept
// only when listed themselves. Argument `desc` strings are dropped. When a
// deep-inspect.json exists beside inspect.json (7.22.3), its `_completion`
// maps are folded in: the field names `print` returns become `_fields` on
// the print command, and enum-like completions of an argument become `_enum`.
//
// Usage (see the go:generate line in test/rosschema):
//
//	go run ./cmd/prune -src ../../../shared/routeros-schema -out testdata
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// versions are the RouterOS releases tether supports.
var versions = []string{"7.18", "7.20.8", "7.22.3", "7.24"}

// menus are the menu paths tether reads or writes (or the simulator serves).
// A menu missing from a version (e.g. /routing/bgp/instance before 7.20) is
// skipped: that absence is exactly what the tests need to see.
var menus = []string{
	"/interface",
	"/interface/wireguard",
	"/interface/wireguard/peers",
	"/interface/list",
	"/interface/list/member",
	"/interface/bridge",
	"/interface/bridge/port",
	"/interface/ethernet",
	"/interface/vlan",
	"/ip/address",
	"/ipv6/address",
	"/ip/route",
	"/ipv6/route",
	"/ip/dhcp-client",
	"/ipv6/dhcp-client",
	"/ipv6/pool",
	"/routing/table",
	"/routing/rule",
	"/routing/filter/rule",
	"/routing/bgp/instance",
	"/routing/bgp/template",
	"/routing/bgp/connection",
	"/routing/bgp/session",
	"/ip/firewall/filter",
	"/ip/firewall/nat",
	"/ip/firewall/mangle",
	"/ip/firewall/raw",
	"/ip/firewall/address-list",
	"/ipv6/firewall/filter",
	"/ipv6/firewall/nat",
	"/ipv6/firewall/mangle",
	"/ipv6/firewall/raw",
	"/ipv6/firewall/address-list",
	"/ipv6/nd",
	"/ipv6/nd/prefix",
	"/ip/dns",
	"/ip/dns/static",
	"/ipv6/settings",
	"/ip/settings",
	"/ip/service",
	"/ip/ssh",
	"/system/script",
	"/system/scheduler",
	"/system/identity",
	"/system/resource",
	"/system/clock",
	"/system/logging",
	"/tool",
	"/tool/netwatch",
	"/user",
	"/user/group",
	"/user/active",
}

// rootCommands are commands at the top level that tether uses.
var rootCommands = []string{"ping"}

type node = map[string]any

func main() {
	src := flag.String("src", "../../../shared/routeros-schema", "folder holding <version>/inspect.json")
	out := flag.String("out", "testdata", "output folder")
	flag.Parse()
	for _, v := range versions {
		if err := pruneVersion(*src, *out, v); err != nil {
			log.Fatalf("prune %s: %v", v, err)
		}
	}
}

func pruneVersion(src, out, version string) error {
	full, err := readJSON(filepath.Join(src, version, "inspect.json"))
	if err != nil {
		return err
	}
	// deep-inspect is a superset of inspect with _completion maps; optional.
	deep, err := readJSON(filepath.Join(src, version, "deep-inspect.json"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	pruned := node{"_type": "dir"}
	for _, m := range menus {
		segs := strings.Split(strings.Trim(m, "/"), "/")
		srcNode := lookup(full, segs)
		if srcNode == nil {
			continue
		}
		dst := pruned
		for _, s := range segs {
			child, ok := dst[s].(node)
			if !ok {
				child = node{"_type": "dir"}
				dst[s] = child
			}
			dst = child
		}
		var deepNode node
		if deep != nil {
			deepNode = lookup(deep, segs)
		}
		for name, c := range srcNode {
			cn, ok := c.(node)
			if !ok || cn["_type"] != "cmd" {
				continue
			}
			var deepCmd node
			if deepNode != nil {
				deepCmd, _ = deepNode[name].(node)
			}
			dst[name] = pruneCmd(cn, deepCmd)
		}
	}
	for _, c := range rootCommands {
		if cn, ok := full[c].(node); ok && cn["_type"] == "cmd" {
			var deepCmd node
			if deep != nil {
				deepCmd, _ = deep[c].(node)
			}
			pruned[c] = pruneCmd(cn, deepCmd)
		}
	}
	pruned["_meta"] = node{
		"version": version,
		"source":  "tikoci/restraml /console/inspect via shared/routeros-schema (Unlicense)",
	}
	// Compact output: the data is read by code, and indenting triples its size.
	b, err := json.Marshal(pruned)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, version+".json"), append(b, '\n'), 0o644)
}

// pruneCmd copies a command node keeping argument names only, plus the
// completion-derived `_fields`/`_enum` lists when a deep node is given.
func pruneCmd(cmd, deep node) node {
	res := node{"_type": "cmd"}
	for name, a := range cmd {
		an, ok := a.(node)
		if !ok || an["_type"] != "arg" {
			continue
		}
		arg := node{"_type": "arg"}
		if deep != nil {
			if da, ok := deep[name].(node); ok {
				if vals := enumValues(da); keepEnum(name, vals) {
					arg["_enum"] = vals
				}
			}
		}
		res[name] = arg
	}
	if deep != nil {
		if pl, ok := deep["proplist"].(node); ok {
			if comp, ok := pl["_completion"].(node); ok {
				res["_fields"] = sortedKeys(comp)
			}
		}
	}
	return res
}

// keepEnum drops completions that only repeat the print fields (proplist,
// group-by, value-name on get/edit) and huge lists such as time zones.
// value-name on unset is kept: it names the attributes that can be unset.
func keepEnum(arg string, vals []string) bool {
	switch {
	case len(vals) == 0 || len(vals) > 100:
		return false
	case arg == "proplist" || arg == "group-by":
		return false
	case arg == "value-name":
		return len(vals) > 0 && vals[0] == "all" // only unset's list starts with "all"
	}
	return true
}

// enumValues returns the completion values of an argument when they look like
// a fixed enumeration (style "arg"/"none"), not references to objects that
// happened to exist on the CHR that was inspected.
func enumValues(arg node) []string {
	comp, ok := arg["_completion"].(node)
	if !ok {
		return nil
	}
	var vals []string
	for k, v := range comp {
		vn, _ := v.(node)
		style, _ := vn["style"].(string)
		if style != "arg" && style != "none" {
			return nil
		}
		vals = append(vals, k)
	}
	sort.Strings(vals)
	return vals
}

func lookup(root node, segs []string) node {
	n := root
	for _, s := range segs {
		c, ok := n[s].(node)
		if !ok {
			return nil
		}
		n = c
	}
	if t := n["_type"]; t != "dir" && t != "path" {
		return nil
	}
	return n
}

func sortedKeys(m node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func readJSON(path string) (node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var n node
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
