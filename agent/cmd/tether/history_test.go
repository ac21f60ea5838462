package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tether-net/tether/agent/notes"
)

// A witnessed gate's verdicts are evidence: history shows each witness row
// under the attempt that carries it.
func TestHistoryShowsWitnessVerdicts(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	sig := &object.Signature{Name: "t", Email: "t@example.org", When: time.Unix(1_700_000_000, 0)}
	c, err := wt.Commit("relay exports only 2000::/3", &git.CommitOptions{AllowEmptyCommits: true, Author: sig})
	if err != nil {
		t.Fatal(err)
	}
	store, err := notes.New(notes.Config{Repo: repo, Site: "relay"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_100, 0).UTC()
	err = store.Add(context.Background(), c, notes.Attempt{Site: "relay", Commit: c.String(), Result: notes.Reverted, Started: at, Finished: at,
		Reason:    "witness home reported a regression on relay-home: bgp chr-vps: 0 prefixes; ::/0 missing",
		Witnesses: []notes.Witness{{Site: "home", Link: "relay-home", Status: notes.Regressed, Evidence: "bgp chr-vps: 0 prefixes; ::/0 missing"}}})
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "history", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "      witness home on relay-home: regressed (bgp chr-vps: 0 prefixes; ::/0 missing)") {
		t.Fatalf("history must show the witness verdict:\n%s", out)
	}
	// The same history read from a bare mirror (a server-side repository).
	bare := filepath.Join(t.TempDir(), "net.git")
	if out, err := exec.Command("git", "clone", "-q", "--mirror", dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --mirror: %v\n%s", err, out)
	}
	if again, stderr, code := run(t, "history", bare); code != 0 || again != out {
		t.Fatalf("history of the bare mirror: exit %d %s\n%s", code, stderr, again)
	}
}
