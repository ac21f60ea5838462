package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LintRule is one lint check: its stable ID (tooling and people refer to
// it), its name, severity and summary, and the function that runs it on
// every site or on every link. To add a rule, add a row here and its check
// function below, a row in docs/config.md and a case in testdata/.
type LintRule struct {
	ID       string
	Name     string
	Severity Severity
	Summary  string
	site     func(c lintRun, s *Site) // one of site and link is set
	link     func(c lintRun, k *Link)
}

// lintRun is what a check needs: the network, the loader (for positions)
// and report, which files a finding under the rule being run.
type lintRun struct {
	n      *Network
	l      *loader
	report func(file, path, format string, args ...any)
}

// LintRules lists every lint check in ID order.
var LintRules = []LintRule{
	{"TL001", "routed-prefix-on-wan", SeverityError, "a routed prefix is configured as a connected prefix on a WAN interface; use a /128 (or /32) anchor and learn the aggregate over BGP", lintRoutedPrefixOnWAN, nil},
	{"TL002", "endpoint-via-own-tunnel", SeverityWarning, "a WireGuard endpoint is reachable only through the tunnel it establishes; pin a route to it over the underlay", nil, lintEndpointViaOwnTunnel},
	{"TL003", "ndppd-static-short-prefix", SeverityWarning, "ndppd's static method answers for every address of a prefix shorter than /120, assigned or not (ndppd warns \"Low prefix length\"), for a prefix that is not routed into a tunnel", lintNdppdStaticShort, nil},
	{"TL004", "route-duplicates-allowed", SeverityError, "a route through a wg-quick interface duplicates what AllowedIPs already installs (RTNETLINK: File exists)", lintRouteDuplicatesAllowed, nil},
	{"TL005", "tunnel-in-lan-list", SeverityWarning, "a tunnel interface is in the LAN interface list, exposing LAN-only services to the far end", lintTunnelInLANList, nil},
	{"TL006", "bgp-without-filter", SeverityError, "a BGP session has no import or no export filter", nil, lintBGPWithoutFilter},
	{"TL007", "link-mtu-mismatch", SeverityWarning, "the two ends of a link use different MTUs", nil, lintLinkMTUMismatch},
	{"TL008", "link-keepalive-mismatch", SeverityWarning, "the two ends of a link use different persistent keepalives", nil, lintLinkKeepaliveMismatch},
	{"TL009", "keepalive-missing-behind-nat", SeverityError, "an end behind NAT dials without a persistent keepalive, so the far end cannot reach it once the NAT binding expires", nil, lintKeepaliveBehindNAT},
	{"TL010", "duplicate-allowed", SeverityError, "two peers of one interface accept the same prefix, so WireGuard silently gives it to only one of them; or one peer accepts a default route beside other peers without being their declared exit (other nested prefixes are fine: longest match wins)", lintDuplicateAllowed, nil},
	{"TL011", "rule-after-catch-all", SeverityError, "a firewall rule comes after a catch-all drop or reject in the same chain and never matches", lintRuleAfterCatchAll, nil},
	{"TL012", "accept-after-defconf-drop", SeverityWarning, "an accept rule is appended after RouterOS defconf's final drop; place it before the drop", lintAcceptAfterDefconfDrop, nil},
	{"TL013", "allowed-misses-transit", SeverityWarning, "an end does not accept the far end's transit address, so the far end cannot talk to it over the tunnel (BGP included)", nil, lintAllowedMissesTransit},
	{"TL014", "forwarding-drops-ra", SeverityWarning, "forwarding is on but accept_ra is not 2 on the upstream interface, so the host loses its own default route when the RA route expires", lintForwardingDropsRA, nil},
	{"TL015", "duplicate-rule-comment", SeverityError, "two RouterOS rules in one chain share a comment, which tether uses to recognise them", lintDuplicateRuleComment, nil},
	{"TL016", "ra-prefix-outside-route", SeverityWarning, "a router advertisement announces a route for a covering prefix that does not contain the advertised /64, so hosts send the other sites' traffic elsewhere", lintRAPrefixOutsideRoute, nil},
	{"TL017", "import-accepts-nothing-offered", SeverityWarning, "a BGP import filter accepts none of the prefixes the far end announces, so the session comes up and carries nothing", nil, lintImportAcceptsNothing},
	{"TL018", "ndppd-solicits-into-wireguard", SeverityWarning, "ndppd's auto or iface method confirms each address by soliciting it on the interface the prefix routes to; through WireGuard (no link layer, multicast in no peer's allowed IPs) no answer comes back, so the proxy never answers upstream; use static", lintNdppdSolicitsIntoWireGuard, nil},
	{"TL019", "deadman-margin-under-probe-round", SeverityWarning, "the dead-man margin is shorter than one round of the site's health checks, so the device may revert itself while the gate's last round still runs and the note shows the device's revert instead of the failure", lintDeadmanMarginUnderProbeRound, nil},
	{"TL020", "endpoint-port-not-listened", SeverityWarning, "the port in a link end's endpoint is not the port that end's WireGuard interface listens on, so the far end dials a port nobody answers (unless a port forward maps one to the other)", nil, lintEndpointPortNotListened},
	{"TL021", "default-import-never-sent", SeverityWarning, "an end imports the default route but the far end neither originates nor exports one, so the session carries no default", nil, lintDefaultImportNeverSent},
	{"TL022", "wg-route-on-bgp-link", SeverityWarning, "route = true on a link whose prefixes BGP carries: wg-quick installs static routes that stay when the session drops", nil, lintWGRouteOnBGPLink},
	{"TL023", "vrrp-group-without-backup", SeverityWarning, "a VRRP group has one member, so its virtual addresses have no router to fail over to; add the backup router's site or drop group", lintVRRPGroupWithoutBackup, nil},
	{"TL024", "accept-restricts-nothing", SeverityWarning, "an accept rule in input or forward is followed by no drop (no final drop policy, no drop rule, no defconf drop covering it), so everything it does not match is accepted anyway", lintAcceptRestrictsNothing, nil},
	{"TL025", "input-drop-cuts-api", SeverityError, "firewall_policy.input = \"drop\" on RouterOS with no input accept that lets the companion host open a new API session (tcp 8728/8729, or an accept matching no protocol), so the agent is locked out at its next reconnect", lintInputDropCutsAPI, nil},
}

// lint runs every rule on every site and link; findings are sorted later.
func lint(n *Network, l *loader) {
	for _, r := range LintRules {
		c := lintRun{n: n, l: l, report: func(file, path, format string, args ...any) {
			l.report(file, path, r.ID, r.Severity, fmt.Sprintf(format, args...)+" ("+r.Name+")")
		}}
		if r.site != nil {
			for _, name := range n.SiteNames() {
				r.site(c, n.Sites[name])
			}
		}
		if r.link != nil {
			for _, name := range n.LinkNames() {
				r.link(c, n.Links[name])
			}
		}
	}
}

func isWAN(s *Site, iface string) bool {
	for _, x := range s.Interfaces {
		if x.Name == iface {
			if x.Role == "wan" {
				return true
			}
			for _, ls := range x.Lists {
				if strings.EqualFold(ls, "WAN") {
					return true
				}
			}
		}
	}
	return false
}

// lintRoutedPrefixOnWAN (TL001): a routed prefix must not be connected on
// the WAN, whether declared (routed_prefixes) or inferred from the links.
func lintRoutedPrefixOnWAN(c lintRun, s *Site) {
	for i, a := range s.Addresses {
		if !a.Address.IsValid() || !isWAN(s, a.Interface) || a.Address.Bits() == a.Address.Addr().BitLen() {
			continue
		}
		conn := a.Address.Masked()
		for _, rp := range s.RoutedPrefixes {
			if rp.IsValid() && conn.Overlaps(rp.Prefix) {
				c.report(s.File, fmt.Sprintf("address[%d].address", i),
					"%s makes the routed prefix %s connected on WAN interface %s; configure the provider address as %s/%d and let BGP carry the aggregate",
					a.Address, rp, a.Interface, a.Address.Addr(), a.Address.Addr().BitLen())
			}
		}
	}
	lintInferredRoutedOnWAN(c, s)
}

// lintNdppdStaticShort (TL003): ndppd static on short prefixes answers for
// unassigned addresses too. For a prefix routed whole into a tunnel that is
// what is wanted (TL018), so only other prefixes are warned about.
func lintNdppdStaticShort(c lintRun, s *Site) {
	for i, x := range s.NDPProxy {
		if x.Method == "static" && x.Prefix.IsValid() && x.Prefix.Bits() < 120 && s.tunnelRouting(c.n, x.Prefix.Prefix) == "" {
			c.report(s.File, fmt.Sprintf("ndp_proxy[%d].method", i), "ndppd will answer for every address of %s, assigned or not, and logs \"Low prefix length\"; where the prefix is on a link that does neighbour discovery, method = \"auto\" answers only for addresses in use", x.Prefix)
		}
	}
}

// lintNdppdSolicitsIntoWireGuard (TL018): auto and iface make ndppd solicit
// the target on the downstream interface and answer only when the target
// does. Measured in test/e2e (ndppd 0.2.5, wireguard-go): the solicitation
// to ff02::1:ffXX:XXXX is in no peer's allowed IPs and never leaves wg0.
func lintNdppdSolicitsIntoWireGuard(c lintRun, s *Site) {
	for i, x := range s.NDPProxy {
		if x.Method == "static" || !x.Prefix.IsValid() {
			continue
		}
		via := x.Via
		if x.Method != "iface" {
			via = s.tunnelRouting(c.n, x.Prefix.Prefix)
		}
		if via != "" && s.wireguardOf(via) != nil {
			c.report(s.File, fmt.Sprintf("ndp_proxy[%d].method", i), "%s routes into WireGuard interface %s, which carries no neighbour solicitations, so ndppd's %s method never confirms an address and never answers on %s; use method = \"static\"", x.Prefix, via, methodOrAuto(x.Method), x.Interface)
		}
	}
}

// lintDeadmanMarginUnderProbeRound (TL019): the gate judges its deadline
// after each round of checks, so the last round may end up to one round
// after the deadline; the device's own revert must not come first.
func lintDeadmanMarginUnderProbeRound(c lintRun, s *Site) {
	round := probeRound(s.Platform, c.n.HealthChecks(s.Name))
	margin := s.Health.DeadmanMargin.Duration
	if round <= 0 || margin <= 0 || margin >= round+deadmanSlack {
		return
	}
	file, path := s.File, "health"
	for _, cand := range []string{s.File, "network.toml"} {
		if ps := c.l.pos[cand]; ps != nil {
			if _, ok := ps.lookup("health.deadman_margin"); ok {
				file, path = cand, "health.deadman_margin"
				break
			}
		}
	}
	atLeast := (round + deadmanSlack + time.Second - 1).Truncate(time.Second)
	c.report(file, path, "%s: deadman_margin %s is shorter than one round of its health checks (~%s) plus %s to revert; make it at least %s", s.Name, margin, round.Round(time.Second), deadmanSlack, atLeast)
}

// lintForwardingDropsRA (TL014): forwarding turns RA processing off unless
// accept_ra = 2.
func lintForwardingDropsRA(c lintRun, s *Site) {
	if s.Sysctl["net.ipv6.conf.all.forwarding"] != "1" {
		return
	}
	for i, x := range s.NDPProxy {
		if s.Sysctl["net.ipv6.conf."+x.Interface+".accept_ra"] != "2" {
			c.report(s.File, fmt.Sprintf("ndp_proxy[%d].interface", i), "net.ipv6.conf.all.forwarding = 1 makes %s drop router advertisements; set sysctl \"net.ipv6.conf.%s.accept_ra\" = \"2\"", x.Interface, x.Interface)
		}
	}
}

// lintRAPrefixOutsideRoute (TL016): the route information option should
// cover the site's /64 (fd00:1234:a::/64 is not inside fd00:1234::/48: it
// is fd00:1234:000a::).
func lintRAPrefixOutsideRoute(c lintRun, s *Site) {
	for i, ra := range s.RouterAdverts {
		if len(ra.Routes) == 0 {
			continue
		}
		for j, p := range ra.Prefixes {
			covered := false
			for _, r := range ra.Routes {
				if r.IsValid() && p.IsValid() && r.Contains(p.Addr()) && r.Bits() <= p.Bits() {
					covered = true
				}
			}
			if p.IsValid() && !covered {
				c.report(s.File, fmt.Sprintf("router_advertisement[%d].prefixes[%d]", i, j), "%s is not inside any advertised route (%v); check the hex groups: fd00:1234:a::/64 is fd00:1234:000a::/64", p, prefixes(ra.Routes))
			}
		}
	}
}

// lintTunnelInLANList (TL005): tunnels do not belong in the LAN list.
func lintTunnelInLANList(c lintRun, s *Site) {
	for i, w := range s.WireGuard {
		for j, ls := range w.Lists {
			if strings.EqualFold(ls, "LAN") {
				c.report(s.File, fmt.Sprintf("wireguard[%d].lists[%d]", i, j), "%s is in the LAN interface list, which exposes every LAN-only service to the far end; accept what the tunnel needs with a firewall rule instead", w.Name)
			}
		}
	}
}

// lintRouteDuplicatesAllowed (TL004): on Linux, a route through a wg-quick
// interface with Table=auto duplicates AllowedIPs.
func lintRouteDuplicatesAllowed(c lintRun, s *Site) {
	if s.Platform != "linux" {
		return
	}
	peers := c.n.WireGuardPeers(s.Name)
	for i, r := range s.Routes {
		w := s.wireguardOf(r.Gateway)
		if w == nil || w.Table == "off" || !r.Dst.IsValid() {
			continue
		}
		for _, p := range peers {
			if p.Interface != w.Name || !p.Route {
				continue
			}
			for _, a := range p.Allowed {
				if a == r.Dst.Prefix {
					c.report(s.File, fmt.Sprintf("route[%d]", i), "wg-quick already installs %s dev %s from the AllowedIPs of %s; remove this route", r.Dst, w.Name, p.Name)
				}
			}
		}
	}
}

// lintDuplicateAllowed (TL010): the same allowed prefix on two peers of one
// interface. Nested prefixes are the normal hub pattern (longest match
// wins); an identical prefix silently moves to whichever peer was
// configured last. A default route beside other peers is the one nesting
// that is an accident unless declared: it makes that peer the interface's
// exit, which only works with the routing an `exit` brings.
func lintDuplicateAllowed(c lintRun, s *Site) {
	peers := c.n.WireGuardPeers(s.Name)
	shared := map[string]int{}
	for _, p := range peers {
		shared[p.Interface]++
	}
	for i := range peers {
		for j := i + 1; j < len(peers); j++ {
			a, b := peers[i], peers[j]
			if a.Interface != b.Interface {
				continue
			}
			for _, pa := range a.Allowed {
				for _, pb := range b.Allowed {
					if pa.Masked() == pb.Masked() {
						file, path := peerSource(c.n, s.Name, b)
						hint := ""
						if pb.Bits() == 0 {
							hint = "; only one peer of an interface can be the exit for the others (exit = \"<peer>\" in their peers/ files)"
						}
						c.report(file, path, "on %s of %s, peers %s and %s both accept %s; WireGuard gives it to only one of them%s", a.Interface, s.Name, a.Name, b.Name, pb.Masked(), hint)
					}
				}
			}
		}
	}
	for _, p := range peers {
		if shared[p.Interface] < 2 || p.Exit {
			continue
		}
		for _, pa := range p.Allowed {
			if pa.Bits() == 0 {
				file, path := peerSource(c.n, s.Name, p)
				c.report(file, path, "on %s of %s, peer %s accepts %s beside other peers without being an exit: tether routes no traffic to it, and it may send from any address; to make %s the exit for devices on %s, set exit = %q in their peers/ files (the exit brings %s and the routing)", p.Interface, s.Name, p.Name, pa, p.Name, p.Interface, p.Name, pa)
			}
		}
	}
}

// chainKey names one firewall chain of one family.
type chainKey struct{ fam, table, chain string }

// lintRuleAfterCatchAll (TL011): a rule appended after a catch-all drop or
// reject in its chain never matches.
func lintRuleAfterCatchAll(c lintRun, s *Site) {
	catchAll := map[chainKey]int{}
	for i, r := range s.Firewall {
		if r.PlaceBefore != "" {
			continue
		}
		for _, fam := range families(r.Family) {
			k := chainKey{fam, r.Table, r.Chain}
			if j, ok := catchAll[k]; ok {
				c.report(s.File, fmt.Sprintf("firewall[%d]", i), "this rule comes after the catch-all %s in firewall[%d] (%s %s) and never matches; move it before or use place_before", s.Firewall[j].Action, j, fam, r.Chain)
			}
			if (r.Action == "drop" || r.Action == "reject") && !r.hasMatch() && !r.Disabled {
				if _, ok := catchAll[k]; !ok {
					catchAll[k] = i
				}
			}
		}
	}
}

// lintDuplicateRuleComment (TL015): tether recognises RouterOS rules by
// comment, so two in one chain must differ.
func lintDuplicateRuleComment(c lintRun, s *Site) {
	if s.Platform != "routeros" {
		return
	}
	comments := map[string]int{}
	for i, r := range s.Firewall {
		if r.Comment == "" {
			continue
		}
		for _, fam := range families(r.Family) {
			ck := fam + "/" + r.Table + "/" + r.Chain + "/" + r.Comment
			if j, dup := comments[ck]; dup {
				c.report(s.File, fmt.Sprintf("firewall[%d].comment", i), "firewall[%d] has the same comment in %s %s %s", j, fam, r.Table, r.Chain)
			}
			comments[ck] = i
		}
	}
}

// lintAcceptAfterDefconfDrop (TL012): defconf ends input and forward with a
// drop, so an appended accept never matches.
func lintAcceptAfterDefconfDrop(c lintRun, s *Site) {
	if s.Platform != "routeros" || (s.Defconf != nil && !*s.Defconf) {
		return
	}
	for i, r := range s.Firewall {
		if r.Table == "filter" && r.Action == "accept" && r.PlaceBefore == "" && (r.Chain == "input" || r.Chain == "forward") {
			c.report(s.File, fmt.Sprintf("firewall[%d]", i), "defconf ends the %s chain with a drop, so an appended accept never matches; set place_before = %q", r.Chain, DefconfDropComment(r.Family, r.Chain))
		}
	}
}

// lintAcceptRestrictsNothing (TL024): an accept only restricts traffic when
// something after it drops what it does not match. What follows an accept
// is, in order: a drop rule of the site placed after it, the final policy,
// and on a defconf router defconf's last drop, which catches everything not
// from the LAN except in the IPv4 forward chain, where it drops only what
// comes in from the WAN.
func lintAcceptRestrictsNothing(c lintRun, s *Site) {
	defconf := s.Platform == "routeros" && (s.Defconf == nil || *s.Defconf)
	for i, r := range s.Firewall {
		if r.Action != "accept" || r.Disabled || (r.Table != "" && r.Table != "filter") || (r.Chain != "input" && r.Chain != "forward") {
			continue
		}
		if finalPolicy(s, r.Chain) == "drop" {
			continue
		}
		for _, fam := range families(r.Family) {
			if dropFollows(s, i, fam) {
				continue
			}
			if defconf && r.PlaceBefore != "" && (r.Chain == "input" || fam == "ipv6" || r.InInterfaceList == "WAN") {
				continue // before defconf's drop, which covers this traffic
			}
			fix := "set firewall_policy." + r.Chain + " = \"drop\""
			if s.Platform == "routeros" {
				fix += " (tether keeps a drop as the chain's last rule)"
			}
			c.report(s.File, fmt.Sprintf("firewall[%d]", i), "nothing drops %s %s traffic after this accept, so it restricts nothing; %s or add a drop rule after it", fam, r.Chain, fix)
			break
		}
	}
}

// lintInputDropCutsAPI (TL025): a RouterOS router answers the agent's API
// through its input chain. The established session survives a final input
// drop (defconf or the site accepts established traffic), so the gate
// passes, and the next reconnect is dropped: only an input accept that
// admits a new API connection keeps the router reachable.
func lintInputDropCutsAPI(c lintRun, s *Site) {
	if s.Platform != "routeros" || s.FirewallPolicy.Input != "drop" {
		return
	}
	for _, r := range s.Firewall {
		if r.Action != "accept" || r.Disabled || (r.Table != "" && r.Table != "filter") || r.Chain != "input" {
			continue
		}
		if len(r.ConnectionState) > 0 && !slices.Contains(r.ConnectionState, "new") {
			continue
		}
		if r.Protocol == "" && r.DstPort == "" {
			return // accepts new connections of every protocol from what it matches
		}
		if r.Protocol == "tcp" && (r.DstPort == "" || portsHold(r.DstPort, 8728) || portsHold(r.DstPort, 8729)) {
			return
		}
	}
	c.report(s.File, "firewall_policy.input", "the final input drop also drops new API connections (tcp 8728/8729) from the companion host; add an input accept for them first (e.g. protocol = \"tcp\", dst_port = \"8729\", src_address = the companion host)")
}

// portsHold reports whether a port spec like "22,8728-8729" holds port.
func portsHold(spec string, port int) bool {
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if port >= a && port <= b {
			return true
		}
	}
	return false
}

