package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/notes"
)

// tetherBin is the agent binary TestMain builds; repoRoot is the module root.
var tetherBin, repoRoot string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short (make unit); make test runs the scenarios")
		return 0
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "tether-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tetherBin = filepath.Join(dir, "tether")
	build := exec.Command("go", "build", "-o", tetherBin, "./agent/cmd/tether")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build tether: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// scenarioCtx bounds a scenario.
func scenarioCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// world is a scenario's remote, the operator's work tree and the agents.
type world struct {
	t    *testing.T
	dir  string // everything of the scenario lives here
	bare string // the remote
	work string // the operator's clone

	mu        sync.Mutex
	agents    map[string]*agentProc
	closeOnce sync.Once
}

func newWorld(t *testing.T) *world {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("e2e: needs the git CLI")
	}
	dir := t.TempDir()
	w := &world{t: t, dir: dir, bare: filepath.Join(dir, "net.git"), work: filepath.Join(dir, "work"), agents: map[string]*agentProc{}}
	w.mustGit("", "init", "-q", "--bare", "-b", "main", w.bare)
	w.mustGit("", "clone", "-q", w.bare, w.work)
	// Agents are stopped before t.TempDir is removed (cleanups run last
	// registered first), and their logs are shown when the test failed.
	t.Cleanup(w.close)
	return w
}

var gitEnv = []string{"GIT_AUTHOR_NAME=E2E Operator", "GIT_AUTHOR_EMAIL=ops@example.net",
	"GIT_COMMITTER_NAME=E2E Operator", "GIT_COMMITTER_EMAIL=ops@example.net", "GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent"}

