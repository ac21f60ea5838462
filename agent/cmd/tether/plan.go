package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/policy"
)

func init() {
	register(&command{
		name:    "plan",
		summary: "show what applying the repo's configuration would change on this site",
		usage:   "--config FILE",
		help: `Loads the network from the agent config's repo (a local directory) and path,
renders this agent's site, reads the device once and prints the difference,
one line per change: + add, ~ set, - remove, ↕ move. Writes nothing.
Prints "no changes" when the device already matches.`,
		run: func(ctx context.Context, env *cliEnv, args []string) int { return runPlan(ctx, env, "plan", args) },
	})
	register(&command{
		name:    "apply",
		summary: "apply the repo's configuration to this site once (--once)",
		usage:   "--once --config FILE",
		help: `Plans like 'tether plan', then applies the plan behind the device's dead-man
(armed for the gate deadline plus margin) and settles it at once, keeping the
change. There is no health gate yet: use 'tether run' for gated rollouts.`,
		run: func(ctx context.Context, env *cliEnv, args []string) int { return runPlan(ctx, env, "apply", args) },
	})
}

func runPlan(ctx context.Context, env *cliEnv, name string, args []string) int {
	c := commands[name]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	once := false
	if name == "apply" {
		fs.BoolVar(&once, "once", false, "apply once and exit (required: the loop is 'tether run')")
	}
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "tether "+name+": "+format+"\n", a...)
		return 1
	}
	if name == "apply" && !once {
		fmt.Fprintln(env.stderr, "tether apply: only --once is supported; the continuous agent is 'tether run'")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	if strings.Contains(cfg.Repo, "://") || strings.HasPrefix(cfg.Repo, "git@") {
		return fail("repo %s is a git URL: use tether run for now (plan reads a local directory)", cfg.Repo)
	}
	dir := filepath.Join(cfg.Repo, cfg.Path)
	n, problems := policy.Load(os.DirFS(dir), ".")
	if problems.HasErrors() {
		for _, p := range problems.Errors() {
			fmt.Fprintln(env.stderr, p.String())
		}
		return fail("the network in %s is invalid", dir)
	}
	site := n.Sites[cfg.Site]
	if site == nil {
		return fail("network %q has no site %q (sites/%s.toml)", n.Name, cfg.Site, cfg.Site)
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return fail("%v", err)
	}
	log = log.With(zap.String("site", cfg.Site))
	var dev agent.Device
	switch site.Platform {
	case "routeros":
		if cfg.RouterOS.Address == "" {
			return fail("site %s is a RouterOS site: set [routeros] address in %s", cfg.Site, *cfgPath)
		}
		conn, err := mikrotik.ConnFromConfig(cfg.RouterOS)
		if err != nil {
			return fail("%v", err)
		}
		d := mikrotik.New(mikrotik.Options{Conn: conn, Logger: log})
		defer d.Close()
		dev = d
	default:
		return fail("site %s is platform %q: plan and apply --once support RouterOS sites only for now", cfg.Site, site.Platform)
	}
	p, err := dev.Plan(ctx, n, cfg.Site)
	if err != nil {
		return fail("%v", err)
	}
	if p.Empty() {
		fmt.Fprintf(env.stdout, "site %s: no changes\n", cfg.Site)
		return 0
	}
	fmt.Fprintf(env.stdout, "site %s: %s\n", cfg.Site, summaryLine(p))
	for _, ch := range p.Changes {
		fmt.Fprintln(env.stdout, "  "+mikrotik.FormatChange(ch))
	}
	if name == "plan" {
		return 0
	}
	h := site.Health.Merge(n.Health).Merge(policy.DefaultHealth)
	wait, margin := h.GateDeadline.Duration, h.DeadmanMargin.Duration
	if cfg.Gate.Deadline.Duration > 0 {
		wait = cfg.Gate.Deadline.Duration
	}
	if cfg.Gate.DeadmanMargin.Duration > 0 {
		margin = cfg.Gate.DeadmanMargin.Duration
	}
	deadline := time.Now().Add(wait + margin)
	fmt.Fprintf(env.stdout, "applying behind a dead-man that reverts at %s unless settled\n", deadline.Format(time.RFC3339))
	if err := dev.Apply(ctx, p, deadline); err != nil {
		return fail("%v", err)
	}
	if err := dev.Settle(ctx, p, true); err != nil {
		return fail("applied, but settling failed: %v", err)
	}
	fmt.Fprintf(env.stdout, "applied %d change(s) and disarmed the dead-man (transaction %s)\n", len(p.Changes), p.TxnID)
	return 0
}

func summaryLine(p *agent.Plan) string {
	s := p.Summary()
	var parts []string
	for _, op := range []string{"add", "set", "move", "remove"} {
		if s[op] > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", s[op], op))
		}
	}
	return strings.Join(parts, ", ")
}
