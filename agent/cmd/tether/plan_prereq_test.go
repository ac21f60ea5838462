package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-net/tether/test/rossim"
)

// TestPlanReportsMissingPrerequisites: `tether plan` for road-warrior-s2s
// site-a against a defconf router without bridge-trunk names the
// interface, where site-a.toml uses it and the fix, and writes nothing;
// `tether apply --once` rejects the commit with the same reason; once the
// operator creates the bridge, plan lists the changes.
func TestPlanReportsMissingPrerequisites(t *testing.T) {
	sim, err := rossim.New(rossim.Config{Version: "7.22.3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	net := copyExample(t, "road-warrior-s2s")
	if err := os.WriteFile(filepath.Join(dir, "pw"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.toml")
	err = os.WriteFile(cfg, []byte(`repo = "`+net+`"
site = "site-a"
state_dir = "`+filepath.Join(dir, "state")+`"
[routeros]
address = "`+sim.Addr()+`"
username = "admin"
password_file = "`+filepath.Join(dir, "pw")+`"
tls = false
[log]
level = "error"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sim.ResetStats()
	out, stderr, code := run(t, "plan", "--config", cfg)
	for _, want := range []string{"interface bridge-trunk (sites/site-a.toml: interface[1].name", ".out_interface", "does not exist on the router",
		"/interface/bridge/add name=bridge-trunk", "nothing was written"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("plan stderr lacks %q", want)
		}
	}
	if code != 1 {
		t.Errorf("plan: exit %d, want 1", code)
	}
	t.Logf("plan: exit %d\n%s%s", code, out, stderr)

	out, stderr, code = run(t, "apply", "--once", "--config", cfg)
	if code != 1 || !strings.Contains(out, ": rejected") || !strings.Contains(out, "interface bridge-trunk") {
		t.Errorf("apply --once: exit %d, want the commit rejected for bridge-trunk\n%s%s", code, out, stderr)
	}
	if w := sim.Stats().Writes; w != 0 {
		t.Errorf("%d writes to the router", w)
	}

	if _, _, err := sim.Exec("/interface/bridge/add", "=name=bridge-trunk"); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = run(t, "plan", "--config", cfg)
	if code != 0 || !strings.Contains(out, "to add") {
		t.Fatalf("plan with bridge-trunk: exit %d\n%s%s", code, out, stderr)
	}
}
