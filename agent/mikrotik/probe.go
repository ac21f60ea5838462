package mikrotik

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
)

// Probe runs each check once from the router, all checks at once: a round
// takes about as long as its slowest check (an unanswered ping), not the
// sum. Pings run on the client's probe sessions; menus shared by several
// checks are read once per Probe call, on the main session.
func (d *Device) Probe(ctx context.Context, checks []policy.Check) []contract.CheckResult {
	pr := &prober{d: d, cache: map[string]*cached{}}
	out := make([]contract.CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { out[i] = pr.run(ctx, c) })
	}
	wg.Wait()
	return out
}

// Provoke sends one ping to each check's Target across its tunnel, all at
// once on the probe sessions: a packet for the peer makes WireGuard start
// a handshake (agent.Provoker). It returns what each ping saw.
func (d *Device) Provoke(ctx context.Context, checks []policy.Check) []string {
	pr := &prober{d: d}
	out := make([]string, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { _, out[i] = pr.ping(ctx, policy.Check{Target: c.Target, Count: 1}) })
	}
	wg.Wait()
	return out
}

func (p *prober) run(ctx context.Context, c policy.Check) contract.CheckResult {
	now := p.d.now()
	var ok bool
	var ev string
	var since time.Time
	if c.Kind == policy.CheckHandshake {
		var age time.Duration
		ok, ev, age = p.handshake(ctx, c)
		if age >= 0 {
			since = now.Add(-age)
		}
	} else {
		ok, ev = p.check(ctx, c)
	}
	return contract.CheckResult{Name: c.Name, Kind: string(c.Kind), OK: ok, Evidence: ev, At: now, Since: since}
}

// cached is one menu read shared by the checks of a round; done closes
// when rows and err are set.
type cached struct {
	done chan struct{}
	rows []map[string]string
	err  error
}

type prober struct {
	d     *Device
	mu    sync.Mutex
	cache map[string]*cached
}

func (p *prober) print(ctx context.Context, path string, props ...string) ([]map[string]string, error) {
	p.mu.Lock()
	c, ok := p.cache[path]
	if ok {
		p.mu.Unlock()
		<-c.done
		return c.rows, c.err
	}
	c = &cached{done: make(chan struct{})}
	p.cache[path] = c
	p.mu.Unlock()
	defer close(c.done)
	rep, err := p.d.c.run(ctx, path+"/print", "=.proplist="+strings.Join(props, ","))
	if err == nil {
		c.rows = rep.Re
	} else {
		c.err = fmt.Errorf("read %s: %w", path, err)
	}
	return c.rows, c.err
}

func (p *prober) check(ctx context.Context, c policy.Check) (bool, string) {
	switch c.Kind {
	case policy.CheckBGP:
		return p.bgp(ctx, c)
	case policy.CheckRoute:
		return p.route(ctx, c)
	case policy.CheckPing:
		return p.ping(ctx, c)
	case policy.CheckTCP:
		return false, "tcp probes cannot run from RouterOS (no API for a TCP connect); use ping or run the probe on the agent host"
	}
	return false, fmt.Sprintf("unknown check kind %q", c.Kind)
}

// handshake also returns the age of the last handshake (-1 when unknown)
// so the gate can tell a handshake after the change from an old one.
func (p *prober) handshake(ctx context.Context, c policy.Check) (bool, string, time.Duration) {
	rows, err := p.print(ctx, "/interface/wireguard/peers", ".id", "interface", "name", "public-key", "last-handshake", "disabled", "current-endpoint-address")
	if err != nil {
		return false, err.Error(), -1
	}
	key := c.PublicKey.String()
	for _, r := range rows {
		if r["interface"] != c.Interface {
			continue
		}
		if c.PublicKey.IsZero() && r["name"] != c.PeerName || !c.PublicKey.IsZero() && r["public-key"] != key {
			continue
		}
		if r["disabled"] == "true" {
			return false, fmt.Sprintf("peer %s on %s is disabled", c.PeerName, c.Interface), -1
		}
		lh, ok := r["last-handshake"]
		if !ok || lh == "" {
			return false, fmt.Sprintf("no handshake yet with %s on %s", c.PeerName, c.Interface), -1
		}
		age, okd := parseDuration(lh)
		if !okd {
			return false, fmt.Sprintf("cannot read last-handshake %q", lh), -1
		}
		ev := fmt.Sprintf("last handshake %s ago (max %s)", humanDuration(age), humanDuration(c.MaxAge))
		return c.MaxAge <= 0 || age <= c.MaxAge, ev, age
	}
	return false, fmt.Sprintf("no peer %s with key %s on %s", c.PeerName, short(key), c.Interface), -1
}

