package notes

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/gitsource"
)

func TestMarshalParse(t *testing.T) {
	n := &Note{}
	a := attempt("home", Reverted, 0)
	a.Reason = "bgp relay not established within 120s"
	a.Errors = []string{"sites/home.toml:12:3: unknown key \"mtu2\""}
	a.Checks = append(a.Checks, Check{Name: "bgp relay", Kind: "bgp", Target: "relay", Status: Fail,
		Baseline: Pass, MustPass: true, Evidence: "state Active; fetched https://ops:s3cret@relay.example.test/status"})
	n.Append(attempt("home", Applied, 0))
	n.Append(a)
	b, err := Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if want := "# tether: reverted at home (2026-11-22T10:00:30Z): bgp relay not established within 120s [2 attempts]"; first != want {
		t.Fatalf("header %q, want %q", first, want)
	}
	if bytes.Contains(b, []byte("s3cret")) {
		t.Fatalf("credential in note:\n%s", b)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(got.Attempts) != 2 || got.Attempts[1].Result != Reverted || got.Attempts[1].Checks[1].Status != Fail ||
		!got.Attempts[0].Started.Equal(n.Attempts[0].Started) || got.Attempts[1].Errors[0] != a.Errors[0] {
		t.Fatalf("round trip:\n%s\n%+v", b, got)
	}
	again, _ := Marshal(got)
	if !bytes.Equal(again, b) {
		t.Fatalf("not stable:\n%s\n---\n%s", b, again)
	}
	if _, err := Parse([]byte("just some text\n")); err == nil {
		t.Fatal("parsed a foreign note")
	}
	if _, err := Parse([]byte("[[attempt]]\nsite = \"x\"\nbogus = 1\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
	// Merge is a union.
	m := Merge(got, &Note{Attempts: []Attempt{got.Attempts[0], attempt("home", Unchanged, 5)}})
	if len(m.Attempts) != 3 || m.Attempts[2].Result != Unchanged {
		t.Fatalf("merge: %+v", m.Attempts)
	}
	t.Logf("note:\n%s", b)
}

func TestNotesReadByGit(t *testing.T) {
	remote, commits := newRemote(t, 3)
	repo, dir := cloneBareDir(t, remote)
	s := newStore(t, repo, "home", remote)
	ctx := context.Background()
	c := commits[2]
	if err := s.Add(ctx, c, attempt("home", Reverted, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, c, attempt("home", Applied, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, commits[1], attempt("home", Applied, 1)); err != nil {
		t.Fatal(err)
	}
	shown := runGit(t, dir, nil, "notes", "--ref", "tether/home", "show", c.String())
	n, err := Parse([]byte(shown))
	if err != nil || len(n.Attempts) != 2 || n.Attempts[0].Result != Reverted || n.Attempts[1].Result != Applied {
		t.Fatalf("git notes show:\n%s\n%v", shown, err)
	}
	log := runGit(t, dir, nil, "log", "--notes=tether/*", "main")
	if !strings.Contains(log, "Notes (tether/home):\n    # tether: applied at home (2026-11-22T10:05:30Z) [2 attempts]") {
		t.Fatalf("git log:\n%s", log)
	}
	runGit(t, dir, nil, "fsck", "--strict", "--no-dangling")

	got, err := s.Read(ctx, c)
	if err != nil || len(got.Attempts) != 2 {
		t.Fatalf("read back: %+v %v", got, err)
	}
	if got, err := s.Read(ctx, commits[0]); err != nil || got != nil {
		t.Fatalf("no note: %+v %v", got, err)
	}
	t.Logf("git log --notes='tether/*':\n%s", log)
}

// TestReadGitFanout has git write 300+ notes (so it fans out) and tether
// read them, then add one in that layout that git reads.
func TestReadGitFanout(t *testing.T) {
	remote, commits := newRemote(t, 320)
	for i, c := range commits {
		runGit(t, remote, nil, "notes", "--ref", "tether/relay", "add", "-m", fmt.Sprintf("[[attempt]]\nsite = \"relay\"\ncommit = \"%s\"\nresult = \"applied\"\nstarted = 2026-11-22T10:00:%02dZ\nfinished = 2026-11-22T10:01:00Z\n", c, i%60), c.String())
	}
	tree := runGit(t, remote, nil, "ls-tree", "refs/notes/tether/relay")
	if !strings.Contains(tree, "\ttree ") && !strings.Contains(tree, " tree ") {
		t.Fatalf("git did not fan out 320 notes:\n%.400s", tree)
	}
	repo := cloneBare(t, remote)
	s := newStore(t, repo, "relay", remote)
	ctx := context.Background()
	if err := s.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	nc, _ := s.refHash(RemoteSiteRef("relay"))
	m, err := readNoteMap(repo.Storer, nc)
	if err != nil || len(m) != len(commits) {
		t.Fatalf("read %d notes (%v), want %d", len(m), err, len(commits))
	}
	for _, c := range []plumbing.Hash{commits[0], commits[159], commits[319]} {
		n, err := s.Read(ctx, c)
		if err != nil || n == nil || n.Attempts[0].Commit != c.String() {
			t.Fatalf("read %s: %+v %v", c, n, err)
		}
	}
	hist, err := History(ctx, repo, commits[319], 5)
	if err != nil || len(hist) != 5 || len(hist[0].Outcomes) != 1 || hist[0].Outcomes[0].Note.Attempts[0].Commit != commits[319].String() {
		t.Fatalf("history: %+v %v", hist, err)
	}

	// Tether appends to the fanned-out ref and publishes; git reads all.
	if err := s.Add(ctx, commits[10], attempt("relay", Repaired, 9)); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx); err != nil {
		t.Fatal(err)
	}
	list := runGit(t, remote, nil, "notes", "--ref", "tether/relay", "list")
	if got := len(strings.Split(list, "\n")); got != 320 {
		t.Fatalf("git lists %d notes after tether's write, want 320", got)
	}
	shown := runGit(t, remote, nil, "notes", "--ref", "tether/relay", "show", commits[10].String())
	if n, err := Parse([]byte(shown)); err != nil || len(n.Attempts) != 2 || n.Attempts[1].Result != Repaired {
		t.Fatalf("appended note:\n%s\n%v", shown, err)
	}
	runGit(t, remote, nil, "fsck", "--strict", "--no-dangling")
}

// TestFanoutLikeFastImport: tether's tree for 300 notes is byte-identical
// to the one git fast-import writes for the same notes.
func TestFanoutLikeFastImport(t *testing.T) {
	remote, commits := newRemote(t, 300)
	var s bytes.Buffer
	fmt.Fprintf(&s, "commit refs/notes/fi\ncommitter Test <test@example.test> 1767225600 +0000\ndata 3\nfi\n")
	for _, c := range commits {
		fmt.Fprintf(&s, "N inline %s\ndata <<EOM\nnote %s\nEOM\n", c, c)
	}
	runGit(t, remote, s.Bytes(), "fast-import", "--quiet")
	want := runGit(t, remote, nil, "rev-parse", "refs/notes/fi^{tree}")

	repo := cloneBare(t, remote)
	m := noteMap{}
	for _, c := range commits {
		bh, err := storeBlob(repo.Storer, []byte("note "+c.String()+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		m[c] = bh
	}
	got, err := writeNoteTree(repo.Storer, m)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Fatalf("tree %s, fast-import wrote %s", got, want)
	}
	if Fanout(255) != 0 || Fanout(256) != 1 || Fanout(65535) != 1 || Fanout(65536) != 2 {
		t.Fatal("Fanout thresholds")
	}
}

var remoteKinds = []string{"file", "http-v2", "http-v0"}

func TestPushTwoSitesConcurrently(t *testing.T) {
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			dir, commits := newRemote(t, 2)
			testPushTwoSites(t, remoteURLs(t, dir)[kind], commits)
		})
	}
}

func testPushTwoSites(t *testing.T, remote string, commits []plumbing.Hash) {
	ctx := context.Background()
	head := commits[1]
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, site := range []string{"home", "relay"} {
		s := newStore(t, cloneBare(t, remote), site, remote)
		if err := s.Add(ctx, head, attempt(site, Applied, 1)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.Push(ctx) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A third agent sees both sites once it fetches their refs.
	reader := newStore(t, cloneBare(t, remote), "vps", remote)
	if err := reader.FetchSites(ctx, "home", "relay"); err != nil {
		t.Fatal(err)
	}
	hist, err := reader.History(ctx, head, 0)
	if err != nil || len(hist) != 2 || len(hist[0].Outcomes) != 2 ||
		hist[0].Outcomes[0].Site != "home" || hist[0].Outcomes[1].Site != "relay" || len(hist[1].Outcomes) != 0 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if only, _ := reader.History(ctx, head, 1, "relay"); len(only) != 1 || len(only[0].Outcomes) != 1 || only[0].Outcomes[0].Site != "relay" {
		t.Fatalf("filtered history: %+v", only)
	}
}

// Two writers for the same site (an agent reinstalled with an empty state
// dir while the old one still runs) race; neither loses a note.
func TestPushSameSiteRaceMerges(t *testing.T) {
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			dir, commits := newRemote(t, 3)
			testPushSameSiteRace(t, remoteURLs(t, dir)[kind], dir, commits)
		})
	}
}

func testPushSameSiteRace(t *testing.T, remote, dir string, commits []plumbing.Hash) {
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		a := newStore(t, cloneBare(t, remote), "home", remote)
		b := newStore(t, cloneBare(t, remote), "home", remote)
		if err := a.Add(ctx, commits[2], attempt("home", Reverted, 10*round+1)); err != nil {
			t.Fatal(err)
		}
		if err := b.Add(ctx, commits[2], attempt("home", Applied, 10*round+2)); err != nil {
			t.Fatal(err)
		}
		if err := b.Add(ctx, commits[round%2], attempt("home", Unchanged, 10*round+3)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var ea, eb error
		wg.Add(2)
		go func() { defer wg.Done(); ea = a.Push(ctx) }()
		go func() { defer wg.Done(); eb = b.Push(ctx) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("round %d: push errors %v / %v", round, ea, eb)
		}
	}
	shown := runGit(t, dir, nil, "notes", "--ref", "tether/home", "show", commits[2].String())
	n, err := Parse([]byte(shown))
	if err != nil {
		t.Fatalf("%v\n%s", err, shown)
	}
	var got []string
	for _, at := range n.Attempts {
		got = append(got, fmt.Sprintf("%s@%d", at.Result, at.Started.Minute()))
	}
	want := []string{"reverted@1", "applied@2", "reverted@11", "applied@12", "reverted@21", "applied@22"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("attempts on the raced commit: %v, want %v", got, want)
	}
	runGit(t, dir, nil, "fsck", "--strict", "--no-dangling")
}

func TestPushWhileRemoteDown(t *testing.T) {
	remote, commits := newRemote(t, 2)
	repo := cloneBare(t, remote)
	ctx := context.Background()
	s := newStore(t, repo, "home", remote)
	away := remote + ".away"
	if err := os.Rename(remote, away); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, commits[0], attempt("home", Applied, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx); err == nil {
		t.Fatal("push to a missing remote: no error")
	} else if strings.Contains(err.Error(), "panic") {
		t.Fatal(err)
	}
	if err := s.Add(ctx, commits[1], attempt("home", Reverted, 2)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Pending(ctx); err != nil || n != 2 {
		t.Fatalf("pending = %d %v, want 2", n, err)
	}
	if err := os.Rename(away, remote); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("pending after push = %d %v", n, err)
	}
	list := runGit(t, remote, nil, "notes", "--ref", "tether/home", "list")
	if len(strings.Split(list, "\n")) != 2 {
		t.Fatalf("remote notes:\n%s", list)
	}
	// Read-only remote (no write access): the push fails without looping
	// and the note stays pending.
	if os.Geteuid() != 0 {
		if err := s.Add(ctx, commits[1], attempt("home", Applied, 3)); err != nil {
			t.Fatal(err)
		}
		ro := filepath.Join(remote, "refs", "notes", "tether")
		os.Chmod(ro, 0o555)
		defer os.Chmod(ro, 0o755)
		if err := s.Push(ctx); err == nil {
			t.Fatal("push to read-only remote: no error")
		}
		if n, _ := s.Pending(ctx); n != 1 {
			t.Fatalf("pending = %d, want 1", n)
		}
	}
}

// A reader fetches only the sites it names, and within MinFetchInterval a
// repeated Fetch does not ask the remote again.
func TestFetchNamedSitesOnly(t *testing.T) {
	dir, commits := newRemote(t, 2)
	url := remoteURLs(t, dir)["http-v2"]
	ctx := context.Background()
	for _, site := range []string{"home", "relay", "vps"} {
		w := newStore(t, cloneBare(t, url), site, url)
		if err := w.Add(ctx, commits[1], attempt(site, Applied, 1)); err != nil {
			t.Fatal(err)
		}
		if err := w.Push(ctx); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	repo := cloneBare(t, url)
	relay := newStore(t, repo, "relay", url, func(c *Config) {
		c.MinFetchInterval = 3 * time.Second
		c.Now = func() time.Time { return now }
	})
	if err := relay.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	for site, want := range map[string]bool{"home": false, "relay": true, "vps": false} {
		if _, err := repo.Storer.Reference(RemoteSiteRef(site)); (err == nil) != want {
			t.Fatalf("after fetching relay, %s's ref present = %v", site, err == nil)
		}
	}
	if n, err := relay.Read(ctx, commits[1]); err != nil || n == nil || n.Attempts[0].Result != Applied {
		t.Fatalf("read relay: %+v %v", n, err)
	}
	// relay records a revert elsewhere; a Fetch within the interval does
	// not see it, one after does.
	w := newStore(t, cloneBare(t, url), "relay", url)
	if err := w.Add(ctx, commits[1], attempt("relay", Reverted, 2)); err != nil {
		t.Fatal(err)
	}
	if err := w.Push(ctx); err != nil {
		t.Fatal(err)
	}
	last := func() Result {
		n, err := relay.Read(ctx, commits[1])
		if err != nil {
			t.Fatal(err)
		}
		return n.Attempts[len(n.Attempts)-1].Result
	}
	now = now.Add(2 * time.Second)
	if err := relay.Fetch(ctx); err != nil || last() != Applied {
		t.Fatalf("fetch within the interval: %v, last result %s", err, last())
	}
	now = now.Add(2 * time.Second)
	if err := relay.Fetch(ctx); err != nil || last() != Reverted {
		t.Fatalf("fetch after the interval: %v, last result %s", err, last())
	}
	// FetchSites reads several named sites in one go.
	if err := relay.FetchSites(ctx, "home", "vps", "absent"); err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"home", "vps"} {
		if _, err := repo.Storer.Reference(RemoteSiteRef(site)); err != nil {
			t.Fatalf("%s not fetched: %v", site, err)
		}
	}
}

// Add rewrites only the changed subtree once the ref has a fan-out; the
// tree must be exactly what a whole rewrite gives, across the 256-note
// threshold, and git must read every note.
func TestAddIncrementalTree(t *testing.T) {
	remote, commits := newRemote(t, 270)
	repo, dir := cloneBareDir(t, remote)
	s := newStore(t, repo, "home", remote)
	ctx := context.Background()
	for i, c := range commits {
		if err := s.Add(ctx, c, attempt("home", Applied, i%60)); err != nil {
			t.Fatal(err)
		}
	}
	// a second attempt on an existing note keeps the count
	if err := s.Add(ctx, commits[3], attempt("home", Reverted, 1)); err != nil {
		t.Fatal(err)
	}
	head, _ := s.refHash(s.ref)
	m, err := readNoteMap(repo.Storer, head)
	if err != nil || len(m) != len(commits) {
		t.Fatalf("%d notes, %v", len(m), err)
	}
	whole, err := writeNoteTree(repo.Storer, m)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := repo.CommitObject(head)
	if c.TreeHash != whole {
		t.Fatalf("incremental tree %s, whole rewrite %s", c.TreeHash, whole)
	}
	list := runGit(t, dir, nil, "notes", "--ref", "tether/home", "list")
	if n := len(strings.Split(list, "\n")); n != len(commits) {
		t.Fatalf("git lists %d notes, want %d", n, len(commits))
	}
	if n, err := s.Read(ctx, commits[3]); err != nil || len(n.Attempts) != 2 {
		t.Fatalf("note with two attempts: %+v %v", n, err)
	}
}

// A `git gc` in the agent's clone packs its refs and objects; notes keep
// being recorded, published and read, and none is lost.
func TestNotesAfterGitGC(t *testing.T) {
	remote, commits := newRemote(t, 4)
	url := remoteURLs(t, remote)["http-v2"]
	_, dir := cloneBareDir(t, url)
	repo, err := gitsource.OpenRepository(dir) // as the agent opens its clone
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := newStore(t, repo, "home", url)
	peer := newStore(t, cloneBare(t, url), "relay", url)
	for i, c := range commits[:2] {
		if err := s.Add(ctx, c, attempt("home", Applied, i)); err != nil {
			t.Fatal(err)
		}
		if err := peer.Add(ctx, c, attempt("relay", Applied, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Push(ctx); err != nil {
		t.Fatal(err)
	}
	if err := peer.Push(ctx); err != nil {
		t.Fatal(err)
	}
	relay := newStore(t, repo, "relay", url)
	if err := relay.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, nil, "gc", "-q", "--prune=now")
	if loose, _ := filepath.Glob(filepath.Join(dir, "refs", "notes", "tether", "*")); len(loose) != 0 {
		t.Fatalf("refs not packed: %v", loose)
	}
	for i, c := range commits[2:] {
		if err := s.Add(ctx, c, attempt("home", Reverted, 10+i)); err != nil {
			t.Fatal(err)
		}
		if err := peer.Add(ctx, c, attempt("relay", Reverted, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Push(ctx); err != nil {
		t.Fatal(err)
	}
	if err := peer.Push(ctx); err != nil {
		t.Fatal(err)
	}
	if err := relay.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range commits {
		for _, st := range []*Store{s, relay} {
			if n, err := st.Read(ctx, c); err != nil || n == nil {
				t.Fatalf("%s's note on %s after gc: %v %v", st.cfg.Site, c, n, err)
			}
		}
	}
	for _, site := range []string{"home", "relay"} {
		list := runGit(t, remote, nil, "notes", "--ref", "tether/"+site, "list")
		if n := len(strings.Split(list, "\n")); n != len(commits) {
			t.Fatalf("remote has %d notes of %s, want %d", n, site, len(commits))
		}
	}
	runGit(t, dir, nil, "fsck", "--strict", "--no-dangling")
}
