// Command demo is what `make demo` runs: a narrated tour of tether.
//
// It validates every example network, then runs the main job end to end on
// the cgnat-chr-relay example against two RouterOS API simulators (no root
// needed): a local bare Git repo is the remote, one real `bin/tether run`
// agent per site, commits pushed with the git CLI. It shows a bootstrap, a
// good change converging, a bad change (a key typo) failing the health gate
// and being reverted at the site it broke, the next good commit applying,
// and the history as Git notes. Everything lives in a temp dir that is
// removed at the end; traffic stays on 127.0.0.1.
//
// Then, as root with the lab tools installed (see linux.go), it runs the
// ula-mesh example on Linux: a relay and two edges in network namespaces
// (test/lab), one agent inside each, converging from empty, a bad commit
// reverted at the relay while the rollout halts, the next good commit
// applied. Otherwise it says in one line why that part is skipped.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tether-net/tether/test/rossim"
)

const example = "repo-example/cgnat-chr-relay"

func main() {
	if _, err := os.Stat("bin/tether"); err != nil {
		fatalf("run from the repository root after `make build` (no bin/tether)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	validateExamples()
	if err := routerosDemo(ctx); err != nil {
		failed(ctx, "demo failed: %v", err)
	}
	if err := linuxDemo(ctx); err != nil {
		failed(ctx, "demo failed (Linux part): %v", err)
	}
	fmt.Printf("\n== done in %s; nothing left behind ==\n", time.Since(start).Round(time.Second))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	os.Exit(1)
}

// failed reports a failed demo, or an interrupted one (everything is
// cleaned up by then).
func failed(ctx context.Context, format string, args ...any) {
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "\ndemo: interrupted; everything cleaned up")
		os.Exit(130)
	}
	fatalf(format, args...)
}

func section(title string) { fmt.Printf("\n\033[1m== %s ==\033[0m\n", title) }

