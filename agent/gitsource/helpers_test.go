package gitsource

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// gitEnv isolates the git CLI from the machine's and user's config.
func gitEnv(home string) []string {
	env := []string{
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test Author",
		"GIT_AUTHOR_EMAIL=author@example.test",
		"GIT_COMMITTER_NAME=Test Committer",
		"GIT_COMMITTER_EMAIL=committer@example.test",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z",
		"GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
		"PATH=" + os.Getenv("PATH"),
	}
	return env
}

// runGit runs git in dir and returns trimmed stdout.
func runGit(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	full := append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.test",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = gitEnv(os.TempDir())
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
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
	full := append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.test"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(os.TempDir()), "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
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
