//go:build linux

package linuxdp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-routeros/routeros/v3"

	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
	"github.com/tether-net/tether/test/rossim/linuxdp"
)

// TestRelayTunnel: a simulated RouterOS router ("home", its dataplane in a
// lab host) and a plain Linux relay running wg-quick form a real WireGuard
// tunnel, configured entirely through the RouterOS API.
func TestRelayTunnel(t *testing.T) {
	lab.Require(t, "wg-quick", "ping")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	l := lab.New(t, lab.Star("inet", "home", "relay"))
	home, relay := l.Host("home"), l.Host("relay")
	noLeftoverKeyFiles(t)

	routerPriv, routerPub := rossim.KeyPair("home")
	relayPriv, relayPub := rossim.KeyPair("relay")
	_, wrongPub := rossim.KeyPair("wrong")

	// The relay: plain wg-quick with a known key; it does not know where
	// home is (home dials out, as a router behind NAT would).
	conf := fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = fd00:7e7e::1/64, 10.7.0.1/24
ListenPort = 51820

[Peer]
PublicKey = %s
AllowedIPs = fd00:7e7e::2/128, 10.7.0.2/32, fd00:99::/64, 10.99.0.0/24
`, relayPriv, routerPub)
	if err := os.WriteFile(relay.Path("etc/wireguard/wg0.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errb, code, err := relay.RunEnv(ctx, []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go"},
		"wg-quick", "up", relay.Path("etc/wireguard/wg0.conf")); err != nil || code != 0 {
		t.Fatalf("relay: wg-quick up: %d %v: %s", code, err, errb)
	}
	mustRun(t, ctx, relay, "ip", "addr", "add", "fd00:77::1/128", "dev", "lo") // behind the relay

	logs := &logSink{t: t}
	dp := linuxdp.New(linuxdp.InHost(home), linuxdp.Options{Logf: logs.Logf})
	sim, err := rossim.New(rossim.Config{Bare: true, Dataplane: dp, Logf: logs.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() }) // before the lab's cleanup
	c := apiClient(t, ctx, sim)

	relayEP := relay.Addr4().String()
	for _, w := range [][]string{
		{"/interface/wireguard/add", "=name=wg0", "=private-key=" + routerPriv, "=listen-port=13231"},
		{"/interface/wireguard/peers/add", "=interface=wg0", "=public-key=" + relayPub, "=endpoint-address=" + relayEP,
			"=endpoint-port=51820", "=allowed-address=fd00:7e7e::1/128,10.7.0.1/32,fd00:77::/64", "=persistent-keepalive=10s"},
		{"/ipv6/address/add", "=address=fd00:7e7e::2/64", "=interface=wg0"},
		{"/ip/address/add", "=address=10.7.0.2/24", "=interface=wg0"},
		{"/interface/bridge/add", "=name=bridge1"},
		{"/ipv6/address/add", "=address=fd00:99::1/64", "=interface=bridge1"},
		{"/ip/address/add", "=address=10.99.0.1/24", "=interface=bridge1"},
		{"/ipv6/route/add", "=dst-address=fd00:77::/64", "=gateway=fd00:7e7e::1"},
		{"/ip/route/add", "=dst-address=10.66.0.0/16", "=blackhole="},
	} {
		run(t, c, w...)
	}
	if got := routes(t, ctx, home, "-6"); !slices.Contains(got, "fd00:77::/64") {
		t.Errorf("home: static IPv6 route missing: %v", got)
	}
	if got := routes(t, ctx, home, "-4"); !slices.Equal(got, []string{"10.66.0.0/16"}) {
		t.Errorf("home: IPv4 routes %v, want the blackhole", got)
	}

	// (1) A real handshake shows in the peer's read-side attributes.
	var peer map[string]string
	waitFor(t, ctx, "handshake", func() bool {
		peer = run(t, c, "/interface/wireguard/peers/print").Re[0].Map
		return peer["last-handshake"] != "" && peer["rx"] != "0" && peer["tx"] != "0"
	})
	if d, err := rossim.ParseDuration(peer["last-handshake"]); err != nil || d > 30*time.Second {
		t.Errorf("last-handshake %q, want recent", peer["last-handshake"])
	}
	if peer["current-endpoint-address"] != relayEP || peer["current-endpoint-port"] != "51820" {
		t.Errorf("current endpoint %s:%s, want %s:51820", peer["current-endpoint-address"], peer["current-endpoint-port"], relayEP)
	}

	// (2) Pings both ways: the router's /tool/ping to the relay's tunnel
	// addresses and past it by the static route; the relay to the router's
	// tunnel address and to addresses on the bridge.
	for _, a := range []string{"fd00:7e7e::1", "10.7.0.1", "fd00:77::1"} {
		if last := ping(t, c, a, 3); last["received"] != "3" || last["packet-loss"] != "0" {
			t.Errorf("/tool/ping %s: %v", a, last)
		}
	}
	for _, a := range []string{"fd00:7e7e::2", "10.7.0.2", "fd00:99::1", "10.99.0.1"} {
		if err := relay.Ping(ctx, a); err != nil {
			t.Error(err)
		}
	}

	// (3) The wrong public key on the peer: the router drops the relay's
	// session at once, so nothing gets through either way; the right key
	// brings the tunnel back.
	run(t, c, "/interface/wireguard/peers/set", "=numbers=*1", "=public-key="+wrongPub)
	if _, _, code, err := relay.Run(ctx, "ping", "-n", "-c", "2", "-W", "1", "fd00:7e7e::2"); err != nil || code == 0 {
		t.Errorf("relay reaches home with the wrong key on home's peer (exit %d, %v)", code, err)
	}
	if last := ping(t, c, "fd00:7e7e::1", 2); last["received"] != "0" {
		t.Errorf("home reaches relay with the wrong key: %v", last)
	}
	if p := run(t, c, "/interface/wireguard/peers/print").Re[0].Map; p["last-handshake"] != "" || p["public-key"] != wrongPub {
		t.Errorf("peer with the wrong key: %v", p)
	}
	if w, err := home.WGShow(ctx, "wg0"); err != nil || len(w.Peers) != 1 || w.Peers[0].PublicKey != wrongPub {
		t.Errorf("home's wg0 with the wrong key: %+v %v", w, err)
	}
	run(t, c, "/interface/wireguard/peers/set", "=numbers=*1", "=public-key="+relayPub)
	waitFor(t, ctx, "handshake after fixing the key", func() bool {
		return run(t, c, "/interface/wireguard/peers/print").Re[0].Map["last-handshake"] != ""
	})
	if last := ping(t, c, "fd00:7e7e::1", 2); last["received"] != "2" {
		t.Errorf("/tool/ping after fixing the key: %v", last)
	}
	if err := relay.Ping(ctx, "fd00:99::1"); err != nil {
		t.Error(err)
	}

	// (4) Removing everything through the API leaves home as the lab made
	// it, and stops wireguard-go.
	for _, w := range [][]string{
		{"/interface/wireguard/peers/remove", "=numbers=*1"},
		{"/ip/route/remove", "=numbers=" + run(t, c, "/ip/route/print", "?static=true").Re[0].Map[".id"]},
		{"/ipv6/route/remove", "=numbers=" + run(t, c, "/ipv6/route/print", "?static=true").Re[0].Map[".id"]},
		{"/ip/address/remove", "=numbers=*1,*2"},
		{"/ipv6/address/remove", "=numbers=*1,*2"},
		{"/interface/bridge/remove", "=numbers=bridge1"},
		{"/interface/wireguard/remove", "=numbers=wg0"},
	} {
		run(t, c, w...)
	}
	assertPristine(t, ctx, home)
	if n := wireguardGo(t, home); n != 0 {
		t.Errorf("%d wireguard-go processes left after removing the interface", n)
	}

	// Close tears down what is still configured.
	run(t, c, "/interface/wireguard/add", "=name=wg1")
	run(t, c, "/interface/bridge/add", "=name=lan")
	run(t, c, "/ip/address/add", "=address=10.98.0.1/24", "=interface=lan")
	run(t, c, "/ip/route/add", "=dst-address=10.97.0.0/16", "=gateway=lan")
	if n := wireguardGo(t, home); n != 1 {
		t.Errorf("%d wireguard-go processes for wg1, want 1", n)
	}
	if err := sim.Close(); err != nil {
		t.Errorf("sim close: %v", err)
	}
	assertPristine(t, ctx, home)
	if n := wireguardGo(t, home); n != 0 {
		t.Errorf("%d wireguard-go processes left after Close", n)
	}
	logs.assertNoSecrets(routerPriv, relayPriv)
	noLeftoverKeyFiles(t)
}

// recorder is the real runner, with a log of the commands it ran.
type recorder struct {
	linuxdp.Runner
	mu   sync.Mutex
	cmds []string
}

func (r *recorder) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, name+" "+strings.Join(args, " "))
	r.mu.Unlock()
	return r.Runner.Run(ctx, name, args...)
}

// writes returns the commands since the last call that change something.
func (r *recorder) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.cmds {
		if strings.Contains(c, " show") || strings.HasPrefix(c, "ip -j") {
			continue
		}
		out = append(out, c)
	}
	r.cmds = nil
	return out
}

// TestApplyConverges: Apply repeated changes nothing but routes (replaced
// on every Apply); after things are broken by hand it repairs them; links
// named through LinkNames get addresses but are never created or deleted.
func TestApplyConverges(t *testing.T) {
	lab.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l := lab.New(t, lab.Star("inet", "home"))
	home := l.Host("home")
	rec := &recorder{Runner: linuxdp.InHost(home)}
	logs := &logSink{t: t}
	dp := linuxdp.New(rec, linuxdp.Options{Logf: logs.Logf, LinkNames: map[string]string{"ether1": "eth0"}})
	defer dp.Close()

	priv, _ := rossim.KeyPair("home")
	_, peerPub := rossim.KeyPair("peer")
	_, otherPub := rossim.KeyPair("other")
	cfg := rossim.DataplaneConfig{
		WireGuard: []rossim.DataplaneWireGuard{{Name: "wg0", PrivateKey: priv, ListenPort: 13231, MTU: 1380, Peers: []rossim.DataplanePeer{
			{PublicKey: peerPub, PresharedKey: priv, EndpointAddress: "2001:db8:1::99", EndpointPort: 51820,
				AllowedAddress: []netip.Prefix{netip.MustParsePrefix("fd00:1::/64")}, PersistentKeepalive: 25 * time.Second},
			{PublicKey: otherPub, Disabled: true},
		}}},
		Links: []rossim.DataplaneLink{{Name: "bridge", Type: "bridge"}, {Name: "ether1", Type: "ether"}, {Name: "vlan9", Type: "vlan", Disabled: true}},
		Addresses: []rossim.DataplaneAddress{
			{Address: netip.MustParsePrefix("192.168.88.1/24"), Interface: "bridge"},
			{Address: netip.MustParsePrefix("fd00:1::2/64"), Interface: "wg0"},
			{Address: netip.MustParsePrefix("10.123.0.1/24"), Interface: "ether1"},
			{Address: netip.MustParsePrefix("10.124.0.1/24"), Interface: "vlan9"},
		},
		Routes: []rossim.DataplaneRoute{
			{Dst: netip.MustParsePrefix("fd00:2::/48"), Interface: "wg0", Distance: 1},
			{Dst: netip.MustParsePrefix("10.50.0.0/16"), Gateway: netip.MustParseAddr("192.168.88.2"), Distance: 10},
			{Dst: netip.MustParsePrefix("10.51.0.0/16"), Gateway: netip.MustParseAddr("192.168.88.3"), Distance: 1, Disabled: true},
		},
	}
	if err := dp.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	rec.writes()
	check := func(when string) {
		t.Helper()
		w, err := home.WGShow(ctx, "wg0")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if p, ok := w.Peer(peerPub); !ok || len(w.Peers) != 1 || w.ListenPort != 13231 || !p.HasPresharedKey ||
			p.Endpoint != "[2001:db8:1::99]:51820" || p.PersistentKeepalive != 25*time.Second {
			t.Errorf("%s: wg0 %+v", when, w)
		}
		if a := addrs(t, ctx, home); !slices.Contains(a, "bridge 192.168.88.1/24") || !slices.Contains(a, "wg0 fd00:1::2/64") ||
			!slices.Contains(a, "eth0 10.123.0.1/24") || !slices.Contains(a, "eth0 198.51.100.2/30") || slices.Contains(a, "vlan9 10.124.0.1/24") {
			t.Errorf("%s: addresses %v", when, a)
		}
		if r := routes(t, ctx, home, "-4"); !slices.Equal(r, []string{"10.50.0.0/16"}) {
			t.Errorf("%s: IPv4 routes %v", when, r)
		}
		if r := routes(t, ctx, home, "-6"); !slices.Equal(r, []string{"fd00:2::/48"}) {
			t.Errorf("%s: IPv6 routes %v", when, r)
		}
		if out := mustRun(t, ctx, home, "ip", "-o", "link", "show", "wg0"); !strings.Contains(out, "mtu 1380") {
			t.Errorf("%s: wg0 %s", when, out)
		}
	}
	check("first apply")

	if err := dp.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.writes() {
		if !strings.HasPrefix(c, "ip -4 route replace") && !strings.HasPrefix(c, "ip -6 route replace") {
			t.Errorf("second Apply of the same config ran %q", c)
		}
	}

	// Break things by hand; Apply repairs them.
	mustRun(t, ctx, home, "ip", "link", "del", "bridge")
	mustRun(t, ctx, home, "ip", "addr", "del", "10.123.0.1/24", "dev", "eth0")
	mustRun(t, ctx, home, "wg", "set", "wg0", "peer", peerPub, "remove")
	mustRun(t, ctx, home, "ip", "-6", "route", "del", "fd00:2::/48", "proto", strconv.Itoa(linuxdp.RouteProto))
	if err := dp.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	check("repair")
	// wireguard-go dies, taking wg0 and its address: Apply starts it again.
	pids := wireguardGoPIDs(t, home)
	if len(pids) != 1 {
		t.Fatalf("wireguard-go pids %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "wg0 gone with its wireguard-go", func() bool {
		_, _, code, _ := home.Run(ctx, "ip", "link", "show", "wg0")
		return code != 0
	})
	if err := dp.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	check("restart")

	// Change: move the peer's endpoint and the bridge address, drop the
	// IPv6 route, enable the VLAN.
	_, newPub := rossim.KeyPair("new")
	cfg.WireGuard[0].Peers[0].PublicKey = newPub
	cfg.WireGuard[0].Peers[0].EndpointAddress = "198.51.100.99"
	cfg.Addresses[0].Address = netip.MustParsePrefix("192.168.89.1/24")
	cfg.Routes = cfg.Routes[1:]
	cfg.Routes[0].Gateway = netip.MustParseAddr("192.168.89.2")
	cfg.Links[2].Disabled = false
	if err := dp.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if w, _ := home.WGShow(ctx, "wg0"); len(w.Peers) != 1 || w.Peers[0].PublicKey != newPub || w.Peers[0].Endpoint != "198.51.100.99:51820" {
		t.Errorf("endpoint change: %+v", w)
	}
	if a := addrs(t, ctx, home); slices.Contains(a, "bridge 192.168.88.1/24") || !slices.Contains(a, "bridge 192.168.89.1/24") || !slices.Contains(a, "vlan9 10.124.0.1/24") {
		t.Errorf("after change: addresses %v", a)
	}
	if r := routes(t, ctx, home, "-6"); len(r) != 0 {
		t.Errorf("after change: IPv6 routes %v", r)
	}

	// A name changes kind (bridge -> WireGuard, RouterOS allows it after a
	// remove): the old link goes, the new one comes.
	if err := dp.Apply(rossim.DataplaneConfig{WireGuard: []rossim.DataplaneWireGuard{{Name: "bridge", PrivateKey: priv, ListenPort: 13231}}}); err != nil {
		t.Fatal(err)
	}
	if w, err := home.WGShow(ctx, "bridge"); err != nil || w.ListenPort != 13231 {
		t.Errorf("bridge as WireGuard: %+v %v", w, err)
	}

	// Nothing configured: only what the lab made is left, eth0 included.
	if err := dp.Apply(rossim.DataplaneConfig{}); err != nil {
		t.Fatal(err)
	}
	assertPristine(t, ctx, home)
	if n := wireguardGo(t, home); n != 0 {
		t.Errorf("%d wireguard-go left", n)
	}
	logs.assertNoSecrets(priv)
}

// --- helpers ---

type logSink struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logSink) Logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	l.t.Log(s)
}

func (l *logSink) assertNoSecrets(keys ...string) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		for _, k := range keys {
			if strings.Contains(line, k) {
				l.t.Errorf("a private key was logged: %q", line)
			}
		}
	}
}

func noLeftoverKeyFiles(t *testing.T) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "rossim-wgkey-*")); len(m) != 0 {
		t.Errorf("key files left behind: %v", m)
	}
}

func apiClient(t *testing.T, ctx context.Context, s *rossim.Sim) *routeros.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	c, err := routeros.NewClient(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("admin", ""); err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c *routeros.Client, words ...string) *routeros.Reply {
	t.Helper()
	r, err := c.RunArgs(words)
	if err != nil {
		t.Fatalf("%v: %v", words, err)
	}
	return r
}

// ping runs /tool/ping and returns its last row (the totals).
func ping(t *testing.T, c *routeros.Client, addr string, count int) map[string]string {
	t.Helper()
	r := run(t, c, "/tool/ping", "=address="+addr, "=count="+strconv.Itoa(count), "=interval=200ms")
	if len(r.Re) != count {
		t.Fatalf("/tool/ping %s: %d rows, want %d", addr, len(r.Re), count)
	}
	return r.Re[len(r.Re)-1].Map
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lab.WaitFor(ctx, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustRun(t *testing.T, ctx context.Context, h *lab.Host, name string, args ...string) string {
	t.Helper()
	out, err := h.Output(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// routes lists the destinations of linuxdp's routes in h.
func routes(t *testing.T, ctx context.Context, h *lab.Host, fam string) []string {
	t.Helper()
	var rs []struct {
		Dst string `json:"dst"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, ctx, h, "ip", "-j", fam, "route", "show", "proto", strconv.Itoa(linuxdp.RouteProto), "table", "all")), &rs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Dst)
	}
	return out
}

