package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/rossim"
)

// rosNet is the cgnat-chr-relay network on two RouterOS simulators, one
// agent per router, bootstrapped and applied: sites first (RouterOS makes
// the WireGuard keys), then the keys, the link and the eBGP session.
type rosNet struct {
	*world
	ctx    context.Context
	sims   map[string]*rossim.Sim
	keys   map[string]string // WireGuard public keys the routers generated
	full   map[string]string // the network as applied by c2
	c2     string
	start  startFunc
	agents map[string]*agentProc
	opts   rosOptions
}

var rosSites = []string{"relay", "home"}

// rosOptions shape the far side of the routers.
type rosOptions struct {
	// upstreamAlways makes home's upstream probe answer with or without a
	// route (otherwise it answers only through the ::/0 learnt by BGP).
	upstreamAlways bool
	// homeAgentExtra is appended to home's agent config (a [notify]
	// section).
	homeAgentExtra string
}

func newROSNet(t *testing.T, ctx context.Context, o rosOptions) *rosNet {
	t.Helper()
	n := &rosNet{world: newWorld(t), ctx: ctx, sims: map[string]*rossim.Sim{}, keys: map[string]string{},
		start: localStart(ctx), agents: map[string]*agentProc{}, opts: o}
	for site, version := range map[string]string{"relay": "7.20.8", "home": "7.22.3"} {
		// The relay is a CHR (defconf = false in its site): it boots bare.
		sim, err := rossim.New(rossim.Config{Version: version, Logf: t.Logf, Bare: site == "relay"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sim.Close() })
		n.sims[site] = sim
	}
	sims := make([]*rossim.Sim, 0, len(n.sims))
	for _, s := range n.sims {
		sims = append(sims, s)
	}
	tickOnWallClock(t, sims...)

	files := exampleFiles(t, "cgnat-chr-relay")
	fastHealth(t, files)
	// Bootstrap: the sites and their WireGuard interfaces, no link, no key
	// (RouterOS generates it), no upstream probe (it needs the link).
	boot := map[string]string{}
	for name, content := range files {
		if strings.HasPrefix(name, "links/") {
			continue
		}
		boot[name] = pubKeyLine.ReplaceAllString(content, "")
	}
	boot["sites/home.toml"] = strings.Split(boot["sites/home.toml"], "[[probe]]")[0]
	c1 := n.commit(boot, "bootstrap: sites and WireGuard interfaces")
	for _, site := range rosSites {
		n.startROSAgent(site)
	}
	for site, note := range n.waitNotes(ctx, c1, rosSites...) {
		wantResult(t, site, note, notes.Applied)
	}
	for _, site := range rosSites {
		rows, _, err := n.sims[site].Exec("/interface/wireguard/print", "=.proplist=name,public-key")
		if err != nil || len(rows) == 0 || rows[0]["public-key"] == "" {
			t.Fatalf("read %s public key: %v %v", site, rows, err)
		}
		n.keys[site] = rows[0]["public-key"]
	}
	var reachable []string
	if o.upstreamAlways {
		reachable = []string{"2001:db8:ffff:1e6::1/128"}
	}
	n.sims["home"].SetWorld(rossim.World{Reachable: reachable, FarEnds: []rossim.FarEnd{{
		Name: "relay", PublicKey: n.keys["relay"], AcceptKey: n.keys["home"], EndpointAddress: "203.0.113.10", EndpointPort: 51820,
		TransitAddress: "2001:db8:100::1", ASN: 64512, ExpectRouterASN: 64513, Announces: []string{"::/0"},
		HandshakeAfter: rossim.Duration(time.Second), EstablishAfter: rossim.Duration(2 * time.Second),
	}}})
	n.sims["relay"].SetWorld(rossim.World{FarEnds: []rossim.FarEnd{{
		Name: "home", PublicKey: n.keys["home"], AcceptKey: n.keys["relay"], DialsIn: true, ExpectListenPort: 51820,
		TransitAddress: "2001:db8:100::2", ASN: 64513, ExpectRouterASN: 64512, Announces: []string{"2001:db8:100::/48"},
		HandshakeAfter: rossim.Duration(time.Second), EstablishAfter: rossim.Duration(2 * time.Second),
	}}})

	n.full = clone(files)
	setKey(t, n.full, "relay", n.keys["relay"])
	setKey(t, n.full, "home", n.keys["home"])
	n.c2 = n.commit(n.full, "relay-home: WireGuard transit and eBGP")
	for site, note := range n.waitNotes(ctx, n.c2, rosSites...) {
		a := wantResult(t, site, note, notes.Applied)
		if !checkPassed(a, "handshake ") || !checkPassed(a, "bgp ") {
			t.Fatalf("%s: c2 applied without a passing handshake and BGP check:\n%s", site, describe(note))
		}
	}
	return n
}

