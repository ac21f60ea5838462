//go:build linux

package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/tether-net/tether/test/lab"
)

// rebootHost leaves h as a reboot does when nothing is enabled at boot:
// the files stay, nothing runs — no WireGuard interface, no nft table, no
// BIRD, the kernel's default forwarding.
func rebootHost(t *testing.T, ctx context.Context, h *lab.Host, svc linuxhost.Services) {
	t.Helper()
	if err := svc.Control(ctx, linuxhost.VerbStop, "bird.service"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{"ip", "link", "del", "dev", "wgvpnr01"},
		{"nft", "delete", "table", "inet", "tether"},
		{"sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=0"},
	} {
		if _, errb, code, err := h.Run(ctx, cmd[0], cmd[1:]...); err != nil || code != 0 {
			t.Fatalf("%v: exit %d %v %s", cmd, code, err, errb)
		}
	}
}

// relayLab is the ula-mesh relay and edge-a in a lab, both applied, with
// the relay's agent (real git repo and notes) at the first commit.
type relayLab struct {
	relayHost, edgeA *lab.Host
	relaySvc         linuxhost.Services
	files            map[string]string
	keys             map[string]string
	repo             *gitRepo
	stateDir         string
	a                *agent.Agent
	c1               plumbing.Hash
}

// newRelayLab builds it; wrap, when set, wraps the relay device's Runner.
func newRelayLab(t *testing.T, ctx context.Context, wrap func(linuxhost.Runner) linuxhost.Runner) *relayLab {
	t.Helper()
	lab.Require(t, txnLabTools...)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := lab.New(t, lab.Star("inet", "relay", "edge-a"))
	r := &relayLab{relayHost: l.Host("relay"), edgeA: l.Host("edge-a"), keys: map[string]string{}}
	files := exampleFilesOf(t, "../repo-example/ula-mesh")
	for _, name := range []string{"links/relay-edge-a.toml", "links/relay-edge-b.toml"} {
		files = patch(t, files, name, `"relay.example.net:51820"`, `"`+r.relayHost.Addr4().String()+`:51820"`)
	}
	files["sites/relay.toml"] += "\n[[route]]\ndst = \"fd00:dead::/48\"\nblackhole = true\ncomment = \"lab\"\n"
	for _, name := range []string{"relay", "edge-a", "edge-b"} {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		if h := l.Host(name); h != nil {
			txnNoResolver(t, ctx, h)
			if err := os.MkdirAll(h.Path("keys"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(h.Path("keys", "wgvpnr01.key"), []byte(k.String()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		r.keys[name] = k.PublicKey().String()
		files["sites/"+name+".toml"] = txnPubKeyLine.ReplaceAllString(files["sites/"+name+".toml"], fmt.Sprintf("public_key = %q", k.PublicKey()))
	}
	r.files = files
	devs := map[string]*linuxhost.Device{}
	for _, name := range []string{"relay", "edge-a"} {
		h := l.Host(name)
		var run linuxhost.Runner = h
		if wrap != nil && name == "relay" {
			run = wrap(h)
		}
		svc := txnLabServices{Direct: linuxhost.Direct{Runner: h, Units: linuxhost.DirectUnits(h.Dir(), linuxhost.DefaultBirdSocket)}, root: h.Dir()}
		if name == "relay" {
			r.relaySvc = svc
		}
		devs[name] = linuxhost.New(linuxhost.Options{
			Root: h.Dir(), KeyDir: h.Path("keys"), StateDir: h.Path("state"), Runner: run, Services: svc,
			Log: zaptest.NewLogger(t).Named(name), DeadMan: linuxhost.DeadManDetached, RevertCommand: linuxhosttest.RevertCommand(exe),
		})
	}
	n := txnLoad(t, files)
	for _, name := range []string{"relay", "edge-a"} {
		p, err := devs[name].Plan(ctx, n, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := devs[name].Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := devs[name].Settle(ctx, p, true); err != nil {
			t.Fatal(err)
		}
	}

	r.repo = newGitRepo(t)
	r.stateDir = t.TempDir()
	src, err := gitsource.Open(ctx, gitsource.Config{URL: r.repo.bare, StateDir: r.stateDir})
	if err != nil {
		t.Fatal(err)
	}
	newStore := func(site string) (*notes.Store, error) {
		return notes.New(notes.Config{Repo: src.Repository(), Site: site, RemoteURL: r.repo.bare,
			Rand: func() float64 { return 0.5 }, Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	own, err := newStore("relay")
	if err != nil {
		t.Fatal(err)
	}
	r.a = &agent.Agent{
		Site: "relay", Path: netDir, Source: src, Device: devs["relay"], Prober: &linuxhost.Prober{Runner: r.relayHost},
		Notes: &notebook.Git{Own: own, Other: newStore}, Clock: agent.RealClock{},
		Journal: agent.NewJournal(r.stateDir), States: agent.NewStateStore(r.stateDir),
		Gate:   agent.GateConfig{Deadline: 20 * time.Second, StableWindow: 2 * time.Second, Interval: time.Second, PeerNoteWait: time.Second},
		Margin: 20 * time.Second, Version: "test", Host: "relay-lab", Log: zaptest.NewLogger(t).Named("agent"),
	}
	r.c1 = r.repo.commit(t, files, "ula-mesh")
	if o, err := r.a.Sync(ctx); err != nil || o == nil || o.Result != agent.ResultUnchanged {
		t.Fatalf("the running relay at the first commit: %+v %v", o, err)
	}
	return r
}

// TestTxnLinuxRebootRestored: a Linux relay whose files are in place but
// whose runtime is gone (a reboot) is restored by the agent's first sync —
// tunnel, BGP daemon, firewall and sysctls — and the note says `repaired`
// with what differed. A later poll finds nothing to do. Then a
// provider-style /48 on the WAN is reported as the routed-prefix trap.
func TestTxnLinuxRebootRestored(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	r := newRelayLab(t, ctx, nil)
	relayHost, edgeA, a, repo, c1, stateDir := r.relayHost, r.edgeA, r.a, r.repo, r.c1, r.stateDir
	before := txnSnapshot(t, ctx, relayHost)
	nftBefore, err := relayHost.Output(ctx, "nft", "-s", "list", "table", "inet", "tether")
	if err != nil {
		t.Fatal(err)
	}

	rebootHost(t, ctx, relayHost, r.relaySvc)
	start := time.Now()
	// What Run does at start: finish any journaled transaction, then the
	// first poll — no new commit, so it is the drift check.
	if _, err := a.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	o, err := a.Sync(ctx)
	if err != nil || o == nil || o.Result != agent.ResultRepaired {
		t.Fatalf("first poll after the reboot: %+v %v", o, err)
	}
	t.Logf("reboot → repaired in %s", time.Since(start).Round(time.Millisecond))
	var lines []string
	for _, c := range o.Changes {
		lines = append(lines, linuxhost.Line(c))
	}
	plan := strings.Join(lines, "\n")
	t.Logf("repair plan:\n%s", plan)
	for _, want := range []string{
		"wgvpnr01 does not exist → wg-quick up",
		"nft table inet tether is not loaded",
		"BIRD is not running → start BIRD",
		"net.ipv6.conf.all.forwarding = 0 (want 1)",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("the repair plan does not say %q", want)
		}
	}
	at := lastAttempt(t, repo.publishedNote(t, "relay", c1))
	if at.Result != notes.Repaired || at.Plan == nil || !strings.Contains(strings.Join(at.Plan.Lines, "\n"), "runtime: ") {
		t.Fatalf("note: %s", describeNote(at))
	}

	if d := txnSnapshotDiff(before, txnSnapshot(t, ctx, relayHost)); d != "" {
		t.Errorf("the relay's tunnel is not as before:\n%s", d)
	}
	if got, err := relayHost.Output(ctx, "nft", "-s", "list", "table", "inet", "tether"); err != nil || string(got) != string(nftBefore) {
		t.Errorf("nft table after repair: %v\n%s\nwant\n%s", err, got, nftBefore)
	}
	if out, err := relayHost.BirdC(ctx, linuxhost.DefaultBirdSocket, "show route"); err != nil || !strings.Contains(out, "fd00:dead::/48") {
		t.Errorf("BIRD after repair: %v\n%s", err, out)
	}
	if out, _ := relayHost.Output(ctx, "sysctl", "-n", "net.ipv6.conf.all.forwarding"); strings.TrimSpace(string(out)) != "1" {
		t.Errorf("forwarding after repair: %q", out)
	}
	err = lab.WaitFor(ctx, func() (bool, error) {
		_, _, code, err := edgeA.Run(ctx, "ping", "-6", "-c", "1", "-W", "1", "fd00:ffff::1")
		return err == nil && code == 0, nil
	})
	if err != nil {
		t.Errorf("edge-a cannot reach the relay over the restored tunnel: %v", err)
	}

	// A hand edit of what runs (a rule added with nft, a peer removed with
	// wg) is drift too, even though no file changed.
	for _, cmd := range [][]string{
		{"nft", "add", "rule", "inet", "tether", "input", "tcp", "dport", "2222", "accept"},
	} {
		if _, errb, code, err := relayHost.Run(ctx, cmd[0], cmd[1:]...); err != nil || code != 0 {
			t.Fatalf("%v: exit %d %v %s", cmd, code, err, errb)
		}
	}
	o, err = a.Sync(ctx)
	if err != nil || o == nil || o.Result != agent.ResultRepaired || !strings.Contains(fmt.Sprint(o.Changes), "differs from the rendered one") {
		t.Fatalf("hand-added nft rule: %+v %v", o, err)
	}
	for i := 0; i < 2; i++ {
		if o, err := a.Sync(ctx); err != nil || o != nil {
			t.Fatalf("poll %d after the repair must find nothing: %+v %v", i+1, o, err)
		}
	}

	// The provider puts an address of the mesh's /48 on the WAN at /48:
	// the connected route covers the /64s the relay routes into wgvpnr01.
	// The agent reports it once (a drift note with the fix), status keeps
	// it, and it goes away with the address.
	if _, errb, code, err := relayHost.Run(ctx, "ip", "addr", "add", "fd00:1234::7/48", "dev", "eth0", "nodad"); err != nil || code != 0 {
		t.Fatalf("ip addr add: exit %d %v %s", code, err, errb)
	}
	o, err = a.Sync(ctx)
	if err != nil || o == nil || o.Result != agent.ResultDrift ||
		!strings.Contains(o.Reason, "connected route fd00:1234::/48 on WAN eth0 covers fd00:1234:0:a::/64") ||
		!strings.Contains(o.Reason, "fd00:1234::7/128") {
		t.Fatalf("WAN trap: %+v %v", o, err)
	}
	t.Logf("trap: %s", o.Reason)
	if at := lastAttempt(t, repo.publishedNote(t, "relay", c1)); !strings.Contains(at.Reason, "live WAN: ") {
		t.Fatalf("note: %s", describeNote(at))
	}
	if wt, err := agent.NewWANTrapStore(stateDir).Load(); err != nil || len(wt.Traps) != 1 {
		t.Fatalf("recorded traps: %+v %v", wt, err)
	}
	if o, err := a.Sync(ctx); err != nil || o != nil {
		t.Fatalf("a trap already reported is not noted again: %+v %v", o, err)
	}
	if _, _, code, err := relayHost.Run(ctx, "ip", "addr", "del", "fd00:1234::7/48", "dev", "eth0"); err != nil || code != 0 {
		t.Fatalf("ip addr del: exit %d %v", code, err)
	}
	if o, err := a.Sync(ctx); err != nil || o != nil {
		t.Fatalf("trap gone: %+v %v", o, err)
	}
	if wt, _ := agent.NewWANTrapStore(stateDir).Load(); len(wt.Traps) != 0 {
		t.Fatalf("traps kept after the address went: %+v", wt)
	}
}

// injectRunner fails WireGuard's `wg syncconf` while fail is set, the way
// an activation that keeps failing breaks a revert.
type injectRunner struct {
	linuxhost.Runner
	fail *atomic.Bool
}

func (r injectRunner) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	if r.fail.Load() && name == "bash" && len(args) > 2 && args[2] == "wg-syncconf" {
		return nil, []byte("lab: injected failure of wg syncconf"), 1, nil
	}
	return r.Runner.Run(ctx, name, args...)
}

// failAfterApply arms the injected failure once the change is applied, so
// only the revert meets it.
type failAfterApply struct {
	agent.Device
	fail *atomic.Bool
}

func (d failAfterApply) Apply(ctx context.Context, p *agent.Plan, deadline time.Time) error {
	err := d.Device.Apply(ctx, p, deadline)
	d.fail.Store(true)
	return err
}

// quickRetries is the wall clock with waits capped, so the agent's revert
// retries (5s, 15s, 30s) take a moment; deadlines still run on real time.
type quickRetries struct{}

func (quickRetries) Now() time.Time { return time.Now() }
func (quickRetries) After(d time.Duration) <-chan time.Time {
	return time.After(min(d, 200*time.Millisecond))
}

// TestTxnLinuxRevertFailed: a bad change whose revert keeps failing ends in
// a revert-failed note with every error, the site needs attention, drift
// is only reported meanwhile, `recover --retry` (ResolveAttention) restores
// the relay once the cause is gone, and a later commit applies.
func TestTxnLinuxRevertFailed(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	fail := &atomic.Bool{}
	r := newRelayLab(t, ctx, func(h linuxhost.Runner) linuxhost.Runner { return injectRunner{Runner: h, fail: fail} })
	a := r.a
	a.Device, a.Clock = failAfterApply{Device: a.Device, fail: fail}, quickRetries{}
	before := txnSnapshot(t, ctx, r.relayHost)
	// edge-a's handshake is healthy before the change, so the gate judges it.
	err := lab.WaitFor(ctx, func() (bool, error) {
		_, _, code, err := r.edgeA.Run(ctx, "ping", "-6", "-c", "1", "-W", "1", "fd00:ffff::1")
		return err == nil && code == 0, nil
	})
	if err != nil {
		t.Fatalf("edge-a's tunnel: %v", err)
	}

	bad := r.repo.commit(t, patch(t, r.files, "sites/edge-a.toml", r.keys["edge-a"], flipChar(r.keys["edge-a"], 10)), "edge-a: public key (typo)")
	o, err := a.Sync(ctx)
	if err != nil || o == nil || o.Result != agent.ResultRevertFailed || len(o.Errors) != 4 {
		t.Fatalf("want revert-failed after 4 attempts: %+v %v", o, err)
	}
	for _, e := range o.Errors {
		if !strings.Contains(e, "injected failure of wg syncconf") {
			t.Errorf("attempt error lacks the tool's message: %s", e)
		}
	}
	at := lastAttempt(t, r.repo.publishedNote(t, "relay", bad))
	if string(at.Result) != agent.ResultRevertFailed || !strings.Contains(at.Reason, "needs attention") || len(at.Errors) != 4 {
		t.Fatalf("note: %s %v", describeNote(at), at.Errors)
	}
	if att, err := agent.NewAttentionStore(r.stateDir).Load(); err != nil || att == nil || att.Commit != bad.String() {
		t.Fatalf("attention: %+v %v", att, err)
	}
	if e, _ := a.Journal.Read(); e != nil {
		t.Fatalf("journal left in flight: %+v", e)
	}
	if left, _ := filepath.Glob(filepath.Join(r.relayHost.Path("state"), "linuxhost", "txn-*.json")); len(left) > 0 {
		t.Fatalf("dead-man still armed: %v", left)
	}

	// The relay still runs the bad peer key: reported, not repaired.
	o, err = a.Sync(ctx)
	if err != nil || o == nil || o.Result != agent.ResultDrift {
		t.Fatalf("drift while the site needs attention: %+v %v", o, err)
	}

	fail.Store(false)
	o, err = a.ResolveAttention(ctx, agent.RecoverRetry)
	if err != nil || o.Result != agent.ResultRecovered {
		t.Fatalf("recover --retry: %+v %v", o, err)
	}
	if d := txnSnapshotDiff(before, txnSnapshot(t, ctx, r.relayHost)); d != "" {
		t.Fatalf("recover did not restore the relay:\n%s", d)
	}
	if att, _ := agent.NewAttentionStore(r.stateDir).Load(); att != nil {
		t.Fatalf("attention kept: %+v", att)
	}
	if o, err := a.Sync(ctx); err != nil || o != nil {
		t.Fatalf("nothing left after recovery: %+v %v", o, err)
	}
	a.Device = failAfterApply{Device: a.Device.(failAfterApply).Device, fail: &atomic.Bool{}}
	next := r.repo.commit(t, patch(t, r.files, "sites/relay.toml", `dst = "fd00:dead::/48"`, `dst = "fd00:beef::/48"`), "relay: blackhole moves")
	if o, err := a.Sync(ctx); err != nil || o == nil || o.Result != agent.ResultApplied || o.Commit != next.String() {
		t.Fatalf("a later commit must apply: %+v %v", o, err)
	}
}
