package systemd

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/notes"
)

// artifacts holds what TestMain's tests build once: the .deb and rossim.
var artifacts struct {
	dir  string
	once sync.Once
	deb  string
	sim  string
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if artifacts.dir != "" {
		_ = os.RemoveAll(artifacts.dir)
	}
	os.Exit(code)
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// build makes the package with packaging/build-deb.sh (as a release does)
// and a static rossim, once per test binary.
func build(t *testing.T) (deb, sim string) {
	t.Helper()
	artifacts.once.Do(func() {
		start := time.Now()
		artifacts.dir, artifacts.err = os.MkdirTemp("", "tether-systemd-bed-")
		if artifacts.err != nil {
			return
		}
		repo, _ := filepath.Abs("../..")
		cmd := exec.Command(filepath.Join(repo, "packaging", "build-deb.sh"), "0.0.1+bed", runtime.GOARCH)
		cmd.Env = append(os.Environ(), "OUT="+artifacts.dir, "GO="+goTool())
		out, err := cmd.Output()
		if err != nil {
			artifacts.err = fmt.Errorf("build-deb.sh: %w", err)
			return
		}
		artifacts.deb = strings.TrimSpace(string(out))
		artifacts.sim = filepath.Join(artifacts.dir, "rossim")
		cmd = exec.Command(goTool(), "build", "-o", artifacts.sim, "./test/rossim/cmd/rossim")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			artifacts.err = fmt.Errorf("build rossim: %w: %s", err, out)
		}
		t.Logf("built %s and rossim in %v", filepath.Base(artifacts.deb), time.Since(start).Round(100*time.Millisecond))
	})
	if artifacts.err != nil {
		t.Fatal(artifacts.err)
	}
	return artifacts.deb, artifacts.sim
}

// installed boots a machine with the .deb installed and rossim in
// /usr/local/bin.
func installed(t *testing.T, ctx context.Context) *Machine {
	t.Helper()
	Require(t, "git") // the network repo is made on the host
	deb, sim := build(t)
	start := time.Now()
	m := Boot(t, Root(t))
	t.Logf("%s booted in %v (set-up incl. overlay and netns %v)", m.Name, m.BootTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for src, dst := range map[string]string{deb: "/root/tether.deb", sim: "/usr/local/bin/rossim"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		m.WriteFile(dst, b, 0o755)
	}
	m.MustRun(ctx, "dpkg", "-i", "/root/tether.deb")
	return m
}

// gitEnv keeps the host's git configuration out of the test.
var gitEnv = []string{"GIT_AUTHOR_NAME=bed", "GIT_AUTHOR_EMAIL=bed@example.net", "GIT_COMMITTER_NAME=bed",
	"GIT_COMMITTER_EMAIL=bed@example.net", "GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent"}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// netRepo makes the network repo /srv/net.git inside m holding files, owned
// by owner (the unit's user: the agent pushes its notes there), and returns
// the commit.
func netRepo(t *testing.T, ctx context.Context, m *Machine, owner string, files map[string]string) string {
	t.Helper()
	bare := filepath.Join(m.Root, "srv", "net.git")
	git(t, "", "init", "-q", "--bare", "-b", "main", bare)
	work := t.TempDir()
	netWork = work
	git(t, "", "clone", "-q", bare, work)
	c := push(t, files, "bed: one site")
	m.MustRun(ctx, "chown", "-R", owner+":"+owner, "/srv/net.git")
	return c
}

// netWork is the operator's clone of the last netRepo. Later pushes (push)
// are made as root: only Linux tests, whose agent is root, use them.
var netWork string

// push commits files (added or replaced) to the network repo and returns
// the commit.
func push(t *testing.T, files map[string]string, msg string) string {
	t.Helper()
	work := netWork
	for name, content := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, work, "add", "-A")
	git(t, work, "commit", "-q", "-m", msg)
	git(t, work, "push", "-q", "origin", "HEAD:main")
	return git(t, work, "rev-parse", "HEAD")
}

