//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/lab"
)

// linuxTools are what the Linux device runs for the ula-mesh sites.
var linuxTools = []string{"git", "wg-quick", "nft", "radvd", "keepalived", "bash", "setsid", "sysctl", "ping"}

var meshSites = []string{"relay", "edge-a", "edge-b"}

// siteNet is each edge's /64 and the address the edge has in it.
var siteNet = map[string]string{"edge-a": "fd00:1234:0:a::1", "edge-b": "fd00:1234:0:b::1"}

// mesh is the ula-mesh example in a lab: the "inet" router of lab.Star and
// one host per site, each running its own `tether run`.
type mesh struct {
	*world
	l      *lab.Lab
	ctx    context.Context // lives as long as the agents
	files  map[string]string
	agents map[string]*agentProc
}

// labStart runs the agent inside a lab host (its network, mount and UTS
// namespaces), its log appended to logPath.
func labStart(ctx context.Context, h *lab.Host) startFunc {
	return func(cfg, logPath string) (int, func(syscall.Signal) error, <-chan struct{}, error) {
		p, err := h.Start(ctx, "sh", "-c", `exec "$0" run --config "$1" >>"$2" 2>&1`, tetherBin, cfg, logPath)
		if err != nil {
			return 0, nil, nil, err
		}
		return p.PID(), p.Signal, p.Done(), nil
	}
}

