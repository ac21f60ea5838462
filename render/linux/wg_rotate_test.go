package linux

import (
	"os"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

// A key rotation commits a new public key; the interface must restart so
// wg-quick's PostUp loads the new key file (peers-only syncconf would keep
// the old private key).
func TestKeyRotationRestartsTheInterface(t *testing.T) {
	n, problems := policy.Load(os.DirFS("../../repo-example/vultr-ndp-relay"), ".")
	if problems.HasErrors() {
		t.Fatal(problems.Err())
	}
	before, err := Render(n, "vultr", Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := n.Sites["vultr"]
	var raw [32]byte
	raw[0] = 7
	s.WireGuard[0].PublicKey = policy.KeyFromBytes(raw)
	after, err := Render(n, "vultr", Options{})
	if err != nil {
		t.Fatal(err)
	}
	file := func(c *Config) []byte {
		for _, f := range c.Files {
			if strings.HasPrefix(f.Path, "/etc/wireguard/") {
				return f.Content
			}
		}
		t.Fatal("no wg-quick file")
		return nil
	}
	if !NeedsRestart(file(before), file(after)) {
		t.Fatal("a new public key must restart the interface so the new private key is loaded")
	}
	if !strings.Contains(string(file(after)), `test "$(wg show %i public-key)" = `+s.WireGuard[0].PublicKey.String()) {
		t.Fatalf("bring-up must check the key file against the committed public key:\n%s", file(after))
	}
}
