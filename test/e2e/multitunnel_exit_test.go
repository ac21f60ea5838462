//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/profile"
	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
)

// exitTools are what the multi-tunnel exit lab runs: the exit node's
// Linux stack, the router's dataplane, and client B's wg-quick.
var exitTools = []string{"git", "wg-quick", "wireguard-go", "wg", "nft", "bash", "setsid", "sysctl", "ping", "ip"}

var exitSites = []string{"router", "exit-node"}

// TestMultiTunnelExitViaClientA is seed 002's CGNAT relay with real
// packets: client B's ping to an internet host leaves through client A (the
// Linux site exit-node), which masquerades it, so the far host sees client
// A's uplink address, never client B's tunnel address nor the router's
// uplink. Without the exit (a later commit drops it) the same ping leaves
// by the router's own uplink, as the write-up's router commands alone do.
//
// The router is the API simulator with its dataplane (WireGuard, policy
// routing, firewall and NAT) in the "router" lab host, configured by a
// `tether run` agent; exit-node runs its own agent; client B is a lab host
// with the exit-mode profile tether renders for it.
func TestMultiTunnelExitViaClientA(t *testing.T) {
	lab.Require(t, exitTools...)
	ctx := scenarioCtx(t, 4*time.Minute)
	w := newWorld(t)
	spec := lab.Star("inet", "router", "exit-node", "client-b", "far")
	for i := range spec.Hosts {
		if spec.Hosts[i].Name == "router" {
			spec.Hosts[i].Forward = true // a router forwards; the dataplane leaves it to the lab
		}
	}
	l := lab.New(t, spec)
	router, exitNode, clientB, far := l.Host("router"), l.Host("exit-node"), l.Host("client-b"), l.Host("far")
	// The router's WAN port (defconf's WAN list, the input accept for
	// WireGuard, the masquerade) is the lab host's eth0.
	sim := simInHost(t, router, "7.22.3", map[string]string{"ether1": "eth0"})
	tickOnWallClock(t, sim)
	t.Cleanup(w.close)
	f := exampleFiles(t, "multi-tunnel")
	fastHealth(t, f)
	// Lab patches. No DNS: the exit node and client B dial the router's
	// underlay address. The provider and mesh server do not exist here:
	// their peers (which the router dials and the gate would wait for) and
	// the provider gateway probe go.
	routerEP := router.Addr4().String() + ":51820"
	replace(t, f, "links/router-exit-node.toml", `"router.example.com:51820"`, `"`+routerEP+`"`)
	replace(t, f, "sites/router.toml", `endpoint = "router.example.com:51820"`, `endpoint = "`+routerEP+`"`)
	delete(f, "peers/vpn-provider.toml")
	delete(f, "peers/mesh-server2.toml")
	f["sites/router.toml"] = regexp.MustCompile(`(?s)\[\[probe\]\]\nname = "vpn-gateway"\n.*?\n\n`).ReplaceAllString(f["sites/router.toml"], "")
	if strings.Contains(f["sites/router.toml"], "vpn-gateway") {
		t.Fatal("sites/router.toml: the vpn-gateway probe moved")
	}
	noResolver(t, ctx, exitNode)
	keygen(t, f, "exit-node", exitNode.Path("keys"), "wg-mesh")
	clientKey, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	replace(t, f, "peers/client-b.toml", `public_key = "R0o/WgReh0B5Qchiic4lXEY7XAMGP/IwdmhpOCAa8w4="`, fmt.Sprintf("public_key = %q", clientKey.PublicKey()))
	// RouterOS makes its own WireGuard keys: the router's lines go until it has.
	f["sites/router.toml"] = pubKeyLine.ReplaceAllString(f["sites/router.toml"], "")

	// Bootstrap: both sites without the link (and so without client B,
	// whose exit is the link's peer and which needs the router's key).
	boot := clone(f)
	delete(boot, "links/router-exit-node.toml")
	delete(boot, "peers/client-b.toml")
	boot["sites/router.toml"] = strings.Split(boot["sites/router.toml"], "[[probe]]")[0]
	boot["sites/exit-node.toml"] = strings.Split(boot["sites/exit-node.toml"], "[[probe]]")[0]
	c1 := w.commit(boot, "bootstrap: router and exit node, no relay yet")
	w.startAgent("router", routerOSAgentConfig(w, "router", w.dir+"/state-router", sim.Addr()), localStart(ctx))
	w.startAgent("exit-node", w.agentConfig("exit-node", exitNode.Path("state"), fmt.Sprintf("[linux]\nroot = %q\nkey_dir = %q\n", exitNode.Dir(), exitNode.Path("keys"))), labStart(ctx, exitNode))
	for site, n := range w.waitNotes(ctx, c1, exitSites...) {
		wantResult(t, site, n, notes.Applied)
	}
	rows, _, err := sim.Exec("/interface/wireguard/print", "=.proplist=name,public-key", "?name=wg-mesh")
	if err != nil || len(rows) != 1 || rows[0]["public-key"] == "" {
		t.Fatalf("router's wg-mesh key: %v %v", rows, err)
	}
	replace(t, f, "sites/router.toml", "name = \"wg-mesh\"\n", fmt.Sprintf("name = \"wg-mesh\"\npublic_key = %q\n", rows[0]["public-key"]))

	c2 := w.commit(f, "multi-tunnel: the CGNAT relay, client B exits via client A")
	for site, n := range w.waitNotes(ctx, c2, exitSites...) {
		a := wantResult(t, site, n, notes.Applied)
		if !checkPassed(a, "handshake ") || !checkPassed(a, "ping ") {
			t.Errorf("%s: applied without passing handshake and ping checks:\n%s", site, describe(n))
		}
	}

	// What the agent put on the router for the exit.
	exitRouterRows(t, sim)

	// Client B comes up with its exit-mode profile, the key pasted in.
	n := exitLoad(t, f)
	p, err := profile.Peer(n, "client-b")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 2 || p.Files[1].Name != "wg-router-exit.conf" {
		t.Fatalf("client-b profiles: %+v", p.Files)
	}
	conf := strings.Replace(string(p.Files[1].Text), profile.PrivateKeyPlaceholder, "PrivateKey = "+clientKey.String(), 1)
	if !strings.Contains(conf, "AllowedIPs = 0.0.0.0/0\n") {
		t.Fatalf("exit-mode profile:\n%s", conf)
	}
	confPath := clientB.Path("wg-router-exit.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errb, code, err := clientB.Run(ctx, "wg-quick", "up", confPath); err != nil || code != 0 {
		t.Fatalf("client-b: wg-quick up: exit %d %v\n%s%s", code, err, out, errb)
	}
	t.Cleanup(func() { _, _, _, _ = clientB.Run(context.Background(), "wg-quick", "down", confPath) })

	// The far host counts echo requests by source.
	uplink, routerUplink := exitNode.Addr4().String(), router.Addr4().String()
	farTarget := far.Addr4().String()
	nft := fmt.Sprintf(`table inet exitcount {
	chain in {
		type filter hook input priority filter; policy accept;
		icmp type echo-request ip saddr %s counter comment "from-exit-node"
		icmp type echo-request ip saddr %s counter comment "from-router"
		icmp type echo-request ip saddr 10.99.0.3 counter comment "from-client-b"
	}
}
`, uplink, routerUplink)
	nftPath := far.Path("exitcount.nft")
	if err := os.WriteFile(nftPath, []byte(nft), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errb, code, err := far.Run(ctx, "nft", "-f", nftPath); err != nil || code != 0 {
		t.Fatalf("far: nft: exit %d %v\n%s%s", code, err, out, errb)
	}
	counts := func() [3]int {
		return [3]int{exitCounter(t, ctx, far, "from-exit-node"), exitCounter(t, ctx, far, "from-router"), exitCounter(t, ctx, far, "from-client-b")}
	}
	hosts := []string{"router", "exit-node", "client-b"}

	if err := pingFrom(ctx, clientB, "", farTarget, 20*time.Second); err != nil {
		dumpHosts(t, ctx, l, hosts, []string{"wg", "show"}, []string{"ip", "route"}, []string{"ip", "rule"})
		t.Fatal(err)
	}
	if c := counts(); c[0] == 0 || c[1] != 0 || c[2] != 0 {
		t.Fatalf("echo requests at the far host from exit node / router / 10.99.0.3 = %v; want only from the exit node's uplink %s", c, uplink)
	}
	t.Logf("client B (10.99.0.3) reaches %s through client A: the far host sees %s", farTarget, uplink)

	// Control: without the exit, the router routes client B by its main
	// table out of its own uplink (defconf masquerades it there).
	before := counts()
	noExit := clone(f)
	replace(t, noExit, "peers/client-b.toml", `exit = "client-a"`, "")
	c3 := w.commit(noExit, "client-b: no exit")
	wantResult(t, "router", w.waitNote(ctx, "router", c3, nil), notes.Applied)
	if rules, _, err := sim.Exec("/routing/rule/print", "?table=exit-client-a"); err != nil || len(rules) != 0 {
		t.Fatalf("the exit rule stayed on the router: %v %v", rules, err)
	}
	if err := pingFrom(ctx, clientB, "", farTarget, 20*time.Second); err != nil {
		dumpHosts(t, ctx, l, hosts, []string{"ip", "route"}, []string{"ip", "rule"})
		t.Fatal(err)
	}
	if c := counts(); c[0] != before[0] || c[1] == before[1] || c[2] != before[2] {
		t.Fatalf("without the exit, echo requests from exit node / router / 10.99.0.3 went %v -> %v; want new ones from the router's uplink %s only", before, c, routerUplink)
	}
}

// exitRouterRows checks the router holds the exit that tether rendered —
// client A accepts 0.0.0.0/0, table exit-client-a routes the default into
// wg-mesh, client B's address looks up only that table.
func exitRouterRows(t *testing.T, sim *rossim.Sim) {
	t.Helper()
	peers, _, err := sim.Exec("/interface/wireguard/peers/print", "?name=client-a")
	if err != nil || len(peers) != 1 || !strings.Contains(peers[0]["allowed-address"], "0.0.0.0/0") {
		t.Fatalf("client-a on the router: %v %v", peers, err)
	}
	routes, _, err := sim.Exec("/ip/route/print", "?routing-table=exit-client-a")
	if err != nil || len(routes) != 1 || routes[0]["dst-address"] != "0.0.0.0/0" || routes[0]["gateway"] != "wg-mesh" {
		t.Fatalf("exit table route on the router: %v %v", routes, err)
	}
	rules, _, err := sim.Exec("/routing/rule/print", "?table=exit-client-a")
	if err != nil || len(rules) != 1 || rules[0]["src-address"] != "10.99.0.3/32" || rules[0]["action"] != "lookup-only-in-table" {
		t.Fatalf("exit rule on the router: %v %v", rules, err)
	}
}

// exitCounter reads the packet count of the far host's rule with comment.
func exitCounter(t *testing.T, ctx context.Context, far *lab.Host, comment string) int {
	t.Helper()
	out, err := far.Output(ctx, "nft", "list", "chain", "inet", "exitcount", "in")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "` + comment + `"`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no counter %q in:\n%s", comment, out)
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

func exitLoad(t *testing.T, files map[string]string) *policy.Network {
	t.Helper()
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	n, probs := policy.Load(m, ".")
	if probs.HasErrors() {
		t.Fatalf("lab network: %v", probs.Err())
	}
	return n
}
