package policy

import (
	"fmt"
	"strings"
	"time"
)

// keepalived's defaults for what a [[vrrp]] leaves unset.
const (
	defaultVRRPPriority = 100
	defaultVRRPAdvert   = time.Second
)

// effective returns v with keepalived's defaults filled in: validation runs
// before defaults are applied, and a member that leaves a value unset
// agrees with one that writes the default.
func (v VRRP) effective() VRRP {
	if v.Priority == 0 {
		v.Priority = defaultVRRPPriority
	}
	if !v.AdvertInterval.IsSet() {
		v.AdvertInterval = DurationOf(defaultVRRPAdvert)
	}
	return v
}

// checkVRRP checks [[vrrp]] (keepalived, Linux only): names, a declared
// interface, a router id unique per interface, priority, and addresses.
func (c *siteChecker) checkVRRP() {
	vrids := map[string]bool{}
	for i, v := range c.s.VRRP {
		p := fmt.Sprintf("vrrp[%d]", i)
		if c.ros {
			c.at(p, "linux-only", "vrrp (keepalived) applies only to Linux sites")
		}
		c.name(p+".name", "VRRP instance name", v.Name)
		c.refIface(p+".interface", v.Interface)
		if v.VirtualRouterID < 1 || v.VirtualRouterID > 255 {
			c.at(p+".virtual_router_id", "out-of-range", "virtual_router_id must be 1-255")
		}
		key := fmt.Sprintf("%s/%d", v.Interface, v.VirtualRouterID)
		if vrids[key] {
			c.at(p+".virtual_router_id", "duplicate", "virtual_router_id is used twice on "+v.Interface)
		}
		vrids[key] = true
		if v.Priority < 0 || v.Priority > 255 {
			c.at(p+".priority", "out-of-range", "priority must be 1-255")
		}
		if len(v.VirtualAddresses) == 0 {
			c.at(p+".virtual_addresses", "required", "at least one virtual address is required")
		}
		if v.SyncGroup != "" {
			c.name(p+".sync_group", "sync group", v.SyncGroup)
		}
		if v.Group != "" {
			c.name(p+".group", "VRRP group", v.Group)
		}
	}
}

// vrrpMember is one site's instance in a VRRP group.
type vrrpMember struct {
	site  *Site
	index int
	v     VRRP
}

// vrrpGroups collects the [[vrrp]] instances that name a group, by group,
// in site name order.
func vrrpGroups(n *Network) map[string][]vrrpMember {
	out := map[string][]vrrpMember{}
	for _, name := range n.SiteNames() {
		s := n.Sites[name]
		for i, v := range s.VRRP {
			if v.Group != "" {
				out[v.Group] = append(out[v.Group], vrrpMember{site: s, index: i, v: v.effective()})
			}
		}
	}
	return out
}

// validateVRRPGroups checks that the members of each VRRP group (instances
// on different sites sharing a link) describe one virtual router: the same
// router id, virtual addresses and advertisement interval, one instance per
// site, and priorities that say which router is master. Each problem is
// reported at the later member, compared with the group's first member.
func validateVRRPGroups(n *Network, l *loader) {
	groups := vrrpGroups(n)
	for _, g := range sortedKeys(groups) {
		ms := groups[g]
		first := ms[0]
		bySite := map[string]bool{}
		byPriority := map[int]string{}
		for _, m := range ms {
			p := fmt.Sprintf("vrrp[%d]", m.index)
			at := func(field, rule, msg string) { l.at(m.site.File, p+field, rule, "vrrp group "+g+": "+msg) }
			if bySite[m.site.Name] {
				at(".group", "duplicate", "a site can be one member of a group only (its other instance is on this site too)")
				continue
			}
			bySite[m.site.Name] = true
			if prev, dup := byPriority[m.v.Priority]; dup {
				at(".priority", "duplicate", fmt.Sprintf("priority %d is also %s's; give the intended master the highest priority", m.v.Priority, prev))
			} else {
				byPriority[m.v.Priority] = m.site.Name
			}
			if m.site == first.site {
				continue
			}
			if m.v.VirtualRouterID != first.v.VirtualRouterID {
				at(".virtual_router_id", "mismatch", fmt.Sprintf("virtual_router_id %d differs from %s's %d; with another id it is another virtual router and both are master", m.v.VirtualRouterID, first.site.Name, first.v.VirtualRouterID))
			}
			if m.v.AdvertInterval.Duration != first.v.AdvertInterval.Duration {
				at(".advert_interval", "mismatch", fmt.Sprintf("advert_interval %s differs from %s's %s; a backup declares the master dead after three of its own intervals", m.v.AdvertInterval, first.site.Name, first.v.AdvertInterval))
			}
			if !sameAddrSet(m.v.VirtualAddresses, first.v.VirtualAddresses) {
				at(".virtual_addresses", "mismatch", fmt.Sprintf("virtual_addresses %s differ from %s's %s; the members share one set of addresses", addrList(m.v.VirtualAddresses), first.site.Name, addrList(first.v.VirtualAddresses)))
			}
		}
	}
}

