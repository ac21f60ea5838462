//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
	"github.com/tether-net/tether/test/rossim/linuxdp"
)

// wgDropRule is a home firewall rule that drops WireGuard (UDP to wg-cloud's
// listen port) arriving from the WAN, ahead of defconf's accept of
// established traffic: the relay's handshake replies and tunnel packets
// never reach wireguard-go.
const wgDropRule = `
[[firewall]]
family = "ip"
chain = "input"
action = "drop"
protocol = "udp"
dst_port = "13231"
in_interface_list = "WAN"
comment = "drop WireGuard from the WAN"
place_before = "defconf: accept established,related,untracked"
`

// TestRouterOSFirewallDropsWireGuard (issue 17, done-when b): a RouterOS
// firewall rule that drops WireGuard from the WAN is applied to the
// router, its realised firewall drops the real tunnel packets, the
// agent's gate sees the transit die and reverts, and the tunnel carries
// traffic again.
func TestRouterOSFirewallDropsWireGuard(t *testing.T) {
	ctx := scenarioCtx(t, 5*time.Minute)
	r := newNDPRelay(t, ctx)
	r.bootstrap(t)
	r.reachHome(t, ctx, 20*time.Second)
	before := snapshot(t, r.sim)

	bad := clone(r.files)
	bad["sites/home.toml"] += wgDropRule
	c := r.commit(bad, "home: drop WireGuard from the WAN (mistake)")
	agent := r.agents["home"]
	agent.waitLog(ctx, t, "gating "+c[:12], step(c, "gating"))
	// While the change is in: the rule is in the router's nftables table
	// and the relay no longer reaches the home LAN through the tunnel.
	home := r.l.Host("home")
	if out, err := home.Output(ctx, "nft", "list", "table", "inet", linuxdp.NFTable); err != nil || !strings.Contains(string(out), "dport 13231") {
		t.Errorf("the drop is not in the router's firewall while gating: %v\n%s", err, out)
	}
	cut := false
	for range 10 {
		if _, _, code, _ := r.l.Host("vultr").Run(ctx, "ping", "-6", "-n", "-c", "1", "-W", "1", homeLAN); code != 0 {
			cut = true
			break
		}
	}
	if !cut {
		t.Error("vultr still reaches the home LAN with WireGuard dropped at home's WAN")
	}

	n := r.waitNote(ctx, "home", c, nil)
	a := wantResult(t, "home", n, notes.Reverted)
	fc, ok := failedCheck(a)
	if !ok || fc.Evidence == "" || !(strings.HasPrefix(fc.Name, "ping ") || strings.HasPrefix(fc.Name, "handshake ")) {
		t.Errorf("home's note lacks a failing transit check with evidence:\n%s", describe(n))
	}
	t.Logf("home reverted: %s (failed check %s: %s)", a.Reason, fc.Name, fc.Evidence)
	wantResult(t, "vultr", r.waitNote(ctx, "vultr", c, nil), notes.Unchanged)
	if got := snapshot(t, r.sim); got != before {
		t.Errorf("home not restored exactly:\n%s", diffLines(before, got))
	}
	rows, _, err := r.sim.Exec("/ip/firewall/filter/print", "?comment=tether: drop WireGuard from the WAN")
	if err != nil || len(rows) != 0 {
		t.Errorf("the drop is still on the router after the revert: %v %v", rows, err)
	}
	if out, err := home.Output(ctx, "nft", "list", "table", "inet", linuxdp.NFTable); err != nil || strings.Contains(string(out), "dport 13231") {
		t.Errorf("the drop is still in the router's firewall after the revert: %v\n%s", err, out)
	}
	r.reachHome(t, ctx, 30*time.Second)
}

// mtHosts are multi-tunnel's far ends in a lab: the VPN provider
// (server1), the mesh server (server2), and a LAN host behind the router.
var mtHosts = []string{"router", "server1", "server2"}

