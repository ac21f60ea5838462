//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/linux"
	"github.com/tether-net/tether/test/lab"
)

// vrrpSite is one of site A's edge routers in the VRRP lab: its lab host
// and what tether rendered for it.
type vrrpSite struct {
	name string
	h    *lab.Host
	cfg  *linux.Config
	ka   *lab.Proc // keepalived, while it runs
}

// raListener sends one router solicitation from the LAN host's eth0 and
// prints "<source> <source link-layer address>" for every router
// advertisement that arrives within the given seconds. The kernel fills in
// the ICMPv6 checksum of a raw ICMPv6 socket.
const raListener = `
import socket, sys, time
iface, secs = sys.argv[1], float(sys.argv[2])
idx = socket.if_nametoindex(iface)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, idx))
end = time.time() + secs
while True:
    left = end - time.time()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        break
    if len(data) < 16 or data[0] != 134:
        continue
    mac, i = "-", 16
    while i + 8 <= len(data) and data[i + 1] > 0:
        if data[i] == 1:
            mac = ":".join("%02x" % b for b in data[i + 2:i + 8])
        i += data[i + 1] * 8
    print(addr[0].split("%")[0], mac, flush=True)
`

// TestULAVRRPFailover runs site A of ula-mesh on one link: edge-a and its
// fallback edge-a2 with the keepalived, radvd, nftables and sysctl files
// tether renders for them, and a LAN host (server-a1) with the kernel's own
// SLAAC. It checks what VRRP is in the write-up for: one router holds the
// link-local router address and sends the router advertisements from it,
// the host forms its address and routes the /48 through that address, and
// when the master's link fails the backup takes the address over, within
// VRRP's master-down interval, without the host seeing a new router.
// Then nopreempt keeps the address where it is when edge-a returns, and a
// backup that stops gracefully hands it back at once.
func TestULAVRRPFailover(t *testing.T) {
	lab.Require(t, "keepalived", "radvd", "nft", "sysctl", "ping", "python3")
	ctx := scenarioCtx(t, 3*time.Minute)

	n, probs := policy.Load(os.DirFS(filepath.Join(repoRoot, "repo-example", "ula-mesh")), ".")
	if probs.HasErrors() {
		t.Fatalf("ula-mesh does not load: %v", probs)
	}
	master, backup := n.Sites["edge-a"], n.Sites["edge-a2"]
	if master == nil || backup == nil || len(master.VRRP) != 1 || len(backup.VRRP) != 1 {
		t.Fatal("ula-mesh: want edge-a and edge-a2 with one [[vrrp]] each")
	}
	mv, bv := master.VRRP[0], backup.VRRP[0]
	if mv.Group == "" || mv.Group != bv.Group || mv.Priority <= bv.Priority || len(mv.VirtualAddresses) != 1 {
		t.Fatalf("ula-mesh: edge-a must be the higher-priority member of edge-a2's group: %+v / %+v", mv, bv)
	}
	vip := mv.VirtualAddresses[0].Addr().String()
	sitePrefix := master.RouterAdverts[0].Prefixes[0]
	overlay := master.RouterAdverts[0].Routes[0]
	advert := mv.AdvertInterval.Duration
	// RFC 5798: Master_Down_Interval = 3 × Advertisement_Interval + Skew_Time,
	// Skew_Time = ((256 - Priority) × Advertisement_Interval) / 256.
	masterDown := func(prio int) time.Duration { return 3*advert + time.Duration(256-prio)*advert/256 }

	const lan = "server-a1"
	l := lab.New(t, lab.Spec{
		Hosts: []lab.HostSpec{{Name: "edge-a", Forward: true}, {Name: "edge-a2", Forward: true}, {Name: lan}},
		Segments: []lab.Segment{{Name: "site-a", Members: []lab.Endpoint{
			{Host: "edge-a", Iface: "eth0"}, {Host: "edge-a2", Iface: "eth0"}, {Host: lan, Iface: "eth0"}}}},
	})
	host := l.Host(lan)
	// The kernel does the host's SLAAC here (the write-up's servers use
	// networkd); it takes route information options only up to
	// accept_ra_rt_info_max_plen, 0 by default, so the /48 needs it raised.
	for _, kv := range []string{"net.ipv6.conf.eth0.accept_ra=1", "net.ipv6.conf.eth0.autoconf=1",
		fmt.Sprintf("net.ipv6.conf.eth0.accept_ra_rt_info_max_plen=%d", overlay.Bits())} {
		mustRun(t, ctx, host, "sysctl", "-w", kv)
	}

	edges := map[string]*vrrpSite{}
	for _, s := range []*policy.Site{master, backup} {
		e := &vrrpSite{name: s.Name, h: l.Host(s.Name)}
		cfg, err := linux.Render(n, s.Name, linux.Options{KeyDir: e.h.Path("keys")})
		if err != nil {
			t.Fatal(err)
		}
		e.cfg = cfg
		// networkd would put the edge's own address in the site /64 on eth0.
		for _, a := range s.Addresses {
			mustRun(t, ctx, e.h, "ip", "addr", "add", a.Address.String(), "dev", a.Interface, "nodad")
		}
		// Each file as the device applies it: written, checked, activated.
		e.install(t, ctx, linux.SysctlPath, "sysctl", "-p", "{}")
		e.install(t, ctx, linux.DefaultNftPath, "nft", "-f", "{}")
		e.install(t, ctx, linux.KeepalivedPath)
		e.install(t, ctx, linux.RadvdPath)
		edges[s.Name] = e
	}
	a, a2 := edges["edge-a"], edges["edge-a2"]
	macA, macA2 := mac(t, ctx, a.h), mac(t, ctx, a2.h)
	defer func() {
		if t.Failed() {
			dumpHosts(t, ctx, l, []string{"edge-a", "edge-a2", lan}, []string{"ip", "-6", "addr"}, []string{"ip", "-6", "route"}, []string{"ip", "-6", "neigh"})
			for _, e := range []*vrrpSite{a, a2} {
				if e.ka != nil {
					t.Logf("%s keepalived:\n%s", e.name, e.ka.Log())
				}
			}
		}
	}()

	// nopreempt: both start as BACKUP and the first to time out becomes
	// master, so edge-a starts first and edge-a2 joins a link with a master.
	a.startKeepalived(t, ctx)
	if took := waitVIP(t, ctx, a, vip, masterDown(mv.Priority)+5*advert); took < 0 {
		t.Fatalf("edge-a never took %s", vip)
	}
	a2.startKeepalived(t, ctx)
	// edge-a2 hears edge-a's advertisements through both firewalls and
	// stays backup beyond its own master-down interval.
	sleep(t, ctx, masterDown(bv.Priority)+2*advert)
	holders(t, ctx, vip, map[*vrrpSite]bool{a: true, a2: false})

	for _, e := range []*vrrpSite{a, a2} {
		if _, err := e.h.Start(ctx, "radvd", "-n", "-m", "stderr", "-C", e.h.Path(strings.TrimPrefix(linux.RadvdPath, "/")), "-p", "/run/radvd.pid"); err != nil {
			t.Fatal(err)
		}
	}
	// Only the master advertises, from the VIP: edge-a2's radvd has no
	// listed source address on its link and stays silent.
	wantRAs(t, ctx, host, vip, macA, 20*time.Second)
	slaac := waitSLAAC(t, ctx, host, sitePrefix.String(), 30*time.Second)
	t.Logf("%s formed %s by SLAAC from edge-a's advertisements", lan, slaac)
	wantRouteVia(t, ctx, host, overlay.String(), vip)

	// The master's link fails: no more advertisements, and edge-a2 takes
	// the VIP once its master-down interval runs out.
	mustRun(t, ctx, a.h, "ip", "link", "set", "eth0", "down")
	bound := masterDown(bv.Priority)
	took := waitVIP(t, ctx, a2, vip, bound+5*advert)
	if took < 0 {
		t.Fatalf("edge-a2 did not take %s within %s", vip, bound+5*advert)
	}
	t.Logf("edge-a's link down: edge-a2 took %s after %s (master-down interval %s, advert_int %s)", vip, took.Round(time.Millisecond), bound, advert)
	// The last advertisement left up to one interval before the link went
	// down; two more intervals cover scheduling on a loaded machine.
	if took > bound+2*advert {
		t.Errorf("takeover took %s, more than the master-down interval %s plus two advertisement intervals", took, bound)
	}
	// The host sees the same router address, now answered and advertised
	// by edge-a2, and keeps its address and its /48 route.
	wantRAs(t, ctx, host, vip, macA2, 20*time.Second)
	if got := waitSLAAC(t, ctx, host, sitePrefix.String(), time.Second); got != slaac {
		t.Errorf("%s: SLAAC address %s became %s", lan, slaac, got)
	}
	wantRouteVia(t, ctx, host, overlay.String(), vip)
	wantNeighbour(t, ctx, host, vip, macA2)

	// edge-a returns: nopreempt leaves the VIP with edge-a2.
	mustRun(t, ctx, a.h, "ip", "link", "set", "eth0", "up")
	sleep(t, ctx, masterDown(mv.Priority)+2*advert)
	holders(t, ctx, vip, map[*vrrpSite]bool{a: false, a2: true})

	// edge-a2's keepalived stops: it sends priority 0 and drops the VIP,
	// and edge-a takes over after its skew time instead of the full
	// master-down interval.
	if err := a2.ka.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := a2.ka.Wait(ctx); err != nil {
		t.Logf("edge-a2 keepalived: %v", err)
	}
	took = waitVIP(t, ctx, a, vip, masterDown(mv.Priority)+5*advert)
	if took < 0 {
		t.Fatalf("edge-a did not take %s back", vip)
	}
	took = time.Since(stopped)
	skew := time.Duration(256-mv.Priority) * advert / 256
	t.Logf("edge-a2's keepalived stopped: edge-a took %s back after %s (skew time %s)", vip, took.Round(time.Millisecond), skew)
	if took > masterDown(mv.Priority) {
		t.Errorf("handback took %s: edge-a waited out the master-down interval %s instead of acting on the priority-0 advertisement", took, masterDown(mv.Priority))
	}
	holders(t, ctx, vip, map[*vrrpSite]bool{a: true, a2: false})
	wantNeighbour(t, ctx, host, vip, macA)
}