// checkPassed reports whether the attempt has a passing must-pass check
// whose name starts with prefix.
func checkPassed(a notes.Attempt, prefix string) bool {
	for _, c := range a.Checks {
		if strings.HasPrefix(c.Name, prefix) && c.Status == notes.Pass && c.MustPass {
			return true
		}
	}
	return false
}

// failedCheck returns the first failing must-pass check.
func failedCheck(a notes.Attempt) (notes.Check, bool) {
	for _, c := range a.Checks {
		if c.Status == notes.Fail && c.MustPass {
			return c, true
		}
	}
	return notes.Check{}, false
}

func (n *rosNet) stateDir(site string) string { return filepath.Join(n.dir, "state-"+site) }

func (n *rosNet) startROSAgent(site string) *agentProc {
	n.t.Helper()
	cfg := routerOSAgentConfig(n.world, site, n.stateDir(site), n.sims[site].Addr())
	if site == "home" {
		cfg += n.opts.homeAgentExtra
	}
	a := n.startAgent(site, cfg, n.start)
	n.agents[site] = a
	return a
}

// routerOSAgentConfig is the agent config for a router whose API is at
// addr (plain API, the simulator's empty admin password).
func routerOSAgentConfig(w *world, site, stateDir, addr string) string {
	w.t.Helper()
	pw := filepath.Join(w.dir, "empty-password")
	if err := os.WriteFile(pw, nil, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return w.agentConfig(site, stateDir, fmt.Sprintf(`[routeros]
address = %q
username = "admin"
password_file = %q
tls = false
timeout = "5s"
`, addr, pw))
}

// tickOnWallClock runs the simulators' schedulers on the wall clock, as a
// real router's run on their own, so a dead-man fires without the test.
func tickOnWallClock(t *testing.T, sims ...*rossim.Sim) {
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go func() {
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				for _, s := range sims {
					s.Tick()
				}
			}
		}
	}()
}

