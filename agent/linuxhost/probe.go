package linuxhost

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// Prober runs a Linux site's health checks; it satisfies agent.Prober.
//
// WireGuard is read through the Runner (`wg show IFACE dump`), which works
// wherever the Runner runs — inside a lab host's mount namespace too, where
// wireguard-go's UAPI socket lives in the host's private /run/wireguard.
// BIRD is read with birdc over its control socket, ping and TCP probes run
// through the Runner.
type Prober struct {
	Runner     Runner
	BirdSocket string           // default DefaultBirdSocket
	Now        func() time.Time // default time.Now
	// BGPProtocol names the BIRD protocol of a session; default
	// "bgp_" + render/linux.BirdName(session), as bird.conf is rendered.
	BGPProtocol func(session string) string
}

// Probe implements agent.Prober.
func (p *Prober) Probe(ctx context.Context, checks []policy.Check) []contract.CheckResult {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	out := make([]contract.CheckResult, len(checks))
	wg := map[string]map[string]wgPeerState{} // iface -> pubkey -> state, read once per probe
	wgErr := map[string]error{}
	for i, c := range checks {
		r := contract.CheckResult{Name: c.Name, Kind: string(c.Kind)}
		switch c.Kind {
		case policy.CheckHandshake:
			if _, ok := wg[c.Interface]; !ok && wgErr[c.Interface] == nil {
				peers, err := p.wgPeers(ctx, c.Interface)
				wg[c.Interface], wgErr[c.Interface] = peers, err
			}
			if err := wgErr[c.Interface]; err != nil {
				r.Evidence = err.Error()
				break
			}
			st := wg[c.Interface][c.PublicKey.String()]
			r.OK, r.Evidence = handshakeResult(st, c, now())
			r.Since = st.handshake // the gate tells a handshake after the change from an old one
		case policy.CheckBGP:
			r.OK, r.Evidence = p.bgp(ctx, c)
		case policy.CheckRoute:
			r.OK, r.Evidence = p.route(ctx, c)
		case policy.CheckPing:
			r.OK, r.Evidence = p.ping(ctx, c)
		case policy.CheckTCP:
			r.OK, r.Evidence = p.tcp(ctx, c)
		default:
			r.Evidence = fmt.Sprintf("unknown check kind %q", c.Kind)
		}
		r.At = now()
		out[i] = r
	}
	return out
}

// Provoke pings each check's Target once from this host: a packet for the
// peer makes WireGuard start a handshake (agent.Provoker). It returns what
// each ping saw.
func (p *Prober) Provoke(ctx context.Context, checks []policy.Check) []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		_, out[i] = p.ping(ctx, policy.Check{Target: c.Target, Count: 1})
	}
	return out
}

type wgPeerState struct {
	present   bool
	handshake time.Time
	rx, tx    int64
}

func handshakeResult(s wgPeerState, c policy.Check, now time.Time) (bool, string) {
	switch {
	case !s.present:
		return false, fmt.Sprintf("peer %s is not configured on %s", c.PeerName, c.Interface)
	case s.handshake.IsZero():
		return false, fmt.Sprintf("no handshake yet (rx %d B, tx %d B)", s.rx, s.tx)
	}
	age := now.Sub(s.handshake).Round(time.Second)
	if age < 0 {
		age = 0
	}
	ok := c.MaxAge <= 0 || age <= c.MaxAge
	return ok, fmt.Sprintf("last handshake %s ago (max %s), rx %d B, tx %d B", age, c.MaxAge, s.rx, s.tx)
}

func (p *Prober) wgPeers(ctx context.Context, iface string) (map[string]wgPeerState, error) {
	dump, err := run(ctx, p.Runner, "wg", "show", iface, "dump")
	if err != nil {
		return nil, err
	}
	return parseWGDump(dump)
}

// parseWGDump reads the peer lines of `wg show IFACE dump` (the first line
// is the interface and holds its private key: it is skipped unread).
func parseWGDump(dump []byte) (map[string]wgPeerState, error) {
	out := map[string]wgPeerState{}
	lines := strings.Split(strings.TrimRight(string(dump), "\n"), "\n")
	for i, line := range lines {
		if i == 0 || line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			return nil, fmt.Errorf("wg dump: peer line %d has %d fields, want 8", i, len(f))
		}
		hs, err1 := strconv.ParseInt(f[4], 10, 64)
		rx, err2 := strconv.ParseInt(f[5], 10, 64)
		tx, err3 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("wg dump: peer line %d: bad number", i)
		}
		s := wgPeerState{present: true, rx: rx, tx: tx}
		if hs > 0 {
			s.handshake = time.Unix(hs, 0)
		}
		out[f[0]] = s
	}
	return out, nil
}

func (p *Prober) birdSocket() string {
	if p.BirdSocket != "" {
		return p.BirdSocket
	}
	return DefaultBirdSocket
}

func (p *Prober) protocol(session string) string {
	if p.BGPProtocol != nil {
		return p.BGPProtocol(session)
	}
	return "bgp_" + linux.BirdName(session)
}

// BirdProtocol is the part of `birdc show protocols all NAME` the gate
// judges.
type BirdProtocol struct {
	Name, State, Since, BGPState string
	Imported, Exported           int
}