// finalPolicy is the site's declared final verdict of a filter chain.
func finalPolicy(s *Site, chain string) string {
	switch chain {
	case "input":
		return s.FirewallPolicy.Input
	case "forward":
		return s.FirewallPolicy.Forward
	}
	return s.FirewallPolicy.Output
}

// dropFollows reports whether an enabled drop or reject of the site comes
// after firewall[i] in its chain and family: appended rules follow every
// anchored one, and rules sharing an anchor (or none) keep file order.
func dropFollows(s *Site, i int, fam string) bool {
	a := s.Firewall[i]
	for j, d := range s.Firewall {
		if j == i || d.Disabled || (d.Action != "drop" && d.Action != "reject") || d.Chain != a.Chain || (d.Table != "" && d.Table != "filter") {
			continue
		}
		if d.Family != "" && d.Family != "both" && d.Family != fam {
			continue
		}
		switch {
		case d.PlaceBefore == "" && a.PlaceBefore != "":
			return true
		case d.PlaceBefore == a.PlaceBefore && j > i:
			return true
		}
	}
	return false
}

// FinalDropComment is the human part of the comment of the drop rule tether
// keeps last in a RouterOS chain for firewall_policy.
func FinalDropComment(chain string) string { return "final policy: drop " + chain }

// DefconfDropComment names the RouterOS defconf rule that ends a chain.
func DefconfDropComment(family, chain string) string {
	switch {
	case family == "ip" && chain == "input":
		return "defconf: drop all not coming from LAN"
	case family == "ip" && chain == "forward":
		return "defconf: drop all from WAN not DSTNATed"
	default:
		return "defconf: drop everything else not coming from LAN"
	}
}

