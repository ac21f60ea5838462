package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// routerOSServices are the fixed entries of RouterOS /ip/service: they can
// be set but never added or removed.
var routerOSServices = set("api", "api-ssl", "ftp", "ssh", "telnet", "winbox", "www", "www-ssl")

// loggingActions are the log actions every RouterOS router has.
var loggingActions = set("memory", "disk", "echo", "remote")

// sshUserRe is what AllowUsers takes: a user name, optionally @host.
var sshUserRe = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*(@[A-Za-z0-9.:/*?-]+)?$`)

// atLeast722 reports whether a RouterOS site's version has /ip/ssh
// password-authentication and commented /system/logging rules (7.22+).
func (c *siteChecker) atLeast722() bool {
	maj, mnr, _, ok := ParseRouterOSVersion(c.s.RouterOSVersion)
	return !ok || maj > 7 || maj == 7 && mnr >= 22
}

// checkManagement checks [management]: services are RouterOS's fixed
// entries, named once, with valid ports; the agent keeps an API service;
// ssh's Linux-only settings are not used on RouterOS and the other way.
func (c *siteChecker) checkManagement() {
	m := c.s.Management
	seen := map[string]bool{}
	apiOff, lastOff := 0, ""
	for i, sv := range m.Services {
		p := fmt.Sprintf("management.service[%d]", i)
		if c.linux {
			c.at(p, "routeros-only", "management.service sets RouterOS /ip/service entries; on Linux use management.ssh")
			continue
		}
		switch {
		case !routerOSServices[sv.Name]:
			c.at(p+".name", "invalid-value", fmt.Sprintf("service %q is not one of %s", sv.Name, strings.Join(sortedKeys(routerOSServices), ", ")))
		case seen[sv.Name]:
			c.at(p+".name", "duplicate", fmt.Sprintf("service %q is declared twice", sv.Name))
		}
		seen[sv.Name] = true
		if sv.Port != 0 && (sv.Port < 1 || sv.Port > 65535) {
			c.at(p+".port", "invalid-value", fmt.Sprintf("port %d is not within 1-65535", sv.Port))
		}
		for j, a := range sv.Addresses {
			if !a.IsValid() && a.err == nil {
				c.at(fmt.Sprintf("%s.addresses[%d]", p, j), "required", "address is required")
			}
		}
		if (sv.Name == "api" || sv.Name == "api-ssl") && sv.Enabled != nil && !*sv.Enabled {
			apiOff++
			lastOff = p + ".enabled"
		}
	}
	if apiOff == 2 {
		c.at(lastOff, "agent-lockout", "api and api-ssl are both disabled: the tether agent reaches the router through one of them and would lock itself out")
	}
	if m.SSH == nil {
		return
	}
	s := m.SSH
	if c.ros {
		if len(s.ListenAddresses) > 0 || len(s.AllowUsers) > 0 || s.Port != 0 || s.Unit != "" || s.PermitRootLogin != "" || s.MaxAuthTries != 0 {
			c.at("management.ssh", "linux-only", "listen_addresses, allow_users, port, permit_root_login, max_auth_tries and unit configure sshd on Linux; on RouterOS set the ssh service's port and addresses in [[management.service]]")
		}
		if s.PasswordAuthentication != nil && !c.atLeast722() {
			c.at("management.ssh.password_authentication", "version", fmt.Sprintf("RouterOS %s has no /ip/ssh password-authentication (7.22 or newer); before 7.22 a user with an imported SSH key cannot log in with a password", c.s.RouterOSVersion))
		}
		return
	}
	for i, a := range s.ListenAddresses {
		if _, err := netip.ParseAddr(a); err == nil {
			continue
		}
		if _, err := netip.ParseAddrPort(a); err == nil {
			continue
		}
		c.at(fmt.Sprintf("management.ssh.listen_addresses[%d]", i), "invalid-value", fmt.Sprintf("%q is not an address or address:port ([v6]:port)", a))
	}
	for i, u := range s.AllowUsers {
		if !sshUserRe.MatchString(u) {
			c.at(fmt.Sprintf("management.ssh.allow_users[%d]", i), "invalid-value", fmt.Sprintf("%q is not a user name (optionally user@host)", u))
		}
	}
	if s.Port != 0 && (s.Port < 1 || s.Port > 65535) {
		c.at("management.ssh.port", "invalid-value", fmt.Sprintf("port %d is not within 1-65535", s.Port))
	}
	if s.Unit != "" {
		c.name("management.ssh.unit", "unit name", s.Unit)
	}
	switch s.PermitRootLogin {
	case "", "yes", "no", "prohibit-password", "forced-commands-only":
	default:
		c.at("management.ssh.permit_root_login", "invalid-value", fmt.Sprintf("permit_root_login must be yes, no, prohibit-password or forced-commands-only, not %q", s.PermitRootLogin))
	}
	if s.MaxAuthTries < 0 {
		c.at("management.ssh.max_auth_tries", "invalid-value", "max_auth_tries must be positive")
	}
}

// checkLogging checks [[logging]] (RouterOS 7.22+, whose logging rules
// take the comment tether recognises them by): topics, a safe action.
func (c *siteChecker) checkLogging() {
	for i, lr := range c.s.Logging {
		p := fmt.Sprintf("logging[%d]", i)
		if c.linux {
			c.at(p, "routeros-only", "logging sets RouterOS /system/logging rules; Linux logs to the journal")
			continue
		}
		if !c.atLeast722() {
			c.at(p, "version", fmt.Sprintf("RouterOS %s logging rules take no comment, so tether could not tell its own from the router's (7.22 or newer)", c.s.RouterOSVersion))
		}
		if len(lr.Topics) == 0 {
			c.at(p+".topics", "required", "topics are required, e.g. [\"wireguard\", \"info\"]")
		}
		for j, t := range lr.Topics {
			c.name(fmt.Sprintf("%s.topics[%d]", p, j), "topic", strings.TrimPrefix(t, "!"))
		}
		if lr.Action != "" && !loggingActions[lr.Action] {
			c.name(p+".action", "log action", lr.Action)
		}
		c.text(p+".prefix", lr.Prefix)
	}
}
