//go:build linux

package linuxhost_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/linuxhost/linuxhosttest"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/lab"
)

func TestMain(m *testing.M) {
	// The detached dead-man re-executes this binary as `tether revert`.
	linuxhosttest.MaybeRevert()
	os.Exit(m.Run())
}

// labTools are what the Linux device runs in these tests.
var labTools = []string{"wg-quick", "bird", "birdc", "nft", "radvd", "keepalived", "ndppd", "bash", "setsid", "sysctl", "ping"}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// example reads repo-example/<name> into a map that tests patch.
func example(t testing.TB, name string) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..", "repo-example", name)
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	return files
}

// load compiles a patched copy of an example from memory.
func load(t *testing.T, files map[string]string) *policy.Network {
	t.Helper()
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v), Mode: 0o644}
	}
	n, probs := policy.Load(m, ".")
	if n == nil || probs.HasErrors() {
		t.Fatalf("load network: %v", probs.Err())
	}
	return n
}

func replace(t *testing.T, files map[string]string, name, old, new string) {
	t.Helper()
	if !strings.Contains(files[name], old) {
		t.Fatalf("patch %s: %q not found", name, old)
	}
	files[name] = strings.ReplaceAll(files[name], old, new)
}

var birdTime = regexp.MustCompile(`\d\d:\d\d:\d\d\.\d+`)

var pubKeyLine = regexp.MustCompile(`(?m)^public_key = "[^"]*"`)

// keygen writes <dir>/<iface>.key the way `tether keygen` does (base64
// and a newline, 0600) and puts its public key into the site's file.
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
	name := "sites/" + site + ".toml"
	if n := len(pubKeyLine.FindAllString(files[name], -1)); n != 1 {
		t.Fatalf("%s has %d public_key lines, want 1", name, n)
	}
	files[name] = pubKeyLine.ReplaceAllString(files[name], fmt.Sprintf("public_key = %q", k.PublicKey().String()))
}

// recorder is a Runner that remembers every command, so tests can prove
// which activations ran.
type recorder struct {
	r    linuxhost.Runner
	mu   sync.Mutex
	cmds [][]string
}

func (r *recorder) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, append([]string{name}, args...))
	r.mu.Unlock()
	start := time.Now()
	o, e, c, err := r.r.Run(ctx, name, args...)
	if d := time.Since(start); d > time.Second && os.Getenv("LINUXHOST_SLOW") != "" {
		fmt.Fprintf(os.Stderr, "slow (%s): %s %q: exit %d %v %s\n", d, name, args, c, err, e)
	}
	return o, e, c, err
}

// take returns and forgets the recorded commands.
func (r *recorder) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cmds
	r.cmds = nil
	return c
}

// activations keeps the commands that change runtime state, in a short
// readable form ("wg syncconf wgvpnr01", "nft -f", "reload radvd.service").
func activations(cmds [][]string) []string {
	var out []string
	for _, c := range cmds {
		name, args := c[0], c[1:]
		arg := func(i int) string {
			if i < len(args) {
				return args[i]
			}
			return ""
		}
		switch {
		case name == "wg-quick" && (arg(0) == "up" || arg(0) == "down"):
			out = append(out, "wg-quick "+arg(0)+" "+filepath.Base(arg(1)))
		case name == "bash" && arg(2) == "wg-syncconf":
			out = append(out, "wg syncconf "+arg(3))
		case name == "birdc" && strings.Contains(strings.Join(args, " "), "configure"):
			out = append(out, "birdc configure")
		case name == "nft" && (arg(0) == "-f" || arg(0) == "delete"):
			out = append(out, "nft "+arg(0))
		case name == "sysctl" && (arg(1) == "-p" || arg(1) == "-w"):
			out = append(out, "sysctl "+arg(1))
		case name == "sh" && (arg(2) == "reload" || arg(2) == "stop"):
			out = append(out, arg(2)+" "+arg(3))
		case name == "bird" && arg(0) == "-p", name == "radvd" && arg(0) == "--configtest", name == "keepalived" && arg(0) == "-t":
			// validation
		case name == "bird" || name == "radvd" || name == "keepalived" || name == "ndppd":
			out = append(out, "start "+name)
		case name == "ip" && (arg(1) == "del" || arg(1) == "replace"):
			out = append(out, strings.Join(c, " "))
		case name == "systemctl" || name == "networkctl" || name == "systemd-run":
			out = append(out, strings.Join(c, " "))
		}
	}
	return out
}

