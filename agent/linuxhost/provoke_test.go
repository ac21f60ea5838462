package linuxhost

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

// TestProvokePingsEachPeerOnce: the gate's provocation of a handshake
// check is one ping of the peer's tunnel address, run through the Runner
// (so inside a lab host's namespaces too), and it reports what the ping saw.
func TestProvokePingsEachPeerOnce(t *testing.T) {
	checks := []policy.Check{
		{Name: "handshake wg0/a", Kind: policy.CheckHandshake, Interface: "wg0", Target: netip.MustParseAddr("fd00::2")},
		{Name: "handshake wg1/b", Kind: policy.CheckHandshake, Interface: "wg1", Target: netip.MustParseAddr("10.9.0.1")},
	}
	fr := &fakeRunner{}
	got := (&Prober{Runner: fr}).Provoke(context.Background(), checks)
	want := []string{"ping -n -c 1 -i 0.2 -W 2 fd00::2", "ping -n -c 1 -i 0.2 -W 2 10.9.0.1"}
	if strings.Join(fr.cmds, "|") != strings.Join(want, "|") || len(got) != 2 {
		t.Fatalf("ran %q, reported %q", fr.cmds, got)
	}

	// The real ping, to loopback: the evidence is ping's own summary.
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("no ping on this machine")
	}
	lo := []policy.Check{{Name: "handshake lo/self", Kind: policy.CheckHandshake, Target: netip.MustParseAddr("127.0.0.1")}}
	got = (&Prober{Runner: ExecRunner{}}).Provoke(context.Background(), lo)
	if len(got) != 1 || !strings.Contains(got[0], "1 packets transmitted, 1 received") {
		t.Fatalf("ping 127.0.0.1: %q", got)
	}
}
