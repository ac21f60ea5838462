package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHookHelperTether is not a test: run with TETHER_HOOK_HELPER=1 it is
// the tether command, so the hook test can put "tether" on a hook's PATH.
func TestHookHelperTether(t *testing.T) {
	if os.Getenv("TETHER_HOOK_HELPER") != "1" {
		t.Skip("helper process for TestPreReceiveHookFromDocs")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(runCLI(context.Background(), &cliEnv{stdout: os.Stdout, stderr: os.Stderr}, args))
}

// The pre-receive hook printed in docs/review.md, run by real git against
// a bare repository: it refuses a push whose network does not validate and
// shows the per-site diff of one that does.
func TestPreReceiveHookFromDocs(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	doc, err := os.ReadFile("../../../docs/review.md")
	if err != nil {
		t.Fatal(err)
	}
	_, hookPart, ok := strings.Cut(string(doc), "## A pre-receive hook")
	_, script, ok2 := strings.Cut(hookPart, "```sh\n")
	script, _, ok3 := strings.Cut(script, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/review.md has no pre-receive hook block")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nTETHER_HOOK_HELPER=1 exec %q -test.run='^TestHookHelperTether$' -- \"$@\"\n", self)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "tether"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	gitRun := func(dir string, args ...string) (string, error) {
		cmd := exec.Command(gitBin, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	mustGit := func(dir string, args ...string) {
		t.Helper()
		if out, err := gitRun(dir, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	server := filepath.Join(root, "net.git")
	mustGit(root, "init", "-q", "--bare", "-b", "main", server)
	if err := os.WriteFile(filepath.Join(server, "hooks", "pre-receive"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "work")
	if err := os.CopyFS(work, os.DirFS("../../../repo-example/linux-bgp-relay")); err != nil {
		t.Fatal(err)
	}
	mustGit(work, "init", "-q", "-b", "main")
	mustGit(work, "add", "-A")
	mustGit(work, "commit", "-qm", "init")
	mustGit(work, "push", "-q", server, "main")

	edit := func(file, old, repl string) {
		t.Helper()
		p := filepath.Join(work, file)
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%s: %v, or no %q", file, err, old)
		}
		if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(repl), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("sites/home.toml", `router_id = "192.168.88.1"`, `router_id = "192.168.88.2"`)
	mustGit(work, "commit", "-qam", "router id")
	out, err := gitRun(work, "push", server, "main")
	if err != nil {
		t.Fatalf("valid push refused: %v\n%s", err, out)
	}
	for _, want := range []string{"remote: home (routeros 7.22.3, wave 2): changed",
		"remote:   ~ /routing/bgp/instance name=default-bgp: router-id: 192.168.88.1 -> 192.168.88.2",
		"remote: unchanged: relay"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}

	edit("sites/relay.toml", oldRelayKey, "not-a-key")
	mustGit(work, "commit", "-qam", "broken key")
	out, err = gitRun(work, "push", server, "main")
	if err == nil || !strings.Contains(out, "pre-receive hook declined") || !strings.Contains(out, "is not a WireGuard public key") {
		t.Fatalf("invalid push: err %v\n%s", err, out)
	}
	head, _ := gitRun(work, "rev-parse", "HEAD~1")
	if got, _ := gitRun(server, "rev-parse", "main"); got != head {
		t.Errorf("server main %s, want the last valid commit %s", got, head)
	}
}