func families(f string) []string {
	if f == "both" || f == "" {
		return []string{"ip", "ipv6"}
	}
	return []string{f}
}

// hasMatch reports whether the rule matches on anything at all.
func (r *FirewallRule) hasMatch() bool {
	return r.Protocol != "" || r.SrcAddress.IsValid() || r.DstAddress.IsValid() || r.SrcAddressList != "" ||
		r.DstAddressList != "" || r.SrcPort != "" || r.DstPort != "" || r.InInterface != "" || r.OutInterface != "" ||
		r.InInterfaceList != "" || r.OutInterfaceList != "" || len(r.ConnectionState) > 0 || r.ConnectionNATState != "" ||
		len(r.ICMPTypes) > 0
}

// peerSource finds the file and path that declared a peer's allowed list.
func peerSource(n *Network, site string, p WGPeer) (string, string) {
	if p.External != nil {
		if len(p.External.Allowed) == 0 {
			return p.External.File, "addresses"
		}
		return p.External.File, "allowed"
	}
	if p.Link != nil {
		if p.Link.A.Site == site {
			return p.Link.File, "a.allowed"
		}
		return p.Link.File, "b.allowed"
	}
	return n.Sites[site].File, ""
}

// lintLinkMTUMismatch (TL007): both ends of a link use one MTU.
func lintLinkMTUMismatch(c lintRun, k *Link) {
	sa, sb := c.n.Sites[k.A.Site], c.n.Sites[k.B.Site]
	wa, wb := sa.wireguardOf(k.A.Interface), sb.wireguardOf(k.B.Interface)
	if wa.MTU != wb.MTU {
		c.report(k.File, "", "%s %s has MTU %d but %s %s has MTU %d; large packets will be dropped one way", sa.Name, wa.Name, wa.MTU, sb.Name, wb.Name, wb.MTU)
	}
}

