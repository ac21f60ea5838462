//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
	"github.com/tether-net/tether/test/rossim/linuxdp"
)

// rwTools are what road-warrior-s2s needs in the lab: wireguard-go, wg and
// ping for the routers' dataplanes, wg-quick for the laptop's profile.
var rwTools = []string{"git", "wg-quick", "wireguard-go", "wg", "bash", "ping"}

var rwSites = []string{"site-a", "site-b"}

// The LANs behind the routers: a host on site A's HOME VLAN and one on
// site B's LAN, each with its router's address as gateway.
const (
	homeHost = "10.0.10.2"
	homeGW   = "10.0.10.1"
	lanBHost = "172.16.0.2"
	lanBGW   = "172.16.0.1"
	laptopIP = "10.200.200.3"
)

// rwNet is repo-example/road-warrior-s2s in a lab: two simulated RouterOS
// routers, each with a real dataplane in its lab host (site-a at 7.22.3,
// site-b at 7.18 as the sites declare), a host on each router's LAN, and a
// road-warrior laptop that runs the wg-quick profile tether renders for
// it. The routers' LAN interfaces (site A's bridge-trunk, site B's defconf
// bridge) are veths to the LAN hosts.
type rwNet struct {
	*world
	l      *lab.Lab
	ctx    context.Context
	sims   map[string]*rossim.Sim
	files  map[string]string // the full network, the routers' keys filled in after bootstrap
	agents map[string]*agentProc
	laptop wgtypes.Key
}