// waitNote waits for site's note on commit in m's network repo.
func waitNote(t *testing.T, ctx context.Context, m *Machine, site, commit string) *notes.Note {
	t.Helper()
	bare := filepath.Join(m.Root, "srv", "net.git")
	for {
		cmd := exec.Command("git", "--git-dir", bare, "notes", "--ref", "tether/"+site, "show", commit)
		cmd.Env = append(os.Environ(), gitEnv...)
		out, err := cmd.Output()
		if err == nil {
			n, err := notes.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no note from %s on %s: %v", site, commit[:12], ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// show reads unit properties.
func show(t *testing.T, ctx context.Context, m *Machine, unit string, props ...string) map[string]string {
	t.Helper()
	out := m.MustRun(ctx, "systemctl", "show", unit, "-p", strings.Join(props, ","))
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

const network = `name = "bed"
[defaults]
mtu = 1420
keepalive = "25s"
listen_port = 51820
asn_pool = "64512-65534"
routeros_version = "7.22.3"
[health]
handshake_max_age = "180s"
gate_deadline = "20s"
stable_window = "2s"
deadman_margin = "5s"
`

// routerOSSite is a site on rossim's defconf router: a WireGuard interface
// (RouterOS makes its key) and a blackhole aggregate.
const routerOSSite = `platform = "routeros"
routeros_version = "7.22.3"
asn = 64513
router_id = "192.168.88.1"
[[interface]]
name = "ether1"
role = "wan"
[[interface]]
name = "bridge"
role = "lan"
[[wireguard]]
name = "wg-bed"
listen_port = 51820
mtu = 1420
[[route]]
dst = "2001:db8:100::/48"
blackhole = true
distance = 254
comment = "aggregate-for-bgp"
`

// unitDropIn is the operator's drop-in for the tests: the repo is a local
// directory, which ProtectSystem=strict makes read-only unless listed, and
// a short watchdog so that a loop not feeding it is killed within the test.
const unitDropIn = `[Service]
ReadWritePaths=/srv/net.git
WatchdogSec=3s
RestartSec=1s
`

// routerOSAgent boots a machine with rossim serving the API on its
// loopback, the network repo and agent.toml for site home, and the test
// drop-in for tether-routeros.service; the unit is not started.
func routerOSAgent(t *testing.T, ctx context.Context) (*Machine, string) {
	t.Helper()
	m := installed(t, ctx)

	m.MustRun(ctx, "systemd-run", "--unit=rossim", "--property=Type=exec", "/usr/local/bin/rossim",
		"--listen", "127.0.0.1:8728", "--user", "tether", "--password", "bed-secret", "--group", "full")
	commit := netRepo(t, ctx, m, "tether", map[string]string{"network.toml": network, "sites/home.toml": routerOSSite})
	m.WriteFile("/etc/tether/routeros-password", []byte("bed-secret\n"), 0o640)
	m.WriteFile("/etc/tether/agent.toml", []byte(`repo = "/srv/net.git"
site = "home"
poll_interval = "2s"
[routeros]
address = "127.0.0.1:8728"
username = "tether"
password_file = "/etc/tether/routeros-password"
tls = false
`), 0o640)
	m.MustRun(ctx, "chgrp", "tether", "/etc/tether/agent.toml", "/etc/tether/routeros-password")
	m.WriteFile("/etc/systemd/system/tether-routeros.service.d/bed.conf", []byte(unitDropIn), 0o644)
	m.MustRun(ctx, "systemctl", "daemon-reload")

	return m, commit
}

// TestRouterOSUnit proves tether-routeros.service under systemd: installed
// from the .deb, it starts as Type=notify and `systemctl start` returns only
// once the agent sent READY=1; it applies the site through the RouterOS API
// (rossim on the container's loopback) as the unprivileged tether user;
// its watchdog is fed (no restart over several WatchdogSec periods while the
// last-ping timestamp moves) and enforced (an agent frozen with SIGSTOP is
// killed and restarted); `systemctl status` shows the running commit and the
// last result (STATUS=); its journal lines carry no second timestamp and
// no repeated field; and `systemctl stop` ends it cleanly.
func TestRouterOSUnit(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	m, commit := routerOSAgent(t, ctx)

	start := time.Now()
	// Type=notify: start blocks until READY=1 (or fails).
	m.MustRun(ctx, "systemctl", "start", "tether-routeros.service")
	t.Logf("systemctl start returned after %v", time.Since(start).Round(time.Millisecond))
	p := show(t, ctx, m, "tether-routeros.service", "ActiveState", "SubState", "Type", "MainPID", "NRestarts")
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["Type"] != "notify" {
		t.Fatalf("after start: %v, want active/running Type=notify", p)
	}
	pid := p["MainPID"]
	if user := strings.TrimSpace(m.MustRun(ctx, "stat", "-c", "%U", "/proc/"+pid)); user != "tether" {
		t.Errorf("agent runs as %q, want the tether user", user)
	}

	n := waitNote(t, ctx, m, "home", commit)
	if a := n.Attempts[len(n.Attempts)-1]; a.Result != notes.Applied {
		t.Fatalf("home's note on %s: %s (%s %v), want applied", commit[:12], a.Result, a.Reason, a.Errors)
	}

	// The watchdog: three WatchdogSec=3s periods without a kill, and the
	// manager saw fresh pings.
	w0 := show(t, ctx, m, "tether-routeros.service", "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]
	time.Sleep(9 * time.Second)
	p = show(t, ctx, m, "tether-routeros.service", "ActiveState", "MainPID", "NRestarts", "WatchdogTimestampMonotonic", "StatusText")
	if p["ActiveState"] != "active" || p["MainPID"] != pid || p["NRestarts"] != "0" {
		t.Fatalf("after 3 watchdog periods: %v (MainPID was %s): the watchdog was not fed", p, pid)
	}
	w1 := p["WatchdogTimestampMonotonic"]
	if a, b := atoi(t, w0), atoi(t, w1); b <= a {
		t.Errorf("WatchdogTimestampMonotonic did not move in 9s (%d → %d): no WATCHDOG=1 reached systemd", a, b)
	}
	// `systemctl status` tells where the site stands (STATUS=).
	if want := "running " + commit[:12] + "; last applied " + commit[:12]; !strings.HasPrefix(p["StatusText"], want) {
		t.Errorf("StatusText = %q, want it to start with %q", p["StatusText"], want)
	}
	journalFit(t, ctx, m, "tether-routeros.service")

	// A hung agent: frozen, it stops pinging; systemd aborts it and
	// Restart=on-failure brings up a new one that reports ready again.
	m.MustRun(ctx, "kill", "-STOP", pid)
	frozen := time.Now()
	for {
		p = show(t, ctx, m, "tether-routeros.service", "ActiveState", "SubState", "MainPID", "NRestarts")
		if p["NRestarts"] == "1" && p["ActiveState"] == "active" && p["SubState"] == "running" && p["MainPID"] != pid {
			break
		}
		if time.Since(frozen) > 30*time.Second {
			t.Fatalf("frozen agent not restarted in 30s: %v", p)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("frozen agent restarted by the watchdog after %v", time.Since(frozen).Round(100*time.Millisecond))
	if j := m.MustRun(ctx, "journalctl", "--no-pager", "-u", "tether-routeros.service", "-o", "cat"); !strings.Contains(j, "Watchdog timeout") {
		t.Errorf("restart was not the watchdog's (no \"Watchdog timeout\" in the journal):\n%s", j)
	}

	stopClean(t, ctx, m, "tether-routeros.service")
}

var zapTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

// journalFit checks the agent's journal lines: journald stamps them, so the
// agent adds no timestamp of its own, and no line names a field twice.
func journalFit(t *testing.T, ctx context.Context, m *Machine, unit string) {
	t.Helper()
	j := m.MustRun(ctx, "journalctl", "--no-pager", "-u", unit, "-o", "cat", "_COMM=tether")
	lines := strings.Split(strings.TrimSpace(j), "\n")
	if len(lines) < 3 {
		t.Fatalf("%s: only %d agent lines in the journal:\n%s", unit, len(lines), j)
	}
	for _, line := range lines {
		if zapTime.MatchString(strings.SplitN(line, "{", 2)[0]) {
			t.Errorf("%s: line carries its own timestamp: %s", unit, line)
		}
		if strings.Count(line, `"site":`) > 1 {
			t.Errorf("%s: line repeats the site field: %s", unit, line)
		}
	}
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// stopClean stops unit and checks it ended by itself on SIGTERM: inactive
// with Result=success, the agent's own "agent stopped" line in the journal,
// and no sign that systemd had to kill it (a SIGTERM death also counts as
// success for systemd, so Result alone does not tell).
func stopClean(t *testing.T, ctx context.Context, m *Machine, unit string) {
	t.Helper()
	start := time.Now()
	m.MustRun(ctx, "systemctl", "stop", unit)
	took := time.Since(start)
	p := show(t, ctx, m, unit, "ActiveState", "Result")
	if p["ActiveState"] != "inactive" || p["Result"] != "success" {
		t.Fatalf("after systemctl stop (%v): %v, want inactive, success", took, p)
	}
	// journald reads the agent's stderr stream asynchronously: its last
	// line may land after systemd's own "Stopped" message.
	var j string
	waitFor(t, ctx, 5*time.Second, func() error {
		j = m.MustRun(ctx, "journalctl", "--no-pager", "-u", unit, "-o", "short-monotonic")
		// Only the last run of the unit: earlier ones may have been
		// killed on purpose. Not from "Stopping": the agent's own line
		// can reach the journal before systemd's (seen under load).
		if i := strings.LastIndex(j, "Starting "); i >= 0 {
			j = j[i:]
		}
		if !strings.Contains(j, "agent stopped") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if !strings.Contains(j, "agent stopped") {
		t.Errorf("%s journal has no \"agent stopped\" line:\n%s", unit, j)
	}
	for _, bad := range []string{"code=killed", "SIGKILL", "timed out", "watchdog"} {
		if strings.Contains(strings.ToLower(j), strings.ToLower(bad)) {
			t.Errorf("%s journal says %q:\n%s", unit, bad, j)
		}
	}
	t.Logf("systemctl stop %s took %v; journal:\n%s", unit, took.Round(time.Millisecond), j)
}

// linuxSite is a Linux site with one of each kind of state a reboot wipes:
// a WireGuard interface (wg-quick, userspace wireguard-go here), a sysctl
// and an nftables firewall.
const linuxSite = `platform = "linux"
[[interface]]
name = "lo"
comment = "loopback"
[[wireguard]]
name = "wg0"
listen_port = 51820
mtu = 1420
public_key = "%s"
[sysctl]
"net.ipv6.conf.all.forwarding" = "1"
[firewall_policy]
input = "drop"
forward = "drop"
output = "accept"
[[firewall]]
chain = "input"
action = "accept"
in_interface = "lo"
comment = "loopback"
`

// linuxEdge boots a machine whose tether.service (enabled, started) has
// applied linuxSite, checking on the way that the unit reported ready
// through sd_notify and that the site is in place.
func linuxEdge(t *testing.T, ctx context.Context) (*Machine, string) {
	t.Helper()
	// The host's wireguard-go goes into the container: bookworm does not
	// package it, and the kernel may lack the WireGuard module.
	Require(t, "wireguard-go")
	wgGo, err := exec.LookPath("wireguard-go")
	if err != nil {
		t.Fatal(err)
	}
	m := installed(t, ctx)
	b, err := os.ReadFile(wgGo)
	if err != nil {
		t.Fatal(err)
	}
	m.WriteFile("/usr/bin/wireguard-go", b, 0o755)

	m.WriteFile("/etc/tether/agent.toml", []byte(`repo = "/srv/net.git"
site = "edge"
poll_interval = "2s"
`), 0o640)
	// keygen prints the public key on stdout and a note on stderr; Run
	// merges them, so take the key's line.
	var pub string
	for _, line := range strings.Fields(m.MustRun(ctx, "tether", "keygen", "--interface", "wg0", "--config", "/etc/tether/agent.toml")) {
		if len(line) == 44 && strings.HasSuffix(line, "=") {
			pub = line
		}
	}
	if pub == "" {
		t.Fatal("tether keygen printed no public key")
	}
	commit := netRepo(t, ctx, m, "root", map[string]string{"network.toml": network, "sites/edge.toml": fmt.Sprintf(linuxSite, pub)})
	m.WriteFile("/etc/systemd/system/tether.service.d/bed.conf", []byte("[Service]\nReadWritePaths=/srv/net.git\n"), 0o644)
	m.MustRun(ctx, "systemctl", "daemon-reload")
	// Type=notify: enable --now returns once READY=1 arrived.
	m.MustRun(ctx, "systemctl", "enable", "--now", "tether.service")
	p := show(t, ctx, m, "tether.service", "ActiveState", "SubState", "Type")
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["Type"] != "notify" {
		t.Fatalf("after start: %v, want active/running Type=notify", p)
	}
	n := waitNote(t, ctx, m, "edge", commit)
	if a := n.Attempts[len(n.Attempts)-1]; a.Result != notes.Applied {
		t.Fatalf("edge's note on %s: %s (%s %v), want applied", commit[:12], a.Result, a.Reason, a.Errors)
	}
	if err := siteErr(ctx, m); err != nil {
		t.Fatalf("applied, but %v", err)
	}
	return m, pub
}

// TestLinuxUnit proves tether.service on a Linux site: enabled and started
// from the .deb, it reports ready through sd_notify, applies the site
// (WireGuard through wg-quick and wireguard-go, a sysctl, an nftables
// firewall) as root with the unit's cut-down capabilities and sandbox, logs
// fit for journald and says where it stands in STATUS=, and `systemctl stop`
// ends it cleanly.
func TestLinuxUnit(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	m, _ := linuxEdge(t, ctx)
	journalFit(t, ctx, m, "tether.service")
	if st := show(t, ctx, m, "tether.service", "StatusText")["StatusText"]; !strings.Contains(st, "; last applied ") {
		t.Errorf("StatusText = %q, want the last applied commit", st)
	}
	stopClean(t, ctx, m, "tether.service")
}

// TestLinuxReboot proves that a Linux site survives a real reboot of the
// container (`systemctl reboot`; nspawn boots the same root in a fresh
// network namespace, so nothing of the running state survives): the
// enabled unit is running again and the site's tunnel, sysctl and firewall
// are back, through boot units or the agent's own restore.
func TestLinuxReboot(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	m, _ := linuxEdge(t, ctx)

	start := time.Now()
	m.Reboot(ctx)
	t.Logf("rebooted in %v", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := show(t, ctx, m, "tether.service", "ActiveState", "SubState")
		if p["ActiveState"] == "active" && p["SubState"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether.service after reboot: %v, want active/running", p)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Give the agent a few polls to notice and restore what the reboot
	// wiped.
	waitFor(t, ctx, 20*time.Second, func() error { return siteErr(ctx, m) })
	if err := siteErr(ctx, m); err != nil {
		t.Errorf("after reboot: %v", err)
		// What boot did with the files the agent rendered.
		for _, c := range [][]string{{"ls", "-l", "/etc/sysctl.d", "/etc/wireguard", "/etc/nftables.d"},
			{"systemctl", "is-enabled", "nftables.service", "wg-quick@wg0.service"},
			{"journalctl", "--no-pager", "-b", "-u", "tether.service", "-o", "cat"}} {
			out, _ := m.Run(ctx, c...)
			t.Logf("%s:\n%s", strings.Join(c, " "), out)
		}
	}
	stopClean(t, ctx, m, "tether.service")
}

// TestLinuxDeadman proves the Linux dead-man under systemd: the agent is
// SIGKILLed while the health gate of a change is running (a must-pass ping
// that cannot succeed); the transient timer the agent armed with
// systemd-run lives outside the agent's cgroup, fires at deadline + margin
// and runs `tether revert`, which restores the prior sysctl before the unit
// restarts the agent (RestartSec=30s); the restarted agent then records the
// commit as reverted in its note.
func TestLinuxDeadman(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	m, pub := linuxEdge(t, ctx)
	pid := show(t, ctx, m, "tether.service", "MainPID")["MainPID"]

	bad := fmt.Sprintf(linuxSite, pub)
	bad = strings.Replace(bad, `"net.ipv6.conf.all.forwarding" = "1"`, `"net.ipv6.conf.all.forwarding" = "0"`, 1)
	bad += "[[probe]]\nname = \"nowhere\"\ntype = \"ping\"\ntarget = \"fd00:dead::1\"\n"
	c2 := push(t, map[string]string{"sites/edge.toml": bad}, "bed: a change whose gate cannot pass")
	m.MustRun(ctx, "systemctl", "reload", "tether.service") // SIGHUP: sync now

	// Mid-gate: the change is applied and the dead-man armed.
	var timer string
	waitFor(t, ctx, 30*time.Second, func() error {
		out, _ := m.Run(ctx, "systemctl", "list-units", "--no-legend", "--plain", "tether-deadman-*.timer")
		if f := strings.Fields(out); len(f) > 0 {
			timer = f[0]
		}
		fwd, _ := m.Run(ctx, "sysctl", "-n", "net.ipv6.conf.all.forwarding")
		if timer == "" || strings.TrimSpace(fwd) != "0" {
			return fmt.Errorf("not gating yet")
		}
		return nil
	})
	if timer == "" {
		t.Fatalf("no tether-deadman timer armed after pushing %s", c2[:12])
	}
	m.MustRun(ctx, "kill", "-KILL", pid)
	killed := time.Now()
	t.Logf("killed the agent mid-gate; %s armed", timer)

	// deadline 20s + margin 5s from arming; the agent restarts 30s after
	// the kill, so the revert seen while it is down is the timer's.
	var restored time.Duration
	waitFor(t, ctx, 45*time.Second, func() error {
		fwd, _ := m.Run(ctx, "sysctl", "-n", "net.ipv6.conf.all.forwarding")
		if strings.TrimSpace(fwd) != "1" {
			return fmt.Errorf("not restored")
		}
		restored = time.Since(killed)
		return nil
	})
	if restored == 0 {
		t.Fatalf("forwarding not restored within 45s of the kill; timers:\n%s", m.MustRun(ctx, "systemctl", "list-timers", "--all", "--no-pager"))
	}
	p := show(t, ctx, m, "tether.service", "MainPID", "NRestarts")
	if p["NRestarts"] != "0" {
		t.Errorf("the agent restarted (%v) before the revert: the timer's work is not proved", p)
	}
	dm := m.MustRun(ctx, "journalctl", "--no-pager", "-o", "cat", "-u", strings.TrimSuffix(timer, ".timer")+".service")
	t.Logf("prior sysctl back %v after the kill; dead-man service journal:\n%s", restored.Round(100*time.Millisecond), dm)
	if !strings.Contains(dm, "Finished") && !strings.Contains(dm, "Deactivated successfully") {
		t.Errorf("the dead-man service did not run to success")
	}
	if !strings.Contains(dm, "reverted by dead-man") || strings.Contains(dm, `"ts":`) {
		t.Errorf("the dead-man's journal lines: want its \"reverted by dead-man\" line without a timestamp of its own")
	}

	// The restarted agent notes the commit it could not keep.
	n := waitNote(t, ctx, m, "edge", c2)
	a := n.Attempts[len(n.Attempts)-1]
	if a.Result == notes.Applied {
		t.Errorf("note on %s says applied after a dead-man revert", c2[:12])
	}
	t.Logf("note on %s after restart: %s (%s)", c2[:12], a.Result, a.Reason)

	// Type=notify means ready after recovery: the restarted agent's
	// recovery lines come before systemd's "Started".
	j := m.MustRun(ctx, "journalctl", "--no-pager", "-o", "cat", "-u", "tether.service")
	j = j[strings.LastIndex(j, "Starting tether.service"):]
	rec, started := strings.Index(j, `"step": "recover"`), strings.Index(j, "Started tether.service")
	if rec < 0 || started < 0 || rec > started {
		t.Errorf("restarted agent: want its recovery logged before READY=1 (systemd's Started line):\n%s", j)
	}
}

// siteErr says what of linuxSite is missing from the running system.
func siteErr(ctx context.Context, m *Machine) error {
	var missing []string
	if out, err := m.Run(ctx, "ip", "link", "show", "dev", "wg0"); err != nil || !strings.Contains(out, "UP") {
		missing = append(missing, "wg0 up")
	}
	if out, err := m.Run(ctx, "sysctl", "-n", "net.ipv6.conf.all.forwarding"); err != nil || strings.TrimSpace(out) != "1" {
		missing = append(missing, "net.ipv6.conf.all.forwarding=1")
	}
	if out, err := m.Run(ctx, "nft", "list", "ruleset"); err != nil || !strings.Contains(out, "policy drop") {
		missing = append(missing, "the firewall (input policy drop)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// waitFor polls check until it returns nil or d passes.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for check() != nil && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
	}
}

// TestPurge proves that `dpkg --purge` of a running, enabled install leaves
// nothing behind: the agent is stopped, the units, their enablement links,
// the state directory and the tether user are gone, and systemd is still
// running without failed units.
func TestPurge(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	m, commit := routerOSAgent(t, ctx)
	m.MustRun(ctx, "systemctl", "enable", "--now", "tether-routeros.service")
	waitNote(t, ctx, m, "home", commit)
	// The operator's files are theirs to remove.
	m.MustRun(ctx, "rm", "-r", "/etc/systemd/system/tether-routeros.service.d", "/etc/tether/agent.toml", "/etc/tether/routeros-password")

	m.MustRun(ctx, "dpkg", "--purge", "tether")
	var left []string
	if out, _ := m.Run(ctx, "pgrep", "-x", "tether"); strings.TrimSpace(out) != "" {
		left = append(left, "tether processes "+strings.Join(strings.Fields(out), ","))
	}
	for _, path := range []string{"/lib/systemd/system/tether.service", "/lib/systemd/system/tether-routeros.service",
		"/etc/systemd/system/multi-user.target.wants/tether-routeros.service", "/var/lib/tether", "/etc/tether", "/usr/bin/tether"} {
		if _, err := m.Run(ctx, "test", "-e", path); err == nil {
			left = append(left, path)
		}
	}
	if _, err := m.Run(ctx, "getent", "passwd", "tether"); err == nil {
		left = append(left, "user tether")
	}
	if _, err := m.Run(ctx, "getent", "group", "tether"); err == nil {
		left = append(left, "group tether")
	}
	if len(left) > 0 {
		t.Errorf("dpkg --purge left: %s", strings.Join(left, "; "))
	}
	if state := strings.TrimSpace(m.MustRun(ctx, "systemctl", "list-units", "--failed", "--no-legend", "--plain")); state != "" {
		t.Errorf("failed units after purge:\n%s", state)
	}
}