// addrs lists "link address/len" for every global address in h.
func addrs(t *testing.T, ctx context.Context, h *lab.Host) []string {
	t.Helper()
	var ls []struct {
		Name  string `json:"ifname"`
		Addrs []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
			Scope     string `json:"scope"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, ctx, h, "ip", "-j", "addr", "show")), &ls); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		for _, a := range l.Addrs {
			if a.Scope == "global" {
				out = append(out, fmt.Sprintf("%s %s/%d", l.Name, a.Local, a.PrefixLen))
			}
		}
	}
	return out
}

// assertPristine: h has exactly what lab.Star gave it (lo, eth0 and its
// underlay addresses) and no linuxdp routes.
func assertPristine(t *testing.T, ctx context.Context, h *lab.Host) {
	t.Helper()
	var ls []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, ctx, h, "ip", "-j", "link", "show")), &ls); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"lo", "eth0"}) {
		t.Errorf("%s: links %v, want [lo eth0]", h.Name(), names)
	}
	var want []string
	for _, p := range h.Addrs() {
		want = append(want, "eth0 "+p.String())
	}
	if got := addrs(t, ctx, h); !slices.Equal(got, want) {
		t.Errorf("%s: addresses %v, want %v", h.Name(), got, want)
	}
	for _, fam := range []string{"-4", "-6"} {
		if r := routes(t, ctx, h, fam); len(r) != 0 {
			t.Errorf("%s: linuxdp routes left: %v", h.Name(), r)
		}
	}
}

// wireguardGo counts wireguard-go processes in h's network namespace,
// plus unreaped ones of this test process (a zombie has no namespace).
func wireguardGo(t *testing.T, h *lab.Host) int {
	t.Helper()
	return len(wireguardGoPIDs(t, h))
}

func wireguardGoPIDs(t *testing.T, h *lab.Host) []int {
	t.Helper()
	hostNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", h.PID()))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		s := string(stat)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i || s[i+1:j] != "wireguard-go" {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) >= 2 && f[0] == "Z" {
			if f[1] == strconv.Itoa(os.Getpid()) {
				t.Errorf("wireguard-go %d is a zombie of the test process", pid)
				pids = append(pids, pid)
			}
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && ns == hostNS {
			pids = append(pids, pid)
		}
	}
	return pids
}
