package linuxhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/agent/safefile"
	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// Defaults for Options.
const (
	DefaultKeyDir     = "/var/lib/tether/keys"
	DefaultStateDir   = "/var/lib/tether"
	DefaultBirdSocket = "/run/bird/bird.ctl"
)

// Dead-man kinds for Options.DeadMan.
const (
	DeadManAuto     = ""         // systemd when it is the init system, else detached
	DeadManSystemd  = "systemd"  // transient timer: systemd-run --on-active
	DeadManDetached = "detached" // setsid'd `sleep N; exec tether revert …` through the Runner
)

// Options configures a Device. Zero values take the documented defaults.
type Options struct {
	// Root prefixes every path the renderer produces ("/" on a real host,
	// the host's directory in the lab). Commands get prefixed paths too.
	Root string
	// KeyDir holds <iface>.key (tether keygen). Used as given, not under
	// Root: rendered PostUp lines and `wg syncconf` read it directly.
	KeyDir string
	// StateDir is tether's state directory; this device keeps its
	// transaction records, secret snapshots and owned-file manifest in
	// StateDir/linuxhost. Used as given.
	StateDir string
	// BirdSocket is BIRD's control socket as seen through the Runner.
	BirdSocket string
	// BirdPath and NftPath override where bird.conf and the nftables file
	// go (render/linux defaults).
	BirdPath, NftPath string

	Runner   Runner   // default ExecRunner{}
	Services Services // default Systemd (Direct on a local host without systemd)
	// Boot enables the site's units at boot; default: systemd where it is
	// PID 1 and Services is Systemd, else none (the agent restores at start).
	Boot Boot
	Now  func() time.Time
	Log  *zap.Logger

	// DeadMan picks the dead-man mechanism (DeadManAuto by default).
	DeadMan string
	// RevertCommand is the argv prefix the dead-man runs; it gets
	// "--state-dir DIR --txn ID" (and "--config FILE" when ConfigFile is
	// set) appended. Default: this executable, "revert".
	RevertCommand []string
	// ConfigFile is the agent config, passed to the revert command.
	ConfigFile string

	// Render renders a site into files; default render/linux.
	Render func(n *policy.Network, site string, o RenderOptions) ([]File, error)
}

// The device applies render/linux's files as they are: their Action is
// journaled in Plan.Do/Undo (its JSON names are part of the journal format).
type (
	RenderOptions = linux.Options
	File          = linux.File
	Action        = linux.Action
)

// Device is the Linux host device; it satisfies agent.Device.
type Device struct {
	o Options

	mu       sync.Mutex
	nftCache map[string][]byte // nft's listing of a rendered table, by content digest
}

