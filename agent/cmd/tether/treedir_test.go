package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyExample copies an example network into a fresh directory.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("../../../repo-example", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestValidateRefusesSymlinkOutOfTree: a directory is read like a Git tree,
// which cannot point outside itself. A site file that is a symlink to a file
// elsewhere is reported, not read; a symlink inside the folder still works.
func TestValidateRefusesSymlinkOutOfTree(t *testing.T) {
	net := copyExample(t, "cgnat-chr-relay")
	outside := filepath.Join(t.TempDir(), "secret.toml")
	site := filepath.Join(net, "sites", "home.toml")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	// The outside file is a valid site: only where it lives is wrong.
	if err := os.WriteFile(outside, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(site)
	if err := os.Symlink(outside, site); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "validate", net)
	if code == 0 || !strings.Contains(out+stderr, "symlink leads outside the network folder") {
		t.Fatalf("exit %d; want the out-of-tree symlink reported:\n%s%s", code, out, stderr)
	}
	// The same file kept inside the folder and linked to is fine.
	inside := filepath.Join(net, "home.toml.real")
	if err := os.WriteFile(inside, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(site)
	if err := os.Symlink("../home.toml.real", site); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := run(t, "validate", net); code != 0 {
		t.Fatalf("in-tree symlink: exit %d\n%s%s", code, out, stderr)
	}
}