// install writes the rendered file under the host's root, runs the
// renderer's check on it, then activate (if given), with "{}" standing for
// the written path.
func (e *vrrpSite) install(t *testing.T, ctx context.Context, path string, activate ...string) {
	t.Helper()
	var f *linux.File
	for i := range e.cfg.Files {
		if e.cfg.Files[i].Path == path {
			f = &e.cfg.Files[i]
		}
	}
	if f == nil {
		t.Fatalf("%s: tether rendered no %s", e.name, path)
	}
	dst := e.h.Path(strings.TrimPrefix(path, "/"))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, f.Content, f.Mode); err != nil {
		t.Fatal(err)
	}
	subst := func(args []string) []string {
		out := slices.Clone(args)
		for i := range out {
			out[i] = strings.ReplaceAll(out[i], "{}", dst)
		}
		return out
	}
	for _, cmd := range [][]string{subst(f.Check), subst(activate)} {
		if len(cmd) > 0 {
			mustRun(t, ctx, e.h, cmd[0], cmd[1:]...)
		}
	}
}

// startKeepalived runs keepalived in the foreground, VRRP only, its pid
// files in the host's own /run.
func (e *vrrpSite) startKeepalived(t *testing.T, ctx context.Context) {
	t.Helper()
	p, err := e.h.Start(ctx, "keepalived", "-n", "-l", "-D", "-P",
		"-f", e.h.Path(strings.TrimPrefix(linux.KeepalivedPath, "/")),
		"-p", "/run/keepalived.pid", "-r", "/run/keepalived_vrrp.pid")
	if err != nil {
		t.Fatal(err)
	}
	e.ka = p
}