// lintLinkKeepaliveMismatch (TL008): both ends keep alive at one interval.
func lintLinkKeepaliveMismatch(c lintRun, k *Link) {
	ka, kb := k.A.Keepalive.Duration, k.B.Keepalive.Duration
	if ka != 0 && kb != 0 && ka != kb {
		c.report(k.File, "b.keepalive", "a keeps alive every %s, b every %s", ka, kb)
	}
}

// linkSide is one end of a link seen from that end.
type linkSide struct {
	key          string // "a" or "b"
	local, other *LinkEnd
	bgp, far     *BGPEnd // nil without [bgp]
	site         *Site
}

func linkSides(n *Network, k *Link) []linkSide {
	return []linkSide{
		{"a", &k.A, &k.B, bgpEnd(k, "a"), bgpEnd(k, "b"), n.Sites[k.A.Site]},
		{"b", &k.B, &k.A, bgpEnd(k, "b"), bgpEnd(k, "a"), n.Sites[k.B.Site]},
	}
}

// lintKeepaliveBehindNAT (TL009): an end behind NAT must dial, and keep
// its NAT binding alive.
func lintKeepaliveBehindNAT(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		dials := !x.other.Endpoint.IsZero()
		if x.local.BehindNAT && dials && x.local.Keepalive.Duration == 0 {
			c.report(k.File, x.key+".keepalive", "%s is behind NAT and dials %s without a keepalive; set keepalive = \"25s\"", x.local.Site, x.other.Site)
		}
		if x.local.BehindNAT && !dials {
			c.report(k.File, x.key+".behind_nat", "%s is behind NAT but has no endpoint of %s to dial, so no handshake can start", x.local.Site, x.other.Site)
		}
	}
}

