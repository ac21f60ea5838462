package rossim

import "testing"

// TestIPSSHSettings: /ip/ssh is a settings row whose password attribute
// follows the version's schema (CONFORMANCE.md SSH1).
func TestIPSSHSettings(t *testing.T) {
	s, _ := newSim(t, Config{Version: "7.22.3"})
	c := client(t, s)
	r := run(t, c, "/ip/ssh/print")
	if len(r.Re) != 1 || r.Re[0].Map["password-authentication"] != "yes-if-no-key" {
		t.Fatalf("7.22.3 /ip/ssh %v", rows(r))
	}
	if _, ok := r.Re[0].Map[".id"]; ok {
		t.Error("settings print has .id")
	}
	run(t, c, "/ip/ssh/set", "=password-authentication=no")
	if v := run(t, c, "/ip/ssh/print").Re[0].Map["password-authentication"]; v != "no" {
		t.Errorf("after set: %q", v)
	}

	old, _ := newSim(t, Config{Version: "7.18"})
	oc := client(t, old)
	if v := run(t, oc, "/ip/ssh/print").Re[0].Map; v["always-allow-password-login"] != "false" || v["password-authentication"] != "" {
		t.Errorf("7.18 /ip/ssh %v", v)
	}
	if msg := trapMsg(t, oc, "/ip/ssh/set", "=password-authentication=no"); msg == "" {
		t.Error("7.18 accepted password-authentication, which its schema lacks")
	}
}
