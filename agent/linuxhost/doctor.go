package linuxhost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// DoctorOptions configure Doctor.
type DoctorOptions struct {
	Runner   Runner // default ExecRunner{}
	StateDir string // the agent's state_dir
	KeyDir   string // linux.key_dir
	// ConfigFile is the agent config's path, for the fixes' command lines.
	ConfigFile string
	// Render is the site's renderer; default RenderLinux.
	Render func(*policy.Network, string, RenderOptions) ([]File, error)
}

// tool is a program the rendered site needs, with how to ask its version.
type tool struct {
	name    string
	version []string // arguments printing the version
	why     string
	pkg     string // Debian package
}

// toolsFor derives the programs a site needs from what it renders: the
// actions its files take and the checks that validate them.
func toolsFor(files []File) []tool {
	var out []tool
	need := func(t tool) {
		if !slices.ContainsFunc(out, func(x tool) bool { return x.name == t.name }) {
			out = append(out, t)
		}
	}
	for _, f := range files {
		switch f.Activate.Kind {
		case linux.ActWGSyncconf, linux.ActWGRestart:
			need(tool{"wg", []string{"--version"}, "reads and syncs WireGuard peers (wg syncconf, wg show)", "wireguard-tools"})
			need(tool{"wg-quick", nil, "brings WireGuard interfaces up and strips configs for wg syncconf", "wireguard-tools"})
		case linux.ActBirdConfigure:
			need(tool{"bird", []string{"--version"}, "checks bird.conf (bird -p) and runs BGP", "bird2"})
			need(tool{"birdc", nil, "reloads BIRD (birdc configure) and reads sessions", "bird2"})
		case linux.ActNftApply:
			need(tool{"nft", []string{"--version"}, "checks and loads the firewall (nft -c -f, nft -f)", "nftables"})
		case linux.ActSysctlApply:
			need(tool{"sysctl", nil, "applies kernel settings", "procps"})
		case linux.ActNetworkdReload:
			need(tool{"networkctl", nil, "reloads systemd-networkd", "systemd"})
		case linux.ActServiceReload, linux.ActServiceRestart:
			unit := strings.TrimSuffix(f.Activate.Target, ".service")
			switch unit {
			case "radvd":
				need(tool{"radvd", []string{"--version"}, "sends router advertisements (checked with radvd --configtest)", "radvd"})
			case "keepalived":
				need(tool{"keepalived", []string{"--version"}, "runs VRRP (checked with keepalived -t)", "keepalived"})
			case "ndppd":
				need(tool{"ndppd", []string{"--version"}, "proxies neighbour discovery", "ndppd"})
			}
		}
	}
	return out
}

// Doctor runs tether doctor's Linux checks for site of n: the tools its
// rendered configuration needs, with their versions; a WireGuard backend
// (the kernel module or wireguard-go); whether systemd runs (which decides
// the dead-man's form); and the modes of the state and key directories and
// the keys the site's WireGuard interfaces need. It changes nothing.
func Doctor(ctx context.Context, n *policy.Network, site string, o DoctorOptions) []contract.DoctorCheck {
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	if o.Render == nil {
		o.Render = RenderLinux
	}
	var out []contract.DoctorCheck
	add := func(name string, ok bool, detail, fix string) {
		c := contract.DoctorCheck{Area: "linux", Name: name, OK: ok, Detail: detail}
		if !ok {
			c.Fix = fix
		}
		out = append(out, c)
	}
	files, err := o.Render(n, site, RenderOptions{KeyDir: o.KeyDir})
	if err != nil {
		add("render", false, err.Error(), "fix the site (tether validate)")
		return out
	}
	tools := toolsFor(files)
	for _, t := range tools {
		add(checkTool(ctx, o.Runner, t))
	}
	if slices.ContainsFunc(tools, func(t tool) bool { return t.name == "wg" }) {
		add(wireguardBackend(ctx, o.Runner))
	}
	add(checkSystemd(ctx, o.Runner))
	add(checkDir("state dir", o.StateDir, false))
	add(checkDir("key dir", o.KeyDir, true))
	for _, w := range n.Sites[site].WireGuard {
		add(checkKey(o.KeyDir, w.Name, o.ConfigFile))
	}
	return out
}

