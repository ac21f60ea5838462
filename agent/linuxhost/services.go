package linuxhost

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"
)

// Service verbs for Services.Control.
const (
	// VerbReload makes a unit re-read its configuration without dropping
	// state, starting it when it is not running.
	VerbReload = "reload"
	// VerbRestart stops (if running) and starts a unit.
	VerbRestart = "restart"
	// VerbStop stops a unit; stopping a stopped unit is not an error.
	VerbStop = "stop"
)

// Services starts, stops and reloads the daemons a site's files configure
// (BIRD, radvd, ndppd, keepalived). Systemd is the real-host manager;
// Direct manages daemons by pid file where there is no systemd (the lab).
type Services interface {
	// Control runs verb (VerbReload, VerbRestart, VerbStop) on unit
	// ("radvd.service").
	Control(ctx context.Context, verb, unit string) error
	// Active reports whether unit is running.
	Active(ctx context.Context, unit string) (bool, error)
}

// NetworkdUnit is the unit the networkd-reload action reloads.
const NetworkdUnit = "systemd-networkd.service"

// Systemd manages units with systemctl.
type Systemd struct{ Runner Runner }

// Control implements Services. reload-or-restart, because a unit that is
// not running yet (a first apply of radvd.conf) must be started, and a unit
// without ExecReload must still pick up its new file.
func (s Systemd) Control(ctx context.Context, verb, unit string) error {
	var args []string
	switch verb {
	case VerbReload:
		if unit == NetworkdUnit {
			// networkctl reload re-reads .network files and reconfigures
			// only the links whose files changed.
			if _, err := run(ctx, s.Runner, "networkctl", "reload"); err != nil {
				return fmt.Errorf("systemd: %w", err)
			}
			return nil
		}
		args = []string{"reload-or-restart", unit}
	case VerbRestart:
		args = []string{"restart", unit}
	case VerbStop:
		args = []string{"stop", unit}
	default:
		return fmt.Errorf("systemd: unknown verb %q", verb)
	}
	if _, err := run(ctx, s.Runner, "systemctl", args...); err != nil {
		return fmt.Errorf("systemd: %w", err)
	}
	return nil
}

// Kind names the manager in transaction records.
func (Systemd) Kind() string { return "systemd" }

// Active implements Services.
func (s Systemd) Active(ctx context.Context, unit string) (bool, error) {
	_, _, code, err := s.Runner.Run(ctx, "systemctl", "is-active", "--quiet", unit)
	if err != nil {
		return false, fmt.Errorf("systemd: is-active %s: %w", unit, err)
	}
	return code == 0, nil
}

// DirectUnit is how Direct runs one daemon.
type DirectUnit struct {
	// Start is the command that starts the daemon in the background; it
	// must write PIDFile (every supported daemon can: bird -P, radvd -p,
	// keepalived -p, ndppd -p).
	Start []string
	// PIDFile is the daemon's pid file as seen through the Runner.
	PIDFile string
	// ReloadSignal is sent on reload ("HUP"); empty means the daemon has no
	// reload and VerbReload restarts it (ndppd).
	ReloadSignal string
}

// Direct manages daemons without an init system: it starts them with their
// own daemonizing command and finds them by pid file, all through the
// Runner, so in the lab the daemons live in the host's namespaces.
type Direct struct {
	Runner Runner
	Units  map[string]DirectUnit
	// Wait bounds how long start and stop wait for the pid file; default 5s.
	Wait time.Duration
}

// DirectUnits returns Direct's units for the daemons render/linux
// configures, with their configuration files under root and pid files in
// /run (private per lab host).
func DirectUnits(root, birdSocket string) map[string]DirectUnit {
	j := func(p string) string { return joinRoot(root, p) }
	if birdSocket == "" {
		birdSocket = "/run/bird/bird.ctl"
	}
	return map[string]DirectUnit{
		"bird.service": {
			Start:        []string{"bird", "-c", j("/etc/bird/bird.conf"), "-s", birdSocket, "-P", "/run/bird/bird.pid"},
			PIDFile:      "/run/bird/bird.pid",
			ReloadSignal: "HUP",
		},
		"radvd.service": {
			Start:        []string{"radvd", "-C", j("/etc/radvd.conf"), "-p", "/run/radvd.pid"},
			PIDFile:      "/run/radvd.pid",
			ReloadSignal: "HUP",
		},
		"keepalived.service": {
			Start: []string{"keepalived", "-f", j("/etc/keepalived/keepalived.conf"),
				"-p", "/run/keepalived.pid", "-r", "/run/keepalived_vrrp.pid", "-c", "/run/keepalived_checkers.pid"},
			PIDFile:      "/run/keepalived.pid",
			ReloadSignal: "HUP",
		},
		"ndppd.service": {
			Start:   []string{"ndppd", "-d", "-c", j("/etc/ndppd.conf"), "-p", "/run/ndppd.pid"},
			PIDFile: "/run/ndppd.pid",
		},
	}
}