func mustRun(t *testing.T, ctx context.Context, h *lab.Host, name string, args ...string) string {
	t.Helper()
	out, err := h.Output(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func sleep(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	if err := sleepCtx(ctx, d); err != nil {
		t.Fatal(err)
	}
}

var etherRe = regexp.MustCompile(`link/ether ([0-9a-f:]{17})`)

// mac is the address of the host's eth0.
func mac(t *testing.T, ctx context.Context, h *lab.Host) string {
	t.Helper()
	m := etherRe.FindStringSubmatch(mustRun(t, ctx, h, "ip", "-o", "link", "show", "eth0"))
	if m == nil {
		t.Fatalf("%s: no MAC on eth0", h.Name())
	}
	return m[1]
}

// hasAddr reports whether the host's eth0 has addr.
func hasAddr(t *testing.T, ctx context.Context, h *lab.Host, addr string) bool {
	t.Helper()
	out := mustRun(t, ctx, h, "ip", "-6", "-o", "addr", "show", "dev", "eth0")
	return strings.Contains(out, " "+addr+"/")
}

// waitVIP polls every 20 ms until e holds vip, and returns how long that
// took, or -1 after within.
func waitVIP(t *testing.T, ctx context.Context, e *vrrpSite, vip string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if hasAddr(t, ctx, e.h, vip) {
			return time.Since(start)
		}
		sleep(t, ctx, 20*time.Millisecond)
	}
	return -1
}

// holders checks which edges hold vip.
func holders(t *testing.T, ctx context.Context, vip string, want map[*vrrpSite]bool) {
	t.Helper()
	for e, w := range want {
		if got := hasAddr(t, ctx, e.h, vip); got != w {
			t.Errorf("%s holds %s: %v, want %v", e.name, vip, got, w)
		}
	}
}

// wantRAs solicits router advertisements on the host until some arrive
// (within), and checks that every one came from src with the link-layer
// address mac: one router, at the VIP.
func wantRAs(t *testing.T, ctx context.Context, h *lab.Host, src, mac string, within time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		// radvd answers a solicitation within half a second, but no sooner
		// than 3 s after its previous advertisement (MinDelayBetweenRAs).
		out := mustRun(t, ctx, h, "python3", "-c", raListener, "eth0", "4")
		lines := strings.Fields(strings.ReplaceAll(out, "\n", " "))
		if len(lines) > 0 {
			for i := 0; i+1 < len(lines); i += 2 {
				if lines[i] != src || lines[i+1] != mac {
					t.Errorf("%s: router advertisement from %s (%s), want only %s (%s)", h.Name(), lines[i], lines[i+1], src, mac)
				}
			}
			t.Logf("%s: %d router advertisement(s) from %s (%s) after %s", h.Name(), len(lines)/2, src, mac, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > within {
			t.Fatalf("%s: no router advertisement within %s", h.Name(), within)
		}
	}
}

// waitSLAAC waits for a global dynamic (router-advertised) address in
// prefix on the host's eth0 and returns it.
func waitSLAAC(t *testing.T, ctx context.Context, h *lab.Host, prefix string, within time.Duration) string {
	t.Helper()
	p := strings.TrimSuffix(prefix, "::/64") + ":"
	start := time.Now()
	for {
		for _, line := range strings.Split(mustRun(t, ctx, h, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global", "dynamic"), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && f[2] == "inet6" && strings.HasPrefix(f[3], p) {
				return strings.TrimSuffix(f[3], "/64")
			}
		}
		if time.Since(start) > within {
			t.Fatalf("%s: no SLAAC address in %s within %s", h.Name(), prefix, within)
		}
		sleep(t, ctx, 200*time.Millisecond)
	}
}

// wantRouteVia checks the host routes dst through via, learnt from a
// router advertisement, and through nothing else.
func wantRouteVia(t *testing.T, ctx context.Context, h *lab.Host, dst, via string) {
	t.Helper()
	out := strings.TrimSpace(mustRun(t, ctx, h, "ip", "-6", "route", "show", dst))
	if !strings.Contains(out, "via "+via+" dev eth0 proto ra") || strings.Count(out, "via ") != 1 {
		t.Errorf("%s: route %s: %q, want one route via %s from a router advertisement", h.Name(), dst, out, via)
	}
}

// wantNeighbour pings vip from the host and checks that the answer came
// from the router with the link-layer address mac.
func wantNeighbour(t *testing.T, ctx context.Context, h *lab.Host, vip, mac string) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Ping(pctx, vip+"%eth0"); err != nil {
		t.Errorf("%s: ping %s: %v", h.Name(), vip, err)
		return
	}
	out := mustRun(t, ctx, h, "ip", "-6", "neigh", "show", vip, "dev", "eth0")
	if !strings.Contains(out, "lladdr "+mac) {
		t.Errorf("%s: neighbour %s is %q, want lladdr %s", h.Name(), vip, strings.TrimSpace(out), mac)
	}
}
