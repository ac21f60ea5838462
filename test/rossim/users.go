package rossim

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// policyNames are the RouterOS 7 group policies in the order print lists
// them (MikroTik "User" manual, `/user group print` of the default groups).
var policyNames = []string{"local", "telnet", "ssh", "ftp", "reboot", "read", "write", "policy", "test",
	"winbox", "password", "web", "sniff", "sensitive", "api", "romon", "rest-api"}

// policySet is a set of policies, one bit per policyNames index.
type policySet uint32

func pol(names ...string) policySet {
	var p policySet
	for _, n := range names {
		if i := slices.Index(policyNames, n); i >= 0 {
			p |= 1 << i
		}
	}
	return p
}

var (
	allPolicies = policySet(1<<len(policyNames) - 1)
	// scriptPolicies are the policies a script can carry (the 7.22.3 enum
	// of /system/script add policy=); a new script or scheduler gets its
	// creator's policies limited to these.
	scriptPolicies = pol("ftp", "reboot", "read", "write", "policy", "test", "password", "sniff", "sensitive", "romon")
	pRead          = pol("read")
	pWrite         = pol("write")
	pTest          = pol("test")
	pPolicy        = pol("policy")
	pAPI           = pol("api")
)

// builtinGroups are the three groups every RouterOS has and nobody can
// remove, with the policies the manual prints for them.
type groupDef struct {
	name string
	pol  policySet
}

var builtinGroups = []groupDef{
	{"read", allPolicies &^ pol("ftp", "write", "policy")},
	{"write", allPolicies &^ pol("ftp", "policy")},
	{"full", allPolicies},
}

func isBuiltinGroup(name string) bool {
	return slices.ContainsFunc(builtinGroups, func(g groupDef) bool { return g.name == name })
}

func (p policySet) has(q policySet) bool { return p&q == q }

// groupString prints a group's policy the way /user/group print does:
// granted policies, then the others negated ("...,api,romon,!ftp,!write").
func (p policySet) groupString() string {
	var on, off []string
	for i, n := range policyNames {
		if p&(1<<i) != 0 {
			on = append(on, n)
		} else {
			off = append(off, "!"+n)
		}
	}
	return strings.Join(append(on, off...), ",")
}

// listString prints a script's or scheduler's policy: granted ones only.
func (p policySet) listString() string {
	var on []string
	for i, n := range policyNames {
		if p&(1<<i) != 0 {
			on = append(on, n)
		}
	}
	return strings.Join(on, ",")
}

// parsePolicy reads a policy list; "!name" says "not granted".
func parsePolicy(v string, allowed policySet) (policySet, *Trap) {
	var p policySet
	if v == "" {
		return 0, nil
	}
	for part := range strings.SplitSeq(v, ",") {
		neg := strings.HasPrefix(part, "!")
		i := slices.Index(policyNames, strings.TrimPrefix(part, "!"))
		if i < 0 || allowed&(1<<i) == 0 {
			return 0, trapf(1, "invalid value for argument policy")
		}
		if !neg {
			p |= 1 << i
		}
	}
	return p, nil
}

// session is who runs a command: an API login, a script, or Exec.
type session struct {
	user string
	pol  policySet
}

// errPermission is RouterOS's refusal of a command the caller's policies
// do not allow (seen on real routers through the API, see CONFORMANCE.md).
func errPermission() *Trap { return trapf(0, "not enough permissions (9)") }

// needs is the policy a command requires: read to print, write to change
// configuration (plus policy for user management), test to ping.
func needs(menu, verb string) policySet {
	switch verb {
	case "print", "get", "run":
		return pRead
	case "ping":
		return pTest
	}
	if menu == "/user" || strings.HasPrefix(menu, "/user/") {
		return pWrite | pPolicy
	}
	return pWrite
}

// authorize checks a command against the caller's policies, including the
// rule that a script or scheduler never carries more than its creator has.
func (s *Sim) authorize(c *command, verb string, who session) *Trap {
	if !who.pol.has(needs(c.menu, verb)) {
		return errPermission()
	}
	if (c.menu == "/system/script" || c.menu == "/system/scheduler") && (verb == "add" || verb == "set") {
		if v, ok := c.arg("policy"); ok {
			p, trap := parsePolicy(v, allPolicies)
			if trap != nil {
				return trap
			}
			if !who.pol.has(p) {
				return errPermission()
			}
		}
	}
	return nil
}

// addUserDefaults fills what RouterOS records for the creator of a script
// or scheduler: owner, and the creator's policies when none were given.
func (s *Sim) addUserDefaults(menu string, attrs map[string]string, who session) {
	if menu != "/system/script" && menu != "/system/scheduler" {
		return
	}
	attrs["owner"] = who.user
	if _, ok := attrs["policy"]; !ok {
		attrs["policy"] = (who.pol & scriptPolicies).listString()
	}
}

