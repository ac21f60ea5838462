//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/lab"
)

// The Linux part runs the ula-mesh example (relay + two edges behind it)
// in a network-namespace lab, as the end-to-end tests do (test/e2e
// linux_test.go): one `bin/tether run` per lab host, inside the host.

const meshExample = "repo-example/ula-mesh"

// linuxTools are what the Linux device runs for the ula-mesh sites.
var linuxTools = []string{"git", "wg-quick", "nft", "radvd", "keepalived", "bash", "setsid", "sysctl", "ping"}

var meshSites = []string{"relay", "edge-a", "edge-b"}

// siteNet is each edge's address in its site /64.
var siteNet = map[string]string{"edge-a": "fd00:1234:0:a::1", "edge-b": "fd00:1234:0:b::1"}

// meshWorld is the Linux part's moving parts: the lab, the remote and work
// tree (the embedded world), and the agents running in the lab hosts.
type meshWorld struct {
	*world
	ctx    context.Context
	lab    *lab.Lab
	bin    string // absolute path of bin/tether
	procs  map[string]*lab.Proc
	narr   sync.WaitGroup // narrators, done once their agent is gone
	files  map[string]string
	keys   map[string]string
	closed sync.Once
}

// linuxDemo runs the Linux part, or prints why it is skipped.
func linuxDemo(ctx context.Context) error {
	if err := lab.Available(linuxTools...); err != nil {
		fmt.Println()
		if os.Geteuid() != 0 {
			fmt.Println("Linux part skipped: needs root for network namespaces (run `sudo make demo`)")
		} else {
			fmt.Printf("Linux part skipped: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		return nil
	}
	bin, err := filepath.Abs("bin/tether")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tether-demo-linux-")
	if err != nil {
		return err
	}
	m := &meshWorld{
		world: &world{dir: dir, bare: filepath.Join(dir, "net.git"), work: filepath.Join(dir, "work"),
			sims: nil, agents: map[string]*exec.Cmd{}, gating: make(chan string, 16)},
		ctx: ctx, bin: bin, procs: map[string]*lab.Proc{}, keys: map[string]string{},
	}
	defer m.close()

	section("9. Linux sites in network namespaces: the ula-mesh example")
	if err := m.build(); err != nil {
		return err
	}
	c1, err := m.commit(m.files, "ula-mesh: relay and two edges")
	if err != nil {
		return err
	}
	for _, site := range meshSites {
		if err := m.startAgent(site); err != nil {
			return err
		}
	}
	fmt.Println("  rollout waves: relay first, then the edges; a bootstrap brings both ends of each link up together, so nobody waits")
	start := time.Now()
	if err := m.waitNotes(ctx, c1, meshSites...); err != nil {
		return err
	}
	fmt.Printf("  converged from empty in %s:\n", time.Since(start).Round(time.Second))
	if err := m.results(c1); err != nil {
		return err
	}
	m.showNote(c1, "edge-a")
	if err := m.showHandshakes(); err != nil {
		return err
	}
	if err := m.ping("edge-a", "edge-b", 30*time.Second); err != nil {
		return err
	}

	section("10. Linux: a bad commit, a typo in edge-a's public key as the relay sees it")
	bad := cloneFiles(m.files)
	if err := setSiteKey(bad, "edge-a", typoKey(m.keys["edge-a"])); err != nil {
		return err
	}
	c2, err := m.commit(bad, "edge-a: update public key (typo)")
	if err != nil {
		return err
	}
	fmt.Println("  the relay's peer for edge-a gets the wrong key: edge-a's handshakes fail, the relay's gate (20s) fails and it reverts;")
	fmt.Println("  edge-a (wave 2) sees the relay's note and halts the rollout; edge-b has nothing to change")
	pushed := time.Now()
	if err := m.waitNotes(ctx, c2, meshSites...); err != nil {
		return err
	}
	fmt.Printf("  all three notes in %s after the push:\n", time.Since(pushed).Round(time.Second))
	if err := m.results(c2); err != nil {
		return err
	}
	m.showNote(c2, "relay")
	fmt.Println("  edge-a's WireGuard re-handshakes with the relay (its old session expires first, ~15s): connectivity is back")
	if err := m.ping("edge-a", "edge-b", 60*time.Second); err != nil {
		return err
	}
	if err := m.showHandshakes(); err != nil {
		return err
	}

	section("11. Linux: the next good commit applies; the bad one is never retried")
	good := cloneFiles(m.files)
	for _, site := range meshSites {
		if err := replaceIn(good, "sites/"+site+".toml", "[sysctl]\n", "[sysctl]\n\"net.ipv6.conf.all.accept_redirects\" = \"0\"\n"); err != nil {
			return err
		}
	}
	c3, err := m.commit(good, "all sites: ignore ICMPv6 redirects")
	if err != nil {
		return err
	}
	if err := m.waitNotes(ctx, c3, meshSites...); err != nil {
		return err
	}
	if err := m.results(c3); err != nil {
		return err
	}
	for _, site := range meshSites {
		out, err := m.lab.Host(site).Output(ctx, "sysctl", "net.ipv6.conf.all.accept_redirects")
		if err != nil {
			return err
		}
		fmt.Printf("  %-6s $ sysctl net.ipv6.conf.all.accept_redirects   → %s\n", site, strings.TrimSpace(string(out)))
	}
	if err := m.ping("edge-a", "edge-b", 30*time.Second); err != nil {
		return err
	}
	if err := m.git(m.work, "fetch", "-q", "origin", "refs/notes/tether/*:refs/notes/tether/*"); err != nil {
		return err
	}
	out, _ := exec.CommandContext(ctx, m.bin, "history", "--limit", "3", m.work).CombinedOutput()
	fmt.Println("  $ tether history --limit 3")
	fmt.Print(indent(string(out)))
	return nil
}

// build creates the lab, the keys, the remote and the network files.
func (m *meshWorld) build() error {
	ctx, cancel := context.WithTimeout(m.ctx, lab.BuildTimeout)
	defer cancel()
	l, err := lab.Build(ctx, lab.Star("inet", meshSites...))
	if err != nil {
		return err
	}
	m.lab = l
	fmt.Printf("  lab %s: a router \"inet\" and one host per site, each its own network, mount and UTS namespace\n", l.Tag())
	for _, site := range meshSites {
		h := l.Host(site)
		fmt.Printf("    %-6s eth0 %s, %s\n", site, h.Addr4(), h.Addr6())
	}

	f, err := readExample(meshExample)
	if err != nil {
		return err
	}
	relay := l.Host("relay").Addr4().String()
	for _, name := range []string{"links/relay-edge-a.toml", "links/relay-edge-b.toml"} {
		// The lab has no DNS: the edges dial the relay's underlay address.
		if err := replaceIn(f, name, `"relay.example.net:51820"`, `"`+relay+`:51820"`); err != nil {
			return err
		}
	}
	// Site A's VRRP fallback edge-a2 has no host in this lab (test/e2e
	// TestULAVRRPFailover runs it): without it the relay would wait for its
	// handshake and revert.
	delete(f, "sites/edge-a2.toml")
	delete(f, "links/relay-edge-a2.toml")
	if err := replaceIn(f, "network.toml", `"edge-a2", `, ""); err != nil {
		return err
	}
	f["network.toml"] = demoHealth(f["network.toml"])
	for _, site := range []string{"edge-a", "edge-b"} {
		// The lab has no systemd-networkd: the edges' eth0 is not a
		// networkd interface here, and the site /64 address networkd would
		// add goes on eth0 by hand below.
		if err := replaceIn(f, "sites/"+site+".toml", "networkd = true\ndhcp = true\naccept_ra = true\n", ""); err != nil {
			return err
		}
	}
	fmt.Println("  lab patches: endpoint relay.example.net → " + relay + " (no DNS); no networkd on the edges, their site /64 address added by hand; edge-a2 (site A's VRRP fallback) left out")
	for _, site := range meshSites {
		h := l.Host(site)
		if err := h.BlockResolvers(ctx); err != nil {
			return err
		}
		if a, ok := siteNet[site]; ok {
			if _, err := h.Output(ctx, "ip", "addr", "add", a+"/64", "dev", "eth0", "nodad"); err != nil {
				return err
			}
		}
		keyDir := h.Path("keys")
		out, err := exec.CommandContext(ctx, m.bin, "keygen", "--interface", "wgvpnr01", "--key-dir", keyDir).Output()
		if err != nil {
			return fmt.Errorf("tether keygen for %s: %w", site, err)
		}
		pub := strings.TrimSpace(string(out))
		m.keys[site] = pub
		if err := setSiteKey(f, site, pub); err != nil {
			return err
		}
		fmt.Printf("  %-6s $ tether keygen --interface wgvpnr01 --key-dir %s/keys   → %s\n", site, site, pub)
	}
	m.files = f
	if err := m.git("", "init", "-q", "--bare", "-b", "main", m.bare); err != nil {
		return err
	}
	if err := m.git("", "clone", "-q", m.bare, m.work); err != nil {
		return err
	}
	fmt.Printf("  remote %s\n", m.bare)
	return nil
}

// startAgent runs `tether run` inside the site's lab host and narrates its
// JSON log.
func (m *meshWorld) startAgent(site string) error {
	h := m.lab.Host(site)
	path, err := writeAgentConfig(m.dir, m.bare, site, h.Path("state"), "1s", fmt.Sprintf(`[linux]
root = %q
key_dir = %q
`, h.Dir(), h.Path("keys")))
	if err != nil {
		return err
	}
	p, err := h.Start(m.ctx, m.bin, "run", "--config", path)
	if err != nil {
		return err
	}
	m.procs[site] = p
	f, err := os.Open(p.LogPath())
	if err != nil {
		return err
	}
	m.narr.Add(1)
	go func() {
		defer m.narr.Done()
		defer f.Close()
		narrate(site, &follow{f: f, done: p.Done()}, nil)
	}()
	fmt.Printf("  $ tether run --config %s.toml   (agent for %s inside its namespaces, pid %d)\n", site, site, p.PID())
	return nil
}

// follow reads a growing file until done is closed and the rest is read.
type follow struct {
	f    *os.File
	done <-chan struct{}
}

func (r *follow) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 {
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		select {
		case <-r.done:
			if n, _ := r.f.Read(p); n > 0 {
				return n, nil
			}
			return 0, io.EOF
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// results prints each site's result on commit from its note.
func (m *meshWorld) results(commit string) error {
	for _, site := range meshSites {
		out, err := exec.Command("git", "-C", m.bare, "notes", "--ref", "tether/"+site, "show", commit).Output()
		if err != nil {
			return fmt.Errorf("note of %s on %s: %v", site, commit[:12], err)
		}
		n, err := notes.Parse(out)
		if err != nil || len(n.Attempts) == 0 {
			return fmt.Errorf("note of %s on %s: %v", site, commit[:12], err)
		}
		a := n.Attempts[len(n.Attempts)-1]
		line := fmt.Sprintf("    %-6s %s", site, a.Result)
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		fmt.Println(line)
	}
	return nil
}

// showHandshakes prints the relay's WireGuard peers.
func (m *meshWorld) showHandshakes() error {
	w, err := m.lab.Host("relay").WGShow(m.ctx, "wgvpnr01")
	if err != nil {
		return err
	}
	fmt.Println("  relay $ wg show wgvpnr01")
	name := map[string]string{m.keys["edge-a"]: "edge-a", m.keys["edge-b"]: "edge-b"}
	for _, p := range w.Peers {
		hs := "never"
		if !p.LatestHandshake.IsZero() {
			hs = time.Since(p.LatestHandshake).Round(time.Second).String() + " ago"
		}
		var allowed []string
		for _, a := range p.AllowedIPs {
			allowed = append(allowed, a.String())
		}
		sort.Strings(allowed)
		fmt.Printf("    peer %s (%s) endpoint %s allowed %s, latest handshake %s\n",
			p.PublicKey, name[p.PublicKey], p.Endpoint, strings.Join(allowed, ","), hs)
	}
	return nil
}

var pingReply = regexp.MustCompile(`(?m)^\d+ bytes from .*$`)

// ping pings to's site address from from's site address (one echo a try)
// until it is answered or within has passed, and prints the reply.
func (m *meshWorld) ping(from, to string, within time.Duration) error {
	src, dst := siteNet[from], siteNet[to]
	h := m.lab.Host(from)
	fmt.Printf("  %s $ ping -6 -c 1 -I %s %s   (site /64 to site /64, through the relay)\n", from, src, dst)
	ctx, cancel := context.WithTimeout(m.ctx, within)
	defer cancel()
	start := time.Now()
	var last string
	err := lab.WaitFor(ctx, func() (bool, error) {
		out, errb, code, err := h.Run(ctx, "ping", "-6", "-n", "-c", "1", "-W", "1", "-I", src, dst)
		if err != nil {
			return false, nil
		}
		last = strings.TrimSpace(string(out) + string(errb))
		return code == 0, nil
	})
	if err != nil {
		if m.ctx.Err() != nil {
			return m.ctx.Err()
		}
		return fmt.Errorf("%s: ping %s from %s: %w; last: %s", from, dst, src, err, last)
	}
	reply := pingReply.FindString(last)
	if d := time.Since(start); d > 2*time.Second {
		reply += fmt.Sprintf("   (answered after %s)", d.Round(time.Second))
	}
	fmt.Println("    " + reply)
	return nil
}

// close stops the agents (SIGTERM, SIGKILL after 10s) while their
// namespaces still exist, tears the lab down and removes the temp dir.
func (m *meshWorld) close() {
	m.closed.Do(func() {
		var wg sync.WaitGroup
		for _, p := range m.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if p.Signal(syscall.SIGTERM) != nil {
					return
				}
				select {
				case <-p.Done():
				case <-time.After(10 * time.Second):
					_ = p.Stop()
				}
			}()
		}
		wg.Wait()
		if m.lab != nil {
			if err := m.lab.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "demo: lab close: %v\n", err)
			}
		}
		done := make(chan struct{})
		go func() { m.narr.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		m.world.close()
	})
}

// --- network files ---

func readExample(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".toml") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	return out, err
}

