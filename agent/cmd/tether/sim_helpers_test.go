package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-net/tether/test/rossim"
)

// simAgent starts a RouterOS simulator (with defconf) and writes an agent
// config whose repo is a plain directory holding one site, home.
func simAgent(t *testing.T, site string) (*rossim.Sim, string) {
	t.Helper()
	dir := t.TempDir()
	net := filepath.Join(dir, "net")
	for name, content := range map[string]string{"network.toml": "name = \"one\"\n", "sites/home.toml": site} {
		p := filepath.Join(net, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return routerOSAgent(t, dir, net, "home")
}

// routerOSAgent starts a RouterOS simulator (7.22.3, with defconf) and writes
// into dir an agent config driving it as site of the network folder net,
// with a short gate.
func routerOSAgent(t *testing.T, dir, net, site string) (*rossim.Sim, string) {
	t.Helper()
	sim, err := rossim.New(rossim.Config{Version: "7.22.3", Password: "pw-for-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("pw-for-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(cfg, []byte(`repo = "`+net+`"
site = "`+site+`"
state_dir = "`+filepath.Join(dir, "state")+`"
[routeros]
address = "`+sim.Addr()+`"
username = "admin"
password_file = "`+filepath.Join(dir, "pw")+`"
tls = false
[gate]
deadline = "5s"
stable_window = "1s"
[log]
level = "error"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, cfg
}
