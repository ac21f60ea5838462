package systemd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Suite and Packages define the root: what debootstrap installs on top of
// minbase. adduser is the .deb's dependency; git is what go-git runs for a
// local-directory repo (the tests' network repo); systemd, dbus and
// iproute2 are booting and systemctl; procps, nftables, wireguard-tools and
// iputils-ping are what a Linux site's agent runs (sysctl, nft, wg,
// wg-quick, ping probes).
const Suite = "bookworm"

// Packages is the --include list of the root; changing it builds a new root.
var Packages = []string{"systemd", "systemd-sysv", "dbus", "iproute2", "adduser", "git",
	"procps", "nftables", "wireguard-tools", "iputils-ping"}

// CacheDir holds the built roots, one directory per key.
var CacheDir = "/var/cache/tether-test/debootstrap"

// Timeouts of the bed's steps.
const (
	BuildTimeout = 10 * time.Minute
	BootTimeout  = 60 * time.Second
	HaltTimeout  = 30 * time.Second
)

var tools = []string{"debootstrap", "systemd-nspawn", "nsenter", "ip", "mount"}

// Require skips t when the bed cannot run here: -short, not root, or a
// missing tool (the bed's own and extra, which a test names). On CI
// (CI=true or 1) as root a missing tool fails the test: the CI set-up is
// broken.
func Require(t testing.TB, extra ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make unit): boots a systemd container")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts an overlay and boots a container with systemd-nspawn")
	}
	var missing []string
	for _, tool := range append(tools[:len(tools):len(tools)], extra...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	err := fmt.Errorf("missing %s (apt-get install debootstrap systemd-container util-linux iproute2 git wireguard-go)", strings.Join(missing, ", "))
	if ci := strings.ToLower(os.Getenv("CI")); (ci == "true" || ci == "1") && os.Geteuid() == 0 {
		t.Fatalf("%v (CI is set and we run as root, so this is a failure, not a skip)", err)
	}
	t.Skip(err)
}

// Mirror is the Debian archive debootstrap downloads from: the first
// deb.debian.org-style URI of a bookworm entry in this machine's apt
// sources, else deb.debian.org. $TETHER_DEBIAN_MIRROR overrides it.
func Mirror() string {
	if m := os.Getenv("TETHER_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// deb822 stanzas: the URIs of one whose Suites has the bare suite.
		for _, stanza := range strings.Split(string(b), "\n\n") {
			var uri string
			var suite bool
			for _, line := range strings.Split(stanza, "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				switch strings.TrimSpace(k) {
				case "URIs":
					uri = strings.Fields(v + " ")[0]
				case "Suites":
					for _, s := range strings.Fields(v) {
						suite = suite || s == Suite
					}
				}
			}
			if uri != "" && suite {
				return uri
			}
		}
	}
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, f := range append([]string{"/etc/apt/sources.list"}, lists...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			for i := 0; i+2 < len(fl); i++ {
				if fl[i] == "deb" && strings.Contains(fl[i+1], "://") && fl[i+2] == Suite {
					return fl[i+1]
				}
			}
		}
	}
	return "http://deb.debian.org/debian"
}

var rootOnce struct {
	sync.Mutex
	path string
}