// lintAllowedMissesTransit (TL013): each end accepts the far end's transit
// address, or nothing (BGP included) crosses the tunnel from it.
func lintAllowedMissesTransit(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if len(x.local.Allowed) == 0 || !x.other.Address.IsValid() {
			continue
		}
		ok := false
		for _, a := range x.local.Allowed {
			if a.IsValid() && a.Contains(x.other.Address.Addr()) {
				ok = true
			}
		}
		if !ok {
			c.report(k.File, x.key+".allowed", "%s does not accept %s's transit address %s; add %s/%d to %s.allowed", x.local.Site, x.other.Site, x.other.Address.Addr(), x.other.Address.Addr(), x.other.Address.Addr().BitLen(), x.key)
		}
	}
}

// lintImportAcceptsNothing (TL017): an import filter that accepts none of
// what the far end announces makes a session that carries nothing.
func lintImportAcceptsNothing(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if x.bgp == nil {
			continue
		}
		offered := offeredBy(k, x.key)
		if len(offered) == 0 || len(x.bgp.Import) == 0 {
			continue
		}
		accepted := false
		for _, p := range offered {
			for _, m := range x.bgp.Import {
				accepted = accepted || m.Contains(p)
			}
		}
		if !accepted {
			c.report(k.File, "bgp."+x.key+".import", "%s's import filter accepts none of what %s announces (%v); the session would carry nothing", x.local.Site, x.other.Site, offered)
		}
	}
}

