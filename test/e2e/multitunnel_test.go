//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
)

// mtTools are what multi-tunnel needs in the lab: the exit node's Linux
// stack, the router's dataplane, wg-quick for client B and the far ends.
var mtTools = []string{"git", "wg-quick", "wireguard-go", "wg", "nft", "bash", "setsid", "sysctl", "ping"}

var mtSites = []string{"router", "exit-node"}

// Addresses of the multi-tunnel write-up: the provider's gateway, the mesh
// server on wg1, client A (the exit node) on wg-mesh and its home LAN,
// client B's split-tunnel address.
const (
	mtProviderGW = "10.8.1.1"
	mtRouterWG0  = "10.8.0.2"
	mtServer2    = "10.20.0.1"
	mtClientA    = "10.99.0.2"
	mtClientALAN = "192.168.10.2"
	mtClientB    = "10.99.0.3"
)

// mtNet is repo-example/multi-tunnel in a lab: the RouterOS router (the
// simulator, its dataplane in the "router" host), the Linux site exit-node
// (client A) with its own `tether run`, client B on the wg-quick profile
// tether renders for it, and the two far ends the router dials — the VPN
// provider and the mesh server — as wg-quick hosts keyed for it.
type mtNet struct {
	*world
	l      *lab.Lab
	ctx    context.Context
	sim    *rossim.Sim
	files  map[string]string
	agents map[string]*agentProc
	keys   map[string]wgtypes.Key // private keys of the hosts tether does not manage
}

// wgFarEnd brings up a far end of the router's: a wg-quick interface in h
// listening on 51820 with addr, one peer allowed allowed.
func wgFarEnd(t *testing.T, ctx context.Context, h *lab.Host, iface string, key wgtypes.Key, addr, peerKey, allowed string) {
	t.Helper()
	conf := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s\nListenPort = 51820\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n", key, addr, peerKey, allowed)
	path := h.Path(iface + ".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errb, code, err := h.Run(ctx, "wg-quick", "up", path); err != nil || code != 0 {
		t.Fatalf("%s: wg-quick up: exit %d %v\n%s", h.Name(), code, err, errb)
	}
}

func newMTNet(t *testing.T, ctx context.Context) *mtNet {
	t.Helper()
	lab.Require(t, mtTools...)
	n := &mtNet{world: newWorld(t), ctx: ctx, agents: map[string]*agentProc{}, keys: map[string]wgtypes.Key{}}
	spec := lab.Star("inet", "router", "exit-node", "client-b", "provider", "server2")
	for i := range spec.Hosts {
		if spec.Hosts[i].Name == "router" {
			spec.Hosts[i].Forward = true // the CGNAT relay forwards wg-mesh to wg-mesh
		}
	}
	n.l = lab.New(t, spec)
	n.sim = simInHost(t, n.l.Host("router"), "7.22.3", map[string]string{"ether1": "eth0"}) // the WAN port: defconf lists ether1 in WAN
	tickOnWallClock(t, n.sim)
	t.Cleanup(n.world.close) // the agents stop before the simulator and the lab go

	addr := func(h string) string { return n.l.Host(h).Addr4().String() + ":51820" }
	f := exampleFiles(t, "multi-tunnel")
	fastHealth(t, f)
	// The lab has no DNS: every endpoint is a lab host's underlay address.
	replace(t, f, "links/router-exit-node.toml", `"router.example.com:51820"`, fmt.Sprintf("%q", addr("router")))
	replace(t, f, "sites/router.toml", `endpoint = "router.example.com:51820"`, fmt.Sprintf("endpoint = %q", addr("router")))
	replace(t, f, "peers/vpn-provider.toml", `"server1.example.com:51820"`, fmt.Sprintf("%q", addr("provider")))
	replace(t, f, "peers/mesh-server2.toml", `"server2.example.com:51820"`, fmt.Sprintf("%q", addr("server2")))
	for _, p := range []string{"client-b", "vpn-provider", "mesh-server2"} {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		n.keys[p] = k
		setPeerKey(t, f, p, k.PublicKey().String())
	}
	exitNode := n.l.Host("exit-node")
	noResolver(t, ctx, exitNode)
	keygen(t, f, "exit-node", exitNode.Path("keys"), "wg-mesh")
	// Client A's home LAN, which client B's split profile routes into the
	// tunnel: an address of it on the exit node.
	hostsRun(t, ctx, hostCmd{exitNode, []string{"ip", "addr", "add", mtClientALAN + "/24", "dev", "eth0"}})
	n.files = f
	return n
}

