package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/policy"
)

func init() {
	register(&command{
		name:    "adopt",
		summary: "take ownership of existing router items the site declares (comment only)",
		usage:   "--config FILE [--dry-run]",
		help: `A RouterOS router that already holds an item the site declares (defconf's
192.168.88.1/24 on bridge, a hand-made peer or route) makes plan and apply
refuse before any write: tether never takes over an item silently.

adopt marks exactly those items as tether's by setting their comment to
tether's ownership comment; no other attribute changes. It runs as a
transaction like any other — journal, dead-man, health gate, revert on
failure — and records the outcome as a note ("adopted") on the head commit,
without marking that commit as applied: the next apply writes whatever else
the site declares, including attributes where an adopted item differs.
--dry-run lists what would be adopted and writes nothing.`,
		run: runAdopt,
	})
}

func runAdopt(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["adopt"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	dry := fs.Bool("dry-run", false, "list what would be adopted; write nothing")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "tether adopt: "+format+"\n", a...)
		return 1
	}
	s, err := newSetup(ctx, *cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	defer s.close()
	dev, ok := s.agent.Device.(*mikrotik.Device)
	if !ok {
		return fail("adopt is for RouterOS sites: on a Linux host tether owns the files it renders, there is nothing to adopt")
	}
	n, head, err := loadHead(ctx, s)
	if err != nil {
		return fail("%v", err)
	}
	p, found, err := dev.AdoptPlan(ctx, n, s.cfg.Site)
	if err != nil {
		return fail("%v", err)
	}
	if p.Empty() {
		fmt.Fprintf(env.stdout, "site %s at %s: nothing to adopt\n", s.cfg.Site, short(head.String()))
		return 0
	}
	verb := "adopting"
	if *dry {
		verb = "would adopt"
	}
	fmt.Fprintf(env.stdout, "site %s at %s: %s %d item(s)\n", s.cfg.Site, short(head.String()), verb, len(found))
	for _, l := range found {
		fmt.Fprintf(env.stdout, "  %s (%s, comment %q)\n", l.What, l.Ref, l.Comment)
		for _, d := range l.Differs {
			fmt.Fprintf(env.stdout, "    then differs: %s\n", d)
		}
	}
	if *dry {
		return 0
	}
	o, err := s.agent.Adopt(ctx, head.String(), n, p)
	if err != nil {
		return fail("%v", err)
	}
	printOutcome(env, s.agent.Device, o)
	if o.Result != agent.ResultAdopted {
		return 1
	}
	return 0
}

// loadHead reads and validates the network at the branch head and checks
// that it has the agent's site.
func loadHead(ctx context.Context, s *setup) (*policy.Network, plumbing.Hash, error) {
	_, head, err := s.agent.Source.Check(ctx)
	if err != nil {
		return nil, head, err
	}
	fsys, err := s.agent.Source.Tree(ctx, head, s.cfg.Path)
	if err != nil {
		return nil, head, err
	}
	n, problems := policy.Load(fsys, ".")
	if problems.HasErrors() {
		var errs []error
		for _, p := range problems.Errors() {
			errs = append(errs, errors.New(p.String()))
		}
		return nil, head, fmt.Errorf("the network at %s is invalid:\n%w", short(head.String()), errors.Join(errs...))
	}
	if n.Sites[s.cfg.Site] == nil {
		return nil, head, fmt.Errorf("network %q has no site %q (sites/%s.toml)", n.Name, s.cfg.Site, s.cfg.Site)
	}
	return n, head, nil
}
