package policy

import "fmt"

// checkRouterAdverts checks [[router_advertisement]]: a declared interface,
// IPv6 prefixes (a /64 where hosts autoconfigure), route preference, a
// link-local source and sane intervals.
func (c *siteChecker) checkRouterAdverts() {
	for i, ra := range c.s.RouterAdverts {
		p := fmt.Sprintf("router_advertisement[%d]", i)
		c.refIface(p+".interface", ra.Interface)
		if ra.Interface == "" {
			c.at(p+".interface", "required", "interface is required")
		}
		for j, x := range ra.Prefixes {
			if x.IsValid() && !x.Addr().Is6() {
				c.at(fmt.Sprintf("%s.prefixes[%d]", p, j), "family-mismatch", "router advertisements carry IPv6 prefixes only")
			} else if x.IsValid() && x.Bits() != 64 && (ra.Autonomous == nil || *ra.Autonomous) {
				c.at(fmt.Sprintf("%s.prefixes[%d]", p, j), "invalid-value", fmt.Sprintf("SLAAC needs a /64; %s is a /%d (set autonomous = false if that is intended)", x, x.Bits()))
			}
		}
		for j, x := range ra.Routes {
			if x.IsValid() && !x.Addr().Is6() {
				c.at(fmt.Sprintf("%s.routes[%d]", p, j), "family-mismatch", "route information options carry IPv6 prefixes only")
			}
		}
		switch ra.RoutePreference {
		case "", "low", "medium", "high":
		default:
			c.at(p+".route_preference", "invalid-value", "route_preference must be low, medium or high")
		}
		if ra.SourceAddress.IsValid() && !ra.SourceAddress.Is6() {
			c.at(p+".source_address", "family-mismatch", "source_address must be an IPv6 address")
		} else if ra.SourceAddress.IsValid() && !ra.SourceAddress.IsLinkLocalUnicast() {
			c.at(p+".source_address", "invalid-value", "source_address must be link-local (fe80::/10): hosts ignore router advertisements from other sources")
		}
		if ra.MinInterval.IsSet() && ra.MaxInterval.IsSet() && ra.MinInterval.Duration > ra.MaxInterval.Duration {
			c.at(p+".min_interval", "invalid-value", "min_interval must not exceed max_interval")
		}
	}
}

// checkNDPProxy checks [[ndp_proxy]] (ndppd, Linux only): declared
// interfaces, an IPv6 prefix, and a method with its via interface.
func (c *siteChecker) checkNDPProxy() {
	for i, x := range c.s.NDPProxy {
		p := fmt.Sprintf("ndp_proxy[%d]", i)
		if c.ros {
			c.at(p, "linux-only", "ndp_proxy (ndppd) applies only to Linux sites")
		}
		c.refIface(p+".interface", x.Interface)
		if x.Prefix.IsValid() && !x.Prefix.Addr().Is6() {
			c.at(p+".prefix", "family-mismatch", "ndp_proxy prefixes are IPv6")
		}
		switch x.Method {
		case "", "auto", "static":
		case "iface":
			if x.Via == "" {
				c.at(p+".via", "required", "via is required when method = \"iface\"")
			}
			c.refIface(p+".via", x.Via)
		default:
			c.at(p+".method", "invalid-value", fmt.Sprintf("method must be auto, static or iface, not %q", x.Method))
		}
	}
}
