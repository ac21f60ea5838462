package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// minRouterOS is the oldest RouterOS tether renders for: 7.18.
var minRouterOS = [2]int{7, 18}

var (
	siteNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
	nameRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	sysctlRe   = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.\-/]*$`)
	sysctlVal  = regexp.MustCompile(`^[A-Za-z0-9 _.:,-]{0,128}$`)
	rosPathRe  = regexp.MustCompile(`^(/[a-z0-9][a-z0-9-]*)+$`)
	rosAttrRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	portsRe    = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
	versionRe  = regexp.MustCompile(`^([0-9]+)\.([0-9]+)(\.([0-9]+))?$`)
)

// ParseRouterOSVersion returns major, minor and patch of "7.22.3".
func ParseRouterOSVersion(v string) (major, minor, patch int, ok bool) {
	m := versionRe.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	if m[4] != "" {
		patch, _ = strconv.Atoi(m[4])
	}
	return major, minor, patch, true
}

// checkName reports an error when s cannot safely become an interface name,
// file name, RouterOS item name or comment part.
func (l *loader) checkName(file, path, what, s string) bool {
	switch {
	case s == "":
		l.at(file, path, "required", what+" is required")
	case !nameRe.MatchString(s) || strings.Contains(s, ".."):
		l.at(file, path, "invalid-name", fmt.Sprintf("%s %q may only contain letters, digits, '-', '_' and '.', start with a letter or digit, and be at most 63 characters", what, s))
	default:
		return true
	}
	return false
}

// checkText rejects characters that could break out of a RouterOS script
// string, a config file line or a log line.
func (l *loader) checkText(file, path, s string) {
	if len(s) > 255 {
		l.at(file, path, "invalid-text", "text is longer than 255 characters")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) || strings.ContainsRune("\"\\$`{}", r) {
			l.at(file, path, "invalid-text", fmt.Sprintf("text %q contains %q, which is not allowed (no quotes, backslashes, $, backticks, braces or control characters)", truncate(s, 60), r))
			return
		}
	}
}

// validate checks the whole network: network.toml, then every site, link
// and peer in name order, then that no two of them share a public key.
func validate(n *Network, l *loader) {
	pool, poolOK := validateNetworkFile(n, l)
	for _, name := range sortedKeys(n.Sites) {
		validateSite(n, n.Sites[name], l, pool, poolOK)
	}
	for _, name := range sortedKeys(n.Links) {
		validateLink(n, n.Links[name], l, pool, poolOK)
	}
	validateVRRPGroups(n, l)
	keys := map[Key]string{} // public key -> who uses it
	for _, name := range sortedKeys(n.Sites) {
		s := n.Sites[name]
		for i, w := range s.WireGuard {
			if !w.PublicKey.IsZero() {
				if prev, dup := keys[w.PublicKey]; dup {
					l.at(s.File, fmt.Sprintf("wireguard[%d].public_key", i), "duplicate-key", "public key is also used by "+prev)
				}
				keys[w.PublicKey] = "site " + s.Name + " interface " + w.Name
			}
		}
	}
	for _, name := range sortedKeys(n.Peers) {
		p := n.Peers[name]
		validatePeer(n, p, l)
		if !p.PublicKey.IsZero() {
			if prev, dup := keys[p.PublicKey]; dup {
				l.at(p.File, "public_key", "duplicate-key", "public key is also used by "+prev)
			}
			keys[p.PublicKey] = "peer " + p.Name
		}
	}
	validateExits(n, l)
}

// validateNetworkFile checks network.toml: name, description, [defaults]
// and [rollout]. It returns the ASN pool and whether one is set and valid.
func validateNetworkFile(n *Network, l *loader) (pool [2]uint32, poolOK bool) {
	nf := n.File
	if n.Name == "" {
		l.at(nf, "name", "required", "name is required")
	} else {
		l.checkName(nf, "name", "network name", n.Name)
	}
	l.checkText(nf, "description", n.Description)
	d := n.Defaults
	l.checkMTU(nf, "defaults.mtu", d.MTU)
	l.checkPort(nf, "defaults.listen_port", d.ListenPort)
	pool, poolOK = parseASNPool(d.ASNPool)
	if d.ASNPool != "" && !poolOK {
		l.at(nf, "defaults.asn_pool", "invalid-value", fmt.Sprintf("asn_pool %q must be \"low-high\", e.g. \"64512-65534\"", d.ASNPool))
	}
	if d.RouterOSVersion != "" {
		l.checkROSVersion(nf, "defaults.routeros_version", d.RouterOSVersion)
	}
	validateRollout(n, l)
	return pool, poolOK
}