// Root returns the cached root, building it if there is none; it logs
// whether it was built and how long that took.
func Root(t testing.TB) string {
	t.Helper()
	rootOnce.Lock()
	defer rootOnce.Unlock()
	if rootOnce.path != "" {
		return rootOnce.path
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	start := time.Now()
	p, built, err := buildRoot(ctx, CacheDir, Mirror(), t.Logf)
	if err != nil {
		t.Fatalf("systemd test bed root: %v", err)
	}
	if built {
		t.Logf("built root %s in %v", p, time.Since(start).Round(100*time.Millisecond))
	} else {
		t.Logf("reused cached root %s (%v)", p, time.Since(start).Round(time.Millisecond))
	}
	rootOnce.path = p
	return p
}

// buildRoot returns <cache>/<key>/root, running debootstrap into a
// temporary directory and renaming it into place when there is none. A
// lock file serialises test processes building the same key; a root is
// only used once its "complete" stamp exists, so an interrupted build is
// redone.
func buildRoot(ctx context.Context, cache, mirror string, logf func(string, ...any)) (string, bool, error) {
	sum := sha256.Sum256([]byte(strings.Join([]string{Suite, "minbase", mirror, strings.Join(Packages, ",")}, "\n")))
	dir := filepath.Join(cache, Suite+"-"+hex.EncodeToString(sum[:6]))
	root := filepath.Join(dir, "root")
	stamp := filepath.Join(dir, "complete")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", false, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", false, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(stamp); err == nil {
		return root, false, nil
	}
	tmp := root + ".tmp"
	for _, p := range []string{tmp, root} {
		if err := os.RemoveAll(p); err != nil {
			return "", false, err
		}
	}
	logf("building root: debootstrap --variant=minbase --include=%s %s (%s)", strings.Join(Packages, ","), Suite, mirror)
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(Packages, ","), Suite, tmp, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		tail := out
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		_ = os.RemoveAll(tmp)
		return "", false, fmt.Errorf("debootstrap %s from %s: %w\n%s", Suite, mirror, err, tail)
	}
	// The apt lists and .debs are 100+ MB that no test reads.
	for _, junk := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		entries, _ := filepath.Glob(filepath.Join(tmp, junk, "*"))
		for _, e := range entries {
			if fi, err := os.Stat(e); err == nil && !fi.IsDir() {
				_ = os.Remove(e)
			}
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(stamp, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", false, err
	}
	return root, true, nil
}

// Machine is a booted container.
type Machine struct {
	t      testing.TB
	Name   string
	dir    string // overlay upper/work, merged root, logs
	Root   string // the merged root as the host sees it: write files here
	netns  string // /run/netns name
	logf   *os.File
	nspawn *exec.Cmd
	exited chan struct{}
	exit   error
	Leader int // the container's PID 1, as the host numbers it
	// BootTime is how long the last boot took, nspawn start to "running".
	BootTime time.Duration
}

// Boot boots root (Root's result) in a fresh overlay and network namespace
// and registers its teardown with t.Cleanup.
func Boot(t testing.TB, root string) *Machine {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("tetherbed-%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	m := &Machine{t: t, Name: name, dir: dir, Root: filepath.Join(dir, "merged"), netns: name}
	t.Cleanup(m.close)
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", root, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", m.Root, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay on %s: %v", m.Root, err)
	}
	if out, err := exec.Command("ip", "netns", "add", m.netns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", m.netns, err, out)
	}
	m.logf, err = os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.boot(); err != nil {
		t.Fatal(err)
	}
	return m
}

// boot starts nspawn on the overlay and waits until systemd says running.
func (m *Machine) boot() error {
	start := time.Now()
	_, _ = fmt.Fprintf(m.logf, "=== boot %s\n", start.UTC().Format(time.RFC3339))
	cmd := exec.Command("systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--machine="+m.Name,
		"-D", m.Root, "--network-namespace-path=/run/netns/"+m.netns, "--bind=/dev/net/tun",
		// nspawn drops CAP_NET_ADMIN from the container unless it makes the
		// network namespace itself; the namespace is the container's own,
		// so give it back (nft, wg-quick and sysctl -w need it).
		"--capability=CAP_NET_ADMIN",
		"--console=pipe", "-b")
	cmd.Stdout, cmd.Stderr = m.logf, m.logf
	// nspawn mounts /proc/sys read-only; on a real host /proc/sys/net is
	// writable, and systemd-sysctl.service (which applies /etc/sysctl.d at
	// boot) is skipped without it.
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=network")
	// nspawn forwards SIGTERM to the container as a halt request; its own
	// process group keeps a ^C of `go test` from racing our teardown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("systemd-nspawn: %w", err)
	}
	m.nspawn, m.exited, m.Leader = cmd, make(chan struct{}), 0
	exited := m.exited
	go func() { m.exit = cmd.Wait(); close(exited) }()

	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	for m.Leader == 0 {
		m.Leader = containerInit(cmd.Process.Pid)
		if m.Leader != 0 {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("systemd-nspawn exited while booting: %v\n%s", m.exit, m.console())
		case <-ctx.Done():
			return fmt.Errorf("no container init under nspawn %d after %v\n%s", cmd.Process.Pid, BootTimeout, m.console())
		case <-time.After(50 * time.Millisecond):
		}
	}
	var state string
	for {
		// Before D-Bus is up, systemctl fails; keep asking.
		out, _ := m.Run(ctx, "systemctl", "is-system-running")
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("systemd-nspawn exited while booting: %v\n%s", m.exit, m.console())
		case <-ctx.Done():
			return fmt.Errorf("container not running after %v (state %q)\n%s", BootTimeout, state, m.console())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if state == "degraded" {
		failed, _ := m.Run(ctx, "systemctl", "--failed", "--no-legend")
		return fmt.Errorf("container booted degraded; failed units:\n%s", failed)
	}
	m.BootTime = time.Since(start)
	// The namespace from `ip netns add` starts with lo down, and systemd in
	// a container leaves it so.
	if out, err := m.Run(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("lo up: %v: %s", err, out)
	}
	return nil
}

// containerInit finds the child of nspawn that is PID 1 of its own PID
// namespace.
func containerInit(nspawn int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", nspawn, nspawn))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				ids := strings.Fields(rest)
				if len(ids) > 1 && ids[len(ids)-1] == "1" {
					return pid
				}
			}
		}
	}
	return 0
}