// New returns a Device with o's defaults filled in.
func New(o Options) *Device {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.KeyDir == "" {
		o.KeyDir = DefaultKeyDir
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.BirdSocket == "" {
		o.BirdSocket = DefaultBirdSocket
	}
	local := o.Runner == nil
	if local {
		o.Runner = ExecRunner{}
	}
	if o.Services == nil {
		// A local host without systemd (a container) gets Direct; with a
		// custom Runner the caller knows better and passes Services.
		if _, err := os.Stat("/run/systemd/system"); local && err != nil {
			o.Services = Direct{Runner: o.Runner, Units: DirectUnits(o.Root, o.BirdSocket)}
		} else {
			o.Services = Systemd{Runner: o.Runner}
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if len(o.RevertCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			exe = "tether"
		}
		o.RevertCommand = []string{exe, "revert"}
	}
	if o.Render == nil {
		o.Render = RenderLinux
	}
	return &Device{o: o}
}

// path returns p (a host path) under Root.
func (d *Device) path(p string) string { return joinRoot(d.o.Root, p) }

func joinRoot(root, p string) string {
	if root == "" || root == "/" {
		return filepath.Clean(p)
	}
	return filepath.Join(root, p)
}

// dir is the device's own state directory.
func (d *Device) dir() string { return filepath.Join(d.o.StateDir, "linuxhost") }

// fileState is a file as it is (Undo) or should be (Do).
type fileState struct {
	Path    string      `json:"path"` // host path, without Root
	Exists  bool        `json:"exists"`
	Mode    fs.FileMode `json:"mode,omitempty"`
	Content []byte      `json:"content,omitempty"`
	// SecretRef names a snapshot kept in the state dir (0600) instead of
	// Content, because the previous file held a key.
	SecretRef string   `json:"secret_ref,omitempty"`
	Check     []string `json:"check,omitempty"`
	Action    Action   `json:"action"`
	// Reactivate is set on a file whose bytes are unchanged but whose
	// runtime state differs (reactActivate, reactRestart).
	Reactivate string `json:"reactivate,omitempty"`
}

// ownedFile is one line of the manifest of files tether wrote, so a file
// that stops being rendered is removed (and deactivated) rather than left
// behind.
type ownedFile struct {
	Path   string `json:"path"`
	Action Action `json:"action"`
}

// doSpec is Plan.Do.
type doSpec struct {
	Files []fileState `json:"files"`
	Owned []ownedFile `json:"owned"`
	// Enable and Disable are boot units to switch (persist.go).
	Enable  []string `json:"enable,omitempty"`
	Disable []string `json:"disable,omitempty"`
}

// undoSpec is Plan.Undo: the previous files plus the runtime facts a revert
// must restore that no file records.
type undoSpec struct {
	Files []fileState `json:"files"`
	Owned []ownedFile `json:"owned"`
	// Sysctl holds the kernel's values, before the change, of every key the
	// old or new sysctl file sets: removing a key from a file does not
	// restore the kernel's value.
	Sysctl map[string]string `json:"sysctl,omitempty"`
	// Links records which WireGuard interfaces existed.
	Links map[string]bool `json:"links,omitempty"`
	// Units records which daemons were running.
	Units map[string]bool `json:"units,omitempty"`
	// Enable and Disable restore the boot units the plan switches.
	Enable  []string `json:"enable,omitempty"`
	Disable []string `json:"disable,omitempty"`
}

// Plan implements agent.Device.
func (d *Device) Plan(ctx context.Context, n *policy.Network, site string) (*contract.Plan, error) {
	files, err := d.o.Render(n, site, RenderOptions{
		KeyDir: d.o.KeyDir, BirdSocket: d.o.BirdSocket, BirdPath: d.o.BirdPath, NftPath: d.o.NftPath,
	})
	if err != nil {
		return nil, fmt.Errorf("linux plan %s: %w", site, err)
	}
	boot := d.boot(ctx)
	if boot != nil {
		files = withBootFiles(files)
	}
	p := &contract.Plan{Site: site, Digest: digest(files), TxnID: d.newTxnID()}
	var do doSpec
	var undo undoSpec
	rendered := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("linux plan %s: rendered path %q is not absolute", site, f.Path)
		}
		rendered[f.Path] = true
		do.Owned = append(do.Owned, ownedFile{Path: f.Path, Action: f.Activate})
		cur, err := d.read(f.Path)
		if err != nil {
			return nil, fmt.Errorf("linux plan %s: %w", site, err)
		}
		want := fileState{Path: f.Path, Exists: true, Mode: f.Mode.Perm(), Content: f.Content, Check: f.Check, Action: f.Activate}
		cur.Action = f.Activate
		if cur.Exists && cur.Mode == f.Mode.Perm() && bytes.Equal(cur.Content, f.Content) {
			// The file is right; what runs may not be (a reboot, a hand edit).
			diff, restart, err := d.runtimeDrift(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("linux plan %s: runtime of %s: %w", site, f.Path, err)
			}
			if diff == "" {
				continue
			}
			want.Reactivate = reactActivate
			if restart {
				want.Reactivate = reactRestart
			}
			do.Files = append(do.Files, want)
			undo.Files = append(undo.Files, cur)
			p.Changes = append(p.Changes, contract.Change{Op: "activate", Where: f.Path, What: path.Base(f.Path),
				Detail: "runtime: " + diff + " → " + reactivationText(want, diff)})
			continue
		}
		do.Files = append(do.Files, want)
		undo.Files = append(undo.Files, cur)
		p.Changes = append(p.Changes, describe(cur, want))
	}
	owned, err := d.readManifest()
	if err != nil {
		return nil, fmt.Errorf("linux plan %s: %w", site, err)
	}
	undo.Owned = owned
	var gone []ownedFile
	for _, o := range owned {
		if rendered[o.Path] {
			continue
		}
		gone = append(gone, o)
		cur, err := d.read(o.Path)
		if err != nil {
			return nil, fmt.Errorf("linux plan %s: %w", site, err)
		}
		if !cur.Exists {
			continue
		}
		cur.Action = o.Action
		gone := fileState{Path: o.Path, Action: o.Action}
		do.Files = append(do.Files, gone)
		undo.Files = append(undo.Files, cur)
		p.Changes = append(p.Changes, describe(cur, gone))
	}
	if boot != nil {
		units, err := d.planBoot(ctx, boot, files, gone, &do, &undo)
		if err != nil {
			return nil, fmt.Errorf("linux plan %s: boot units: %w", site, err)
		}
		for _, u := range units {
			c := contract.Change{Op: "enable", Where: u, What: u, Detail: "start at boot"}
			if u[0] == '-' {
				c = contract.Change{Op: "disable", Where: u[1:], What: u[1:], Detail: "no longer started at boot"}
			}
			p.Changes = append(p.Changes, c)
		}
	}
	if len(p.Changes) == 0 {
		return p, nil
	}
	if err := d.snapshotRuntime(ctx, do.Files, &undo); err != nil {
		return nil, fmt.Errorf("linux plan %s: %w", site, err)
	}
	// An interface whose file exists but which is not up is brought up,
	// whatever changed in the file; say so rather than "wg syncconf".
	for i, f := range do.Files {
		if k := f.Action.Kind; (k == linux.ActWGSyncconf || k == linux.ActWGRestart) && f.Exists && undo.Files[i].Exists && !undo.Links[f.Action.Target] && f.Reactivate == "" {
			p.Changes[i].Detail = "interface not up → wg-quick up"
		}
	}
	// A previous file that holds a key (a hand-written wg-quick file being
	// adopted) goes to a 0600 snapshot, so the key never reaches the
	// journal, a log or a note.
	for i := range undo.Files {
		if err := d.sealSecret(&undo.Files[i]); err != nil {
			return nil, fmt.Errorf("linux plan %s: %w", site, err)
		}
	}
	if p.Do, err = json.Marshal(do); err != nil {
		return nil, err
	}
	if p.Undo, err = json.Marshal(undo); err != nil {
		return nil, err
	}
	return p, nil
}

