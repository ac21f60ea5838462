package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Spec describes a lab: its hosts and how they are wired.
type Spec struct {
	Hosts    []HostSpec
	Links    []Link    // point-to-point veth pairs between two hosts
	Segments []Segment // shared L2 segments (a bridge in its own namespace)
}

// HostSpec describes one host.
type HostSpec struct {
	// Name is the host's name: lower-case letters, digits and '-', starting
	// with a letter, at most 31 characters, not starting with "sw-" (that
	// prefix is reserved for segment switches). It is also the hostname
	// inside the host.
	Name string
	// Forward turns on IPv4 and IPv6 forwarding (routers, relays).
	Forward bool
	// Routes are added after all addresses are up.
	Routes []Route
}

// Route is a static route in a host.
type Route struct {
	// Dst is a prefix such as "2001:db8:5::/48", or "default" for the
	// default route of Via's address family.
	Dst string
	// Via is the gateway address.
	Via string
}

// Link is a veth pair between two hosts.
type Link struct {
	A, B Endpoint
}

// Segment is a shared Ethernet segment: a bridge living in a namespace of its
// own, with one veth from each member. Use it where more than two hosts must
// share a link (VRRP, router advertisements, neighbour discovery proxying).
type Segment struct {
	// Name: lower-case letters, digits and '-', at most 11 characters (the
	// default member interface name is "seg-"+Name, which must fit IFNAMSIZ).
	Name    string
	Members []Endpoint
}

// Endpoint is one host's end of a Link or Segment.
type Endpoint struct {
	Host string
	// Iface is the interface name inside the host (at most 15 characters).
	// Default: "eth-"+<peer host> for a Link, "seg-"+<segment> for a Segment,
	// truncated to 15 characters.
	Iface string
	// Addrs are CIDR addresses such as "198.51.100.2/30" or
	// "2001:db8:1::2/64". They must lie in the documentation ranges.
	Addrs []string
}

// DocRanges are the only prefixes underlay addresses may come from
// (RFC 5737, RFC 3849): they are never routed anywhere real, so a lab
// misconfiguration can't leak traffic to a real network.
var DocRanges = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Star returns a spec with one forwarding router host and every other host
// linked to it by its own veth pair ("segment"), with default routes via the
// router: the shape of edge routers reaching each other across the internet.
//
// Host i (0-based) gets, on its interface "eth0", 198.51.100.(4i+2)/30 and
// 2001:db8:(i+1)::2/64; the router's side ("eth-"+host) gets .(4i+1) and ::1.
// At most 63 hosts.
func Star(router string, hosts ...string) Spec {
	if len(hosts) > 63 {
		panic("lab.Star: at most 63 hosts fit 198.51.100.0/24 in /30s")
	}
	s := Spec{Hosts: []HostSpec{{Name: router, Forward: true}}}
	for i, h := range hosts {
		gw4 := fmt.Sprintf("198.51.100.%d", 4*i+1)
		gw6 := fmt.Sprintf("2001:db8:%x::1", i+1)
		s.Hosts = append(s.Hosts, HostSpec{
			Name:   h,
			Routes: []Route{{Dst: "default", Via: gw4}, {Dst: "default", Via: gw6}},
		})
		s.Links = append(s.Links, Link{
			A: Endpoint{Host: router, Iface: truncIface("eth-" + h), Addrs: []string{gw4 + "/30", gw6 + "/64"}},
			B: Endpoint{Host: h, Iface: "eth0", Addrs: []string{
				fmt.Sprintf("198.51.100.%d/30", 4*i+2),
				fmt.Sprintf("2001:db8:%x::2/64", i+1),
			}},
		})
	}
	return s
}

