package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/policy"
)

func init() {
	register(&command{
		name:    "plan",
		summary: "show what applying the repo's head would change on this site",
		usage:   "--config FILE",
		help: `Fetches the agent config's repo (or reads a plain directory), renders this
agent's site at the branch head, reads the device once and prints the
difference, one line per change: + add, ~ set, - remove, ↕ move (RouterOS),
or the files and the action each needs (Linux). Writes nothing to the device.
Prints "no changes" when the device already matches.`,
		run: runPlan,
	})
	register(&command{
		name:    "apply",
		summary: "run one full transaction for the repo's head (--once)",
		usage:   "--once --config FILE",
		help: `Runs exactly what 'tether run' does for one poll, then exits: finishes or
reverts a transaction a crash left in flight, then checks the branch head,
verifies it, plans, arms the dead-man, applies, gates on health, and keeps
or reverts the change, recording the outcome as a note. Exit status 0 when
the head is applied (or nothing changed), 1 when it was reverted or rejected.`,
		run: runApplyOnce,
	})
}

func runPlan(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["plan"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "tether plan: "+format+"\n", a...)
		return 1
	}
	s, err := newSetup(ctx, *cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	defer s.close()
	_, head, err := s.agent.Source.Check(ctx)
	if err != nil {
		return fail("%v", err)
	}
	fsys, err := s.agent.Source.Tree(ctx, head, s.cfg.Path)
	if err != nil {
		return fail("%v", err)
	}
	n, problems := policy.Load(fsys, ".")
	if problems.HasErrors() {
		for _, p := range problems.Errors() {
			fmt.Fprintln(env.stderr, p.String())
		}
		return fail("the network at %s is invalid", short(head.String()))
	}
	if n.Sites[s.cfg.Site] == nil {
		return fail("network %q has no site %q (sites/%s.toml)", n.Name, s.cfg.Site, s.cfg.Site)
	}
	p, err := s.agent.Device.Plan(ctx, n, s.cfg.Site)
	if err != nil {
		return fail("%v", err)
	}
	if p.Empty() {
		fmt.Fprintf(env.stdout, "site %s at %s: no changes\n", s.cfg.Site, short(head.String()))
		return 0
	}
	fmt.Fprintf(env.stdout, "site %s at %s: %s\n", s.cfg.Site, short(head.String()), planSummary(p))
	for _, ch := range p.Changes {
		fmt.Fprintln(env.stdout, "  "+formatChange(s.agent.Device, ch))
	}
	return 0
}

func runApplyOnce(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["apply"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	once := fs.Bool("once", false, "run one transaction and exit (required: the loop is 'tether run')")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if !*once {
		fmt.Fprintln(env.stderr, "tether apply: only --once is supported; the continuous agent is 'tether run'")
		return 2
	}
	s, err := newSetup(ctx, *cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether apply: %v\n", err)
		return 1
	}
	defer s.close()
	if o, err := s.agent.Recover(ctx); err != nil {
		fmt.Fprintf(env.stderr, "tether apply: recover: %v\n", err)
		return 1
	} else if o != nil {
		printOutcome(env, s.agent.Device, o)
	}
	o, err := s.agent.Sync(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether apply: %v\n", err)
		return 1
	}
	if o == nil {
		fmt.Fprintf(env.stdout, "site %s: nothing to do\n", s.cfg.Site)
		return 0
	}
	printOutcome(env, s.agent.Device, o)
	switch o.Result {
	case agent.ResultReverted, agent.ResultRejected, agent.ResultRevertFailed:
		return 1
	}
	return 0
}

func printOutcome(env *cliEnv, dev agent.Device, o *agent.Outcome) {
	fmt.Fprintf(env.stdout, "site %s, commit %s: %s\n", o.Site, short(o.Commit), o.Result)
	if o.Reason != "" {
		fmt.Fprintf(env.stdout, "  reason: %s\n", o.Reason)
	}
	for _, e := range o.Errors {
		fmt.Fprintf(env.stdout, "  %s\n", e)
	}
	for _, ch := range o.Changes {
		fmt.Fprintln(env.stdout, "  "+formatChange(dev, ch))
	}
	for _, c := range o.Checks {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		note := ""
		if c.Note != "" {
			note = " (" + c.Note + ")"
		}
		fmt.Fprintf(env.stdout, "  %s %s: %s%s\n", mark, c.Name, c.Evidence, note)
	}
}

// formatChange prints a plan line the way the device describes it.
func formatChange(dev agent.Device, ch agent.Change) string {
	switch dev.(type) {
	case *mikrotik.Device:
		return mikrotik.FormatChange(ch)
	case *linuxhost.Device:
		return linuxhost.Line(ch)
	}
	return fmt.Sprintf("%s %s %s %s", ch.Op, ch.Where, ch.What, ch.Detail)
}

func planSummary(p *agent.Plan) string {
	s := p.Summary()
	var parts []string
	for _, op := range []string{"add", "set", "move", "remove", "write", "delete"} {
		if s[op] > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", s[op], op))
		}
	}
	return strings.Join(parts, ", ")
}
