package linux

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/tether-net/tether/policy"
)

// sysctlIface writes an interface name the way sysctl.d needs it: a dot in
// a VLAN name ("eth0.100") would read as a key separator, so it becomes '/'.
func sysctlIface(name string) string { return strings.ReplaceAll(name, ".", "/") }

// sysctl renders the site's [sysctl] keys plus what the model implies:
// forwarding for each family the site routes, proxy_ndp on NDP-proxy
// interfaces. accept_ra = 2 stays the operator's explicit key (TL014 warns
// when it is missing) because it is a fact about the upstream, not the model.
func (r *renderer) sysctl() {
	implied := map[string]string{}
	v4, v6 := false, false
	note := func(ok bool, is4 bool) {
		if ok {
			if is4 {
				v4 = true
			} else {
				v6 = true
			}
		}
	}
	for _, p := range r.peers {
		for _, a := range p.Allowed {
			note(true, a.Addr().Is4())
		}
	}
	if len(r.peers) > 0 {
		for _, w := range r.s.WireGuard {
			for _, a := range r.n.WireGuardAddresses(r.s.Name, w.Name) {
				note(true, a.Addr().Is4())
			}
		}
	}
	if len(r.s.NDPProxy) > 0 {
		v6 = true
	}
	if v6 {
		implied["net.ipv6.conf.all.forwarding"] = "1"
	}
	if v4 {
		implied["net.ipv4.ip_forward"] = "1"
	}
	for _, x := range r.s.NDPProxy {
		implied["net.ipv6.conf."+sysctlIface(x.Interface)+".proxy_ndp"] = "1"
	}
	all := map[string]string{}
	for k, v := range implied {
		all[k] = v
	}
	for k, v := range r.s.Sysctl {
		if iv, ok := implied[k]; ok && iv != v {
			r.warnf("sysctl %s = %q overrides %q, which the model implies", k, v, iv)
		}
		all[k] = v
	}
	if len(all) == 0 {
		return
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b buf
	b.WriteString(header("#", r.s.Name))
	for _, k := range keys {
		b.line(0, "%s = %s", k, all[k])
	}
	r.add(File{Path: SysctlPath, Mode: 0o644, Content: b.Bytes(), Activate: Action{Kind: ActSysctlApply, Target: SysctlPath}})
}

// ndppd renders one proxy block per upstream interface, rules in
// declaration order. auto answers only for what the FIB routes elsewhere
// (the reserved /64 via wg0), which is why it is the default: static on a
// short prefix makes ndppd 0.2.4 refuse the whole file.
func (r *renderer) ndppd() {
	if len(r.s.NDPProxy) == 0 {
		return
	}
	var ifaces []string
	rules := map[string][]policy.NDPProxy{}
	for _, x := range r.s.NDPProxy {
		if _, ok := rules[x.Interface]; !ok {
			ifaces = append(ifaces, x.Interface)
		}
		rules[x.Interface] = append(rules[x.Interface], x)
	}
	var b buf
	b.WriteString(header("#", r.s.Name))
	for i, name := range ifaces {
		if i > 0 {
			b.line(0, "")
		}
		b.line(0, "proxy %s {", name)
		for _, x := range rules[name] {
			b.line(1, "rule %s {", x.Prefix)
			switch x.Method {
			case "static":
				b.line(2, "static")
			case "iface":
				b.line(2, "iface %s", x.Via)
			default:
				b.line(2, "auto")
			}
			b.line(1, "}")
		}
		b.line(0, "}")
	}
	r.add(File{Path: NdppdPath, Mode: 0o644, Content: b.Bytes(), Activate: Action{Kind: ActServiceRestart, Target: "ndppd.service"}})
}

// radvd renders one interface block per router advertisement.
func (r *renderer) radvd() {
	if len(r.s.RouterAdverts) == 0 {
		return
	}
	onoff := func(p *bool, dflt bool) string {
		v := dflt
		if p != nil {
			v = *p
		}
		if v {
			return "on"
		}
		return "off"
	}
	var b buf
	b.WriteString(header("#", r.s.Name))
	for i, ra := range r.s.RouterAdverts {
		if i > 0 {
			b.line(0, "")
		}
		b.line(0, "interface %s {", ra.Interface)
		b.line(1, "AdvSendAdvert on;")
		if ra.MinInterval.IsSet() {
			b.line(1, "MinRtrAdvInterval %s;", seconds(ra.MinInterval))
		}
		if ra.MaxInterval.IsSet() {
			b.line(1, "MaxRtrAdvInterval %s;", seconds(ra.MaxInterval))
		}
		if ra.DefaultLifetime != nil {
			// 0 keeps hosts from using this router as their default gateway
			// (the ULA mesh advertises only its prefix and a route).
			b.line(1, "AdvDefaultLifetime %d;", ra.DefaultLifetime.Seconds())
		}
		if ra.ReachableTime.IsSet() {
			b.line(1, "AdvReachableTime %d;", ra.ReachableTime.Milliseconds())
		}
		if ra.SourceAddress.IsValid() {
			// A link-local source (the VRRP VIP) lets a backup router take
			// over without hosts seeing a new router.
			b.line(1, "AdvRASrcAddress {")
			b.line(2, "%s;", ra.SourceAddress)
			b.line(1, "};")
		}
		for _, p := range ra.Prefixes {
			b.line(1, "prefix %s {", p)
			b.line(2, "AdvOnLink %s;", onoff(ra.OnLink, true))
			b.line(2, "AdvAutonomous %s;", onoff(ra.Autonomous, true))
			b.line(2, "AdvRouterAddr on;")
			b.line(1, "};")
		}
		for _, p := range ra.Routes {
			b.line(1, "route %s {", p)
			pref := ra.RoutePreference
			if pref == "" {
				pref = "medium"
			}
			b.line(2, "AdvRoutePreference %s;", pref)
			b.line(1, "};")
		}
		if len(ra.DNS) > 0 {
			var dns []string
			for _, d := range ra.DNS {
				dns = append(dns, d.String())
			}
			b.line(1, "RDNSS %s {", strings.Join(dns, " "))
			b.line(1, "};")
		}
		b.line(0, "};")
	}
	r.add(File{Path: RadvdPath, Mode: 0o644, Content: b.Bytes(),
		Check:    []string{"radvd", "--configtest", "-C", "{}"},
		Activate: Action{Kind: ActServiceReload, Target: "radvd.service"}})
}

// keepalived renders the VRRP instances. A sync group with one member makes
// `keepalived -t` fail ("has only 1 virtual router(s)"), so it is rendered
// only when two or more instances share it.
func (r *renderer) keepalived() {
	if len(r.s.VRRP) == 0 {
		return
	}
	groups := map[string][]string{}
	var gorder []string
	for _, v := range r.s.VRRP {
		if v.SyncGroup == "" {
			continue
		}
		if _, ok := groups[v.SyncGroup]; !ok {
			gorder = append(gorder, v.SyncGroup)
		}
		groups[v.SyncGroup] = append(groups[v.SyncGroup], v.Name)
	}
	var b buf
	b.WriteString(header("#", r.s.Name))
	for _, g := range gorder {
		if len(groups[g]) < 2 {
			r.warnf("vrrp: sync group %s has one instance (%s); keepalived rejects that, so it is not rendered", g, groups[g][0])
			continue
		}
		b.line(0, "vrrp_sync_group %s {", g)
		b.line(1, "group {")
		for _, m := range groups[g] {
			b.line(2, "%s", m)
		}
		b.line(1, "}")
		b.line(0, "}")
		b.line(0, "")
	}
	for i, v := range r.s.VRRP {
		if i > 0 {
			b.line(0, "")
		}
		b.line(0, "vrrp_instance %s {", v.Name)
		preempt := v.Preempt == nil || *v.Preempt
		if !preempt {
			// nopreempt works only from the BACKUP state (keepalived warns
			// and ignores it otherwise).
			b.line(1, "state BACKUP")
		}
		b.line(1, "interface %s", v.Interface)
		b.line(1, "virtual_router_id %d", v.VirtualRouterID)
		b.line(1, "priority %d", v.Priority)
		b.line(1, "advert_int %s", seconds(v.AdvertInterval))
		b.line(1, "virtual_ipaddress {")
		for _, a := range v.VirtualAddresses {
			b.line(2, "%s", a)
		}
		b.line(1, "}")
		if !preempt {
			b.line(1, "nopreempt")
		}
		if v.GARPMasterDelay > 0 {
			b.line(1, "garp_master_delay %d", v.GARPMasterDelay)
		}
		b.line(0, "}")
	}
	r.add(File{Path: KeepalivedPath, Mode: 0o644, Content: b.Bytes(),
		Check:    []string{"keepalived", "-t", "-f", "{}"},
		Activate: Action{Kind: ActServiceReload, Target: "keepalived.service"}})
}

// networkd renders a .network unit for each interface with networkd = true,
// carrying the site's addresses on it. Units are named 50-tether-<iface> so
// they sort before distribution defaults (networkd uses the first match).
func (r *renderer) networkd() {
	managed := map[string]bool{}
	for _, i := range r.s.Interfaces {
		managed[i.Name] = i.Networkd
	}
	// Addresses on an interface tether does not manage (the provider's NIC,
	// configured by netplan or ifupdown) are added beside the
	// distribution's configuration, never replacing it.
	unmanaged := map[string][]string{}
	var order []string
	for _, a := range r.s.Addresses {
		if managed[a.Interface] || !a.Address.IsValid() {
			continue
		}
		if _, seen := unmanaged[a.Interface]; !seen {
			order = append(order, a.Interface)
		}
		line := a.Address.String()
		if a.Comment != "" {
			line += " # " + a.Comment
		}
		unmanaged[a.Interface] = append(unmanaged[a.Interface], line)
	}
	for _, iface := range order {
		var b buf
		b.WriteString(header("#", r.s.Name))
		b.line(0, "# Addresses tether adds to %s (ip addr replace); the interface's own", iface)
		b.line(0, "# configuration (netplan, ifupdown, DHCP) stays as it is.")
		for _, l := range unmanaged[iface] {
			b.line(0, "%s", l)
		}
		r.add(File{Path: path.Join(AddrDir, iface), Mode: 0o644, Content: b.Bytes(),
			Activate: Action{Kind: ActAddrApply, Target: iface}})
	}
	for _, i := range r.s.Interfaces {
		if !i.Networkd {
			continue
		}
		yn := func(v bool) string {
			if v {
				return "yes"
			}
			return "no"
		}
		var b buf
		b.WriteString(header("#", r.s.Name))
		if i.Comment != "" {
			b.line(0, "# %s", i.Comment)
		}
		b.line(0, "[Match]")
		b.line(0, "Name=%s", i.Name)
		b.line(0, "")
		if i.MTU > 0 {
			b.line(0, "[Link]")
			b.line(0, "MTUBytes=%d", i.MTU)
			b.line(0, "")
		}
		b.line(0, "[Network]")
		b.line(0, "DHCP=%s", yn(i.DHCP))
		b.line(0, "IPv6AcceptRA=%s", yn(i.AcceptRA))
		for _, a := range r.s.Addresses {
			if a.Interface == i.Name && a.Address.IsValid() {
				b.line(0, "Address=%s", a.Address)
			}
		}
		if i.IPv6PrivacyExtensions != "" {
			b.line(0, "IPv6PrivacyExtensions=%s", i.IPv6PrivacyExtensions)
		}
		if i.IPv6Token != "" || i.IPv6UseRedirect != nil {
			if !i.AcceptRA {
				var keys []string
				if i.IPv6Token != "" {
					keys = append(keys, "ipv6_token")
				}
				if i.IPv6UseRedirect != nil {
					keys = append(keys, "ipv6_use_redirect")
				}
				r.warnf("interface %s: %s has no effect without accept_ra", i.Name, strings.Join(keys, " and "))
			}
			b.line(0, "")
			b.line(0, "[IPv6AcceptRA]")
			if i.IPv6Token != "" {
				b.line(0, "Token=%s", i.IPv6Token)
			}
			if i.IPv6UseRedirect != nil {
				b.line(0, "UseRedirect=%s", yn(*i.IPv6UseRedirect))
			}
		}
		r.add(File{Path: path.Join(NetworkdDir, fmt.Sprintf("50-tether-%s.network", i.Name)), Mode: 0o644, Content: b.Bytes(),
			Activate: Action{Kind: ActNetworkdReload, Target: i.Name}})
	}
}
