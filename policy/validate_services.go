package policy

import (
	"fmt"
	"strings"
)

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
	}
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
