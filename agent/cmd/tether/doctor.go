package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/mikrotik"
)

func init() {
	register(&command{
		name:    "doctor",
		summary: "check that this site is ready for tether: router or host, user, tools, dead-man",
		usage:   "--config FILE [--format text|json] [--capture FILE]",
		help: `A preflight to run before the first apply, and whenever something looks wrong.
It reads the network at the branch head and checks this agent's site.

RouterOS: the API answers, api-ssl's certificate matches the pin, the login
works, the RouterOS version is supported and matches routeros_version, the
API user's group has the policies tether needs (it says which are missing
and why), the router's clock is close to this host's, a dead-man scheduler
and script can be armed and run and remove themselves with this user, no
existing item duplicates a declared one (see tether adopt), and no item
marked as tether's has been dropped from the site.

Linux: the tools the site's configuration needs and their versions, a
WireGuard backend (kernel module or wireguard-go), whether systemd runs,
and the modes of the state and key directories and keys.

Prints a checklist, ✓ or ✗ with the fix for each ✗; exit status 1 when
anything failed. --capture FILE records the RouterOS API sentences of the
read-only checks (JSON lines; passwords and keys redacted) to attach to a
bug report. The only write is the dead-man round trip, which removes itself.`,
		run: runDoctor,
	})
}

// doctorReport is the --format json output.
type doctorReport struct {
	Site   string              `json:"site"`
	OK     bool                `json:"ok"`
	Checks []agent.DoctorCheck `json:"checks"`
}

func runDoctor(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["doctor"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	format := fs.String("format", "text", "output format: text or json")
	capturePath := fs.String("capture", "", "write the RouterOS API sentences of the read-only checks to this file")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(env.stderr, "tether doctor: --format must be text or json, not %q\n", *format)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether doctor: %v\n", err)
		return 1
	}
	rep := doctorReport{Site: cfg.Site}
	rep.Checks = doctorChecks(ctx, env, *cfgPath, cfg, *capturePath)
	rep.OK = true
	for _, ch := range rep.Checks {
		rep.OK = rep.OK && ch.OK
	}
	if *format == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printChecklist(env, rep)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func doctorChecks(ctx context.Context, env *cliEnv, cfgPath string, cfg *config.Config, capturePath string) []agent.DoctorCheck {
	repo := func(ok bool, detail, fix string) agent.DoctorCheck {
		return agent.DoctorCheck{Area: "repo", Name: "network", OK: ok, Detail: detail, Fix: fix}
	}
	s, err := newSetup(ctx, cfgPath)
	if err != nil {
		return []agent.DoctorCheck{repo(false, err.Error(), "check repo, branch and the git credentials in the agent config")}
	}
	defer s.close()
	n, head, err := loadHead(ctx, s)
	if err != nil {
		return []agent.DoctorCheck{repo(false, err.Error(), "fix the network (tether validate) or the agent's site name")}
	}
	site := n.Sites[cfg.Site]
	out := []agent.DoctorCheck{repo(true, fmt.Sprintf("network %q at %s declares site %s (%s)", n.Name, short(head.String()), cfg.Site, site.Platform), "")}
	if cfg.RouterOS.Address == "" {
		if site.Platform != "linux" {
			return append(out, repo(false, fmt.Sprintf("site %s is a %s site but the agent config has no [routeros] address", cfg.Site, site.Platform),
				"set [routeros] address, username and password_file"))
		}
		return append(out, linuxhost.Doctor(ctx, n, cfg.Site, linuxhost.DoctorOptions{StateDir: cfg.StateDir, KeyDir: cfg.Linux.KeyDir, ConfigFile: cfgPath})...)
	}
	conn, err := routerOSConn(cfg.RouterOS)
	if err != nil {
		return append(out, agent.DoctorCheck{Area: "routeros", Name: "config", Detail: err.Error(), Fix: "fix [routeros] in the agent config"})
	}
	o := mikrotik.DoctorOptions{Logger: zap.NewNop(), ConfigFile: cfgPath}
	var capFile *os.File
	if capturePath != "" {
		if capFile, err = os.OpenFile(capturePath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return append(out, agent.DoctorCheck{Area: "routeros", Name: "capture", Detail: err.Error(), Fix: "choose a writable --capture path"})
		}
		o.Capture = mikrotik.NewCapture(capFile)
	}
	out = append(out, mikrotik.Doctor(ctx, conn, n, cfg.Site, o)...)
	if capFile != nil {
		err := o.Capture.Err()
		if cerr := capFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			out = append(out, agent.DoctorCheck{Area: "routeros", Name: "capture", Detail: err.Error(), Fix: "choose a writable --capture path"})
		} else {
			fmt.Fprintf(env.stderr, "tether doctor: API sentences of the read-only checks written to %s (passwords and keys redacted)\n", capturePath)
		}
	}
	return out
}

func printChecklist(env *cliEnv, rep doctorReport) {
	fmt.Fprintf(env.stdout, "tether doctor: site %s\n", rep.Site)
	failed := 0
	for _, c := range rep.Checks {
		mark := "✓"
		if !c.OK {
			mark = "✗"
			failed++
		}
		fmt.Fprintf(env.stdout, "  %s %s: %s\n", mark, c.Name, strings.ReplaceAll(c.Detail, "\n", "\n      "))
		if !c.OK && c.Fix != "" {
			fmt.Fprintf(env.stdout, "      fix: %s\n", c.Fix)
		}
	}
	if failed == 0 {
		fmt.Fprintln(env.stdout, "all checks passed")
		return
	}
	fmt.Fprintf(env.stdout, "%d check(s) failed\n", failed)
}
