package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/policy"
)

// plan and apply --once against a RouterOS simulator, from a plain
// directory: plan lists the changes, apply runs a gated transaction, and the
// re-plan is empty.
func TestPlanAndApplyOnce(t *testing.T) {
	sim, cfg := simAgent(t, `platform = "routeros"
routeros_version = "7.22.3"
[[interface]]
name = "bridge"
role = "lan"
[[wireguard]]
name = "wg-remote"
listen_port = 51820
[[address]]
interface = "wg-remote"
address = "10.200.200.1/24"
comment = "road warriors"
`)
	out, stderr, code := run(t, "plan", "--config", cfg)
	if code != 0 || !strings.Contains(out, "2 to add") || !strings.Contains(out, "/interface/wireguard") {
		t.Fatalf("plan: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = run(t, "apply", "--once", "--config", cfg)
	if code != 0 || !strings.Contains(out, ": applied") {
		t.Fatalf("apply --once: exit %d\n%s%s", code, out, stderr)
	}
	rows, _, _ := sim.Exec("/ip/address/print", "=.proplist=address,comment")
	found := false
	for _, r := range rows {
		found = found || (r["address"] == "10.200.200.1/24" && r["comment"] == "tether: road warriors")
	}
	if !found {
		t.Fatalf("address not on the router: %v", rows)
	}
	out, _, code = run(t, "plan", "--config", cfg)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("re-plan must be empty: exit %d\n%s", code, out)
	}
	if _, _, code := run(t, "apply", "--config", cfg); code != 2 {
		t.Fatal("apply without --once must be refused")
	}

	// A transaction left in flight (the agent stopped while gating) is
	// reverted by hand with tether revert, and recorded.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(c.Repo, "sites/home.toml")
	if err := os.WriteFile(site, []byte(strings.Replace(mustRead(t, site), "10.200.200.1/24", "10.200.201.1/24", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := newSetup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, head, _ := s.agent.Source.Check(context.Background())
	fsys, _ := s.agent.Source.Tree(context.Background(), head, ".")
	n, _ := policy.Load(fsys, ".")
	p, err := s.agent.Device.Plan(context.Background(), n, "home")
	if err != nil || p.Empty() {
		t.Fatalf("plan: %v %+v", err, p)
	}
	p.TxnID = "handtest"
	if err := s.agent.Journal.Write(&agent.Entry{TxnID: p.TxnID, Site: "home", Commit: head.String(), Step: agent.StepGating, Plan: p, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.agent.Device.Apply(context.Background(), p, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.close()
	out, stderr, code = run(t, "revert", "--config", cfg)
	if code != 0 || !strings.Contains(out, "reverted") || !strings.Contains(out, "reverted by hand") {
		t.Fatalf("revert: exit %d\n%s%s", code, out, stderr)
	}
	rows, _, _ = sim.Exec("/ip/address/print", "=.proplist=address")
	for _, r := range rows {
		if r["address"] == "10.200.201.1/24" {
			t.Fatal("the reverted address is still on the router")
		}
	}
	out, _, _ = run(t, "revert", "--config", cfg)
	if !strings.Contains(out, "nothing to revert") {
		t.Fatalf("a second revert has nothing to do: %s", out)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