// labServices is Direct plus a stand-in for systemd-networkd, which lab
// hosts do not run: "reload" adds the Address= lines of the .network files
// with ip(8), which is what networkd would do for these files.
type labServices struct {
	linuxhost.Direct
	root string
}

func newLabServices(r linuxhost.Runner, root string) labServices {
	units := linuxhost.DirectUnits(root, linuxhost.DefaultBirdSocket)
	// vultr's raw sshd file reloads ssh.service; lab hosts run no sshd, so a
	// placeholder daemon that survives SIGHUP stands in.
	units["ssh.service"] = linuxhost.DirectUnit{
		Start:        []string{"sh", "-c", `setsid sh -c 'trap "" HUP; while sleep 1; do :; done' </dev/null >/dev/null 2>&1 & echo $! > /run/ssh-placeholder.pid`},
		PIDFile:      "/run/ssh-placeholder.pid",
		ReloadSignal: "HUP",
	}
	return labServices{Direct: linuxhost.Direct{Runner: r, Units: units}, root: root}
}

func (s labServices) Control(ctx context.Context, verb, unit string) error {
	if unit != linuxhost.NetworkdUnit {
		return s.Direct.Control(ctx, verb, unit)
	}
	dir := filepath.Join(s.root, "etc/systemd/network")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		var iface string
		var addrs []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			switch {
			case ok && k == "Name":
				iface = v
			case ok && k == "Address":
				addrs = append(addrs, v)
			}
		}
		for _, a := range addrs {
			if _, _, code, err := s.Runner.Run(ctx, "ip", "addr", "replace", a, "dev", iface, "nodad"); err != nil || code != 0 {
				return fmt.Errorf("lab networkd: ip addr replace %s dev %s: exit %d %v", a, iface, code, err)
			}
		}
	}
	return nil
}

// site is one lab host running the Linux device.
type site struct {
	name string
	h    *lab.Host
	rec  *recorder
	dev  *linuxhost.Device
	opt  linuxhost.Options
	prob *linuxhost.Prober
}

func newSite(t *testing.T, h *lab.Host, name string, mod func(*linuxhost.Options)) *site {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{r: h}
	o := linuxhost.Options{
		Root:          h.Dir(),
		KeyDir:        h.Path("keys"),
		StateDir:      h.Path("state"),
		Runner:        rec,
		Services:      newLabServices(rec, h.Dir()),
		Log:           zaptest.NewLogger(t).Named(name),
		DeadMan:       linuxhost.DeadManDetached,
		RevertCommand: linuxhosttest.RevertCommand(exe),
	}
	if mod != nil {
		mod(&o)
	}
	return &site{name: name, h: h, rec: rec, dev: linuxhost.New(o), opt: o,
		prob: &linuxhost.Prober{Runner: h}}
}

// apply plans and applies n at the site and keeps the change.
func (s *site) apply(t *testing.T, ctx context.Context, n *policy.Network) *contract.Plan {
	t.Helper()
	p, err := s.dev.Plan(ctx, n, s.name)
	if err != nil {
		t.Fatalf("%s: plan: %v", s.name, err)
	}
	for _, c := range p.Changes {
		t.Logf("%s: %s", s.name, linuxhost.Line(c))
	}
	if err := s.dev.Apply(ctx, p, time.Now().Add(60*time.Second)); err != nil {
		t.Fatalf("%s: apply: %v", s.name, err)
	}
	if err := s.dev.Settle(ctx, p, true); err != nil {
		t.Fatalf("%s: settle: %v", s.name, err)
	}
	return p
}

