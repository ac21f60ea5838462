package routeros

import (
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// management renders [management]: each declared /ip/service entry is a
// fixed item set by name (the router always has every service; tether
// neither adds nor removes one), and /ip/ssh is a settings menu.
func (r *renderer) management() {
	m := r.s.Management
	for _, sv := range m.Services {
		var as attrs
		as.set("name", sv.Name)
		if sv.Enabled != nil {
			as.yesNo("disabled", !*sv.Enabled)
		}
		if sv.Port > 0 {
			as.set("port", strconv.Itoa(sv.Port))
		}
		if len(sv.Addresses) > 0 {
			as.set("address", joinPrefixes(policy.Prefixes(sv.Addresses)))
		}
		if len(as) == 1 {
			continue // only the name: nothing to set
		}
		r.add("/ip/service", "", as)
		r.cfg.Items[len(r.cfg.Items)-1].Fixed = true
	}
	if s := m.SSH; s != nil && s.PasswordAuthentication != nil {
		if !r.v.atLeast(7, 22) {
			r.warnf("management.ssh: RouterOS %s has no /ip/ssh password-authentication (7.22 or newer); not rendered", r.cfg.Version)
			return
		}
		// "no" refuses passwords to every user; "yes-if-no-key" (the
		// default) would still take them from users without a key.
		v := "no"
		if *s.PasswordAuthentication {
			v = "yes"
		}
		r.cfg.Items = append(r.cfg.Items, Item{Path: "/ip/ssh", Singleton: true, Attrs: []Attr{{"password-authentication", v}}})
	}
}

// logging renders [[logging]] as /system/logging rules, each owned by its
// comment, which names its topics (7.22+: earlier rules take no comment).
func (r *renderer) logging() {
	if len(r.s.Logging) > 0 && !r.v.atLeast(7, 22) {
		r.warnf("logging: RouterOS %s logging rules take no comment, so tether could not own them (7.22 or newer); not rendered", r.cfg.Version)
		return
	}
	for _, lr := range r.s.Logging {
		action := lr.Action
		if action == "" {
			action = "memory"
		}
		topics := strings.Join(lr.Topics, ",")
		var as attrs
		as.set("topics", topics)
		as.set("action", action)
		as.set("prefix", lr.Prefix)
		as.set("comment", OwnedComment("log "+topics+" to "+action))
		r.add("/system/logging", "", as)
	}
}