// validateRollout checks [rollout]: the drift mode, and that every site in
// a wave exists and is in one wave only.
func validateRollout(n *Network, l *loader) {
	nf := n.File
	switch n.Rollout.Drift {
	case "", "repair", "report":
	default:
		l.at(nf, "rollout.drift", "invalid-value", fmt.Sprintf("drift must be \"repair\" or \"report\", not %q", n.Rollout.Drift))
	}
	waveSeen := map[string]bool{}
	for i, w := range n.Rollout.Waves {
		for j, s := range w {
			p := fmt.Sprintf("rollout.waves[%d][%d]", i, j)
			if n.Sites[s] == nil && !l.broken["site:"+s] {
				l.at(nf, p, "unknown-site", fmt.Sprintf("no site %q (sites are %s)", s, siteList(n)))
			} else if waveSeen[s] {
				l.at(nf, p, "duplicate", fmt.Sprintf("site %q is in more than one wave", s))
			}
			waveSeen[s] = true
		}
	}
}

func siteList(n *Network) string { return strings.Join(sortedKeys(n.Sites), ", ") }

// parseASNPool parses "64512-65534"; ok is false unless 0 < low <= high.
func parseASNPool(s string) ([2]uint32, bool) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
	if !ok || err1 != nil || err2 != nil || a == 0 || b < a {
		return [2]uint32{}, false
	}
	return [2]uint32{uint32(a), uint32(b)}, true
}

func (l *loader) checkMTU(file, path string, mtu int) {
	if mtu != 0 && (mtu < 1280 || mtu > 9000) {
		l.at(file, path, "out-of-range", fmt.Sprintf("mtu %d is out of range 1280-9000 (IPv6 needs at least 1280)", mtu))
	}
}

func (l *loader) checkPort(file, path string, port int) {
	if port < 0 || port > 65535 {
		l.at(file, path, "out-of-range", fmt.Sprintf("port %d is out of range 1-65535", port))
	}
}

func (l *loader) checkASN(file, path string, asn uint32, pool [2]uint32, poolOK bool) {
	switch {
	case asn == 0 || asn == 4294967295 || asn == 23456:
		l.at(file, path, "out-of-range", fmt.Sprintf("ASN %d is reserved; use a private ASN such as 64512-65534", asn))
	case poolOK && (asn < pool[0] || asn > pool[1]):
		l.at(file, path, "out-of-range", fmt.Sprintf("ASN %d is outside the network's asn_pool %d-%d", asn, pool[0], pool[1]))
	}
}

func (l *loader) checkROSVersion(file, path, v string) {
	maj, mnr, _, ok := ParseRouterOSVersion(v)
	switch {
	case !ok:
		l.at(file, path, "invalid-value", fmt.Sprintf("RouterOS version %q must look like 7.22.3", v))
	case maj != minRouterOS[0] || mnr < minRouterOS[1]:
		l.at(file, path, "unsupported", fmt.Sprintf("RouterOS %s is not supported: tether needs RouterOS v7, 7.18 or newer", v))
	}
}

// siteIfaces is the set of interface names a site may refer to.
func siteIfaces(s *Site) map[string]string {
	m := map[string]string{}
	for _, i := range s.Interfaces {
		m[i.Name] = "interface"
	}
	for _, w := range s.WireGuard {
		m[w.Name] = "wireguard"
	}
	return m
}

// siteLists is the set of interface lists a site may refer to: those its
// interfaces are in and, on RouterOS, defconf's WAN and LAN.
func siteLists(s *Site) map[string]bool {
	m := map[string]bool{}
	if s.Platform == "routeros" {
		m["WAN"], m["LAN"] = true, true // defconf lists
	}
	for _, i := range s.Interfaces {
		for _, x := range i.Lists {
			m[x] = true
		}
	}
	for _, w := range s.WireGuard {
		for _, x := range w.Lists {
			m[x] = true
		}
	}
	return m
}