func validateExamples() {
	section("1. Every example network validates")
	dirs, _ := filepath.Glob("repo-example/*/network.toml")
	sort.Strings(dirs)
	for _, f := range dirs {
		out, err := exec.Command("bin/tether", "validate", "-v", filepath.Dir(f)).CombinedOutput()
		fmt.Print(indent(string(out)))
		if err != nil {
			fatalf("%s does not validate", filepath.Dir(f))
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// world is a demo's moving parts.
type world struct {
	dir    string
	bare   string
	work   string
	sims   map[string]*rossim.Sim
	agents map[string]*exec.Cmd
	// gating receives "site commit" when an agent starts gating a commit.
	gating chan string
}

func routerosDemo(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "tether-demo-")
	if err != nil {
		return err
	}
	w := &world{dir: dir, bare: filepath.Join(dir, "net.git"), work: filepath.Join(dir, "work"), sims: map[string]*rossim.Sim{}, agents: map[string]*exec.Cmd{}, gating: make(chan string, 16)}
	defer w.close()

	section("2. Two RouterOS routers (API simulators) and a config repo")
	fab := rossim.NewFabric()
	fab.HandshakeAfter, fab.EstablishAfter = time.Second, 2*time.Second
	for site, version := range map[string]string{"relay": "7.24", "home": "7.22.3"} {
		// The relay is a CHR (defconf = false in its site): it boots bare.
		sim, err := rossim.New(rossim.Config{Version: version, Bare: site == "relay", Fabric: fab})
		if err != nil {
			return err
		}
		if err := sim.Start("127.0.0.1:0"); err != nil {
			return err
		}
		w.sims[site] = sim
		// A router's scheduler runs on its own clock, API client or not.
		go func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					sim.Tick()
				}
			}
		}()
		fmt.Printf("  %-5s RouterOS %s API on %s (defconf state)\n", site, version, sim.Addr())
	}
	if err := w.git("", "init", "-q", "--bare", "-b", "main", w.bare); err != nil {
		return err
	}
	if err := w.git("", "clone", "-q", w.bare, w.work); err != nil {
		return err
	}
	fmt.Printf("  remote %s\n", w.bare)

	// Bootstrap: the sites and their WireGuard interfaces, no link yet.
	// RouterOS generates the private key; the public key is read back.
	files, err := exampleFiles()
	if err != nil {
		return err
	}
	boot := map[string]string{}
	for name, content := range files {
		if strings.HasPrefix(name, "links/") {
			continue
		}
		boot[name] = dropLines(content, "public_key")
	}
	// The upstream probe needs the tunnel, which the bootstrap does not have
	// yet: a new check must pass, so it comes with the link.
	boot["sites/home.toml"] = strings.Split(boot["sites/home.toml"], "[[probe]]")[0]
	boot["network.toml"] = fastGate(boot["network.toml"])
	section("3. Bootstrap commit: interfaces only; agents start")
	c1, err := w.commit(boot, "bootstrap: sites and WireGuard interfaces")
	if err != nil {
		return err
	}
	for _, site := range []string{"relay", "home"} {
		if err := w.startAgent(ctx, site); err != nil {
			return err
		}
	}
	if err := w.waitNotes(ctx, c1, "relay", "home"); err != nil {
		return err
	}
	keys := map[string]string{}
	for _, site := range []string{"relay", "home"} {
		rows, _, err := w.sims[site].Exec("/interface/wireguard/print", "=.proplist=name,public-key")
		if err != nil || len(rows) == 0 {
			return fmt.Errorf("read %s public key: %v", site, err)
		}
		keys[site] = rows[0]["public-key"]
		fmt.Printf("  %s generated its WireGuard key; public key %s\n", site, keys[site])
	}

	// Each router is the other's far end through the shared fabric:
	// handshakes, the session and what each announces follow their
	// configuration. Home's upstream probe target answers.
	w.sims["home"].SetWorld(rossim.World{Reachable: []string{"2001:db8:ffff:1e6::1/128"}})

	section("4. The full network: keys committed, the link and eBGP session added")
	full := map[string]string{}
	for name, content := range files {
		full[name] = content
	}
	full["network.toml"] = fastGate(full["network.toml"])
	full["sites/relay.toml"] = setKey(full["sites/relay.toml"], keys["relay"])
	full["sites/home.toml"] = setKey(full["sites/home.toml"], keys["home"])
	c2, err := w.commit(full, "relay-home: WireGuard transit and eBGP")
	if err != nil {
		return err
	}
	if err := w.waitNotes(ctx, c2, "relay", "home"); err != nil {
		return err
	}
	w.showNote(c2, "home")

	section("5. A bad commit: a typo in the relay's public key")
	bad := map[string]string{}
	for k, v := range full {
		bad[k] = v
	}
	typo := keys["relay"][:10] + flip(keys["relay"][10]) + keys["relay"][11:]
	bad["sites/relay.toml"] = setKey(full["sites/relay.toml"], typo)
	c3, err := w.commit(bad, "relay: update public key (typo)")
	if err != nil {
		return err
	}
	fmt.Println("  the home router's peer gets the wrong key; its tunnel cannot handshake, so the gate fails and home reverts")
	if err := w.waitNotes(ctx, c3, "relay", "home"); err != nil {
		return err
	}
	w.showNote(c3, "home")
	w.showNote(c3, "relay")

	section("6. The next good commit applies; the bad one is never retried")
	good := map[string]string{}
	for k, v := range full {
		good[k] = v
	}
	good["sites/home.toml"] = strings.Replace(good["sites/home.toml"], "[[probe]]", "# Upstream reachability through the tunnel.\n[[probe]]", 1)
	good["links/relay-home.toml"] = strings.Replace(good["links/relay-home.toml"], `description = "`, `description = "(v2) `, 1)
	c4, err := w.commit(good, "relay-home: clearer description")
	if err != nil {
		return err
	}
	if err := w.waitNotes(ctx, c4, "relay", "home"); err != nil {
		return err
	}
	out, _ := exec.Command("bin/tether", "status", "--config", filepath.Join(w.dir, "home.toml")).CombinedOutput()
	fmt.Print(indent(string(out)))

	section("7. The agent dies mid-gate: the router reverts itself")
	broken := map[string]string{}
	for k, v := range good {
		broken[k] = v
	}
	broken["links/relay-home.toml"] = strings.Replace(good["links/relay-home.toml"], `import = ["::/0"]`, `import = ["2001:db8::/32"]`, 1)
	c5, err := w.commit(broken, "home: import only 2001:db8::/32 (filter mistake)")
	if err != nil {
		return err
	}
	if err := w.waitGating(ctx, "home", c5); err != nil {
		return err
	}
	_ = w.agents["home"].Process.Kill()
	_ = w.agents["home"].Wait()
	delete(w.agents, "home")
	fmt.Println("  $ kill -9 <home agent>   (during its gate: the new filter drops ::/0, nothing would keep or revert it)")
	if err := w.waitDeadman(ctx, "home"); err != nil {
		return err
	}
	fmt.Println("  the router's one-shot scheduler fired at the deadline and ran tether's dead-man script: the old filter is back")
	if err := w.startAgent(ctx, "home"); err != nil {
		return err
	}
	if err := w.waitNotes(ctx, c5, "home", "relay"); err != nil {
		return err
	}
	w.showNote(c5, "home")

	section("8. The audit history: git log --notes='tether/*'")
	if err := w.git(w.work, "fetch", "-q", "origin", "refs/notes/tether/*:refs/notes/tether/*"); err != nil {
		return err
	}
	out, _ = exec.Command("bin/tether", "history", "--limit", "10", w.work).CombinedOutput()
	fmt.Print(indent(string(out)))
	out, _ = exec.Command("git", "-C", w.work, "log", "--notes=tether/*", "-1", "--format=%h %s%n%N", c3).CombinedOutput()
	_ = c4
	fmt.Print(indent(firstLines(string(out), 18)))
	return nil
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// fastGate shortens the health gate so the demo runs in about a minute.
func fastGate(networkTOML string) string {
	return strings.Replace(networkTOML, "[health]", "[health]\n# demo: short gate, dead-man margin and witness wait (defaults: 120s deadline, 10s window, 60s margin, 60s wait)\ndeadman_margin = \"5s\"\nwitness_wait = \"10s\"", 1)
}

