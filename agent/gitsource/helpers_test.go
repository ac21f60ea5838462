package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/tether-net/tether/agent/gitsource/gittest"
)

// runGit runs git in dir with stable commit dates.
func runGit(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	return gittest.GitEnv(tb, dir, gittest.FixedDates, stdin, args...)
}

// fixture is a bare "remote" plus a working clone that pushes to it.
type fixture struct {
	remote string // bare repo path
	work   string // working clone
	n      int
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	root := tb.TempDir()
	f := &fixture{remote: filepath.Join(root, "remote.git"), work: filepath.Join(root, "work")}
	runGit(tb, root, nil, "init", "-q", "--bare", "-b", "main", f.remote)
	runGit(tb, root, nil, "init", "-q", "-b", "main", f.work)
	runGit(tb, f.work, nil, "remote", "add", "origin", f.remote)
	f.commit(tb, "net/network.toml", "name = \"lab\"\n", "initial")
	f.push(tb)
	return f
}

func (f *fixture) write(tb testing.TB, name, content string) {
	tb.Helper()
	p := filepath.Join(f.work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	runGit(tb, f.work, nil, "add", name)
}

// commit writes a file and commits it; dates advance per commit.
func (f *fixture) commit(tb testing.TB, name, content, msg string, extra ...string) plumbing.Hash {
	tb.Helper()
	f.write(tb, name, content)
	f.n++
	date := time.Date(2026, 1, 1, 0, 0, f.n, 0, time.UTC).Format(time.RFC3339)
	args := append([]string{"-c", "core.hooksPath=/dev/null"}, extra...)
	args = append(args, "commit", "-q", "-m", msg, "--date", date)
	cmd := append([]string{}, args...)
	runGitDate(tb, f.work, date, cmd...)
	return plumbing.NewHash(runGit(tb, f.work, nil, "rev-parse", "HEAD"))
}

func runGitDate(tb testing.TB, dir, date string, args ...string) {
	tb.Helper()
	gittest.GitEnv(tb, dir, append(gittest.FixedDates[:1:1], "GIT_COMMITTER_DATE="+date), nil, args...)
}

func (f *fixture) push(tb testing.TB, extra ...string) {
	tb.Helper()
	runGit(tb, f.work, nil, append([]string{"push", "-q"}, append(extra, "origin", "HEAD:refs/heads/main")...)...)
}

func (f *fixture) head(tb testing.TB) plumbing.Hash {
	return plumbing.NewHash(runGit(tb, f.remote, nil, "rev-parse", "refs/heads/main"))
}

func openSource(tb testing.TB, url string, mod ...func(*Config)) *Source {
	tb.Helper()
	cfg := Config{URL: url, StateDir: tb.TempDir()}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}
