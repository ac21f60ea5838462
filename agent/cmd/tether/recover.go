package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tether-net/tether/agent"
)

func init() {
	register(&command{
		name:    "recover",
		summary: "resolve a failed revert (the site needs attention) deliberately",
		usage:   "--config FILE (--retry | --accept-current)",
		help: `When the agent cannot revert a change (every retry of the undo failed), it
disarms the dead-man, records a revert-failed note, quarantines the commit
and keeps serving; 'tether status' and the tether_needs_attention metric say
the site needs attention. The device may be anywhere between the change and
the prior state. A new commit that applies and passes the gate ends this on
its own; otherwise resolve it here, once the cause is fixed:

  --retry           run the transaction's undo again; on success the prior
                    state is back. On failure the site still needs attention
                    and the error is added to the record.
  --accept-current  leave the device as it is (you restored it by hand, or
                    what runs is what you want); the agent then checks it for
                    drift against the running commit as usual.

Either way the outcome is recorded as a note (result "recovered") on the
commit whose revert failed. Stop the agent first, as for 'tether revert'.`,
		run: runRecover,
	})
}

func runRecover(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["recover"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	retry := fs.Bool("retry", false, "run the failed revert again")
	accept := fs.Bool("accept-current", false, "accept the device's current state without touching it")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if *retry == *accept || fs.NArg() != 0 {
		fmt.Fprintln(env.stderr, "tether recover: give exactly one of --retry or --accept-current")
		return 2
	}
	mode := agent.RecoverAcceptCurrent
	if *retry {
		mode = agent.RecoverRetry
	}
	s, err := newSetup(ctx, *cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether recover: %v\n", err)
		return 1
	}
	defer s.close()
	o, err := s.agent.ResolveAttention(ctx, mode)
	if o != nil {
		printOutcome(env, s.agent.Device, o)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "tether recover: %v\n", err)
		return 1
	}
	return 0
}

// printAlerts adds what needs a person to `tether status`: a failed
// revert, and routed prefixes connected on the live WAN.
func printAlerts(w io.Writer, stateDir, cfgPath string) {
	if wt, err := agent.NewWANTrapStore(stateDir).Load(); err != nil {
		fmt.Fprintf(w, "wan trap:  %v\n", err)
	} else {
		for _, t := range wt.Traps {
			fmt.Fprintf(w, "wan trap:  %s (seen %s)\n", t, wt.Since.UTC().Format(time.RFC3339))
		}
	}
	at, err := agent.NewAttentionStore(stateDir).Load()
	switch {
	case err != nil:
		fmt.Fprintf(w, "attention: %v\n", err)
	case at != nil:
		fmt.Fprintf(w, "attention: NEEDED — the revert of %s (txn %s) failed at %s; the device may be between two states\n",
			short(at.Commit), at.TxnID, at.Since.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "           reverting because: %s\n", at.Reason)
		if n := len(at.Errors); n > 0 {
			fmt.Fprintf(w, "           last error (%d attempts): %s\n", n, at.Errors[n-1])
		}
		fmt.Fprintf(w, "           resolve: tether recover --config %s --retry | --accept-current (or push a commit that fixes forward)\n", cfgPath)
	}
}
