package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runCLI(context.Background(), &cliEnv{stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, _, code := run(t, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for name, c := range commands {
		if !strings.Contains(out, name) || !strings.Contains(out, c.summary) {
			t.Errorf("help lacks %s", name)
		}
		_, stderr, code := run(t, name, "--help")
		if code != 0 || !strings.Contains(stderr, "Usage: tether "+name) {
			t.Errorf("%s --help: exit %d, %q", name, code, stderr)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, code := run(t, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}

func TestValidateExamplesAndJSON(t *testing.T) {
	dirs, _ := filepath.Glob("../../../repo-example/*")
	var nets []string
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "network.toml")); err == nil && !st.IsDir() {
			nets = append(nets, d)
		}
	}
	if len(nets) == 0 {
		t.Fatal("no examples")
	}
	out, stderr, code := run(t, append([]string{"validate"}, nets...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if got := strings.Count(out, ": ok: network"); got != len(nets) {
		t.Fatalf("want %d ok lines, got:\n%s", len(nets), out)
	}
	out, _, code = run(t, "validate", "--format", "json", nets[0])
	var doc struct {
		Networks []validateResult `json:"networks"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Networks) != 1 || !doc.Networks[0].Valid {
		t.Fatalf("json output: exit %d\n%s", code, out)
	}
}

func TestValidateReportsErrorsWithPositions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("network.toml", "name = \"broken\"\n")
	write("sites/a.toml", "platform = \"linux\"\n[[wireguard]]\nname = \"wg0\"\nmtu = 99\n")
	write("sites/b.toml", "platfrom = \"linux\"\n")
	out, _, code := run(t, "validate", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"sites/a.toml:4:1: wireguard[0].mtu: mtu 99 is out of range", `sites/b.toml:1:1: platfrom: unknown key "platfrom"; did you mean "platform"?`, "invalid: 3 error(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	pub1, _, code := run(t, "keygen", "--key-dir", dir, "--interface", "wg0")
	if code != 0 || len(strings.TrimSpace(pub1)) != 44 {
		t.Fatalf("exit %d, %q", code, pub1)
	}
	st, err := os.Stat(filepath.Join(dir, "wg0.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	pub2, _, _ := run(t, "keygen", "--key-dir", dir, "--interface", "wg0")
	if pub1 != pub2 {
		t.Fatal("an existing key must be kept")
	}
	if wg, err := exec.LookPath("wg"); err == nil {
		key, _ := os.ReadFile(filepath.Join(dir, "wg0.key"))
		cmd := exec.Command(wg, "pubkey")
		cmd.Stdin = bytes.NewReader(key)
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != strings.TrimSpace(pub1) {
			t.Fatalf("wg pubkey disagrees: %q vs %q (%v)", out, pub1, err)
		}
	}
	pub3, _, _ := run(t, "keygen", "--key-dir", dir, "--interface", "wg0", "--force")
	if pub3 == pub1 {
		t.Fatal("--force must replace the key")
	}
	if _, _, code := run(t, "keygen", "--key-dir", dir, "--interface", "../etc/x"); code != 2 {
		t.Fatal("a path-like interface name must be refused")
	}
}

func TestStatusAndRetry(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.toml")
	os.WriteFile(cfg, []byte("repo = \""+dir+"/repo\"\nsite = \"home\"\nstate_dir = \""+dir+"/state\"\n"), 0o644)
	bad := strings.Repeat("ab", 20)
	os.MkdirAll(filepath.Join(dir, "state"), 0o700)
	os.WriteFile(filepath.Join(dir, "state", "state.json"), []byte(`{"running":"`+strings.Repeat("cd", 20)+`","quarantined":{"`+bad+`":{"reason":"gate failed: bgp relay","at":"2026-11-01T00:00:00Z"}}}`), 0o600)
	out, _, code := run(t, "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "quarantined: "+bad) || !strings.Contains(out, "gate failed: bgp relay") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	if _, _, code := run(t, "retry", "--config", cfg, "ffff"); code != 1 {
		t.Fatal("retrying a commit that is not quarantined must fail")
	}
	if _, stderr, code := run(t, "retry", "--config", cfg, bad[:8]); code != 0 {
		t.Fatalf("retry: %d %s", code, stderr)
	}
	out, _, _ = run(t, "status", "--config", cfg)
	if !strings.Contains(out, "quarantined: none") {
		t.Fatalf("quarantine not lifted:\n%s", out)
	}
}

func TestRenderSiteAndPeer(t *testing.T) {
	out, stderr, code := run(t, "render", "--site", "home", "../../../repo-example/cgnat-chr-relay")
	if code != 0 || !strings.Contains(out, "/routing bgp connection") || !strings.Contains(out, `rule="if (dst == ::/0) { accept } reject"`) {
		t.Fatalf("rsc render: exit %d %s\n%s", code, stderr, out)
	}
	out, _, code = run(t, "render", "--site", "vultr", "--format", "json", "../../../repo-example/vultr-ndp-relay")
	if code != 0 || !strings.Contains(out, `"/etc/ndppd.conf"`) {
		t.Fatalf("linux json render: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	out, _, code = run(t, "render", "--all", "--out", dir, "../../../repo-example/ula-mesh")
	if code != 0 || !strings.Contains(out, "wrote ") {
		t.Fatalf("render --all: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "relay", "etc", "nftables.d", "tether.nft")); err != nil {
		t.Fatalf("render --all must write each site's files: %v", err)
	}
	if _, _, code := run(t, "render", "--site", "nope", "../../../repo-example/ula-mesh"); code != 1 {
		t.Fatal("an unknown site must fail")
	}
	peers, _ := filepath.Glob("../../../repo-example/road-warrior-s2s/peers/*.toml")
	if len(peers) == 0 {
		t.Fatal("no peers in road-warrior-s2s")
	}
	name := strings.TrimSuffix(filepath.Base(peers[0]), ".toml")
	out, _, code = run(t, "render", "--peer", name, "../../../repo-example/road-warrior-s2s")
	if code != 0 || !strings.Contains(out, "[Peer]") || strings.Contains(out, "\nPrivateKey") {
		t.Fatalf("peer profile: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "render", "--peer", name, "--qr", "../../../repo-example/road-warrior-s2s")
	if code != 0 || !strings.Contains(out, "█") {
		t.Fatalf("QR render: exit %d", code)
	}
	// A phone with an exit has two profiles: a QR code needs one picked.
	if _, errOut, code := run(t, "render", "--peer", "client-b", "--qr", "../../../repo-example/multi-tunnel"); code != 2 || !strings.Contains(errOut, "--profile (wg-router.conf, wg-router-exit.conf)") {
		t.Fatalf("QR of two profiles: exit %d\n%s", code, errOut)
	}
	out, _, code = run(t, "render", "--peer", "client-b", "--profile", "wg-router-exit.conf", "../../../repo-example/multi-tunnel")
	if code != 0 || !strings.Contains(out, "AllowedIPs = 0.0.0.0/0\n") || strings.Contains(out, "wg-router.conf") {
		t.Fatalf("--profile wg-router-exit.conf: exit %d\n%s", code, out)
	}
	if out, _, code = run(t, "render", "--peer", "client-b", "--profile", "wg-router-exit.conf", "--qr", "../../../repo-example/multi-tunnel"); code != 0 || !strings.Contains(out, "█") {
		t.Fatalf("QR of the exit-mode profile: exit %d", code)
	}
}
