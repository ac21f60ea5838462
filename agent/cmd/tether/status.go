package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/agent/secret"
)

func init() {
	register(&command{
		name:    "status",
		summary: "show the desired and running commit, last outcome and quarantined commits",
		usage:   "--config FILE",
		help: `Reads the agent's state directory (no network): the commit the branch points
to as last fetched, the commit the device runs, the last outcome, a
transaction in flight, and the commits quarantined at this site.`,
		run: runStatus,
	})
	register(&command{
		name:    "retry",
		summary: "lift the quarantine of a commit so the agent applies it again",
		usage:   "--config FILE COMMIT",
		help: `A reverted commit is quarantined at its site and never re-applied
automatically. 'tether retry' lifts that deliberately (for example after
fixing the far end); the running agent picks the commit up at its next poll.`,
		run: runRetry,
	})
}

func runStatus(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["status"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether status: %v\n", err)
		return 1
	}
	st, err := agent.NewStateStore(cfg.StateDir).Load()
	if err != nil {
		fmt.Fprintf(env.stderr, "tether status: %v\n", err)
		return 1
	}
	desired := "(not fetched yet)"
	if repo, err := git.PlainOpen(filepath.Join(cfg.StateDir, "repo.git")); err == nil {
		if ref, err := repo.Reference(plumbing.NewRemoteReferenceName(gitsource.RemoteName, cfg.Branch), true); err == nil {
			desired = ref.Hash().String()
		}
	}
	w := env.stdout
	fmt.Fprintf(w, "site:      %s\n", cfg.Site)
	fmt.Fprintf(w, "repo:      %s (branch %s, path %s)\n", secret.Redact(cfg.Repo), cfg.Branch, cfg.Path)
	fmt.Fprintf(w, "desired:   %s\n", desired)
	fmt.Fprintf(w, "running:   %s\n", orNone(st.Running))
	if st.LastResult != "" {
		fmt.Fprintf(w, "last:      %s %s at %s\n", st.LastResult, short(st.LastCommit), st.LastAt.UTC().Format(time.RFC3339))
	}
	if e, err := agent.NewJournal(cfg.StateDir).Read(); err == nil && e != nil {
		fmt.Fprintf(w, "in flight: %s %s (txn %s, dead-man at %s)\n", e.Step, short(e.Commit), e.TxnID, e.Deadline.UTC().Format(time.RFC3339))
	}
	printAlerts(w, cfg.StateDir, *cfgPath)
	q := st.QuarantinedCommits()
	if len(q) == 0 {
		fmt.Fprintln(w, "quarantined: none")
	}
	for _, c := range q {
		fmt.Fprintf(w, "quarantined: %s  %s  (%s)\n", c, st.Quarantined[c].At.UTC().Format(time.RFC3339), st.Quarantined[c].Reason)
	}
	return 0
}

func runRetry(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["retry"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether retry: %v\n", err)
		return 1
	}
	store := agent.NewStateStore(cfg.StateDir)
	st, err := store.Load()
	if err != nil {
		fmt.Fprintf(env.stderr, "tether retry: %v\n", err)
		return 1
	}
	want := fs.Arg(0)
	var match []string
	for _, q := range st.QuarantinedCommits() {
		if len(want) >= 4 && len(want) <= len(q) && q[:len(want)] == want {
			match = append(match, q)
		}
	}
	switch len(match) {
	case 0:
		fmt.Fprintf(env.stderr, "tether retry: %s is not quarantined at %s\n", want, cfg.Site)
		return 1
	case 1:
	default:
		fmt.Fprintf(env.stderr, "tether retry: %s is ambiguous: %v\n", want, match)
		return 2
	}
	delete(st.Quarantined, match[0])
	if st.Rejected == match[0] {
		st.Rejected = ""
	}
	if err := store.Save(st); err != nil {
		fmt.Fprintf(env.stderr, "tether retry: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.stdout, "lifted the quarantine of %s at %s; the agent applies it at its next poll if it is still the head\n", match[0], cfg.Site)
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