func exampleFiles() (map[string]string, error) {
	out, err := readExample(example)
	if err != nil {
		return nil, err
	}
	out["network.toml"] = replaceLine(out["network.toml"], "gate_deadline", `gate_deadline = "25s"`)
	out["network.toml"] = replaceLine(out["network.toml"], "stable_window", `stable_window = "3s"`)
	return out, nil
}

func replaceLine(s, key, line string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), key+" ") || strings.HasPrefix(strings.TrimSpace(l), key+"=") {
			lines[i] = line
		}
	}
	return strings.Join(lines, "\n")
}

func dropLines(s, key string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), key) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func setKey(s, key string) string {
	return replaceLine(s, "public_key", fmt.Sprintf("public_key = %q", key))
}

func (w *world) git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	if dir != "" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Demo Operator", "GIT_AUTHOR_EMAIL=ops@example.net",
		"GIT_COMMITTER_NAME=Demo Operator", "GIT_COMMITTER_EMAIL=ops@example.net")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// commit replaces the work tree with files, commits and pushes.
func (w *world) commit(files map[string]string, msg string) (string, error) {
	for _, sub := range []string{"sites", "links", "peers", "network.toml"} {
		os.RemoveAll(filepath.Join(w.work, sub))
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(w.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			return "", err
		}
	}
	if err := w.git(w.work, "add", "-A"); err != nil {
		return "", err
	}
	if err := w.git(w.work, "commit", "-q", "-m", msg); err != nil {
		return "", err
	}
	if err := w.git(w.work, "push", "-q", "origin", "HEAD:main"); err != nil {
		return "", err
	}
	out, err := exec.Command("git", "-C", w.work, "rev-parse", "HEAD").Output()
	c := strings.TrimSpace(string(out))
	fmt.Printf("  $ git commit -m %q && git push   → %s\n", msg, c[:12])
	return c, err
}

