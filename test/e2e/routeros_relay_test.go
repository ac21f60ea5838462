//go:build linux

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
	"github.com/tether-net/tether/test/rossim/linuxdp"
)

// ndpTools are what the vultr-ndp-relay sites need in the lab: the Linux
// relay's stack, and wireguard-go, wg and ping for the router's dataplane.
var ndpTools = []string{"git", "wg-quick", "wireguard-go", "wg", "nft", "ndppd", "bash", "setsid", "sysctl", "ping"}

var ndpSites = []string{"vultr", "home"}

// homeLAN is the home router's address in the reserved /64 (on its bridge);
// inetAddr, the lab router's end of its link to vultr, stands in for the
// internet.
const (
	homeLAN  = "2001:db8:1:1::1"
	inetAddr = "2001:db8:1::1"
)

// ndpRelay is repo-example/vultr-ndp-relay in a lab: a Linux VPS ("vultr",
// its NIC named enp1s0 as in the write-up) relaying a reserved /64 over
// WireGuard to a RouterOS home router. The router is the API simulator with
// a real dataplane in the "home" lab host: its WireGuard interface is a
// wireguard-go device there and its addresses and static routes are real,
// so the tunnel, the pings and the NDP proxy path all carry packets.
type ndpRelay struct {
	*world
	l      *lab.Lab
	ctx    context.Context
	sim    *rossim.Sim
	files  map[string]string // the full network, home's key filled in
	agents map[string]*agentProc
}

func newNDPRelay(t *testing.T, ctx context.Context) *ndpRelay {
	t.Helper()
	lab.Require(t, ndpTools...)
	r := &ndpRelay{world: newWorld(t), ctx: ctx, agents: map[string]*agentProc{}}
	spec := lab.Star("inet", "vultr", "home")
	for i := range spec.Links {
		if spec.Links[i].B.Host == "vultr" {
			spec.Links[i].B.Iface = "enp1s0"
		}
	}
	r.l = lab.New(t, spec)
	vultr, home, inet := r.l.Host("vultr"), r.l.Host("home"), r.l.Host("inet")

	// The router's defconf WAN port ether1 is the home host's uplink (eth0):
	// its firewall, realised by the dataplane, filters what arrives there.
	sim, err := rossim.New(rossim.Config{Version: "7.20.8", Logf: t.Logf,
		Dataplane: linuxdp.New(linuxdp.InHost(home), linuxdp.Options{Logf: t.Logf, LinkNames: map[string]string{"ether1": "eth0"}})})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// Closed after the agents stop (cleanups run in reverse) and before the
	// lab goes: the dataplane's wireguard-go lives in the home host.
	t.Cleanup(func() { _ = sim.Close() })
	r.sim = sim
	tickOnWallClock(t, sim)
	t.Cleanup(r.world.close)

	f := exampleFiles(t, "vultr-ndp-relay")
	fastHealth(t, f)
	// A gate round here is two pings of three echoes at RouterOS's 1s
	// interval, one of them never answered: ~6s. The router's dead-man
	// must not fire while the last round started before the deadline runs.
	replace(t, f, "network.toml", `deadman_margin = "5s"`, `deadman_margin = "15s"`)
	// The lab has no DNS and no 203.0.113.10: home dials vultr's underlay.
	replace(t, f, "links/vultr-home.toml", `"203.0.113.10:51820"`, `"`+vultr.Addr4().String()+`:51820"`)
	// Lab workarounds. The Direct service manager (no systemd in a lab
	// host) runs only the daemons tether renders for; the sshd drop-in's
	// reload has nothing to reload here.
	vf := f["sites/vultr.toml"]
	i, j := strings.Index(vf, "# Section 8.1 hardening."), strings.Index(vf, "# Validation checklist")
	if i < 0 || j < i {
		t.Fatal("sites/vultr.toml: the sshd hardening block moved")
	}
	f["sites/vultr.toml"] = vf[:i] + vf[j:]
	// "The internet" is the lab's inet router, never a real address. Home's
	// optional probe pings it from the LAN address, so its reply comes back
	// only if vultr's ndppd answers inet's neighbour solicitation for the
	// reserved /64 on enp1s0: the write-up's return path.
	replace(t, f, "sites/home.toml", `target = "2606:4700:4700::1111"`, fmt.Sprintf("target = %q", inetAddr))
	keygen(t, f, "vultr", vultr.Path("keys"), "wg0")
	for _, c := range []struct {
		h    *lab.Host
		args []string
	}{
		// The provider's gateway treats the whole reserved /64 as on-link
		// on the VPS's segment and asks for each address by NDP.
		{inet, []string{"-6", "route", "add", "2001:db8:1:1::/64", "dev", "eth-vultr"}},
		// An IPv4-only ISP at home: IPv6 comes only through the tunnel.
		{home, []string{"-6", "route", "del", "default"}},
	} {
		if _, err := c.h.Output(ctx, "ip", c.args...); err != nil {
			t.Fatal(err)
		}
	}
	noResolver(t, ctx, vultr)
	r.files = f
	return r
}

