// Command tether is the tether agent and its tools: validate and render a
// network, plan and apply a site, run the pull loop, read the history.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand. run returns the process exit code.
type command struct {
	name    string
	summary string
	usage   string // argument synopsis after the command name
	help    string // longer description
	run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv carries the process's standard streams so commands are testable.
type cliEnv struct {
	stdout, stderr io.Writer
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runCLI(ctx, &cliEnv{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:]))
}

func runCLI(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if c := commands[args[1]]; c != nil {
				return c.run(ctx, env, []string{"--help"})
			}
		}
		usage(env.stdout)
		return 0
	case "--version", "-version":
		args = []string{"version"}
	}
	c := commands[args[0]]
	if c == nil {
		fmt.Fprintf(env.stderr, "tether: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return 2
	}
	return c.run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "tether — GitOps for WireGuard/BGP networks of RouterOS routers and Linux hosts")
	fmt.Fprintln(w, "\nUsage: tether <command> [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tether <command> --help' for a command's flags.")
}

// newFlags returns a FlagSet whose --help prints the command's usage.
func newFlags(c *command, env *cliEnv) *flag.FlagSet {
	fs := flag.NewFlagSet("tether "+c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: tether %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; it returns (exit code, false) when the command
// should stop (help requested or bad flags).
func parseFlags(fs *flag.FlagSet, env *cliEnv, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

func init() {
	register(&command{
		name:    "version",
		summary: "print the version",
		usage:   "",
		help:    "Prints tether's version.",
		run: func(ctx context.Context, env *cliEnv, args []string) int {
			c := commands["version"]
			fs := newFlags(c, env)
			if code, ok := parseFlags(fs, env, args); !ok {
				return code
			}
			fmt.Fprintf(env.stdout, "tether %s\n", version)
			return 0
		},
	})
}
