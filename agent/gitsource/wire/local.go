package wire

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// localRemote is a repository on this machine, read and written in place.
// It is opened per operation: a cached go-git storage keeps its list of
// packs, which a `git gc` on the remote would make stale.
type localRemote struct {
	path string
}

func (l *localRemote) open() (*git.Repository, error) {
	r, err := git.PlainOpen(l.path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", l.path, err)
	}
	return r, nil
}

func (l *localRemote) refs(names []plumbing.ReferenceName) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	repo, err := l.open()
	if err != nil {
		return nil, err
	}
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, n := range names {
		ref, err := repo.Storer.Reference(n)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", n, err)
		}
		if ref.Type() == plumbing.HashReference {
			out[n] = ref.Hash()
		}
	}
	return out, nil
}

// copyObjects copies what wants reach and dst lacks. An object dst has is
// taken to come with everything it reaches, which holds because objects
// are written children first: a crash leaves no object whose children are
// missing.
func (l *localRemote) copyObjects(ctx context.Context, dst storer.EncodedObjectStorer, wants []plumbing.Hash) error {
	repo, err := l.open()
	if err != nil {
		return err
	}
	return copyClosure(ctx, repo.Storer, dst, wants, func(h plumbing.Hash) bool { return dst.HasEncodedObject(h) == nil })
}

// copyClosure copies the objects wants reach from src to dst, stopping at
// objects have says dst holds already. Iterative post-order walk: an object
// is written after everything it references.
func copyClosure(ctx context.Context, src, dst storer.EncodedObjectStorer, wants []plumbing.Hash, have func(plumbing.Hash) bool) error {
	type frame struct {
		h    plumbing.Hash
		exit bool
	}
	seen := map[plumbing.Hash]bool{}
	stack := make([]frame, 0, len(wants))
	for _, w := range wants {
		stack = append(stack, frame{h: w})
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if f.exit {
			o, err := src.EncodedObject(plumbing.AnyObject, f.h)
			if err != nil {
				return fmt.Errorf("read object %s: %w", f.h, err)
			}
			if _, err := dst.SetEncodedObject(o); err != nil {
				return fmt.Errorf("write object %s: %w", f.h, err)
			}
			continue
		}
		if seen[f.h] || have(f.h) {
			continue
		}
		seen[f.h] = true
		stack = append(stack, frame{h: f.h, exit: true})
		refs, err := references(src, f.h)
		if err != nil {
			return err
		}
		for _, r := range refs {
			stack = append(stack, frame{h: r})
		}
	}
	return nil
}

// references lists the objects an object names directly.
func references(src storer.EncodedObjectStorer, h plumbing.Hash) ([]plumbing.Hash, error) {
	o, err := src.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, fmt.Errorf("read object %s: %w", h, err)
	}
	switch o.Type() {
	case plumbing.CommitObject:
		c, err := object.DecodeCommit(src, o)
		if err != nil {
			return nil, err
		}
		return append([]plumbing.Hash{c.TreeHash}, c.ParentHashes...), nil
	case plumbing.TreeObject:
		t, err := object.DecodeTree(src, o)
		if err != nil {
			return nil, err
		}
		var out []plumbing.Hash
		for _, e := range t.Entries {
			if e.Mode != filemode.Submodule {
				out = append(out, e.Hash)
			}
		}
		return out, nil
	case plumbing.TagObject:
		t, err := object.DecodeTag(src, o)
		if err != nil {
			return nil, err
		}
		return []plumbing.Hash{t.Target}, nil
	}
	return nil, nil
}

// push writes the new objects into the remote and moves its ref with a
// compare-and-swap on the old value.
func (l *localRemote) push(ctx context.Context, st storage.Storer, ref plumbing.ReferenceName, old, new plumbing.Hash) error {
	repo, err := l.open()
	if err != nil {
		return err
	}
	objs, err := newObjects(ctx, st, new, old)
	if err != nil {
		return err
	}
	// Blobs and trees before the commits that reach them; newObjects lists
	// each commit before its tree, and commits newest first.
	slices.Reverse(objs)
	for _, h := range objs {
		if repo.Storer.HasEncodedObject(h) == nil {
			continue
		}
		o, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("read object %s: %w", h, err)
		}
		if _, err := repo.Storer.SetEncodedObject(o); err != nil {
			return fmt.Errorf("write object %s to %s: %w", h, l.path, err)
		}
	}
	if old.IsZero() {
		return l.createRef(repo, ref, new)
	}
	err = repo.Storer.CheckAndSetReference(plumbing.NewHashReference(ref, new), plumbing.NewHashReference(ref, old))
	if errors.Is(err, storage.ErrReferenceHasChanged) {
		return fmt.Errorf("%w: %s moved", ErrRejected, ref)
	}
	return err
}

// createRef creates a loose ref that must not exist yet. go-git's
// CheckAndSetReference cannot express "must not exist", so the ref file is
// written aside and hard-linked into place: link fails if another writer
// created it first.
func (l *localRemote) createRef(repo *git.Repository, ref plumbing.ReferenceName, h plumbing.Hash) error {
	if _, err := repo.Storer.Reference(ref); err == nil {
		return fmt.Errorf("%w: %s exists", ErrRejected, ref)
	}
	path := filepath.Join(gitDir(l.path), filepath.FromSlash(ref.String()))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tether-ref-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(h.String() + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s exists", ErrRejected, ref)
	} else if err != nil {
		return err
	}
	return nil
}

// gitDir is path itself for a bare repository, path/.git for a work tree.
func gitDir(path string) string {
	if fi, err := os.Stat(filepath.Join(path, ".git")); err == nil && fi.IsDir() {
		return filepath.Join(path, ".git")
	}
	return path
}