func short(k string) string {
	if len(k) > 8 {
		return k[:8] + "…"
	}
	return k
}

func (p *prober) bgp(ctx context.Context, c policy.Check) (bool, string) {
	rows, err := p.print(ctx, "/routing/bgp/session", ".id", "name", "remote.address", "remote.as", "established", "uptime", "prefix-count")
	if err != nil {
		return false, err.Error()
	}
	var s map[string]string
	for _, r := range rows {
		name := r["name"]
		if name == c.Session || strings.HasPrefix(name, c.Session+"-") {
			s = r
			break
		}
		if a, err := netip.ParseAddr(r["remote.address"]); err == nil && c.RemoteAddress.IsValid() && a == c.RemoteAddress {
			s = r
		}
	}
	if s == nil {
		return false, fmt.Sprintf("no session %s (to %s)", c.Session, c.RemoteAddress)
	}
	if s["established"] != "true" {
		return false, fmt.Sprintf("session %s not established", c.Session)
	}
	n, _ := strconv.Atoi(s["prefix-count"])
	ev := fmt.Sprintf("session %s established", c.Session)
	if up, ok := parseDuration(s["uptime"]); ok {
		ev += " " + humanDuration(up)
	}
	ev += ", " + plural(n, "prefix", "prefixes")
	ok := true
	var seen, missing []string
	for _, want := range c.Expect {
		if p.hasRoute(ctx, want, "", true) {
			seen = append(seen, want.String()+" received")
		} else {
			missing = append(missing, want.String()+" missing")
			ok = false
		}
	}
	if len(seen)+len(missing) > 0 {
		ev += "; " + strings.Join(append(seen, missing...), ", ")
	}
	return ok, ev
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func (p *prober) routes(ctx context.Context, pfx netip.Prefix) ([]map[string]string, error) {
	path := "/ip/route"
	if pfx.Addr().Is6() {
		path = "/ipv6/route"
	}
	return p.print(ctx, path, ".id", "dst-address", "routing-table", "active", "bgp", "gateway", "disabled")
}

func (p *prober) hasRoute(ctx context.Context, pfx netip.Prefix, table string, bgp bool) bool {
	rows, err := p.routes(ctx, pfx)
	if err != nil {
		return false
	}
	if table == "" {
		table = "main"
	}
	for _, r := range rows {
		dst, err := netip.ParsePrefix(r["dst-address"])
		if err != nil || dst.Masked() != pfx.Masked() || r["disabled"] == "true" {
			continue
		}
		if t := r["routing-table"]; t != "" && t != table {
			continue
		}
		if v, ok := r["bgp"]; bgp && !flagSet(v, ok) {
			continue // a flag: printed true, or bare on some versions
		}
		if r["active"] == "false" {
			continue
		}
		return true
	}
	return false
}

func (p *prober) route(ctx context.Context, c policy.Check) (bool, string) {
	if _, err := p.routes(ctx, c.Prefix); err != nil {
		return false, err.Error()
	}
	table := c.Table
	if table == "" {
		table = "main"
	}
	if p.hasRoute(ctx, c.Prefix, table, false) {
		return true, fmt.Sprintf("route %s active in table %s", c.Prefix, table)
	}
	return false, fmt.Sprintf("no active route %s in table %s", c.Prefix, table)
}

// ping uses /tool/ping: RouterOS 7.24 dropped the root /ping command.
func (p *prober) ping(ctx context.Context, c policy.Check) (bool, string) {
	count := c.Count
	if count <= 0 {
		count = 3
	}
	words := []string{"/tool/ping", "=address=" + c.Target.String(), "=count=" + strconv.Itoa(count)}
	if c.Source.IsValid() {
		words = append(words, "=src-address="+c.Source.String())
	}
	// A ping takes about a second per packet; the call deadline must cover it.
	rep, err := p.d.c.runProbe(withCallTimeout(ctx, time.Duration(count+5)*time.Second), words...)
	if err != nil {
		return false, fmt.Sprintf("ping %s: %v", c.Target, err)
	}
	sent, recv := 0, 0
	for _, r := range rep.Re {
		if v, err := strconv.Atoi(r["sent"]); err == nil && v > sent {
			sent = v
		}
		if v, err := strconv.Atoi(r["received"]); err == nil && v > recv {
			recv = v
		}
	}
	if sent == 0 {
		sent = count
	}
	loss := 100 - recv*100/sent
	ev := fmt.Sprintf("ping %s: %d/%d replies, %d%% loss", c.Target, recv, sent, loss)
	return recv > 0, ev
}