func (d Direct) unit(name string) (DirectUnit, error) {
	u, ok := d.Units[name]
	if !ok {
		return u, fmt.Errorf("direct services: unit %s is not managed here", name)
	}
	return u, nil
}

func (d Direct) wait() time.Duration {
	if d.Wait > 0 {
		return d.Wait
	}
	return 5 * time.Second
}

// alive is true when the pid file names a live process.
const aliveScript = `pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null`

// stopScript sends TERM, waits, then KILLs, and removes the pid file so a
// later start does not mistake a recycled pid for the daemon.
const stopScript = `pid=$(cat "$1" 2>/dev/null) || exit 0
[ -n "$pid" ] || { rm -f "$1"; exit 0; }
kill -TERM "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null; do
	i=$((i+1))
	if [ $i -ge $(($2*10)) ]; then kill -KILL "$pid" 2>/dev/null; sleep 0.1; break; fi
	sleep 0.1
done
rm -f "$1"`

// Kind names the manager in transaction records.
func (Direct) Kind() string { return "direct" }

// Active implements Services.
func (d Direct) Active(ctx context.Context, unit string) (bool, error) {
	u, err := d.unit(unit)
	if err != nil {
		return false, err
	}
	_, _, code, err := d.Runner.Run(ctx, "sh", "-c", aliveScript, "alive", u.PIDFile)
	if err != nil {
		return false, fmt.Errorf("direct services: %s: %w", unit, err)
	}
	return code == 0, nil
}

// Control implements Services.
func (d Direct) Control(ctx context.Context, verb, unit string) error {
	u, err := d.unit(unit)
	if err != nil {
		return err
	}
	switch verb {
	case VerbStop:
		return d.stop(ctx, unit, u)
	case VerbRestart:
		if err := d.stop(ctx, unit, u); err != nil {
			return err
		}
		return d.start(ctx, unit, u)
	case VerbReload:
		up, err := d.Active(ctx, unit)
		if err != nil {
			return err
		}
		if !up {
			return d.start(ctx, unit, u)
		}
		if u.ReloadSignal == "" {
			return d.Control(ctx, VerbRestart, unit)
		}
		script := `kill -` + u.ReloadSignal + ` "$(cat "$1")"`
		if _, err := run(ctx, d.Runner, "sh", "-c", script, "reload", u.PIDFile); err != nil {
			return fmt.Errorf("direct services: reload %s: %w", unit, err)
		}
		return nil
	default:
		return fmt.Errorf("direct services: unknown verb %q", verb)
	}
}

func (d Direct) stop(ctx context.Context, unit string, u DirectUnit) error {
	secs := fmt.Sprint(int(d.wait().Seconds() + 0.5))
	if _, err := run(ctx, d.Runner, "sh", "-c", stopScript, "stop", u.PIDFile, secs); err != nil {
		return fmt.Errorf("direct services: stop %s: %w", unit, err)
	}
	return nil
}

func (d Direct) start(ctx context.Context, unit string, u DirectUnit) error {
	if len(u.Start) == 0 {
		return fmt.Errorf("direct services: %s has no start command", unit)
	}
	// A stale pid file would make the wait below succeed at once.
	if _, err := run(ctx, d.Runner, "rm", "-f", u.PIDFile); err != nil {
		return fmt.Errorf("direct services: start %s: %w", unit, err)
	}
	if _, err := run(ctx, d.Runner, "mkdir", "-p", path.Dir(u.PIDFile)); err != nil {
		return fmt.Errorf("direct services: start %s: %w", unit, err)
	}
	if _, err := run(ctx, d.Runner, u.Start[0], u.Start[1:]...); err != nil {
		return fmt.Errorf("direct services: start %s: %w", unit, err)
	}
	deadline := time.Now().Add(d.wait())
	for {
		up, err := d.Active(ctx, unit)
		if err != nil {
			return err
		}
		if up {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("direct services: %s (%s) wrote no live pid file %s within %s",
				unit, strings.Join(u.Start, " "), u.PIDFile, d.wait())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("direct services: start %s: %w", unit, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
