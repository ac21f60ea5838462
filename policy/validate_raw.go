package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// checkRawRouterOS checks [[raw.routeros]] (RouterOS only): a menu path,
// a unique name unless the menu is a singleton, and attributes that are
// safe to write and leave tether's comment alone.
func (c *siteChecker) checkRawRouterOS() {
	names := map[string]bool{}
	for i, r := range c.s.Raw.RouterOS {
		p := fmt.Sprintf("raw.routeros[%d]", i)
		if c.linux {
			c.at(p, "routeros-only", "raw.routeros applies only to RouterOS sites (use raw.linux)")
		}
		if !rosPathRe.MatchString(r.Path) {
			c.at(p+".path", "invalid-value", fmt.Sprintf("path %q must be a RouterOS menu like /ip/dns", r.Path))
		}
		if !r.Singleton && c.name(p+".name", "raw item name", r.Name) {
			key := r.Path + " " + r.Name
			if names[key] {
				c.at(p+".name", "duplicate", fmt.Sprintf("raw item %q is declared twice under %s", r.Name, r.Path))
			}
			names[key] = true
		}
		if len(r.Attributes) == 0 {
			c.at(p+".attributes", "required", "attributes are required")
		}
		for _, k := range sortedKeys(r.Attributes) {
			if !rosAttrRe.MatchString(k) || k == "comment" && !r.Singleton {
				c.at(p+".attributes."+k, "invalid-name", fmt.Sprintf("attribute %q is not allowed (RouterOS attribute names are lower-case; tether owns comment)", k))
			}
			c.text(p+".attributes."+k, r.Attributes[k])
		}
		c.text(p+".place_before", r.PlaceBefore)
	}
}

// checkRawLinux checks [[raw.linux]] (Linux only): a unique absolute file
// path that cannot escape, an octal mode and a systemd unit to reload.
func (c *siteChecker) checkRawLinux() {
	files := map[string]bool{}
	for i, r := range c.s.Raw.Linux {
		p := fmt.Sprintf("raw.linux[%d]", i)
		if c.ros {
			c.at(p, "linux-only", "raw.linux applies only to Linux sites (use raw.routeros)")
		}
		if !strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "..") || strings.ContainsAny(r.Path, " \t\n\"'$\\") || strings.HasSuffix(r.Path, "/") {
			c.at(p+".path", "invalid-value", fmt.Sprintf("path %q must be an absolute file path without '..' or spaces", r.Path))
		}
		if files[r.Path] {
			c.at(p+".path", "duplicate", fmt.Sprintf("file %s is declared twice", r.Path))
		}
		files[r.Path] = true
		if r.Mode != "" {
			if m, err := strconv.ParseUint(r.Mode, 8, 32); err != nil || m > 0o7777 {
				c.at(p+".mode", "invalid-value", fmt.Sprintf("mode %q must be octal like \"0644\"", r.Mode))
			}
		}
		if r.Reload != "" && !nameRe.MatchString(strings.TrimSuffix(r.Reload, ".service")) {
			c.at(p+".reload", "invalid-value", fmt.Sprintf("reload %q must be a systemd unit name", r.Reload))
		}
	}
}
