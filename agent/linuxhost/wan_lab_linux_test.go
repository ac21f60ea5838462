//go:build linux

package linuxhost_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/lab"
)

// TestWANAnchorBesideNICConfig: an anchor address declared on the WAN
// (which tether does not manage) is added to the NIC next to the addresses
// it already has, restored when removed by hand (runtime drift), and
// removed alone when the site stops declaring it.
func TestWANAnchorBesideNICConfig(t *testing.T) {
	lab.Require(t, labTools...)
	ctx := testCtx(t, 60*time.Second)
	l := lab.New(t, lab.Star("inet", "relay"))
	h := l.Host("relay")
	noResolver(t, ctx, h)
	files := example(t, "ula-mesh")
	keygen(t, files, "relay", h.Path("keys"), "wgvpnr01")
	plain := clone(files)
	files["sites/relay.toml"] += "\n[[address]]\ninterface = \"eth0\"\naddress = \"fd00:1234::1/128\"\ncomment = \"routed-prefix anchor\"\n"
	s := newSite(t, h, "relay", nil)
	addrs := func() string {
		return s.out(t, ctx, "ip", "-br", "addr", "show", "dev", "eth0")
	}
	own := addrs()
	if strings.Contains(own, "fd00:1234::1/128") {
		t.Fatalf("eth0 starts with the anchor: %s", own)
	}

	s.apply(t, ctx, load(t, files))
	with := addrs()
	if !strings.Contains(with, "fd00:1234::1/128") {
		t.Fatalf("anchor not added: %s", with)
	}
	for _, f := range strings.Fields(own)[2:] {
		if !strings.Contains(with, f) {
			t.Errorf("the NIC's own address %s is gone: %s", f, with)
		}
	}

	// Removed by hand (a networking restart, an ifdown): the next plan
	// puts it back.
	s.out(t, ctx, "ip", "addr", "del", "fd00:1234::1/128", "dev", "eth0")
	p := s.apply(t, ctx, load(t, files))
	if len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Detail, "eth0 lacks address fd00:1234::1/128") {
		t.Fatalf("repair plan: %+v", p.Changes)
	}
	if !strings.Contains(addrs(), "fd00:1234::1/128") {
		t.Fatalf("anchor not restored: %s", addrs())
	}

	// The site stops declaring it: only the anchor goes.
	s.apply(t, ctx, load(t, plain))
	if got := addrs(); got != own {
		t.Fatalf("after removing the anchor: %q, want the NIC as it was: %q", got, own)
	}
}

// BenchmarkPlanRuntimeNoop is the cost of one quiet poll's drift check on
// the ula-mesh relay with BIRD: the file comparison plus the runtime
// checks (ip, wg show, nft list, birdc, sysctl) through the lab host.
func BenchmarkPlanRuntimeNoop(b *testing.B) {
	lab.Require(b, labTools...)
	ctx := b.Context()
	l := lab.New(b, lab.Star("inet", "relay"))
	h := l.Host("relay")
	files := example(b, "ula-mesh")
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(h.Path("keys"), 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(h.Path("keys", "wgvpnr01.key"), []byte(k.String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	files["sites/relay.toml"] = pubKeyLine.ReplaceAllString(files["sites/relay.toml"], fmt.Sprintf("public_key = %q", k.PublicKey()))
	files["sites/relay.toml"] += relayRoute
	m := fstest.MapFS{}
	for name, v := range files {
		m[name] = &fstest.MapFile{Data: []byte(v)}
	}
	n, probs := policy.Load(m, ".")
	if probs.HasErrors() {
		b.Fatal(probs.Err())
	}
	d := linuxhost.New(linuxhost.Options{Root: h.Dir(), KeyDir: h.Path("keys"), StateDir: h.Path("state"), Runner: h,
		Services: linuxhost.Direct{Runner: h, Units: linuxhost.DirectUnits(h.Dir(), linuxhost.DefaultBirdSocket)}, DeadMan: linuxhost.DeadManDetached})
	p, err := d.Plan(ctx, n, "relay")
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
	if err := d.Settle(ctx, p, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		p, err := d.Plan(ctx, n, "relay")
		if err != nil || !p.Empty() {
			b.Fatalf("quiet plan: %+v %v", p, err)
		}
	}
}