// lintBGPWithoutFilter (TL006): every session filters both ways.
func lintBGPWithoutFilter(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if x.bgp == nil {
			continue
		}
		if len(x.bgp.Import) == 0 {
			c.report(k.File, "bgp."+x.key+".import", "%s has no import filter and would accept every route %s sends; list the prefixes to accept (e.g. import = [\"::/0\"])", x.local.Site, x.other.Site)
		}
		if len(x.bgp.Export) == 0 && !x.bgp.DefaultOriginate {
			c.report(k.File, "bgp."+x.key+".export", "%s has no export filter and would announce its whole table to %s; list the prefixes to announce", x.local.Site, x.other.Site)
		}
	}
}

// lintEndpointPortNotListened (TL020): the far end dials this end's
// endpoint port; this end's interface must listen there.
func lintEndpointPortNotListened(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if w := x.site.wireguardOf(x.local.Interface); w != nil && x.local.Endpoint.Port != 0 && int(x.local.Endpoint.Port) != w.ListenPort {
			c.report(k.File, x.key+".endpoint", "%s dials %s at port %d, but %s %s listens on %d (%s); make them equal, or keep them apart only behind a port forward",
				x.other.Site, x.local.Site, x.local.Endpoint.Port, x.local.Site, w.Name, w.ListenPort, c.l.listenPortSource(x.site, w.Name))
		}
	}
}