func (d *Device) newTxnID() string { return contract.NewTxnID(d.o.Now(), rand.Reader) }

// digest hashes the desired state so "nothing to do" is a comparison.
func digest(files []File) string {
	fs := append([]File(nil), files...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	h := sha256.New()
	for _, f := range fs {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.Path, f.Mode.Perm(), len(f.Content))
		h.Write(f.Content)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// read returns the file at host path p as it is now.
func (d *Device) read(p string) (fileState, error) {
	st := fileState{Path: p}
	full := d.path(p)
	info, err := os.Stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if info.IsDir() {
		return st, fmt.Errorf("%s is a directory", full)
	}
	b, err := os.ReadFile(full)
	if err != nil {
		return st, err
	}
	st.Exists, st.Mode, st.Content = true, info.Mode().Perm(), b
	return st, nil
}

var secretLine = regexp.MustCompile(`(?im)^\s*(privatekey|presharedkey)\s*=`)

func (d *Device) sealSecret(f *fileState) error {
	if !f.Exists || !secretLine.Match(f.Content) {
		return nil
	}
	sum := sha256.Sum256(f.Content)
	ref := hex.EncodeToString(sum[:])
	dir := filepath.Join(d.dir(), "snapshots")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, ref), f.Content, 0o600); err != nil {
		return fmt.Errorf("snapshot of %s: %w", f.Path, err)
	}
	f.Content, f.SecretRef = nil, ref
	return nil
}

// unseal returns f with the content of its secret snapshot.
func (d *Device) unseal(f fileState) (fileState, error) {
	if f.SecretRef == "" {
		return f, nil
	}
	if strings.ContainsAny(f.SecretRef, "/.") {
		return f, fmt.Errorf("bad snapshot reference for %s", f.Path)
	}
	b, err := os.ReadFile(filepath.Join(d.dir(), "snapshots", f.SecretRef))
	if err != nil {
		return f, fmt.Errorf("snapshot of %s: %w", f.Path, err)
	}
	f.Content, f.SecretRef = b, ""
	return f, nil
}

// snapshotRuntime records the runtime facts a revert must restore.
func (d *Device) snapshotRuntime(ctx context.Context, files []fileState, undo *undoSpec) error {
	undo.Sysctl, undo.Links, undo.Units = map[string]string{}, map[string]bool{}, map[string]bool{}
	for i, f := range files {
		old := undo.Files[i]
		switch f.Action.Kind {
		case linux.ActSysctlApply:
			keys := append(sysctlKeys(f.Content), sysctlKeys(old.Content)...)
			for _, k := range keys {
				if _, ok := undo.Sysctl[k]; ok {
					continue
				}
				out, err := run(ctx, d.o.Runner, "sysctl", "-n", k)
				if err != nil {
					// A key the kernel lacks has no value to restore; the
					// check before apply reports it properly.
					continue
				}
				undo.Sysctl[k] = strings.TrimSpace(string(out))
			}
		case linux.ActWGSyncconf, linux.ActWGRestart:
			up, err := d.linkExists(ctx, f.Action.Target)
			if err != nil {
				return err
			}
			undo.Links[f.Action.Target] = up
		case linux.ActServiceReload, linux.ActServiceRestart:
			up, err := d.o.Services.Active(ctx, f.Action.Target)
			if err != nil {
				return err
			}
			undo.Units[f.Action.Target] = up
		case linux.ActBirdConfigure:
			undo.Units[birdUnit] = d.birdRunning(ctx, f.Action.Target)
		}
	}
	return nil
}

