package wire

import (
	"container/heap"
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// newObjects lists the objects to send so a remote holding base (and all it
// reaches) can hold tip: the commits reachable from tip and not from base,
// and the parts of their trees that differ from the trees of the commits
// where the two histories meet. The walk visits commits newest first and
// stops once only commits reachable from base are left, so its cost follows
// the number of new commits and changed paths, not the history's length.
// Clock skew can make it list commits the remote has; the remote ignores
// those, and nothing reachable only from tip is ever left out.
func newObjects(ctx context.Context, st storer.EncodedObjectStorer, tip, base plumbing.Hash) ([]plumbing.Hash, error) {
	if tip == base {
		return nil, nil
	}
	ours, boundary, err := walkNew(ctx, st, tip, base)
	if err != nil {
		return nil, err
	}
	var out []plumbing.Hash
	added := map[plumbing.Hash]bool{}
	for _, c := range ours {
		out = append(out, c.Hash)
		if err := diffTree(st, c.TreeHash, boundary, added, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// NewCommits lists the commits reachable from tip and not from base (zero:
// none), newest first, with the same bounded walk a push uses: its cost
// follows the number of new commits, not the history's length. Clock skew
// may add commits base reaches; none reachable only from tip is missed.
func NewCommits(ctx context.Context, st storer.EncodedObjectStorer, tip, base plumbing.Hash) ([]plumbing.Hash, error) {
	if tip == base || tip.IsZero() {
		return nil, nil
	}
	ours, _, err := walkNew(ctx, st, tip, base)
	if err != nil {
		return nil, err
	}
	out := make([]plumbing.Hash, len(ours))
	for i, c := range ours {
		out[i] = c.Hash
	}
	return out, nil
}

// walkNew walks commits newest first from tip and base together and stops
// once only commits base reaches are queued. It returns tip's new commits
// and the trees of base's commits where the walk stopped.
func walkNew(ctx context.Context, st storer.EncodedObjectStorer, tip, base plumbing.Hash) ([]*object.Commit, []plumbing.Hash, error) {
	q := &commitQueue{}
	seen := map[plumbing.Hash]bool{}
	push := func(h plumbing.Hash, theirs bool) error {
		if seen[h] {
			if theirs {
				q.markTheirs(h)
			}
			return nil
		}
		c, err := object.GetCommit(st, h)
		if err != nil {
			return fmt.Errorf("load commit %s: %w", h, err)
		}
		seen[h] = true
		heap.Push(q, &queued{c: c, theirs: theirs})
		return nil
	}
	if err := push(tip, false); err != nil {
		return nil, nil, err
	}
	if !base.IsZero() {
		if err := push(base, true); err != nil {
			return nil, nil, err
		}
	}
	var ours []*object.Commit
	var boundary []plumbing.Hash
	for q.Len() > 0 && q.ours > 0 {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		e := heap.Pop(q).(*queued)
		if e.theirs {
			boundary = append(boundary, e.c.TreeHash)
		} else {
			q.ours--
			ours = append(ours, e.c)
		}
		for _, p := range e.c.ParentHashes {
			if err := push(p, e.theirs); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, e := range q.items {
		if e.theirs {
			boundary = append(boundary, e.c.TreeHash)
		}
	}
	return ours, boundary, nil
}

// diffTree appends t and what it reaches, skipping entries equal (by hash,
// at the same path) to an entry of one of the base trees.
func diffTree(st storer.EncodedObjectStorer, t plumbing.Hash, bases []plumbing.Hash, added map[plumbing.Hash]bool, out *[]plumbing.Hash) error {
	for _, b := range bases {
		if b == t {
			return nil
		}
	}
	if added[t] {
		return nil
	}
	added[t] = true
	*out = append(*out, t)
	tree, err := object.GetTree(st, t)
	if err != nil {
		return fmt.Errorf("load tree %s: %w", t, err)
	}
	baseTrees := make([]*object.Tree, 0, len(bases))
	for _, b := range bases {
		bt, err := object.GetTree(st, b)
		if err != nil {
			return fmt.Errorf("load tree %s: %w", b, err)
		}
		baseTrees = append(baseTrees, bt)
	}
	for _, e := range tree.Entries {
		var sub []plumbing.Hash
		same := false
		for _, bt := range baseTrees {
			be, err := bt.FindEntry(e.Name)
			if err != nil {
				continue
			}
			if be.Hash == e.Hash {
				same = true
				break
			}
			if be.Mode == filemode.Dir {
				sub = append(sub, be.Hash)
			}
		}
		switch {
		case same, e.Mode == filemode.Submodule, added[e.Hash]:
		case e.Mode == filemode.Dir:
			if err := diffTree(st, e.Hash, sub, added, out); err != nil {
				return err
			}
		default:
			added[e.Hash] = true
			*out = append(*out, e.Hash)
		}
	}
	return nil
}

type queued struct {
	c      *object.Commit
	theirs bool
}

// commitQueue pops the newest commit first and counts the ones still ours.
type commitQueue struct {
	items []*queued
	ours  int
}

func (q *commitQueue) Len() int { return len(q.items) }
func (q *commitQueue) Less(i, j int) bool {
	return q.items[i].c.Committer.When.After(q.items[j].c.Committer.When)
}
func (q *commitQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *commitQueue) Push(x any) {
	e := x.(*queued)
	if !e.theirs {
		q.ours++
	}
	q.items = append(q.items, e)
}
func (q *commitQueue) Pop() any {
	e := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return e
}

// markTheirs flags a queued commit as reachable from base.
func (q *commitQueue) markTheirs(h plumbing.Hash) {
	for _, e := range q.items {
		if e.c.Hash == h && !e.theirs {
			e.theirs = true
			q.ours--
		}
	}
}