func (r *ndpRelay) startAgent(site string) *agentProc {
	r.t.Helper()
	var a *agentProc
	switch site {
	case "vultr":
		h := r.l.Host(site)
		cfg := r.agentConfig(site, h.Path("state"), fmt.Sprintf(`[linux]
root = %q
key_dir = %q
`, h.Dir(), h.Path("keys")))
		a = r.world.startAgent(site, cfg, labStart(r.ctx, h))
	case "home":
		// The companion host's agent talks to the router's API; where it
		// runs does not matter, its probes run on the router.
		a = r.world.startAgent(site, routerOSAgentConfig(r.world, site, r.dir+"/state-home", r.sim.Addr()), localStart(r.ctx))
	}
	r.agents[site] = a
	return a
}

// bootstrap applies the sites without their link (the router generates its
// WireGuard key on the first apply), reads home's key and applies the full
// network; both notes must be applied with passing handshakes and pings.
func (r *ndpRelay) bootstrap(t *testing.T) string {
	t.Helper()
	boot := map[string]string{}
	for name, content := range r.files {
		if !strings.HasPrefix(name, "links/") {
			boot[name] = content
		}
	}
	// No probes (they need the link), no home key, and no route through a
	// tunnel that is not there yet.
	boot["sites/vultr.toml"] = strings.Split(boot["sites/vultr.toml"], "[[probe]]")[0]
	home := strings.Split(boot["sites/home.toml"], "[[route]]")[0]
	boot["sites/home.toml"] = pubKeyLine.ReplaceAllString(home, "")
	c1 := r.commit(boot, "bootstrap: the VPS and the home router, no tunnel yet")
	for _, site := range ndpSites {
		r.startAgent(site)
	}
	for site, n := range r.waitNotes(r.ctx, c1, ndpSites...) {
		wantResult(t, site, n, notes.Applied)
	}
	rows, _, err := r.sim.Exec("/interface/wireguard/print", "=.proplist=name,public-key", "?name=wg-cloud")
	if err != nil || len(rows) != 1 || rows[0]["public-key"] == "" {
		t.Fatalf("home's wg-cloud key: %v %v", rows, err)
	}
	setKey(t, r.files, "home", rows[0]["public-key"])

	c2 := r.commit(r.files, "vultr-home: the WireGuard transit and the reserved /64")
	for site, n := range r.waitNotes(r.ctx, c2, ndpSites...) {
		a := wantResult(t, site, n, notes.Applied)
		if !checkPassed(a, "handshake ") || !checkPassed(a, "ping ") {
			t.Errorf("%s: applied without passing handshake and ping checks:\n%s", site, describe(n))
		}
	}
	return c2
}

// reachHome waits until vultr reaches the home LAN gateway through the
// tunnel: real packets, both ways, through the router's dataplane.
func (r *ndpRelay) reachHome(t *testing.T, ctx context.Context, within time.Duration) {
	t.Helper()
	if err := pingFrom(ctx, r.l.Host("vultr"), "", homeLAN, within); err != nil {
		r.dump(t, ctx)
		t.Fatal(err)
	}
}

func (r *ndpRelay) dump(t *testing.T, ctx context.Context) {
	dumpHosts(t, ctx, r.l, ndpSites)
	t.Logf("home router:\n%s", snapshot(t, r.sim))
}

