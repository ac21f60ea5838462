package importer_test

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current importer")

// golden compares the imported files, joined in path order, with
// testdata/<name>.golden; -update rewrites it.
func golden(t *testing.T, name string, files map[string][]byte) {
	t.Helper()
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(files)) {
		b.WriteString("--- " + p + "\n")
		b.Write(files[p])
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != b.String() {
		t.Errorf("%s differs from the import; run go test -update and review the diff\n--- got:\n%s", path, b.String())
	}
}
