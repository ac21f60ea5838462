package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Walk visits every commit reachable from tip once, breadth-first. visit
// returns whether to follow the commit's parents; an error stops the walk and
// is returned. Unlike NewCommits it makes no use of commit dates, so clock
// skew cannot make it miss a commit: use it where a missed commit would be a
// wrong answer (signature checks, ancestry).
func Walk(ctx context.Context, st storer.EncodedObjectStorer, tip plumbing.Hash, visit func(*object.Commit) (bool, error)) error {
	seen := map[plumbing.Hash]struct{}{tip: {}}
	queue := []plumbing.Hash{tip}
	for n := 0; len(queue) > 0; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		h := queue[0]
		queue = queue[1:]
		c, err := object.GetCommit(st, h)
		if err != nil {
			return fmt.Errorf("load commit %s: %w", h, err)
		}
		more, err := visit(c)
		if err != nil {
			return err
		}
		if !more {
			continue
		}
		for _, p := range c.ParentHashes {
			if _, ok := seen[p]; !ok {
				seen[p] = struct{}{}
				queue = append(queue, p)
			}
		}
	}
	return nil
}

var errFound = errors.New("found")

// Reaches reports whether ancestor is reachable from tip (tip itself
// included). It stops as soon as it finds ancestor; a "no" walks the whole
// history of tip, which is what proving it takes without a commit-graph.
func Reaches(ctx context.Context, st storer.EncodedObjectStorer, tip, ancestor plumbing.Hash) (bool, error) {
	err := Walk(ctx, st, tip, func(c *object.Commit) (bool, error) {
		if c.Hash == ancestor {
			return false, errFound
		}
		return true, nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}