const birdUnit = "bird.service"

func (d *Device) linkExists(ctx context.Context, iface string) (bool, error) {
	_, _, code, err := d.o.Runner.Run(ctx, "ip", "link", "show", "dev", iface)
	if err != nil {
		return false, fmt.Errorf("ip link show %s: %w", iface, err)
	}
	return code == 0, nil
}

func (d *Device) birdRunning(ctx context.Context, sock string) bool {
	out, errb, code, err := d.o.Runner.Run(ctx, "birdc", "-s", sock, "show", "status")
	return err == nil && code == 0 && !birdUnreachable(out, errb)
}

func birdUnreachable(out, errb []byte) bool {
	s := string(out) + string(errb)
	return strings.Contains(s, "Unable to connect") || strings.Contains(s, "Connection refused")
}

// sysctlKeys lists the keys a sysctl.d file sets, normalized to dots.
func sysctlKeys(b []byte) []string {
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		keys = append(keys, strings.ReplaceAll(k, "/", "."))
	}
	return keys
}

// describe renders one plan line: "+ /etc/bird/bird.conf",
// "~ /etc/wireguard/wg0.conf (peers only → wg syncconf)".
func describe(cur, want fileState) contract.Change {
	c := contract.Change{Where: want.Path, What: path.Base(want.Path)}
	switch {
	case !want.Exists:
		c.Op = "remove"
	case !cur.Exists:
		c.Op = "add"
	default:
		c.Op = "set"
	}
	contentSame := cur.Exists && want.Exists && bytes.Equal(cur.Content, want.Content)
	var detail []string
	if contentSame {
		detail = append(detail, fmt.Sprintf("mode %04o → %04o only", cur.Mode, want.Mode))
	} else if a := activationText(cur, want); a != "" {
		detail = append(detail, a)
	}
	c.Detail = strings.Join(detail, "; ")
	return c
}

func activationText(cur, want fileState) string {
	a := want.Action
	if !want.Exists {
		a = cur.Action
	}
	switch a.Kind {
	case linux.ActWGSyncconf, linux.ActWGRestart:
		switch {
		case !want.Exists:
			return "→ wg-quick down"
		case !cur.Exists:
			return "new interface → wg-quick up"
		case needsRestart(cur.Content, want.Content):
			return "[Interface] changed → wg-quick down/up"
		default:
			return "peers only → wg syncconf"
		}
	case linux.ActBirdConfigure:
		if !want.Exists {
			return "→ stop BIRD"
		}
		return "→ birdc configure"
	case linux.ActNftApply:
		if !want.Exists {
			return "→ nft delete table"
		}
		return "→ nft -f"
	case linux.ActSysctlApply:
		if !want.Exists {
			return "kernel values kept"
		}
		return "→ sysctl -p"
	case linux.ActServiceReload:
		if !want.Exists {
			return "→ stop " + a.Target
		}
		return "→ reload " + a.Target
	case linux.ActServiceRestart:
		if !want.Exists {
			return "→ stop " + a.Target
		}
		return "→ restart " + a.Target
	case linux.ActNetworkdReload:
		return "→ networkctl reload"
	case linux.ActAddrApply:
		if !want.Exists {
			return "→ ip addr del on " + a.Target
		}
		return "→ ip addr replace on " + a.Target
	}
	return ""
}

// Line formats a change as the plan shows it to a person.
func Line(c contract.Change) string {
	sign := map[string]string{"add": "+", "set": "~", "remove": "-"}[c.Op]
	if sign == "" {
		sign = c.Op
	}
	s := sign + " " + c.Where
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

func (d *Device) manifestPath() string { return filepath.Join(d.dir(), "owned.json") }

func (d *Device) readManifest() ([]ownedFile, error) {
	b, err := os.ReadFile(d.manifestPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("owned files: %w", err)
	}
	var out []ownedFile
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("owned files %s: %w", d.manifestPath(), err)
	}
	return out, nil
}

func (d *Device) writeManifest(owned []ownedFile) error {
	b, err := json.MarshalIndent(owned, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir(), 0o700); err != nil {
		return err
	}
	return writeAtomic(d.manifestPath(), append(b, '\n'), 0o600)
}

// writeAtomic writes a host file atomically (safefile.Write),
// creating its directory like a package would (0755).
func writeAtomic(name string, content []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return safefile.Write(name, content, mode)
}
