package linux

import (
	"bufio"
	"bytes"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// wireguard renders one wg-quick file per WireGuard interface.
func (r *renderer) wireguard() {
	for _, w := range r.s.WireGuard {
		var peers []policy.WGPeer
		for _, p := range r.peers {
			if p.Interface == w.Name {
				peers = append(peers, p)
			}
		}
		r.add(File{
			Path:     path.Join(WireGuardDir, w.Name+".conf"),
			Mode:     0o600,
			Content:  r.wgQuick(w, peers),
			Check:    []string{"wg-quick", "strip", "{}"},
			Activate: Action{Kind: ActWGSyncconf, Target: w.Name},
		})
	}
}

// wgTable decides wg-quick's Table= and which peers' routes must be added
// by hand. BGP owns the routes of peers with Route = false, so when every
// peer is such a peer wg-quick must install nothing (Table = off, BIRD
// exports the learned routes into the kernel). A mix is rare; then
// wg-quick installs nothing and the routed peers' prefixes are added with
// `ip route replace` (replace, so a re-up never fails with "File exists").
func (r *renderer) wgTable(w policy.WireGuard, peers []policy.WGPeer) (table string, manual []netip.Prefix) {
	routed, unrouted := 0, 0
	for _, p := range peers {
		if p.Route {
			routed++
		} else {
			unrouted++
		}
	}
	switch w.Table {
	case "off":
		return "off", nil
	case "", "auto":
		if unrouted == 0 {
			return "", nil // auto is wg-quick's default
		}
		if routed == 0 {
			return "off", nil
		}
		for _, p := range peers {
			if p.Route {
				manual = append(manual, p.Allowed...)
			}
		}
		r.warnf("wireguard %s: peers with and without routes share the interface; Table = off and the routed peers' prefixes are added by PostUp", w.Name)
		return "off", manual
	default:
		if _, err := strconv.Atoi(w.Table); err == nil {
			return w.Table, nil
		}
		for i, t := range r.s.RoutingTables {
			if t.Name == w.Table {
				return strconv.Itoa(tableID(t, i)), nil
			}
		}
		return w.Table, nil
	}
}

// tableID is the Linux number of a declared routing table: its id, or
// 1000 + its position, well clear of the kernel's and distributions' ids.
func tableID(t policy.RoutingTable, i int) int {
	if t.ID != 0 {
		return t.ID
	}
	return 1000 + i
}

func (r *renderer) wgQuick(w policy.WireGuard, peers []policy.WGPeer) []byte {
	var b buf
	b.WriteString(header("#", r.s.Name))
	if w.Comment != "" {
		b.line(0, "# %s", w.Comment)
	}
	b.line(0, "[Interface]")
	addrs := r.n.WireGuardAddresses(r.s.Name, w.Name)
	if len(addrs) > 0 {
		b.line(0, "Address = %s", joinPrefixes(addrs))
	}
	if w.ListenPort > 0 {
		b.line(0, "ListenPort = %d", w.ListenPort)
	}
	if w.MTU > 0 {
		b.line(0, "MTU = %d", w.MTU)
	}
	table, manual := r.wgTable(w, peers)
	if table != "" {
		b.line(0, "Table = %s", table)
	}
	// The key stays in the agent's key directory; wg-quick sets it once the
	// device exists. Nothing secret is ever part of the rendered file. When
	// the model has the interface's public key, bring-up also checks the key
	// file matches it: a rotation (new public key committed) changes this
	// line, so the interface is restarted with the new key, and a key file
	// that does not match what the far ends were given fails the apply.
	keyFile := path.Join(r.opt.KeyDir, w.Name+".key")
	if w.PublicKey.IsZero() {
		b.line(0, "PostUp = wg set %%i private-key %s", keyFile)
	} else {
		b.line(0, "PostUp = wg set %%i private-key %s && test \"$(wg show %%i public-key)\" = %s", keyFile, w.PublicKey)
	}
	for _, p := range manual {
		fam := "-4"
		if p.Addr().Is6() {
			fam = "-6"
		}
		b.line(0, "PostUp = ip %s route replace %s dev %%i", fam, p.Masked())
	}
	for _, p := range peers {
		b.line(0, "")
		c := "# " + p.Name
		if p.Comment != "" {
			c += ": " + p.Comment
		}
		b.line(0, "%s", c)
		b.line(0, "[Peer]")
		b.line(0, "PublicKey = %s", p.PublicKey)
		if len(p.Allowed) > 0 {
			b.line(0, "AllowedIPs = %s", joinPrefixes(p.Allowed))
		}
		if p.Dials() {
			b.line(0, "Endpoint = %s", p.Endpoint)
		}
		if p.Keepalive > 0 {
			b.line(0, "PersistentKeepalive = %d", int(p.Keepalive.Seconds()))
		}
	}
	return b.Bytes()
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// wgQuickOnly are the [Interface] keys wg(8) does not know: wg-quick applies
// them at "up", so changing one needs down + up.
var wgQuickOnly = map[string]bool{
	"address": true, "dns": true, "mtu": true, "table": true,
	"preup": true, "postup": true, "predown": true, "postdown": true, "saveconfig": true,
}

type wgSection struct {
	name  string
	pairs [][2]string // lower-cased key, value
}

// parseWG splits a wg-quick file into sections of key/value pairs,
// dropping comments and blank lines.
func parseWG(b []byte) []wgSection {
	var out []wgSection
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			out = append(out, wgSection{name: strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))})
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(out) == 0 {
			continue
		}
		sec := &out[len(out)-1]
		sec.pairs = append(sec.pairs, [2]string{strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)})
	}
	return out
}

// NeedsRestart reports whether moving a wg-quick interface from the old
// file to the new one needs `wg-quick down` + `up` rather than
// `wg syncconf`: when there is no old file, when any wg-quick-only
// [Interface] key differs, or when wg-quick owns the routes (Table is not
// "off") and the set of AllowedIPs changed, since routes for AllowedIPs are
// installed only at "up".
func NeedsRestart(old, new []byte) bool {
	if len(bytes.TrimSpace(old)) == 0 {
		return true
	}
	o, n := parseWG(old), parseWG(new)
	if ifaceKeys(o) != ifaceKeys(n) {
		return true
	}
	if tableOf(n) == "off" {
		return false
	}
	return allowedSet(o) != allowedSet(n)
}

func ifaceKeys(secs []wgSection) string {
	var keys []string
	for _, s := range secs {
		if s.name != "interface" {
			continue
		}
		for _, p := range s.pairs {
			if wgQuickOnly[p[0]] {
				keys = append(keys, p[0]+"="+normList(p[1]))
			}
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}

func tableOf(secs []wgSection) string {
	for _, s := range secs {
		if s.name == "interface" {
			for _, p := range s.pairs {
				if p[0] == "table" {
					return strings.ToLower(p[1])
				}
			}
		}
	}
	return "auto"
}

func allowedSet(secs []wgSection) string {
	var all []string
	for _, s := range secs {
		if s.name != "peer" {
			continue
		}
		for _, p := range s.pairs {
			if p[0] == "allowedips" {
				for _, a := range strings.Split(p[1], ",") {
					if a = strings.TrimSpace(a); a != "" {
						all = append(all, a)
					}
				}
			}
		}
	}
	sort.Strings(all)
	return strings.Join(all, ",")
}

func normList(v string) string {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ",")
}
