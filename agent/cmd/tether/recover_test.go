package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/metrics"
)

// TestStatusShowsAttentionAndRecoverResolvesIt: a failed revert on record
// is shown by `tether status` with the way out, `tether recover` insists on
// one mode, --accept-current clears it, and a second recover says there is
// nothing to resolve.
func TestStatusShowsAttentionAndRecoverResolvesIt(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.toml")
	if err := os.MkdirAll(filepath.Join(dir, "repo"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, []byte("repo = \""+dir+"/repo\"\nsite = \"home\"\nstate_dir = \""+dir+"/state\"\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "state"), 0o700)
	bad := strings.Repeat("ab", 20)
	os.WriteFile(filepath.Join(dir, "state", "attention.json"), []byte(`{"commit":"`+bad+`","txn_id":"t1","since":"2026-11-01T00:00:00Z",
"reason":"apply failed: networkd","errors":["e1","systemctl reload systemd-networkd.service: exit 1"]}`), 0o600)
	out, _, code := run(t, "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "attention: NEEDED — the revert of "+bad[:12]) ||
		!strings.Contains(out, "last error (2 attempts): systemctl reload systemd-networkd.service: exit 1") ||
		!strings.Contains(out, "tether recover --config "+cfg) {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	if _, stderr, code := run(t, "recover", "--config", cfg); code != 2 || !strings.Contains(stderr, "exactly one") {
		t.Fatalf("recover without a mode: %d %s", code, stderr)
	}
	out, stderr, code := run(t, "recover", "--config", cfg, "--accept-current")
	if code != 0 || !strings.Contains(out, "recovered") || !strings.Contains(out, "--accept-current") {
		t.Fatalf("recover: %d\n%s\n%s", code, out, stderr)
	}
	if out, _, _ := run(t, "status", "--config", cfg); strings.Contains(out, "attention") {
		t.Fatalf("attention still shown:\n%s", out)
	}
	if _, stderr, code := run(t, "recover", "--config", cfg, "--retry"); code != 1 || !strings.Contains(stderr, "does not need attention") {
		t.Fatalf("second recover: %d %s", code, stderr)
	}
}

// TestObserverExportsNeedsAttention: tether_needs_attention follows the
// failed-revert record, sync by sync.
func TestObserverExportsNeedsAttention(t *testing.T) {
	dir := t.TempDir()
	store := agent.NewAttentionStore(dir)
	m := metrics.New(metrics.Options{Site: "home", Version: "test", PollInterval: time.Second})
	o := &observer{m: m, attention: store}
	gauge := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(l, metrics.NameNeedsAttention+"{") {
				return l[strings.LastIndexByte(l, ' ')+1:]
			}
		}
		return "absent"
	}
	o.Synced(nil, nil)
	if g := gauge(); g != "0" {
		t.Fatalf("no failed revert: gauge %s", g)
	}
	if err := store.Save(&agent.Attention{Commit: "c", TxnID: "t"}); err != nil {
		t.Fatal(err)
	}
	o.Synced(&agent.Outcome{Result: agent.ResultRevertFailed, Started: time.Now(), Finished: time.Now()}, nil)
	if g := gauge(); g != "1" {
		t.Fatalf("failed revert on record: gauge %s", g)
	}
	if err := store.Clear(); err != nil {
		t.Fatal(err)
	}
	o.Synced(nil, nil)
	if g := gauge(); g != "0" {
		t.Fatalf("resolved: gauge %s", g)
	}
}
