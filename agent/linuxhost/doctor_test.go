package linuxhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
)

// renamingRunner runs the real commands but looks one program up under a
// name that does not exist, as on a host where it is not installed.
type renamingRunner struct {
	Runner
	missing string
}

func (r renamingRunner) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	for i, a := range args {
		if a == r.missing {
			args[i] = a + "-not-installed-for-test"
		}
	}
	if name == r.missing {
		name += "-not-installed-for-test"
	}
	return r.Runner.Run(ctx, name, args...)
}

func doctorSite(t *testing.T, dir, site string) (*policy.Network, string, string) {
	t.Helper()
	n, probs := policy.Load(os.DirFS(filepath.Join("../../repo-example", dir)), ".")
	if probs.HasErrors() {
		t.Fatal(probs.Errors())
	}
	root := t.TempDir()
	state, keys := filepath.Join(root, "state"), filepath.Join(root, "keys")
	for _, d := range []string{state, keys} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range n.Sites[site].WireGuard {
		if err := os.WriteFile(filepath.Join(keys, w.Name+".key"), []byte("test key, not a secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return n, state, keys
}

func byName(checks []contract.DoctorCheck) map[string]contract.DoctorCheck {
	m := map[string]contract.DoctorCheck{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

// TestDoctorLinux runs the Linux checks against this machine's real tools
// (the test image installs wg, wireguard-go, bird2, nft, radvd, keepalived
// and ndppd): every tool a site's rendering needs is found with its
// version, then a missing tool, a readable key directory and a readable
// key each fail with the fix.
func TestDoctorLinux(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ dir, site string }{{"ula-mesh", "edge-a"}, {"ula-mesh", "relay"}, {"vultr-ndp-relay", "vultr"}} {
		t.Run(c.dir+"/"+c.site, func(t *testing.T) {
			n, state, keys := doctorSite(t, c.dir, c.site)
			checks := Doctor(ctx, n, c.site, DoctorOptions{StateDir: state, KeyDir: keys})
			for _, ch := range checks {
				if !ch.OK {
					t.Errorf("%s: %s — %s", ch.Name, ch.Detail, ch.Fix)
				}
				t.Logf("%s: %s", ch.Name, ch.Detail)
			}
			m := byName(checks)
			for _, want := range []string{"wg", "wireguard backend", "systemd", "state dir", "key dir"} {
				if _, ok := m[want]; !ok {
					t.Errorf("no %s check", want)
				}
			}
			if v := m["wg"].Detail; !strings.Contains(v, "wireguard-tools") {
				t.Errorf("wg version: %q", v)
			}
		})
	}

	n, state, keys := doctorSite(t, "ula-mesh", "edge-a")
	m := byName(Doctor(ctx, n, "edge-a", DoctorOptions{StateDir: state, KeyDir: keys, Runner: renamingRunner{Runner: ExecRunner{}, missing: "radvd"}}))
	if c := m["radvd"]; c.OK || !strings.Contains(c.Fix, "apt-get install radvd") {
		t.Fatalf("missing radvd: %+v", c)
	}
	if err := os.Chmod(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	iface := n.Sites["edge-a"].WireGuard[0].Name
	key := filepath.Join(keys, iface+".key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	m = byName(Doctor(ctx, n, "edge-a", DoctorOptions{StateDir: state, KeyDir: keys}))
	if c := m["key dir"]; c.OK || c.Fix != "chmod 700 "+keys {
		t.Fatalf("readable key dir: %+v", c)
	}
	if c := m["key "+iface]; c.OK || !strings.Contains(c.Fix, "chmod 600 "+key) {
		t.Fatalf("readable key: %+v", c)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	m = byName(Doctor(ctx, n, "edge-a", DoctorOptions{StateDir: state, KeyDir: keys}))
	if c := m["key "+iface]; c.OK || !strings.Contains(c.Fix, "tether keygen --interface "+iface) {
		t.Fatalf("missing key: %+v", c)
	}
}