// ParseBirdProtocol parses `birdc show protocols all NAME` output.
func ParseBirdProtocol(out string) (BirdProtocol, bool) {
	var bp BirdProtocol
	found := false
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		f := strings.Fields(t)
		switch {
		case len(f) >= 5 && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") && f[0] != "Name" && f[0] != "BIRD":
			bp.Name, bp.State, bp.Since, found = f[0], f[3], f[4], true
		case strings.HasPrefix(t, "BGP state:"):
			bp.BGPState = strings.TrimSpace(strings.TrimPrefix(t, "BGP state:"))
		case strings.HasPrefix(t, "Routes:"):
			// "Routes:         1 imported, 2 exported, 1 preferred"
			for _, part := range strings.Split(strings.TrimPrefix(t, "Routes:"), ",") {
				pf := strings.Fields(part)
				if len(pf) == 2 {
					n, _ := strconv.Atoi(pf[0])
					switch pf[1] {
					case "imported":
						bp.Imported += n
					case "exported":
						bp.Exported += n
					}
				}
			}
		}
	}
	return bp, found
}

func (p *Prober) bgp(ctx context.Context, c policy.Check) (bool, string) {
	name := p.protocol(c.Session)
	out, err := run(ctx, p.Runner, "birdc", "-s", p.birdSocket(), "show", "protocols", "all", name)
	if err != nil {
		return false, err.Error()
	}
	bp, ok := ParseBirdProtocol(string(out))
	if !ok {
		return false, fmt.Sprintf("no BIRD protocol %s: %s", name, strings.TrimSpace(string(out)))
	}
	ev := fmt.Sprintf("%s %s, %d imported, %d exported", name, bp.BGPState, bp.Imported, bp.Exported)
	if bp.BGPState != "Established" {
		return false, ev
	}
	if len(c.Expect) == 0 {
		return true, ev
	}
	rout, err := run(ctx, p.Runner, "birdc", "-s", p.birdSocket(), "show", "route", "protocol", name)
	if err != nil {
		return false, ev + "; " + err.Error()
	}
	have := map[netip.Prefix]bool{}
	for _, line := range strings.Split(string(rout), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if pfx, err := netip.ParsePrefix(f[0]); err == nil {
				have[pfx.Masked()] = true
			}
		}
	}
	var missing, got []string
	for _, e := range c.Expect {
		if have[e.Masked()] {
			got = append(got, e.String())
		} else {
			missing = append(missing, e.String())
		}
	}
	ev += " (" + strings.Join(got, ", ") + ")"
	if len(missing) > 0 {
		return false, ev + "; missing " + strings.Join(missing, ", ")
	}
	return true, ev
}

func (p *Prober) route(ctx context.Context, c policy.Check) (bool, string) {
	fam := "-4"
	if c.Prefix.Addr().Is6() {
		fam = "-6"
	}
	args := []string{fam, "route", "show", "exact", c.Prefix.Masked().String()}
	if c.Table != "" && c.Table != "main" {
		args = append(args, "table", c.Table)
	}
	out, err := run(ctx, p.Runner, "ip", args...)
	if err != nil {
		return false, err.Error()
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return false, "no route " + c.Prefix.String()
	}
	return true, strings.SplitN(s, "\n", 2)[0]
}

func (p *Prober) ping(ctx context.Context, c policy.Check) (bool, string) {
	count := c.Count
	if count <= 0 {
		count = 3
	}
	args := []string{"-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2"}
	if c.Source.IsValid() {
		args = append(args, "-I", c.Source.String())
	}
	args = append(args, c.Target.String())
	out, errb, code, err := p.Runner.Run(ctx, "ping", args...)
	if err != nil {
		return false, err.Error()
	}
	summary := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "packets transmitted") || strings.HasPrefix(line, "rtt ") {
			if summary != "" {
				summary += "; "
			}
			summary += strings.TrimSpace(line)
		}
	}
	if summary == "" {
		summary = toolMessage(out, errb)
	}
	return code == 0, summary
}

func (p *Prober) tcp(ctx context.Context, c policy.Check) (bool, string) {
	target := fmt.Sprintf("[%s]:%d", c.Target, c.Port)
	_, errb, code, err := p.Runner.Run(ctx, "timeout", "3", "bash", "-c", `exec 3<>"/dev/tcp/$1/$2"`, "tcp", c.Target.String(), strconv.Itoa(c.Port))
	if err != nil {
		return false, err.Error()
	}
	if code != 0 {
		return false, fmt.Sprintf("connect %s failed: %s", target, strings.TrimSpace(string(errb)))
	}
	return true, "connected to " + target
}

// Probe makes the Device an agent.Prober too, reading through the same
// Runner and BIRD socket it applies with.
func (d *Device) Probe(ctx context.Context, checks []policy.Check) []contract.CheckResult {
	p := &Prober{Runner: d.o.Runner, BirdSocket: d.o.BirdSocket, Now: d.o.Now}
	return p.Probe(ctx, checks)
}

// Provoke makes the Device an agent.Provoker, pinging through the same
// Runner it applies with.
func (d *Device) Provoke(ctx context.Context, checks []policy.Check) []string {
	p := &Prober{Runner: d.o.Runner}
	return p.Provoke(ctx, checks)
}
