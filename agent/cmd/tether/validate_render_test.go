package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidatePrintsRenderWarnings: what the renderer warns about (here a
// Linux BGP site without a router ID, which BIRD cannot pick on an
// IPv6-only host) is printed by validate against the site's file and
// counted, without making the network invalid.
func TestValidatePrintsRenderWarnings(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"network.toml": "name = \"w\"\n[defaults]\nasn_pool = \"64512-65534\"\n",
		"sites/relay.toml": "platform = \"linux\"\nasn = 64512\n[[interface]]\nname = \"eth0\"\nrole = \"wan\"\n" +
			"[[wireguard]]\nname = \"wg0\"\nlisten_port = 51820\npublic_key = \"MptT/F7EmmtXVoZCRlKPTOYVjdsocqy1NQjynwrh2UI=\"\n",
		"sites/home.toml": "platform = \"linux\"\nasn = 64513\nrouter_id = \"192.0.2.2\"\n" +
			"[[wireguard]]\nname = \"wg0\"\npublic_key = \"u7hqMS1VO8RjHVVeBwRFG4LUOopnNnZQWPEAl6ASP0I=\"\n",
		"links/relay-home.toml": "transit = [\"fd00:99::/64\"]\n[a]\nsite = \"relay\"\ninterface = \"wg0\"\naddress = \"fd00:99::1/64\"\nendpoint = \"192.0.2.1:51820\"\n" +
			"[b]\nsite = \"home\"\ninterface = \"wg0\"\naddress = \"fd00:99::2/64\"\nkeepalive = \"25s\"\n" +
			"[bgp]\n[bgp.a]\nimport = [\"2001:db8:100::/48\"]\nexport = [\"::/0\"]\ndefault_originate = true\n[bgp.b]\nimport = [\"::/0\"]\nexport = [\"2001:db8:100::/48\"]\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := run(t, "validate", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, stderr)
	}
	want := filepath.Join(dir, "sites/relay.toml") + ": warning: bgp: no router_id; BIRD picks the lowest IPv4 address and fails on an IPv6-only host"
	if !strings.Contains(out, want) || !strings.Contains(out, "ok: network \"w\"") || !strings.Contains(out, "1 warning") {
		t.Fatalf("validate output lacks the render warning %q:\n%s", want, out)
	}
}
