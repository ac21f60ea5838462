package main

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

// dirSource serves a network folder that is a plain directory rather than
// a Git repository (a lab, a first try): its "commit" is a digest of the
// files, so the loop's quarantine and journal work unchanged. There are no
// notes and no history without Git.
type dirSource struct{ dir string }

// isPlainDir reports whether repo is a local directory that is not a Git
// repository (working tree or bare).
func isPlainDir(repo string) bool {
	st, err := os.Stat(repo)
	if err != nil || !st.IsDir() {
		return false
	}
	for _, marker := range []string{".git", "HEAD"} {
		if _, err := os.Stat(filepath.Join(repo, marker)); err == nil {
			return false
		}
	}
	return true
}

func (d dirSource) Check(ctx context.Context) (bool, plumbing.Hash, error) {
	h := sha1.New()
	var names []string
	err := filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && filepath.Ext(p) == ".toml" {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return false, plumbing.ZeroHash, fmt.Errorf("read %s: %w", d.dir, err)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			return false, plumbing.ZeroHash, err
		}
		rel, _ := filepath.Rel(d.dir, n)
		fmt.Fprintf(h, "%s\x00", rel)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return false, plumbing.ZeroHash, err
		}
	}
	var sum plumbing.Hash
	copy(sum[:], h.Sum(nil))
	return true, sum, nil
}

func (d dirSource) Verify(context.Context, plumbing.Hash, plumbing.Hash) error { return nil }

// Tree ignores the commit: a plain directory has only its current state.
func (d dirSource) Tree(_ context.Context, _ plumbing.Hash, dir string) (fs.FS, error) {
	return openConfigDir(filepath.Join(d.dir, dir))
}
