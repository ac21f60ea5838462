package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
)

// bigNetwork is a relay with n Linux spokes, one link each.
func bigNetwork(n int) map[string]string {
	key := func(s string) string { k := sha256.Sum256([]byte(s)); return base64.StdEncoding.EncodeToString(k[:]) }
	files := map[string]string{
		"network.toml":     "name = \"big\"\n",
		"sites/relay.toml": "platform = \"linux\"\n[[wireguard]]\nname = \"wg0\"\npublic_key = \"" + key("relay") + "\"\n",
	}
	for i := range n {
		name := fmt.Sprintf("s%04d", i)
		files["sites/"+name+".toml"] = "platform = \"linux\"\n[[wireguard]]\nname = \"wg0\"\npublic_key = \"" + key(name) + "\"\n"
		files["links/relay-"+name+".toml"] = fmt.Sprintf("[a]\nsite = \"relay\"\ninterface = \"wg0\"\naddress = \"fd00::%x:1/112\"\nendpoint = \"192.0.2.1:51820\"\n[b]\nsite = %q\ninterface = \"wg0\"\naddress = \"fd00::%x:2/112\"\n", i, name, i)
	}
	return files
}

// BenchmarkIdlePoll1000Sites is one poll of a site whose head is already
// running in a 1,000-site network (the loop's own cost: the source check,
// the drift re-plan, the witness look). The network of the running commit
// is loaded once, not at every poll.
func BenchmarkIdlePoll1000Sites(b *testing.B) {
	h := newHarness(b)
	h.agent.Site = "s0001"
	files := bigNetwork(1000)
	h.repo.push(files)
	h.dev.current = desiredOf(b, h, files)
	if _, err := h.agent.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if o, err := h.agent.Sync(context.Background()); err != nil || o != nil {
			b.Fatalf("idle poll did something: %+v %v", o, err)
		}
	}
}

// desiredOf is what the fake device holds once the head is applied.
func desiredOf(b *testing.B, h *harness, files map[string]string) string {
	n, problems, err := h.agent.load(context.Background(), h.repo.commits[len(h.repo.commits)-1])
	if err != nil || problems.HasErrors() {
		b.Fatalf("big network: %v %v", err, problems.Errors())
	}
	return desired(n, h.agent.Site)
}