// TestRouterOSBehindLinuxRelay (scenario 5): a RouterOS home router behind
// a Linux relay. The network converges over a real tunnel; a commit that
// narrows the router's allowed-address breaks the transit and is reverted
// by the agent through the API; a second bad commit is reverted by the
// router's own dead-man after the agent is SIGKILLed mid-gate; the next
// good commit applies and neither bad commit is retried.
func TestRouterOSBehindLinuxRelay(t *testing.T) {
	ctx := scenarioCtx(t, 6*time.Minute)
	r := newNDPRelay(t, ctx)
	start := time.Now()
	r.bootstrap(t)
	t.Logf("converged from empty in %s", time.Since(start).Round(time.Second))
	r.reachHome(t, ctx, 20*time.Second)
	// The reserved /64 end to end: from the home LAN address to "the
	// internet" and back through vultr's NDP proxy (static; see TL018).
	if err := pingFrom(ctx, r.l.Host("home"), homeLAN, inetAddr, 20*time.Second); err != nil {
		r.dump(t, ctx)
		t.Fatalf("the return path through the NDP proxy: %v", err)
	}
	before := snapshot(t, r.sim)

	// 1. The agent reverts: home sends only global unicast to the relay,
	// which leaves the transit ULA out, so the relay's replies are dropped.
	bad := clone(r.files)
	replace(t, bad, "links/vultr-home.toml", `allowed = ["::/0"]`, `allowed = ["2000::/3"]`)
	c3 := r.commit(bad, "home: only global unicast through the relay (mistake: drops the transit)")
	pushed := time.Now()
	ns := r.waitNotes(ctx, c3, ndpSites...)
	a := wantResult(t, "home", ns["home"], notes.Reverted)
	t.Logf("home reverted %s after the push: %s", time.Since(pushed).Round(time.Second), a.Reason)
	if fc, ok := failedCheck(a); !ok || fc.Name != "ping relay-transit" || fc.Evidence == "" {
		t.Errorf("home's note lacks the failing transit ping with evidence:\n%s", describe(ns["home"]))
	}
	wantResult(t, "vultr", ns["vultr"], notes.Unchanged)
	if got := snapshot(t, r.sim); got != before {
		t.Errorf("home not restored exactly:\n%s", diffLines(before, got))
	}
	r.reachHome(t, ctx, 30*time.Second)

	// 2. The router reverts on its own: the agent dies mid-gate.
	bad = clone(r.files)
	replace(t, bad, "links/vultr-home.toml", `allowed = ["::/0"]`, `allowed = ["2001:db8::/32"]`)
	c4 := r.commit(bad, "home: only documentation space through the relay (mistake)")
	agent := r.agents["home"]
	agent.waitLog(ctx, t, "gating "+c4[:12], step(c4, "gating"))
	agent.kill(t)
	killed := time.Now()
	mid := snapshot(t, r.sim)
	deadman := regexp.MustCompile(`/system/scheduler name=(tether-deadman-\S+)`).FindStringSubmatch(mid)
	if deadman == nil || !strings.Contains(mid, "2001:db8::/32") {
		t.Fatalf("change not applied behind a dead-man when the agent died:\n%s", diffLines(before, mid))
	}
	// The change really is in the dataplane: vultr loses the home LAN.
	if err := pingFrom(ctx, r.l.Host("vultr"), "", homeLAN, 3*time.Second); err == nil {
		// One answer can slip in before wireguard-go takes the new
		// allowed-address; by now it must be gone.
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, _, code, _ := r.l.Host("vultr").Run(ctx, "ping", "-6", "-n", "-c", "2", "-W", "1", homeLAN); code == 0 {
			t.Error("vultr still reaches the home LAN with the bad allowed-address in place")
		}
	}
	err := eventually(ctx, func() bool {
		for _, run := range r.sim.ScriptRuns() {
			if run.Origin == "scheduler" && run.Name == deadman[1] {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("the router's dead-man never ran (script runs: %+v)", r.sim.ScriptRuns())
	}
	t.Logf("the router's dead-man ran %s after the kill", time.Since(killed).Round(time.Second))
	if got := snapshot(t, r.sim); got != before {
		t.Fatalf("the dead-man did not restore the router exactly:\n%s", diffLines(before, got))
	}
	r.reachHome(t, ctx, 30*time.Second)
	r.startAgent("home")
	a = wantResult(t, "home", r.waitNote(ctx, "home", c4, nil), notes.Reverted)
	if !strings.Contains(a.Reason, "agent stopped while gating") {
		t.Errorf("reason = %q, want the interrupted transaction", a.Reason)
	}

	// 3. The next good commit applies at both ends; the bad ones stay
	// quarantined.
	good := clone(r.files)
	replace(t, good, "links/vultr-home.toml", `description = "`, `description = "(v2) `)
	c5 := r.commit(good, "vultr-home: clearer description")
	for site, n := range r.waitNotes(ctx, c5, ndpSites...) {
		wantResult(t, site, n, notes.Applied)
	}
	r.reachHome(t, ctx, 20*time.Second)
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{c3, c4} {
		if n, _ := r.note("home", c); n == nil || len(n.Attempts) != 1 {
			t.Errorf("quarantined commit %s retried at home:\n%s", c[:12], describe(n))
		}
	}
}
