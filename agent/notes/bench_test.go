package notes

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkAdd appends a note to a ref that already holds 10,000 notes
// (2/38 fan-out) in a repository of 10,000 commits.
func BenchmarkAdd(b *testing.B) {
	remote, commits := newRemote(b, 10000)
	var s bytes.Buffer
	fmt.Fprintf(&s, "commit refs/notes/tether/home\ncommitter tether <tether@home> 1767225600 +0000\ndata 6\nnotes\n")
	for _, c := range commits {
		fmt.Fprintf(&s, "N inline %s\ndata <<EOM\n[[attempt]]\nsite = \"home\"\nresult = \"applied\"\nEOM\n", c)
	}
	runGit(b, remote, s.Bytes(), "fast-import", "--quiet")
	repo := cloneBare(b, remote)
	st := newStore(b, repo, "home", remote)
	ctx := context.Background()
	if err := st.Fetch(ctx); err != nil {
		b.Fatal(err)
	}
	// start from the fetched 10,000-note ref
	nc, _ := st.refHash(RemoteSiteRef("home"))
	if err := st.setRef(st.ref, [20]byte{}, nc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Add(ctx, commits[i%len(commits)], attempt("home", Applied, i%60)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := History(ctx, repo, commits[len(commits)-1], 50); err != nil {
		b.Fatal(err)
	}
}
