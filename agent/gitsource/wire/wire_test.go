package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tether-net/tether/agent/gitsource/gittest"
)

func runGit(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	return gittest.Git(tb, dir, stdin, args...)
}

// remoteRepo makes root/net.git with commits on main and `extra` more refs
// (refs/notes/tether/siteN), packed, as a fleet's server holds them.
func remoteRepo(tb testing.TB, root string, commits, extra int) string {
	repo := filepath.Join(root, "net.git")
	runGit(tb, root, nil, "init", "-q", "--bare", "-b", "main", repo)
	var s bytes.Buffer
	for i := 1; i <= commits; i++ {
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.test> %d +0000\ndata 2\nc\n", i, 1767225600+i)
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", i-1)
		}
		fmt.Fprintf(&s, "M 644 inline net/sites/s%d.toml\ndata 2\n%d\n\n", i%7, i%10)
	}
	for i := 0; i < extra; i++ {
		fmt.Fprintf(&s, "reset refs/notes/tether/site%d\nfrom :1\n\n", i)
	}
	runGit(tb, repo, s.Bytes(), "fast-import", "--quiet")
	runGit(tb, repo, nil, "pack-refs", "--all")
	return repo
}

type served struct {
	name string
	url  string
	srv  *gittest.Server // nil for local remotes
	v2   bool
}

// remotes serves one repository three ways: HTTP with protocol v2, HTTP from
// a server that ignores v2 (v0 fallback), and as a local path.
func remotes(t *testing.T, commits, extra int) (string, []served) {
	root := t.TempDir()
	repo := remoteRepo(t, root, commits, extra)
	v2 := gittest.Serve(t, root, gittest.Options{})
	v0 := gittest.Serve(t, root, gittest.Options{IgnoreV2: true})
	return repo, []served{
		{name: "http-v2", url: v2.URL + "/net.git", srv: v2, v2: true},
		{name: "http-v0", url: v0.URL + "/net.git", srv: v0},
		{name: "file", url: "file://" + repo},
	}
}

