package gitsource

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestOpenClonesAndReuses(t *testing.T) {
	f := newFixture(t)
	state := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Config{URL: f.remote, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	head, err := s.Head()
	if err != nil || head != f.head(t) {
		t.Fatalf("head = %v, %v; want %v", head, err, f.head(t))
	}
	if _, err := os.Stat(filepath.Join(state, "repo.git", "HEAD")); err != nil {
		t.Fatalf("clone not in state dir: %v", err)
	}
	if shallow, _ := os.ReadFile(filepath.Join(state, "repo.git", "shallow")); len(shallow) != 0 {
		t.Fatal("clone is shallow")
	}

	// Restart: the clone is reused, nothing fetched.
	s2, err := Open(ctx, Config{URL: "file://" + f.remote, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Stats().Fetches; got != 0 {
		t.Fatalf("reopen fetched %d times", got)
	}
	if h, _ := s2.Head(); h != head {
		t.Fatalf("reopened head %v, want %v", h, head)
	}
	// the changed URL form was written to the clone's config
	cfg, _ := s2.Repository().Config()
	if got := cfg.Remotes[RemoteName].URLs[0]; got != "file://"+f.remote {
		t.Fatalf("remote url = %q", got)
	}
}

func TestOpenEmptyRemote(t *testing.T) {
	dir := t.TempDir()
	remote := filepath.Join(dir, "empty.git")
	runGit(t, dir, nil, "init", "-q", "--bare", "-b", "main", remote)
	s := openSource(t, remote)
	if h, _ := s.Head(); !h.IsZero() {
		t.Fatalf("head of empty remote = %v", h)
	}
	if _, _, err := s.Check(context.Background()); !errors.Is(err, ErrBranchNotFound) {
		t.Fatalf("check on empty remote: %v, want ErrBranchNotFound", err)
	}
}

func TestCheckFetchesOnlyOnChange(t *testing.T) {
	f := newFixture(t)
	s := openSource(t, f.remote)
	ctx := context.Background()
	first, _ := s.Head()
	base := s.Stats()

	for i := 0; i < 3; i++ {
		changed, head, err := s.Check(ctx)
		if err != nil || changed || head != first {
			t.Fatalf("idle check = %v %v %v", changed, head, err)
		}
	}
	if st := s.Stats(); st.Fetches != base.Fetches || st.Lists != base.Lists+3 {
		t.Fatalf("idle polls: stats %+v (base %+v), want 3 lists and no fetch", st, base)
	}

	want := f.commit(t, "net/sites/home.toml", "platform = \"routeros\"\n", "add home")
	f.push(t)
	changed, head, err := s.Check(ctx)
	if err != nil || !changed || head != want {
		t.Fatalf("check after push = %v %v %v; want changed %v", changed, head, err, want)
	}
	if st := s.Stats(); st.Fetches != base.Fetches+1 {
		t.Fatalf("fetches = %d, want %d", st.Fetches, base.Fetches+1)
	}
	if err := s.Verify(ctx, first, head); err != nil {
		t.Fatalf("verify fast-forward: %v", err)
	}
	// and the new commit's tree is readable
	fsys, err := s.Tree(ctx, head, "net")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(fsys, "sites/home.toml"); err != nil || string(b) != "platform = \"routeros\"\n" {
		t.Fatalf("read new file: %q %v", b, err)
	}
}

func TestVerifyRefusesRewindAndForcePush(t *testing.T) {
	f := newFixture(t)
	s := openSource(t, f.remote)
	ctx := context.Background()
	a, _ := s.Head()
	b := f.commit(t, "net/x.toml", "x = 1\n", "b")
	f.push(t)
	if _, h, err := s.Check(ctx); err != nil || h != b {
		t.Fatalf("check: %v %v", h, err)
	}
	if err := s.Verify(ctx, a, b); err != nil {
		t.Fatalf("verify a..b: %v", err)
	}

	// Force-push a sibling of b.
	runGit(t, f.work, nil, "reset", "-q", "--hard", a.String())
	c := f.commit(t, "net/x.toml", "x = 2\n", "c (rewritten)")
	f.push(t, "--force")
	changed, h, err := s.Check(ctx)
	if err != nil || !changed || h != c {
		t.Fatalf("check after force-push: %v %v %v", changed, h, err)
	}
	err = s.Verify(ctx, b, c)
	if !errors.Is(err, ErrNotFastForward) {
		t.Fatalf("verify force-push: %v, want ErrNotFastForward", err)
	}
	var te *TrustError
	if !errors.As(err, &te) || te.Commit != c {
		t.Fatalf("error %v does not name commit %v", err, c)
	}

	// Rewind to an ancestor.
	runGit(t, f.work, nil, "reset", "-q", "--hard", a.String())
	f.push(t, "--force")
	if _, h, err := s.Check(ctx); err != nil || h != a {
		t.Fatalf("check after rewind: %v %v", h, err)
	}
	if err := s.Verify(ctx, b, a); !errors.Is(err, ErrNotFastForward) {
		t.Fatalf("verify rewind: %v, want ErrNotFastForward", err)
	}
	// Same commit and first sync are fine.
	if err := s.Verify(ctx, a, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, plumbing.ZeroHash, a); err != nil {
		t.Fatal(err)
	}
}

func TestTreeFS(t *testing.T) {
	f := newFixture(t)
	f.write(t, "net/sites/home.toml", "platform = \"routeros\"\n")
	f.write(t, "net/links/home-relay.toml", "port = 51820\n")
	f.write(t, "README.md", "hi\n")
	h := f.commit(t, "net/sites/relay.toml", "platform = \"linux\"\n", "tree")
	f.push(t)
	s := openSource(t, f.remote)
	ctx := context.Background()

	fsys, err := s.Tree(ctx, h, "net")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "network.toml", "sites/home.toml", "sites/relay.toml", "links/home-relay.toml"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(fsys, "README.md"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file outside the folder visible: %v", err)
	}
	fi, err := fs.Stat(fsys, "sites/home.toml")
	if err != nil || fi.Size() != int64(len("platform = \"routeros\"\n")) || !fi.ModTime().Equal(time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC)) {
		t.Fatalf("stat = %+v %v", fi, err)
	}
	for _, root := range []string{"", ".", "/"} {
		rfs, err := s.Tree(ctx, h, root)
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(rfs, "README.md", "net/network.toml"); err != nil {
			t.Fatalf("root %q: %v", root, err)
		}
	}
	if _, err := s.Tree(ctx, h, "missing"); err == nil {
		t.Fatal("missing folder: no error")
	}
}
