package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/linuxhost"
)

func init() {
	register(&command{
		name:    "revert",
		summary: "revert a Linux host transaction (what the dead-man timer runs)",
		usage:   "--config FILE [--txn ID] [--state-dir DIR]",
		help: `Restores the files a Linux host transaction replaced and re-activates
them, from the transaction record the agent stored before applying. The
host's dead-man timer runs this at the gate deadline unless the agent
settles the transaction first; an operator can run it by hand. Without
--txn every pending transaction is reverted. A transaction that was
already settled is left alone.`,
		run: runRevert,
	})
}

func runRevert(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["revert"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "", "agent config file (for state_dir)")
	txn := fs.String("txn", "", "transaction id (default: every pending transaction)")
	stateDir := fs.String("state-dir", "", "state directory (overrides state_dir of --config)")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	dir := *stateDir
	if dir == "" && *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(env.stderr, "tether revert: %v\n", err)
			return 1
		}
		dir = cfg.StateDir
	}
	if dir == "" {
		dir = linuxhost.DefaultStateDir
	}
	log, err := zap.NewProduction()
	if err != nil {
		log = zap.NewNop()
	}
	defer func() { _ = log.Sync() }()
	if err := linuxhost.Revert(ctx, dir, *txn, linuxhost.Options{Log: log}); err != nil {
		fmt.Fprintf(env.stderr, "tether revert: %v\n", err)
		return 1
	}
	return 0
}
