//go:build linux

package linuxhost_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/lab"
)

// mesh is the ula-mesh example in a 3-host lab (plus the "inet" router of
// lab.Star), applied and healthy.
type mesh struct {
	l     *lab.Lab
	files map[string]string
	n     *policy.Network
	sites map[string]*site
}

// relayRoute gives the relay a bird.conf (a static blackhole that no one
// uses), so BIRD runs in the mesh and its restarts are observable.
const relayRoute = `
[[route]]
dst = "fd00:dead::/48"
blackhole = true
comment = "lab: gives the relay a bird.conf"
`

func newMesh(t *testing.T, ctx context.Context, mod func(name string, o *linuxhost.Options)) *mesh {
	t.Helper()
	lab.Require(t, labTools...)
	m := &mesh{l: lab.New(t, lab.Star("inet", "relay", "edge-a", "edge-b")), sites: map[string]*site{}}
	m.files = example(t, "ula-mesh")
	// Site A's VRRP fallback edge-a2 has no host here (test/e2e
	// TestULAVRRPFailover runs it); the relay would wait for its handshake.
	delete(m.files, "sites/edge-a2.toml")
	delete(m.files, "links/relay-edge-a2.toml")
	replace(t, m.files, "network.toml", `"edge-a2", `, "")
	relay := m.l.Host("relay")
	for _, l := range []string{"links/relay-edge-a.toml", "links/relay-edge-b.toml"} {
		// The lab has no DNS: dial the relay's underlay address.
		replace(t, m.files, l, `"relay.example.net:51820"`, `"`+relay.Addr4().String()+`:51820"`)
	}
	m.files["sites/relay.toml"] += relayRoute
	for _, name := range []string{"relay", "edge-a", "edge-b"} {
		h := m.l.Host(name)
		noResolver(t, ctx, h)
		keygen(t, m.files, name, h.Path("keys"), "wgvpnr01")
		m.sites[name] = newSite(t, h, name, func(o *linuxhost.Options) {
			if mod != nil {
				mod(name, o)
			}
		})
	}
	m.n = load(t, m.files)
	for _, name := range []string{"relay", "edge-a", "edge-b"} {
		m.sites[name].apply(t, ctx, m.n)
	}
	for _, name := range []string{"relay", "edge-a", "edge-b"} {
		m.sites[name].waitHealthy(t, ctx, m.n)
	}
	return m
}

// TestULAMesh applies the relay and both edge routers of ula-mesh: the
// tunnels handshake, the edges reach each other's /64 through the relay,
// the nftables table is loaded, radvd and keepalived run.
func TestULAMesh(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := newMesh(t, ctx, nil)
	a, b, relay := m.sites["edge-a"], m.sites["edge-b"], m.sites["relay"]

	// Each edge pings the other's /64 from its own /64: edge → relay →
	// edge, through the relay's forward chain.
	for _, c := range []struct {
		from *site
		src  string
		dst  string
	}{{a, "fd00:1234:0:a::1", "fd00:1234:0:b::1"}, {b, "fd00:1234:0:b::1", "fd00:1234:0:a::1"}} {
		check := policy.Check{Name: "ping " + c.dst, Kind: policy.CheckPing, Count: 1,
			Target: mustAddr(t, c.dst), Source: mustAddr(t, c.src)}
		var ev string
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		err := lab.WaitFor(wctx, func() (bool, error) {
			r := c.from.prob.Probe(ctx, []policy.Check{check})[0]
			ev = r.Evidence
			return r.OK, nil
		})
		if err != nil {
			for _, s := range m.sites {
				for _, cmd := range [][]string{{"ip", "-6", "route"}, {"wg"}, {"nft", "list", "ruleset"}} {
					out, _, _, _ := s.h.Run(ctx, cmd[0], cmd[1:]...)
					t.Logf("%s: %v:\n%s", s.name, cmd, out)
				}
			}
			t.Fatalf("%s: ping %s from %s: %v (%s)", c.from.name, c.dst, c.src, err, ev)
		}
		t.Logf("%s: %s", c.from.name, ev)
	}
	// The site's probes (ping the relay's tunnel address) pass too.
	for _, s := range []*site{a, b} {
		for _, r := range s.prob.Probe(ctx, m.n.HealthChecks(s.name)) {
			if r.Kind == "ping" && !r.OK {
				t.Errorf("%s: %s: %s", s.name, r.Name, r.Evidence)
			}
		}
	}
	for _, s := range []*site{relay, a, b} {
		out := s.out(t, ctx, "nft", "list", "table", "inet", "tether")
		if !strings.Contains(out, "policy drop") || !strings.Contains(out, `"routing tunnel port"`) {
			t.Errorf("%s: nft table inet tether:\n%s", s.name, out)
		}
	}
	for _, s := range []*site{a, b} {
		for _, unit := range []string{"radvd.service", "keepalived.service"} {
			up, err := s.opt.Services.Active(ctx, unit)
			if err != nil || !up {
				t.Errorf("%s: %s running = %v, %v", s.name, unit, up, err)
			}
		}
	}
	// BIRD runs on the relay with the rendered static route.
	if out := relay.out(t, ctx, "birdc", "-s", linuxhost.DefaultBirdSocket, "show", "route"); !strings.Contains(out, "fd00:dead::/48") {
		t.Errorf("relay: BIRD routes:\n%s", out)
	}
}

