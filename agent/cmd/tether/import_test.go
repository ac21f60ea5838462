package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-net/tether/test/rossim"
)

// tether import on a hand-configured defconf router writes a site file
// that validates; plan then refuses only for the items to adopt, adopt
// takes them over and the next plan has no changes.
func TestImportThenAdoptCLI(t *testing.T) {
	sim, cfg := simAgent(t, "platform = \"routeros\"\nrouteros_version = \"7.22.3\"\n")
	for _, words := range [][]string{
		{"/interface/wireguard/add", "=name=wg-office", "=listen-port=13231", "=comment=office"},
		{"/ip/address/add", "=address=10.55.0.1/24", "=interface=wg-office", "=comment=office"},
		{"/ip/route/add", "=dst-address=10.56.0.0/16", "=gateway=10.55.0.2", "=comment=office LAN"},
	} {
		if _, _, err := sim.Exec(words...); err != nil {
			t.Fatal(err)
		}
	}
	net := filepath.Join(filepath.Dir(cfg), "net")

	out, stderr, code := run(t, "import", "--config", cfg)
	if code != 0 || !strings.Contains(out, "--- sites/home.toml") || !strings.Contains(out, `name = "wg-office"`) {
		t.Fatalf("import to stdout: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code = run(t, "import", "--config", cfg, "--out", net); code == 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("import over an existing site file without --force: exit %d, %s", code, stderr)
	}
	if out, stderr, code = run(t, "import", "--config", cfg, "--out", net, "--force"); code != 0 {
		t.Fatalf("import --out: exit %d\n%s%s", code, out, stderr)
	}
	b, err := os.ReadFile(filepath.Join(net, "sites", "home.toml"))
	if err != nil || !strings.Contains(string(b), `dst = "10.56.0.0/16"`) {
		t.Fatalf("written site file: %v\n%s", err, b)
	}

	out, stderr, code = run(t, "plan", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "not tether's") {
		t.Fatalf("plan after import: want only look-alikes, exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code = run(t, "adopt", "--config", cfg); code != 0 {
		t.Fatalf("adopt: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = run(t, "plan", "--config", cfg)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("plan after adopt: exit %d\n%s%s", code, out, stderr)
	}
}

// On a Linux agent, import reads the host's files under [linux] root.
func TestImportLinuxCLI(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	net := filepath.Join(dir, "net")
	priv, pub := rossim.KeyPair("cli-wg0")
	for p, c := range map[string]string{
		filepath.Join(net, "network.toml"):                           "name = \"one\"\n",
		filepath.Join(root, "etc/wireguard/wg0.conf"):                "[Interface]\nAddress = 10.9.0.1/24\nListenPort = 51820\nPrivateKey = " + priv + "\n",
		filepath.Join(root, "proc/sys/net/ipv4/ip_forward"):          "1\n",
		filepath.Join(root, "proc/sys/net/ipv6/conf/all/forwarding"): "0\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(cfg, []byte("repo = \""+net+"\"\nsite = \"vps\"\nstate_dir = \""+filepath.Join(dir, "state")+
		"\"\n[linux]\nroot = \""+root+"\"\n[log]\nlevel = \"error\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "import", "--config", cfg)
	if code != 0 || !strings.Contains(out, `public_key = "`+pub+`"`) || !strings.Contains(out, `"net.ipv4.ip_forward" = "1"`) ||
		strings.Contains(out, "net.ipv6.conf.all.forwarding") || strings.Contains(out, priv) {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
}
