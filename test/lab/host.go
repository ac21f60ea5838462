//go:build unix

package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Runner runs a command and reports its output and exit status. Host
// implements it; the Linux device declares an identical interface on its
// side, so device code runs unchanged inside a lab host.
//
// Contract (as implemented by Host): a command that ran and exited has
// err == nil whatever its exit code; err != nil means it could not be run
// (not found, lab closed), was killed by a signal (exitCode -1), or ctx
// ended first (err wraps ctx.Err()).
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, exitCode int, err error)
}

var _ Runner = (*Host)(nil)

// Host is one lab host: a network, mount and UTS namespace kept alive by a
// holder process.
type Host struct {
	lab   *Lab
	name  string
	ns    string
	dir   string
	addrs []netip.Prefix

	holder     *exec.Cmd
	holderDone chan struct{}
	netnsIno   uint64
}

// holderScript runs inside the new network namespace (via ip netns exec)
// and a new, private mount + UTS namespace (via unshare), sets the host up,
// reports "ready" and turns into `sleep infinity` (same pid: every step
// execs), which nsenter then targets.
const holderScript = `set -e
dir=$1 name=$2 fwd=$3
# Per-host /run: wireguard-go's UAPI sockets, BIRD's control socket and pid
# files would otherwise collide between hosts.
mount --bind "$dir/run" /run
if [ ! -L /var/run ]; then mount --bind "$dir/run" /var/run; fi
for d in wireguard bird; do
	if [ -d "/etc/$d" ]; then mount --bind "$dir/etc/$d" "/etc/$d"; fi
done
printf '%s\n' "$name" > /proc/sys/kernel/hostname
ip link set lo up
echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
if [ "$fwd" = 1 ]; then
	echo 1 > /proc/sys/net/ipv4/ip_forward
	echo 1 > /proc/sys/net/ipv6/conf/all/forwarding
fi
echo ready
exec sleep infinity </dev/null >/dev/null 2>&1
`

func (h *Host) startHolder(ctx context.Context, forward bool) error {
	for _, d := range []string{"run/wireguard", "run/bird", "etc/wireguard", "etc/bird", "log"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o700); err != nil {
			return fmt.Errorf("lab: host %s: %w", h.name, err)
		}
	}
	if err := ipCmd(ctx, nil, "netns", "add", h.ns); err != nil {
		return fmt.Errorf("lab: host %s: %w", h.name, err)
	}
	ino, err := netnsInode(h.ns)
	if err != nil {
		return fmt.Errorf("lab: host %s: %w", h.name, err)
	}
	h.netnsIno = ino

	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	logPath := filepath.Join(h.dir, "log", "holder.log")
	logf, err := os.Create(logPath)
	if err != nil {
		w.Close()
		return err
	}
	fwd := "0"
	if forward {
		fwd = "1"
	}
	cmd := exec.Command("ip", "netns", "exec", h.ns,
		"unshare", "--mount", "--uts", "--propagation", "private",
		"sh", "-c", holderScript, "holder", h.dir, h.name, fwd)
	cmd.Stdout = w
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	w.Close()
	logf.Close()
	if err != nil {
		return fmt.Errorf("lab: host %s: start holder: %w", h.name, err)
	}
	h.holder = cmd
	h.holderDone = make(chan struct{})
	go func() { _ = cmd.Wait(); close(h.holderDone) }()

	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > 10*time.Second {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = r.SetReadDeadline(deadline)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || line != "ready\n" {
		msg, _ := os.ReadFile(logPath)
		return fmt.Errorf("lab: host %s: holder did not get ready (%v): %s", h.name, err, bytes.TrimSpace(msg))
	}
	return nil
}

// Name is the host's name from the Spec (also its hostname).
func (h *Host) Name() string { return h.name }

// NetNS is the name of the host's network namespace, for `ip -n` or
// `ip netns exec` (the latter does not enter the host's mount namespace).
func (h *Host) NetNS() string { return h.ns }

// PID is the holder process; `nsenter -t PID -m -n -u` enters the host.
func (h *Host) PID() int { return h.holder.Process.Pid }

// Dir is the host's private directory. Use it as the root prefix of device
// code: Dir/etc/wireguard, Dir/etc/bird (bind-mounted over /etc/wireguard
// and /etc/bird inside the host), Dir/run (mounted over /run inside the
// host), Dir/log (logs of Start'ed processes). Commands run with Dir as
// their working directory.
func (h *Host) Dir() string { return h.dir }

// Path joins elem onto Dir.
func (h *Host) Path(elem ...string) string {
	return filepath.Join(append([]string{h.dir}, elem...)...)
}

// Addrs returns the host's underlay addresses in Spec order.
func (h *Host) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), h.addrs...) }

// Addr4 returns the host's first IPv4 underlay address (invalid if none).
func (h *Host) Addr4() netip.Addr { return h.firstAddr(true) }

// Addr6 returns the host's first IPv6 underlay address (invalid if none).
func (h *Host) Addr6() netip.Addr { return h.firstAddr(false) }