// TestReapplyIsNoop: planning the running configuration yields an empty plan
// and applying it runs nothing: BIRD's protocols, the tunnels' handshakes,
// ifindexes and the daemons' pids are untouched.
func TestReapplyIsNoop(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := newMesh(t, ctx, nil)
	relay, a := m.sites["relay"], m.sites["edge-a"]
	birdBefore := relay.out(t, ctx, "birdc", "-s", linuxhost.DefaultBirdSocket, "show", "protocols")
	idx := relay.ifindex(t, ctx, "wgvpnr01")
	hsBefore := sortedLines(relay.out(t, ctx, "wg", "show", "wgvpnr01", "latest-handshakes"))
	pid := func(s *site, f string) string {
		b, _ := os.ReadFile(filepath.Join(s.h.Dir(), "run", f))
		return strings.TrimSpace(string(b))
	}
	radvdPid, kaPid := pid(a, "radvd.pid"), pid(a, "keepalived.pid")
	for _, s := range m.sites {
		s.rec.take()
	}
	for _, name := range []string{"relay", "edge-a", "edge-b"} {
		s := m.sites[name]
		p, err := s.dev.Plan(ctx, m.n, name)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Empty() {
			t.Errorf("%s: re-plan not empty: %+v", name, p.Changes)
		}
		if err := s.dev.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.dev.Settle(ctx, p, true); err != nil {
			t.Fatal(err)
		}
		if acts := activations(s.rec.take()); len(acts) > 0 {
			t.Errorf("%s: re-apply ran %v", name, acts)
		}
	}
	if got := relay.out(t, ctx, "birdc", "-s", linuxhost.DefaultBirdSocket, "show", "protocols"); got != birdBefore {
		t.Errorf("BIRD protocols changed:\n%s\n---\n%s", birdBefore, got)
	}
	if got := relay.ifindex(t, ctx, "wgvpnr01"); got != idx {
		t.Errorf("relay wgvpnr01 ifindex %s → %s", idx, got)
	}
	if got := sortedLines(relay.out(t, ctx, "wg", "show", "wgvpnr01", "latest-handshakes")); got != hsBefore {
		t.Errorf("handshakes changed:\n%s---\n%s", hsBefore, got)
	}
	if radvdPid == "" || pid(a, "radvd.pid") != radvdPid || pid(a, "keepalived.pid") != kaPid {
		t.Errorf("edge-a daemons restarted: radvd %s → %s, keepalived %s → %s", radvdPid, pid(a, "radvd.pid"), kaPid, pid(a, "keepalived.pid"))
	}
}

