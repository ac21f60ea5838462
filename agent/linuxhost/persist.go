package linuxhost

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"

	linux "github.com/tether-net/tether/render/linux"
)

// Persistence by the OS: where systemd is PID 1, the units that bring a
// site's files up at boot are enabled (wg-quick@IF, bird, a tether-nft
// oneshot for the nft table, radvd, keepalived, ndppd), so a reboot does
// not wait for the agent; units of files tether stops rendering are
// disabled. Enabling is part of the plan — shown, applied behind the
// dead-man and undone by a revert. Without systemd (containers, the lab)
// the agent's first poll restores the site instead (runtime drift).

// Boot enables units at boot.
type Boot interface {
	Enabled(ctx context.Context, unit string) (bool, error)
	SetEnabled(ctx context.Context, unit string, on bool) error
}

// Enabled implements Boot: `systemctl is-enabled` exits 0 for enabled,
// static, alias and indirect units, and non-zero for disabled or unknown.
func (s Systemd) Enabled(ctx context.Context, unit string) (bool, error) {
	_, _, code, err := s.Runner.Run(ctx, "systemctl", "is-enabled", "--quiet", unit)
	if err != nil {
		return false, fmt.Errorf("systemd: is-enabled %s: %w", unit, err)
	}
	return code == 0, nil
}

// SetEnabled implements Boot. Only the boot links change: the agent starts
// and stops what runs now through its activations.
func (s Systemd) SetEnabled(ctx context.Context, unit string, on bool) error {
	verb := "disable"
	if on {
		verb = "enable"
	} else if enabled, err := s.Enabled(ctx, unit); err == nil && !enabled {
		// Nothing to undo: `systemctl disable` of a unit whose file was
		// never written (an apply that failed before it) exits 1, and a
		// revert must not fail on that.
		return nil
	}
	if _, err := run(ctx, s.Runner, "systemctl", verb, unit); err != nil {
		return fmt.Errorf("systemd: %w", err)
	}
	return nil
}

// NftUnit is the oneshot that loads tether's nft table at boot.
const NftUnit = "tether-nft.service"

// nftUnitPath is where the device writes NftUnit.
const nftUnitPath = "/etc/systemd/system/" + NftUnit

const actDaemonReload = "systemd-daemon-reload"

// nftUnitFile loads nftFile before the network comes up, like the
// distribution's nftables.service does for its own file.
func nftUnitFile(nftFile string) File {
	content := "# Written by tether: loads tether's nftables table at boot. Do not edit.\n" +
		"[Unit]\nDescription=tether nftables table\nDefaultDependencies=no\n" +
		"Before=network-pre.target shutdown.target\nWants=network-pre.target\nConflicts=shutdown.target\n\n" +
		"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/sbin/nft -f " + nftFile + "\n\n" +
		"[Install]\nWantedBy=sysinit.target\n"
	return File{Path: nftUnitPath, Mode: 0o644, Content: []byte(content), Activate: Action{Kind: actDaemonReload}}
}

// bootUnit is the unit that brings a file's configuration up at boot, ""
// for none.
func bootUnit(a Action, filePath string) string {
	switch a.Kind {
	case linux.ActWGSyncconf, linux.ActWGRestart:
		return "wg-quick@" + a.Target + ".service"
	case linux.ActBirdConfigure:
		return birdUnit
	case linux.ActNftApply:
		return NftUnit
	case linux.ActAddrApply:
		return "tether-addr@" + a.Target + ".service"
	case linux.ActServiceReload, linux.ActServiceRestart:
		return a.Target
	}
	return ""
}

// boot returns the boot manager: Options.Boot, else systemd when the host
// runs it and the services are systemd's, else nil (no persistence).
func (d *Device) boot(ctx context.Context) Boot {
	if d.o.Boot != nil {
		return d.o.Boot
	}
	s, ok := d.o.Services.(Systemd)
	if !ok || d.deadmanKind(ctx) != DeadManSystemd {
		return nil
	}
	return s
}