func newMesh(t *testing.T, ctx context.Context) *mesh {
	t.Helper()
	lab.Require(t, linuxTools...)
	m := &mesh{world: newWorld(t), ctx: ctx, agents: map[string]*agentProc{}}
	m.l = lab.New(t, lab.Star("inet", "relay", "edge-a", "edge-b"))
	// Registered after the lab: runs before the lab's Close, so the agents
	// get their SIGTERM while their namespaces still exist.
	t.Cleanup(m.close)

	f := exampleFiles(t, "ula-mesh")
	// Site A's VRRP fallback edge-a2 has no host in this lab
	// (TestULAVRRPFailover runs it): the relay would wait for its handshake.
	delete(f, "sites/edge-a2.toml")
	delete(f, "links/relay-edge-a2.toml")
	replace(t, f, "network.toml", `"edge-a2", `, "")
	relay := m.l.Host("relay")
	for _, l := range []string{"links/relay-edge-a.toml", "links/relay-edge-b.toml"} {
		// The lab has no DNS: dial the relay's underlay address.
		replace(t, f, l, `"relay.example.net:51820"`, `"`+relay.Addr4().String()+`:51820"`)
	}
	fastHealth(t, f)
	for _, site := range []string{"edge-a", "edge-b"} {
		// Lab workaround: `tether run` in a lab host manages daemons
		// directly (no systemd), and its Direct manager has no stand-in
		// for systemd-networkd, so the edges' eth0 cannot be a networkd
		// interface. The site /64 address, which networkd would add, is
		// put on eth0 by the lab below instead.
		replace(t, f, "sites/"+site+".toml", "networkd = true\ndhcp = true\naccept_ra = true\n", "")
	}
	for _, site := range meshSites {
		h := m.l.Host(site)
		noResolver(t, ctx, h)
		keygen(t, f, site, h.Path("keys"), "wgvpnr01")
		if a, ok := siteNet[site]; ok {
			if _, err := h.Output(ctx, "ip", "addr", "add", a+"/64", "dev", "eth0", "nodad"); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.files = f
	return m
}

func (m *mesh) startAgents() {
	m.t.Helper()
	for _, site := range meshSites {
		h := m.l.Host(site)
		cfg := m.agentConfig(site, h.Path("state"), fmt.Sprintf(`[linux]
root = %q
key_dir = %q
`, h.Dir(), h.Path("keys")))
		m.agents[site] = m.startAgent(site, cfg, labStart(m.ctx, h))
	}
}

// keygen writes <dir>/<iface>.key as `tether keygen` does (base64 and a
// newline, 0600) and commits its public key in the site's file.
func keygen(t *testing.T, files map[string]string, site, dir, iface string) {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, iface+".key"), []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	setKey(t, files, site, k.PublicKey().String())
}

// noResolver makes DNS fail at once inside a lab host (see
// lab.Host.BlockResolvers).
func noResolver(t *testing.T, ctx context.Context, h *lab.Host) {
	t.Helper()
	if err := h.BlockResolvers(ctx); err != nil {
		t.Fatal(err)
	}
}

// pingFrom waits until h reaches dst (from src, if set), one echo per try.
func pingFrom(ctx context.Context, h *lab.Host, src, dst string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return h.PingFrom(ctx, src, dst)
}

// pingBoth checks the edges reach each other's /64 through the relay.
func (m *mesh) pingBoth(t *testing.T, ctx context.Context, within time.Duration) {
	t.Helper()
	start := time.Now()
	for _, c := range [][2]string{{"edge-a", "edge-b"}, {"edge-b", "edge-a"}} {
		if err := pingFrom(ctx, m.l.Host(c[0]), siteNet[c[0]], siteNet[c[1]], within); err != nil {
			m.dump(t, ctx)
			t.Fatal(err)
		}
	}
	t.Logf("edges reach each other's /64 through the relay (%s)", time.Since(start).Round(100*time.Millisecond))
}

// dump logs each host's tunnel, routes and addresses, for failures.
func (m *mesh) dump(t *testing.T, ctx context.Context) { dumpHosts(t, ctx, m.l, meshSites) }

// labState is what dumpHosts shows of a host by default.
var labState = [][]string{{"wg", "show"}, {"ip", "-6", "route"}, {"ip", "-6", "addr"}}

// dumpHosts logs the output of cmds (labState if none) on each of sites,
// for failures.
func dumpHosts(t *testing.T, ctx context.Context, l *lab.Lab, sites []string, cmds ...[]string) {
	if len(cmds) == 0 {
		cmds = labState
	}
	for _, site := range sites {
		for _, cmd := range cmds {
			out, errb, _, _ := l.Host(site).Run(ctx, cmd[0], cmd[1:]...)
			t.Logf("%s: %v:\n%s%s", site, cmd, out, errb)
		}
	}
}

// handshakes returns the relay's peers' latest handshakes by public key.
func (m *mesh) handshakes(t *testing.T, ctx context.Context, site string) map[string]time.Time {
	t.Helper()
	w, err := m.l.Host(site).WGShow(ctx, "wgvpnr01")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, p := range w.Peers {
		out[p.PublicKey] = p.LatestHandshake
	}
	return out
}

func (m *mesh) key(site string) string {
	return strings.Trim(strings.TrimPrefix(pubKeyLine.FindString(m.files["sites/"+site+".toml"]), "public_key = "), "\"\n")
}

// TestLinuxULAMesh runs scenarios 1-3 on one lab, in order: bootstrap from
// empty, a bad commit reverted where it breaks, the next good commit
// applied with the bad one never retried.
func TestLinuxULAMesh(t *testing.T) {
	ctx := scenarioCtx(t, 8*time.Minute)
	m := newMesh(t, ctx)
	var c2 string

	ok := t.Run("bootstrap", func(t *testing.T) {
		sctx := scenarioCtx(t, 3*time.Minute)
		start := time.Now()
		c1 := m.commit(m.files, "ula-mesh: relay and two edges")
		m.startAgents()
		for site, n := range m.waitNotes(sctx, c1, meshSites...) {
			a := wantResult(t, site, n, notes.Applied)
			if !checkPassed(a, "handshake wgvpnr01/") {
				t.Errorf("%s: applied without a passing handshake check:\n%s", site, describe(n))
			}
		}
		t.Logf("converged from empty in %s", time.Since(start).Round(time.Second))
		hs := m.handshakes(t, sctx, "relay")
		for _, e := range []string{"edge-a", "edge-b"} {
			if hs[m.key(e)].IsZero() {
				t.Errorf("relay: no handshake with %s: %v", e, hs)
			}
		}
		routes, err := m.l.Host("relay").Output(sctx, "ip", "-6", "route", "show", "dev", "wgvpnr01")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"fd00:1234:0:a::/64", "fd00:1234:0:b::/64"} {
			if !strings.Contains(string(routes), p) {
				t.Errorf("relay: no route to %s via wgvpnr01:\n%s", p, routes)
			}
		}
		for _, e := range []string{"edge-a", "edge-b"} {
			out, err := m.l.Host(e).Output(sctx, "ip", "-6", "route", "show", "dev", "wgvpnr01")
			if err != nil || !strings.Contains(string(out), "fd00:1234::/48") {
				t.Errorf("%s: no /48 via the tunnel (%v):\n%s", e, err, out)
			}
		}
		m.pingBoth(t, sctx, 20*time.Second)
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("bad commit reverted", func(t *testing.T) {
		sctx := scenarioCtx(t, 3*time.Minute)
		bad := clone(m.files)
		// The relay's peer for edge-a gets a key one character off.
		setKey(t, bad, "edge-a", typo(m.key("edge-a")))
		c2 = m.commit(bad, "edge-a: update public key (typo)")
		pushed := time.Now()
		ns := m.waitNotes(sctx, c2, meshSites...)
		a := wantResult(t, "relay", ns["relay"], notes.Reverted)
		took := time.Since(pushed)
		t.Logf("relay reverted %s after the push: %s", took.Round(time.Second), a.Reason)
		// gate deadline 20s, plus the fetch, apply and revert.
		if took > 45*time.Second {
			t.Errorf("relay took %s to revert (gate deadline 20s)", took)
		}
		fc, found := failedCheck(a)
		if !found || fc.Name != "handshake wgvpnr01/edge-a" || fc.Evidence == "" {
			t.Errorf("relay's note lacks the failing edge-a handshake with evidence:\n%s", describe(ns["relay"]))
		}
		if a.Plan == nil || len(a.Plan.Lines) == 0 {
			t.Errorf("relay's note has no plan:\n%s", describe(ns["relay"]))
		}
		// edge-a (wave 2) waits for the relay (wave 1), which reverted:
		// the rollout halts there. (Without waves, the typo'd key would
		// fail edge-a's own bring-up check and it would revert.)
		ea := wantResult(t, "edge-a", ns["edge-a"], notes.Rejected, notes.Reverted)
		if ea.Result == notes.Rejected && !strings.Contains(ea.Reason, "rollout halted: relay (wave 1) reverted") {
			t.Errorf("edge-a rejected the commit for the wrong reason: %s", ea.Reason)
		}
		t.Logf("edge-a: %s %s", ea.Result, ea.Reason)
		wantResult(t, "edge-b", ns["edge-b"], notes.Unchanged, notes.Applied) // nothing to do: no wave wait
		w, err := m.l.Host("relay").WGShow(sctx, "wgvpnr01")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := w.Peer(m.key("edge-a")); !ok {
			t.Errorf("relay: edge-a's real key not restored: %+v", w.Peers)
		}
		m.pingBoth(t, sctx, 60*time.Second)
	})
	if !ok {
		t.FailNow()
	}

	t.Run("next good commit applies, bad one never retried", func(t *testing.T) {
		sctx := scenarioCtx(t, 3*time.Minute)
		good := clone(m.files)
		for _, site := range meshSites {
			replace(t, good, "sites/"+site+".toml", "[sysctl]\n", "[sysctl]\n\"net.ipv6.conf.all.accept_redirects\" = \"0\"\n")
		}
		c3 := m.commit(good, "all sites: ignore ICMPv6 redirects")
		for site, n := range m.waitNotes(sctx, c3, meshSites...) {
			wantResult(t, site, n, notes.Applied)
			out, err := m.l.Host(site).Output(sctx, "sysctl", "-n", "net.ipv6.conf.all.accept_redirects")
			if err != nil || strings.TrimSpace(string(out)) != "0" {
				t.Errorf("%s: accept_redirects = %q, %v", site, out, err)
			}
		}
		m.pingBoth(t, sctx, 30*time.Second)
		// Several poll intervals (1s) later, c2 still has one attempt at
		// every site.
		if err := sleepCtx(sctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, site := range meshSites {
			n, err := m.note(site, c2)
			if err != nil || n == nil || len(n.Attempts) != 1 {
				t.Errorf("%s: c2 note has %d attempts (%v):\n%s", site, attempts(n), err, describe(n))
			}
		}
		// The relay applied c2 once; edge-a at most once (its bring-up
		// check may refuse the key); edge-b never.
		for site, most := range map[string]int{"relay": 1, "edge-a": 1, "edge-b": 0} {
			n := 0
			for _, l := range m.agents[site].logs() {
				if step(c2, "applying")(l) {
					n++
				}
			}
			if n > most || (site == "relay" && n != 1) {
				t.Errorf("%s applied c2 %d times", site, n)
			}
		}
	})
}

func attempts(n *notes.Note) int {
	if n == nil {
		return 0
	}
	return len(n.Attempts)
}

func (m *mesh) close() {
	// Agents first (SIGTERM, then SIGKILL), while the lab still exists.
	m.world.close()
}
