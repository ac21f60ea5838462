package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tether-net/tether/agent/importer"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/render/linux"
)

func init() {
	register(&command{
		name:    "import",
		summary: "read a running router into a site file (and the links and peers it implies)",
		usage:   "--config FILE [--site NAME] [--out DIR] [--force]",
		help: `RouterOS: reads the agent's router through its API — WireGuard interfaces
and peers, addresses, routes, interface lists, firewall filter/NAT/mangle rules
in order, address lists, routing tables and rules, BGP, DNS — and writes the
site as TOML in the repo's schema:

  sites/NAME.toml   the site; defconf's items stay the router's and are left out
  links/*.toml      a peer whose public key is another site's becomes a link
  peers/*.toml      a peer with an unknown key becomes an external peer

Items the model cannot express become [[raw.routeros]] items with a comment
saying why. Nothing secret is read or written: RouterOS keeps its WireGuard
private keys, and preshared keys stay on the router. Peers and links the
repo already declares are recognised and not written again.

Linux: reads the host's wg-quick files (/etc/wireguard/*.conf), tether's
sysctl file (or the forwarding sysctls that are on) and the tether nftables
table (its file, or 'nft list table inet tether'). A private key in a
wg-quick file is used only to derive the public key; the site file says
where tether expects the key file instead.

The files validate together with the agent's repo (at its branch head).
Without --out they are printed, each after a "--- path" line; with --out they
are written under DIR (the network folder of a checkout), refusing to replace
a file unless --force. After the files are merged, 'tether plan' lists only
the router's items to adopt, and after 'tether adopt' it has no changes.`,
		run: runImport,
	})
}

func runImport(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["import"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	site := fs.String("site", "", "site name to import as (default: the agent config's site)")
	out := fs.String("out", "", "write the files under this network folder instead of printing them")
	force := fs.Bool("force", false, "with --out: replace files that exist")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.stderr, "tether import: "+format+"\n", a...)
		return 1
	}
	s, err := newSetup(ctx, *cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	defer s.close()
	name := *site
	if name == "" {
		name = s.cfg.Site
	}
	repo, err := headTree(ctx, s)
	if err != nil {
		return fail("%v", err)
	}
	var res *importer.Result
	switch dev := s.agent.Device.(type) {
	case *mikrotik.Device:
		rows, err := importer.Read(ctx, dev, mikrotik.IsRefusal)
		if err != nil {
			return fail("%v", err)
		}
		if res, err = importer.RouterOS(importer.Input{Site: name, Rows: rows, Repo: repo}); err != nil {
			return fail("%v", err)
		}
	default:
		in, err := readLinux(ctx, s.cfg.Linux.Root, s.cfg.Linux.KeyDir)
		if err != nil {
			return fail("%v", err)
		}
		in.Site, in.Repo = name, repo
		if res, err = importer.Linux(in); err != nil {
			return fail("%v", err)
		}
	}
	for _, p := range res.Problems.Errors() {
		fmt.Fprintln(env.stderr, p.String())
	}
	paths := slices.Sorted(maps.Keys(res.Files))
	if *out == "" {
		for _, p := range paths {
			fmt.Fprintf(env.stdout, "--- %s\n%s", p, res.Files[p])
		}
	} else if err := writeFiles(*out, paths, res.Files, *force); err != nil {
		return fail("%v", err)
	} else {
		for _, p := range paths {
			fmt.Fprintf(env.stdout, "wrote %s\n", filepath.Join(*out, p))
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(env.stderr, "note: %s\n", n)
	}
	if res.Problems.HasErrors() {
		return fail("the imported files do not validate with the repo yet; see the problems above")
	}
	return 0
}

// managedSysctls are read from /proc/sys when the host has no tether
// sysctl file yet: the forwarding switches the examples set.
var managedSysctls = []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"}

// readLinux reads what a Linux host runs, under root: the wg-quick files,
// tether's sysctl file (or the forwarding sysctls that are on), and the
// tether nftables table (its file, or the running table).
func readLinux(ctx context.Context, root, keyDir string) (importer.LinuxInput, error) {
	root = cmp.Or(root, "/")
	in := importer.LinuxInput{WireGuard: map[string][]byte{}, KeyDir: keyDir}
	confs, err := filepath.Glob(filepath.Join(root, linux.WireGuardDir, "*.conf"))
	if err != nil {
		return in, err
	}
	for _, c := range confs {
		b, err := os.ReadFile(c)
		if err != nil {
			return in, fmt.Errorf("read %s: %w", c, err)
		}
		in.WireGuard[strings.TrimSuffix(filepath.Base(c), ".conf")] = b
	}
	if b, err := os.ReadFile(filepath.Join(root, linux.SysctlPath)); err == nil {
		in.Sysctl = b
	} else {
		var lines []string
		for _, k := range managedSysctls {
			v, err := os.ReadFile(filepath.Join(root, "proc/sys", strings.ReplaceAll(k, ".", "/")))
			if err == nil && strings.TrimSpace(string(v)) == "1" {
				lines = append(lines, k+" = 1")
			}
		}
		in.Sysctl = []byte(strings.Join(lines, "\n"))
	}
	if b, err := os.ReadFile(filepath.Join(root, linux.DefaultNftPath)); err == nil {
		in.Nft = b
	} else if root == "/" {
		// No file: the running table, if there is one.
		if out, err := exec.CommandContext(ctx, "nft", "list", "table", "inet", linux.NftTable).Output(); err == nil {
			in.Nft = out
		}
	}
	return in, nil
}

// headTree is the agent's network folder at its branch head.
func headTree(ctx context.Context, s *setup) (fs.FS, error) {
	_, head, err := s.agent.Source.Check(ctx)
	if err != nil {
		return nil, err
	}
	return s.agent.Source.Tree(ctx, head, s.cfg.Path)
}

// writeFiles writes each file under dir, all or none when one exists and
// force is off.
func writeFiles(dir string, paths []string, files map[string][]byte, force bool) error {
	if !force {
		var exist []string
		for _, p := range paths {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				exist = append(exist, p)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if len(exist) > 0 {
			return fmt.Errorf("%s already has %v; use --force to replace", dir, exist)
		}
	}
	for _, p := range paths {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", full, err)
		}
	}
	return nil
}