func (h *Host) firstAddr(v4 bool) netip.Addr {
	for _, p := range h.addrs {
		if p.Addr().Is4() == v4 {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// command builds an exec.Cmd that runs name inside the host. nsenter execs
// the command after setns (it only forks for pid namespaces), so the Cmd's
// pid is the command's own pid.
func (h *Host) command(ctx context.Context, env []string, name string, args []string) (*exec.Cmd, error) {
	h.lab.mu.Lock()
	closed := h.lab.closed
	h.lab.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	// Resolve in the machine's namespace to report "not found" as an error
	// (like os/exec) rather than as nsenter's exit status 127. The
	// filesystem is shared apart from /run and /etc/{wireguard,bird}.
	if !strings.Contains(name, "/") {
		if _, err := exec.LookPath(name); err != nil {
			return nil, err
		}
	}
	argv := append([]string{"-t", strconv.Itoa(h.PID()), "-m", "-n", "-u", "--wd=" + h.dir, "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = sysProcAttr()
	// Kill the whole process group, so helpers the command spawned (e.g.
	// wireguard-go forked by wg-quick) don't outlive a cancelled command.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd, nil
}

// Run runs a command inside the host (network, mount and UTS namespaces,
// working directory Dir) and waits for it. See Runner for the meaning of
// exitCode and err.
func (h *Host) Run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, exitCode int, err error) {
	return h.RunEnv(ctx, nil, name, args...)
}

// RunEnv is Run with extra environment variables ("K=V") on top of the test
// process's environment.
func (h *Host) RunEnv(ctx context.Context, env []string, name string, args ...string) (stdout, stderr []byte, exitCode int, err error) {
	cmd, err := h.command(ctx, env, name, args)
	if err != nil {
		return nil, nil, -1, fmt.Errorf("lab: %s: %w", h.name, err)
	}
	// Output goes to unlinked temp files, not pipes: a daemon forked by the
	// command (wg-quick -> wireguard-go, bird) inherits stdout/stderr, and
	// with pipes Wait would block until the daemon exits.
	outf, err := h.tempFile()
	if err != nil {
		return nil, nil, -1, err
	}
	defer outf.Close()
	errf, err := h.tempFile()
	if err != nil {
		return nil, nil, -1, err
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = outf, errf
	runErr := cmd.Run()
	stdout, _ = readAllFrom(outf)
	stderr, _ = readAllFrom(errf)
	exitCode = -1
	if cmd.ProcessState != nil {
		exitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return stdout, stderr, exitCode, fmt.Errorf("lab: %s: %s: %w", h.name, name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) && exitCode >= 0 {
		runErr = nil // ran and exited: the status is in exitCode
	}
	if runErr != nil {
		return stdout, stderr, exitCode, fmt.Errorf("lab: %s: %s: %w", h.name, name, runErr)
	}
	return stdout, stderr, exitCode, nil
}

// Output runs a command inside the host and returns its stdout; a non-zero
// exit is an error carrying stderr.
func (h *Host) Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, errb, code, err := h.Run(ctx, name, args...)
	if err != nil {
		return out, err
	}
	if code != 0 {
		return out, fmt.Errorf("lab: %s: %s %s: exit %d: %s", h.name, name, strings.Join(args, " "), code, bytes.TrimSpace(errb))
	}
	return out, nil
}

func (h *Host) tempFile() (*os.File, error) {
	f, err := os.CreateTemp(h.lab.dir, ".out-*")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	os.Remove(f.Name())
	return f, nil
}

func readAllFrom(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// Proc is a long-running process started in a host with Start.
type Proc struct {
	host    *Host
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// Start starts a long-running command (a daemon in the foreground: bird -f,
// radvd -n, keepalived -n, ndppd, wireguard-go -f, an agent) inside the
// host. Its stdout and stderr go to a log file under Dir/log. It runs until
// ctx is done, Stop, or the lab's Close, whichever comes first — like
// exec.CommandContext, so pass a context that lives as long as the process
// should (t.Context() or context.Background()).
//
// Daemons that fork into the background are still killed by Close (it
// finds them by namespace), but Proc then only tracks the parent.
func (h *Host) Start(ctx context.Context, name string, args ...string) (*Proc, error) {
	return h.StartEnv(ctx, nil, name, args...)
}

// StartEnv is Start with extra environment variables.
func (h *Host) StartEnv(ctx context.Context, env []string, name string, args ...string) (*Proc, error) {
	cmd, err := h.command(ctx, env, name, args)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", h.name, err)
	}
	l := h.lab
	l.mu.Lock()
	l.seq++
	seq := l.seq
	l.mu.Unlock()
	logPath := filepath.Join(h.dir, "log", fmt.Sprintf("%s.%d.log", filepath.Base(name), seq))
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &Proc{host: h, name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}

	// Register under the lock that Close takes, so a Start racing Close
	// either is seen by Close or fails.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("lab: %s: start %s: %w", h.name, name, err)
	}
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the process id (in the machine's pid namespace).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns its exit error (nil for
// status 0), or ctx's error first.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process (not its group), e.g. SIGHUP to reload.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return syscall.Kill(p.PID(), sig)
}

// Stop kills the process group with SIGKILL and waits (at most 5s) for the
// process to be reaped. It returns nil once the process is gone.
func (p *Proc) Stop() error {
	p.kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("lab: %s: %s (pid %d) did not exit after SIGKILL", p.host.name, p.name, p.PID())
	}
}

func (p *Proc) kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	}
}

// LogPath is the file that receives the process's stdout and stderr.
func (p *Proc) LogPath() string { return p.logPath }

// Log returns what the process has written to stdout and stderr so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}
