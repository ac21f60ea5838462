package gittest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// FixedDates pins author and committer dates, for tests whose commit hashes
// must not change from run to run.
var FixedDates = []string{"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z"}

// Env is the environment Git runs in: no system or user configuration (so a
// developer's signing or hooks settings cannot change a test), a fixed
// identity, and extra appended last so it wins.
func Env(extra ...string) []string {
	return append([]string{
		"HOME=" + os.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test Author",
		"GIT_AUTHOR_EMAIL=author@example.test",
		"GIT_COMMITTER_NAME=Test Committer",
		"GIT_COMMITTER_EMAIL=committer@example.test",
		"PATH=" + os.Getenv("PATH"),
	}, extra...)
}

// Git runs the git CLI in dir with Env(), feeding it stdin when not nil, and
// returns its trimmed standard output; a failure fails tb with git's stderr.
func Git(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	return GitEnv(tb, dir, nil, stdin, args...)
}

// GitEnv is Git with extra environment, such as FixedDates.
func GitEnv(tb testing.TB, dir string, extra []string, stdin []byte, args ...string) string {
	tb.Helper()
	full := append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false",
		"-c", "core.hooksPath=/dev/null"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = Env(extra...)
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