// lintVRRPGroupWithoutBackup (TL023): a group says the virtual addresses are
// shared with a backup router; with one member nothing takes over. An
// instance without a group is a lone router by choice and is not reported.
func lintVRRPGroupWithoutBackup(c lintRun, s *Site) {
	var groups map[string][]vrrpMember // built only for a site with a group
	for i, v := range s.VRRP {
		if v.Group == "" {
			continue
		}
		if groups == nil {
			groups = vrrpGroups(c.n)
		}
		if len(groups[v.Group]) == 1 {
			c.report(s.File, fmt.Sprintf("vrrp[%d].group", i), "vrrp group %s has no other member: no site's [[vrrp]] shares %s, so nothing takes it over when %s fails", v.Group, addrList(v.VirtualAddresses), s.Name)
		}
	}
}

// sameAddrSet reports whether a and b hold the same addresses, in any order.
func sameAddrSet(a, b []IfAddr) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x.String()]++
	}
	for _, x := range b {
		if seen[x.String()] == 0 {
			return false
		}
		seen[x.String()]--
	}
	return true
}

func addrList(as []IfAddr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// checkSysctl checks [sysctl] (Linux only): keys and values that cannot
// escape the sysctl.d file they are written to.
func (c *siteChecker) checkSysctl() {
	for _, k := range sortedKeys(c.s.Sysctl) {
		p := "sysctl." + k
		if c.ros {
			c.at("sysctl", "linux-only", "sysctl applies only to Linux sites")
			return
		}
		if !sysctlRe.MatchString(k) || strings.Contains(k, "..") {
			c.at(p, "invalid-name", fmt.Sprintf("sysctl key %q is not a valid name like net.ipv6.conf.all.forwarding", k))
		}
		if !sysctlVal.MatchString(c.s.Sysctl[k]) {
			c.at(p, "invalid-value", fmt.Sprintf("sysctl value %q may only contain letters, digits, spaces and . _ : , -", c.s.Sysctl[k]))
		}
	}
}

// checkDNS checks that [dns] is only on RouterOS sites.
func (c *siteChecker) checkDNS() {
	if c.s.DNS != nil && c.linux {
		c.at("dns", "routeros-only", "dns applies only to RouterOS sites")
	}
}

// checkProbes checks [[probe]]: unique names, a type the platform can run
// (RouterOS pings only), a port for tcp, a target and a count.
func (c *siteChecker) checkProbes() {
	names := map[string]bool{}
	for i, pr := range c.s.Probes {
		p := fmt.Sprintf("probe[%d]", i)
		if c.name(p+".name", "probe name", pr.Name) {
			if names[pr.Name] {
				c.at(p+".name", "duplicate", fmt.Sprintf("probe %q is declared twice", pr.Name))
			}
			names[pr.Name] = true
		}
		switch pr.Type {
		case "ping":
		case "tcp":
			if pr.Port < 1 || pr.Port > 65535 {
				c.at(p+".port", "required", "a tcp probe needs port 1-65535")
			}
			if c.ros {
				c.at(p+".type", "unsupported", "RouterOS sites can run ping probes only")
			}
		default:
			c.at(p+".type", "invalid-value", fmt.Sprintf("type must be \"ping\" or \"tcp\", not %q", pr.Type))
		}
		if !pr.Target.IsValid() && pr.Target.err == nil {
			c.at(p+".target", "required", "target is required")
		}
		if pr.Count < 0 || pr.Count > 100 {
			c.at(p+".count", "out-of-range", "count must be 1-100")
		}
	}
}
