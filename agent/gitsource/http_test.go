package gitsource

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/tether-net/tether/agent/gitsource/gittest"
)

// The agent follows a branch over smart HTTP whether the server answers in
// protocol v2 (idle polls list only the branch) or ignores v2 (go-git's
// v0/v1 path, the whole advertisement).
func TestCheckOverHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  gittest.Options
	}{{"v2", gittest.Options{}}, {"v0-server", gittest.Options{IgnoreV2: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			srv := gittest.Serve(t, filepath.Dir(f.remote), tc.opt)
			s := openSource(t, srv.URL+"/"+filepath.Base(f.remote))
			ctx := context.Background()
			first, _ := s.Head()
			if first != f.head(t) {
				t.Fatalf("cloned head %s, want %s", first, f.head(t))
			}
			for i := 0; i < 2; i++ {
				if changed, head, err := s.Check(ctx); err != nil || changed || head != first {
					t.Fatalf("idle check = %v %v %v", changed, head, err)
				}
			}
			want := f.commit(t, "net/sites/home.toml", "platform = \"routeros\"\n", "add home")
			f.push(t)
			changed, head, err := s.Check(ctx)
			if err != nil || !changed || head != want {
				t.Fatalf("check after push = %v %v %v; want %s", changed, head, err, want)
			}
			if err := s.Verify(ctx, first, head); err != nil {
				t.Fatalf("verify: %v", err)
			}
			st := s.Wire().Stats()
			if tc.opt.IgnoreV2 {
				if st.V2Lists+st.V2Fetches != 0 || st.FallbackLists < 3 || st.FallbackFetches != 2 {
					t.Fatalf("wire stats %+v: want the v0 path only", st)
				}
			} else if st.FallbackLists+st.FallbackFetches != 0 || st.V2Lists < 3 || st.V2Fetches != 2 {
				t.Fatalf("wire stats %+v: want the v2 path only", st)
			}
		})
	}
}

// A `git gc` in the state directory under a running agent replaces the
// packs go-git indexed at open; polls, fetches and tree reads carry on.
func TestCheckAfterGitGC(t *testing.T) {
	f := newFixture(t)
	srv := gittest.Serve(t, filepath.Dir(f.remote), gittest.Options{})
	s := openSource(t, srv.URL+"/"+filepath.Base(f.remote))
	ctx := context.Background()
	first := f.commit(t, "net/sites/a.toml", "a = 1\n", "a")
	f.push(t)
	if _, _, err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(s.cfg.StateDir, "repo.git")
	runGit(t, clone, nil, "gc", "-q", "--prune=now")
	want := f.commit(t, "net/sites/b.toml", "b = 2\n", "b")
	f.push(t)
	changed, head, err := s.Check(ctx)
	if err != nil || !changed || head != want {
		t.Fatalf("check after gc = %v %v %v", changed, head, err)
	}
	if err := s.Verify(ctx, first, head); err != nil {
		t.Fatal(err)
	}
	fsys, err := s.Tree(ctx, head, "net")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"sites/a.toml": "a = 1\n", "sites/b.toml": "b = 2\n"} {
		if b, err := fs.ReadFile(fsys, name); err != nil || string(b) != body {
			t.Fatalf("%s after gc: %q %v", name, b, err)
		}
	}
}
