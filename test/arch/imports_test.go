// Package arch holds tests that keep the house rules: policy/ and render/
// are pure, so they may not import packages that do I/O or log.
package arch

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var forbidden = map[string]string{
	"os":              "file and process I/O",
	"os/exec":         "running commands",
	"net":             "network I/O (net/netip is fine)",
	"net/http":        "network I/O",
	"log":             "logging",
	"log/slog":        "logging",
	"go.uber.org/zap": "logging",
	"syscall":         "system calls",
}

func TestPureImports(t *testing.T) {
	for _, dir := range []string{"../../policy", "../../render"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if why, bad := forbidden[p]; bad {
					t.Errorf("%s imports %q (%s); policy/ and render/ must stay pure — move it to agent/", path, p, why)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestForbiddenListCatchesOS guards the guard: the checker must flag os.
func TestForbiddenListCatchesOS(t *testing.T) {
	if _, ok := forbidden["os"]; !ok {
		t.Fatal("os must be forbidden")
	}
}

// TestBackendsDoNotImportTheLoop keeps the promise in agent/device.go: device
// backends depend on agent/contract, never on the transaction loop.
func TestBackendsDoNotImportTheLoop(t *testing.T) {
	const loop = "github.com/tether-net/tether/agent"
	for _, dir := range []string{"../../agent/mikrotik", "../../agent/linuxhost"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s (%v)", dir, err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == loop {
					t.Errorf("%s imports %s; use agent/contract for the shared values", path, loop)
				}
			}
		}
	}
}
