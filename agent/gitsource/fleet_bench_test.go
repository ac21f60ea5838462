package gitsource_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/agent/gitsource/gittest"
	"github.com/tether-net/tether/agent/notebook"
	"github.com/tether-net/tether/agent/notes"
)

// waveSize is how many earlier-wave sites a later-wave agent reads.
const waveSize = 50

// attemptSeq makes every benchmarked attempt distinct, so no run recreates
// an identical notes commit that a previous run already pushed.
var attemptSeq atomic.Int64

func nextAttempt(r notes.Result) notes.Attempt {
	return notes.Attempt{Result: r, Started: time.Unix(1767225800+attemptSeq.Add(1), 0)}
}

type fleetFixture struct {
	srv  *gittest.Server
	url  string
	head plumbing.Hash
}

// fleetRepo is a network repo of n sites, each with its notes ref holding a
// note on the head commit, refs packed as a server's gc leaves them, served
// by git http-backend.
func fleetRepo(b *testing.B, n int) *fleetFixture {
	root := b.TempDir()
	repo := filepath.Join(root, "net.git")
	git(b, "", nil, "init", "-q", "--bare", "-b", "main", repo)
	var s bytes.Buffer
	fmt.Fprintf(&s, "commit refs/heads/main\nmark :1\ncommitter T <t@example.test> 1767225600 +0000\ndata 8\nnetwork\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "M 644 inline net/sites/%s.toml\ndata <<EOM\nasn = %d\nEOM\n", site(i), 4200000000+i)
	}
	s.WriteString("\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "commit %s\ncommitter tether <tether@%s> 1767225700 +0000\ndata 6\nnotes\n", notes.SiteRef(site(i)), site(i))
		fmt.Fprintf(&s, "N inline :1\ndata <<EOM\n[[attempt]]\nsite = %q\nresult = \"applied\"\nEOM\n\n", site(i))
	}
	git(b, repo, s.Bytes(), "fast-import", "--quiet")
	git(b, repo, nil, "pack-refs", "--all")
	git(b, repo, nil, "repack", "-adq")
	f := &fleetFixture{srv: gittest.Serve(b, root, gittest.Options{})}
	f.url = f.srv.URL + "/net.git"
	f.head = plumbing.NewHash(git(b, repo, nil, "rev-parse", "main"))
	return f
}

func site(i int) string { return fmt.Sprintf("site%04d", i) }

func git(tb testing.TB, dir string, stdin []byte, args ...string) string {
	tb.Helper()
	return gittest.Git(tb, dir, stdin, args...)
}

func openAgentClone(b *testing.B, url string) *gitsource.Source {
	s, err := gitsource.Open(context.Background(), gitsource.Config{URL: url, StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func siteNotebook(b *testing.B, src *gitsource.Source, url, own string) *notebook.Git {
	newStore := func(s string) (*notes.Store, error) {
		return notes.New(notes.Config{Repo: src.Repository(), Site: s, RemoteURL: url, Auth: src.Auth(), Wire: src.Wire(),
			MinFetchInterval: notes.PeerFetchInterval, Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	st, err := newStore(own)
	if err != nil {
		b.Fatal(err)
	}
	return &notebook.Git{Own: st, Other: newStore}
}

// measure reports the git server's bytes and requests per op of what ran
// between b.ResetTimer and the call.
func measure(b *testing.B, srv *gittest.Server, start gittest.Counts) {
	d := srv.Counts().Sub(start)
	b.ReportMetric(float64(d.Bytes)/float64(b.N), "wireB/op")
	b.ReportMetric(float64(d.Requests)/float64(b.N), "req/op")
}

// BenchmarkFleet measures the git traffic one agent causes, at fleet sizes
// where every site has a notes ref on the server: an idle poll (the branch
// did not move), a publish of one new note, a wave check (reading the
// notes of waveSize earlier-wave sites, first time) and a cold start (clone
// into an empty state dir, then publish the first note).
func BenchmarkFleet(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 1000, 5000} {
		var once sync.Once
		var fx *fleetFixture
		fleetRepo := func(*testing.B, int) *fleetFixture {
			once.Do(func() { fx = fleetRepo(b, n) })
			return fx
		}
		b.Run(fmt.Sprintf("sites=%d/idle-poll", n), func(b *testing.B) {
			f := fleetRepo(b, n)
			src := openAgentClone(b, f.url)
			start := f.srv.Counts()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if changed, _, err := src.Check(ctx); err != nil || changed {
					b.Fatal(changed, err)
				}
			}
			measure(b, f.srv, start)
		})
		b.Run(fmt.Sprintf("sites=%d/publish", n), func(b *testing.B) {
			f := fleetRepo(b, n)
			src := openAgentClone(b, f.url)
			nb := siteNotebook(b, src, f.url, site(0))
			if err := nb.Publish(ctx); err != nil { // first publish pays for the cold start
				b.Fatal(err)
			}
			start := f.srv.Counts()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := nb.Own.Add(ctx, f.head, nextAttempt(notes.Applied)); err != nil {
					b.Fatal(err)
				}
				if err := nb.Publish(ctx); err != nil {
					b.Fatal(err)
				}
			}
			measure(b, f.srv, start)
		})
		// A wave check as the loop runs it today, one Result per site, and
		// batched through notebook.Git.Results.
		for _, batched := range []bool{false, true} {
			name := "wave-check"
			if batched {
				name = "wave-check-batch"
			}
			b.Run(fmt.Sprintf("sites=%d/%s", n, name), func(b *testing.B) {
				f := fleetRepo(b, n)
				wave := make([]string, min(waveSize, n-1))
				for w := range wave {
					wave[w] = site(w + 1)
				}
				var total gittest.Counts
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					src := openAgentClone(b, f.url)
					nb := siteNotebook(b, src, f.url, site(0))
					start := f.srv.Counts()
					b.StartTimer()
					results := map[string]string{}
					if batched {
						var err error
						if results, err = nb.Results(ctx, f.head.String(), wave); err != nil {
							b.Fatal(err)
						}
					} else {
						for _, s := range wave {
							r, err := nb.Result(ctx, f.head.String(), s)
							if err != nil {
								b.Fatal(err)
							}
							results[s] = r
						}
					}
					b.StopTimer()
					for _, s := range wave {
						if results[s] != string(notes.Applied) {
							b.Fatalf("%s: %q", s, results[s])
						}
					}
					total = total.Add(f.srv.Counts().Sub(start))
				}
				b.ReportMetric(float64(total.Bytes)/float64(b.N), "wireB/op")
				b.ReportMetric(float64(total.Requests)/float64(b.N), "req/op")
			})
		}
		b.Run(fmt.Sprintf("sites=%d/cold-start", n), func(b *testing.B) {
			f := fleetRepo(b, n)
			start := f.srv.Counts()
			for i := 0; i < b.N; i++ {
				src := openAgentClone(b, f.url)
				nb := siteNotebook(b, src, f.url, site(n-1))
				if err := nb.Own.Add(ctx, f.head, nextAttempt(notes.Unchanged)); err != nil {
					b.Fatal(err)
				}
				if err := nb.Publish(ctx); err != nil {
					b.Fatal(err)
				}
			}
			measure(b, f.srv, start)
		})
	}
}
