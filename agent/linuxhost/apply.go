package linuxhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/contract"
	linux "github.com/tether-net/tether/render/linux"
)

// Apply implements agent.Device: validate every new file, arm the
// dead-man, write, activate. A file that fails its check refuses the whole
// plan before anything changes.
func (d *Device) Apply(ctx context.Context, p *contract.Plan, deadline time.Time) error {
	if p.Empty() {
		return nil
	}
	start := d.o.Now()
	log := d.o.Log.With(zap.String("txn", p.TxnID), zap.String("digest", p.Digest)) // the caller's logger carries the site
	do, undo, err := d.decode(p)
	if err != nil {
		return fmt.Errorf("linux apply %s: %w", p.Site, err)
	}
	unlock, err := d.lock(ctx)
	if err != nil {
		return fmt.Errorf("linux apply %s: %w", p.Site, err)
	}
	defer unlock()

	if err := d.validate(ctx, do.Files); err != nil {
		log.Info("refused", zap.String("step", "validate"), zap.Error(err))
		return fmt.Errorf("linux apply %s: refused, nothing changed: %w", p.Site, err)
	}
	// The plan's Undo is only right if the host still holds what Plan saw;
	// a host edited in between (or a plan applied twice) is refused rather
	// than snapshotted wrongly.
	for i, f := range do.Files {
		cur, err := d.read(f.Path)
		if err != nil {
			return fmt.Errorf("linux apply %s: %w", p.Site, err)
		}
		if !sameFile(cur, undo.Files[i]) && !sameFile(cur, f) {
			return fmt.Errorf("linux apply %s: refused, nothing changed: %s changed since the plan was made", p.Site, d.path(f.Path))
		}
	}

	secs := int(deadline.Sub(d.o.Now()).Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if err := d.arm(ctx, p, secs); err != nil {
		return fmt.Errorf("linux apply %s: arm dead-man (nothing changed): %w", p.Site, err)
	}
	log.Info("dead-man armed", zap.String("step", "arm"), zap.Int("seconds", secs))

	boot := d.boot(ctx)
	err = withBoot(ctx, boot, do.Enable, do.Disable, false, func() error { return d.transition(ctx, do.Files, false, undo) })
	if err != nil {
		log.Info("apply failed, reverting", zap.String("step", "apply"), zap.Error(err))
		rerr := withBoot(ctx, boot, undo.Enable, undo.Disable, true, func() error { return d.transition(ctx, undo.Files, true, undo) })
		if rerr != nil {
			return fmt.Errorf("linux apply %s: %w; immediate revert failed (%v): the dead-man reverts at %s",
				p.Site, err, rerr, deadline.Format(time.RFC3339))
		}
		_ = d.writeManifest(undo.Owned)
		if derr := d.disarm(ctx, p.TxnID, "reverted", false); derr != nil {
			log.Warn("disarm after revert", zap.Error(derr))
		}
		return fmt.Errorf("linux apply %s: %w; previous state restored", p.Site, err)
	}
	if err := d.writeManifest(do.Owned); err != nil {
		return fmt.Errorf("linux apply %s: files applied, but the owned-file manifest was not written: %w", p.Site, err)
	}
	log.Info("applied", zap.String("step", "apply"), zap.Int("files", len(do.Files)), zap.Duration("duration", d.o.Now().Sub(start)))
	return nil
}

func (d *Device) decode(p *contract.Plan) (*doSpec, *undoSpec, error) {
	var do doSpec
	var undo undoSpec
	if err := json.Unmarshal(p.Do, &do); err != nil {
		return nil, nil, fmt.Errorf("plan do: %w", err)
	}
	if err := json.Unmarshal(p.Undo, &undo); err != nil {
		return nil, nil, fmt.Errorf("plan undo: %w", err)
	}
	if len(do.Files) != len(undo.Files) {
		return nil, nil, fmt.Errorf("plan: %d files to write but %d snapshots", len(do.Files), len(undo.Files))
	}
	for i := range undo.Files {
		f, err := d.unseal(undo.Files[i])
		if err != nil {
			return nil, nil, err
		}
		undo.Files[i] = f
		if f.Path != do.Files[i].Path {
			return nil, nil, fmt.Errorf("plan: file %d is %s in do but %s in undo", i, do.Files[i].Path, f.Path)
		}
	}
	return &do, &undo, nil
}

func sameFile(a, b fileState) bool {
	if a.Exists != b.Exists {
		return false
	}
	return !a.Exists || a.Mode.Perm() == b.Mode.Perm() && bytes.Equal(a.Content, b.Content)
}

func contentDiffers(a, b fileState) bool {
	return a.Exists != b.Exists || !bytes.Equal(a.Content, b.Content)
}

// validate runs every new file's check on a temporary copy with the same
// base name (wg-quick derives the interface from it) and reports every
// failure with the tool's own message.
func (d *Device) validate(ctx context.Context, files []fileState) error {
	if err := os.MkdirAll(d.dir(), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(d.dir(), "check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var errs []error
	for i, f := range files {
		if !f.Exists || len(f.Check) == 0 {
			continue
		}
		sub := filepath.Join(tmp, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			return err
		}
		name := filepath.Join(sub, filepath.Base(f.Path))
		if err := os.WriteFile(name, f.Content, f.Mode.Perm()|0o400); err != nil {
			return err
		}
		args := make([]string, len(f.Check))
		for j, a := range f.Check {
			args[j] = strings.ReplaceAll(a, "{}", name)
		}
		if _, err := run(ctx, d.o.Runner, args[0], args[1:]...); err != nil {
			// The tool names the temp copy; name the real file instead.
			msg := strings.ReplaceAll(err.Error(), name, d.path(f.Path))
			errs = append(errs, fmt.Errorf("%s: %w", d.path(f.Path), &checkError{msg: msg, err: err}))
		}
	}
	return errors.Join(errs...)
}

type checkError struct {
	msg string
	err error
}

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return e.err }

type item struct{ cur, want fileState }

// Activation order: kernel settings before tunnels, tunnels before the
// firewall and routing daemons that use them, LAN-facing daemons last.
var activationOrder = []string{
	linux.ActSysctlApply, linux.ActAddrApply, linux.ActWGSyncconf, linux.ActNftApply, linux.ActNetworkdReload, linux.ActBirdConfigure, linux.ActServiceReload, actDaemonReload,
}

func group(kind string) string {
	switch kind {
	case linux.ActWGRestart:
		return linux.ActWGSyncconf
	case linux.ActServiceRestart:
		return linux.ActServiceReload
	}
	return kind
}

// transition moves the host's files to targets and activates them. With
// revert set it restores Undo: every file is re-activated even when its
// bytes already match (a crash between a `wg-quick down` and the writes
// leaves identical files but a missing interface), runtime facts come from
// undo, and errors are collected rather than stopping the revert.
func (d *Device) transition(ctx context.Context, targets []fileState, revert bool, undo *undoSpec) error {
	items := make([]item, 0, len(targets))
	for _, t := range targets {
		cur, err := d.read(t.Path)
		if err != nil {
			return err
		}
		cur.Action = t.Action
		items = append(items, item{cur: cur, want: t})
	}
	var errs []error
	fail := func(err error) bool {
		errs = append(errs, err)
		return !revert
	}

	// wg-quick down must see the file it brought the interface up with
	// (PostDown, routes), so it runs before the writes.
	for _, it := range items {
		if group(it.want.Action.Kind) != linux.ActWGSyncconf || !it.cur.Exists {
			continue
		}
		restart := it.want.Reactivate == reactRestart && !revert
		if !restart && !contentDiffers(it.cur, it.want) {
			continue
		}
		if !restart && it.want.Exists && !needsRestart(it.cur.Content, it.want.Content) {
			continue
		}
		iface := it.want.Action.Target
		up, err := d.linkExists(ctx, iface)
		if err != nil {
			if fail(err) {
				return errors.Join(errs...)
			}
			continue
		}
		if up {
			if _, err := run(ctx, d.o.Runner, "wg-quick", "down", d.path(it.cur.Path)); err != nil {
				if fail(fmt.Errorf("%s: %w", iface, err)) {
					return errors.Join(errs...)
				}
			}
		}
	}

	for _, it := range items {
		if sameFile(it.cur, it.want) {
			continue
		}
		full := d.path(it.want.Path)
		var err error
		if it.want.Exists {
			err = writeAtomic(full, it.want.Content, it.want.Mode)
		} else if err = os.Remove(full); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err != nil && fail(fmt.Errorf("write %s: %w", full, err)) {
			return errors.Join(errs...)
		}
	}

	for _, g := range activationOrder {
		for _, it := range items {
			if group(it.want.Action.Kind) != g || (!revert && !contentDiffers(it.cur, it.want) && it.want.Reactivate == "") {
				continue
			}
			if err := d.activate(ctx, it, revert, undo); err != nil && fail(err) {
				return errors.Join(errs...)
			}
		}
	}
	return errors.Join(errs...)
}

// activate runs the least disruptive action that makes one file take
// effect (the wg-quick downs already happened in transition).
func (d *Device) activate(ctx context.Context, it item, revert bool, undo *undoSpec) error {
	a := it.want.Action
	full := d.path(it.want.Path)
	switch a.Kind {
	case linux.ActWGSyncconf, linux.ActWGRestart:
		iface := a.Target
		up, err := d.linkExists(ctx, iface)
		if err != nil {
			return err
		}
		wantUp := it.want.Exists
		if revert && wantUp {
			if was, ok := undo.Links[iface]; ok {
				wantUp = was
			}
		}
		switch {
		case !wantUp && up && it.want.Exists:
			_, err = run(ctx, d.o.Runner, "wg-quick", "down", full)
		case !wantUp && up:
			// The file is gone and took its PostDown with it.
			_, err = run(ctx, d.o.Runner, "ip", "link", "del", "dev", iface)
		case !wantUp:
		case !up:
			_, err = run(ctx, d.o.Runner, "wg-quick", "up", full)
		default:
			err = d.wgSync(ctx, iface, full)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", iface, err)
		}
		return nil

	case linux.ActBirdConfigure:
		if !it.want.Exists || revert && !undo.Units[birdUnit] {
			return d.o.Services.Control(ctx, VerbStop, birdUnit)
		}
		return d.birdConfigure(ctx, a.Target)

	case linux.ActNftApply:
		if it.want.Exists {
			_, err := run(ctx, d.o.Runner, "nft", "-f", full)
			return err
		}
		var errs []error
		for _, t := range nftTables(it.cur.Content) {
			out, errb, code, err := d.o.Runner.Run(ctx, "nft", "delete", "table", t[0], t[1])
			if err == nil && code != 0 && !strings.Contains(string(errb), "No such file") {
				err = &ToolError{Cmd: "nft delete table " + t[0] + " " + t[1], Code: code, Output: toolMessage(out, errb)}
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)

	case linux.ActSysctlApply:
		var errs []error
		if it.want.Exists {
			_, err := run(ctx, d.o.Runner, "sysctl", "-q", "-p", full)
			errs = append(errs, err)
		}
		if revert {
			for _, k := range sortedKeys(undo.Sysctl) {
				_, err := run(ctx, d.o.Runner, "sysctl", "-q", "-w", k+"="+undo.Sysctl[k])
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)

	case linux.ActServiceReload, linux.ActServiceRestart:
		if !it.want.Exists || revert && !undo.Units[a.Target] {
			return d.o.Services.Control(ctx, VerbStop, a.Target)
		}
		verb := VerbReload
		if a.Kind == linux.ActServiceRestart {
			verb = VerbRestart
		}
		return d.o.Services.Control(ctx, verb, a.Target)

	case linux.ActAddrApply:
		return d.applyAddrs(ctx, a.Target, it.cur, it.want)

	case actDaemonReload:
		if _, err := run(ctx, d.o.Runner, "systemctl", "daemon-reload"); err != nil {
			return fmt.Errorf("systemd: %w", err)
		}
		return nil

	case linux.ActNetworkdReload:
		// Through Services: systemd-networkd is a unit like any other, and
		// where it does not run (the lab) the service manager decides.
		return d.o.Services.Control(ctx, VerbReload, NetworkdUnit)
	}
	return nil
}

// wgSyncScript feeds `wg syncconf` the stripped file plus the interface's
// private key: syncconf replaces the whole device configuration and would
// clear a key that is absent. Each [Peer] starts with PersistentKeepalive = 0
// (a later line in the file overrides it) because syncconf leaves an
// existing peer's keepalive alone when the file omits it, so turning a
// keepalive off (or reverting one) would not take effect. The key is read and inserted by shell
// builtins inside a pipe, so it never appears in an argv, on disk or in Go
// memory; a missing key aborts before wg runs.
const wgSyncScript = `set -e
conf=$(wg-quick strip "$2")
key=$(cat "$3")
[ -n "$key" ] || { echo "empty key file $3" >&2; exit 1; }
emit() {
	while IFS= read -r line; do
		printf '%s\n' "$line"
		if [[ $line =~ ^[[:space:]]*\[[Ii]nterface\][[:space:]]*$ ]]; then
			printf 'PrivateKey = %s\n' "$key"
		elif [[ $line =~ ^[[:space:]]*\[[Pp]eer\][[:space:]]*$ ]]; then
			printf 'PersistentKeepalive = 0\n'
		fi
	done <<<"$conf"
}
wg syncconf "$1" <(emit)`

func (d *Device) wgSync(ctx context.Context, iface, file string) error {
	key := filepath.Join(d.o.KeyDir, iface+".key")
	_, err := run(ctx, d.o.Runner, "bash", "-c", wgSyncScript, "wg-syncconf", iface, file, key)
	return err
}

// birdConfigure asks a running BIRD to re-read its file (unchanged
// sessions stay up) and starts BIRD when none is running.
func (d *Device) birdConfigure(ctx context.Context, sock string) error {
	out, errb, code, err := d.o.Runner.Run(ctx, "birdc", "-s", sock, "configure")
	if err != nil {
		return fmt.Errorf("birdc configure: %w", err)
	}
	if birdUnreachable(out, errb) {
		return d.o.Services.Control(ctx, VerbRestart, birdUnit)
	}
	s := string(out)
	if code != 0 || !strings.Contains(s, "Reconfigur") || strings.Contains(s, "error") {
		return &ToolError{Cmd: "birdc -s " + sock + " configure", Code: code, Output: toolMessage(out, errb)}
	}
	return nil
}

var nftTableRE = regexp.MustCompile(`(?m)^\s*table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z0-9_\-]+)\s*\{`)

// nftTables lists the (family, name) of the tables a ruleset file defines.
func nftTables(b []byte) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, m := range nftTableRE.FindAllSubmatch(b, -1) {
		fam := string(m[1])
		if fam == "" {
			fam = "ip"
		}
		t := [2]string{fam, string(m[2])}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