var (
	hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	segNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,10}$`)
)

func truncIface(s string) string {
	if len(s) > 15 {
		return s[:15]
	}
	return s
}

func validIface(s string) error {
	if s == "" || len(s) > 15 {
		return fmt.Errorf("interface name %q must be 1..15 characters", s)
	}
	if s == "lo" || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q", s)
	}
	return nil
}

func inDocRanges(p netip.Prefix) bool {
	for _, r := range DocRanges {
		if p.Bits() >= r.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// normalize fills in default interface names and checks the spec. It works
// on a copy so the caller's Spec is never modified.
func (s Spec) normalize() (Spec, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	out := Spec{Hosts: append([]HostSpec(nil), s.Hosts...)}
	if len(s.Hosts) == 0 {
		add("no hosts")
	}
	hosts := map[string]bool{}
	for _, h := range s.Hosts {
		switch {
		case !hostNameRE.MatchString(h.Name):
			add("host name %q: want [a-z][a-z0-9-]{0,30}", h.Name)
		case strings.HasPrefix(h.Name, "sw-"):
			add("host name %q: prefix sw- is reserved for segment switches", h.Name)
		case hosts[h.Name]:
			add("duplicate host %q", h.Name)
		}
		hosts[h.Name] = true
		for _, r := range h.Routes {
			via, err := netip.ParseAddr(r.Via)
			if err != nil {
				add("host %s: route %s: bad via: %v", h.Name, r.Dst, err)
				continue
			}
			if r.Dst != "default" {
				p, err := netip.ParsePrefix(r.Dst)
				if err != nil {
					add("host %s: route %q: %v", h.Name, r.Dst, err)
				} else if p.Addr().Is4() != via.Is4() {
					add("host %s: route %s via %s mixes address families", h.Name, r.Dst, r.Via)
				}
			}
		}
	}

	ifaces := map[string]map[string]bool{} // host -> iface names
	checkEP := func(where string, ep *Endpoint, def string) {
		if !hosts[ep.Host] {
			add("%s: unknown host %q", where, ep.Host)
			return
		}
		if ep.Iface == "" {
			ep.Iface = truncIface(def)
		}
		if err := validIface(ep.Iface); err != nil {
			add("%s: host %s: %v", where, ep.Host, err)
		}
		if ifaces[ep.Host] == nil {
			ifaces[ep.Host] = map[string]bool{}
		}
		if ifaces[ep.Host][ep.Iface] {
			add("%s: host %s: interface %q used twice (set Endpoint.Iface)", where, ep.Host, ep.Iface)
		}
		ifaces[ep.Host][ep.Iface] = true
		ep.Addrs = append([]string(nil), ep.Addrs...)
		for _, a := range ep.Addrs {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				add("%s: host %s: address %q: %v", where, ep.Host, a, err)
			} else if !inDocRanges(p) {
				add("%s: host %s: address %s is outside the documentation ranges %v", where, ep.Host, a, DocRanges)
			}
		}
	}
	for i, l := range s.Links {
		where := fmt.Sprintf("link %d (%s-%s)", i, l.A.Host, l.B.Host)
		if l.A.Host == l.B.Host {
			add("%s: both ends on the same host", where)
		}
		checkEP(where, &l.A, "eth-"+l.B.Host)
		checkEP(where, &l.B, "eth-"+l.A.Host)
		out.Links = append(out.Links, l)
	}
	segs := map[string]bool{}
	for _, sg := range s.Segments {
		where := fmt.Sprintf("segment %q", sg.Name)
		if !segNameRE.MatchString(sg.Name) {
			add("%s: want [a-z0-9][a-z0-9-]{0,10}", where)
		}
		if segs[sg.Name] {
			add("duplicate segment %q", sg.Name)
		}
		segs[sg.Name] = true
		members := append([]Endpoint(nil), sg.Members...)
		for i := range members {
			checkEP(where, &members[i], "seg-"+sg.Name)
		}
		sg.Members = members
		out.Segments = append(out.Segments, sg)
	}
	if len(errs) > 0 {
		return Spec{}, fmt.Errorf("lab: invalid spec: %w", errors.Join(errs...))
	}
	return out, nil
}