func checkTool(ctx context.Context, r Runner, t tool) (string, bool, string, string) {
	fix := fmt.Sprintf("install it: apt-get install %s (tether uses %s to %s)", t.pkg, t.name, t.why)
	_, _, code, err := r.Run(ctx, "sh", "-c", `command -v "$0"`, t.name)
	if err != nil || code != 0 {
		return t.name, false, t.name + " is not installed (not on PATH)", fix
	}
	if t.version == nil {
		return t.name, true, "installed", ""
	}
	stdout, stderr, _, err := r.Run(ctx, t.name, t.version...)
	if err != nil {
		return t.name, false, fmt.Sprintf("%s %s: %v", t.name, strings.Join(t.version, " "), err), fix
	}
	v := firstLine(string(stdout) + "\n" + string(stderr))
	if t.name == "bird" && strings.Contains(v, "version 1.") {
		return t.name, false, v, "tether renders BIRD 2 configuration: apt-get install bird2"
	}
	if v == "" {
		v = "installed (printed no version)"
	}
	return t.name, true, v, ""
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > 100 {
				l = l[:100] + "…"
			}
			return l
		}
	}
	return ""
}

// wireguardBackend: the kernel module (loaded or loadable) or wireguard-go,
// which wg-quick falls back to.
func wireguardBackend(ctx context.Context, r Runner) (string, bool, string, string) {
	const name = "wireguard backend"
	_, _, code, err := r.Run(ctx, "sh", "-c", `[ -d /sys/module/wireguard ] || modprobe -n -q wireguard 2>/dev/null`)
	if err == nil && code == 0 {
		return name, true, "kernel module wireguard", ""
	}
	if _, _, code, err := r.Run(ctx, "sh", "-c", `command -v wireguard-go`); err == nil && code == 0 {
		stdout, stderr, _, _ := r.Run(ctx, "wireguard-go", "--version")
		return name, true, "no kernel module; wg-quick uses " + firstLine(string(stdout)+"\n"+string(stderr)), ""
	}
	return name, false, "no wireguard kernel module and no wireguard-go",
		"use a kernel with the wireguard module (5.6+), or apt-get install wireguard-go"
}

func checkSystemd(ctx context.Context, r Runner) (string, bool, string, string) {
	_, _, code, err := r.Run(ctx, "sh", "-c", systemdHostScript)
	if err == nil && code == 0 {
		if _, _, c, err := r.Run(ctx, "sh", "-c", `command -v systemd-run`); err != nil || c != 0 {
			return "systemd", false, "systemd runs but systemd-run is missing: the dead-man cannot be armed as a timer", "install systemd's tools (apt-get install systemd)"
		}
		return "systemd", true, "systemd is PID 1: the dead-man is a transient timer (systemd-run)", ""
	}
	return "systemd", true, "no systemd: the dead-man is a detached tether revert process, and nothing restores the site after a reboot until the agent starts", ""
}

// checkDir: the directory, when it exists, is a directory that only its
// owner can read (the state dir holds secret snapshots, the key dir keys).
func checkDir(name, dir string, required bool) (string, bool, string, string) {
	if dir == "" {
		return name, false, "not configured", "set it in the agent config"
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !required:
		return name, true, dir + " does not exist yet: the agent creates it (0700)", ""
	case errors.Is(err, fs.ErrNotExist):
		return name, false, dir + " does not exist", "tether keygen creates it with the first key (install -d -m 0700 " + dir + ")"
	case err != nil:
		return name, false, err.Error(), "check the path and its parents' permissions"
	case !st.IsDir():
		return name, false, dir + " is not a directory", "remove it or point the config elsewhere"
	case st.Mode().Perm()&0o077 != 0:
		return name, false, fmt.Sprintf("%s has mode %04o: others can read it", dir, st.Mode().Perm()),
			"chmod 700 " + dir
	}
	return name, true, fmt.Sprintf("%s mode %04o", dir, st.Mode().Perm()), ""
}

// checkKey: a WireGuard interface's private key exists and only its owner
// can read it.
func checkKey(dir, iface, cfgFile string) (string, bool, string, string) {
	if cfgFile == "" {
		cfgFile = "FILE"
	}
	name := "key " + iface
	path := filepath.Join(dir, iface+".key")
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return name, false, path + " does not exist: the interface cannot come up",
			"tether keygen --interface " + iface + " --config " + cfgFile + ", and commit the public key it prints"
	case err != nil:
		return name, false, err.Error(), "check the key directory's permissions"
	case st.Mode().Perm()&0o077 != 0:
		return name, false, fmt.Sprintf("%s has mode %04o: others can read the private key", path, st.Mode().Perm()),
			"chmod 600 " + path + ", then rotate the key (docs/operations.md, \"Rotate a WireGuard key\"): it may have been read"
	}
	return name, true, fmt.Sprintf("%s mode %04o", path, st.Mode().Perm()), ""
}