func clone(t *testing.T) *git.Repository {
	r, err := git.PlainInit(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The v2 path lists and fetches only what was named; a server that ignores
// v2 still works through go-git; both end with the same objects and refs.
func TestRefsAndFetch(t *testing.T) {
	ctx := context.Background()
	repo, rs := remotes(t, 20, 2000)
	main := plumbing.NewHash(runGit(t, repo, nil, "rev-parse", "main"))
	for _, rm := range rs {
		t.Run(rm.name, func(t *testing.T) {
			r, err := New(rm.url, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			refs, err := r.Refs(ctx, "refs/heads/main", "refs/notes/tether/site7", "refs/heads/absent", "refs/heads/mai")
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 2 || refs["refs/heads/main"] != main || refs["refs/notes/tether/site7"].IsZero() {
				t.Fatalf("refs = %v", refs)
			}
			local := clone(t)
			if err := r.Fetch(ctx, local.Storer, Update{Remote: "refs/heads/main", Local: "refs/remotes/origin/main", Hash: main}); err != nil {
				t.Fatal(err)
			}
			got, err := local.Storer.Reference("refs/remotes/origin/main")
			if err != nil || got.Hash() != main {
				t.Fatalf("tracking ref %v %v", got, err)
			}
			n := 0
			iter, _ := local.Log(&git.LogOptions{From: main})
			_ = iter.ForEach(func(*object.Commit) error { n++; return nil })
			if n != 20 {
				t.Fatalf("fetched history has %d commits, want 20", n)
			}
			// An idle listing of one ref costs the same with 2,000 other refs.
			if rm.srv != nil {
				before := rm.srv.Counts()
				if _, err := r.Refs(ctx, "refs/heads/main"); err != nil {
					t.Fatal(err)
				}
				d := rm.srv.Counts().Sub(before)
				if rm.v2 && (d.Bytes > 1024 || d.Requests != 1) {
					t.Fatalf("v2 listing of one ref: %+v, want ≤ 1 KB in 1 request", d)
				}
				if !rm.v2 && d.Bytes < 2000*50 {
					t.Fatalf("v0 listing %+v: the fallback should have read the full advertisement", d)
				}
			}
			st := r.Stats()
			switch rm.name {
			case "http-v2":
				if st.V2Lists == 0 || st.V2Fetches != 1 || st.FallbackLists+st.FallbackFetches != 0 {
					t.Fatalf("stats %+v: want the v2 path only", st)
				}
			case "http-v0":
				if st.V2Lists+st.V2Fetches != 0 || st.FallbackLists == 0 || st.FallbackFetches != 1 {
					t.Fatalf("stats %+v: want the v0 fallback only", st)
				}
			}
		})
	}
}

// A second fetch sends only what is new since the tracking ref's value, and
// a small pack lands as loose objects (git's fetch.unpackLimit), not as one
// more pack per poll; the clone stays complete (git fsck).
func TestFetchIncremental(t *testing.T) {
	ctx := context.Background()
	repo, rs := remotes(t, 200, 0)
	for _, rm := range rs {
		if !rm.v2 {
			continue
		}
		r, _ := New(rm.url, nil, Options{})
		dir := t.TempDir()
		local, err := git.PlainInit(dir, true)
		if err != nil {
			t.Fatal(err)
		}
		refs, _ := r.Refs(ctx, "refs/heads/main")
		if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", refs["refs/heads/main"]}); err != nil {
			t.Fatal(err)
		}
		packs := func() int {
			m, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
			return len(m)
		}
		if packs() != 1 {
			t.Fatalf("the first fetch (600 objects) left %d packs, want 1", packs())
		}
		for i := 0; i < 3; i++ {
			next := plumbing.NewHash(commitOnRemote(t, repo, i))
			before := rm.srv.Counts()
			if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", next}); err != nil {
				t.Fatal(err)
			}
			if d := rm.srv.Counts().Sub(before); d.Bytes > 2048 {
				t.Fatalf("fetching one commit over 200 cost %d bytes", d.Bytes)
			}
		}
		if packs() != 1 {
			t.Fatalf("small fetches left %d packs, want them unpacked", packs())
		}
		runGit(t, dir, nil, "fsck", "--strict", "--no-dangling", "refs/remotes/origin/main")
	}
}

// commitOnRemote adds a commit changing one file on the remote's main.
func commitOnRemote(t *testing.T, repo string, i int) string {
	s := fmt.Sprintf("commit refs/heads/main\ncommitter T <t@example.test> %d +0000\ndata 4\nnew\nfrom refs/heads/main^0\nM 644 inline net/sites/new%d.toml\ndata 2\n%d\n\n", 1767300000+i, i, i)
	runGit(t, repo, []byte(s), "fast-import", "--quiet")
	return runGit(t, repo, nil, "rev-parse", "main")
}

// Push creates and moves a ref with a compare-and-swap: a stale old value
// or an existing ref for a create is refused and changes nothing; the
// remote stays consistent (git fsck).
func TestPushCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	repo, rs := remotes(t, 3, 0)
	main := plumbing.NewHash(runGit(t, repo, nil, "rev-parse", "main"))
	for i, rm := range rs {
		t.Run(rm.name, func(t *testing.T) {
			ref := plumbing.ReferenceName(fmt.Sprintf("refs/notes/tether/push%d", i))
			r, _ := New(rm.url, nil, Options{})
			local := clone(t)
			if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", main}); err != nil {
				t.Fatal(err)
			}
			c1 := commitOn(t, local, plumbing.ZeroHash, "one")
			c2 := commitOn(t, local, c1, "two")
			if err := r.Push(ctx, local.Storer, ref, plumbing.ZeroHash, c1); err != nil {
				t.Fatalf("create: %v", err)
			}
			if err := r.Push(ctx, local.Storer, ref, plumbing.ZeroHash, c2); !errors.Is(err, ErrRejected) {
				t.Fatalf("create over an existing ref: %v, want ErrRejected", err)
			}
			if err := r.Push(ctx, local.Storer, ref, c2, c2); !errors.Is(err, ErrRejected) {
				t.Fatalf("update from a value the ref does not hold: %v, want ErrRejected", err)
			}
			if err := r.Push(ctx, local.Storer, ref, c1, c2); err != nil {
				t.Fatalf("update: %v", err)
			}
			if got := runGit(t, repo, nil, "rev-parse", ref.String()); got != c2.String() {
				t.Fatalf("remote ref %s, want %s", got, c2)
			}
			stale := commitOn(t, local, c1, "lost race")
			if err := r.Push(ctx, local.Storer, ref, c1, stale); !errors.Is(err, ErrRejected) {
				t.Fatalf("push from a stale old value: %v, want ErrRejected", err)
			}
			if got := runGit(t, repo, nil, "rev-parse", ref.String()); got != c2.String() {
				t.Fatalf("a refused push moved the ref to %s", got)
			}
			runGit(t, repo, nil, "fsck", "--strict", "--no-dangling")
		})
	}
}

