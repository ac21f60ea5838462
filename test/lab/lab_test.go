//go:build linux

package lab_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-net/tether/test/lab"
)

// testCtx bounds a test: every wait below is inside it.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustOutput(t *testing.T, ctx context.Context, h *lab.Host, name string, args ...string) string {
	t.Helper()
	out, err := h.Output(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// rootLinks lists interface names in the machine's own network namespace.
func rootLinks(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			links[strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]] = true
		}
	}
	return links
}

func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			found = append(found, f[0])
		}
	}
	return found
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// TestUnderlay: hosts on separate segments reach each other through a
// router over IPv4 and IPv6; hosts are isolated; Close leaves no namespace,
// interface, process or file behind.
func TestUnderlay(t *testing.T) {
	lab.Require(t)
	ctx := testCtx(t, 30*time.Second)
	before := rootLinks(t)

	l, err := lab.Build(ctx, lab.Star("inet", "relay", "edge-a", "edge-b"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // in case we fail before the explicit Close
	relay, a, b := l.Host("relay"), l.Host("edge-a"), l.Host("edge-b")

	for _, c := range []struct {
		from *lab.Host
		to   string
	}{
		{a, b.Addr4().String()},
		{a, b.Addr6().String()},
		{b, relay.Addr4().String()},
		{relay, a.Addr6().String()},
	} {
		if err := c.from.Ping(ctx, c.to); err != nil {
			t.Error(err)
		}
	}

	if got := mustOutput(t, ctx, a, "hostname"); got != "edge-a" {
		t.Errorf("hostname in edge-a = %q", got)
	}
	if got := mustOutput(t, ctx, a, "pwd"); got != a.Dir() {
		t.Errorf("working dir in edge-a = %q, want %q", got, a.Dir())
	}
	// /run is private per host and is Dir/run seen from outside.
	mustOutput(t, ctx, a, "sh", "-c", "echo hi > /run/marker")
	if _, err := os.Stat(a.Path("run", "marker")); err != nil {
		t.Errorf("edge-a /run/marker not at Dir/run: %v", err)
	}
	if _, _, code, err := b.Run(ctx, "test", "-e", "/run/marker"); err != nil || code == 0 {
		t.Errorf("edge-b sees edge-a's /run/marker (code %d, err %v)", code, err)
	}
	// The underlay is not in the machine's namespace.
	if _, err := os.Stat("/run/marker"); err == nil {
		t.Error("/run/marker leaked to the machine")
	}
	if _, _, code, _ := relay.Run(ctx, "ip", "link", "show", "eth0"); code != 0 {
		t.Error("relay has no eth0")
	}
	if _, _, _, err := a.Run(ctx, "no-such-command-tetherlab"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("unknown command: err = %v, want exec.ErrNotFound", err)
	}
	if _, _, code, err := a.Run(ctx, "sh", "-c", "exit 3"); err != nil || code != 3 {
		t.Errorf("exit 3: code %d, err %v", code, err)
	}

	// Processes: one tracked by Start, one that escapes the process group
	// like a daemon does.
	p, err := a.Start(context.Background(), "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	mustOutput(t, ctx, b, "sh", "-c", "setsid sleep 301 </dev/null >/dev/null 2>&1 & echo $! > daemon.pid")
	daemon := readPID(t, b.Path("daemon.pid"))
	pids := []int{p.PID(), daemon}
	for _, h := range l.Hosts() {
		pids = append(pids, h.PID())
	}
	for _, pid := range pids {
		if !lab.ProcessAlive(pid) {
			t.Fatalf("pid %d not running before Close", pid)
		}
	}

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if ns := netnsWithPrefix(t, l.Tag()); len(ns) > 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	for name := range rootLinks(t) {
		if !before[name] {
			t.Errorf("new interface in the machine's namespace: %s", name)
		}
	}
	for _, pid := range pids {
		if lab.ProcessAlive(pid) {
			t.Errorf("pid %d survived Close", pid)
		}
	}
	if _, err := os.Stat(l.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab dir left: %v", err)
	}
	if _, _, _, err := a.Run(ctx, "true"); !errors.Is(err, lab.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}

// TestSegment: three hosts on one bridge segment see each other directly.
func TestSegment(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	l := lab.New(t, lab.Spec{
		Hosts: []lab.HostSpec{{Name: "r1"}, {Name: "r2"}, {Name: "r3"}},
		Segments: []lab.Segment{{Name: "lan", Members: []lab.Endpoint{
			{Host: "r1", Addrs: []string{"203.0.113.1/24", "2001:db8:100::1/64"}},
			{Host: "r2", Addrs: []string{"203.0.113.2/24", "2001:db8:100::2/64"}},
			{Host: "r3", Iface: "lan0", Addrs: []string{"203.0.113.3/24"}},
		}}},
	})
	if len(l.Namespaces()) != 4 {
		t.Errorf("namespaces = %v, want 3 hosts + 1 switch", l.Namespaces())
	}
	for _, c := range [][2]string{{"r1", "203.0.113.3"}, {"r3", "203.0.113.2"}, {"r2", "2001:db8:100::1"}} {
		if err := l.Host(c[0]).Ping(ctx, c[1]); err != nil {
			t.Error(err)
		}
	}
	if got := mustOutput(t, ctx, l.Host("r1"), "ip", "-br", "link", "show", "seg-lan"); !strings.HasPrefix(got, "seg-lan@") {
		t.Errorf("r1 seg-lan: %q", got)
	}
}

// TestWireGuard: two hosts each run their own wg0 with wireguard-go (via
// wg-quick's userspace fallback), handshake and ping over IPv6 ULA.
func TestWireGuard(t *testing.T) {
	lab.Require(t, "wg-quick", "ping")
	ctx := testCtx(t, 30*time.Second)
	l := lab.New(t, lab.Spec{
		Hosts: []lab.HostSpec{{Name: "edge-a"}, {Name: "edge-b"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Host: "edge-a", Iface: "eth0", Addrs: []string{"192.0.2.1/24"}},
			B: lab.Endpoint{Host: "edge-b", Iface: "eth0", Addrs: []string{"192.0.2.2/24"}},
		}},
	})
	a, b := l.Host("edge-a"), l.Host("edge-b")
	var r lab.Runner = a // the device's runner interface
	_ = r

	pub := map[*lab.Host]string{}
	for _, h := range []*lab.Host{a, b} {
		key := mustOutput(t, ctx, h, "wg", "genkey")
		if err := os.WriteFile(h.Path("etc/wireguard/wg0.key"), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		pub[h] = mustOutput(t, ctx, h, "sh", "-c", "wg pubkey < etc/wireguard/wg0.key")
	}
	ula := map[*lab.Host]string{a: "fd00:7e7e::1", b: "fd00:7e7e::2"}
	for _, c := range [][2]*lab.Host{{a, b}, {b, a}} {
		self, peer := c[0], c[1]
		key, _ := os.ReadFile(self.Path("etc/wireguard/wg0.key"))
		conf := fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s/64
ListenPort = 51820

[Peer]
PublicKey = %s
AllowedIPs = %s/128
Endpoint = %s:51820
`, strings.TrimSpace(string(key)), ula[self], pub[peer], ula[peer], peer.Addr4())
		if err := os.WriteFile(self.Path("etc/wireguard/wg0.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errb, code, err := self.RunEnv(ctx, []string{"WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go"},
			"wg-quick", "up", self.Path("etc/wireguard/wg0.conf"))
		if err != nil || code != 0 {
			t.Fatalf("%s: wg-quick up: code %d, err %v: %s", self.Name(), code, err, errb)
		}
	}

	// Both hosts have a wg0, each with its UAPI socket in its own /run.
	for _, h := range []*lab.Host{a, b} {
		if _, err := os.Stat(h.Path("run/wireguard/wg0.sock")); err != nil {
			t.Errorf("%s: %v", h.Name(), err)
		}
		if got := mustOutput(t, ctx, h, "wg", "show", "interfaces"); got != "wg0" {
			t.Errorf("%s: wg show interfaces = %q", h.Name(), got)
		}
		if _, err := os.Stat("/etc/wireguard"); err == nil {
			// /etc/wireguard inside the host is Dir/etc/wireguard.
			if _, _, code, _ := h.Run(ctx, "test", "-f", "/etc/wireguard/wg0.conf"); code != 0 {
				t.Errorf("%s: /etc/wireguard/wg0.conf not visible inside the host", h.Name())
			}
		}
	}

	if err := a.Ping(ctx, ula[b]); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx, ula[a]); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]*lab.Host{{a, b}, {b, a}} {
		self, peer := c[0], c[1]
		w, err := self.WGShow(ctx, "wg0")
		if err != nil {
			t.Fatal(err)
		}
		if w.PublicKey != pub[self] || w.ListenPort != 51820 {
			t.Errorf("%s: wg0 = %+v", self.Name(), w)
		}
		p, ok := w.Peer(pub[peer])
		if !ok {
			t.Fatalf("%s: peer %s missing: %+v", self.Name(), peer.Name(), w)
		}
		if age := time.Since(p.LatestHandshake); p.LatestHandshake.IsZero() || age > time.Minute || age < -time.Minute {
			t.Errorf("%s: latest handshake %v, want recent", self.Name(), p.LatestHandshake)
		}
		if p.RxBytes == 0 || p.TxBytes == 0 {
			t.Errorf("%s: transfer rx %d tx %d", self.Name(), p.RxBytes, p.TxBytes)
		}
		if want := peer.Addr4().String() + ":51820"; p.Endpoint != want {
			t.Errorf("%s: endpoint %q, want %q", self.Name(), p.Endpoint, want)
		}
	}
}

// TestBird: BIRD runs in two hosts — one daemonized with its own socket and
// pid file, one in the foreground with BIRD's default socket path (private
// per host) — birdc answers on both, and they bring up a BGP session.
func TestBird(t *testing.T) {
	lab.Require(t, "bird", "birdc")
	ctx := testCtx(t, 30*time.Second)
	l := lab.New(t, lab.Spec{
		Hosts: []lab.HostSpec{{Name: "r1"}, {Name: "r2"}},
		Links: []lab.Link{{
			A: lab.Endpoint{Host: "r1", Addrs: []string{"192.0.2.1/24"}},
			B: lab.Endpoint{Host: "r2", Addrs: []string{"192.0.2.2/24"}},
		}},
	})
	r1, r2 := l.Host("r1"), l.Host("r2")
	conf := func(h *lab.Host, self, peer string, asn, peerASN int, extra string) string {
		c := fmt.Sprintf(`router id %s;
log "%s" all;
protocol device {}
protocol bgp peer {
	local %s as %d;
	neighbor %s as %d;
	connect delay time 1;
	hold time 9;
	%s
	ipv4 { import all; export none; };
}
`, self, h.Path("bird.log"), self, asn, peer, peerASN, extra)
		path := h.Path("etc/bird/bird.conf")
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c1 := conf(r1, "192.0.2.1", "192.0.2.2", 64512, 64513, "")
	c2 := conf(r2, "192.0.2.2", "192.0.2.1", 64513, 64512, "passive on;")

	// r1: the classic daemon invocation; bird forks into the background.
	sock1, pid1 := r1.Path("run/bird-r1.ctl"), r1.Path("run/bird-r1.pid")
	if _, errb, code, err := r1.Run(ctx, "bird", "-c", c1, "-s", sock1, "-P", pid1); err != nil || code != 0 {
		t.Fatalf("r1: bird: code %d, err %v: %s", code, err, errb)
	}
	// r2: foreground under Start, default socket /run/bird/bird.ctl.
	if _, err := r2.Start(t.Context(), "bird", "-f", "-c", c2); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		h    *lab.Host
		sock string
	}{{r1, sock1}, {r2, ""}} {
		err := lab.WaitFor(ctx, func() (bool, error) {
			out, err := c.h.BirdC(ctx, c.sock, "show status")
			return err == nil && strings.Contains(out, "Daemon is up and running"), nil
		})
		if err != nil {
			log, _ := os.ReadFile(c.h.Path("bird.log"))
			t.Fatalf("%s: birdc show status: %v; bird.log:\n%s", c.h.Name(), err, log)
		}
	}
	if _, err := os.Stat(r2.Path("run/bird/bird.ctl")); err != nil {
		t.Errorf("r2's default control socket is not in its private /run: %v", err)
	}
	if _, err := os.Stat(r1.Path("run/bird/bird.ctl")); err == nil {
		t.Error("r1 sees r2's default control socket")
	}

	var last string
	err := lab.WaitFor(ctx, func() (bool, error) {
		out, err := r1.BirdC(ctx, sock1, "show protocols peer")
		last = out
		return err == nil && strings.Contains(out, "Established"), nil
	})
	if err != nil {
		t.Errorf("BGP r1-r2 not established: %v\n%s", err, last)
	}

	// The daemonized bird lives in r1's namespace and dies with the lab.
	daemon := readPID(t, pid1)
	nsOf := func(pid int) string { s, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); return s }
	if nsOf(daemon) == "" || nsOf(daemon) != nsOf(r1.PID()) {
		t.Errorf("bird pid %d netns %q, r1 netns %q", daemon, nsOf(daemon), nsOf(r1.PID()))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if lab.ProcessAlive(daemon) {
		t.Errorf("daemonized bird (pid %d) survived Close", daemon)
	}
}

// TestSweep: leftovers of a dead test process — a namespace with a detached
// process in it and a temp dir — are removed by Sweep.
func TestSweep(t *testing.T) {
	lab.Require(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	tag := fmt.Sprintf("%s%d-5eed00", lab.Prefix, deadPID)
	ns := tag + "-ghost"
	dir := filepath.Join(os.TempDir(), tag)
	t.Cleanup(func() { // only matters if Sweep fails
		_ = exec.Command("ip", "netns", "delete", ns).Run()
		_ = os.RemoveAll(dir)
	})
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "owner"), []byte(fmt.Sprintf("%d 0\n", deadPID)), 0o600)
	// A detached process in the namespace, as a crashed run leaves behind.
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "300")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = sleeper.Wait() }()
	// Wait until it has really entered the namespace and exec'ed sleep;
	// before that Sweep can't see it (and nobody could).
	var st syscall.Stat_t
	gone := syscall.Stat("/run/netns/"+ns, &st) != nil
	if err := lab.WaitFor(testCtx(t, 5*time.Second), func() (bool, error) {
		if _, err := os.Stat("/run/netns/" + ns); gone || err != nil {
			gone = true
			return true, nil
		}
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", sleeper.Process.Pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sleeper.Process.Pid))
		return link == fmt.Sprintf("net:[%d]", st.Ino) && strings.TrimSpace(string(comm)) == "sleep", nil
	}); err != nil {
		t.Fatalf("sleeper never entered %s: %v", ns, err)
	}
	if gone {
		// The fake leftover is stale for every process, so a test binary
		// running concurrently may sweep it first — correctly, but racing
		// the sleeper's entry, which real leftovers never do.
		_ = syscall.Kill(sleeper.Process.Pid, syscall.SIGKILL)
		t.Skip("a concurrent Sweep removed the fake leftover first")
	}
	// And a live lab of this process, which Sweep must not touch.
	live := lab.New(t, lab.Spec{Hosts: []lab.HostSpec{{Name: "alive"}}})

	if err := lab.Sweep(); err != nil {
		t.Fatal(err)
	}
	if left := netnsWithPrefix(t, tag); len(left) > 0 {
		t.Errorf("stale namespaces left: %v", left)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale dir left: %v", err)
	}
	if err := lab.WaitFor(testCtx(t, 5*time.Second), func() (bool, error) {
		return !lab.ProcessAlive(sleeper.Process.Pid), nil
	}); err != nil {
		t.Errorf("stale process %d survived Sweep", sleeper.Process.Pid)
	}
	if len(netnsWithPrefix(t, live.Tag())) != 1 {
		t.Error("Sweep removed a live lab")
	}
	if _, err := live.Host("alive").Output(testCtx(t, 5*time.Second), "true"); err != nil {
		t.Errorf("live lab broken after Sweep: %v", err)
	}
}

// TestSignalCleanup: a test binary interrupted with SIGINT (Ctrl-C; SIGTERM
// where SIGINT is ignored) closes its labs before dying. The test re-runs
// itself as the child.
func TestSignalCleanup(t *testing.T) {
	if os.Getenv("TETHERLAB_SIGNAL_CHILD") == "1" {
		signalChild(t)
		return
	}
	lab.Require(t)
	ctx := testCtx(t, 30*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSignalCleanup$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TETHERLAB_SIGNAL_CHILD=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var tag, dir string
	var pid int
	sig := syscall.SIGINT
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 5 && f[0] == "LAB" {
			tag, dir = f[1], f[2]
			pid, _ = strconv.Atoi(f[3])
			if f[4] == "TERM" {
				sig = syscall.SIGTERM
			}
			break
		}
	}
	if tag == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child did not report its lab")
	}
	t.Cleanup(func() { _ = lab.Sweep() }) // if the child failed to clean up
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(os.Stdout) }()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != sig {
		t.Errorf("child exit: %v, want killed by %v", err, sig)
	}
	if left := netnsWithPrefix(t, tag); len(left) > 0 {
		t.Errorf("namespaces left after %v: %v", sig, left)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab dir left after %v: %v", sig, err)
	}
	if lab.ProcessAlive(pid) {
		t.Errorf("started process %d survived %v", pid, sig)
	}
}

func signalChild(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	l, err := lab.Build(ctx, lab.Star("inet", "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Host("a").Start(context.Background(), "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	// Background jobs of non-interactive shells start with SIGINT ignored;
	// the lab then (rightly) leaves SIGINT alone, so test with SIGTERM.
	sig := "INT"
	if signal.Ignored(syscall.SIGINT) {
		sig = "TERM"
	}
	fmt.Printf("LAB %s %s %d %s\n", l.Tag(), l.Dir(), p.PID(), sig)
	<-ctx.Done() // the parent interrupts us long before this
	t.Error("child was not interrupted")
}
