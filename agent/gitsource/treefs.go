package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Tree returns the folder dir of commit as a read-only fs.FS, read from the
// object store without a checkout. dir is slash-separated and may be "" or
// "." for the repository root. File modification times are the commit's
// committer time, so the view is deterministic. Symlinks are listed with
// fs.ModeSymlink and never followed (opening one yields its target path as
// content); submodules are left out.
func (s *Source) Tree(ctx context.Context, commit plumbing.Hash, dir string) (fs.FS, error) {
	return TreeFS(ctx, s.repo.Storer, commit, dir)
}

// TreeFS is Tree for any object storer.
func TreeFS(ctx context.Context, st storer.EncodedObjectStorer, commit plumbing.Hash, dir string) (fs.FS, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := object.GetCommit(st, commit)
	if err != nil {
		return nil, fmt.Errorf("load commit %s: %w", commit, err)
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("load tree of %s: %w", commit, err)
	}
	dir = path.Clean("/" + dir)[1:]
	if dir != "" {
		if root, err = root.Tree(dir); err != nil {
			return nil, fmt.Errorf("folder %q at %s: %w", dir, commit.String()[:12], err)
		}
	}
	return &treeFS{st: st, root: root, mtime: c.Committer.When, dirs: map[string]*dirIndex{}}, nil
}

type treeFS struct {
	st    storer.EncodedObjectStorer
	root  *object.Tree
	mtime time.Time

	mu   sync.Mutex
	dirs map[string]*dirIndex // by slash path, "." for the root
}

// dirIndex is a decoded tree with its entries by name. go-git's
// Tree.FindEntry decodes every tree on the path again on each call, which
// made reading a folder of n files cost n² entry decodes.
type dirIndex struct {
	tree   *object.Tree
	byName map[string]*object.TreeEntry
}

// dir returns the index of the directory at p ("." for the root).
func (t *treeFS) dir(p string) (*dirIndex, error) {
	t.mu.Lock()
	d, ok := t.dirs[p]
	t.mu.Unlock()
	if ok {
		return d, nil
	}
	tree := t.root
	if p != "." {
		parent, err := t.dir(path.Dir(p))
		if err != nil {
			return nil, err
		}
		e, ok := parent.byName[path.Base(p)]
		if !ok || e.Mode != filemode.Dir {
			return nil, fs.ErrNotExist
		}
		if tree, err = object.GetTree(t.st, e.Hash); err != nil {
			return nil, err
		}
	}
	d = &dirIndex{tree: tree, byName: make(map[string]*object.TreeEntry, len(tree.Entries))}
	for i := range tree.Entries {
		d.byName[tree.Entries[i].Name] = &tree.Entries[i]
	}
	t.mu.Lock()
	t.dirs[p] = d
	t.mu.Unlock()
	return d, nil
}

var (
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// lookup resolves name to its tree entry; the root has a nil entry.
func (t *treeFS) lookup(op, name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return nil, nil
	}
	d, err := t.dir(path.Dir(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	} else if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	e, ok := d.byName[path.Base(name)]
	if !ok || e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

func (t *treeFS) info(name string, e *object.TreeEntry) (*fileInfo, error) {
	fi := &fileInfo{name: path.Base(name), mtime: t.mtime}
	if e == nil {
		fi.mode = fs.ModeDir | 0o555
		return fi, nil
	}
	switch e.Mode {
	case filemode.Dir:
		fi.mode = fs.ModeDir | 0o555
		return fi, nil
	case filemode.Executable:
		fi.mode = 0o555
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	default:
		fi.mode = 0o444
	}
	size, err := t.st.EncodedObjectSize(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	fi.size = size
	return fi, nil
}

func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := t.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return t.info(name, e)
}

func (t *treeFS) Open(name string) (fs.File, error) {
	e, err := t.lookup("open", name)
	if err != nil {
		return nil, err
	}
	fi, err := t.info(name, e)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		ents, err := t.readDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: fi, entries: ents}, nil
	}
	data, err := t.blob(name, e.Hash)
	if err != nil {
		return nil, err
	}
	return &blobFile{info: fi, r: bytes.NewReader(data)}, nil
}

func (t *treeFS) ReadFile(name string) ([]byte, error) {
	e, err := t.lookup("readfile", name)
	if err != nil {
		return nil, err
	}
	if e == nil || e.Mode == filemode.Dir {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	return t.blob(name, e.Hash)
}

func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if e != nil && e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.readDir(name)
}

func (t *treeFS) readDir(name string) ([]fs.DirEntry, error) {
	d, err := t.dir(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(d.tree.Entries))
	for i := range d.tree.Entries {
		ce := &d.tree.Entries[i]
		if ce.Mode == filemode.Submodule {
			continue
		}
		out = append(out, &dirEntry{t: t, path: path.Join(name, ce.Name), e: ce})
	}
	// Git sorts directories as if they had a trailing slash; fs wants
	// plain name order.
	sortDirEntries(out)
	return out, nil
}

// dirEntry looks up a file's size only when Info is called: a directory
// listing then reads no objects besides the tree.
type dirEntry struct {
	t    *treeFS
	path string
	e    *object.TreeEntry
}

func (d *dirEntry) Name() string { return d.e.Name }
func (d *dirEntry) IsDir() bool  { return d.e.Mode == filemode.Dir }
func (d *dirEntry) Type() fs.FileMode {
	switch d.e.Mode {
	case filemode.Dir:
		return fs.ModeDir
	case filemode.Symlink:
		return fs.ModeSymlink
	}
	return 0
}
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.t.info(d.path, d.e) }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

func (t *treeFS) blob(name string, h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(t.st, h)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	r, err := b.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

func sortDirEntries(es []fs.DirEntry) {
	slices.SortFunc(es, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (f *fileInfo) Name() string       { return f.name }
func (f *fileInfo) Size() int64        { return f.size }
func (f *fileInfo) Mode() fs.FileMode  { return f.mode }
func (f *fileInfo) ModTime() time.Time { return f.mtime }
func (f *fileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f *fileInfo) Sys() any           { return nil }

type blobFile struct {
	info *fileInfo
	r    *bytes.Reader
}

func (f *blobFile) Stat() (fs.FileInfo, error)                { return f.info, nil }
func (f *blobFile) Read(p []byte) (int, error)                { return f.r.Read(p) }
func (f *blobFile) ReadAt(p []byte, off int64) (int, error)   { return f.r.ReadAt(p, off) }
func (f *blobFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }
func (f *blobFile) Close() error                              { return nil }

type dirFile struct {
	info    *fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