// Two writers creating the same ref at once: exactly one wins.
func TestPushCreateRace(t *testing.T) {
	ctx := context.Background()
	_, rs := remotes(t, 1, 0)
	for _, rm := range rs {
		t.Run(rm.name, func(t *testing.T) {
			for round := 0; round < 5; round++ {
				ref := plumbing.ReferenceName(fmt.Sprintf("refs/notes/tether/race-%s-%d", rm.name, round))
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for w := range errs {
					r, _ := New(rm.url, nil, Options{})
					local := clone(t)
					c := commitOn(t, local, plumbing.ZeroHash, fmt.Sprintf("writer %d", w))
					wg.Add(1)
					go func() { defer wg.Done(); errs[w] = r.Push(ctx, local.Storer, ref, plumbing.ZeroHash, c) }()
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, ErrRejected):
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if ok != 1 {
					t.Fatalf("round %d: %d writers created the ref (%v)", round, ok, errs)
				}
			}
		})
	}
}

// commitOn makes a commit with a one-file tree on top of parent.
func commitOn(t *testing.T, repo *git.Repository, parent plumbing.Hash, msg string) plumbing.Hash {
	t.Helper()
	st := repo.Storer
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	fmt.Fprintf(w, "%s\n", msg)
	w.Close()
	bh, err := st.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "note", Mode: 0o100644, Hash: bh}}}
	to := st.NewEncodedObject()
	if err := tree.Encode(to); err != nil {
		t.Fatal(err)
	}
	th, _ := st.SetEncodedObject(to)
	sig := object.Signature{Name: "t", Email: "t@example.test", When: time.Unix(1767225600, 0)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: th}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	co := st.NewEncodedObject()
	if err := c.Encode(co); err != nil {
		t.Fatal(err)
	}
	h, _ := st.SetEncodedObject(co)
	return h
}

// git:// (git daemon) goes through go-git's v0/v1 transport: list, fetch and
// push still work.
func TestGitDaemonFallback(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := remoteRepo(t, root, 5, 50)
	main := plumbing.NewHash(runGit(t, repo, nil, "rev-parse", "main"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d := exec.Command("git", "daemon", "--export-all", "--enable=receive-pack", "--reuseaddr",
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), "--base-path="+root, root)
	d.Env = []string{"HOME=" + root, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH")}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("git daemon did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r, err := New(fmt.Sprintf("git://127.0.0.1:%d/net.git", port), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := r.Refs(ctx, "refs/heads/main", "refs/notes/tether/site3")
	if err != nil || refs["refs/heads/main"] != main || len(refs) != 2 {
		t.Fatalf("refs %v %v", refs, err)
	}
	local := clone(t)
	if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", main}); err != nil {
		t.Fatal(err)
	}
	c := commitOn(t, local, main, "note")
	if err := local.Storer.SetReference(plumbing.NewHashReference("refs/notes/tether/daemon", c)); err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, local.Storer, "refs/notes/tether/daemon", plumbing.ZeroHash, c); err != nil {
		t.Fatalf("push: %v", err)
	}
	if got := runGit(t, repo, nil, "rev-parse", "refs/notes/tether/daemon"); got != c.String() {
		t.Fatalf("remote ref %s, want %s", got, c)
	}
	if st := r.Stats(); st.FallbackLists != 1 || st.FallbackFetches != 1 || st.FallbackPushes != 1 {
		t.Fatalf("stats %+v: want the go-git path", st)
	}
}

// A server that refuses a push without the ref advertisement first gets
// one the way git pushes (go-git), and the push still lands.
func TestPushFallsBackToAdvertisedPush(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := remoteRepo(t, root, 3, 0)
	main := plumbing.NewHash(runGit(t, repo, nil, "rev-parse", "main"))
	srv := gittest.Serve(t, root, gittest.Options{PushNeedsAdvertisement: true})
	r, _ := New(srv.URL+"/net.git", nil, Options{})
	local := clone(t)
	if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", main}); err != nil {
		t.Fatal(err)
	}
	c := commitOn(t, local, main, "note")
	if err := r.Push(ctx, local.Storer, "refs/notes/tether/home", plumbing.ZeroHash, c); err != nil {
		t.Fatalf("push: %v", err)
	}
	if got := runGit(t, repo, nil, "rev-parse", "refs/notes/tether/home"); got != c.String() {
		t.Fatalf("remote ref %s, want %s", got, c)
	}
	if st := r.Stats(); st.StatelessPushes != 1 || st.FallbackPushes != 1 {
		t.Fatalf("stats %+v: want one refused stateless push, then the go-git push", st)
	}
}
