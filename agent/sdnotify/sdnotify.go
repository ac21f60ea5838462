// Package sdnotify is a minimal sd_notify(3) client: it tells systemd that
// the agent is ready (Type=notify), that its loop is alive (WatchdogSec=),
// what it is doing (STATUS=) and that it is stopping. It does not implement
// file-descriptor passing, socket activation or barriers — tether needs none
// of them. With $NOTIFY_SOCKET unset (not started by systemd, tests, a
// container without the socket) every call is a no-op, so callers never
// branch on "am I under systemd".
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The states tether sends. Each is one datagram of newline-separated
// assignments, as sd_notify(3) specifies.
const (
	Ready     = "READY=1"
	Watchdog  = "WATCHDOG=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
)

// Notifier sends state to the service manager's socket. The zero value (or
// one built from an empty socket path) does nothing.
type Notifier struct {
	socket string // path, or "@name" for an abstract socket
}

// New returns a Notifier for socket (as found in $NOTIFY_SOCKET).
func New(socket string) *Notifier { return &Notifier{socket: socket} }

// FromEnv returns a Notifier for $NOTIFY_SOCKET. The variable is left set so
// that helper processes the agent starts do not inherit a surprise; systemd
// only accepts messages from the main PID by default (NotifyAccess=main).
func FromEnv() *Notifier { return New(os.Getenv("NOTIFY_SOCKET")) }

// Enabled reports whether messages go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Notify sends one or more assignments ("READY=1", "STATUS=applying 1a2b")
// as a single datagram. It returns nil when notification is disabled.
func (n *Notifier) Notify(states ...string) error {
	if !n.Enabled() || len(states) == 0 {
		return nil
	}
	for _, s := range states {
		if !strings.Contains(s, "=") {
			return fmt.Errorf("sd_notify: %q is not an assignment", s)
		}
	}
	// systemd writes an abstract socket as "@name"; Go's net package maps a
	// leading '@' to the abstract namespace's NUL byte itself, so both forms
	// are passed through unchanged.
	name := n.socket
	if name[0] != '@' && name[0] != '/' {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract name", name)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	// A datagram to a full or vanished socket must not stall the loop that
	// is feeding the watchdog.
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(strings.Join(states, "\n"))); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready tells systemd the agent finished starting (Type=notify units stay
// "activating" until then).
func (n *Notifier) Ready() error { return n.Notify(Ready) }

// Watchdog pets the watchdog; call it at least every WatchdogInterval()/2.
func (n *Notifier) Watchdog() error { return n.Notify(Watchdog) }

// Stopping tells systemd a clean shutdown has begun.
func (n *Notifier) Stopping() error { return n.Notify(Stopping) }

// Status sets the free-form line `systemctl status` shows. Newlines would
// split it into separate assignments, so they are replaced.
func (n *Notifier) Status(s string) error {
	return n.Notify("STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(s))
}

// ErrNoWatchdog is returned by WatchdogInterval when the watchdog is off.
var ErrNoWatchdog = errors.New("watchdog not enabled")

// WatchdogInterval reads $WATCHDOG_USEC (and $WATCHDOG_PID, which when set
// must name this process) as sd_watchdog_enabled(3) does. It returns
// ErrNoWatchdog when the unit has no WatchdogSec=.
func WatchdogInterval() (time.Duration, error) {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

func watchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, ErrNoWatchdog
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID %q: %w", pid, err)
		}
		if p != self {
			// The variable was inherited from a parent that is the
			// watchdog's real subject.
			return 0, ErrNoWatchdog
		}
	}
	u, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || u == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC %q is not a positive integer", usec)
	}
	return time.Duration(u) * time.Microsecond, nil
}
