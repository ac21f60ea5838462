//go:build linux

package agent_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/linuxhost/linuxhosttest"
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

// TestTxnLinuxRebootRestored: a Linux relay whose files are in place but
// whose runtime is gone (a reboot) is restored by the agent's first sync —
// tunnel, BGP daemon, firewall and sysctls — and the note says `repaired`
// with what differed. A later poll finds nothing to do. Then a
// provider-style /48 on the WAN is reported as the routed-prefix trap.
func TestTxnLinuxRebootRestored(t *testing.T) {
	lab.Require(t, txnLabTools...)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l := lab.New(t, lab.Star("inet", "relay", "edge-a"))
	files := exampleFilesOf(t, "../repo-example/ula-mesh")
	relayHost, edgeA := l.Host("relay"), l.Host("edge-a")
	for _, name := range []string{"links/relay-edge-a.toml", "links/relay-edge-b.toml"} {
		files = patch(t, files, name, `"relay.example.net:51820"`, `"`+relayHost.Addr4().String()+`:51820"`)
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
		files["sites/"+name+".toml"] = txnPubKeyLine.ReplaceAllString(files["sites/"+name+".toml"], fmt.Sprintf("public_key = %q", k.PublicKey()))
	}
	devs, svcs := map[string]*linuxhost.Device{}, map[string]linuxhost.Services{}
	for _, name := range []string{"relay", "edge-a"} {
		h := l.Host(name)
		svcs[name] = txnLabServices{Direct: linuxhost.Direct{Runner: h, Units: linuxhost.DirectUnits(h.Dir(), linuxhost.DefaultBirdSocket)}, root: h.Dir()}
		devs[name] = linuxhost.New(linuxhost.Options{
			Root: h.Dir(), KeyDir: h.Path("keys"), StateDir: h.Path("state"), Runner: h, Services: svcs[name],
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
	a := &agent.Agent{
		Site: "relay", Path: netDir, Source: src, Device: devs["relay"], Prober: &linuxhost.Prober{Runner: relayHost},
		Notes: &agent.GitNotebook{Own: own, Other: newStore}, Clock: agent.RealClock{},
		Journal: agent.NewJournal(stateDir), States: agent.NewStateStore(stateDir),
		Gate:   agent.GateConfig{Deadline: 20 * time.Second, StableWindow: 2 * time.Second, Interval: time.Second, PeerNoteWait: time.Second},
		Margin: 20 * time.Second, Version: "test", Host: "relay-lab", Log: zaptest.NewLogger(t).Named("agent"),
	}
	c1 := repo.commit(t, files, "ula-mesh")
	if o, err := a.Sync(ctx); err != nil || o == nil || o.Result != agent.ResultUnchanged {
		t.Fatalf("the running relay at the first commit: %+v %v", o, err)
	}
	before := txnSnapshot(t, ctx, relayHost)
	nftBefore, err := relayHost.Output(ctx, "nft", "-s", "list", "table", "inet", "tether")
	if err != nil {
		t.Fatal(err)
	}

	rebootHost(t, ctx, relayHost, svcs["relay"])
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
		!strings.Contains(o.Reason, "connected route fd00:1234::/48 on WAN eth0 overlaps fd00:1234:0:a::/64") ||
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
