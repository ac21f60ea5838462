package linuxhost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/tether-net/tether/policy"
)

// The live routed-prefix trap: a provider that puts an address of the
// routed prefix on the NIC at the prefix's length (the /48 at /48) gives
// the WAN a connected route for it, and the host then answers for those
// addresses on the WAN instead of routing them into the tunnel. Lint TL001
// catches it when the TOML declares that address; this looks at what the
// host actually has.

// WANTraps lists each connected route on a WAN interface (declared
// role = "wan", or carrying a default route) that covers a prefix the site
// routes into a tunnel, with the fix. It changes nothing.
func (d *Device) WANTraps(ctx context.Context, n *policy.Network, site string) ([]string, error) {
	routed := n.RoutedPrefixes(site)
	s := n.Sites[site]
	if len(routed) == 0 || s == nil {
		return nil, nil
	}
	wan := map[string]bool{}
	for _, x := range s.Interfaces {
		if x.Role == "wan" {
			wan[x.Name] = true
		}
	}
	var connected []liveRoute
	for _, fam := range []string{"-4", "-6"} {
		routes, err := d.routes(ctx, fam, "show", "table", "main")
		if err != nil {
			return nil, err
		}
		for _, r := range routes {
			if r.Dst == "default" && r.Dev != "" {
				wan[r.Dev] = true
			}
			if r.Protocol == "kernel" && r.Dev != "" {
				connected = append(connected, r)
			}
		}
	}
	var traps []string
	for _, r := range connected {
		dst, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			if a, aerr := netip.ParseAddr(r.Dst); aerr == nil {
				dst = netip.PrefixFrom(a, a.BitLen())
			} else {
				continue
			}
		}
		if !wan[r.Dev] || dst.Bits() == dst.Addr().BitLen() {
			continue
		}
		for _, p := range routed {
			// Only a connected route at least as short as the routed
			// prefix captures it: a more specific one inside it (the
			// site's own LAN /64 in the mesh /48) wins by longest match
			// and is how such networks are built.
			if dst.Bits() <= p.Bits() && dst.Contains(p.Addr()) {
				traps = append(traps, fmt.Sprintf("connected route %s on WAN %s covers %s, which %s routes into a tunnel: the host answers for those addresses on %s; keep only a /%d anchor there (the provider's address as %s/%d)",
					dst, r.Dev, p, site, r.Dev, dst.Addr().BitLen(), d.anchorOf(ctx, r, dst), dst.Addr().BitLen()))
				break
			}
		}
	}
	slices.Sort(traps)
	return traps, nil
}

// liveRoute is one route of `ip -j route`.
type liveRoute struct {
	Dst      string `json:"dst"`
	Dev      string `json:"dev"`
	Protocol string `json:"protocol"`
	PrefSrc  string `json:"prefsrc"`
}

func (d *Device) routes(ctx context.Context, fam string, args ...string) ([]liveRoute, error) {
	out, err := run(ctx, d.o.Runner, "ip", append([]string{"-j", fam, "route"}, args...)...)
	if err != nil {
		return nil, err
	}
	var rs []liveRoute
	if s := strings.TrimSpace(string(out)); s == "" {
		return nil, nil
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("ip -j %s route: %w", fam, err)
	}
	return rs, nil
}

// anchorOf names the host's own address inside a connected route: the
// address to keep, at full length.
func (d *Device) anchorOf(ctx context.Context, r liveRoute, dst netip.Prefix) string {
	if a, err := netip.ParseAddr(r.PrefSrc); err == nil {
		return a.String()
	}
	if addrs, err := d.ifaceAddrs(ctx, r.Dev); err == nil {
		var mine []string
		for a := range addrs {
			if a.Masked() == dst {
				mine = append(mine, a.Addr().String())
			}
		}
		if len(mine) > 0 {
			slices.Sort(mine)
			return mine[0]
		}
	}
	return dst.Addr().String()
}

// addrLines reads an AddrDir file: one address per line, "#" comments.
func addrLines(f fileState) []netip.Prefix {
	if !f.Exists {
		return nil
	}
	var out []netip.Prefix
	for _, line := range strings.Split(string(f.Content), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if p, err := netip.ParsePrefix(strings.TrimSpace(line)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// applyAddrs moves iface from the addresses of cur to those of want: adds
// (replace, so a present one is no error) what want lists and deletes what
// only cur listed. Every other address of the interface — the
// distribution's, DHCP's — is left alone.
func (d *Device) applyAddrs(ctx context.Context, iface string, cur, want fileState) error {
	keep := map[netip.Prefix]bool{}
	var errs []string
	for _, p := range addrLines(want) {
		keep[p] = true
		if _, err := run(ctx, d.o.Runner, "ip", "addr", "replace", p.String(), "dev", iface); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, p := range addrLines(cur) {
		if keep[p] {
			continue
		}
		_, errb, code, err := d.o.Runner.Run(ctx, "ip", "addr", "del", p.String(), "dev", iface)
		if err == nil && code != 0 && !strings.Contains(string(errb), "Cannot assign requested address") {
			err = &ToolError{Cmd: "ip addr del " + p.String() + " dev " + iface, Code: code, Output: strings.TrimSpace(string(errb))}
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", iface, strings.Join(errs, "; "))
	}
	return nil
}

// addrDrift names the addresses of an AddrDir file missing from iface.
func (d *Device) addrDrift(ctx context.Context, iface string, content []byte) string {
	live, err := d.ifaceAddrs(ctx, iface)
	if err != nil {
		return fmt.Sprintf("cannot read the addresses of %s: %v", iface, err)
	}
	var missing []string
	for _, p := range addrLines(fileState{Exists: true, Content: content}) {
		if !live[p] {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%s lacks address %s", iface, strings.Join(missing, ", "))
	}
	return ""
}
