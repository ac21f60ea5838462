package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/safefile"
)

func init() {
	register(&command{
		name:    "keygen",
		summary: "create a WireGuard key for a Linux site and print its public key",
		usage:   "--interface IFACE [--site SITE] [--key-dir DIR | --config FILE] [--force]",
		help: `Creates the private key of a Linux site's WireGuard interface in the agent's
key directory (mode 0600, never in the repo) and prints the public key to
commit as public_key in sites/<site>.toml. An existing key is kept and its
public key printed again, unless --force replaces it. RouterOS routers
generate their own keys: read them with /interface/wireguard print.`,
		run: runKeygen,
	})
}

var ifaceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

func runKeygen(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["keygen"]
	fs := newFlags(c, env)
	iface := fs.String("interface", "", "WireGuard interface name, e.g. wg0")
	site := fs.String("site", "", "site name (checked against the agent config when given)")
	keyDir := fs.String("key-dir", "", "key directory (default: linux.key_dir of --config, else /var/lib/tether/keys)")
	cfgPath := fs.String("config", "", "agent config file")
	force := fs.Bool("force", false, "replace an existing key")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if !ifaceName.MatchString(*iface) {
		fmt.Fprintln(env.stderr, "tether keygen: --interface must be a Linux interface name (1-15 letters, digits, . _ -)")
		return 2
	}
	dir := *keyDir
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(env.stderr, "tether keygen: %v\n", err)
			return 1
		}
		if *site != "" && *site != cfg.Site {
			fmt.Fprintf(env.stderr, "tether keygen: --site %s but %s runs site %s\n", *site, *cfgPath, cfg.Site)
			return 2
		}
		if dir == "" {
			dir = cfg.Linux.KeyDir
		}
	}
	if dir == "" {
		dir = "/var/lib/tether/keys"
	}
	pub, created, err := ensureKey(dir, *iface, *force)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether keygen: %v\n", err)
		return 1
	}
	verb := "kept existing"
	if created {
		verb = "created"
	}
	fmt.Fprintf(env.stderr, "%s %s\n", verb, filepath.Join(dir, *iface+".key"))
	if *site != "" {
		fmt.Fprintf(env.stderr, "commit in sites/%s.toml, [[wireguard]] name = %q:\n", *site, *iface)
	}
	fmt.Fprintln(env.stdout, pub)
	return 0
}

// ensureKey returns the public key of dir/<iface>.key, creating the key
// (0600, written atomically) when missing or when force is set.
func ensureKey(dir, iface string, force bool) (pub string, created bool, err error) {
	path := filepath.Join(dir, iface+".key")
	if !force {
		if data, err := os.ReadFile(path); err == nil {
			k, err := wgtypes.ParseKey(strings.TrimSpace(string(data)))
			if err != nil {
				return "", false, fmt.Errorf("%s holds no valid key (use --force to replace it): %w", path, err)
			}
			return k.PublicKey().String(), false, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, err
	}
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return "", false, err
	}
	if err := safefile.Write(path, []byte(k.String()+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return k.PublicKey().String(), true, nil
}
