package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A site declaring defconf's LAN address: plan and apply refuse before any
// write, naming the item; adopt --dry-run lists it and writes nothing;
// adopt takes it over (comment only) and the plan is then empty.
func TestAdoptDefconfAddress(t *testing.T) {
	sim, cfg := simAgent(t, `platform = "routeros"
routeros_version = "7.22.3"
[[interface]]
name = "bridge"
role = "lan"
[[address]]
interface = "bridge"
address = "192.168.88.1/24"
comment = "LAN"
`)
	const line = "ip address 192.168.88.1/24 on bridge exists and is not tether's"
	sim.ResetStats()
	out, stderr, code := run(t, "plan", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, line) || !strings.Contains(stderr, "adopt it") {
		t.Fatalf("plan: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = run(t, "apply", "--once", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, line) {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = run(t, "adopt", "--dry-run", "--config", cfg)
	if code != 0 || !strings.Contains(out, "would adopt 1 item(s)") || !strings.Contains(out, "192.168.88.1/24 on bridge") {
		t.Fatalf("adopt --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	if st := sim.Stats(); st.Writes != 0 {
		t.Fatalf("refused plan, apply and a dry run wrote %d times", st.Writes)
	}
	out, stderr, code = run(t, "adopt", "--config", cfg)
	if code != 0 || !strings.Contains(out, ": adopted") || !strings.Contains(out, "comment only") {
		t.Fatalf("adopt: exit %d\n%s%s", code, out, stderr)
	}
	rows, _, _ := sim.Exec("/ip/address/print", "?address=192.168.88.1/24")
	if len(rows) != 1 || rows[0]["comment"] != "tether: LAN" {
		t.Fatalf("adopted address: %v", rows)
	}
	out, stderr, code = run(t, "plan", "--config", cfg)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("plan after adopt: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = run(t, "adopt", "--config", cfg)
	if code != 0 || !strings.Contains(out, "nothing to adopt") {
		t.Fatalf("second adopt: exit %d\n%s", code, out)
	}
}

// doctor against a simulator over the plain API: the checklist marks the
// plain API and the look-alike as failures with their fixes and exits 1;
// --format json says the same; --capture writes the read-only sentences
// with the password redacted.
func TestDoctorCLI(t *testing.T) {
	_, cfg := simAgent(t, `platform = "routeros"
routeros_version = "7.22.3"
[[interface]]
name = "bridge"
role = "lan"
[[address]]
interface = "bridge"
address = "192.168.88.1/24"
`)
	out, stderr, code := run(t, "doctor", "--config", cfg)
	if code != 1 || !strings.Contains(out, "✓ login") || !strings.Contains(out, "✗ tls: plain API") ||
		!strings.Contains(out, "✗ look-alikes: ip address 192.168.88.1/24 on bridge") || !strings.Contains(out, "fix: tether adopt --config "+cfg) ||
		!strings.Contains(out, "✓ dead-man") {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	out, stderr, code = run(t, "doctor", "--config", cfg, "--format", "json", "--capture", capture)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK || rep.Site != "home" {
		t.Fatalf("doctor --format json: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	b, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "pw-for-test") || !strings.Contains(string(b), `"=password=(redacted)"`) || !strings.Contains(string(b), "/system/resource/print") || strings.Contains(string(b), "/system/script/add") {
		t.Fatalf("capture:\n%s", b)
	}
	if st, _ := os.Stat(capture); st.Mode().Perm() != 0o600 {
		t.Fatalf("capture mode %v", st.Mode())
	}
}
