//go:build linux

package linuxhost_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/policy"
)

// TestProvokeMakesAQuietTunnelHandshake, with real wireguard-go: edge-a's
// peer for the relay is re-created without keepalive, as after a key
// change, and nothing sends through it. Watching alone sees no handshake;
// Provoke's one ping makes WireGuard start one, and the handshake check
// passes with a handshake after the provocation.
func TestProvokeMakesAQuietTunnelHandshake(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	m := newMesh(t, ctx, nil)
	edge := m.sites["edge-a"]
	var check policy.Check
	for _, c := range m.n.HealthChecks("edge-a") {
		if c.Kind == policy.CheckHandshake && c.MustPass {
			check = c
		}
	}
	if !check.Target.IsValid() {
		t.Fatalf("edge-a's handshake check has no tunnel address to provoke: %+v", check)
	}
	w, err := edge.h.WGShow(ctx, check.Interface)
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := w.Peer(check.PublicKey.String())
	if !ok || peer.Endpoint == "" {
		t.Fatalf("edge-a has no relay peer with an endpoint: %+v", w)
	}
	var allowed []string
	for _, p := range peer.AllowedIPs {
		allowed = append(allowed, p.String())
	}
	key := check.PublicKey.String()
	for _, args := range [][]string{
		{"set", check.Interface, "peer", key, "remove"},
		{"set", check.Interface, "peer", key, "endpoint", peer.Endpoint, "allowed-ips", strings.Join(allowed, ","), "persistent-keepalive", "0"},
	} {
		edge.out(t, ctx, "wg", args...)
	}
	quiet := func() agent.CheckResult { return edge.prob.Probe(ctx, []policy.Check{check})[0] }
	time.Sleep(6 * time.Second) // more than WireGuard's 5 s retry: nothing is pending
	if r := quiet(); r.OK || !r.Since.IsZero() {
		t.Fatalf("a quiet peer must not have handshaken on its own: %s", r.Evidence)
	}

	provoked := time.Now().Truncate(time.Second)
	sent := edge.prob.Provoke(ctx, []policy.Check{check})
	t.Logf("provoked: %q", sent)
	deadline := time.Now().Add(10 * time.Second)
	var r agent.CheckResult
	for r = quiet(); !r.OK && time.Now().Before(deadline); r = quiet() {
		time.Sleep(500 * time.Millisecond)
	}
	if !r.OK || r.Since.Before(provoked) {
		t.Fatalf("one provocation must bring a handshake within WireGuard's first try: %s (since %s)", r.Evidence, r.Since)
	}
	t.Logf("%s: %s", check.Name, r.Evidence)
}
