package gitsource_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/agent/gitsource/gittest"
	"github.com/tether-net/tether/agent/notes"
)

// historyRepo is a remote with `commits` commits on main (200 site files
// changing in turn) and one note per commit on refs/notes/tether/home.
func historyRepo(b *testing.B, commits int) (root, repo string) {
	root = b.TempDir()
	repo = filepath.Join(root, "net.git")
	git(b, "", nil, "init", "-q", "--bare", "-b", "main", repo)
	var s bytes.Buffer
	for i := 1; i <= commits; i++ {
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.test> %d +0000\ndata <<EOM\nchange %d\nEOM\n", i, 1767225600+i, i)
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", i-1)
		}
		fmt.Fprintf(&s, "M 644 inline net/sites/site%03d.toml\ndata <<EOM\nserial = %d\nEOM\n\n", i%200, i)
	}
	fmt.Fprintf(&s, "commit %s\ncommitter tether <tether@home> 1767225600 +0000\ndata 6\nnotes\n", notes.SiteRef("home"))
	for i := 1; i <= commits; i++ {
		fmt.Fprintf(&s, "N inline :%d\ndata <<EOM\n[[attempt]]\nsite = \"home\"\nresult = \"applied\"\nEOM\n", i)
	}
	git(b, repo, s.Bytes(), "fast-import", "--quiet")
	git(b, repo, nil, "repack", "-adq")
	return root, repo
}

// rssMB is the process's resident set after a full GC that returns freed
// memory to the OS: what stays is live heap, runtime and code (the test
// binary's own share included).
func rssMB(b *testing.B) float64 {
	runtime.GC()
	debug.FreeOSMemory()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(st), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	b.Skip("no VmRSS")
	return 0
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// BenchmarkHistoryMemory is an agent on a 10,000-commit history with
// 10,000 notes, over HTTP: clone, then 200 rounds of a new commit fetched,
// its network folder read and a note recorded and pushed. It reports the
// process RSS and heap in use after the clone, after 100 and after the 200
// rounds (between 100 and 200 only go-git's object cache grows, towards
// its bound), and the time of one round.
func BenchmarkHistoryMemory(b *testing.B) {
	root, repo := historyRepo(b, 10000)
	srv := gittest.Serve(b, root, gittest.Options{})
	ctx := context.Background()
	const rounds = 200
	for i := 0; i < b.N; i++ {
		src, err := gitsource.Open(ctx, gitsource.Config{URL: srv.URL + "/net.git", StateDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		st, err := notes.New(notes.Config{Repo: src.Repository(), Site: "home", RemoteURL: srv.URL + "/net.git", Wire: src.Wire()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		afterClone, heapClone := rssMB(b), heapMB()
		runtime.KeepAlive(src)
		var roundTime time.Duration
		for r := 0; r < rounds; r++ {
			tree := git(b, repo, nil, "rev-parse", "main^{tree}")
			c := git(b, repo, nil, "commit-tree", tree, "-p", "main", "-m", fmt.Sprintf("round %d", r))
			git(b, repo, nil, "update-ref", "refs/heads/main", c)
			start := time.Now()
			b.StartTimer()
			changed, head, err := src.Check(ctx)
			if err != nil || !changed || head != plumbing.NewHash(c) {
				b.Fatal(changed, head, err)
			}
			fsys, err := src.Tree(ctx, head, "net")
			if err != nil {
				b.Fatal(err)
			}
			if err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					_, err = fs.ReadFile(fsys, p)
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if err := st.Add(ctx, head, nextAttempt(notes.Applied)); err != nil {
				b.Fatal(err)
			}
			if err := st.Push(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			roundTime += time.Since(start)
			if r == rounds/2-1 {
				b.ReportMetric(rssMB(b), "rssMB-100")
				b.ReportMetric(heapMB(), "heapMB-100")
			}
		}
		b.ReportMetric(afterClone, "rssMB-clone")
		b.ReportMetric(rssMB(b), "RSS-MB") // after the 200 rounds; capitals sort first in the make bench table
		b.ReportMetric(heapClone, "heapMB-clone")
		b.ReportMetric(heapMB(), "heapMB-200")
		b.ReportMetric(float64(roundTime.Milliseconds())/rounds, "Round-ms")
		runtime.KeepAlive(src) // measured above as a running agent holds them
		runtime.KeepAlive(st)
		b.StartTimer()
	}
}

// BenchmarkNotePushByHistory is one new commit fetched and its note
// recorded and pushed, on a history of 1,000 and of 10,000 commits each
// with a note. The first push after a start reads the whole notes tree
// once (the note index); the measured pushes after it cost about the same
// on both histories: they send the new notes, not the history.
func BenchmarkNotePushByHistory(b *testing.B) {
	for _, commits := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("commits=%d", commits), func(b *testing.B) {
			root, repo := historyRepo(b, commits)
			srv := gittest.Serve(b, root, gittest.Options{})
			ctx := context.Background()
			src, err := gitsource.Open(ctx, gitsource.Config{URL: srv.URL + "/net.git", StateDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			st, err := notes.New(notes.Config{Repo: src.Repository(), Site: "home", RemoteURL: srv.URL + "/net.git", Wire: src.Wire()})
			if err != nil {
				b.Fatal(err)
			}
			r := 0
			round := func() {
				b.StopTimer()
				tree := git(b, repo, nil, "rev-parse", "main^{tree}")
				c := git(b, repo, nil, "commit-tree", tree, "-p", "main", "-m", fmt.Sprintf("round %d", r))
				git(b, repo, nil, "update-ref", "refs/heads/main", c)
				r++
				b.StartTimer()
				changed, head, err := src.Check(ctx)
				if err != nil || !changed || head != plumbing.NewHash(c) {
					b.Fatal(changed, head, err)
				}
				if err := st.Add(ctx, head, nextAttempt(notes.Applied)); err != nil {
					b.Fatal(err)
				}
				if err := st.Push(ctx); err != nil {
					b.Fatal(err)
				}
			}
			round() // the agent's first push after its start
			for b.Loop() {
				round()
			}
		})
	}
}
