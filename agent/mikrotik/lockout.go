package mikrotik

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tether-net/tether/agent/contract"
)

// sessionPath is the agent's own API session as the router sees it: the
// source address it connects from (invalid when the transport has none,
// such as a pipe in tests) and the port it dials.
func (c *client) sessionPath() (netip.Addr, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var local netip.Addr
	if c.nc != nil {
		if ap, err := netip.ParseAddrPort(c.nc.LocalAddr().String()); err == nil {
			local = ap.Addr().Unmap()
		}
	}
	_, p, err := net.SplitHostPort(c.cfg.Address)
	if err != nil {
		return local, 0
	}
	port, _ := strconv.Atoi(p)
	return local, port
}

// checkLockout refuses, before anything is written, a plan whose
// /ip/service writes would cut the session the agent itself uses: the
// service on the port it dials disabled, moved to another port, or limited
// to addresses that do not hold the agent's source address. Neither the
// gate nor the revert could run afterwards; only the dead-man would.
func (d *Device) checkLockout(p *planner) error {
	m := p.menus["/ip/service"]
	if m == nil {
		return nil
	}
	local, port := d.c.sessionPath()
	var bad []string
	for _, o := range p.do {
		if o.Path != "/ip/service" || o.Op != "set" {
			continue
		}
		var r *row
		for _, x := range m.rows {
			if x.ref == o.Ref {
				r = x
			}
		}
		if r == nil || r.attrs["port"] != strconv.Itoa(port) || norm("disabled", r.attrs["disabled"]) == "true" {
			continue
		}
		name := r.attrs["name"]
		for _, a := range o.Attrs {
			switch {
			case a.Name == "disabled" && norm("disabled", a.Value) == "true":
				bad = append(bad, fmt.Sprintf("it disables %s", name))
			case a.Name == "port" && a.Value != strconv.Itoa(port):
				bad = append(bad, fmt.Sprintf("it moves %s from port %d to %s", name, port, a.Value))
			case a.Name == "address" && local.IsValid() && !addressAllows(a.Value, local):
				bad = append(bad, fmt.Sprintf("%s address=%s does not hold the agent's address %s", name, a.Value, local))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the agent reaches the router through this service, and %s; the agent would lock itself out (keep the service it uses, or move the agent first)",
		contract.ErrPermanent, strings.Join(bad, "; "))
}

// addressAllows reports whether an /ip/service address list ("" = anyone)
// holds a.
func addressAllows(list string, a netip.Addr) bool {
	if strings.TrimSpace(list) == "" {
		return true
	}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(a) {
			return true
		}
		if x, err := netip.ParseAddr(s); err == nil && x == a {
			return true
		}
	}
	return false
}
