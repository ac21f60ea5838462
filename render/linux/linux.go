package linux

import (
	"bytes"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// Activation kinds. The device maps each to one command; see the package
// comment for when each is chosen.
const (
	ActWGSyncconf     = "wg-syncconf"
	ActWGRestart      = "wg-restart"
	ActBirdConfigure  = "bird-configure"
	ActNftApply       = "nft-apply"
	ActSysctlApply    = "sysctl-apply"
	ActServiceReload  = "service-reload"
	ActServiceRestart = "service-restart"
	// ActServiceConfig is for a drop-in of a daemon tether does not run
	// (sshd): a change, or the file going away, reloads the unit when it is
	// running; tether never starts, stops or enables it, so removing the
	// drop-in cannot take the daemon down with it.
	ActServiceConfig  = "service-config"
	ActNetworkdReload = "networkd-reload"
	// ActAddrApply adds the addresses of an AddrDir file to the interface
	// it names (ip addr replace) and removes those the file no longer
	// lists, leaving every other address of the NIC alone.
	ActAddrApply = "addr-apply"
)

// Default host paths; Options may override the ones operators move.
const (
	DefaultKeyDir     = "/var/lib/tether/keys"
	DefaultBirdSocket = "/run/bird/bird.ctl"
	DefaultNftPath    = "/etc/nftables.d/tether.nft"
	DefaultBirdPath   = "/etc/bird/bird.conf"
	SysctlPath        = "/etc/sysctl.d/90-tether.conf"
	NdppdPath         = "/etc/ndppd.conf"
	RadvdPath         = "/etc/radvd.conf"
	KeepalivedPath    = "/etc/keepalived/keepalived.conf"
	NetworkdDir       = "/etc/systemd/network"
	WireGuardDir      = "/etc/wireguard"
	// AddrDir holds one file per interface tether adds addresses to without
	// managing it (no networkd = true): the WAN's routed-prefix anchor.
	AddrDir = "/etc/tether/addr"
)

// Options are the host facts the renderer cannot take from the model.
type Options struct {
	// KeyDir holds <iface>.key, the private key of each WireGuard interface
	// (written by `tether keygen`, never by the renderer).
	KeyDir string
	// BirdSocket is BIRD's control socket; it becomes the bird-configure
	// action's Target so the device runs `birdc -s <socket> configure`.
	BirdSocket string
	// BirdPath and NftPath place bird.conf and the nftables file
	// (distributions differ: /etc/bird.conf, /etc/tether/nftables.conf).
	BirdPath string
	NftPath  string
}

func (o Options) withDefaults() Options {
	if o.KeyDir == "" {
		o.KeyDir = DefaultKeyDir
	}
	if o.BirdSocket == "" {
		o.BirdSocket = DefaultBirdSocket
	}
	if o.BirdPath == "" {
		o.BirdPath = DefaultBirdPath
	}
	if o.NftPath == "" {
		o.NftPath = DefaultNftPath
	}
	return o
}

// Config is everything one Linux site needs, sorted by path.
type Config struct {
	Site     string
	Files    []File
	Warnings []string
}

// File is one rendered host file.
type File struct {
	Path    string      // absolute host path
	Mode    fs.FileMode // 0600 when a key could be read into it, else 0644
	Content []byte
	// Check validates the file before activation; "{}" stands for the path
	// the device wrote it to. Nil when the tool has no check mode.
	Check    []string
	Activate Action
}

// Action is how a changed file takes effect.
type Action struct {
	Kind   string `json:"kind,omitempty"`   // one of the Act* constants; "" means nothing to run
	Target string `json:"target,omitempty"` // interface, unit, socket or file the action applies to
}

// header starts every rendered file so an operator who opens it knows not to
// edit it by hand: tether would overwrite (or revert) the edit.
func header(comment, site string) string {
	return fmt.Sprintf("%s Rendered by tether for site %s. Do not edit: changes are overwritten.\n", comment, site)
}

// Render renders site of n. The network must have been loaded by
// policy.Load without errors (defaults applied).
func Render(n *policy.Network, site string, opt Options) (*Config, error) {
	if n == nil {
		return nil, fmt.Errorf("render linux: nil network")
	}
	s := n.Sites[site]
	if s == nil {
		return nil, fmt.Errorf("render linux: no site %q", site)
	}
	if s.Platform != "linux" {
		return nil, fmt.Errorf("render linux: site %q has platform %q, not linux", site, s.Platform)
	}
	opt = opt.withDefaults()
	r := &renderer{n: n, s: s, opt: opt, cfg: &Config{Site: site}}
	r.peers = n.WireGuardPeers(site)
	r.wireguard()
	if err := r.bird(); err != nil {
		return nil, err
	}
	r.nftables()
	r.sysctl()
	r.ndppd()
	r.radvd()
	r.keepalived()
	r.networkd()
	r.sshd()
	r.routingRules()
	if err := r.raw(); err != nil {
		return nil, err
	}
	sort.Slice(r.cfg.Files, func(i, j int) bool { return r.cfg.Files[i].Path < r.cfg.Files[j].Path })
	for i := 1; i < len(r.cfg.Files); i++ {
		if r.cfg.Files[i].Path == r.cfg.Files[i-1].Path {
			return nil, fmt.Errorf("render linux: site %s: two files render to %s", site, r.cfg.Files[i].Path)
		}
	}
	return r.cfg, nil
}

type renderer struct {
	n     *policy.Network
	s     *policy.Site
	opt   Options
	cfg   *Config
	peers []policy.WGPeer
}

func (r *renderer) warnf(format string, args ...any) {
	r.cfg.Warnings = append(r.cfg.Warnings, fmt.Sprintf(format, args...))
}

func (r *renderer) add(f File) { r.cfg.Files = append(r.cfg.Files, f) }

// routingRules has no Linux file of its own: `ip rule` lives outside every
// file tether renders, so the operator is told rather than silently ignored.
func (r *renderer) routingRules() {
	if len(r.s.RoutingRules) > 0 {
		r.warnf("routing_rule: %d rule(s) are not rendered on Linux (no file format owns `ip rule`); add them with a raw systemd-networkd unit", len(r.s.RoutingRules))
	}
}

// raw renders [[raw.linux]] verbatim; it is the escape hatch, so the only
// rule is that it may not shadow a file tether renders itself.
func (r *renderer) raw() error {
	for _, f := range r.s.Raw.Linux {
		mode := fs.FileMode(0o644)
		if f.Mode != "" {
			m, err := strconv.ParseUint(f.Mode, 8, 32)
			if err != nil {
				return fmt.Errorf("render linux: raw file %s: mode %q: %w", f.Path, f.Mode, err)
			}
			mode = fs.FileMode(m) & fs.ModePerm
		}
		for _, g := range r.cfg.Files {
			if g.Path == f.Path {
				return fmt.Errorf("render linux: raw file %s would replace a file tether renders; change the model instead", f.Path)
			}
		}
		content := f.Content
		if content != "" && !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		var act Action
		if f.Reload != "" {
			// The unit is not tether's to run: removing the file must not
			// stop it (a raw sshd drop-in going away would stop sshd).
			act = Action{Kind: ActServiceConfig, Target: unitName(f.Reload)}
		}
		r.add(File{Path: f.Path, Mode: mode, Content: []byte(content), Activate: act})
	}
	return nil
}

func unitName(u string) string {
	if strings.Contains(u, ".") && !strings.HasSuffix(u, ".") {
		if i := strings.LastIndexByte(u, '.'); i > 0 {
			switch u[i+1:] {
			case "service", "socket", "timer", "target", "path", "mount":
				return u
			}
		}
	}
	return u + ".service"
}

// buf is a small line writer; every renderer builds text with it so
// indentation stays consistent.
type buf struct{ bytes.Buffer }

func (b *buf) line(indent int, format string, args ...any) {
	for i := 0; i < indent; i++ {
		b.WriteByte('\t')
	}
	if len(args) == 0 {
		b.WriteString(format)
	} else {
		fmt.Fprintf(b, format, args...)
	}
	b.WriteByte('\n')
}

// seconds formats a duration in seconds, with decimals only when needed,
// as radvd and keepalived accept.
func seconds(d policy.Duration) string {
	ms := d.Duration.Milliseconds()
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10)
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}
