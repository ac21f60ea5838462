package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/linuxhost"
)

func init() {
	register(&command{
		name:    "revert",
		summary: "revert the transaction in flight (what the host dead-man timer runs)",
		usage:   "--config FILE [--txn ID] [--state-dir DIR]",
		help: `Reverts a transaction that has not been settled yet.

For a RouterOS site (the config has [routeros] address) it reverts the
transaction the agent's journal holds through the API — the inverse plan,
then the dead-man is disarmed — and records the outcome as a note, the
same as the agent does after a failed gate. Stop the agent first.

For a Linux site it restores the files the transaction replaced and
re-activates them, from the record the agent stored before applying; the
host's dead-man timer runs exactly this at the gate deadline unless the
agent settles first. Without --txn every pending transaction is reverted.
A transaction that was already settled is left alone.`,
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
	if *cfgPath != "" && *txn == "" && *stateDir == "" {
		if cfg, err := config.Load(*cfgPath); err == nil && cfg.RouterOS.Address != "" {
			return revertJournal(ctx, env, *cfgPath)
		}
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
	// The dead-man runs this under systemd-run: the journal-aware logger.
	log, err := newLogger(config.Log{Level: "info", Format: "json"})
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

// revertJournal reverts the transaction in the agent's journal by hand and
// records it, through the same recovery path a restarted agent takes.
func revertJournal(ctx context.Context, env *cliEnv, cfgPath string) int {
	s, err := newSetup(ctx, cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether revert: %v\n", err)
		return 1
	}
	defer s.close()
	e, err := s.agent.Journal.Read()
	if err != nil {
		fmt.Fprintf(env.stderr, "tether revert: %v\n", err)
		return 1
	}
	if e == nil {
		fmt.Fprintln(env.stdout, "no transaction in flight: nothing to revert (to undo an applied commit, push a commit that restores the previous configuration)")
		return 0
	}
	e.Step, e.Reason = agent.StepReverting, "reverted by hand (tether revert)"
	if err := s.agent.Journal.Write(e); err != nil {
		fmt.Fprintf(env.stderr, "tether revert: %v\n", err)
		return 1
	}
	o, err := s.agent.Recover(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether revert: %v\n", err)
		return 1
	}
	if o != nil {
		printOutcome(env, s.agent.Device, o)
	}
	return 0
}