// lintEndpointViaOwnTunnel (TL002): the endpoint an end dials must not be
// reachable only through the tunnel it establishes.
func lintEndpointViaOwnTunnel(c lintRun, k *Link) {
	for _, x := range linkSides(c.n, k) {
		if x.other.Endpoint.IsZero() {
			continue
		}
		if ep, ok := x.other.Endpoint.Addr(); ok {
			lintEndpoint(c, x.site, k, x.key, x.local, x.bgp, ep)
		}
	}
}

// offeredBy is what the far end of key's side announces over the link's
// session: its networks, plus the default route when it originates one.
func offeredBy(k *Link, key string) []netip.Prefix {
	other := "b"
	if key == "b" {
		other = "a"
	}
	far := bgpEnd(k, other)
	if far == nil {
		return nil
	}
	out := prefixes(far.Networks)
	if far.DefaultOriginate {
		if k.A.Address.Addr().Is4() {
			out = append(out, netip.MustParsePrefix("0.0.0.0/0"))
		} else {
			out = append(out, netip.MustParsePrefix("::/0"))
		}
	}
	return out
}

func bgpEnd(k *Link, key string) *BGPEnd {
	if k.BGP == nil {
		return nil
	}
	if key == "a" {
		return &k.BGP.A
	}
	return &k.BGP.B
}

