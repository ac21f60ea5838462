package notes

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/gitsource/gittest"
)

// remoteURLs names ways to reach the bare repository remote: its path, git
// http-backend speaking protocol v2, and one that ignores v2.
func remoteURLs(tb testing.TB, remote string) map[string]string {
	root, name := filepath.Dir(remote), filepath.Base(remote)
	return map[string]string{
		"file":    remote,
		"http-v2": gittest.Serve(tb, root, gittest.Options{}).URL + "/" + name,
		"http-v0": gittest.Serve(tb, root, gittest.Options{IgnoreV2: true}).URL + "/" + name,
	}
}

func runGit(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	return gittest.GitEnv(tb, dir, gittest.FixedDates, stdin, args...)
}

// newRemote makes a bare repository with n commits on main via fast-import
// and returns its path and the commits, oldest first.
func newRemote(tb testing.TB, n int) (string, []plumbing.Hash) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "remote.git")
	runGit(tb, filepath.Dir(dir), nil, "init", "-q", "--bare", "-b", "main", dir)
	var s bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\ncommitter Test <test@example.test> %d +0000\ndata <<EOM\ncommit %d\nEOM\n", i, 1767225600+i, i)
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", i-1)
		}
		fmt.Fprintf(&s, "M 644 inline net/sites/s%d.toml\ndata <<EOM\nn = %d\nEOM\n\n", i%50, i)
	}
	runGit(tb, dir, s.Bytes(), "fast-import", "--quiet")
	out := runGit(tb, dir, nil, "rev-list", "--reverse", "main")
	var hs []plumbing.Hash
	for _, l := range strings.Split(out, "\n") {
		hs = append(hs, plumbing.NewHash(l))
	}
	return dir, hs
}

// cloneBare makes an agent-style bare clone of remote.
func cloneBare(tb testing.TB, remote string) *git.Repository {
	repo, _ := cloneBareDir(tb, remote)
	return repo
}

func cloneBareDir(tb testing.TB, remote string) (*git.Repository, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "repo.git")
	repo, err := git.PlainClone(dir, true, &git.CloneOptions{URL: remote, Tags: git.NoTags})
	if err != nil {
		tb.Fatal(err)
	}
	return repo, dir
}

func newStore(tb testing.TB, repo *git.Repository, site, remote string, mod ...func(*Config)) *Store {
	tb.Helper()
	cfg := Config{
		Repo: repo, Site: site, RemoteURL: remote,
		Now:   func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
		Rand:  func() float64 { return 0.5 },
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func attempt(site string, res Result, minute int) Attempt {
	t := time.Date(2026, 11, 22, 10, minute, 0, 0, time.UTC)
	return Attempt{
		Site: site, Result: res, Started: t, Finished: t.Add(30 * time.Second),
		AgentVersion: "0.1.0", Host: site + "-pi",
		Plan: &PlanSummary{Adds: 1, Lines: []string{"add /interface/wireguard/peers name=relay"}},
		Checks: []Check{{Name: "wg relay", Kind: "handshake", Target: "wg0/relay", Status: Pass,
			Baseline: Pass, MustPass: true, Evidence: "handshake 12s ago"}},
	}
}
