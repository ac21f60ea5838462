package wire

import (
	"context"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// mergeCommit stores an empty-tree commit with the given parents and
// committer time.
func mergeCommit(t *testing.T, repo *git.Repository, when int64, msg string, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	st := repo.Storer
	to := st.NewEncodedObject()
	if err := (&object.Tree{}).Encode(to); err != nil {
		t.Fatal(err)
	}
	th, err := st.SetEncodedObject(to)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "t", Email: "t@example.test", When: time.Unix(when, 0)}
	co := st.NewEncodedObject()
	if err := (&object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: th, ParentHashes: parents}).Encode(co); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(co)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Ancestry follows every parent of a merge and ignores commit dates: a side
// branch committed with a clock far in the future is still found.
func TestReachesThroughMergesDespiteSkew(t *testing.T) {
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := mergeCommit(t, repo, 1000, "root")
	main1 := mergeCommit(t, repo, 2000, "main", root)
	side := mergeCommit(t, repo, 9_000_000, "side, skewed clock", root)
	merge := mergeCommit(t, repo, 3000, "merge", main1, side)
	unrelated := mergeCommit(t, repo, 2500, "unrelated")
	ctx := context.Background()
	for _, tc := range []struct {
		tip, anc plumbing.Hash
		want     bool
	}{
		{merge, side, true}, {merge, root, true}, {merge, merge, true}, {main1, side, false},
		{side, merge, false}, {merge, unrelated, false},
	} {
		got, err := Reaches(ctx, repo.Storer, tc.tip, tc.anc)
		if err != nil || got != tc.want {
			t.Errorf("Reaches(%s, %s) = %v, %v; want %v", tc.tip.String()[:7], tc.anc.String()[:7], got, err, tc.want)
		}
	}
	visits := 0
	if err := Walk(ctx, repo.Storer, merge, func(*object.Commit) (bool, error) { visits++; return true, nil }); err != nil || visits != 4 {
		t.Errorf("Walk from the merge visited %d commits (%v); want 4, each once", visits, err)
	}
	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Reaches(ctxDone, repo.Storer, merge, unrelated); err == nil {
		t.Error("a cancelled walk reported no error")
	}
}