// snapshot prints the owned configuration of a router that a revert must
// restore exactly (no counters, no handshake times).
func snapshot(t *testing.T, sim *rossim.Sim) string {
	t.Helper()
	menus := []struct{ path, props string }{
		{"/interface/wireguard", "name,listen-port,mtu,comment"},
		{"/interface/wireguard/peers", "interface,public-key,endpoint-address,endpoint-port,allowed-address,persistent-keepalive,comment"},
		{"/ipv6/address", "address,interface,advertise,comment"},
		{"/ipv6/route", "dst-address,gateway,blackhole,distance,comment,bgp"},
		{"/routing/filter/rule", "chain,rule,comment"},
		{"/routing/bgp/connection", "name,remote.address,remote.as,local.role,input.filter,output.filter,output.network,comment"},
		{"/ipv6/firewall/filter", "chain,action,comment"},
		{"/system/scheduler", "name"},
		{"/system/script", "name"},
	}
	var b strings.Builder
	for _, m := range menus {
		rows, _, err := sim.Exec(m.path+"/print", "=.proplist="+m.props)
		if err != nil {
			t.Fatalf("snapshot %s: %v", m.path, err)
		}
		for _, r := range rows {
			if r["bgp"] == "true" {
				continue // learnt, not configured: comes back on its own schedule
			}
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteString(m.path)
			for _, k := range keys {
				fmt.Fprintf(&b, " %s=%s", k, r[k])
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// diffLines shows how two router exports differ, line by line.
func diffLines(a, b string) string {
	return cmp.Diff(strings.Split(a, "\n"), strings.Split(b, "\n"))
}

// bgpDefault reports whether home has learnt ::/0 by BGP.
func bgpDefault(t *testing.T, sim *rossim.Sim) bool {
	t.Helper()
	rows, _, err := sim.Exec("/ipv6/route/print", "=.proplist=dst-address,bgp", "?dst-address=::/0")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r["bgp"] == "true" {
			return true
		}
	}
	return false
}

// TestRouterOSBGPFilterMistake (scenario 4): home's import filter accepts
// only a prefix the relay does not send, so ::/0 is not received, the
// upstream probe fails, and home reverts; the relay, whose rendering the
// commit does not change, reports unchanged. The fix then applies. Home's
// [notify] webhook hears of the revert, and of nothing else.
func TestRouterOSBGPFilterMistake(t *testing.T) {
	t.Parallel()
	ctx := scenarioCtx(t, 3*time.Minute)
	hook := newWebhookReceiver(t)
	n := newROSNet(t, ctx, rosOptions{homeAgentExtra: hook.agentConfig(t)})
	home := n.sims["home"]
	if !bgpDefault(t, home) {
		t.Fatal("home has no BGP ::/0 after c2")
	}
	before := snapshot(t, home)

	bad := clone(n.full)
	replace(t, bad, "links/relay-home.toml", `import = ["::/0"]`, `import = ["2001:db8:ffff::/48"]`)
	c3 := n.commit(bad, "home: import only the provider /48 (mistake: drops ::/0)")
	start := time.Now()
	notesC3 := n.waitNotes(ctx, c3, rosSites...)
	a := wantResult(t, "home", notesC3["home"], notes.Reverted)
	t.Logf("home reverted %s after the push: %s", time.Since(start).Round(time.Second), a.Reason)
	if fc, ok := failedCheck(a); !ok || !strings.Contains(fc.Name, "upstream-v6") || fc.Evidence == "" {
		t.Errorf("home's note lacks the failing upstream probe with evidence:\n%s", describe(notesC3["home"]))
	}
	if !strings.Contains(a.Reason, "gate failed") {
		t.Errorf("home's revert reason = %q", a.Reason)
	}
	hook.wantReverted(ctx, t, "home", c3, "upstream-v6")
	if a.Plan == nil || a.Plan.Adds+a.Plan.Sets+a.Plan.Removes == 0 {
		t.Errorf("home's note has no plan summary:\n%s", describe(notesC3["home"]))
	}
	wantResult(t, "relay", notesC3["relay"], notes.Unchanged, notes.Applied)
	if got := snapshot(t, home); got != before {
		t.Errorf("home not restored exactly:\n%s", diffLines(before, got))
	}
	if err := eventually(ctx, func() bool { return bgpDefault(t, home) }); err != nil {
		t.Errorf("home did not learn ::/0 again after the revert")
	}

	fixed := clone(n.full)
	replace(t, fixed, "links/relay-home.toml", `description = "`, `description = "(v2) `)
	c4 := n.commit(fixed, "relay-home: back to importing ::/0, clearer description")
	for site, note := range n.waitNotes(ctx, c4, rosSites...) {
		wantResult(t, site, note, notes.Applied)
	}
	if !bgpDefault(t, home) {
		t.Error("home has no BGP ::/0 after the fix")
	}
	// The reverted commit stays quarantined: one attempt, however many
	// polls have gone by.
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if nt, _ := n.note("home", c3); nt == nil || len(nt.Attempts) != 1 {
		t.Errorf("quarantined commit retried at home:\n%s", describe(nt))
	}
	if extra := len(hook.got); extra != 0 {
		t.Errorf("home notified %d more outcomes after the revert (applied is not configured)", extra)
	}
}

// TestRouterOSDeadmanAfterAgentKilled (scenario 5): the home agent is
// SIGKILLed while gating a change; the router's own scheduler runs the
// dead-man script at deadline + margin and restores the router with no
// agent alive; the restarted agent finds its journal, sees the router
// reverted itself, and records a reverted note.
func TestRouterOSDeadmanAfterAgentKilled(t *testing.T) {
	t.Parallel()
	ctx := scenarioCtx(t, 3*time.Minute)
	n := newROSNet(t, ctx, rosOptions{upstreamAlways: true})
	home := n.sims["home"]
	before := snapshot(t, home)

	bad := clone(n.full)
	bad["sites/relay.toml"] = pubKeyLine.ReplaceAllString(bad["sites/relay.toml"], fmt.Sprintf("public_key = %q\n", typo(n.keys["relay"])))
	c3 := n.commit(bad, "relay: update public key (typo)")
	agent := n.agents["home"]
	agent.waitLog(ctx, t, "gating "+c3[:12], step(c3, "gating"))
	agent.kill(t)
	killed := time.Now()
	t.Logf("home agent killed while gating %s", c3[:12])

	mid := snapshot(t, home)
	if mid == before || !strings.Contains(mid, "/system/scheduler name=tether-deadman-") {
		t.Fatalf("change not applied behind a dead-man when the agent died:\n%s", diffLines(before, mid))
	}
	if nt, _ := n.note("home", c3); nt != nil {
		t.Fatalf("note before the agent could write one:\n%s", describe(nt))
	}
	// Nobody but the router's scheduler can restore it now: gate deadline
	// 20s + margin 5s.
	err := eventually(ctx, func() bool {
		for _, r := range home.ScriptRuns() {
			if r.Origin == "scheduler" && strings.HasPrefix(r.Name, "tether-deadman-") {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("the dead-man never ran (script runs: %+v)", home.ScriptRuns())
	}
	t.Logf("the router's dead-man ran %s after the kill", time.Since(killed).Round(time.Second))
	for _, r := range home.ScriptRuns() {
		if r.Err != nil {
			t.Errorf("dead-man script %s failed: %v", r.Name, r.Err)
		}
	}
	if got := snapshot(t, home); got != before {
		t.Fatalf("the dead-man did not restore the router exactly:\n%s", diffLines(before, got))
	}

	agent = n.startROSAgent("home")
	nt := n.waitNote(ctx, "home", c3, nil)
	a := wantResult(t, "home", nt, notes.Reverted)
	if !strings.Contains(a.Reason, "agent stopped while gating") {
		t.Errorf("reason = %q, want the interrupted transaction", a.Reason)
	}
	agent.waitLog(ctx, t, "dead-man had fired", func(l logLine) bool { return strings.HasPrefix(l.str("msg"), "dead-man had fired") })
	if got := snapshot(t, home); got != before {
		t.Errorf("router changed by the recovery:\n%s", diffLines(before, got))
	}
	// The relay's rendering does not carry its own key: unchanged.
	wantResult(t, "relay", n.waitNote(ctx, "relay", c3, nil), notes.Unchanged, notes.Applied)
	// Quarantined: the restarted agent does not try c3 again.
	if err := sleepCtx(ctx, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	if nt, _ := n.note("home", c3); len(nt.Attempts) != 1 {
		t.Errorf("c3 retried after recovery:\n%s", describe(nt))
	}
}

// TestRouterOSRemoteGone (scenario 6): the remote disappears while both
// agents gate a good change. They finish it, keep the config, keep their
// notes in their clones, write nothing to the routers while the remote is
// away, and publish the notes once it is back.
func TestRouterOSRemoteGone(t *testing.T) {
	t.Parallel()
	ctx := scenarioCtx(t, 3*time.Minute)
	n := newROSNet(t, ctx, rosOptions{upstreamAlways: true})

	// Both ends must gate at once: the change has to reach both routers'
	// link configuration (a comment alone is one-ended, and the example's
	// rollout waves would run the relay first and alone).
	good := clone(n.full)
	replace(t, good, "links/relay-home.toml", `description = "`, `description = "(v2) `)
	replace(t, good, "sites/relay.toml", "mtu = 1420", "mtu = 1400")
	replace(t, good, "sites/home.toml", "mtu = 1420", "mtu = 1400")
	c3 := n.commit(good, "relay-home: clearer description, MTU 1400 at both ends")
	for _, site := range rosSites {
		n.agents[site].waitLog(ctx, t, "gating "+c3[:12], step(c3, "gating"))
	}
	away := n.bare + ".away"
	if err := os.Rename(n.bare, away); err != nil {
		t.Fatal(err)
	}
	t.Log("remote renamed away while both agents gate")
	renamedBack := false
	defer func() {
		if !renamedBack {
			_ = os.Rename(away, n.bare)
		}
	}()
	for _, site := range rosSites {
		n.agents[site].waitLog(ctx, t, "applied "+c3[:12], step(c3, "done"))
		n.agents[site].waitLog(ctx, t, "publish failure", func(l logLine) bool { return l.str("step") == "publish" })
	}
	writes := map[string]int64{}
	snaps := map[string]string{}
	for _, site := range rosSites {
		writes[site] = n.sims[site].Stats().Writes
		snaps[site] = snapshot(t, n.sims[site])
		if !strings.Contains(snaps[site], "(v2)") {
			t.Errorf("%s: c3 not in effect:\n%s", site, snaps[site])
		}
		// The note is in the agent's own clone, not in the remote.
		out, err := n.git("", "--git-dir", filepath.Join(n.stateDir(site), "repo.git"), "notes", "--ref", "tether/"+site, "show", c3)
		if err != nil {
			t.Fatalf("%s: no local note on c3: %v", site, err)
		}
		local, err := notes.Parse([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		wantResult(t, site, local, notes.Applied)
		if _, err := n.git("", "--git-dir", away, "notes", "--ref", "tether/"+site, "show", c3); err == nil {
			t.Errorf("%s: note reached the remote while it was away", site)
		}
	}
	// A few polls without the remote: retries, no writes, config kept.
	for _, site := range rosSites {
		n.agents[site].waitLog(ctx, t, "sync failure", func(l logLine) bool { return l.str("msg") == "sync failed; retrying" })
	}
	if err := sleepCtx(ctx, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, site := range rosSites {
		if w := n.sims[site].Stats().Writes; w != writes[site] {
			t.Errorf("%s: %d writes while the remote was away", site, w-writes[site])
		}
		if s := snapshot(t, n.sims[site]); s != snaps[site] {
			t.Errorf("%s: config changed while the remote was away:\n%s", site, diffLines(snaps[site], s))
		}
	}

	if err := os.Rename(away, n.bare); err != nil {
		t.Fatal(err)
	}
	renamedBack = true
	t.Log("remote back")
	// The agents' retry backoff is at most 4 poll intervals (4s) plus
	// jitter: 20s is plenty.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	published := eventually(wctx, func() bool {
		for _, site := range rosSites {
			if nt, _ := n.note(site, c3); nt == nil {
				return false
			}
		}
		return true
	}) == nil
	if !published {
		t.Fatal("notes written while the remote was away were not published after it came back")
	}
	for _, site := range rosSites {
		wantResult(t, site, n.waitNote(ctx, site, c3, nil), notes.Applied)
	}
}

// TestRouterOSInvalidCommit (scenario 7): a commit with a TOML syntax
// error is rejected at every site before any device is touched (no write
// on either simulator), with a note pointing at file:line, and is not
// retried.
func TestRouterOSInvalidCommit(t *testing.T) {
	t.Parallel()
	ctx := scenarioCtx(t, 3*time.Minute)
	n := newROSNet(t, ctx, rosOptions{upstreamAlways: true})
	snaps := map[string]string{}
	for _, site := range rosSites {
		n.sims[site].ResetStats()
		snaps[site] = snapshot(t, n.sims[site])
	}
	bad := clone(n.full)
	replace(t, bad, "sites/home.toml", "asn = 64513\n", "asn = 64513 64514\n")
	line := 1 + strings.Count(bad["sites/home.toml"][:strings.Index(bad["sites/home.toml"], "asn = 64513 64514")], "\n")
	c3 := n.commit(bad, "home: broken TOML")
	where := fmt.Sprintf("sites/home.toml:%d", line)
	for site, note := range n.waitNotes(ctx, c3, rosSites...) {
		a := wantResult(t, site, note, notes.Rejected)
		if !anyContains(a.Errors, where) {
			t.Errorf("%s: errors do not point at %s: %q", site, where, a.Errors)
		}
		t.Logf("%s: %s %q", site, a.Reason, a.Errors)
	}
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, site := range rosSites {
		if s := n.sims[site].Stats(); s.Writes != 0 {
			t.Errorf("%s: %d writes for a rejected commit", site, s.Writes)
		}
		if s := snapshot(t, n.sims[site]); s != snaps[site] {
			t.Errorf("%s: config changed:\n%s", site, diffLines(snaps[site], s))
		}
		if nt, _ := n.note(site, c3); len(nt.Attempts) != 1 {
			t.Errorf("%s: rejected commit retried:\n%s", site, describe(nt))
		}
	}
	// The next valid commit applies.
	fixed := clone(n.full)
	replace(t, fixed, "links/relay-home.toml", `description = "`, `description = "(v2) `)
	c4 := n.commit(fixed, "home: fix TOML; clearer link description")
	for site, note := range n.waitNotes(ctx, c4, rosSites...) {
		wantResult(t, site, note, notes.Applied)
	}
}