func (s *site) out(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	b, err := s.h.Output(ctx, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ifindex returns the interface's index (changes when it is recreated).
func (s *site) ifindex(t *testing.T, ctx context.Context, iface string) string {
	t.Helper()
	f := strings.Fields(s.out(t, ctx, "ip", "-o", "link", "show", "dev", iface))
	return f[0]
}

// waitHealthy waits until every must-pass handshake check of the site
// passes.
func (s *site) waitHealthy(t *testing.T, ctx context.Context, n *policy.Network) {
	t.Helper()
	var checks []policy.Check
	for _, c := range n.HealthChecks(s.name) {
		if c.Kind == policy.CheckHandshake && c.MustPass {
			checks = append(checks, c)
		}
	}
	var last []contract.CheckResult
	err := lab.WaitFor(ctx, func() (bool, error) {
		last = s.prob.Probe(ctx, checks)
		for _, r := range last {
			if !r.OK {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s: handshakes: %v: %+v", s.name, err, last)
	}
	for _, r := range last {
		t.Logf("%s: %s: %s", s.name, r.Name, r.Evidence)
	}
}

// snapshot captures the site's files and runtime state for exact
// comparisons; handshake times and counters are left out, they move on
// their own.
func (s *site) snapshot(t *testing.T, ctx context.Context, ifaces ...string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	_ = filepath.WalkDir(filepath.Join(s.h.Dir(), "etc"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			info, _ := e.Info()
			snap["file "+p] = fmt.Sprintf("%o %s", info.Mode().Perm(), b)
		}
		return nil
	})
	for _, i := range ifaces {
		snap["ifindex "+i] = s.ifindex(t, ctx, i)
		var peers []string
		for j, line := range strings.Split(strings.TrimSpace(s.out(t, ctx, "wg", "show", i, "dump")), "\n") {
			f := strings.Split(line, "\t")
			if j == 0 {
				f[0] = "(private key)"
			} else if len(f) == 8 {
				f[2], f[4], f[5], f[6] = "", "", "", "" // endpoint, handshake, rx, tx
			}
			peers = append(peers, strings.Join(f, " "))
		}
		// wireguard-go lists peers in map order.
		slices.Sort(peers[1:])
		snap["wg "+i] = strings.Join(peers, "\n")
		snap["addr "+i] = s.out(t, ctx, "ip", "-o", "addr", "show", "dev", i)
		snap["route "+i] = s.out(t, ctx, "ip", "-6", "route", "show", "dev", i)
	}
	_, _, code, _ := s.h.Run(ctx, "nft", "list", "table", "inet", "tether")
	snap["nft"] = fmt.Sprint(code)
	if code == 0 {
		snap["nft"] = s.out(t, ctx, "nft", "list", "table", "inet", "tether")
	}
	// BIRD's routes and protocols, without the "since" times: a protocol
	// whose config a revert restores is reconfigured, which is the point.
	if out, _, code, _ := s.h.Run(ctx, "birdc", "-s", linuxhost.DefaultBirdSocket, "show", "route", "all"); code == 0 {
		snap["bird routes"] = birdTime.ReplaceAllString(string(out), "T")
	}
	snap["sysctl"] = s.out(t, ctx, "sysctl", "net.ipv6.conf.all.forwarding", "net.ipv4.ip_forward")
	return snap
}

// diffSnap fails t when the host's files differ from want; tether's own
// state directory may change.
func diffSnap(t *testing.T, want, got map[string]string) {
	t.Helper()
	ownState := cmpopts.IgnoreMapEntries(func(path, _ string) bool { return strings.Contains(path, "/state/") })
	if d := cmp.Diff(want, got, ownState); d != "" {
		t.Errorf("host files differ (-want +got):\n%s", d)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// noResolver makes DNS fail at once inside a lab host (see
// lab.Host.BlockResolvers).
func noResolver(t *testing.T, ctx context.Context, h *lab.Host) {
	t.Helper()
	if err := h.BlockResolvers(ctx); err != nil {
		t.Fatal(err)
	}
}
