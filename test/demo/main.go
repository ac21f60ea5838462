// Command demo is what `make demo` runs: a narrated tour of tether on the
// example networks in repo-example/. It grows with the product; today it
// validates every example and shows what each network contains.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

func main() {
	dirs, err := filepath.Glob("repo-example/*/network.toml")
	if err != nil || len(dirs) == 0 {
		fmt.Fprintln(os.Stderr, "demo: run from the repository root (no repo-example/*/network.toml found)")
		os.Exit(1)
	}
	sort.Strings(dirs)
	fmt.Println("== tether demo: validating every example network ==")
	failed := false
	for _, f := range dirs {
		dir := filepath.Dir(f)
		fmt.Printf("\n$ tether validate -v %s\n", dir)
		cmd := exec.Command("bin/tether", "validate", "-v", dir)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
