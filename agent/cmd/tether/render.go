package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/linux"
	"github.com/tether-net/tether/render/routeros"
)

func init() {
	register(&command{
		name:    "render",
		summary: "print or write what a site would run (RouterOS .rsc/items, Linux files, peer profiles)",
		usage:   "(--site NAME | --all | --peer NAME) [--format rsc|json|files] [--out DIR] [--profile FILE] [--qr] [--qr-png FILE] NETWORK_DIR",
		help: `Renders a site of a valid network without touching any device.

  --site NAME    one site: RouterOS sites print a paste-ready .rsc by default
                 (--format json for the items tether applies), Linux sites
                 print their files (--format json for files with their checks
                 and activation actions)
  --all          every site; needs --out DIR (one folder per site)
  --peer NAME    the wg-quick profile of an external peer (phone, laptop,
                 server); --qr prints it as a QR code for phones, --qr-png
                 writes a PNG; --profile FILE picks one of several (a device
                 with an exit also has wg-<site>-exit.conf)

No private key is ever rendered: RouterOS keeps its own, Linux reads
<key_dir>/<iface>.key, and profiles leave a placeholder.`,
		run: runRender,
	})
}

type renderFlags struct {
	site, peer, format, out, keyDir, qrPNG, profile string
	all, qr                                         bool
}

func runRender(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["render"]
	fs := newFlags(c, env)
	var f renderFlags
	fs.StringVar(&f.site, "site", "", "site to render")
	fs.BoolVar(&f.all, "all", false, "render every site (with --out)")
	fs.StringVar(&f.peer, "peer", "", "external peer whose profile to render")
	fs.StringVar(&f.format, "format", "", "rsc | json | files (default: rsc for RouterOS, files for Linux)")
	fs.StringVar(&f.out, "out", "", "write into DIR instead of printing")
	fs.StringVar(&f.keyDir, "key-dir", linux.DefaultKeyDir, "Linux key directory referenced by wg-quick files")
	fs.BoolVar(&f.qr, "qr", false, "with --peer: print the profile as a terminal QR code")
	fs.StringVar(&f.qrPNG, "qr-png", "", "with --peer: write the profile as a QR code PNG")
	fs.StringVar(&f.profile, "profile", "", "with --peer: only the profile with this file name (e.g. wg-router-exit.conf)")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	modes := 0
	for _, set := range []bool{f.site != "", f.all, f.peer != ""} {
		if set {
			modes++
		}
	}
	if fs.NArg() != 1 || modes != 1 {
		fs.Usage()
		return 2
	}
	if f.all && f.out == "" {
		fmt.Fprintln(env.stderr, "tether render: --all needs --out DIR")
		return 2
	}
	switch f.format {
	case "", "rsc", "json", "files":
	default:
		fmt.Fprintln(env.stderr, "tether render: --format must be rsc, json or files")
		return 2
	}
	dir := fs.Arg(0)
	fsys, err := openConfigDir(dir)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether render: %v\n", err)
		return 1
	}
	n, problems := policy.Load(fsys, ".")
	if problems.HasErrors() {
		for _, p := range problems.Errors() {
			fmt.Fprintf(env.stderr, "%s\n", filepath.Join(dir, p.String()))
		}
		fmt.Fprintf(env.stderr, "tether render: %s is not valid; run tether validate\n", dir)
		return 1
	}
	if f.peer != "" {
		return renderPeer(env, n, f)
	}
	sites := []string{f.site}
	if f.all {
		sites = n.SiteNames()
	}
	for _, s := range sites {
		if n.Sites[s] == nil {
			fmt.Fprintf(env.stderr, "tether render: no site %q (sites: %s)\n", s, strings.Join(n.SiteNames(), ", "))
			return 1
		}
		if err := renderSite(env, n, s, f); err != nil {
			fmt.Fprintf(env.stderr, "tether render: %s: %v\n", s, err)
			return 1
		}
	}
	return 0
}

func renderSite(env *cliEnv, n *policy.Network, site string, f renderFlags) error {
	var outputs map[string][]byte // relative path -> content
	switch n.Sites[site].Platform {
	case "routeros":
		cfg, err := routeros.Render(n, site)
		if err != nil {
			return err
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(env.stderr, "warning: %s: %s\n", site, w)
		}
		switch f.format {
		case "", "rsc":
			outputs = map[string][]byte{site + ".rsc": cfg.RSC()}
		case "json":
			b, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				return err
			}
			outputs = map[string][]byte{site + ".json": append(b, '\n')}
		default:
			return fmt.Errorf("a RouterOS site renders as rsc or json, not %s", f.format)
		}
	default:
		cfg, err := linux.Render(n, site, linux.Options{KeyDir: f.keyDir})
		if err != nil {
			return err
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(env.stderr, "warning: %s: %s\n", site, w)
		}
		switch f.format {
		case "", "files":
			outputs = map[string][]byte{}
			for _, file := range cfg.Files {
				outputs[filepath.Join(site, file.Path)] = file.Content
			}
		case "json":
			b, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				return err
			}
			outputs = map[string][]byte{site + ".json": append(b, '\n')}
		default:
			return fmt.Errorf("a Linux site renders as files or json, not %s", f.format)
		}
		if f.out == "" && (f.format == "" || f.format == "files") {
			for _, file := range cfg.Files {
				fmt.Fprintf(env.stdout, "# ==> %s (%04o, then %s) <==\n", file.Path, file.Mode.Perm(), describeAction(file.Activate))
				env.stdout.Write(file.Content)
				fmt.Fprintln(env.stdout)
			}
			return nil
		}
	}
	return emit(env.stdout, f.out, outputs)
}

func describeAction(a linux.Action) string {
	if a.Kind == "" {
		return "nothing to run"
	}
	if a.Target == "" {
		return a.Kind
	}
	return a.Kind + " " + a.Target
}

// emit prints the outputs, or writes them under dir.
func emit(w io.Writer, dir string, outputs map[string][]byte) error {
	names := make([]string, 0, len(outputs))
	for k := range outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if dir == "" {
			w.Write(outputs[name])
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, outputs[name], 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	return nil
}
