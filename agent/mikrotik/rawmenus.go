package mikrotik

import (
	"fmt"
	"path"
	"strings"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
)

// guardedMenus are the menus a raw item may change only when this agent's
// own config allows it ([routeros] raw_menus_allow): who may log in and how
// (users, services, SSH, certificates), and what runs with full rights or
// replaces the system (scripts, schedulers, files, packages). A commit is
// data an attacker with push access controls; the companion host's config
// is not.
var guardedMenus = []string{
	"/user", "/ip/service", "/ip/ssh", "/certificate",
	"/system/script", "/system/scheduler", "/system/package", "/system/routerboard",
	"/system/license", "/file", "/tool/fetch", "/tool/netwatch", "/tool/e-mail", "/tool/sms",
}

// checkRawMenus refuses a site whose raw items change a guarded menu that
// allow does not name. The refusal wraps contract.ErrPermanent: the same commit
// will not become acceptable by retrying.
func checkRawMenus(s *policy.Site, allow []string) error {
	var bad []string
	for _, x := range s.Raw.RouterOS {
		p := path.Clean("/" + strings.Trim(x.Path, "/"))
		guard := menuUnder(p, guardedMenus)
		if guard == "" || menuUnder(p, allow) != "" {
			continue
		}
		bad = append(bad, fmt.Sprintf("raw.routeros %q changes %s", x.Name, p))
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: this agent does not let raw items change users, services, scripts or files; "+
		"to allow it, list the menu in raw_menus_allow under [routeros] in the agent's config", contract.ErrPermanent, strings.Join(bad, "; "))
}

// menuUnder returns the entry of menus that p is or lies under, or "".
func menuUnder(p string, menus []string) string {
	for _, m := range menus {
		m = path.Clean("/" + strings.Trim(m, "/"))
		if p == m || strings.HasPrefix(p, m+"/") {
			return m
		}
	}
	return ""
}