// Run runs a command inside the container (all its namespaces) and returns
// its combined output.
func (m *Machine) Run(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"-t", strconv.Itoa(m.Leader), "-a"}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (m *Machine) MustRun(ctx context.Context, args ...string) string {
	m.t.Helper()
	out, err := m.Run(ctx, args...)
	if err != nil {
		m.t.Fatalf("in %s: %v\n%s", m.Name, err, out)
	}
	return out
}

// WriteFile writes a file into the container's root (path as seen inside).
func (m *Machine) WriteFile(path string, data []byte, mode os.FileMode) {
	m.t.Helper()
	p := filepath.Join(m.Root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		m.t.Fatal(err)
	}
}

// Reboot runs `systemctl reboot` inside, waits for nspawn to exit (it
// exits with status 133 when the container asks for a reboot) and boots the
// same root again: the overlay keeps everything the container wrote. The
// network namespace is replaced by a fresh one, as a real reboot starts
// with an unconfigured kernel: interfaces, sysctls and nftables rules are
// per namespace and would otherwise survive.
func (m *Machine) Reboot(ctx context.Context) {
	m.t.Helper()
	if out, err := m.Run(ctx, "systemctl", "reboot"); err != nil {
		m.t.Fatalf("systemctl reboot: %v: %s", err, out)
	}
	select {
	case <-m.exited:
	case <-ctx.Done():
		m.t.Fatalf("container did not go down after systemctl reboot: %v\n%s", ctx.Err(), m.console())
	}
	var ee *exec.ExitError
	if !errors.As(m.exit, &ee) || ee.ExitCode() != 133 {
		m.t.Fatalf("nspawn exited with %v after systemctl reboot, want status 133 (reboot)\n%s", m.exit, m.console())
	}
	if out, err := exec.Command("ip", "netns", "del", m.netns).CombinedOutput(); err != nil {
		m.t.Fatalf("ip netns del %s: %v: %s", m.netns, err, out)
	}
	if out, err := exec.Command("ip", "netns", "add", m.netns).CombinedOutput(); err != nil {
		m.t.Fatalf("ip netns add %s: %v: %s", m.netns, err, out)
	}
	if err := m.boot(); err != nil {
		m.t.Fatal(err)
	}
}

func (m *Machine) console() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "console.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// close halts the container (SIGTERM to nspawn asks systemd to power off;
// SIGKILL after HaltTimeout), then removes the overlay, the namespace and
// the files. When the test failed, the console and journal tail are logged.
func (m *Machine) close() {
	if m.t.Failed() && m.nspawn != nil && m.Leader != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		j, _ := m.Run(ctx, "journalctl", "--no-pager", "-n", "150")
		cancel()
		m.t.Logf("%s journal (tail):\n%s", m.Name, j)
	}
	if m.nspawn != nil && m.nspawn.Process != nil {
		select {
		case <-m.exited:
		default:
			_ = m.nspawn.Process.Signal(syscall.SIGTERM)
			select {
			case <-m.exited:
			case <-time.After(HaltTimeout):
				m.t.Errorf("%s did not halt in %v; killing nspawn", m.Name, HaltTimeout)
				_ = m.nspawn.Process.Kill()
				<-m.exited
			}
		}
	}
	if m.t.Failed() {
		m.t.Logf("%s console:\n%s", m.Name, m.console())
	}
	if m.logf != nil {
		_ = m.logf.Close()
	}
	if err := syscall.Unmount(m.Root, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		// Busy: something still holds it. Detach so the next run is not
		// blocked, and say so.
		m.t.Errorf("unmount %s: %v (detaching)", m.Root, err)
		_ = syscall.Unmount(m.Root, syscall.MNT_DETACH)
	}
	_ = exec.Command("ip", "netns", "del", m.netns).Run()
	if err := os.RemoveAll(m.dir); err != nil {
		m.t.Errorf("remove %s: %v", m.dir, err)
	}
}
