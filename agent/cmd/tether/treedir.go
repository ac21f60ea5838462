package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// configDir is a network folder on disk read as an fs.FS that, like a Git
// tree, never leads outside itself: a symlink whose target lies outside the
// folder (`sites/x.toml -> /etc/shadow`) is refused instead of followed, so
// validating or running a directory reads only what a commit could hold.
type configDir struct {
	root string // resolved, absolute
	fsys fs.FS
}

func openConfigDir(dir string) (configDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return configDir{}, err
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return configDir{}, err
	}
	return configDir{root: root, fsys: os.DirFS(root)}, nil
}

// confined returns an error when name resolves outside the folder.
func (c configDir) confined(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	real, err := filepath.EvalSymlinks(filepath.Join(c.root, filepath.FromSlash(name)))
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if real != c.root && !strings.HasPrefix(real, c.root+string(filepath.Separator)) {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("a symlink leads outside the network folder (to %s)", real)}
	}
	return nil
}

func (c configDir) Open(name string) (fs.File, error) {
	if err := c.confined("open", name); err != nil {
		return nil, err
	}
	return c.fsys.Open(name)
}

func (c configDir) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := c.confined("readdir", name); err != nil {
		return nil, err
	}
	return fs.ReadDir(c.fsys, name)
}

var _ fs.ReadDirFS = configDir{}
