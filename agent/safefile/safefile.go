// Package safefile writes and removes files so that a reader, or a crash at
// any moment, sees the old state or the new one and never a mix. The agent's
// journal, state records, rendered host files and generated keys all go
// through it.
package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces name: a temp file in the same directory (which must exist),
// its mode set before anything is written so a key-bearing file is never
// readable by others, fsync, rename, fsync of the directory.
func Write(name string, content []byte, mode fs.FileMode) error {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tether-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode.Perm()); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	return syncDir(dir)
}

// Remove deletes name, if it exists, and makes the deletion durable.
func Remove(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
