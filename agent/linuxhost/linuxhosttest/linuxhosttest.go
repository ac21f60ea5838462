// Package linuxhosttest lets a Go test binary stand in for `tether revert`
// when linuxhost's detached dead-man re-executes it, so lab tests run the
// real dead-man path without building the CLI. Call MaybeRevert first in
// TestMain and pass RevertCommand(exe) as linuxhost.Options.RevertCommand.
package linuxhosttest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/linuxhost"
)

// env marks the re-executed test binary.
const env = "TETHER_TEST_AS_REVERT"

// RevertCommand is the dead-man command that re-executes the test binary
// exe (os.Executable) as `tether revert`.
func RevertCommand(exe string) []string { return []string{"env", env + "=1", exe} }

// MaybeRevert acts as `tether revert --state-dir D --txn T` and exits when
// the binary was started by RevertCommand; otherwise it returns at once.
func MaybeRevert() {
	if os.Getenv(env) == "1" {
		os.Exit(revert(os.Args[1:]))
	}
}

// revert is `tether revert` in miniature: the same linuxhost.Revert, run by
// the dead-man inside the lab host's namespaces.
func revert(args []string) int {
	fl := flag.NewFlagSet("revert", flag.ContinueOnError)
	stateDir := fl.String("state-dir", "", "")
	txn := fl.String("txn", "", "")
	fl.String("config", "", "")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, _ := zap.NewDevelopment()
	if err := linuxhost.Revert(ctx, *stateDir, *txn, linuxhost.Options{Log: log}); err != nil {
		fmt.Fprintln(os.Stderr, "revert:", err)
		return 1
	}
	return 0
}