func lintEndpoint(c lintRun, s *Site, k *Link, key string, local *LinkEnd, bgp *BGPEnd, ep netip.Addr) {
	var via netip.Prefix // the widest tunnel route covering the endpoint
	if local.Route != nil && *local.Route {
		for _, a := range local.Allowed {
			if a.IsValid() && a.Contains(ep) && (!via.IsValid() || a.Bits() < via.Bits()) {
				via = a.Prefix
			}
		}
	}
	if bgp != nil {
		for _, m := range bgp.Import {
			if m.Prefix.Contains(ep) {
				via = m.Prefix
			}
		}
	}
	if !via.IsValid() {
		return
	}
	for _, r := range s.Routes {
		if r.Dst.IsValid() && r.Dst.Contains(ep) && r.Dst.Bits() > via.Bits() && r.Gateway != local.Interface && !r.Blackhole {
			return // pinned over the underlay
		}
	}
	c.report(k.File, key+".site", "%s reaches endpoint %s only through %s, which this tunnel (%s) carries; add a [[route]] for %s/%d over the underlay", s.Name, ep, via, local.Interface, ep, ep.BitLen())
}

func methodOrAuto(m string) string {
	if m == "" {
		return "auto"
	}
	return m
}

// tunnelRouting names the WireGuard interface that carries prefix p at
// this site: a peer whose allowed prefixes contain p (wg-quick and RouterOS
// routes follow them) or a route whose gateway is the interface. Default
// routes do not count: they say nothing about where p lives. "" if none.
func (s *Site) tunnelRouting(n *Network, p netip.Prefix) string {
	for _, peer := range n.WireGuardPeers(s.Name) {
		for _, a := range peer.Allowed {
			if a.Bits() > 0 && a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
				return peer.Interface
			}
		}
	}
	for _, r := range s.Routes {
		if r.Dst.IsValid() && r.Dst.Bits() > 0 && r.Dst.Bits() <= p.Bits() && r.Dst.Contains(p.Addr()) && s.wireguardOf(r.Gateway) != nil {
			return r.Gateway
		}
	}
	return ""
}

// deadmanSlack is what the agent needs after a failed gate to revert and
// confirm before the device-side dead-man would.
const deadmanSlack = 5 * time.Second

// probeRound estimates the worst case of one round of checks: unanswered
// pings and TCP connects are what take time. RouterOS /tool/ping sends one
// echo a second; the Linux prober pings at 0.2s and waits 2s for the last
// reply; a TCP connect gives up after 3s (agent/mikrotik, agent/linuxhost).
func probeRound(platform string, checks []Check) time.Duration {
	var d time.Duration
	for _, c := range checks {
		count := c.Count
		if count <= 0 {
			count = 3
		}
		switch c.Kind {
		case CheckPing:
			if platform == "routeros" {
				d += time.Duration(count+1) * time.Second
			} else {
				d += time.Duration(count)*200*time.Millisecond + 2*time.Second
			}
		case CheckTCP:
			d += 3 * time.Second
		}
	}
	return d
}

// listenPortSource says where an interface's listen port is set, as
// file:line: the site's [[wireguard]] entry, or network.toml's default.
func (l *loader) listenPortSource(s *Site, iface string) string {
	for i, w := range s.WireGuard {
		if w.Name != iface {
			continue
		}
		if at := l.where(s.File, fmt.Sprintf("wireguard[%d].listen_port", i)); at != "" {
			return at
		}
	}
	if at := l.where("network.toml", "defaults.listen_port"); at != "" {
		return at
	}
	return fmt.Sprintf("the default %d", DefaultListenPort)
}

// where is file:line of a field set in file, "" when it is not set there.
func (l *loader) where(file, path string) string {
	ps := l.pos[file]
	if ps == nil {
		return ""
	}
	if v, ok := ps.at[path]; ok {
		return fmt.Sprintf("%s:%d", file, v.line)
	}
	return ""
}