// addrUnitPath is the template unit that re-adds an AddrDir file's
// addresses at boot, once its interface exists; the NIC's own
// configuration (netplan, ifupdown) is untouched. "$$" is a literal "$"
// for the shell: systemd expands $NAME in ExecStart.
const addrUnitPath = "/etc/systemd/system/tether-addr@.service"

func addrUnitFile(dir string) File {
	content := "# Written by tether: adds the addresses of " + dir + "/%i to %i at boot. Do not edit.\n" +
		"[Unit]\nDescription=tether addresses on %i\nBindsTo=sys-subsystem-net-devices-%i.device\n" +
		"After=sys-subsystem-net-devices-%i.device network-pre.target\n\n" +
		"[Service]\nType=oneshot\nRemainAfterExit=yes\n" +
		"ExecStart=/bin/sh -c 'sed \"s/#.*//\" " + dir + "/%i | while read -r a; do [ -z \"$$a\" ] || ip addr replace \"$$a\" dev %i; done'\n\n" +
		"[Install]\nWantedBy=multi-user.target\n"
	return File{Path: addrUnitPath, Mode: 0o644, Content: []byte(content), Activate: Action{Kind: actDaemonReload}}
}

// withBootFiles adds the units tether itself provides: the tether-nft
// oneshot when the site has an nft table, the tether-addr@ template when
// it adds addresses to an unmanaged interface.
func withBootFiles(files []File) []File {
	var nft, addr bool
	var extra []File
	for _, f := range files {
		switch {
		case f.Activate.Kind == linux.ActNftApply && path.IsAbs(f.Path) && !nft:
			nft = true
			extra = append(extra, nftUnitFile(f.Path))
		case f.Activate.Kind == linux.ActAddrApply && !addr:
			addr = true
			extra = append(extra, addrUnitFile(path.Dir(f.Path)))
		}
	}
	return append(files, extra...)
}

// planBoot compares the wanted boot units with the host's and fills the
// plan's enable/disable lists and lines.
func (d *Device) planBoot(ctx context.Context, b Boot, files []File, gone []ownedFile, do *doSpec, undo *undoSpec) ([]string, error) {
	want := map[string]bool{}
	for _, f := range files {
		if u := bootUnit(f.Activate, f.Path); u != "" {
			want[u] = true
		}
	}
	drop := map[string]bool{}
	for _, o := range gone {
		if u := bootUnit(o.Action, o.Path); u != "" && !want[u] {
			drop[u] = true
		}
	}
	var lines []string
	for _, u := range sortedSet(want) {
		on, err := b.Enabled(ctx, u)
		if err != nil {
			return nil, err
		}
		if !on {
			do.Enable, undo.Disable = append(do.Enable, u), append(undo.Disable, u)
			lines = append(lines, u)
		}
	}
	for _, u := range sortedSet(drop) {
		on, err := b.Enabled(ctx, u)
		if err != nil {
			return nil, err
		}
		if on {
			do.Disable, undo.Enable = append(do.Disable, u), append(undo.Enable, u)
			lines = append(lines, "-"+u)
		}
	}
	return lines, nil
}

// withBoot disables units, runs step (the file transition), then enables
// units: a unit is disabled while its file still exists and enabled once it
// does. With keepGoing (a revert) every part runs and all failures are
// reported.
func withBoot(ctx context.Context, b Boot, enable, disable []string, keepGoing bool, step func() error) error {
	var errs []error
	for _, f := range []func() error{
		func() error { return setBoot(ctx, b, nil, disable, keepGoing) },
		step,
		func() error { return setBoot(ctx, b, enable, nil, keepGoing) },
	} {
		if err := f(); err != nil {
			if !keepGoing {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setBoot enables and disables units; with keepGoing (a revert) it tries
// every unit and reports all failures.
func setBoot(ctx context.Context, b Boot, enable, disable []string, keepGoing bool) error {
	var errs []error
	for _, set := range []struct {
		units []string
		on    bool
	}{{enable, true}, {disable, false}} {
		for _, u := range set.units {
			if b == nil {
				return fmt.Errorf("boot unit %s: this host has no service manager to persist it", u)
			}
			if err := b.SetEnabled(ctx, u, set.on); err != nil {
				if !keepGoing {
					return err
				}
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("boot units: %v", errs)
	}
	return nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