// normalizePolicy prints a policy value as the menu shows it.
func normalizePolicy(menu, v string) (string, *Trap) {
	switch menu {
	case "/user/group":
		p, trap := parsePolicy(v, allPolicies)
		if trap != nil {
			return "", trap
		}
		return p.groupString(), nil
	case "/system/script":
		p, trap := parsePolicy(v, scriptPolicies)
		if trap != nil {
			return "", trap
		}
		return p.listString(), nil
	case "/system/scheduler":
		p, trap := parsePolicy(v, allPolicies)
		if trap != nil {
			return "", trap
		}
		return p.listString(), nil
	}
	return v, nil
}

// initUsers creates the built-in groups, admin (group full, empty password
// unless it is Config.User), the configured login user and its group
// (Config.Group, Config.GroupPolicy).
func (s *Sim) initUsers() error {
	for _, g := range builtinGroups {
		s.put("/user/group", map[string]string{"name": g.name, "policy": g.pol.groupString()})
	}
	group := s.cfg.Group
	if s.findByName("/user/group", group) == nil {
		p, trap := parsePolicy(s.cfg.GroupPolicy, allPolicies)
		if trap != nil {
			return fmt.Errorf("rossim: Config.GroupPolicy %q: %s", s.cfg.GroupPolicy, trap.Message)
		}
		s.put("/user/group", map[string]string{"name": group, "policy": p.groupString()})
	} else if s.cfg.GroupPolicy != "" {
		return fmt.Errorf("rossim: Config.GroupPolicy is for a new group, and %q is built in", group)
	}
	// admin is always there, as on a router; Exec and the tests use it.
	s.put("/user", map[string]string{"name": "admin", "group": "full", "comment": "system default user"})
	s.passwords["admin"] = ""
	if s.cfg.User == "admin" {
		if group != "full" {
			return fmt.Errorf("rossim: admin is in group full; name another Config.User for group %q", group)
		}
	} else {
		s.put("/user", map[string]string{"name": s.cfg.User, "group": group})
	}
	s.passwords[s.cfg.User] = s.cfg.Password
	return nil
}

// groupPolicy returns the policies of a user's group.
func (s *Sim) groupPolicy(user string) (policySet, bool) {
	u := s.findByName("/user", user)
	if u == nil {
		return 0, false
	}
	g := s.findByName("/user/group", u.attrs["group"])
	if g == nil {
		return 0, false
	}
	p, _ := parsePolicy(g.attrs["policy"], allPolicies)
	return p, true
}

// checkLogin authenticates an API login from remote. Every refusal has the
// same text, so the router does not say which part was wrong.
func (s *Sim) checkLogin(name, password string, remote net.Addr) (session, *Trap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := trapf(0, "invalid user name or password (6)")
	u := s.findByName("/user", name)
	if u == nil || u.attrs["disabled"] == "true" {
		return session{}, fail
	}
	if pw, ok := s.passwords[name]; !ok || pw != password {
		return session{}, fail
	}
	if !s.addressAllowed(u.attrs["address"], remote) {
		return session{}, fail
	}
	p, ok := s.groupPolicy(name)
	if !ok || !p.has(pAPI) {
		return session{}, fail
	}
	u.attrs["last-logged-in"] = s.clock.Now().Format("2006-01-02 15:04:05")
	return session{user: name, pol: p}, nil
}

// addressAllowed applies a user's address= list to the client's address.
func (s *Sim) addressAllowed(list string, remote net.Addr) bool {
	if list == "" {
		return true
	}
	ra, ok := remoteAddr(remote)
	if !ok {
		return false
	}
	for part := range strings.SplitSeq(list, ",") {
		if p, ok := parseAddrPrefix(part, 0); ok && p.Contains(ra) {
			return true
		}
	}
	return false
}

func remoteAddr(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	return ip.Unmap(), ok
}

// loginActive adds the /user/active row of a new API session and returns
// its key for logoutActive.
func (s *Sim) loginActive(who session, remote net.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nActive++
	key := fmt.Sprintf("active/%d", s.nActive)
	addr := ""
	if ra, ok := remoteAddr(remote); ok {
		addr = ra.String()
	}
	g := ""
	if u := s.findByName("/user", who.user); u != nil {
		g = u.attrs["group"]
	}
	t := s.tableFor("/user/active")
	t.items = append(t.items, &item{id: t.alloc(), derived: key, attrs: map[string]string{
		"name": who.user, "address": addr, "via": "api", "group": g, "radius": "false",
		"when": s.clock.Now().Format("2006-01-02 15:04:05"),
	}})
	return key
}

func (s *Sim) logoutActive(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tableFor("/user/active")
	t.items = slices.DeleteFunc(t.items, func(it *item) bool { return it.derived == key })
}