const (
	mtLANHost  = "192.168.1.10"
	mtLANGW    = "192.168.1.1"
	mtInternet = "203.0.113.50" // an internet address, served by the VPN provider
	mtMeshLAN  = "172.16.50.1"  // server2's remote LAN (in noVPN)
	mtWG0      = "10.8.0.2"     // the router's wg0 address
	mtWG1      = "10.20.0.2"    // the router's wg1 address
	mtServer1  = "10.8.1.1"     // the provider's tunnel address (wg0's network=)
	fwServer2  = "10.20.0.1/24" // the mesh server's tunnel address
)

// TestMultiTunnelNATAndPolicyRouting (issue 17, done-when c): the router
// of repo-example/multi-tunnel, rendered by tether and applied through the
// agent's RouterOS client to a simulator whose dataplane is real, sends
// LAN traffic as the example intends, and the far hosts see it: traffic
// to the mesh's remote LAN (in noVPN) leaves by wg1 masqueraded to the
// router's wg1 address; traffic to the internet is marked vpn by the
// mangle rule, routed by table vpn into wg0 and masqueraded to the
// router's wg0 address.
func TestMultiTunnelNATAndPolicyRouting(t *testing.T) {
	lab.Require(t, "wg-quick", "wireguard-go", "wg", "nft", "ping")
	ctx := scenarioCtx(t, 3*time.Minute)
	spec := lab.Star("inet", mtHosts...)
	spec.Hosts[1].Forward = true
	spec.Hosts = append(spec.Hosts, lab.HostSpec{Name: "lan"})
	spec.Links = append(spec.Links, lab.Link{A: lab.Endpoint{Host: "router", Iface: "lan0"}, B: lab.Endpoint{Host: "lan", Iface: "eth0"}})
	l := lab.New(t, spec)
	router, lan, s1, s2 := l.Host("router"), l.Host("lan"), l.Host("server1"), l.Host("server2")

	// The far ends' keys are the lab's: the example's public keys belong
	// to keys nobody has.
	s1Priv, s1Pub := rossim.KeyPair("server1")
	s2Priv, s2Pub := rossim.KeyPair("server2")
	f := exampleFiles(t, "multi-tunnel")
	replace(t, f, "peers/vpn-provider.toml", `public_key = "6eW+gSYjGD1Y0RWdD1hhPdfOT/W99Z4U8tSMp2N1ADs="`, fmt.Sprintf("public_key = %q", s1Pub))
	replace(t, f, "peers/vpn-provider.toml", `"server1.example.com:51820"`, fmt.Sprintf("%q", s1.Addr4().String()+":51820"))
	replace(t, f, "peers/mesh-server2.toml", `public_key = "v9hu2ToL1v7MlagH0tYwJeF8U6Kzcb/oNxCVDF2lv0k="`, fmt.Sprintf("public_key = %q", s2Pub))
	replace(t, f, "peers/mesh-server2.toml", `"server2.example.com:51820"`, fmt.Sprintf("%q", s2.Addr4().String()+":51820"))
	fsys := fstest.MapFS{}
	for name, content := range f {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	n, probs := policy.Load(fsys, ".")
	if probs.HasErrors() {
		t.Fatalf("multi-tunnel with lab keys: %v", probs)
	}
	cfg, err := ros.Render(n, "router")
	if err != nil {
		t.Fatal(err)
	}

	sim, err := rossim.New(rossim.Config{Logf: t.Logf, Dataplane: linuxdp.New(linuxdp.InHost(router),
		linuxdp.Options{Logf: t.Logf, LinkNames: map[string]string{"ether1": "eth0", "bridge": "lan0"}})})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	// The operator's LAN (the write-up's 192.168.1.0/24 on defconf's bridge).
	if _, _, err := sim.Exec("/ip/address/add", "=address="+mtLANGW+"/24", "=interface=bridge"); err != nil {
		t.Fatal(err)
	}
	dev := mikrotik.New(mikrotik.Options{Conn: mikrotik.Conn{Address: sim.Addr(), Username: "admin", Timeout: 10 * time.Second}})
	t.Cleanup(func() { dev.Close() })
	p, err := dev.PlanConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Apply(ctx, p, time.Now().Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := dev.Settle(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	rows, _, err := sim.Exec("/interface/wireguard/print", "=.proplist=name,public-key")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		keys[r["name"]] = r["public-key"]
	}

	// The far ends: plain wg-quick, each knowing only the router's address
	// in its tunnel, so an unmasqueraded LAN source would get no answer.
	for _, far := range []struct {
		h                 *lab.Host
		priv, addr, peer  string
		allowed, loopback string
	}{
		{s1, s1Priv, mtServer1 + "/32", keys["wg0"], mtWG0 + "/32", mtInternet + "/32"},
		{s2, s2Priv, fwServer2, keys["wg1"], mtWG1 + "/32", mtMeshLAN + "/32"},
	} {
		conf := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s\nListenPort = 51820\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n", far.priv, far.addr, far.peer, far.allowed)
		path := far.h.Path("etc/wireguard/wg0.conf")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, errb, code, err := far.h.RunEnv(ctx, []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go"}, "wg-quick", "up", path); err != nil || code != 0 {
			t.Fatalf("%s: wg-quick up: %d %v: %s", far.h.Name(), code, err, errb)
		}
		if _, err := far.h.Output(ctx, "ip", "addr", "add", far.loopback, "dev", "lo"); err != nil {
			t.Fatal(err)
		}
		far.h.WatchEchoSources(t, ctx)
	}
	l.Host("inet").WatchEchoSources(t, ctx)
	for _, args := range [][]string{
		{"addr", "add", mtLANHost + "/24", "dev", "eth0"},
		{"route", "add", "default", "via", mtLANGW},
	} {
		if _, err := lan.Output(ctx, "ip", args...); err != nil {
			t.Fatal(err)
		}
	}

	// To the mesh's remote LAN (in noVPN: main table, route via wg1):
	// server2 sees the router's wg1 address.
	if err := pingFrom(ctx, lan, "", mtMeshLAN, 30*time.Second); err != nil {
		dumpHosts(t, ctx, l, []string{"router", "server2"}, []string{"wg", "show"}, []string{"nft", "list", "ruleset"}, []string{"ip", "rule"})
		t.Fatal(err)
	}
	if got := s2.EchoSources(t, ctx); !slices.Equal(got, []string{mtWG1}) {
		t.Errorf("server2 saw echo requests from %v, want the router's wg1 address %s (masquerade out wg1)", got, mtWG1)
	}
	// To the internet (not in noVPN): marked vpn, table vpn's default
	// route into wg0, masqueraded: the provider sees the router's wg0
	// address, and nothing goes out of the router's WAN uplink.
	l.Host("inet").EchoSources(t, ctx)
	if err := pingFrom(ctx, lan, "", mtInternet, 30*time.Second); err != nil {
		dumpHosts(t, ctx, l, []string{"router", "server1"}, []string{"wg", "show"}, []string{"nft", "list", "ruleset"}, []string{"ip", "rule"}, []string{"ip", "route", "show", "table", "all"})
		t.Fatal(err)
	}
	if got := s1.EchoSources(t, ctx); !slices.Equal(got, []string{mtWG0}) {
		t.Errorf("the VPN provider saw echo requests from %v, want the router's wg0 address %s (mark-routing vpn, masquerade out wg0)", got, mtWG0)
	}
	if got := l.Host("inet").EchoSources(t, ctx); len(got) != 0 {
		t.Errorf("the internet router saw echo requests from %v: LAN traffic left by the WAN, not the VPN", got)
	}
	// The router's own traffic is not marked: it pings the internet
	// address by the main table, out of its WAN.
	if _, _, err := sim.Exec("/tool/ping", "=address="+mtInternet, "=count=1"); err != nil {
		t.Fatal(err)
	}
	if got := s1.EchoSources(t, ctx); len(got) != 0 {
		t.Errorf("the provider saw the router's own ping from %v; only LAN traffic is marked", got)
	}
}