// simInHost starts a RouterOS simulator whose dataplane lives in h, with
// the RouterOS interfaces of links mapped to h's veths.
func simInHost(t *testing.T, h *lab.Host, version string, links map[string]string) *rossim.Sim {
	t.Helper()
	sim, err := rossim.New(rossim.Config{Version: version, Logf: t.Logf,
		Dataplane: linuxdp.New(linuxdp.InHost(h), linuxdp.Options{Logf: t.Logf, LinkNames: links})})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// Closed after the agents stop (cleanups run in reverse) and before
	// the lab goes: the dataplane's wireguard-go lives in h.
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// mustExec runs an API sentence on a simulator, as an operator at the
// router's terminal would.
func mustExec(t *testing.T, sim *rossim.Sim, words ...string) []map[string]string {
	t.Helper()
	rows, _, err := sim.Exec(words...)
	if err != nil {
		t.Fatalf("%v: %v", words, err)
	}
	return rows
}

// hostsRun runs ip commands in lab hosts, failing the test on an error.
func hostsRun(t *testing.T, ctx context.Context, cmds ...hostCmd) {
	t.Helper()
	for _, c := range cmds {
		if _, err := c.h.Output(ctx, c.args[0], c.args[1:]...); err != nil {
			t.Fatalf("%s: %v: %v", c.h.Name(), c.args, err)
		}
	}
}

type hostCmd struct {
	h    *lab.Host
	args []string
}

func newRWNet(t *testing.T, ctx context.Context) *rwNet {
	t.Helper()
	lab.Require(t, rwTools...)
	n := &rwNet{world: newWorld(t), ctx: ctx, sims: map[string]*rossim.Sim{}, agents: map[string]*agentProc{}}
	spec := lab.Star("inet", "site-a", "site-b", "laptop")
	spec.Hosts = append(spec.Hosts, lab.HostSpec{Name: "home-a"}, lab.HostSpec{Name: "lan-b"})
	for i := range spec.Hosts {
		if strings.HasPrefix(spec.Hosts[i].Name, "site-") {
			spec.Hosts[i].Forward = true // routers
		}
	}
	spec.Links = append(spec.Links,
		lab.Link{A: lab.Endpoint{Host: "site-a", Iface: "eth-home"}, B: lab.Endpoint{Host: "home-a", Iface: "eth0"}},
		lab.Link{A: lab.Endpoint{Host: "site-b", Iface: "eth-lan"}, B: lab.Endpoint{Host: "lan-b", Iface: "eth0"}})
	n.l = lab.New(t, spec)
	n.sims["site-a"] = simInHost(t, n.l.Host("site-a"), "7.22.3", map[string]string{"ether1": "eth0", "bridge-trunk": "eth-home"})
	n.sims["site-b"] = simInHost(t, n.l.Host("site-b"), "7.18", map[string]string{"ether1": "eth0", "bridge": "eth-lan"})
	tickOnWallClock(t, n.sims["site-a"], n.sims["site-b"])
	t.Cleanup(n.world.close)

	siteA, siteB := n.l.Host("site-a").Addr4().String(), n.l.Host("site-b").Addr4().String()
	f := exampleFiles(t, "road-warrior-s2s")
	fastHealth(t, f)
	// The lab's underlay stands in for the documentation addresses.
	replace(t, f, "sites/site-a.toml", `endpoint = "203.0.113.20:51820"`, fmt.Sprintf("endpoint = %q", siteA+":51820"))
	replace(t, f, "links/site-a-site-b.toml", `"203.0.113.20:51821"`, fmt.Sprintf("%q", siteA+":51821"))
	replace(t, f, "links/site-a-site-b.toml", `"198.51.100.30:51821"`, fmt.Sprintf("%q", siteB+":51821"))
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	n.laptop = k
	setPeerKey(t, f, "laptop-thinkpad", k.PublicKey().String())
	n.files = f

	// The LAN hosts: addresses in the sites' private ranges (outside the
	// lab's documentation ranges, so set here) and their routers as
	// gateways. Site B's LAN address is the operator's; site A's is put on
	// bridge-trunk with the bridge itself (see run).
	hostsRun(t, ctx,
		hostCmd{n.l.Host("home-a"), []string{"ip", "addr", "add", homeHost + "/24", "dev", "eth0"}},
		hostCmd{n.l.Host("home-a"), []string{"ip", "route", "add", "default", "via", homeGW}},
		hostCmd{n.l.Host("lan-b"), []string{"ip", "addr", "add", lanBHost + "/24", "dev", "eth0"}},
		hostCmd{n.l.Host("lan-b"), []string{"ip", "route", "add", "default", "via", lanBGW}})
	mustExec(t, n.sims["site-b"], "/ip/address/add", "=address="+lanBGW+"/24", "=interface=bridge", "=comment=LAN")
	return n
}

var peerKeyLine = regexp.MustCompile(`(?m)^public_key = "[^"]*"$`)

// setPeerKey sets an external peer's public key (peers/<name>.toml).
func setPeerKey(t *testing.T, files map[string]string, peer, key string) {
	t.Helper()
	name := "peers/" + peer + ".toml"
	if len(peerKeyLine.FindAllString(files[name], -1)) != 1 {
		t.Fatalf("%s: want one public_key line", name)
	}
	files[name] = peerKeyLine.ReplaceAllString(files[name], fmt.Sprintf("public_key = %q", key))
}

// setWGKey sets the public_key of one [[wireguard]] of a site file that has
// several: the first public_key line after its name.
func setWGKey(t *testing.T, files map[string]string, site, iface, key string) {
	t.Helper()
	name := "sites/" + site + ".toml"
	s := files[name]
	i := strings.Index(s, fmt.Sprintf("name = %q\n", iface))
	if i < 0 {
		t.Fatalf("%s: no [[wireguard]] %s", name, iface)
	}
	loc := peerKeyLine.FindStringIndex(s[i:])
	if loc == nil {
		t.Fatalf("%s: no public_key after %s", name, iface)
	}
	files[name] = s[:i+loc[0]] + fmt.Sprintf("public_key = %q", key) + s[i+loc[1]:]
}

// routerKey reads the public key RouterOS generated for a WireGuard
// interface.
func routerKey(t *testing.T, sim *rossim.Sim, iface string) string {
	t.Helper()
	rows := mustExec(t, sim, "/interface/wireguard/print", "=.proplist=name,public-key", "?name="+iface)
	if len(rows) != 1 || rows[0]["public-key"] == "" {
		t.Fatalf("no key for %s: %v", iface, rows)
	}
	return rows[0]["public-key"]
}

// withoutProbes drops every [[probe]] of a site file (they sit at the end).
func withoutProbes(s string) string { return strings.Split(s, "[[probe]]")[0] }

// profileUp renders the external peer's (first) wg-quick profile with the tether
// binary from the operator's work tree, as the user of the device would
// get it, fills in the device's private key where the profile asks for it,
// and brings it up with wg-quick in h. The profile's DNS line is dropped:
// wg-quick would hand it to resolvconf, which writes the machine's shared
// /etc (lab hosts have a private /run, not a private /etc).
func profileUp(t *testing.T, ctx context.Context, w *world, h *lab.Host, peer string, key wgtypes.Key) (iface string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, tetherBin, "render", "--peer", peer, w.work).CombinedOutput()
	if err != nil {
		t.Fatalf("tether render --peer %s: %v\n%s", peer, err, out)
	}
	m := regexp.MustCompile(`(?m)^# ==> (\S+)\.conf <==\n`).FindSubmatchIndex(out)
	if m == nil {
		t.Fatalf("tether render --peer %s: no file header:\n%s", peer, out)
	}
	iface = string(out[m[2]:m[3]])
	prof, _, _ := strings.Cut(string(out[m[1]:]), "# ==> ") // the first profile of several
	const ask = "# PrivateKey = <paste the device's private key>"
	if !strings.Contains(prof, ask) {
		t.Fatalf("profile does not ask for the private key:\n%s", prof)
	}
	prof = strings.Replace(prof, ask, "PrivateKey = "+key.String(), 1)
	prof = regexp.MustCompile(`(?m)^DNS = .*\n`).ReplaceAllString(prof, "")
	path := h.Path(iface + ".conf")
	if err := os.WriteFile(path, []byte(prof), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errb, code, err := h.Run(ctx, "wg-quick", "up", path); err != nil || code != 0 {
		t.Fatalf("%s: wg-quick up %s: exit %d %v\n%s", h.Name(), path, code, err, errb)
	}
	t.Logf("%s: profile %s up (rendered by tether render --peer %s)", h.Name(), iface, peer)
	return iface
}

// noteHistory fetches the notes into the operator's clone and returns what
// `tether history` prints there.
func noteHistory(t *testing.T, ctx context.Context, w *world) string {
	t.Helper()
	w.mustGit(w.work, "fetch", "-q", "origin", "refs/notes/tether/*:refs/notes/tether/*")
	out, err := exec.CommandContext(ctx, tetherBin, "history", "--limit", "10", w.work).CombinedOutput()
	if err != nil {
		t.Fatalf("tether history: %v\n%s", err, out)
	}
	return string(out)
}

// historyCommit is the line `tether history` starts a commit with (a
// reason can span lines).
var historyCommit = regexp.MustCompile(`^[0-9a-f]{12} `)

// historyLines returns the lines `tether history` prints for a site's
// attempts on commit (a witnessed gate shows its "gating" step too).
func historyLines(hist, commit, site string) string {
	var out []string
	in := false
	for _, l := range strings.Split(hist, "\n") {
		if historyCommit.MatchString(l) {
			in = strings.HasPrefix(l, commit[:12]+" ")
			continue
		}
		if f := strings.Fields(l); in && len(f) > 1 && f[0] == site {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (n *rwNet) startAgents() {
	n.t.Helper()
	for _, site := range rwSites {
		cfg := routerOSAgentConfig(n.world, site, filepath.Join(n.dir, "state-"+site), n.sims[site].Addr())
		n.agents[site] = n.startAgent(site, cfg, localStart(n.ctx))
	}
}

// pings checks the two paths the write-up is for: site A's HOME LAN to
// site B's LAN over the site-to-site tunnel, and the laptop to a HOME host
// over wg-remote.
func (n *rwNet) pings(t *testing.T, ctx context.Context, within time.Duration) {
	t.Helper()
	start := time.Now()
	for _, c := range []struct{ from, src, dst string }{
		{"home-a", homeHost, lanBHost},
		{"lan-b", lanBHost, homeHost},
		{"laptop", laptopIP, homeHost},
	} {
		if err := pingFrom(ctx, n.l.Host(c.from), c.src, c.dst, within); err != nil {
			n.dump(t, ctx)
			t.Fatalf("%s -> %s: %v", c.from, c.dst, err)
		}
	}
	t.Logf("LAN to LAN over wg-site and laptop to HOME over wg-remote (%s)", time.Since(start).Round(100*time.Millisecond))
}

func (n *rwNet) dump(t *testing.T, ctx context.Context) {
	dumpHosts(t, ctx, n.l, []string{"site-a", "site-b", "laptop"}, []string{"wg", "show"}, []string{"ip", "-4", "route"}, []string{"ip", "-4", "addr"})
	for _, s := range rwSites {
		t.Logf("%s router:\n%s", s, snapshot(t, n.sims[s]))
	}
}

// TestRoadWarriorS2S runs repo-example/road-warrior-s2s end to end: the
// first commit is refused by plan before any write because R1 lacks the
// bridge-trunk the site uses; the operator creates it (with the HOME
// address, as R1's deployment would) and the next commit applies; the
// routers' keys go in and the site-to-site tunnel comes up; a laptop
// running the profile tether renders reaches the HOME LAN, and the LANs
// reach each other; a commit with site B's key one character off is
// reverted by site A's gate, the next good commit applies, and the notes
// (read with git notes and tether history) say so.
func TestRoadWarriorS2S(t *testing.T) {
	ctx := scenarioCtx(t, 4*time.Minute)
	n := newRWNet(t, ctx)
	start := time.Now()

	// 1. Bootstrap: sites and road warriors, no site-to-site link, no
	// router keys (RouterOS makes them), no probes (they need the link).
	boot := map[string]string{}
	for name, content := range n.files {
		switch {
		case strings.HasPrefix(name, "links/"):
		case strings.HasPrefix(name, "sites/"):
			boot[name] = withoutProbes(pubKeyLine.ReplaceAllString(content, ""))
		default:
			boot[name] = content
		}
	}
	c0 := n.commit(boot, "road warriors and site-to-site: sites first")
	n.startAgents()
	a := wantResult(t, "site-a", n.waitNote(ctx, "site-a", c0, nil), notes.Rejected)
	if !strings.Contains(a.Reason, "interface bridge-trunk (sites/site-a.toml: ") || !strings.Contains(a.Reason, "does not exist on the router") {
		t.Errorf("site-a's rejection does not name the missing bridge-trunk and where the site uses it: %q", a.Reason)
	}
	if w := n.sims["site-a"].Stats().Writes; w != 0 {
		t.Errorf("site-a: %d writes for a refused plan", w)
	}
	n.waitNote(ctx, "site-b", c0, nil)
	mustExec(t, n.sims["site-a"], "/interface/bridge/add", "=name=bridge-trunk", "=comment=VLAN trunk (R1 deployment)")
	mustExec(t, n.sims["site-a"], "/ip/address/add", "=address="+homeGW+"/24", "=interface=bridge-trunk", "=comment=HOME")
	c1 := n.commit(boot, "road warriors and site-to-site: sites first (bridge-trunk made on R1)")
	for site, nt := range n.waitNotes(ctx, c1, rwSites...) {
		wantResult(t, site, nt, notes.Applied)
	}

	// 2. The keys RouterOS made, and the link.
	setWGKey(t, n.files, "site-a", "wg-remote", routerKey(t, n.sims["site-a"], "wg-remote"))
	setWGKey(t, n.files, "site-a", "wg-site", routerKey(t, n.sims["site-a"], "wg-site"))
	setWGKey(t, n.files, "site-b", "wg-site", routerKey(t, n.sims["site-b"], "wg-site"))
	c2 := n.commit(n.files, "site-a-site-b: the site-to-site tunnel")
	for site, nt := range n.waitNotes(ctx, c2, rwSites...) {
		a := wantResult(t, site, nt, notes.Applied)
		if !checkPassed(a, "handshake wg-site/") || !checkPassed(a, "ping ") {
			t.Errorf("%s: applied without a passing site-to-site handshake and transit ping:\n%s", site, describe(nt))
		}
	}
	t.Logf("converged from empty in %s", time.Since(start).Round(time.Second))
	profileUp(t, ctx, n.world, n.l.Host("laptop"), "laptop-thinkpad", n.laptop)
	n.pings(t, ctx, 20*time.Second)
	before := snapshot(t, n.sims["site-a"])

	// 3. Site B's key one character off: site A's peer for site B never
	// handshakes, its gate fails and it reverts.
	bad := clone(n.files)
	setWGKey(t, bad, "site-b", "wg-site", typo(routerKey(t, n.sims["site-b"], "wg-site")))
	c3 := n.commit(bad, "site-b: update public key (typo)")
	pushed := time.Now()
	ns := n.waitNotes(ctx, c3, rwSites...)
	a = wantResult(t, "site-a", ns["site-a"], notes.Reverted)
	t.Logf("site-a reverted %s after the push: %s", time.Since(pushed).Round(time.Second), a.Reason)
	if fc, ok := failedCheck(a); !ok || (fc.Name != "handshake wg-site/site-b" && fc.Name != "ping site-b-transit") || fc.Evidence == "" {
		t.Errorf("site-a's note lacks the failing site-to-site check with evidence:\n%s", describe(ns["site-a"]))
	}
	// A router's own public key is not in its rendering (RouterOS keeps
	// the key pair): the commit changes nothing at site B.
	wantResult(t, "site-b", ns["site-b"], notes.Unchanged)
	if got := snapshot(t, n.sims["site-a"]); got != before {
		t.Errorf("site-a not restored exactly:\n%s", diffLines(before, got))
	}
	n.pings(t, ctx, 30*time.Second)

	// 4. The next good commit applies at both ends; the bad one is not
	// retried.
	good := clone(n.files)
	replace(t, good, "links/site-a-site-b.toml", `description = "`, `description = "(v2) `)
	c4 := n.commit(good, "site-a-site-b: clearer description")
	for site, nt := range n.waitNotes(ctx, c4, rwSites...) {
		wantResult(t, site, nt, notes.Applied)
	}
	n.pings(t, ctx, 20*time.Second)
	if nt, _ := n.note("site-a", c3); nt == nil || len(nt.Attempts) != 1 {
		t.Errorf("quarantined commit retried at site-a:\n%s", describe(nt))
	}

	// 5. What the operator reads back: tether history from the notes.
	hist := noteHistory(t, ctx, n.world)
	for _, c := range []struct {
		commit, site, want string
	}{
		{c0, "site-a", "rejected"}, {c1, "site-a", "applied"}, {c3, "site-a", "reverted"}, {c4, "site-a", "applied"}, {c4, "site-b", "applied"},
	} {
		if l := historyLines(hist, c.commit, c.site); !strings.Contains(l, c.want) {
			t.Errorf("tether history for %s at %s: %q, want %s\n%s", c.site, c.commit[:12], l, c.want, hist)
		}
	}
	if l := historyLines(hist, c3, "site-a"); !strings.Contains(l, "gate failed") {
		t.Errorf("tether history does not say why %s reverted: %q", c3[:12], l)
	}
	t.Logf("scenario took %s", time.Since(start).Round(time.Second))
}
