package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/notes"
)

func init() {
	register(&command{
		name:    "history",
		summary: "show every site's outcome per commit, newest first, from the notes",
		usage:   "[--site S] [--limit N] [--ref REF] [--format text|json] REPO",
		help: `Reads refs/notes/tether/* in a clone of the network repo (fetch them first:
git fetch origin 'refs/notes/tether/*:refs/notes/tether/*') and prints, per
commit, what each site did with it: applied, reverted (with the failing check),
rejected (with file:line errors), unchanged, repaired.`,
		run: runHistory,
	})
}

func runHistory(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["history"]
	fs := newFlags(c, env)
	site := fs.String("site", "", "only this site")
	limit := fs.Int("limit", 20, "at most N commits (0: all)")
	ref := fs.String("ref", "HEAD", "branch or commit to start from")
	format := fs.String("format", "text", "text or json")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	repo, err := openRepo(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(env.stderr, "tether history: open %s: %v\n", fs.Arg(0), err)
		return 1
	}
	h, err := repo.ResolveRevision(plumbing.Revision(*ref))
	if err != nil {
		fmt.Fprintf(env.stderr, "tether history: resolve %s: %v\n", *ref, err)
		return 1
	}
	var sites []string
	if *site != "" {
		sites = []string{*site}
	}
	entries, err := notes.History(ctx, repo, *h, *limit, sites...)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether history: %v\n", err)
		return 1
	}
	if *format == "json" {
		type row struct {
			Commit  string         `json:"commit"`
			Subject string         `json:"subject"`
			When    time.Time      `json:"when"`
			Sites   map[string]any `json:"sites"`
		}
		var rows []row
		for _, e := range entries {
			r := row{Commit: e.Commit.String(), Subject: e.Subject, When: e.When, Sites: map[string]any{}}
			for _, o := range e.Outcomes {
				if o.Note != nil {
					r.Sites[o.Site] = o.Note.Attempts
				} else {
					r.Sites[o.Site] = o.Raw
				}
			}
			rows = append(rows, r)
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return 0
	}
	for _, e := range entries {
		fmt.Fprintf(env.stdout, "%s %s\n", e.Commit.String()[:12], e.Subject)
		if len(e.Outcomes) == 0 {
			fmt.Fprintln(env.stdout, "    (no outcome recorded)")
		}
		for _, o := range e.Outcomes {
			if o.Note == nil || len(o.Note.Attempts) == 0 {
				fmt.Fprintf(env.stdout, "    %-12s (unparsed note) %s\n", o.Site, firstLine(o.Raw))
				continue
			}
			for _, a := range o.Note.Attempts {
				line := fmt.Sprintf("    %-12s %-9s %s", o.Site, a.Result, a.Finished.UTC().Format(time.RFC3339))
				if a.Plan != nil {
					line += fmt.Sprintf("  +%d ~%d -%d", a.Plan.Adds, a.Plan.Sets, a.Plan.Removes)
				}
				if a.Reason != "" {
					line += "  " + a.Reason
				}
				fmt.Fprintln(env.stdout, line)
				for _, w := range a.Witnesses {
					fmt.Fprintf(env.stdout, "      witness %s on %s: %s", w.Site, w.Link, w.Status)
					if w.Evidence != "" {
						fmt.Fprintf(env.stdout, " (%s)", w.Evidence)
					}
					fmt.Fprintln(env.stdout)
				}
			}
		}
	}
	return 0
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