func (w *world) startAgent(ctx context.Context, site string) error {
	empty := filepath.Join(w.dir, "empty-password")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return err
	}
	path, err := writeAgentConfig(w.dir, w.bare, site, filepath.Join(w.dir, "state-"+site), "2s", fmt.Sprintf(`[routeros]
address = %q
username = "admin"
password_file = %q
tls = false
[gate]
deadline = "25s"
stable_window = "3s"
`, w.sims[site].Addr(), empty))
	if err != nil {
		return err
	}
	cmd := exec.Command("bin/tether", "run", "--config", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	w.agents[site] = cmd
	go narrate(site, stderr, w.gating)
	fmt.Printf("  $ tether run --config %s.toml   (agent for %s, pid %d)\n", site, site, cmd.Process.Pid)
	return nil
}

// narrate prints the agents' state transitions as a person wants them.
func narrate(site string, r interface{ Read([]byte) (int, error) }, gating chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var prev string
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		msg, _ := m["msg"].(string)
		step, _ := m["step"].(string)
		if step == "" {
			continue
		}
		detail := ""
		for _, k := range []string{"changes", "reason", "duration"} {
			if v, ok := m[k]; ok {
				detail += fmt.Sprintf(" %s=%v", k, v)
			}
		}
		commit, _ := m["commit"].(string)
		if len(commit) > 7 {
			commit = commit[:7]
		}
		if commit == "" && msg != "dead-man armed" && !strings.HasPrefix(msg, "settled") && !strings.HasPrefix(msg, "dead-man had fired") {
			continue
		}
		// An agent repeats "waiting for an earlier rollout wave" every poll.
		line := commit + " " + msg + detail
		if line == prev {
			continue
		}
		prev = line
		fmt.Printf("    [%-6s %s] %s%s\n", site, commit, msg, detail)
		if msg == "gating" {
			select {
			case gating <- site + " " + commit:
			default:
			}
		}
	}
}

// waitNotes waits until every site has a note on commit in the remote.
func (w *world) waitNotes(ctx context.Context, commit string, sites ...string) error {
	deadline := time.Now().Add(90 * time.Second)
	for _, site := range sites {
		for {
			out, err := exec.Command("git", "-C", w.bare, "notes", "--ref", "tether/"+site, "show", commit).CombinedOutput()
			if err == nil && len(out) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no note from %s on %s after 90s", site, commit[:12])
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	return nil
}

// waitGating waits until site's agent starts gating commit.
func (w *world) waitGating(ctx context.Context, site, commit string) error {
	deadline := time.After(60 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%s never started gating %s", site, commit[:12])
		case g := <-w.gating:
			if g == site+" "+commit[:7] {
				return nil
			}
		}
	}
}

// waitDeadman waits until the router's dead-man scheduler has run and
// removed itself.
func (w *world) waitDeadman(ctx context.Context, site string) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		rows, _, err := w.sims[site].Exec("/system/scheduler/print", "=.proplist=name")
		if err == nil && len(rows) == 0 {
			rules, _, _ := w.sims[site].Exec("/routing/filter/rule/print", "=.proplist=chain,rule")
			for _, r := range rules {
				if r["chain"] == "bgp-in-chr-vps" {
					fmt.Printf("  /routing/filter/rule chain=bgp-in-chr-vps rule=%q\n", r["rule"])
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("the dead-man on %s did not fire", site)
}

func (w *world) showNote(commit, site string) {
	out, _ := exec.Command("git", "-C", w.bare, "notes", "--ref", "tether/"+site, "show", commit).CombinedOutput()
	fmt.Printf("  $ git notes --ref tether/%s show %s\n", site, commit[:12])
	fmt.Print(indent(firstLines(strings.TrimRight(string(out), "\n"), 40)))
}

func (w *world) close() {
	for _, cmd := range w.agents {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	for _, s := range w.sims {
		_ = s.Close()
	}
	_ = os.RemoveAll(w.dir)
}

// writeAgentConfig writes <dir>/<site>.toml, an agent config with JSON logs
// and device (the [routeros] or [linux] section and any others), and
// returns its path.
func writeAgentConfig(dir, repo, site, stateDir, poll, device string) (string, error) {
	cfg := fmt.Sprintf(`repo = %q
branch = "main"
site = %q
state_dir = %q
poll_interval = %q
[log]
format = "json"
%s`, repo, site, stateDir, poll, device)
	path := filepath.Join(dir, site+".toml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}
