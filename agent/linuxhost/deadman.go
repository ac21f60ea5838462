package linuxhost

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tether-net/tether/agent/contract"
)

// deadmanUnit names the transient systemd unit of a transaction.
func deadmanUnit(txn string) string { return "tether-deadman-" + txn }

func (d *Device) pidPath(txn string) string { return filepath.Join(d.dir(), "deadman-"+txn+".pid") }

// revertArgv is the command the dead-man runs.
func (d *Device) revertArgv(txn string) []string {
	argv := append([]string(nil), d.o.RevertCommand...)
	argv = append(argv, "--state-dir", d.o.StateDir, "--txn", txn)
	if d.o.ConfigFile != "" {
		argv = append(argv, "--config", d.o.ConfigFile)
	}
	return argv
}

// systemdHostScript is sd_booted(3) plus a look at PID 1, through the
// Runner: a lab host has a private /run, so it never looks like systemd
// even when the machine runs it.
const systemdHostScript = `[ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]`

func (d *Device) deadmanKind(ctx context.Context) string {
	if d.o.DeadMan != DeadManAuto {
		return d.o.DeadMan
	}
	_, _, code, err := d.o.Runner.Run(ctx, "sh", "-c", systemdHostScript)
	if err == nil && code == 0 {
		return DeadManSystemd
	}
	return DeadManDetached
}

// The detached dead-man: setsid -f puts it in a session of its own (it
// survives the agent), its pid is the group id, and it writes that pid
// before sleeping so disarm can kill the group. After the sleep it execs
// the revert command, which takes the lock and finds the record.
const (
	deadmanOuter = `log=$1; inner=$2; shift 2; exec setsid -f sh -c "$inner" tether-deadman "$@" </dev/null >>"$log" 2>&1`
	deadmanInner = `echo $$ > "$1"; secs=$2; shift 2; sleep "$secs"; exec "$@"`
	// cancelScript kills the sleeping dead-man's group, but only if the pid
	// still belongs to this transaction (pids are reused).
	cancelScript = `pid=$(cat "$1" 2>/dev/null) || exit 0
if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
fi
rm -f "$1"`
)

// arm stores the transaction record, then starts the dead-man.
func (d *Device) arm(ctx context.Context, p *contract.Plan, secs int) error {
	kind := d.deadmanKind(ctx)
	rec := record{
		TxnID: p.TxnID, Site: p.Site, Armed: d.o.Now().UTC(), Seconds: secs, DeadMan: kind, Plan: p,
		Settings: settings{Root: d.o.Root, KeyDir: d.o.KeyDir, StateDir: d.o.StateDir, BirdSocket: d.o.BirdSocket, Services: d.servicesKind()},
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir(), 0o700); err != nil {
		return err
	}
	if err := writeAtomic(d.recordPath(p.TxnID), b, 0o600); err != nil {
		return err
	}
	argv := d.revertArgv(p.TxnID)
	switch kind {
	case DeadManSystemd:
		args := append([]string{
			"--unit=" + deadmanUnit(p.TxnID),
			"--on-active=" + strconv.Itoa(secs) + "s",
			"--timer-property=AccuracySec=1s",
			"--description=tether dead-man for transaction " + p.TxnID,
			"--",
		}, argv...)
		_, err = run(ctx, d.o.Runner, "systemd-run", args...)
	case DeadManDetached:
		log := filepath.Join(d.dir(), "deadman-"+p.TxnID+".log")
		args := append([]string{"-c", deadmanOuter, "arm", log, deadmanInner, d.pidPath(p.TxnID), strconv.Itoa(secs)}, argv...)
		_, err = run(ctx, d.o.Runner, "sh", args...)
		if err == nil {
			err = waitFile(ctx, d.pidPath(p.TxnID), 3*time.Second)
		}
	default:
		err = fmt.Errorf("unknown dead-man kind %q", kind)
	}
	if err != nil {
		os.Remove(d.recordPath(p.TxnID))
		return err
	}
	return nil
}

// disarm ends a transaction: the record goes (so a dead-man that fires
// anyway finds nothing to do), the outcome is written, and the timer is
// cancelled — except by the dead-man itself (self), which must not kill
// its own process group.
func (d *Device) disarm(ctx context.Context, txn, outcome string, self bool) error {
	if err := writeAtomic(d.donePath(txn), []byte(outcome+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Remove(d.recordPath(txn)); err != nil && !os.IsNotExist(err) {
		return err
	}
	if self {
		os.Remove(d.pidPath(txn))
		return nil
	}
	// Both mechanisms are cancelled: cheap, and right even if the kind of
	// host changed between arming and settling (an agent restarted in a
	// different environment).
	if _, err := os.Stat(d.pidPath(txn)); err == nil {
		if _, err := run(ctx, d.o.Runner, "sh", "-c", cancelScript, "cancel", d.pidPath(txn), txn); err != nil {
			return fmt.Errorf("cancel dead-man: %w", err)
		}
	}
	if d.deadmanKind(ctx) == DeadManSystemd {
		_, _, _, _ = d.o.Runner.Run(ctx, "systemctl", "stop", deadmanUnit(txn)+".timer")
		_, _, _, _ = d.o.Runner.Run(ctx, "systemctl", "reset-failed", deadmanUnit(txn)+".timer", deadmanUnit(txn)+".service")
	}
	return nil
}

func waitFile(ctx context.Context, name string, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		if _, err := os.Stat(name); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dead-man did not start: no %s after %s", name, max)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
