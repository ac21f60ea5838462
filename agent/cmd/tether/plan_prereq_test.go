package main

import (
	"strings"
	"testing"
)

// TestPlanReportsMissingPrerequisites: `tether plan` for road-warrior-s2s
// site-a against a defconf router without bridge-trunk names the
// interface, where site-a.toml uses it and the fix, and writes nothing;
// `tether apply --once` rejects the commit with the same reason; once the
// operator creates the bridge, plan lists the changes.
func TestPlanReportsMissingPrerequisites(t *testing.T) {
	sim, cfg := routerOSAgent(t, t.TempDir(), copyExample(t, "road-warrior-s2s"), "site-a")
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
