//go:build unix

package linuxdp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Runner runs the dataplane's commands (ip, wg, ping, wireguard-go) in the
// network namespace the router lives in.
type Runner interface {
	// Run runs a command to completion. A non-zero exit is an error that
	// carries the command's stderr text; stdout is returned either way.
	Run(ctx context.Context, name string, args ...string) (stdout []byte, err error)
	// Start starts a long-running child (wireguard-go -f) that lives until
	// Stop or until ctx ends.
	Start(ctx context.Context, name string, args ...string) (Process, error)
}

// Process is a child started by Runner.Start.
type Process interface {
	// Stop kills the process and waits until it is reaped.
	Stop() error
}

// Local returns a Runner that runs commands with os/exec in the current
// process's namespaces (cmd/rossim --dataplane linux; put the process in a
// network namespace of its own with `ip netns exec` to keep the machine's
// stack untouched).
func Local() Runner { return local{} }

type local struct{}

func (local) command(ctx context.Context, name string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	// Own process group, so Stop and ctx kill helpers too; killed with us.
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func (l local) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := l.command(ctx, name, args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

func (l local) Start(ctx context.Context, name string, args ...string) (Process, error) {
	cmd := l.command(ctx, name, args)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &localProc{cmd: cmd, done: make(chan struct{})}
	// Always Wait: the child must be reaped even if nobody calls Stop
	// (PID 1 may not reap orphans).
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

type localProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Stop asks politely first (wireguard-go removes its UAPI socket on
// SIGTERM), then kills the group.
func (p *localProc) Stop() error {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(2 * time.Second):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("linuxdp: %s (pid %d) did not exit after SIGKILL", p.cmd.Path, pid)
	}
}