func (w *world) git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (w *world) mustGit(dir string, args ...string) string {
	w.t.Helper()
	out, err := w.git(dir, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// commit makes the work tree hold exactly files (the network folder is the
// repo root), commits and pushes to the remote, and returns the commit.
func (w *world) commit(files map[string]string, msg string) string {
	w.t.Helper()
	for _, sub := range []string{"sites", "links", "peers", "network.toml"} {
		_ = os.RemoveAll(filepath.Join(w.work, sub))
	}
	for name, content := range files {
		p := filepath.Join(w.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	w.mustGit(w.work, "add", "-A")
	w.mustGit(w.work, "commit", "-q", "--allow-empty", "-m", msg)
	w.mustGit(w.work, "push", "-q", "origin", "HEAD:main")
	c := strings.TrimSpace(w.mustGit(w.work, "rev-parse", "HEAD"))
	w.t.Logf("pushed %s %q", c[:12], msg)
	return c
}

// note reads site's note on commit in the remote: nil, nil when there is
// none yet.
func (w *world) note(site, commit string) (*notes.Note, error) {
	out, err := w.git("", "--git-dir", w.bare, "notes", "--ref", "tether/"+site, "show", commit)
	if err != nil {
		if strings.Contains(err.Error(), "no note found") || strings.Contains(err.Error(), "failed to resolve") {
			return nil, nil
		}
		return nil, err
	}
	n, err := notes.Parse([]byte(out))
	if err != nil {
		return nil, err
	}
	return settled(n), nil
}

// settled keeps a note's outcomes: a gating attempt (a change announced to
// its witnesses, still in flight) and a witnessed one (this site's verdict on
// a far end's change) are steps of a witnessed gate, not the site's result on
// the commit. It returns nil when nothing is settled yet.
func settled(n *notes.Note) *notes.Note {
	out := *n
	out.Attempts = nil
	for _, a := range n.Attempts {
		if a.Result != notes.Gating && a.Result != notes.Witnessed {
			out.Attempts = append(out.Attempts, a)
		}
	}
	if len(out.Attempts) == 0 {
		return nil
	}
	return &out
}

// waitNote waits until site's note on commit exists in the remote and
// satisfies done (nil: any note).
func (w *world) waitNote(ctx context.Context, site, commit string, done func(*notes.Note) bool) *notes.Note {
	w.t.Helper()
	var last *notes.Note
	var lastErr error
	for {
		n, err := w.note(site, commit)
		if err == nil && n != nil && (done == nil || done(n)) {
			return n
		}
		last, lastErr = n, err
		select {
		case <-ctx.Done():
			w.t.Fatalf("no note from %s on %s: %v (last note %s, read error %v)", site, commit[:12], ctx.Err(), describe(last), lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitNotes waits for every site's note on commit.
func (w *world) waitNotes(ctx context.Context, commit string, sites ...string) map[string]*notes.Note {
	w.t.Helper()
	out := map[string]*notes.Note{}
	for _, s := range sites {
		out[s] = w.waitNote(ctx, s, commit, nil)
	}
	return out
}

func describe(n *notes.Note) string {
	if n == nil {
		return "<none>"
	}
	b, _ := notes.Marshal(n)
	return string(b)
}

// last is a note's latest attempt.
func last(n *notes.Note) notes.Attempt { return n.Attempts[len(n.Attempts)-1] }

// wantResult fails the test unless the note's only attempt has one of the
// results.
func wantResult(t *testing.T, site string, n *notes.Note, results ...notes.Result) notes.Attempt {
	t.Helper()
	if len(n.Attempts) != 1 {
		t.Errorf("%s: %d attempts, want 1:\n%s", site, len(n.Attempts), describe(n))
	}
	a := last(n)
	for _, r := range results {
		if a.Result == r {
			return a
		}
	}
	t.Fatalf("%s: result %s, want one of %v:\n%s", site, a.Result, results, describe(n))
	return a
}

// agentProc is one running `tether run`.
type agentProc struct {
	site    string
	cfgPath string
	logPath string
	pid     int
	signal  func(syscall.Signal) error
	done    <-chan struct{}
}

// startFunc starts `tether run --config cfg` with stderr (the JSON log)
// appended to logPath; it returns the pid, a signaller and a channel
// closed when the process is gone.
type startFunc func(cfg, logPath string) (pid int, signal func(syscall.Signal) error, done <-chan struct{}, err error)

// localStart runs the agent as a child of the test process.
func localStart(ctx context.Context) startFunc {
	return func(cfg, logPath string) (int, func(syscall.Signal) error, <-chan struct{}, error) {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return 0, nil, nil, err
		}
		defer f.Close()
		cmd := exec.Command(tetherBin, "run", "--config", cfg)
		cmd.Stdout, cmd.Stderr = f, f
		// Own process group: a ^C on `go test` must not hit it first, the
		// harness stops it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return 0, nil, nil, err
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		go func() {
			select {
			case <-ctx.Done():
				_ = cmd.Process.Kill()
			case <-done:
			}
		}()
		sig := func(s syscall.Signal) error {
			select {
			case <-done:
				return os.ErrProcessDone
			default:
			}
			return cmd.Process.Signal(s)
		}
		return cmd.Process.Pid, sig, done, nil
	}
}

// startAgent writes the agent config for site and starts it.
func (w *world) startAgent(site, cfg string, start startFunc) *agentProc {
	w.t.Helper()
	path := filepath.Join(w.dir, "agent-"+site+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
	logPath := filepath.Join(w.dir, "agent-"+site+".log")
	pid, sig, done, err := start(path, logPath)
	if err != nil {
		w.t.Fatalf("start agent %s: %v", site, err)
	}
	a := &agentProc{site: site, cfgPath: path, logPath: logPath, pid: pid, signal: sig, done: done}
	w.mu.Lock()
	w.agents[site] = a
	w.mu.Unlock()
	w.t.Logf("agent %s started (pid %d)", site, pid)
	return a
}

// agentConfig is the agent-local config shared by every scenario: JSON
// logs, a 1s poll, the remote as a plain path. device is the [routeros] or
// [linux] section.
func (w *world) agentConfig(site, stateDir, device string) string {
	return fmt.Sprintf(`repo = %q
branch = "main"
site = %q
state_dir = %q
poll_interval = "1s"
[log]
format = "json"
level = "info"
%s`, w.bare, site, stateDir, device)
}

// stop ends the agent: SIGTERM, then SIGKILL after 10s.
func (a *agentProc) stop() {
	if a.signal(syscall.SIGTERM) != nil {
		return
	}
	select {
	case <-a.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = a.signal(syscall.SIGKILL)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
	}
}

// kill SIGKILLs the agent and waits for it to be gone.
func (a *agentProc) kill(t *testing.T) {
	t.Helper()
	if err := a.signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill agent %s: %v", a.site, err)
	}
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("agent %s survived SIGKILL", a.site)
	}
}

// logLine is one JSON log line of an agent.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// logs parses what the agent has logged so far.
func (a *agentProc) logs() []logLine {
	b, _ := os.ReadFile(a.logPath)
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits for a log line matching pred (among all lines so far).
func (a *agentProc) waitLog(ctx context.Context, t *testing.T, what string, pred func(logLine) bool) logLine {
	t.Helper()
	for {
		for _, l := range a.logs() {
			if pred(l) {
				return l
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("agent %s: no log line %s: %v", a.site, what, ctx.Err())
		case <-a.done:
			t.Fatalf("agent %s exited before logging %s", a.site, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// step matches a state-transition line for commit.
func step(commit, s string) func(logLine) bool {
	return func(l logLine) bool {
		return l.str("step") == s && strings.HasPrefix(commit, l.str("commit")) && l.str("commit") != ""
	}
}

// close stops the agents and, when the test failed, logs their output.
// Safe to call more than once.
func (w *world) close() { w.closeOnce.Do(w.doClose) }

func (w *world) doClose() {
	w.mu.Lock()
	agents := make([]*agentProc, 0, len(w.agents))
	for _, a := range w.agents {
		agents = append(agents, a)
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.stop() }()
	}
	wg.Wait()
	// E2E_KEEP_LOGS=DIR keeps every agent's full log (for flaky runs).
	if keep := os.Getenv("E2E_KEEP_LOGS"); keep != "" {
		for _, a := range agents {
			if b, err := os.ReadFile(a.logPath); err == nil {
				name := strings.NewReplacer("/", "_", " ", "_").Replace(w.t.Name()) + "-" + a.site + ".log"
				_ = os.MkdirAll(keep, 0o755)
				_ = os.WriteFile(filepath.Join(keep, name), b, 0o644)
			}
		}
	}
	if w.t.Failed() {
		sort.Slice(agents, func(i, j int) bool { return agents[i].site < agents[j].site })
		for _, a := range agents {
			b, _ := os.ReadFile(a.logPath)
			s := string(b)
			if len(s) > 60000 {
				s = "…" + s[len(s)-60000:]
			}
			w.t.Logf("agent %s log:\n%s", a.site, s)
		}
	}
}

// --- network files ---

// exampleFiles reads repo-example/<name> (TOML files only).
func exampleFiles(t *testing.T, name string) map[string]string {
	t.Helper()
	root := filepath.Join(repoRoot, "repo-example", name)
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".toml") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// replace patches one file, failing when old is not there.
func replace(t *testing.T, files map[string]string, name, old, new string) {
	t.Helper()
	if !strings.Contains(files[name], old) {
		t.Fatalf("patch %s: %q not found", name, old)
	}
	files[name] = strings.Replace(files[name], old, new, 1)
}

// fastHealth replaces network.toml's [health] with short gate settings.
func fastHealth(t *testing.T, files map[string]string) {
	t.Helper()
	const health = `[health]
# e2e: short gate (defaults 120s deadline, 10s window, 60s margins)
handshake_max_age = "180s"
gate_deadline = "20s"
stable_window = "3s"
deadman_margin = "5s"
peer_note_wait = "8s"
`
	n := files["network.toml"]
	if i := strings.Index(n, "[health]"); i >= 0 {
		// Drop the old table up to the next one.
		rest := n[i+len("[health]"):]
		j := strings.Index(rest, "\n[")
		if j < 0 {
			j = len(rest)
		} else {
			j++
		}
		n = n[:i] + rest[j:]
	}
	files["network.toml"] = strings.TrimRight(n, "\n") + "\n\n" + health
}

var pubKeyLine = regexp.MustCompile(`(?m)^public_key = "[^"]*"\n?`)

// setKey sets the one public_key line of a site file (adding it after the
// [[wireguard]] header's name line when it was dropped).
func setKey(t *testing.T, files map[string]string, site, key string) {
	t.Helper()
	name := "sites/" + site + ".toml"
	if n := len(pubKeyLine.FindAllString(files[name], -1)); n != 1 {
		t.Fatalf("%s has %d public_key lines, want 1", name, n)
	}
	files[name] = pubKeyLine.ReplaceAllString(files[name], fmt.Sprintf("public_key = %q\n", key))
}

// typo changes one character of a base64 key, keeping it a valid key.
func typo(key string) string {
	c := byte('A')
	if key[10] == 'A' {
		c = 'B'
	}
	return key[:10] + string(c) + key[11:]
}

// anyContains reports whether any of lines mentions all of subs.
func anyContains(lines []string, subs ...string) bool {
	for _, l := range lines {
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

var errTimeout = errors.New("timed out")

// eventually polls cond every 200ms until it holds or ctx ends.
func eventually(ctx context.Context, cond func() bool) error {
	for !cond() {
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return errTimeout
		}
	}
	return nil
}
