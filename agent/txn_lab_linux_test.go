package agent_test

// The transaction on a Linux relay in network namespaces (test/lab): the
// ula-mesh example, a real agent.Agent on the relay over a real git
// repository and notes, the linuxhost device with its detached dead-man,
// wall-clock time with a short gate. Needs root and the lab tools; skipped
// otherwise (lab.Require).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"go.uber.org/zap/zaptest"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/linuxhost/linuxhosttest"
	"github.com/tether-net/tether/agent/notebook"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/lab"
)

func TestMain(m *testing.M) {
	// The detached dead-man re-executes this binary as `tether revert`.
	linuxhosttest.MaybeRevert()
	os.Exit(m.Run())
}

var txnLabTools = []string{"wg-quick", "bird", "birdc", "nft", "radvd", "keepalived", "bash", "setsid", "sysctl", "ping", "git"}

// txnLabServices is linuxhost.Direct plus a stand-in for systemd-networkd
// (lab hosts run none): "reload" adds the Address= lines of the .network
// files with ip(8), as agent/linuxhost's lab tests do.
type txnLabServices struct {
	linuxhost.Direct
	root string
}

func (s txnLabServices) Control(ctx context.Context, verb, unit string) error {
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

// countingDevice counts the transactions that reach the device.
type countingDevice struct {
	agent.Device
	applies atomic.Int64
}

func (c *countingDevice) Apply(ctx context.Context, p *agent.Plan, deadline time.Time) error {
	c.applies.Add(1)
	return c.Device.Apply(ctx, p, deadline)
}

var txnPubKeyLine = regexp.MustCompile(`(?m)^public_key = "[^"]*"`)

func TestTxnLinuxRelay(t *testing.T) {
	lab.Require(t, txnLabTools...)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := lab.New(t, lab.Star("inet", "relay", "edge-a", "edge-b"))
	files := exampleFilesOf(t, "../repo-example/ula-mesh")
	relayHost := l.Host("relay")
	for _, name := range []string{"links/relay-edge-a.toml", "links/relay-edge-b.toml"} {
		files = patch(t, files, name, `"relay.example.net:51820"`, `"`+relayHost.Addr4().String()+`:51820"`)
	}
	// A static route gives the relay a bird.conf to change.
	files["sites/relay.toml"] += "\n[[route]]\ndst = \"fd00:dead::/48\"\nblackhole = true\ncomment = \"lab\"\n"
	keys := map[string]string{}
	for _, name := range []string{"relay", "edge-a", "edge-b"} {
		h := l.Host(name)
		txnNoResolver(t, ctx, h)
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(h.Path("keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(h.Path("keys", "wgvpnr01.key"), []byte(k.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		keys[name] = k.PublicKey().String()
		files["sites/"+name+".toml"] = txnPubKeyLine.ReplaceAllString(files["sites/"+name+".toml"], fmt.Sprintf("public_key = %q", keys[name]))
	}
	devs := map[string]*linuxhost.Device{}
	for _, name := range []string{"relay", "edge-a"} {
		h := l.Host(name)
		units := linuxhost.DirectUnits(h.Dir(), linuxhost.DefaultBirdSocket)
		devs[name] = linuxhost.New(linuxhost.Options{
			Root: h.Dir(), KeyDir: h.Path("keys"), StateDir: h.Path("state"), Runner: h,
			Services: txnLabServices{Direct: linuxhost.Direct{Runner: h, Units: units}, root: h.Dir()},
			Log:      zaptest.NewLogger(t).Named(name), DeadMan: linuxhost.DeadManDetached,
			RevertCommand: linuxhosttest.RevertCommand(exe),
		})
	}
	// The mesh as it runs before the agent takes over: the relay and
	// edge-a configured; edge-b's router is down (never configured), so the
	// relay's check of edge-b fails from the start.
	n0 := txnLoad(t, files)
	for _, name := range []string{"relay", "edge-a"} {
		p, err := devs[name].Plan(ctx, n0, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := devs[name].Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := devs[name].Settle(ctx, p, true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	prober := &linuxhost.Prober{Runner: relayHost}
	hsA, hsB := "handshake wgvpnr01/edge-a", "handshake wgvpnr01/edge-b"
	probe := func(n *policy.Network) map[string]agent.CheckResult {
		out := map[string]agent.CheckResult{}
		for _, r := range prober.Probe(ctx, n.HealthChecks("relay")) {
			out[r.Name] = r
		}
		return out
	}
	edgeA := l.Host("edge-a")
	diag := func(t *testing.T) {
		for _, h := range []*lab.Host{relayHost, edgeA} {
			for _, cmd := range [][]string{{"wg", "show"}, {"ip", "-br", "link"}, {"ip", "-6", "addr", "show", "dev", "wgvpnr01"}, {"ip", "-6", "route"}} {
				out, errb, _, _ := h.Run(ctx, cmd[0], cmd[1:]...)
				t.Logf("%s: %v:\n%s%s", h.Name(), cmd, out, errb)
			}
		}
		logs, _ := filepath.Glob(filepath.Join(relayHost.Path("state"), "linuxhost", "deadman-*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", f, b)
		}
	}
	waitEdgeA := func(t *testing.T, after time.Time, what string) time.Duration {
		t.Helper()
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		var last agent.CheckResult
		err := lab.WaitFor(wctx, func() (bool, error) {
			// Traffic from edge-a makes it handshake now rather than at
			// its next keepalive.
			_, _, _, _ = edgeA.Run(wctx, "ping", "-6", "-c", "1", "-W", "1", "fd00:ffff::1")
			last = probe(n0)[hsA]
			// The handshake's time from wg itself: linuxhost.Prober does
			// not report CheckResult.Since (see TestTxnLinuxProberReportsHandshakeSince).
			w, err := relayHost.WGShow(wctx, "wgvpnr01")
			if err != nil {
				return false, nil
			}
			p, ok := w.Peer(keys["edge-a"])
			return last.OK && ok && !p.LatestHandshake.Before(after.Truncate(time.Second)), nil
		})
		if err != nil {
			diag(t)
			t.Fatalf("%s: edge-a's tunnel did not come up: %v (%s)", what, err, last.Evidence)
		}
		t.Logf("%s: %s: %s", what, hsA, last.Evidence)
		return time.Since(start)
	}
	waitEdgeA(t, time.Time{}, "before the agent")
	if r := probe(n0)[hsB]; r.OK {
		t.Fatalf("edge-b is down, its check must fail: %s", r.Evidence)
	}

	// The relay's agent.
	repo := newGitRepo(t)
	stateDir := t.TempDir()
	src, err := gitsource.Open(ctx, gitsource.Config{URL: repo.bare, StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	newStore := func(site string) (*notes.Store, error) {
		return notes.New(notes.Config{Repo: src.Repository(), Site: site, RemoteURL: repo.bare,
			Rand: func() float64 { return 0.5 }, Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	own, err := newStore("relay")
	if err != nil {
		t.Fatal(err)
	}
	dev := &countingDevice{Device: devs["relay"]}
	var txn atomic.Int64
	a := &agent.Agent{
		Site: "relay", Path: netDir, Source: src, Device: dev, Prober: prober,
		Notes: &notebook.Git{Own: own, Other: newStore}, Clock: agent.RealClock{},
		Journal: agent.NewJournal(stateDir), States: agent.NewStateStore(stateDir),
		Gate:   agent.GateConfig{Deadline: 15 * time.Second, StableWindow: 2 * time.Second, Interval: time.Second, PeerNoteWait: 5 * time.Second},
		Margin: 20 * time.Second, Version: "test", Host: "relay-lab", Log: zaptest.NewLogger(t).Named("agent"),
		NewTxnID: func() string { return fmt.Sprintf("lab%03d", txn.Add(1)) },
	}
	sync := func() *agent.Outcome {
		t.Helper()
		o, err := a.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	note := func(c plumbing.Hash) notes.Attempt {
		t.Helper()
		n := repo.publishedNote(t, "relay", c)
		a := lastAttempt(t, n)
		t.Logf("note on %s: %s", c.String()[:12], describeNote(a))
		return a
	}

	c1 := repo.commit(t, files, "ula-mesh")
	if o := sync(); o == nil || o.Result != agent.ResultUnchanged {
		t.Fatalf("the running mesh at the first commit: %+v", o)
	}

	t.Run("baseline failure does not revert", func(t *testing.T) {
		f := patch(t, files, "sites/relay.toml", `dst = "fd00:dead::/48"`, `dst = "fd00:beef::/48"`)
		c := repo.commit(t, f, "relay: blackhole moves")
		start := time.Now()
		o := sync()
		if o == nil || o.Result != agent.ResultApplied {
			t.Fatalf("a change that does not touch edge-b's link must apply: %+v", o)
		}
		t.Logf("commit → applied in %s", time.Since(start).Round(time.Millisecond))
		at := note(c)
		ck, ok := findCheck(at, hsB)
		if !ok || ck.Status != notes.Fail || ck.Baseline != notes.Fail || ck.MustPass || !strings.Contains(ck.Evidence, "already failing before the change") {
			t.Fatalf("edge-b must be reported as already failing: %+v", ck)
		}
		if ck, ok := findCheck(at, hsA); !ok || ck.Status != notes.Pass || !ck.MustPass {
			t.Fatalf("edge-a must be judged and pass: %+v", ck)
		}
		if out, err := relayHost.BirdC(ctx, linuxhost.DefaultBirdSocket, "show route"); err != nil || !strings.Contains(out, "fd00:beef::/48") {
			t.Fatalf("BIRD did not pick up the change: %v\n%s", err, out)
		}
		files = f
		c1 = c
	})

	t.Run("bad key for edge-a is reverted and quarantined", func(t *testing.T) {
		before := txnSnapshot(t, ctx, relayHost)
		f := patch(t, files, "sites/edge-a.toml", keys["edge-a"], flipChar(keys["edge-a"], 10))
		bad := repo.commit(t, f, "edge-a: public key (typo)")
		start := time.Now()
		o := sync()
		if o == nil || o.Result != agent.ResultReverted {
			t.Fatalf("a bad key for edge-a must be reverted: %+v", o)
		}
		reverted := time.Now()
		for _, c := range o.Changes {
			t.Logf("plan: %s", linuxhost.Line(c))
		}
		t.Logf("commit → reverted in %s (gate %s)", reverted.Sub(start).Round(time.Millisecond), o.Finished.Sub(o.Started).Round(time.Millisecond))
		at := note(bad)
		if at.Result != notes.Reverted || !strings.HasPrefix(at.Reason, "gate failed: "+hsA+": ") {
			t.Fatalf("note: %s", describeNote(at))
		}
		if ck, ok := findCheck(at, hsB); !ok || ck.MustPass || ck.Baseline != notes.Fail {
			t.Fatalf("edge-b must stay excused: %+v", ck)
		}
		if d := txnSnapshotDiff(before, txnSnapshot(t, ctx, relayHost)); d != "" {
			t.Fatalf("the revert did not restore the relay:\n%s", d)
		}
		back := waitEdgeA(t, reverted, "after the revert")
		t.Logf("edge-a's tunnel back %s after the revert", back.Round(time.Millisecond))
		st, _ := a.States.Load()
		if _, q := st.Quarantined[bad.String()]; !q || st.Running != c1.String() {
			t.Fatalf("state: %+v", st)
		}
		applies := dev.applies.Load()
		for i := 0; i < 2; i++ {
			if o := sync(); o != nil {
				t.Fatalf("poll %d after the revert: %+v", i+1, o)
			}
		}
		if dev.applies.Load() != applies {
			t.Fatal("the quarantined commit reached the device again")
		}
		if left, _ := filepath.Glob(filepath.Join(relayHost.Path("state"), "linuxhost", "txn-*.json")); len(left) > 0 {
			t.Fatalf("transaction records left: %v", left)
		}
	})
}

func txnLoad(tb testing.TB, files map[string]string) *policy.Network {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	n, probs := policy.Load(os.DirFS(dir), ".")
	if n == nil || probs.HasErrors() {
		tb.Fatalf("load network: %v", probs.Err())
	}
	return n
}

// txnSnapshot is the relay's files and WireGuard peers (keys, allowed
// addresses), for exact before/after comparison.
func txnSnapshot(t *testing.T, ctx context.Context, h *lab.Host) map[string]string {
	t.Helper()
	snap := map[string]string{}
	_ = filepath.WalkDir(filepath.Join(h.Dir(), "etc"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			snap["file "+p] = string(b)
		}
		return nil
	})
	w, err := h.WGShow(ctx, "wgvpnr01")
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, p := range w.Peers {
		peers = append(peers, fmt.Sprint(p.PublicKey, p.AllowedIPs, p.PersistentKeepalive))
	}
	slices.Sort(peers)
	snap["wg"] = fmt.Sprint(w.PublicKey, w.ListenPort, peers)
	return snap
}

func txnSnapshotDiff(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s:\n--- want\n%s\n--- got\n%s", k, v, b[k]))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+" appeared")
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// txnNoResolver makes DNS fail at once inside a lab host.
func txnNoResolver(t *testing.T, ctx context.Context, h *lab.Host) {
	t.Helper()
	if err := h.BlockResolvers(ctx); err != nil {
		t.Fatal(err)
	}
}