// TestMultiTunnel runs repo-example/multi-tunnel end to end: the router
// (sites first: RouterOS makes its three keys) and the Linux exit node
// converge with the VPN provider and the mesh server up as real WireGuard
// far ends, client B on its rendered split profile reaches client A and
// client A's LAN through the router's relay, a commit with client A's key
// one character off is reverted by the router's gate, the next good commit
// applies, and the notes say so (git notes and tether history).
func TestMultiTunnel(t *testing.T) {
	ctx := scenarioCtx(t, 4*time.Minute)
	n := newMTNet(t, ctx)
	exitNode := n.l.Host("exit-node")
	sim := n.sim
	start := time.Now()

	// 1. Bootstrap: the sites without keys on the router, the link, the
	// external peers or probes (they need the far ends, which need the
	// router's keys).
	boot := map[string]string{}
	for name, content := range n.files {
		switch {
		case strings.HasPrefix(name, "links/"), strings.HasPrefix(name, "peers/"):
		case name == "sites/router.toml":
			boot[name] = withoutProbes(pubKeyLine.ReplaceAllString(content, ""))
		case strings.HasPrefix(name, "sites/"):
			boot[name] = withoutProbes(content)
		default:
			boot[name] = content
		}
	}
	c1 := n.commit(boot, "multi-tunnel: the router and the exit node, no tunnels yet")
	n.agents["router"] = n.startAgent("router", routerOSAgentConfig(n.world, "router", n.dir+"/state-router", sim.Addr()), localStart(ctx))
	n.agents["exit-node"] = n.startAgent("exit-node", n.agentConfig("exit-node", exitNode.Path("state"),
		fmt.Sprintf("[linux]\nroot = %q\nkey_dir = %q\n", exitNode.Dir(), exitNode.Path("keys"))), labStart(ctx, exitNode))
	for site, nt := range n.waitNotes(ctx, c1, mtSites...) {
		wantResult(t, site, nt, notes.Applied)
	}

	// 2. The router's keys into the model and into its far ends.
	for _, iface := range []string{"wg0", "wg1", "wg-mesh"} {
		setWGKey(t, n.files, "router", iface, routerKey(t, sim, iface))
	}
	wgFarEnd(t, ctx, n.l.Host("provider"), "wg-prov", n.keys["vpn-provider"], mtProviderGW+"/32", routerKey(t, sim, "wg0"), mtRouterWG0+"/32")
	wgFarEnd(t, ctx, n.l.Host("server2"), "wg-s2", n.keys["mesh-server2"], mtServer2+"/24", routerKey(t, sim, "wg1"), "10.20.0.2/32")
	c2 := n.commit(n.files, "multi-tunnel: provider, mesh and the CGNAT relay")
	for site, nt := range n.waitNotes(ctx, c2, mtSites...) {
		a := wantResult(t, site, nt, notes.Applied)
		if !checkPassed(a, "handshake ") || !checkPassed(a, "ping ") {
			t.Errorf("%s: applied without passing handshake and ping checks:\n%s", site, describe(nt))
		}
	}
	for _, c := range []string{"handshake wg0/vpn-provider", "handshake wg1/mesh-server2", "ping vpn-gateway", "ping exit-node"} {
		if a := last(n.waitNote(ctx, "router", c2, nil)); !checkPassed(a, c) {
			t.Errorf("router: %s did not pass:\n%s", c, describe(n.waitNote(ctx, "router", c2, nil)))
		}
	}
	t.Logf("converged from empty in %s", time.Since(start).Round(time.Second))
	profileUp(t, ctx, n.world, n.l.Host("client-b"), "client-b", n.keys["client-b"])
	n.relayPings(t, ctx, 20*time.Second)
	before := snapshot(t, sim)

	// 3. Client A's key one character off: the router's peer for it never
	// handshakes and client A stops answering; the router reverts.
	bad := clone(n.files)
	setKey(t, bad, "exit-node", typo(exitKey(t, n.files)))
	c3 := n.commit(bad, "exit-node: update public key (typo)")
	pushed := time.Now()
	ns := n.waitNotes(ctx, c3, mtSites...)
	a := wantResult(t, "router", ns["router"], notes.Reverted)
	t.Logf("router reverted %s after the push: %s", time.Since(pushed).Round(time.Second), a.Reason)
	if fc, ok := failedCheck(a); !ok || (fc.Name != "handshake wg-mesh/client-a" && fc.Name != "ping exit-node") || fc.Evidence == "" {
		t.Errorf("router's note lacks the failing relay check with evidence:\n%s", describe(ns["router"]))
	}
	// The exit node renders its own key too (its interface checks it):
	// the rollout halts behind the router, or its own apply fails.
	e := wantResult(t, "exit-node", ns["exit-node"], notes.Rejected, notes.Reverted)
	t.Logf("exit-node: %s %s", e.Result, e.Reason)
	if got := snapshot(t, sim); got != before {
		t.Errorf("router not restored exactly:\n%s", diffLines(before, got))
	}
	n.relayPings(t, ctx, 40*time.Second)

	// 4. The next good commit applies; the bad one is not retried.
	good := clone(n.files)
	replace(t, good, "links/router-exit-node.toml", `description = "`, `description = "(v2) `)
	c4 := n.commit(good, "router-exit-node: clearer description")
	ns = n.waitNotes(ctx, c4, mtSites...)
	wantResult(t, "router", ns["router"], notes.Applied)
	wantResult(t, "exit-node", ns["exit-node"], notes.Applied, notes.Unchanged)
	n.relayPings(t, ctx, 20*time.Second)
	if nt, _ := n.note("router", c3); nt == nil || len(nt.Attempts) != 1 {
		t.Errorf("quarantined commit retried at the router:\n%s", describe(nt))
	}

	// 5. What the operator reads back.
	hist := noteHistory(t, ctx, n.world)
	for _, c := range []struct{ commit, site, want string }{
		{c2, "router", "applied"}, {c2, "exit-node", "applied"}, {c3, "router", "reverted"}, {c4, "router", "applied"},
	} {
		if l := historyLines(hist, c.commit, c.site); !strings.Contains(l, c.want) {
			t.Errorf("tether history for %s at %s: %q, want %s\n%s", c.site, c.commit[:12], l, c.want, hist)
		}
	}
	if l := historyLines(hist, c3, "router"); !strings.Contains(l, "gate failed") {
		t.Errorf("tether history does not say why %s reverted: %q", c3[:12], l)
	}
	t.Logf("scenario took %s", time.Since(start).Round(time.Second))
}

// exitKey is client A's public key in the model.
func exitKey(t *testing.T, files map[string]string) string {
	t.Helper()
	m := pubKeyLine.FindString(files["sites/exit-node.toml"])
	if m == "" {
		t.Fatal("sites/exit-node.toml: no public_key")
	}
	return strings.Trim(strings.TrimPrefix(m, "public_key = "), "\"\n")
}

// relayPings checks the CGNAT relay with real packets: client B reaches
// client A's tunnel address and client A's LAN, both only through the
// router's wg-mesh.
func (n *mtNet) relayPings(t *testing.T, ctx context.Context, within time.Duration) {
	t.Helper()
	start := time.Now()
	for _, dst := range []string{mtClientA, mtClientALAN} {
		if err := pingFrom(ctx, n.l.Host("client-b"), mtClientB, dst, within); err != nil {
			dumpHosts(t, ctx, n.l, []string{"router", "exit-node", "client-b"}, []string{"wg", "show"}, []string{"ip", "-4", "route"}, []string{"ip", "-4", "addr"})
			t.Fatalf("client B -> %s through the router: %v", dst, err)
		}
	}
	t.Logf("client B reaches client A and its LAN through the router (%s)", time.Since(start).Round(100*time.Millisecond))
}
