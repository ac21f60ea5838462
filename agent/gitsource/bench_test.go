package gitsource

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	bigOnce   sync.Once
	bigRemote string
	bigDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// bigFixture is a bare remote with 10,000 commits on main and 10,000 notes
// on refs/notes/tether/home, built once with git fast-import.
func bigFixture(b *testing.B) string {
	bigOnce.Do(func() {
		start := time.Now()
		dir, err := os.MkdirTemp("", "tether-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigDir = dir
		remote := filepath.Join(dir, "remote.git")
		runGit(b, dir, nil, "init", "-q", "--bare", "-b", "main", remote)
		var s bytes.Buffer
		const n = 10000
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.test> %d +0000\ndata <<EOM\nchange %d\nEOM\n", i, 1767225600+i, i)
			if i > 1 {
				fmt.Fprintf(&s, "from :%d\n", i-1)
			}
			fmt.Fprintf(&s, "M 644 inline net/sites/site%03d.toml\ndata <<EOM\nserial = %d\nEOM\n\n", i%200, i)
		}
		fmt.Fprintf(&s, "commit refs/notes/tether/home\ncommitter tether <tether@home> 1767225600 +0000\ndata 6\nnotes\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&s, "N inline :%d\ndata <<EOM\n# tether: applied at home\n[[attempt]]\nsite = \"home\"\nresult = \"applied\"\nEOM\n", i)
		}
		runGit(b, remote, s.Bytes(), "fast-import", "--quiet")
		runGit(b, remote, nil, "repack", "-adq")
		bigRemote = remote
		b.Logf("fixture: 10000 commits + 10000 notes in %v", time.Since(start).Round(time.Millisecond))
	})
	if bigRemote == "" {
		b.Fatal("fixture build failed")
	}
	return bigRemote
}

// BenchmarkCheckIdle is one poll of an unchanged remote: a ref
// advertisement, no fetch.
func BenchmarkCheckIdle(b *testing.B) {
	remote := bigFixture(b)
	s := openSource(b, remote)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		changed, _, err := s.Check(ctx)
		if err != nil || changed {
			b.Fatal(changed, err)
		}
	}
	b.StopTimer()
	if st := s.Stats(); st.Fetches != 1 {
		b.Fatalf("idle polls fetched: %+v", st)
	}
}

// BenchmarkCheckNewCommit detects and fetches one new commit on top of the
// 10,000-commit history.
func BenchmarkCheckNewCommit(b *testing.B) {
	src := bigFixture(b)
	// Work on a copy: this benchmark moves main.
	remote := filepath.Join(b.TempDir(), "remote.git")
	runGit(b, filepath.Dir(remote), nil, "clone", "-q", "--bare", "--no-local", src, remote)
	runGit(b, remote, nil, "fetch", "-q", src, "+refs/notes/*:refs/notes/*")
	s := openSource(b, remote)
	ctx := context.Background()
	tree := runGit(b, remote, nil, "rev-parse", "main^{tree}")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := runGit(b, remote, nil, "commit-tree", tree, "-p", "main", "-m", fmt.Sprintf("bench %d", i))
		runGit(b, remote, nil, "update-ref", "refs/heads/main", c)
		b.StartTimer()
		changed, head, err := s.Check(ctx)
		if err != nil || !changed || head.String() != c {
			b.Fatal(changed, head, err)
		}
	}
}