// peerChange turns on a keepalive on the relay's edge-a peer only.
func peerChange(t *testing.T, files map[string]string) map[string]string {
	f := clone(files)
	replace(t, f, "links/relay-edge-a.toml", "keepalive = 0\n", "keepalive = \"15s\"\n")
	return f
}

// TestPeerChangeSyncconf: changing one peer runs `wg syncconf` and nothing
// else; the interface is not recreated and the other peer's session is
// untouched.
func TestPeerChangeSyncconf(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := newMesh(t, ctx, nil)
	relay := m.sites["relay"]
	bKey := keyOf(t, m.n, "edge-b")
	hsB := peerHandshake(t, ctx, relay, bKey)
	idx := relay.ifindex(t, ctx, "wgvpnr01")
	n2 := load(t, peerChange(t, m.files))

	for _, name := range []string{"edge-a", "edge-b"} {
		p, err := m.sites[name].dev.Plan(ctx, n2, name)
		if err != nil || !p.Empty() {
			t.Fatalf("%s: plan %v, %v; want empty", name, p, err)
		}
	}
	p, err := relay.dev.Plan(ctx, n2, "relay")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range p.Changes {
		lines = append(lines, linuxhost.Line(c))
	}
	want := []string{"~ /etc/wireguard/wgvpnr01.conf (peers only → wg syncconf)"}
	if !slices.Equal(lines, want) {
		t.Fatalf("plan = %q, want %q", lines, want)
	}
	relay.rec.take()
	if err := relay.dev.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := relay.dev.Settle(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	if acts := activations(relay.rec.take()); !slices.Equal(acts, []string{"wg syncconf wgvpnr01"}) {
		t.Errorf("activations = %q, want only wg syncconf", acts)
	}
	if got := relay.ifindex(t, ctx, "wgvpnr01"); got != idx {
		t.Errorf("wgvpnr01 recreated: ifindex %s → %s", idx, got)
	}
	dump := relay.out(t, ctx, "wg", "show", "wgvpnr01", "persistent-keepalive")
	if !strings.Contains(dump, keyOf(t, m.n, "edge-a")+"\t15") {
		t.Errorf("keepalive not applied:\n%s", dump)
	}
	if got := peerHandshake(t, ctx, relay, bKey); got != hsB {
		t.Errorf("edge-b's handshake changed: %s → %s", hsB, got)
	}
	// The private key survived syncconf (it must be part of the synced
	// configuration): the interface still has its public key.
	if pub := strings.TrimSpace(relay.out(t, ctx, "wg", "show", "wgvpnr01", "public-key")); pub != keyOf(t, m.n, "relay") {
		t.Errorf("relay public key after syncconf = %q", pub)
	}
}

// TestRevertRestoresExactly: a change to the relay's firewall, sysctls,
// BIRD and one peer, reverted with Settle(false), leaves files and runtime
// state exactly as before.
func TestRevertRestoresExactly(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := newMesh(t, ctx, nil)
	relay := m.sites["relay"]
	before := relay.snapshot(t, ctx, "wgvpnr01")

	f := bigChange(t, m.files)
	n2 := load(t, f)
	p, err := relay.dev.Plan(ctx, n2, "relay")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		t.Logf("plan: %s", linuxhost.Line(c))
	}
	if len(p.Changes) != 4 {
		t.Fatalf("want 4 changed files, got %d", len(p.Changes))
	}
	if err := relay.dev.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mid := relay.snapshot(t, ctx, "wgvpnr01")
	if mid["nft"] == before["nft"] || mid["sysctl"] == before["sysctl"] || mid["wg wgvpnr01"] == before["wg wgvpnr01"] {
		t.Fatalf("change not visible at runtime")
	}
	if out := relay.out(t, ctx, "birdc", "-s", linuxhost.DefaultBirdSocket, "show", "route"); !strings.Contains(out, "fd00:beef::/48") {
		t.Fatalf("BIRD did not pick up the new route:\n%s", out)
	}
	if err := relay.dev.Settle(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	diffSnap(t, before, relay.snapshot(t, ctx, "wgvpnr01"))
	// Settle is idempotent (a restarted agent may repeat it) and keeping a
	// reverted transaction is refused.
	if err := relay.dev.Settle(ctx, p, false); err != nil {
		t.Errorf("second revert: %v", err)
	}
	if err := relay.dev.Settle(ctx, p, true); !errors.Is(err, linuxhost.ErrDeadmanFired) {
		t.Errorf("keep after revert: %v", err)
	}
	relay.waitHealthy(t, ctx, m.n)
}

// bigChange edits the relay's firewall, sysctls, static routes and the
// edge-a peer.
func bigChange(t *testing.T, files map[string]string) map[string]string {
	f := peerChange(t, files)
	f["sites/relay.toml"] = strings.Replace(f["sites/relay.toml"], "[sysctl]\n", "[sysctl]\n\"net.ipv4.ip_forward\" = \"1\"\n", 1)
	replace(t, f, "sites/relay.toml", `dst_port = "51820"`, `dst_port = "51820-51821"`)
	replace(t, f, "sites/relay.toml", `dst = "fd00:dead::/48"`, `dst = "fd00:beef::/48"`)
	return f
}

// TestDeadmanReverts: a change whose dead-man is not cancelled is reverted
// by the detached dead-man process on its own.
func TestDeadmanReverts(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := newMesh(t, ctx, nil)
	relay := m.sites["relay"]
	before := relay.snapshot(t, ctx, "wgvpnr01")
	p, err := relay.dev.Plan(ctx, load(t, bigChange(t, m.files)), "relay")
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.dev.Apply(ctx, p, time.Now().Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(relay.opt.StateDir, "linuxhost", "txn-"+p.TxnID+".json")
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("no transaction record: %v", err)
	}
	start := time.Now()
	err = lab.WaitFor(ctx, func() (bool, error) {
		_, err := os.Stat(record)
		return os.IsNotExist(err), nil
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(relay.opt.StateDir, "linuxhost", "deadman-"+p.TxnID+".log"))
		t.Fatalf("dead-man did not revert: %v\n%s", err, log)
	}
	t.Logf("dead-man reverted %s after apply", time.Since(start).Round(100*time.Millisecond))
	diffSnap(t, before, relay.snapshot(t, ctx, "wgvpnr01"))
	if err := relay.dev.Settle(ctx, p, true); !errors.Is(err, linuxhost.ErrDeadmanFired) {
		t.Errorf("Settle(keep) after the dead-man = %v, want ErrDeadmanFired", err)
	}
	if err := relay.dev.Settle(ctx, p, false); err != nil {
		t.Errorf("Settle(revert) after the dead-man: %v", err)
	}
}

// TestBrokenRenderRefused: a bird.conf BIRD cannot parse is refused before
// anything is activated, with BIRD's own message in the error.
func TestBrokenRenderRefused(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := newMesh(t, ctx, func(name string, o *linuxhost.Options) {
		if name != "relay" {
			return
		}
		o.Render = func(n *policy.Network, site string, ro linuxhost.RenderOptions) ([]linuxhost.File, error) {
			files, err := linuxhost.RenderLinux(n, site, ro)
			if err != nil || !strings.Contains(n.Sites[site].Description, "BROKEN") {
				return files, err
			}
			for i, f := range files {
				if strings.HasSuffix(f.Path, "bird.conf") {
					files[i].Content = append(append([]byte(nil), f.Content...), "protocol static broken { this is not bird }\n"...)
				}
			}
			return files, nil
		}
	})
	relay := m.sites["relay"]
	before := relay.snapshot(t, ctx, "wgvpnr01")
	f := bigChange(t, m.files)
	replace(t, f, "sites/relay.toml", `description = "`, `description = "BROKEN `)
	p, err := relay.dev.Plan(ctx, load(t, f), "relay")
	if err != nil {
		t.Fatal(err)
	}
	relay.rec.take()
	err = relay.dev.Apply(ctx, p, time.Now().Add(time.Minute))
	if err == nil {
		t.Fatal("broken bird.conf applied")
	}
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), "syntax error") || !strings.Contains(err.Error(), "/etc/bird/bird.conf") {
		t.Errorf("error lacks BIRD's message or the file: %v", err)
	}
	if acts := activations(relay.rec.take()); len(acts) > 0 {
		t.Errorf("activated before refusing: %v", acts)
	}
	diffSnap(t, before, relay.snapshot(t, ctx, "wgvpnr01"))
	if ents, _ := filepath.Glob(filepath.Join(relay.opt.StateDir, "linuxhost", "txn-*.json")); len(ents) > 0 {
		t.Errorf("refused plan left records: %v", ents)
	}
}