func cloneFiles(f map[string]string) map[string]string {
	out := make(map[string]string, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}

// replaceIn patches one file, failing when old is not there.
func replaceIn(files map[string]string, name, old, new string) error {
	if !strings.Contains(files[name], old) {
		return fmt.Errorf("patch %s: %q not found", name, old)
	}
	files[name] = strings.Replace(files[name], old, new, 1)
	return nil
}

var pubKeyLine = regexp.MustCompile(`(?m)^public_key = "[^"]*"$`)

// setSiteKey sets the one public_key line of sites/<site>.toml.
func setSiteKey(files map[string]string, site, key string) error {
	name := "sites/" + site + ".toml"
	if n := len(pubKeyLine.FindAllString(files[name], -1)); n != 1 {
		return fmt.Errorf("%s has %d public_key lines, want 1", name, n)
	}
	files[name] = pubKeyLine.ReplaceAllLiteralString(files[name], fmt.Sprintf("public_key = %q", key))
	return nil
}

// typoKey changes one character of a base64 key, keeping it a valid key.
func typoKey(key string) string { return key[:10] + flip(key[10]) + key[11:] }

// demoHealth sets a short health gate, as the e2e tests do (defaults: 120s
// deadline, 10s window, 60s margins).
func demoHealth(n string) string {
	if i := strings.Index(n, "[health]"); i >= 0 {
		// Drop the example's own table, up to the next one.
		rest := n[i+len("[health]"):]
		if j := strings.Index(rest, "\n["); j >= 0 {
			n = n[:i] + rest[j+1:]
		} else {
			n = n[:i]
		}
	}
	return strings.TrimRight(n, "\n") + `

[health]
# demo: short gate (defaults: 120s deadline, 10s window, 60s margins)
handshake_max_age = "180s"
gate_deadline = "20s"
stable_window = "3s"
deadman_margin = "5s"
peer_note_wait = "8s"
witness_wait = "10s"
`
}
