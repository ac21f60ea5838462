package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tether-net/tether/policy"
)

// diffRepoFixture is a Git repository holding repo-example/linux-bgp-relay
// (a RouterOS home and a Linux relay joined by WireGuard and eBGP) with one
// commit per kind of change; commits maps each commit's name to its hash.
type diffRepoFixture struct {
	dir     string
	commits map[string]string
}

// rotatedKey is the relay's new public key in the "key" commit.
var rotatedKey = policy.KeyFromBytes([32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}).String()

const oldRelayKey = "T0mK0fRqGkhn1c7ODeVrP4dR3uX0n4Nw6C6Y0tJq9Xo="

func newDiffRepo(t testing.TB) diffRepoFixture {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../../repo-example/linux-bgp-relay")); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	f := diffRepoFixture{dir: dir, commits: map[string]string{}}
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	commit := func(name string) {
		t.Helper()
		if err := wt.AddGlob("."); err != nil {
			t.Fatal(err)
		}
		when = when.Add(time.Minute)
		sig := &object.Signature{Name: "t", Email: "t@example.org", When: when}
		h, err := wt.Commit(name, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		f.commits[name] = h.String()
	}
	edit := func(file, old, repl string) {
		t.Helper()
		p := filepath.Join(dir, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s lacks %q", file, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, repl, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit("init")
	edit("sites/relay.toml", oldRelayKey, rotatedKey)
	commit("key")
	edit("sites/home.toml", "mtu = 1420", "mtu = 1380")
	commit("mtu")
	edit("sites/home.toml", `comment = "aggregate-for-bgp"`, `comment = "aggregate-for-bgp"

[[firewall]]
family = "ipv6"
chain = "input"
action = "accept"
protocol = "tcp"
dst_port = "22"
in_interface = "wg-vps"
comment = "ssh from the relay"
place_before = "defconf: drop everything else not coming from LAN"`)
	commit("firewall")
	edit("sites/relay.toml", `"net.ipv6.conf.eth0.accept_ra" = "2"`, `"net.ipv6.conf.eth0.accept_ra" = "2"
"net.ipv4.ip_forward" = "1"`)
	commit("sysctl")
	return f
}

// diffJSON runs `tether diff --format json` and decodes the report.
func diffJSON(t *testing.T, args ...string) changeReport {
	t.Helper()
	out, stderr, code := run(t, append([]string{"diff", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r changeReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return r
}

func siteOf(t *testing.T, r changeReport, name string) siteChange {
	t.Helper()
	for _, s := range r.Sites {
		if s.Site == name {
			return s
		}
	}
	t.Fatalf("site %s not in the diff (unchanged: %v)", name, r.Unchanged)
	return siteChange{}
}

func attrOf(ch itemChange, name string) (attrChange, bool) {
	for _, a := range ch.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return attrChange{}, false
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestDiffKeyRotation(t *testing.T) {
	f := newDiffRepo(t)
	r := diffJSON(t, "--to", f.commits["key"], f.dir)
	if r.From != f.commits["init"] || r.To != f.commits["key"] {
		t.Fatalf("range %s..%s, want the first parent of key", r.From, r.To)
	}
	want := []keyChange{{Owner: "site relay wg-home", From: oldRelayKey, To: rotatedKey}}
	if !slices.Equal(r.Keys, want) {
		t.Errorf("key rotations %+v, want %+v", r.Keys, want)
	}
	// The router's peer for the relay takes the new key, attribute by attribute.
	home := siteOf(t, r, "home")
	if home.Wave != 2 || home.Platform != "routeros" || len(home.Items) != 1 || len(home.Files) != 0 {
		t.Fatalf("home: %+v", home)
	}
	peer := home.Items[0]
	if peer.Op != "set" || peer.Path != "/interface/wireguard/peers" || peer.ID != "interface=wg-vps name=vps" {
		t.Errorf("home item %+v", peer)
	}
	if a, ok := attrOf(peer, "public-key"); !ok || deref(a.From) != oldRelayKey || deref(a.To) != rotatedKey || len(peer.Attrs) != 1 {
		t.Errorf("home peer attrs %+v", peer.Attrs)
	}
	// The relay's wg-quick file checks its key file against the new key.
	relay := siteOf(t, r, "relay")
	if relay.Wave != 1 || len(relay.Files) != 1 || relay.Files[0].Path != "/etc/wireguard/wg-home.conf" {
		t.Fatalf("relay: %+v", relay)
	}
	d := relay.Files[0].Diff
	for _, line := range []string{"--- a/etc/wireguard/wg-home.conf\n", "+++ b/etc/wireguard/wg-home.conf\n",
		"\n-PostUp = wg set %i private-key /var/lib/tether/keys/wg-home.key && test \"$(wg show %i public-key)\" = " + oldRelayKey + "\n",
		"\n+PostUp = wg set %i private-key /var/lib/tether/keys/wg-home.key && test \"$(wg show %i public-key)\" = " + rotatedKey + "\n"} {
		if !strings.Contains(d, line) {
			t.Errorf("relay diff lacks %q:\n%s", line, d)
		}
	}
	if got := changedLines(d); got != 2 {
		t.Errorf("relay diff changes %d lines, want 2:\n%s", got, d)
	}
	if len(r.Links) != 1 || r.Links[0].Link != "relay-home" || !r.Links[0].Both {
		t.Errorf("links %+v, want relay-home at both ends", r.Links)
	}
	if len(r.Findings) != 0 {
		t.Errorf("new findings %v", r.Findings)
	}
}

// changedLines counts the removed and added lines of a unified diff.
func changedLines(d string) int {
	n := 0
	for _, l := range strings.Split(d, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "+++ ") {
			n++
		}
	}
	return n
}

func TestDiffLinkMTUAtOneEnd(t *testing.T) {
	f := newDiffRepo(t)
	r := diffJSON(t, "--to", f.commits["mtu"], f.dir)
	if !slices.Equal(r.Unchanged, []string{"relay"}) || len(r.Sites) != 1 {
		t.Fatalf("changed %+v, unchanged %v", r.Sites, r.Unchanged)
	}
	home := siteOf(t, r, "home")
	if len(home.Items) != 1 {
		t.Fatalf("home items %+v", home.Items)
	}
	it := home.Items[0]
	if a, ok := attrOf(it, "mtu"); it.Op != "set" || it.Path != "/interface/wireguard" || it.ID != "name=wg-vps" ||
		!ok || deref(a.From) != "1420" || deref(a.To) != "1380" {
		t.Errorf("home item %+v", it)
	}
	if want := []linkChange{{Link: "relay-home", Ends: []string{"home"}}}; len(r.Links) != 1 ||
		r.Links[0].Link != want[0].Link || r.Links[0].Both || !slices.Equal(r.Links[0].Ends, want[0].Ends) {
		t.Errorf("links %+v, want %+v", r.Links, want)
	}
	// The ends now disagree: the lint finding is new at --to.
	if len(r.Findings) != 1 || r.Findings[0].Rule != "TL007" {
		t.Errorf("new findings %+v, want the MTU mismatch", r.Findings)
	}
	if len(r.Keys) != 0 {
		t.Errorf("key rotations %+v", r.Keys)
	}
}

func TestDiffNewFirewallRule(t *testing.T) {
	f := newDiffRepo(t)
	r := diffJSON(t, "--to", f.commits["firewall"], f.dir)
	home := siteOf(t, r, "home")
	if len(home.Items) != 1 || len(r.Sites) != 1 {
		t.Fatalf("sites %+v", r.Sites)
	}
	it := home.Items[0]
	if it.Op != "add" || it.Path != "/ipv6/firewall/filter" {
		t.Fatalf("home item %+v", it)
	}
	for name, want := range map[string]string{"chain": "input", "action": "accept", "protocol": "tcp",
		"dst-port": "22", "in-interface": "wg-vps", "comment": "tether: ssh from the relay",
		placeAttr: "defconf: drop everything else not coming from LAN"} {
		if a, ok := attrOf(it, name); !ok || a.From != nil || deref(a.To) != want {
			t.Errorf("%s = %+v, want %q", name, a, want)
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("new findings %v", r.Findings)
	}
	// The rule filters the link's interface, so that end of the link changes.
	if len(r.Links) != 1 || r.Links[0].Both || !slices.Equal(r.Links[0].Ends, []string{"home"}) {
		t.Errorf("links %+v", r.Links)
	}
}

func TestDiffLinuxFileText(t *testing.T) {
	f := newDiffRepo(t)
	out, stderr, code := run(t, "diff", f.dir) // HEAD is the sysctl commit
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `network linux-bgp-relay: ` + f.commits["firewall"][:12] + `..` + f.commits["sysctl"][:12] + `

relay (linux, wave 1): changed
  --- a/etc/sysctl.d/90-tether.conf
  +++ b/etc/sysctl.d/90-tether.conf
  @@ -1,3 +1,4 @@
   # Rendered by tether for site relay. Do not edit: changes are overwritten.
  +net.ipv4.ip_forward = 1
   net.ipv6.conf.all.forwarding = 1
   net.ipv6.conf.eth0.accept_ra = 2

unchanged: home

rollout
  wave 1: relay
  wave 2: home
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

// A range of several commits sums them up, and a bare repository reads
// the same as a working tree.
func TestDiffRangeInBareRepoMarkdown(t *testing.T) {
	f := newDiffRepo(t)
	bare := filepath.Join(t.TempDir(), "net.git")
	if _, err := git.PlainClone(bare, true, &git.CloneOptions{URL: f.dir}); err != nil {
		t.Fatal(err)
	}
	r := diffJSON(t, "--from", f.commits["init"], bare)
	home, relay := siteOf(t, r, "home"), siteOf(t, r, "relay")
	var ops []string
	for _, it := range home.Items {
		ops = append(ops, it.Op+" "+it.Path)
	}
	slices.Sort(ops)
	if want := []string{"add /ipv6/firewall/filter", "set /interface/wireguard", "set /interface/wireguard/peers"}; !slices.Equal(ops, want) {
		t.Errorf("home ops %v, want %v", ops, want)
	}
	var paths []string
	for _, f := range relay.Files {
		paths = append(paths, f.Path)
	}
	if want := []string{"/etc/sysctl.d/90-tether.conf", "/etc/wireguard/wg-home.conf"}; !slices.Equal(paths, want) {
		t.Errorf("relay files %v, want %v", paths, want)
	}
	if len(r.Keys) != 1 || len(r.Findings) != 1 || len(r.Links) != 1 || !r.Links[0].Both {
		t.Errorf("keys %v findings %v links %v", r.Keys, r.Findings, r.Links)
	}

	out, stderr, code := run(t, "diff", "--format", "markdown", "--from", f.commits["init"], bare)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"#### home (routeros 7.22.3, wave 2): changed\n\n```diff\n",
		"\n~ /interface/wireguard name=wg-vps: mtu: 1420 -> 1380\n",
		"\n+net.ipv4.ip_forward = 1\n", "**Key rotations**\n\n- `site relay wg-home: T0mK0fRqGk… -> " + rotatedKey[:10] + "…`\n",
		"**New lint findings**\n\n- `links/relay-home.toml: warning:"} {
		if !strings.Contains(out, s) {
			t.Errorf("markdown lacks %q:\n%s", s, out)
		}
	}
	if strings.Count(out, "```") != 4 {
		t.Errorf("want two closed code blocks:\n%s", out)
	}
}

// The first commit is compared with an empty network: everything is new.
func TestDiffRootCommit(t *testing.T) {
	f := newDiffRepo(t)
	r := diffJSON(t, "--to", f.commits["init"], f.dir)
	if r.From != "" || len(r.Sites) != 2 || len(r.Unchanged) != 0 {
		t.Fatalf("%+v", r)
	}
	for _, s := range r.Sites {
		if s.Status != "added" {
			t.Errorf("%s: %s", s.Site, s.Status)
		}
		for _, it := range s.Items {
			if it.Op != "add" {
				t.Errorf("%s: %+v", s.Site, it)
			}
		}
		for _, fc := range s.Files {
			if fc.Op != "add" || !strings.HasPrefix(fc.Diff, "--- /dev/null\n+++ b"+fc.Path+"\n@@ -0,0 +1,") {
				t.Errorf("%s: %s %s", s.Site, fc.Op, firstLine(fc.Diff))
			}
		}
	}
	if len(siteOf(t, r, "home").Items) == 0 || len(siteOf(t, r, "relay").Files) == 0 {
		t.Error("nothing rendered")
	}
	if len(r.Keys) != 2 || len(r.Links) != 1 || !r.Links[0].Both {
		t.Errorf("keys %v links %v", r.Keys, r.Links)
	}
}

func TestDiffInvalidTarget(t *testing.T) {
	f := newDiffRepo(t)
	p := filepath.Join(f.dir, "sites/relay.toml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), rotatedKey, "not-a-key", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	wt := must(t, func() (*git.Worktree, error) {
		return must(t, func() (*git.Repository, error) { return git.PlainOpen(f.dir) }).Worktree()
	})
	sig := &object.Signature{Name: "t", Email: "t@example.org", When: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := wt.Commit("broken", &git.CommitOptions{All: true, Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "diff", f.dir)
	if code != 1 || !strings.Contains(stderr, "does not validate") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, "new lint findings\n  sites/relay.toml:21:1: wireguard[0].public_key: \"not-a-key\" is not a WireGuard public key") {
		t.Errorf("the errors are not reported with their position:\n%s", out)
	}
}

func must[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDiffUsage(t *testing.T) {
	if _, stderr, code := run(t, "diff", "--format", "yaml", "."); code != 2 || !strings.Contains(stderr, "--format") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if _, stderr, code := run(t, "diff", t.TempDir()); code != 1 || !strings.Contains(stderr, "open") {
		t.Errorf("not a repository: exit %d, %q", code, stderr)
	}
}

// The hunks match diff -u's: three lines of context, nearby changes joined.
func TestUnifiedDiffHunksMatchDiffU(t *testing.T) {
	tool, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("diff(1) not installed")
	}
	var a []string
	for i := 1; i <= 30; i++ {
		a = append(a, fmt.Sprintf("line %d", i))
	}
	b := slices.Clone(a)
	b[1] = "changed"                // line 2
	b = slices.Insert(b, 15, "new") // before line 16
	b = slices.Delete(b, 20, 21)    // line 20
	b = b[:len(b)-1]                // line 30
	dir := t.TempDir()
	old, cur := []byte(strings.Join(a, "\n")+"\n"), []byte(strings.Join(b, "\n")+"\n")
	os.WriteFile(filepath.Join(dir, "a"), old, 0o644)
	os.WriteFile(filepath.Join(dir, "b"), cur, 0o644)
	ref, _ := exec.Command(tool, "-u", filepath.Join(dir, "a"), filepath.Join(dir, "b")).Output()
	_, refHunks, _ := strings.Cut(string(ref), "\n@@")
	got := unifiedDiff("/f", old, cur)
	if !strings.HasPrefix(got, "--- a/f\n+++ b/f\n@@") || strings.Count(got, "\n@@") != 3 {
		t.Fatalf("got:\n%s", got)
	}
	if _, gotHunks, _ := strings.Cut(got, "\n@@"); gotHunks != refHunks {
		t.Errorf("got:\n%s\ndiff -u:\n%s", got, ref)
	}
}

// BenchmarkDiffRange is a review of the fixture's four commits at once:
// two loads from Git objects, two renders of each site, the comparison.
func BenchmarkDiffRange(b *testing.B) {
	f := newDiffRepo(b)
	b.ReportAllocs()
	for b.Loop() {
		r, err := diffRepo(b.Context(), f.dir, f.commits["init"], f.commits["sysctl"], ".")
		if err != nil || len(r.Sites) != 2 {
			b.Fatalf("%v %+v", err, r)
		}
	}
}

// A range read backwards undoes the rule: the item is removed, with the
// attributes it had.
func TestDiffRemovedItem(t *testing.T) {
	f := newDiffRepo(t)
	r := diffJSON(t, "--from", f.commits["firewall"], "--to", f.commits["mtu"], f.dir)
	home := siteOf(t, r, "home")
	if len(home.Items) != 1 || home.Items[0].Op != "remove" || home.Items[0].Path != "/ipv6/firewall/filter" {
		t.Fatalf("home items %+v", home.Items)
	}
	if a, ok := attrOf(home.Items[0], "dst-port"); !ok || deref(a.From) != "22" || a.To != nil {
		t.Errorf("removed item attrs %+v", home.Items[0].Attrs)
	}
}