// TestVultrNDPRelay applies vultr-ndp-relay's relay: the wg-quick interface,
// the sysctls and ndppd with its static rule.
func TestVultrNDPRelay(t *testing.T) {
	lab.Require(t, labTools...)
	ctx := testCtx(t, 60*time.Second)
	l := lab.New(t, lab.Spec{
		Hosts: []lab.HostSpec{{Name: "inet", Forward: true}, {Name: "vultr"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Host: "inet", Addrs: []string{"203.0.113.1/24", "2001:db8:1::1/64"}},
			B: lab.Endpoint{Host: "vultr", Iface: "enp1s0", Addrs: []string{"203.0.113.10/24", "2001:db8:1::10/64"}},
		}},
	})
	files := example(t, "vultr-ndp-relay")
	h := l.Host("vultr")
	keygen(t, files, "vultr", h.Path("keys"), "wg0")
	n := load(t, files)
	s := newSite(t, h, "vultr", nil)
	s.apply(t, ctx, n)

	if out := s.out(t, ctx, "ip", "-o", "addr", "show", "dev", "wg0"); !strings.Contains(out, "fd99:9999:9999::1/64") {
		t.Errorf("wg0 addresses: %s", out)
	}
	if out := s.out(t, ctx, "ip", "-6", "route", "show", "dev", "wg0"); !strings.Contains(out, "2001:db8:1:1::/64") {
		t.Errorf("wg-quick did not route the reserved /64 into wg0: %s", out)
	}
	if out := s.out(t, ctx, "wg", "show", "wg0", "listen-port"); strings.TrimSpace(out) != "51820" {
		t.Errorf("wg0 listen port %q", out)
	}
	got := strings.TrimSpace(s.out(t, ctx, "sysctl", "-n", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.enp1s0.proxy_ndp", "net.ipv6.conf.enp1s0.accept_ra"))
	if got != "1\n1\n2" {
		t.Errorf("sysctls = %q, want 1 1 2", got)
	}
	up, err := s.opt.Services.Active(ctx, "ndppd.service")
	if err != nil || !up {
		t.Errorf("ndppd running = %v, %v", up, err)
	}
	conf, _ := os.ReadFile(filepath.Join(h.Dir(), "etc/ndppd.conf"))
	if !strings.Contains(string(conf), "rule 2001:db8:1:1::/64 {\n\t\tstatic") {
		t.Errorf("ndppd.conf:\n%s", conf)
	}
	if out := s.out(t, ctx, "nft", "list", "table", "inet", "tether"); !strings.Contains(out, `oifname "wg0" accept`) {
		t.Errorf("nft table:\n%s", out)
	}
	// Re-plan is empty here too.
	if p, err := s.dev.Plan(ctx, n, "vultr"); err != nil || !p.Empty() {
		t.Errorf("re-plan: %v, %v", p, err)
	}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func keyOf(t *testing.T, n *policy.Network, site string) string {
	t.Helper()
	return n.Sites[site].WireGuard[0].PublicKey.String()
}

func peerHandshake(t *testing.T, ctx context.Context, s *site, key string) string {
	t.Helper()
	for _, line := range strings.Split(s.out(t, ctx, "wg", "show", "wgvpnr01", "latest-handshakes"), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			return f[1]
		}
	}
	t.Fatalf("no peer %s on %s", key, s.name)
	return ""
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}
